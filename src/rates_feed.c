/*
 * The rates feed thread and the parser of its JSON document. Numbers are
 * read from their JSON text with money_parse(), never through a double.
 */
#include "rates_feed.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "money.h"

#define RATES_FEED_USER_AGENT "citypay-rates-feed/1"
#define RATES_FEED_HOST_MAX 256

/*
 * Parse one rate value: a JSON string or number whose text is a positive
 * plain decimal. json-c keeps the source text of a parsed double, so
 * json_object_get_string() returns "39800.5" as written, not a rounded
 * binary value.
 */
static int
feed_parse_value(const char *coin, const char *fiat, json_object *value, money_t *out,
                 char *err, size_t errlen)
{
	enum json_type type = json_object_get_type(value);
	const char *text;
	enum money_result mr;

	if (type != json_type_string && type != json_type_int && type != json_type_double) {
		snprintf(err, errlen, "the rate of %s in %s is a JSON %s; expected a decimal"
		         " string or number", coin, fiat, json_type_to_name(type));
		return -1;
	}
	text = json_object_get_string(value);
	mr = money_parse(text, RATES_SCALE, out);
	if (mr != MONEY_OK) {
		snprintf(err, errlen, "the rate of %s in %s, \"%.40s\", is invalid: %s",
		         coin, fiat, text, money_strerror(mr));
		return -1;
	}
	return 0;
}

/* Add the rates of one known coin and skip unknown fiat currencies. */
static int
feed_parse_coin(const struct money_coin *coin, json_object *fiats, int64_t updated_at,
                struct rates_table *out, char *err, size_t errlen)
{
	if (!json_object_is_type(fiats, json_type_object)) {
		snprintf(err, errlen, "the rates of %s are not a JSON object", coin->code);
		return -1;
	}
	json_object_object_foreach(fiats, fiat_code, value) {
		const struct money_currency *fiat = money_currency_find(fiat_code);
		struct rate *row;

		if (fiat == NULL)
			continue;
		if (out->count == RATES_TABLE_MAX) {
			snprintf(err, errlen, "the document has more than %d rates", RATES_TABLE_MAX);
			return -1;
		}
		row = &out->rows[out->count];
		memset(row, 0, sizeof(*row));
		if (feed_parse_value(coin->code, fiat->code, value, &row->value, err, errlen) != 0)
			return -1;
		/* Codes point into money.c's static tables, never into the document. */
		row->coin = coin->code;
		row->fiat = fiat->code;
		row->updated_at = updated_at;
		row->source = "feed";
		out->count++;
	}
	return 0;
}

/* Read the optional "updated_at" member, or use fetched_at when it is absent. */
static int
feed_parse_updated_at(json_object *doc, int64_t fetched_at, int64_t *out,
                      char *err, size_t errlen)
{
	json_object *member = NULL;
	int64_t value;

	if (!json_object_object_get_ex(doc, "updated_at", &member)) {
		*out = fetched_at;
		return 0;
	}
	if (!json_object_is_type(member, json_type_int)) {
		snprintf(err, errlen, "updated_at must be an integer of Unix seconds");
		return -1;
	}
	errno = 0;
	value = json_object_get_int64(member);
	if (errno != 0 || value <= 0) {
		snprintf(err, errlen, "updated_at must be a positive integer of Unix seconds");
		return -1;
	}
	if (value > fetched_at + RATES_FEED_CLOCK_SKEW_S) {
		snprintf(err, errlen, "updated_at %lld is more than %d seconds ahead of this"
		         " gateway's clock", (long long)value, RATES_FEED_CLOCK_SKEW_S);
		return -1;
	}
	*out = value;
	return 0;
}

/* Parse the bytes as one strict JSON object. Returns NULL with err otherwise. */
static json_object *
feed_parse_json(const char *text, size_t len, char *err, size_t errlen)
{
	/* json-c 0.16 rejects a container at depth max_depth - 1, so N levels
	 * need N + 1. */
	json_tokener *tok = json_tokener_new_ex(RATES_FEED_DEPTH_MAX + 1);
	json_object *doc = NULL;
	size_t end;

	if (tok == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "the document contains a NUL byte");
		goto out;
	}
	doc = json_tokener_parse_ex(tok, text, (int)len);
	if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "the document is not valid JSON: %s",
		         json_tokener_error_desc(json_tokener_get_error(tok)));
		goto fail;
	}
	end = json_tokener_get_parse_end(tok);
	while (end < len && strchr(" \t\r\n", text[end]) != NULL)
		end++;
	if (end != len) {
		snprintf(err, errlen, "the document has bytes after its JSON value");
		goto fail;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "the document is not a JSON object");
		goto fail;
	}
	goto out;
