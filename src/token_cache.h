/*
 * An in-memory cache of access token rows, keyed by the token's keyed
 * digest, so that authenticating a busy token does not read the store.
 *
 * An entry is used only while the store's token version is the one it was
 * loaded at (store_token_version()), so a revoked or edited token is read
 * again on the very next request, and for at most TOKEN_CACHE_MAX_AGE_S
 * seconds. Entries hold the row as stored: a keyed digest and a sealed
 * signing secret, never a token or a secret in plain text.
 */
#ifndef CITYPAY_TOKEN_CACHE_H
#define CITYPAY_TOKEN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * Seconds an entry is used at most. It bounds the case the version cannot
 * cover: a process that committed a token change and died before raising
 * the version.
 */
#define TOKEN_CACHE_MAX_AGE_S 60

struct token_cache;

struct token_cache *token_cache_new(void);
void token_cache_free(struct token_cache *cache);

/*
 * Copy the cached row of digest into *t when an entry exists, was loaded at
 * version and is younger than TOKEN_CACHE_MAX_AGE_S at now_s.
 */
bool token_cache_get(struct token_cache *cache, const uint8_t digest[TOKEN_DIGEST_BYTES],
                     uint64_t version, int64_t now_s, struct access_token *t);

/* Store the row of t, read from the store at version, replacing any entry in its slot. */
void token_cache_put(struct token_cache *cache, const struct access_token *t,
                     uint64_t version, int64_t now_s);

#endif
