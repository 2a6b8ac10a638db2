#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cabinet_reveal.h"
#include "cabinet_session.h"

struct reveal_slot {
	char session_id[SESSION_ID_TEXT_MAX];
	int64_t token_id;
	char access_token[TOKEN_TEXT_MAX];
	char signing_secret[SIGNING_SECRET_TEXT_MAX];
	int64_t created_at;
};

struct cabinet_reveals {
	pthread_mutex_t lock;
	struct reveal_slot slots[REVEAL_SLOTS];
};

struct cabinet_reveals *
cabinet_reveals_new(void)
{
	struct cabinet_reveals *reveals = calloc(1, sizeof(*reveals));

	if (reveals != NULL)
		pthread_mutex_init(&reveals->lock, NULL);
	return reveals;
}

void
cabinet_reveals_free(struct cabinet_reveals *reveals)
{
	if (reveals == NULL)
		return;
	sodium_memzero(reveals->slots, sizeof(reveals->slots));
	pthread_mutex_destroy(&reveals->lock);
	free(reveals);
}

/* The session's slot, else an empty or expired one, else the oldest. */
static struct reveal_slot *
cabinet_reveals_slot(struct cabinet_reveals *reveals, const char *session_id, int64_t now)
{
	struct reveal_slot *free_slot = NULL, *oldest = &reveals->slots[0];

	for (int i = 0; i < REVEAL_SLOTS; i++) {
		struct reveal_slot *s = &reveals->slots[i];

		if (strcmp(s->session_id, session_id) == 0)
			return s;
		if (free_slot == NULL && (s->session_id[0] == '\0' ||
		                          now - s->created_at > REVEAL_LIFETIME_S))
			free_slot = s;
		if (s->created_at < oldest->created_at)
			oldest = s;
	}
	return free_slot != NULL ? free_slot : oldest;
}

void
cabinet_reveals_put(struct cabinet_reveals *reveals, const char *session_id, int64_t token_id,
                    const char *access_token, const char *signing_secret, int64_t now)
{
	pthread_mutex_lock(&reveals->lock);
	struct reveal_slot *s = cabinet_reveals_slot(reveals, session_id, now);
	sodium_memzero(s, sizeof(*s));
	snprintf(s->session_id, sizeof(s->session_id), "%s", session_id);
	s->token_id = token_id;
	snprintf(s->access_token, sizeof(s->access_token), "%s", access_token);
	snprintf(s->signing_secret, sizeof(s->signing_secret), "%s", signing_secret);
	s->created_at = now;
	pthread_mutex_unlock(&reveals->lock);
}

bool
cabinet_reveals_take(struct cabinet_reveals *reveals, const char *session_id, int64_t now,
                     int64_t *token_id, char *access_token, char *signing_secret)
{
	bool found = false;

	pthread_mutex_lock(&reveals->lock);
	for (int i = 0; i < REVEAL_SLOTS; i++) {
		struct reveal_slot *s = &reveals->slots[i];

		if (s->session_id[0] == '\0' || strcmp(s->session_id, session_id) != 0)
			continue;
		found = now - s->created_at <= REVEAL_LIFETIME_S;
		if (found) {
			*token_id = s->token_id;
			memcpy(access_token, s->access_token, TOKEN_TEXT_MAX);
			memcpy(signing_secret, s->signing_secret, SIGNING_SECRET_TEXT_MAX);
		}
		sodium_memzero(s, sizeof(*s));
		break;
	}
	pthread_mutex_unlock(&reveals->lock);
	return found;
}