fail:
	json_object_put(doc);
	doc = NULL;
out:
	json_tokener_free(tok);
	return doc;
}

int
rates_feed_parse(const char *text, size_t len, int64_t fetched_at,
                 struct rates_table *out, char *err, size_t errlen)
{
	json_object *doc = NULL, *rates = NULL;
	int64_t updated_at;
	int rc = -1;

	out->count = 0;
	if (len > RATES_FEED_RESPONSE_MAX) {
		snprintf(err, errlen, "the document is larger than %d bytes", RATES_FEED_RESPONSE_MAX);
		return -1;
	}
	if ((doc = feed_parse_json(text, len, err, errlen)) == NULL)
		return -1;

	if (feed_parse_updated_at(doc, fetched_at, &updated_at, err, errlen) != 0)
		goto out;
	if (!json_object_object_get_ex(doc, "rates", &rates) ||
	    !json_object_is_type(rates, json_type_object)) {
		snprintf(err, errlen, "the document has no \"rates\" object");
		goto out;
	}

	json_object_object_foreach(rates, coin_code, fiats) {
		const struct money_coin *coin = money_coin_find(coin_code);

		if (coin == NULL)
			continue;
		if (feed_parse_coin(coin, fiats, updated_at, out, err, errlen) != 0)
			goto out;
	}
	if (out->count == 0) {
		snprintf(err, errlen, "the document has no rate of a known coin in a known"
		         " fiat currency");
		goto out;
	}
	rc = 0;
out:
	json_object_put(doc);
	return rc;
}

/* ------------------------------------------------------------------------
 * The feed thread. One daemon runs at most one feed, so its state is
 * module-level like the rate table in rates.c.
 */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running;
	bool stop;                        /* guarded by lock */
	char url[CP_URL_MAX + 1];
	char host[RATES_FEED_HOST_MAX];   /* for logs, since the URL may hold a key */
	int interval_s;
} feed;

/* A response buffer capped at RATES_FEED_RESPONSE_MAX bytes. */
struct feed_body {
	char *data;
	size_t len;
};

/* CURLOPT_WRITEFUNCTION: returning less than n aborts a response over the cap. */
static size_t
feed_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct feed_body *body = userdata;
	size_t n = size * nmemb;

	if (n > RATES_FEED_RESPONSE_MAX - body->len)
		return 0;
	memcpy(body->data + body->len, ptr, n);
	body->len += n;
	return n;
}

static bool
feed_stopping(void)
{
	bool stop;

	pthread_mutex_lock(&feed.lock);
	stop = feed.stop;
	pthread_mutex_unlock(&feed.lock);
	return stop;
}

/* CURLOPT_XFERINFOFUNCTION: abort a request in flight when the daemon stops. */
static int
feed_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
              curl_off_t ulnow)
{
	return feed_stopping() ? 1 : 0;
}

static int
feed_setopts(CURL *easy, struct feed_body *body, char *curl_error)
{
	if (curl_easy_setopt(easy, CURLOPT_URL, feed.url) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_TIMEOUT, (long)RATES_FEED_TIMEOUT_S) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
	                     (curl_off_t)RATES_FEED_RESPONSE_MAX) != CURLE_OK)
		return -1;
	if (curl_easy_setopt(easy, CURLOPT_USERAGENT, RATES_FEED_USER_AGENT) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, feed_write) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_error) != CURLE_OK)
		return -1;
	if (curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, feed_progress) != CURLE_OK)
		return -1;
	return 0;
}

/* Request the document into body. Returns 0, or -1 with a sentence in err. */
static int
feed_fetch(struct feed_body *body, char *err, size_t errlen)
{
	char curl_error[CURL_ERROR_SIZE] = "";
	CURL *easy = curl_easy_init();
	CURLcode cc;
	long status = 0;
	int rc = -1;

	if (easy == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	if (feed_setopts(easy, body, curl_error) != 0) {
		snprintf(err, errlen, "setting libcurl options failed");
		goto out;
	}
	cc = curl_easy_perform(easy);
	if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "the response is larger than %d bytes", RATES_FEED_RESPONSE_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_error[0] ? curl_error : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(err, errlen, "the feed responded with HTTP status %ld, expected 200", status);
		goto out;
	}
	rc = 0;
out:
	curl_easy_cleanup(easy);
	return rc;
}

/* Request, parse and install one document. Returns 0, or -1 with err. */
static int
feed_poll_once(struct feed_body *body, struct rates_table *table, char *err, size_t errlen)
{
	body->len = 0;
	if (feed_fetch(body, err, errlen) != 0)
		return -1;
	if (rates_feed_parse(body->data, body->len, (int64_t)time(NULL), table, err, errlen) != 0)
		return -1;
	rates_replace(table);
	return 0;
}

