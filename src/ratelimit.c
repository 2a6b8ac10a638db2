#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"

#define RATELIMIT_SLOTS 8192
#define RATELIMIT_KEY_MAX 80
#define RATELIMIT_PROBES 16

struct ratelimit_slot {
	char key[RATELIMIT_KEY_MAX];
	int64_t window_start;
	int64_t count;
};

struct ratelimit {
	pthread_mutex_t lock;
	struct ratelimit_slot slots[RATELIMIT_SLOTS];
};

struct ratelimit *
ratelimit_new(void)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl != NULL)
		pthread_mutex_init(&rl->lock, NULL);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* FNV-1a: a fast, well-spread hash for short keys. */
static uint32_t
ratelimit_hash(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* Find the key's slot, or claim an empty or the oldest slot among the probes. */
static struct ratelimit_slot *
ratelimit_slot(struct ratelimit *rl, const char *key)
{
	uint32_t h = ratelimit_hash(key);
	struct ratelimit_slot *oldest = NULL;

	for (int i = 0; i < RATELIMIT_PROBES; i++) {
		struct ratelimit_slot *s = &rl->slots[(h + (uint32_t)i) % RATELIMIT_SLOTS];

		if (strcmp(s->key, key) == 0)
			return s;
		if (oldest == NULL || s->window_start < oldest->window_start)
			oldest = s;
	}
	snprintf(oldest->key, sizeof(oldest->key), "%s", key);
	oldest->window_start = 0;
	oldest->count = 0;
	return oldest;
}

bool
ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now_s, int window_s,
              int64_t limit, int64_t *retry_after_s)
{
	int64_t start = now_s - now_s % window_s;
	bool allowed;

	pthread_mutex_lock(&rl->lock);
	struct ratelimit_slot *s = ratelimit_slot(rl, key);
	if (s->window_start != start) {
		s->window_start = start;
		s->count = 0;
	}
	s->count++;
	allowed = s->count <= limit;
	pthread_mutex_unlock(&rl->lock);

	if (!allowed && retry_after_s != NULL)
		*retry_after_s = start + window_s - now_s;
	return allowed;
}

int64_t
ratelimit_peek(struct ratelimit *rl, const char *key, int64_t now_s, int window_s)
{
	int64_t start = now_s - now_s % window_s;
	int64_t count = 0;

	pthread_mutex_lock(&rl->lock);
	for (int i = 0; i < RATELIMIT_PROBES; i++) {
		struct ratelimit_slot *s = &rl->slots[(ratelimit_hash(key) + (uint32_t)i) % RATELIMIT_SLOTS];

		if (strcmp(s->key, key) == 0) {
			count = s->window_start == start ? s->count : 0;
			break;
		}
	}
	pthread_mutex_unlock(&rl->lock);
	return count;
}
