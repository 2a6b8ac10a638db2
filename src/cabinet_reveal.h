/*
 * One-time reveals of newly created tokens. The cabinet creates a token on
 * a POST and redirects; the next GET of the reveal page takes the token and
 * its signing secret from here, once, so a reload shows nothing. They are
 * kept only in memory, wiped when taken, and dropped after
 * REVEAL_LIFETIME_S, so a restart or a lost page loses them for good.
 */
#ifndef CITYPAY_CABINET_REVEAL_H
#define CITYPAY_CABINET_REVEAL_H

#include <stdbool.h>
#include <stdint.h>

#include "token.h"

#define REVEAL_SLOTS      64
#define REVEAL_LIFETIME_S 300

struct cabinet_reveals;

struct cabinet_reveals *cabinet_reveals_new(void);
void cabinet_reveals_free(struct cabinet_reveals *reveals);

/* Keep a reveal for the session, replacing an older one of that session. */
void cabinet_reveals_put(struct cabinet_reveals *reveals, const char *session_id,
                         int64_t token_id, const char *access_token,
                         const char *signing_secret, int64_t now);

/*
 * Take the session's reveal. Copies it out into buffers of TOKEN_TEXT_MAX
 * and SIGNING_SECRET_TEXT_MAX bytes, wipes the slot and returns true.
 * Returns false when there is none or it is older than REVEAL_LIFETIME_S.
 */
bool cabinet_reveals_take(struct cabinet_reveals *reveals, const char *session_id,
                          int64_t now, int64_t *token_id, char *access_token,
                          char *signing_secret);

#endif