/* Sleep for the interval or until rates_feed_stop(); true when stopping. */
static bool
feed_wait(void)
{
	struct timespec deadline;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += feed.interval_s;

	pthread_mutex_lock(&feed.lock);
	while (!feed.stop) {
		if (pthread_cond_timedwait(&feed.wake, &feed.lock, &deadline) == ETIMEDOUT)
			break;
	}
	stop = feed.stop;
	pthread_mutex_unlock(&feed.lock);
	return stop;
}

/*
 * Log the first failure of a streak at ERROR and the recovery at INFO, so a
 * feed that is down for a day writes two lines, not one per interval.
 */
static void *
feed_main(void *arg)
{
	static struct rates_table table;
	struct feed_body body = { .data = malloc(RATES_FEED_RESPONSE_MAX), .len = 0 };
	long failures = 0;
	char err[256];

	if (body.data == NULL) {
		log_error("rates feed stopped: out of memory", NULL);
		return NULL;
	}
	do {
		if (feed_poll_once(&body, &table, err, sizeof(err)) != 0) {
			/* A request aborted by rates_feed_stop() is no feed failure. */
			if (feed_stopping())
				break;
			if (failures == 0)
				log_error("rates feed update failed; keeping the previous rates",
				          "host", feed.host, "error", err, NULL);
			failures++;
			continue;
		}
		if (failures > 0)
			log_info("rates feed recovered", "host", feed.host,
			         "failed_requests", log_int(failures), NULL);
		log_debug("rates feed updated", "host", feed.host, "rates", log_int(table.count), NULL);
		failures = 0;
	} while (!feed_wait());

	free(body.data);
	return NULL;
}

/* Copy the host of the URL for logs; "?" when libcurl cannot parse it. */
static void
feed_copy_host(const char *url, char *host, size_t len)
{
	CURLU *parsed = curl_url();
	char *part = NULL;

	snprintf(host, len, "?");
	if (parsed != NULL && curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(parsed, CURLUPART_HOST, &part, 0) == CURLUE_OK)
		snprintf(host, len, "%s", part);
	curl_free(part);
	curl_url_cleanup(parsed);
}

/* Initialise the condition variable on the monotonic clock used by feed_wait(). */
static int
feed_init_sync(void)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_mutex_init(&feed.lock, NULL) != 0)
		return -1;
	if (pthread_condattr_init(&attr) != 0)
		return -1;
	rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(&feed.wake, &attr);
	pthread_condattr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

int
rates_feed_start(const struct config *cfg)
{
	if (!cfg->rates_from_feed) {
		rates_configure(RATES_SOURCE_SAMPLE, cfg->rates_max_age_s);
		return 0;
	}
	if (cfg->rates_feed_url[0] == '\0') {
		log_error("rates.source is feed but rates.feed_url is not set;"
		          " set CITYPAY_RATES_FEED_URL or rates.feed_url", NULL);
		return -1;
	}
	if (feed.running)
		return 0;

	rates_configure(RATES_SOURCE_FEED, cfg->rates_max_age_s);
	snprintf(feed.url, sizeof(feed.url), "%s", cfg->rates_feed_url);
	feed_copy_host(feed.url, feed.host, sizeof(feed.host));
	feed.interval_s = cfg->rates_feed_interval_s;
	feed.stop = false;
	if (cfg->rates_max_age_s <= cfg->rates_feed_interval_s)
		log_warn("rates.max_age_s is not above rates.feed_interval_s, so rates turn"
		         " stale between requests", "max_age_s", log_int(cfg->rates_max_age_s),
		         "feed_interval_s", log_int(cfg->rates_feed_interval_s), NULL);

	if (feed_init_sync() != 0 || pthread_create(&feed.thread, NULL, feed_main, NULL) != 0) {
		log_error("cannot start the rates feed thread", NULL);
		return -1;
	}
	feed.running = true;
	log_info("rates feed started", "host", feed.host,
	         "interval_s", log_int(feed.interval_s),
	         "max_age_s", log_int(cfg->rates_max_age_s), NULL);
	return 0;
}

void
rates_feed_stop(void)
{
	if (!feed.running)
		return;

	pthread_mutex_lock(&feed.lock);
	feed.stop = true;
	pthread_cond_signal(&feed.wake);
	pthread_mutex_unlock(&feed.lock);

	pthread_join(feed.thread, NULL);
	pthread_cond_destroy(&feed.wake);
	pthread_mutex_destroy(&feed.lock);
	feed.running = false;
}
