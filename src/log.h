/*
 * Logfmt logging on stderr: one line per event,
 *   ts=2026-12-04T20:21:59.123Z level=info msg="order created" key=value ...
 * Keys and values come in pairs and end with NULL. Values are truncated to
 * LOG_VALUE_MAX bytes and quoted and escaped when needed, so a client cannot
 * forge a line. The request id of the calling thread, when set, is added by
 * the logger. Never pass a token, password or signing secret; text that
 * looks like one (cp_live_, cp_test_, whsec_) is redacted all the same.
 */
#ifndef CITYPAY_LOG_H
#define CITYPAY_LOG_H

#include <stdint.h>

#define LOG_VALUE_MAX 256

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

/* Set the lowest level written; lines below it are not formatted. */
void log_set_level(enum log_level level);

/* Parse "debug", "info", "warn" or "error"; -1 when unknown. */
int log_level_parse(const char *text, enum log_level *level);

/* Set (or clear with NULL) the request id added to this thread's lines. */
void log_set_request_id(const char *request_id);

/* The request id of this thread's lines, "" when none is set. */
const char *log_request_id_get(void);

/* Write one line: msg, then key/value string pairs ending with NULL. */
void log_write(enum log_level level, const char *msg, ...);

/* Format an integer for a log value into buf, which has room for 24 bytes;
 * returns where the digits start within buf. */
const char *log_format_int(char *buf, int64_t value);
#define log_int(value) log_format_int((char[24]){0}, (int64_t)(value))

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
