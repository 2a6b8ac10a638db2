/*
 * The token cache: a direct-mapped table of compact token rows. A row's
 * text fields are packed into one allocation, since the struct with its
 * fixed-size buffers is about 20 KB and most of it is empty. The same
 * allocation keeps the IP whitelist parsed, so that a request does not
 * parse each of its ranges again.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "token_cache.h"

#define TOKEN_CACHE_SLOTS   1024   /* a power of two */
#define TOKEN_CACHE_STRIPES 16     /* mutexes, each guarding every 16th slot */

/* The text fields of struct access_token, copied in and out of an entry. */
static const struct {
	size_t offset;
	size_t size;
} token_cache_texts[] = {
	{ offsetof(struct access_token, name), sizeof(((struct access_token *)0)->name) },
	{ offsetof(struct access_token, type), sizeof(((struct access_token *)0)->type) },
	{ offsetof(struct access_token, currency), sizeof(((struct access_token *)0)->currency) },
	{ offsetof(struct access_token, ip_whitelist), sizeof(((struct access_token *)0)->ip_whitelist) },
	{ offsetof(struct access_token, callback_urls), sizeof(((struct access_token *)0)->callback_urls) },
	{ offsetof(struct access_token, success_url), sizeof(((struct access_token *)0)->success_url) },
	{ offsetof(struct access_token, cancel_url), sizeof(((struct access_token *)0)->cancel_url) },
	{ offsetof(struct access_token, last_chars), sizeof(((struct access_token *)0)->last_chars) },
	{ offsetof(struct access_token, signing_secret_sealed),
	  sizeof(((struct access_token *)0)->signing_secret_sealed) },
	{ offsetof(struct access_token, last_used_ip), sizeof(((struct access_token *)0)->last_used_ip) },
};
#define TOKEN_CACHE_TEXTS (sizeof(token_cache_texts) / sizeof(token_cache_texts[0]))

struct token_cache_entry {
	bool used;
	uint8_t digest[TOKEN_DIGEST_BYTES];
	uint64_t version;
	int64_t loaded_at;
	/* The fields that are not text. */
	int64_t id, merchant_id, expires_at, created_at, revoked_at, last_used_at;
	enum token_mode mode;
	/* The text fields, each with its terminating NUL, in table order,
	 * then the parsed whitelist: net_count ranges at nets. */
	char *texts;
	struct ipnet *nets;
	size_t net_count;
};

struct token_cache {
	pthread_mutex_t stripes[TOKEN_CACHE_STRIPES];
	struct token_cache_entry slots[TOKEN_CACHE_SLOTS];
};

struct token_cache *
token_cache_new(void)
{
	struct token_cache *cache = calloc(1, sizeof(*cache));

	if (cache == NULL)
		return NULL;
	for (int i = 0; i < TOKEN_CACHE_STRIPES; i++)
		pthread_mutex_init(&cache->stripes[i], NULL);
	return cache;
}

void
token_cache_free(struct token_cache *cache)
{
	if (cache == NULL)
		return;
	for (int i = 0; i < TOKEN_CACHE_SLOTS; i++)
		free(cache->slots[i].texts);
	for (int i = 0; i < TOKEN_CACHE_STRIPES; i++)
		pthread_mutex_destroy(&cache->stripes[i]);
	free(cache);
}

/* The digest is a keyed hash, so its first bytes are already uniform. */
static size_t
token_cache_slot(const uint8_t digest[TOKEN_DIGEST_BYTES])
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return h & (TOKEN_CACHE_SLOTS - 1);
}

bool
token_cache_get(struct token_cache *cache, const uint8_t digest[TOKEN_DIGEST_BYTES],
                uint64_t version, int64_t now_s, struct access_token *t)
{
	size_t slot = token_cache_slot(digest);
	pthread_mutex_t *lock = &cache->stripes[slot % TOKEN_CACHE_STRIPES];
	struct token_cache_entry *e = &cache->slots[slot];
	bool hit;

	pthread_mutex_lock(lock);
	hit = e->used && e->version == version && now_s - e->loaded_at < TOKEN_CACHE_MAX_AGE_S &&
	      now_s >= e->loaded_at && sodium_memcmp(e->digest, digest, TOKEN_DIGEST_BYTES) == 0;
	if (hit) {
		const char *p = e->texts;

		t->id = e->id;
		t->merchant_id = e->merchant_id;
		t->expires_at = e->expires_at;
		t->created_at = e->created_at;
		t->revoked_at = e->revoked_at;
		t->last_used_at = e->last_used_at;
		t->mode = e->mode;
		memcpy(t->digest, e->digest, TOKEN_DIGEST_BYTES);
		for (size_t i = 0; i < TOKEN_CACHE_TEXTS; i++) {
			size_t n = strlen(p) + 1;

			memcpy((char *)t + token_cache_texts[i].offset, p, n);
			p += n;
		}
		memcpy(t->whitelist, e->nets, e->net_count * sizeof(struct ipnet));
		t->whitelist_count = e->net_count;
		t->whitelist_parsed = true;
	}
	pthread_mutex_unlock(lock);
	return hit;
}

void
token_cache_put(struct token_cache *cache, const struct access_token *t,
                uint64_t version, int64_t now_s)
{
	size_t slot = token_cache_slot(t->digest);
	pthread_mutex_t *lock = &cache->stripes[slot % TOKEN_CACHE_STRIPES];
	struct token_cache_entry *e = &cache->slots[slot];
	size_t lens[TOKEN_CACHE_TEXTS], total = 0, nets_at, net_count;
	struct ipnet nets[CP_WHITELIST_MAX];
	char *texts, *p;

	for (size_t i = 0; i < TOKEN_CACHE_TEXTS; i++) {
		const char *text = (const char *)t + token_cache_texts[i].offset;

		lens[i] = strnlen(text, token_cache_texts[i].size - 1) + 1;
		total += lens[i];
	}
	net_count = ipnet_parse_lines(t->ip_whitelist, nets, CP_WHITELIST_MAX);
	nets_at = (total + _Alignof(struct ipnet) - 1) / _Alignof(struct ipnet) * _Alignof(struct ipnet);
	/* Without memory the token is read from the store next time. */
	if ((texts = malloc(nets_at + net_count * sizeof(struct ipnet))) == NULL)
		return;
	p = texts;
	for (size_t i = 0; i < TOKEN_CACHE_TEXTS; i++) {
		memcpy(p, (const char *)t + token_cache_texts[i].offset, lens[i] - 1);
		p[lens[i] - 1] = '\0';
		p += lens[i];
	}
	memcpy(texts + nets_at, nets, net_count * sizeof(struct ipnet));

	pthread_mutex_lock(lock);
	free(e->texts);
	e->used = true;
	memcpy(e->digest, t->digest, TOKEN_DIGEST_BYTES);
	e->version = version;
	e->loaded_at = now_s;
	e->id = t->id;
	e->merchant_id = t->merchant_id;
	e->expires_at = t->expires_at;
	e->created_at = t->created_at;
	e->revoked_at = t->revoked_at;
	e->last_used_at = t->last_used_at;
	e->mode = t->mode;
	e->texts = texts;
	e->nets = (struct ipnet *)(texts + nets_at);
	e->net_count = net_count;
	pthread_mutex_unlock(lock);
}
