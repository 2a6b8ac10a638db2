/*
 * citypayctl: the operator's command-line tool. It creates the key file and
 * the database, adds merchants, creates, lists and revokes access tokens,
 * lists orders, drives the sandbox chain, shows and resends callbacks and
 * runs a local callback receiver for development. It calls the same modules
 * as the daemon (store, tokens, sandbox, views, callback) and implements no
 * rule itself.
 *
 * With --json every command prints exactly one JSON object on stdout, an
 * error included ({"error": "..."}), so scripts can parse the result; the
 * plain message also goes to stderr. callbacks listen is the exception: it
 * prints one object per line until it stops. Exit status: 0 on success, 1 when
 * the command failed, 2 when the command line is invalid.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <sodium.h>

#include "callback.h"
#include "config.h"
#include "gateway.h"
#include "keys.h"
#include "log.h"
#include "merchants.h"
#include "password.h"
#include "money.h"
#include "outbox.h"
#include "result.h"
#include "sandbox.h"
#include "store.h"
#include "token.h"
#include "tokens.h"
#include "validate.h"
#include "views.h"

#define CTL_EXIT_OK      0
#define CTL_EXIT_FAILURE 1
#define CTL_EXIT_USAGE   2
/* Status of option parsing that printed a command's --help, so main exits 0. */
#define CTL_HELP_SHOWN   (-1)

#define CTL_COMPANY_MAX       200   /* characters of a merchant's company name */
#define CTL_DEFAULT_CURRENCY  "USD"
#define CTL_DEFAULT_COINS     "BTC,ETH,USDT-ERC20,LTC"
#define CTL_ORDER_LIMIT       100   /* orders listed when --limit is not given */
#define CTL_ORDER_LIMIT_MAX   10000
#define CTL_MESSAGE_MAX       1024  /* bytes of one error message */
#define CTL_CELL_MAX          1024  /* bytes of one value in text output */
#define CTL_KEY_MAX           128   /* bytes of one flattened key in text output */
/* Unix seconds of 10000-01-01. Later times are printed as plain numbers. */
#define CTL_TIME_TEXT_MAX_S   253402300800LL

/* getopt_long values of long options without a short form. */
enum ctl_option {
	OPT_DB = 256,
	OPT_KEY_FILE,
	OPT_JSON,
	OPT_COMPANY,
	OPT_EMAIL,
	OPT_CURRENCY,
	OPT_CUSTOMER,
	OPT_NAME,
	OPT_TYPE,
	OPT_IP,
	OPT_CALLBACK,
	OPT_SUCCESS_URL,
	OPT_CANCEL_URL,
	OPT_EXPIRES,
	OPT_MODE,
	OPT_LIMIT,
	OPT_ORDER,
	OPT_DEPOSIT,
	OPT_COIN,
	OPT_AMOUNT,
	OPT_BLOCKS,
	OPT_COINS,
	OPT_TOLERANCE_UNDER,
	OPT_TOLERANCE_OVER,
	OPT_ORDER_EXPIRY,
	OPT_AUTO_EXCHANGE,
	OPT_PASSWORD_STDIN,
	OPT_STATE,
	OPT_PORT,
	OPT_SECRET,
	OPT_STATUS,
	OPT_OVERLAP_HOURS,
};

struct ctl;

struct ctl_command {
	const char *group;   /* first word: "token" */
	const char *action;  /* second word, such as "add", or NULL for one word */
	const char *usage;   /* the arguments after the command words */
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

struct ctl {
	bool json;
	const struct ctl_command *command;  /* NULL until the command is known */
	struct config cfg;
	struct gateway gw;
};

/* Text renderer of a command's result object. */
typedef void (*ctl_printer)(json_object *result);

static const char ctl_help[] =
	"usage: citypayctl [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
	"\n"
	"Manage a CityPay gateway database: merchants, access tokens, orders, the\n"
	"sandbox chain and callback deliveries.\n"
	"\n"
	"Global options, given before the command:\n"
	"  --db PATH          database file (default: $CITYPAY_DB, else ./citypay.db)\n"
	"  --key-file PATH    key file (default: $CITYPAY_KEY_FILE, else PATH.key\n"
	"                     beside the database)\n"
	"  --json             print one JSON object on stdout, errors included\n"
	"  --help             print this help\n"
	"\n"
	"Commands:\n"
	"  init\n"
	"      Create the key file and the database. Keep a backup of the key\n"
	"      file: without it no access token can be verified.\n"
	"  merchant add --company NAME --email EMAIL [--currency CODE]\n"
	"      Add a merchant. NAME is 1 to 200 characters; CODE is the ISO 4217\n"
	"      default currency of its orders (default USD).\n"
	"  merchant list\n"
	"  token add --customer ID --name NAME --type TYPE [--currency CODE]\n"
	"            --ip CIDR [--ip CIDR ...] --callback URL [--callback URL ...]\n"
	"            [--success-url URL] [--cancel-url URL] --expires SECONDS\n"
	"            [--mode live|sandbox]\n"
	"      Create an access token and print it with its callback signing\n"
	"      secret, both shown only this once. TYPE is crypto, binance_pay or a\n"
	"      coin code (BTC, ETH, USDT-ERC20, LTC). CODE defaults to the\n"
	"      merchant's currency. --ip takes an IPv4 or IPv6 address or CIDR\n"
	"      range (0.0.0.0/0 or ::/0 allows any address), at most 64 times.\n"
	"      --callback takes an http or https URL, at most 8 times. --expires\n"
	"      is the expiry as a Unix time in seconds. --mode defaults to live.\n"
	"  token list --customer ID\n"
	"      List a merchant's tokens without their secrets.\n"
	"  token revoke --customer ID --name NAME\n"
	"      Revoke the merchant's active token of that name.\n"
	"  token rotate-secret --customer ID --name NAME [--overlap-hours H]\n"
	"      Give the active token of that name a new callback signing secret\n"
	"      and print it, shown only this once. For H hours (0 to 720,\n"
	"      default 24) callbacks also carry a signature under the old\n"
	"      secret; 0 stops using the old secret at once.\n"
	"  order list [--customer ID] [--limit N]\n"
	"      List orders, newest first: of one merchant or of all, at most N\n"
	"      (default 100, at most 10000).\n"
	"  order show TOKEN\n"
	"      Show one order, by its order token, as the authenticated API does.\n"
	"  sandbox pay (--order TOKEN | --deposit TOKEN) [--coin COIN] [--amount AMOUNT]\n"
	"      Send a sandbox transaction to a sandbox order or deposit. COIN\n"
	"      defaults to the order's coin, else the token type's coin, else BTC.\n"
	"      AMOUNT is in whole coins (0.0005); for an order it defaults to the\n"
	"      amount still due, a deposit needs it.\n"
	"  sandbox mine [--blocks N]\n"
	"      Mine N sandbox blocks (1 to 1000, default 1) and apply the new\n"
	"      confirmations.\n"
	"  callbacks list [--customer ID] [--order TOKEN]\n"
	"                 [--state pending|delivered|failed] [--limit N]\n"
	"      List callback deliveries, newest first, at most N (default 100, at\n"
	"      most 10000): of one merchant, one order token or one state.\n"
	"  callbacks show EVENT_ID\n"
	"      Show one callback event, its body and every logged attempt of each\n"
	"      delivery: time, HTTP status, error, latency and truncated response.\n"
	"  callbacks resend EVENT_ID\n"
	"      Send the event again to each of its URLs, with the same event_id and\n"
	"      body and the header X-Event-Resend: true. The daemon sends it within\n"
	"      a second.\n"
	"  callbacks listen --port N --secret SECRET [--status CODE]\n"
	"      Receive callbacks on 127.0.0.1:N for development (0 picks a free\n"
	"      port, printed first). Prints one line per POST, with --json one JSON\n"
	"      object, saying whether X-Signature verifies with SECRET within 300\n"
	"      seconds of the local clock, and answers CODE (200 to 599, default\n"
	"      200). Stops on SIGINT or SIGTERM. SECRET is visible to other local\n"
	"      users in the process list, so use a sandbox token's secret.\n"
	"\n"
	"Exit status: 0 on success, 1 when the command failed, 2 on invalid usage.\n";

/* Output */

/* Serialise without escaping '/', so URLs read as given. */
static const char *
ctl_json_text(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
	                                           JSON_C_TO_STRING_NOSLASHESCAPE);
}

/*
 * Print a command's result: the JSON object with --json, else the text of
 * the printer followed by an optional note. With wipe set the serialised
 * text is zeroed after writing, because it contains secrets.
 */
static int
ctl_emit(const struct ctl *ctl, json_object *result, ctl_printer printer,
         const char *note, bool wipe)
{
	if (ctl->json) {
		char *text = (char *)(uintptr_t)ctl_json_text(result);

		printf("%s\n", text);
		if (wipe)
			sodium_memzero(text, strlen(text));
	} else {
		printer(result);
		if (note != NULL)
			printf("\n%s\n", note);
	}
	fflush(stdout);
	return CTL_EXIT_OK;
}

static void
ctl_print_error_json(const char *message, json_object *fields)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "error", json_object_new_string(message));
	if (fields != NULL)
		json_object_object_add(obj, "fields", fields);
	printf("%s\n", ctl_json_text(obj));
	fflush(stdout);
	json_object_put(obj);
}

/* Report a failed command on stderr, and on stdout with --json. Returns 1. */
static int __attribute__((format(printf, 2, 3)))
ctl_fail(const struct ctl *ctl, const char *fmt, ...)
{
	char message[CTL_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	fprintf(stderr, "citypayctl: %s\n", message);
	if (ctl->json)
		ctl_print_error_json(message, NULL);
	return CTL_EXIT_FAILURE;
}

/* Report a store failure. The store module has already logged its details. */
static int
ctl_fail_store(const struct ctl *ctl, const char *action, enum cp_result rc)
{
	return ctl_fail(ctl, "cannot %s in the database %s: %s%s", action, ctl->cfg.db_path,
	                cp_strerror(rc), rc == CP_CONFLICT ? "; run the command again" : "");
}

/* Report rejected fields with one sentence each. Returns 1. */
static int
ctl_fail_fields(const struct ctl *ctl, const struct field_errors *errs)
{
	json_object *fields = json_object_new_object();

	fprintf(stderr, "citypayctl: invalid input\n");
	for (int i = 0; i < errs->count; i++) {
		fprintf(stderr, "  %s: %s\n", errs->items[i].field, errs->items[i].message);
		json_object_object_add(fields, errs->items[i].field,
		                       json_object_new_string(errs->items[i].message));
	}
	if (ctl->json)
		ctl_print_error_json("invalid input", fields);
	else
		json_object_put(fields);
	return CTL_EXIT_FAILURE;
}

static void
ctl_print_command_usage(FILE *out, const struct ctl_command *cmd)
{
	fprintf(out, "usage: citypayctl [GLOBAL OPTIONS] %s%s%s%s%s\n", cmd->group,
	        cmd->action ? " " : "", cmd->action ? cmd->action : "",
	        cmd->usage[0] ? " " : "", cmd->usage);
}

/* Report an invalid command line with the usage of the command. Returns 2. */
static int __attribute__((format(printf, 2, 3)))
ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
	char message[CTL_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	fprintf(stderr, "citypayctl: %s\n", message);
	if (ctl->command != NULL)
		ctl_print_command_usage(stderr, ctl->command);
	else
		fprintf(stderr, "usage: citypayctl [GLOBAL OPTIONS] COMMAND [OPTIONS]\n");
	fprintf(stderr, "Run citypayctl --help for every command and option.\n");
	if (ctl->json)
		ctl_print_error_json(message, NULL);
	return CTL_EXIT_USAGE;
}

/*
 * Handle what getopt_long returned for an option the command does not
 * accept: --help prints the command's usage and returns CTL_HELP_SHOWN,
 * anything else is a usage error naming the option.
 */
static int
ctl_option_error(const struct ctl *ctl, int opt, char **argv)
{
	const char *option = argv[optind - 1];

	if (opt == 'h') {
		ctl_print_command_usage(stdout, ctl->command);
		printf("Run citypayctl --help for what each option sets.\n");
		return CTL_HELP_SHOWN;
	}
	if (opt == ':')
		return ctl_usage_error(ctl, "option %s needs a value", option);
	/* glibc sets optopt only for an unknown short option. */
	if (optopt > ' ' && optopt < 0x7f)
		return ctl_usage_error(ctl, "unknown option -%c", optopt);
	return ctl_usage_error(ctl, "unknown option %s", option);
}

/* Reject positional arguments after the options of a command. */
static int
ctl_no_arguments(const struct ctl *ctl, int argc, char **argv)
{
	if (optind < argc)
		return ctl_usage_error(ctl, "unexpected argument \"%.80s\"", argv[optind]);
	return CTL_EXIT_OK;
}

/* Text output */

/* Copy text for a terminal, showing control characters as spaces. */
static void
ctl_copy_printable(char *out, size_t len, const char *text)
{
	size_t n = 0;

	for (; *text != '\0' && n + 1 < len; text++) {
		unsigned char c = (unsigned char)*text;

		out[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	out[n] = '\0';
}

static bool
ctl_key_is_time(const char *key)
{
	size_t n = strlen(key);

	return n >= 3 && strcmp(key + n - 3, "_at") == 0;
}

/*
 * Write the text form of one value: "-" for null, array items joined with
 * ", ", and fields named *_at (Unix seconds) as UTC date and time.
 */
static void
ctl_value_text(const char *key, json_object *value, char *out, size_t len)
{
	enum json_type type = json_object_get_type(value);

	if (type == json_type_null ||
	    (type == json_type_array && json_object_array_length(value) == 0)) {
		snprintf(out, len, "-");
	} else if (type == json_type_int && ctl_key_is_time(key) &&
	           json_object_get_int64(value) > 0 &&
	           json_object_get_int64(value) < CTL_TIME_TEXT_MAX_S) {
		views_format_time(json_object_get_int64(value) * 1000, true, out, len);
		snprintf(out + strlen(out), len - strlen(out), " UTC");
	} else if (type == json_type_array) {
		size_t used = 0;

		out[0] = '\0';
		for (size_t i = 0; i < json_object_array_length(value) && used + 1 < len; i++) {
			const char *item = json_object_get_string(json_object_array_get_idx(value, i));

			ctl_copy_printable(out + used, len - used, i > 0 ? ", " : "");
			used += strlen(out + used);
			ctl_copy_printable(out + used, len - used, item ? item : "-");
			used += strlen(out + used);
		}
	} else {
		ctl_copy_printable(out, len, json_object_get_string(value));
	}
}

static bool
ctl_is_object_array(json_object *value)
{
	return json_object_get_type(value) == json_type_array &&
	       json_object_array_length(value) > 0 &&
	       json_object_get_type(json_object_array_get_idx(value, 0)) == json_type_object;
}

/*
 * Walk a result object as "key: value" lines, flattening nested objects to
 * "parent.key" and arrays of objects to "key[i].field". With print false
 * only the widest key is measured.
 */
static size_t
ctl_record_walk(json_object *obj, const char *prefix, size_t width, bool print)
{
	char key[CTL_KEY_MAX], text[CTL_CELL_MAX];
	size_t widest = 0;

	json_object_object_foreach(obj, name, value) {
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", name);
		if (json_object_get_type(value) == json_type_object) {
			size_t w = ctl_record_walk(value, key, width, print);
			widest = w > widest ? w : widest;
			continue;
		}
		if (ctl_is_object_array(value)) {
			for (size_t i = 0; i < json_object_array_length(value); i++) {
				char item[CTL_KEY_MAX + 24];
				size_t w;

				snprintf(item, sizeof(item), "%s[%zu]", key, i);
				w = ctl_record_walk(json_object_array_get_idx(value, i), item, width, print);
				widest = w > widest ? w : widest;
			}
			continue;
		}
		widest = strlen(key) > widest ? strlen(key) : widest;
		if (print) {
			ctl_value_text(name, value, text, sizeof(text));
			printf("%s:%*s  %s\n", key, (int)(width - strlen(key)), "", text);
		}
	}
	return widest;
}

/* Print a result object as aligned "key: value" lines. */
static void
ctl_print_record(json_object *result)
{
	size_t width = ctl_record_walk(result, "", 0, false);

	ctl_record_walk(result, "", width, true);
}

struct ctl_column {
	const char *header;
	const char *key;
};

/*
 * Count the characters of UTF-8 text for column alignment. Wide characters
 * (CJK, emoji) still take one column here, so such rows may not align.
 */
static size_t
ctl_text_width(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		if (((unsigned char)*text & 0xc0) != 0x80)
			n++;
	return n;
}

/* Print one table cell, padded to width unless it ends the row. */
static void
ctl_print_cell(const char *text, size_t width, bool last)
{
	size_t n = ctl_text_width(text);

	if (last)
		printf("%s\n", text);
	else
		printf("%s%*s  ", text, (int)(width > n ? width - n : 0), "");
}

/* Print an array of objects as a table with a header row and aligned columns. */
static void
ctl_print_table(json_object *rows, const struct ctl_column *columns, size_t ncolumns)
{
	size_t nrows = json_object_array_length(rows);
	size_t widths[16] = { 0 };
	char text[CTL_CELL_MAX];

	for (size_t c = 0; c < ncolumns && c < 16; c++) {
		widths[c] = strlen(columns[c].header);
		for (size_t r = 0; r < nrows; r++) {
			json_object *value = NULL;

			json_object_object_get_ex(json_object_array_get_idx(rows, r), columns[c].key, &value);
			ctl_value_text(columns[c].key, value, text, sizeof(text));
			widths[c] = ctl_text_width(text) > widths[c] ? ctl_text_width(text) : widths[c];
		}
	}
	for (size_t c = 0; c < ncolumns && c < 16; c++)
		ctl_print_cell(columns[c].header, widths[c], c + 1 == ncolumns);
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncolumns && c < 16; c++) {
			json_object *value = NULL;

			json_object_object_get_ex(json_object_array_get_idx(rows, r), columns[c].key, &value);
			ctl_value_text(columns[c].key, value, text, sizeof(text));
			ctl_print_cell(text, widths[c], c + 1 == ncolumns);
		}
	}
}

/* The array stored under key, or an empty array when it is missing. */
static json_object *
ctl_rows(json_object *result, const char *key)
{
	json_object *rows = NULL;

	json_object_object_get_ex(result, key, &rows);
	return rows;
}

static void
ctl_print_merchants(json_object *result)
{
	static const struct ctl_column columns[] = {
		{ "ID", "customer_id" }, { "COMPANY", "company" }, { "EMAIL", "email" },
		{ "CURRENCY", "currency" }, { "COINS", "enabled_coins" },
		{ "CREATED", "created_at" },
	};
	json_object *rows = ctl_rows(result, "merchants");

	if (json_object_array_length(rows) == 0) {
		printf("No merchants. Add one with citypayctl merchant add.\n");
		return;
	}
	ctl_print_table(rows, columns, sizeof(columns) / sizeof(columns[0]));
}

static void
ctl_print_tokens(json_object *result)
{
	static const struct ctl_column columns[] = {
		{ "ID", "id" }, { "NAME", "name" }, { "TYPE", "type" },
		{ "CURRENCY", "currency" }, { "MODE", "mode" }, { "STATUS", "status" },
		{ "ENDS WITH", "last_chars" }, { "EXPIRES", "expires_at" },
		{ "LAST USED", "last_used_at" }, { "IP WHITELIST", "ip_whitelist" },
		{ "CALLBACK URLS", "callback_urls" },
	};
	json_object *rows = ctl_rows(result, "tokens");

	if (json_object_array_length(rows) == 0) {
		printf("No tokens. Create one with citypayctl token add.\n");
		return;
	}
	ctl_print_table(rows, columns, sizeof(columns) / sizeof(columns[0]));
}

static void
ctl_print_orders(json_object *result)
{
	static const struct ctl_column columns[] = {
		{ "ID", "id" }, { "TOKEN", "token" }, { "ORDER ID", "client_order_id" },
		{ "CUSTOMER", "customer_id" }, { "STATUS", "status" }, { "AMOUNT", "amount" },
		{ "CURRENCY", "currency" }, { "COIN", "coin" }, { "CREATED", "created_at" },
	};
	json_object *rows = ctl_rows(result, "orders");
	json_object *total = NULL;

	json_object_object_get_ex(result, "total", &total);
	if (json_object_array_length(rows) == 0) {
		printf("No orders.\n");
		return;
	}
	ctl_print_table(rows, columns, sizeof(columns) / sizeof(columns[0]));
	printf("%zu of %lld orders shown\n", json_object_array_length(rows),
	       (long long)json_object_get_int64(total));
}

/* JSON helpers */

static json_object *
ctl_string_or_null(const char *text)
{
	return text[0] != '\0' ? json_object_new_string(text) : NULL;
}

static json_object *
ctl_time_or_null(int64_t seconds)
{
	return seconds != 0 ? json_object_new_int64(seconds) : NULL;
}

/* A JSON array of the lines of a newline-separated list. */
static json_object *
ctl_lines_json(const char *list)
{
	json_object *array = json_object_new_array();
	const char *line = list;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);

		if (n > 0)
			json_object_array_add(array, json_object_new_string_len(line, (int)n));
		line += n + (end ? 1 : 0);
	}
	return array;
}

/* Zero the characters of the string stored under key, a secret. */
static void
ctl_wipe_json_string(json_object *obj, const char *key)
{
	json_object *value = NULL;

	if (!json_object_object_get_ex(obj, key, &value) ||
	    json_object_get_type(value) != json_type_string)
		return;
	/* The characters are in memory that the object owns, and nothing reads
	 * them after this point, so zeroing them in place is safe. */
	sodium_memzero((void *)(uintptr_t)json_object_get_string(value),
	               (size_t)json_object_get_string_len(value));
}

/* Setup */

/* Parse a decimal integer option within [min, max]. Returns 0, or 2 after reporting. */
static int
ctl_parse_int(const struct ctl *ctl, const char *option, const char *text,
              long long min, long long max, int64_t *out)
{
	char *end = NULL;
	long long value;

	errno = 0;
	value = strtoll(text, &end, 10);
	if (!(text[0] == '-' || (text[0] >= '0' && text[0] <= '9')) || errno != 0 ||
	    *end != '\0' || value < min || value > max) {
		if (min == 1 && max == INT64_MAX)
			return ctl_usage_error(ctl, "%s must be a positive whole number, not \"%.40s\"",
			                       option, text);
		return ctl_usage_error(ctl, "%s must be a whole number from %lld to %lld, not \"%.40s\"",
		                       option, min, max, text);
	}
	*out = value;
	return CTL_EXIT_OK;
}

/*
 * Load the settings: defaults, then CITYPAY_* environment variables, then
 * --db and --key-file (NULL when not given).
 */
static int
ctl_configure(struct ctl *ctl, const char *db, const char *key_file)
{
	char err[512];

	config_defaults(&ctl->cfg);
	if (config_load_env(&ctl->cfg, err, sizeof(err)) != 0)
		return ctl_fail(ctl, "%s", err);
	if (db != NULL && config_set(&ctl->cfg, "store.db", db, err, sizeof(err)) != 0)
		return ctl_usage_error(ctl, "--db: %s", err);
	if (key_file != NULL &&
	    config_set(&ctl->cfg, "store.key_file", key_file, err, sizeof(err)) != 0)
		return ctl_usage_error(ctl, "--key-file: %s", err);
	config_finish(&ctl->cfg);
	if (ctl->cfg.key_file[0] == '\0')
		return ctl_usage_error(ctl, "--db path is too long to derive the key file path;"
		                       " give --key-file");

	ctl->gw.cfg = &ctl->cfg;
	ctl->gw.limits = NULL;
	return CTL_EXIT_OK;
}

/*
 * True when the path exists or cannot be checked. Only "no such file" counts
 * as missing, so a permission error is reported by the open that follows.
 */
static bool
ctl_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 || errno != ENOENT;
}

/* Load the keys and open the existing database, for every command but init. */
static int
ctl_open(struct ctl *ctl)
{
	char err[512];

	if (!ctl_file_exists(ctl->cfg.key_file))
		return ctl_fail(ctl, "key file %s does not exist; run citypayctl init first, or give"
		                " the key file of this database with --key-file", ctl->cfg.key_file);
	if (!ctl_file_exists(ctl->cfg.db_path))
		return ctl_fail(ctl, "database %s does not exist; run citypayctl init first, or give"
		                " the database path with --db", ctl->cfg.db_path);
	if (keys_load(ctl->cfg.key_file, &ctl->gw.keys, err, sizeof(err)) != 0)
		return ctl_fail(ctl, "%s", err);

	ctl->gw.store = store_open(ctl->cfg.db_path, err, sizeof(err));
	if (ctl->gw.store == NULL)
		return ctl_fail(ctl, "%s", err);
	return CTL_EXIT_OK;
}

static int64_t
ctl_now_s(const struct ctl *ctl)
{
	return gateway_now_ms(&ctl->gw) / 1000;
}

/* init */

static json_object *
ctl_init_json(const struct ctl *ctl, bool already)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "db", json_object_new_string(ctl->cfg.db_path));
	json_object_object_add(obj, "key_file", json_object_new_string(ctl->cfg.key_file));
	json_object_object_add(obj, "schema_version",
	                       json_object_new_int(store_schema_version(ctl->gw.store)));
	if (already)
		json_object_object_add(obj, "already_initialised", json_object_new_boolean(true));
	return obj;
}

/* Open and migrate an installation that init created before, changing nothing else. */
static int
ctl_init_existing(struct ctl *ctl)
{
	json_object *result;
	int status;

	if (!ctl_file_exists(ctl->cfg.db_path))
		return ctl_fail(ctl, "key file %s already exists but database %s does not; give the"
		                " database of this key file with --db, or move the key file away to"
		                " start a new database", ctl->cfg.key_file, ctl->cfg.db_path);
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	result = ctl_init_json(ctl, true);
	status = ctl_emit(ctl, result, ctl_print_record,
	                  "The database is already initialised; nothing was changed.", false);
	json_object_put(result);
	return status;
}

static int
ctl_init(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[512];
	json_object *result;
	int opt, status;

	if ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1)
		return ctl_option_error(ctl, opt, argv);
	if ((status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK)
		return status;

	if (ctl_file_exists(ctl->cfg.key_file))
		return ctl_init_existing(ctl);
	/* A new key would make every stored token digest and sealed secret useless. */
	if (ctl_file_exists(ctl->cfg.db_path))
		return ctl_fail(ctl, "database %s exists but its key file %s does not; restore the"
		                " key file from a backup, or give its path with --key-file",
		                ctl->cfg.db_path, ctl->cfg.key_file);

	if (keys_create(ctl->cfg.key_file, err, sizeof(err)) != 0)
		return ctl_fail(ctl, "%s", err);
	if (keys_load(ctl->cfg.key_file, &ctl->gw.keys, err, sizeof(err)) != 0)
		return ctl_fail(ctl, "%s", err);
	ctl->gw.store = store_open(ctl->cfg.db_path, err, sizeof(err));
	if (ctl->gw.store == NULL)
		return ctl_fail(ctl, "%s", err);

	result = ctl_init_json(ctl, false);
	status = ctl_emit(ctl, result, ctl_print_record,
	                  "Back up the key file apart from the database: without it no access"
	                  " token can be verified.", false);
	json_object_put(result);
	return status;
}

/* merchant */

static json_object *
ctl_merchant_json(const struct merchant *m)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "customer_id", json_object_new_int64(m->id));
	json_object_object_add(obj, "company", json_object_new_string(m->company));
	json_object_object_add(obj, "email", json_object_new_string(m->email));
	json_object_object_add(obj, "currency", json_object_new_string(m->default_currency));
	json_object_object_add(obj, "enabled_coins", json_object_new_string(m->enabled_coins));
	json_object_object_add(obj, "tolerance_under_pct", json_object_new_int(m->tolerance_under_pct));
	json_object_object_add(obj, "tolerance_over_pct", json_object_new_int(m->tolerance_over_pct));
	json_object_object_add(obj, "order_expiry_minutes",
	                       json_object_new_int(m->order_expiry_minutes));
	json_object_object_add(obj, "auto_exchange", json_object_new_boolean(m->auto_exchange));
	json_object_object_add(obj, "created_at", json_object_new_int64(m->created_at));
	return obj;
}

/* Check the fields of a new merchant and fill m with them and the defaults. */
static void
ctl_merchant_fill(const char *company, const char *email, const char *currency,
                  struct merchant *m, struct field_errors *errs)
{
	if (company[0] == '\0' || !validate_text(company, CTL_COMPANY_MAX))
		field_errors_add(errs, "company", "company must be 1 to %d characters of text"
		                 " without control characters", CTL_COMPANY_MAX);
	if (!validate_email(email))
		field_errors_add(errs, "email", "email \"%.60s\" is not a valid e-mail address"
		                 " such as shop@example.com", email);
	if (money_currency_find(currency) == NULL)
		field_errors_add(errs, "currency", "currency \"%.8s\" is not a supported ISO 4217"
		                 " code such as USD or EUR", currency);
	if (errs->count > 0)
		return;

	snprintf(m->company, sizeof(m->company), "%s", company);
	snprintf(m->email, sizeof(m->email), "%s", email);
	snprintf(m->default_currency, sizeof(m->default_currency), "%s", currency);
	snprintf(m->enabled_coins, sizeof(m->enabled_coins), "%s", CTL_DEFAULT_COINS);
	m->tolerance_under_pct = 0;
	m->tolerance_over_pct = 0;
	m->order_expiry_minutes = CP_ORDER_EXPIRY_MIN;
	m->auto_exchange = false;
}

static int
ctl_merchant_insert(struct ctl *ctl, struct merchant *m)
{
	enum cp_result rc;

	m->created_at = ctl_now_s(ctl);
	if ((rc = store_begin(ctl->gw.store)) != CP_OK)
		return ctl_fail_store(ctl, "add the merchant", rc);
	rc = store_merchant_insert(ctl->gw.store, m);
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);

	if (rc == CP_EXISTS)
		return ctl_fail(ctl, "a merchant with e-mail %s already exists; run citypayctl"
		                " merchant list to find its customer ID", m->email);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "add the merchant", rc);
	log_info("merchant added", "customer_id", log_int(m->id), NULL);
	return CTL_EXIT_OK;
}

/*
 * Read the cabinet password from standard input (one line) or generate
 * one, check it and write its argon2id hash. password receives the text
 * that the caller shows once and wipes.
 */
static int
ctl_cabinet_password(struct ctl *ctl, bool from_stdin, char *password, size_t len,
                     char *hash, size_t hashlen)
{
	char why[160];

	if (from_stdin) {
		if (fgets(password, (int)len, stdin) == NULL)
			return ctl_fail(ctl, "no password on standard input");
		password[strcspn(password, "\r\n")] = '\0';
		if (password_check_policy(password, why, sizeof(why)) != 0) {
			sodium_memzero(password, len);
			return ctl_fail(ctl, "the password is not accepted: %s", why);
		}
	} else {
		password_generate(password, len);
	}
	if (password_hash(password, hash, hashlen) != 0) {
		sodium_memzero(password, len);
		return ctl_fail(ctl, "hashing the password failed");
	}
	return CTL_EXIT_OK;
}

/* merchant password: set a new cabinet password and end the merchant's sessions. */
static int
ctl_merchant_password(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char password[PASSWORD_MAX_BYTES + 2] = "", hash[PASSWORD_HASH_MAX];
	const char *customer = NULL;
	bool from_stdin = false;
	int64_t id = 0;
	enum cp_result rc;
	json_object *result;
	int opt, status;

	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_CUSTOMER)
			customer = optarg;
		else if (opt == OPT_PASSWORD_STDIN)
			from_stdin = true;
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if ((status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK)
		return status;
	if (customer == NULL)
		return ctl_usage_error(ctl, "missing --customer");
	if ((status = ctl_parse_int(ctl, "--customer", customer, 1, INT64_MAX, &id)) != CTL_EXIT_OK ||
	    (status = ctl_cabinet_password(ctl, from_stdin, password, sizeof(password), hash,
	                                   sizeof(hash))) != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK) {
		sodium_memzero(password, sizeof(password));
		return status;
	}
	if ((rc = store_begin(ctl->gw.store)) == CP_OK) {
		rc = store_merchant_set_password(ctl->gw.store, id, hash);
		if (rc == CP_OK)
			rc = store_session_delete_merchant(ctl->gw.store, id);
		if (rc == CP_OK)
			rc = store_commit(ctl->gw.store);
		else
			store_rollback(ctl->gw.store);
	}
	if (rc != CP_OK) {
		sodium_memzero(password, sizeof(password));
		return rc == CP_NOT_FOUND
		       ? ctl_fail(ctl, "no merchant has customer ID %lld; run citypayctl merchant list",
		                  (long long)id)
		       : ctl_fail_store(ctl, "set the password", rc);
	}
	result = json_object_new_object();
	json_object_object_add(result, "customer_id", json_object_new_int64(id));
	if (!from_stdin)
		json_object_object_add(result, "password", json_object_new_string(password));
	sodium_memzero(password, sizeof(password));
	status = ctl_emit(ctl, result, ctl_print_record, from_stdin ? "The password was set."
	                  : "This new cabinet password is shown only this once.", false);
	json_object_put(result);
	return status;
}

static int
ctl_merchant_add(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "company", required_argument, NULL, OPT_COMPANY },
		{ "email", required_argument, NULL, OPT_EMAIL },
		{ "currency", required_argument, NULL, OPT_CURRENCY },
		{ "password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *company = NULL, *email = NULL, *currency = CTL_DEFAULT_CURRENCY;
	char password[PASSWORD_MAX_BYTES + 2] = "";
	bool from_stdin = false;
	struct field_errors errs = { .count = 0 };
	struct merchant m = { 0 };
	json_object *result;
	int opt, status;

	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_COMPANY)
			company = optarg;
		else if (opt == OPT_EMAIL)
			email = optarg;
		else if (opt == OPT_CURRENCY)
			currency = optarg;
		else if (opt == OPT_PASSWORD_STDIN)
			from_stdin = true;
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if ((status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK)
		return status;
	if (company == NULL || email == NULL)
		return ctl_usage_error(ctl, "missing %s", company == NULL ? "--company" : "--email");

	ctl_merchant_fill(company, email, currency, &m, &errs);
	if (errs.count > 0)
		return ctl_fail_fields(ctl, &errs);
	if ((status = ctl_cabinet_password(ctl, from_stdin, password, sizeof(password),
	                                   m.password_hash, sizeof(m.password_hash))) != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK ||
	    (status = ctl_merchant_insert(ctl, &m)) != CTL_EXIT_OK) {
		sodium_memzero(password, sizeof(password));
		return status;
	}

	result = json_object_new_object();
	json_object_object_add(result, "customer_id", json_object_new_int64(m.id));
	json_object_object_add(result, "company", json_object_new_string(m.company));
	json_object_object_add(result, "email", json_object_new_string(m.email));
	json_object_object_add(result, "currency", json_object_new_string(m.default_currency));
	if (!from_stdin)
		json_object_object_add(result, "initial_password", json_object_new_string(password));
	sodium_memzero(password, sizeof(password));
	status = ctl_emit(ctl, result, ctl_print_record, from_stdin ? NULL
	                  : "Give the merchant the initial password for the cabinet at /cabinet/login;"
	                    " it is shown only this once.", false);
	json_object_put(result);
	return status;
}

static int
ctl_merchant_set(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "coins", required_argument, NULL, OPT_COINS },
		{ "currency", required_argument, NULL, OPT_CURRENCY },
		{ "tolerance-under", required_argument, NULL, OPT_TOLERANCE_UNDER },
		{ "tolerance-over", required_argument, NULL, OPT_TOLERANCE_OVER },
		{ "order-expiry-minutes", required_argument, NULL, OPT_ORDER_EXPIRY },
		{ "auto-exchange", required_argument, NULL, OPT_AUTO_EXCHANGE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct merchant_settings in = { NULL };
	struct field_errors errs = { .count = 0 };
	const char *customer = NULL;
	struct merchant m;
	int64_t id = 0;
	enum cp_result rc;
	json_object *result;
	int opt, status;

	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CUSTOMER: customer = optarg; break;
		case OPT_COINS: in.enabled_coins = optarg; break;
		case OPT_CURRENCY: in.default_currency = optarg; break;
		case OPT_TOLERANCE_UNDER: in.tolerance_under_pct = optarg; break;
		case OPT_TOLERANCE_OVER: in.tolerance_over_pct = optarg; break;
		case OPT_ORDER_EXPIRY: in.order_expiry_minutes = optarg; break;
		case OPT_AUTO_EXCHANGE: in.auto_exchange = optarg; break;
		default: return ctl_option_error(ctl, opt, argv);
		}
	}
	if ((status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK)
		return status;
	if (customer == NULL)
		return ctl_usage_error(ctl, "missing --customer");
	if ((status = ctl_parse_int(ctl, "--customer", customer, 1, INT64_MAX, &id)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	rc = merchants_update(&ctl->gw, id, &in, &m, &errs);
	if (rc == CP_INVALID)
		return ctl_fail_fields(ctl, &errs);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "no merchant has customer ID %lld; run citypayctl merchant list",
		                (long long)id);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "change the merchant settings", rc);

	result = ctl_merchant_json(&m);
	status = ctl_emit(ctl, result, ctl_print_record, NULL, false);
	json_object_put(result);
	return status;
}

static void
ctl_merchant_row(const struct merchant *m, void *arg)
{
	json_object_array_add(arg, ctl_merchant_json(m));
}

static int
ctl_merchant_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_object *rows, *result;
	enum cp_result rc;
	int opt, status;

	if ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1)
		return ctl_option_error(ctl, opt, argv);
	if ((status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	if ((rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return ctl_fail_store(ctl, "list merchants", rc);
	rows = json_object_new_array();
	rc = store_merchant_list(ctl->gw.store, ctl_merchant_row, rows);
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (rc != CP_OK) {
		json_object_put(rows);
		return ctl_fail_store(ctl, "list merchants", rc);
	}

	result = json_object_new_object();
	json_object_object_add(result, "merchants", rows);
	status = ctl_emit(ctl, result, ctl_print_merchants, NULL, false);
	json_object_put(result);
	return status;
}

/* token */

static const char *
ctl_token_status(const struct access_token *t, int64_t now)
{
	if (t->revoked_at != 0)
		return "revoked";
	if (t->expires_at <= now)
		return "expired";
	return "active";
}

/* The non-secret fields of a token: never the token, its digest or its secret. */
static json_object *
ctl_token_json(const struct access_token *t, int64_t now)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "id", json_object_new_int64(t->id));
	json_object_object_add(obj, "customer_id", json_object_new_int64(t->merchant_id));
	json_object_object_add(obj, "name", json_object_new_string(t->name));
	json_object_object_add(obj, "type", json_object_new_string(t->type));
	json_object_object_add(obj, "currency", json_object_new_string(t->currency));
	json_object_object_add(obj, "ip_whitelist", ctl_lines_json(t->ip_whitelist));
	json_object_object_add(obj, "callback_urls", ctl_lines_json(t->callback_urls));
	json_object_object_add(obj, "success_url", ctl_string_or_null(t->success_url));
	json_object_object_add(obj, "cancel_url", ctl_string_or_null(t->cancel_url));
	json_object_object_add(obj, "expires_at", json_object_new_int64(t->expires_at));
	json_object_object_add(obj, "mode", json_object_new_string(token_mode_name(t->mode)));
	json_object_object_add(obj, "last_chars", json_object_new_string(t->last_chars));
	json_object_object_add(obj, "created_at", json_object_new_int64(t->created_at));
	json_object_object_add(obj, "last_used_at", ctl_time_or_null(t->last_used_at));
	json_object_object_add(obj, "last_used_ip", ctl_string_or_null(t->last_used_ip));
	json_object_object_add(obj, "status", json_object_new_string(ctl_token_status(t, now)));
	return obj;
}

/* Collect one repeatable option value into a bounded array. */
static int
ctl_append(const struct ctl *ctl, const char *option, const char **items, size_t *count,
           size_t max, const char *value)
{
	if (*count >= max)
		return ctl_usage_error(ctl, "too many %s options: give at most %zu", option, max);
	items[(*count)++] = value;
	return CTL_EXIT_OK;
}

/* Read the options of token add into req, and the --expires text into expires. */
static int
ctl_token_add_options(struct ctl *ctl, int argc, char **argv, struct token_request *req,
                      char *expires, size_t expires_len)
{
	static const struct option options[] = {
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "currency", required_argument, NULL, OPT_CURRENCY },
		{ "ip", required_argument, NULL, OPT_IP },
		{ "callback", required_argument, NULL, OPT_CALLBACK },
		{ "success-url", required_argument, NULL, OPT_SUCCESS_URL },
		{ "cancel-url", required_argument, NULL, OPT_CANCEL_URL },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t expires_at = 0;
	int opt, status = CTL_EXIT_OK;

	while (status == CTL_EXIT_OK &&
	       (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_CUSTOMER:
			status = ctl_parse_int(ctl, "--customer", optarg, 1, INT64_MAX, &req->merchant_id);
			break;
		case OPT_NAME: req->name = optarg; break;
		case OPT_TYPE: req->type = optarg; break;
		case OPT_CURRENCY: req->currency = optarg; break;
		case OPT_SUCCESS_URL: req->success_url = optarg; break;
		case OPT_CANCEL_URL: req->cancel_url = optarg; break;
		case OPT_MODE: req->mode = optarg; break;
		case OPT_IP:
			status = ctl_append(ctl, "--ip", req->ips, &req->ip_count, CP_WHITELIST_MAX, optarg);
			break;
		case OPT_CALLBACK:
			status = ctl_append(ctl, "--callback", req->callbacks, &req->callback_count,
			                    CP_CALLBACK_URLS_MAX, optarg);
			break;
		case OPT_EXPIRES:
			status = ctl_parse_int(ctl, "--expires", optarg, 1, INT64_MAX, &expires_at);
			snprintf(expires, expires_len, "%lld", (long long)expires_at);
			break;
		default:
			return ctl_option_error(ctl, opt, argv);
		}
	}
	if (status != CTL_EXIT_OK)
		return status;
	return ctl_no_arguments(ctl, argc, argv);
}

/* Name the first required option of token add that is missing, or NULL. */
static const char *
ctl_token_add_missing(const struct token_request *req, const char *expires)
{
	if (req->merchant_id == 0)
		return "--customer";
	if (req->name == NULL)
		return "--name";
	if (req->type == NULL)
		return "--type";
	if (req->ip_count == 0)
		return "--ip (give 0.0.0.0/0 or ::/0 to allow any address)";
	if (req->callback_count == 0)
		return "--callback";
	if (expires[0] == '\0')
		return "--expires";
	return NULL;
}

/*
 * Print a new token with its secrets, then wipe the caller's buffers and
 * the copies in the JSON object.
 * NOTE: copies left in stdout's buffer and in buffers json-c freed while
 * growing its output are not wiped. The process exits right after.
 */
static int
ctl_token_add_print(struct ctl *ctl, const struct access_token *t, char *token_text,
                    char *secret)
{
	json_object *result = ctl_token_json(t, ctl_now_s(ctl));
	int status;

	json_object_object_add(result, "token", json_object_new_string(token_text));
	json_object_object_add(result, "signing_secret", json_object_new_string(secret));
	sodium_memzero(token_text, TOKEN_TEXT_MAX);
	sodium_memzero(secret, SIGNING_SECRET_TEXT_MAX);

	status = ctl_emit(ctl, result, ctl_print_record,
	                  "Store the token and the signing secret now: they are shown only this"
	                  " once, and the gateway keeps neither.", true);
	ctl_wipe_json_string(result, "token");
	ctl_wipe_json_string(result, "signing_secret");
	json_object_put(result);
	return status;
}

static int
ctl_token_add(struct ctl *ctl, int argc, char **argv)
{
	struct token_request req = { 0 };
	struct field_errors errs = { .count = 0 };
	struct access_token t;
	char token_text[TOKEN_TEXT_MAX], secret[SIGNING_SECRET_TEXT_MAX], expires[24] = "";
	const char *missing;
	enum cp_result rc;
	int status;

	if ((status = ctl_token_add_options(ctl, argc, argv, &req, expires, sizeof(expires))) !=
	    CTL_EXIT_OK)
		return status;
	if ((missing = ctl_token_add_missing(&req, expires)) != NULL)
		return ctl_usage_error(ctl, "missing %s", missing);
	req.expires_at = expires;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	rc = tokens_create(&ctl->gw, &req, &t, token_text, secret, &errs);
	if (rc == CP_INVALID || (rc == CP_EXISTS && errs.count > 0))
		return ctl_fail_fields(ctl, &errs);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "customer %lld not found; run citypayctl merchant list",
		                (long long)req.merchant_id);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "create the token", rc);
	return ctl_token_add_print(ctl, &t, token_text, secret);
}

/*
 * Read the required --customer option and, when name is not NULL (token
 * revoke), the required --name option.
 */
static int
ctl_customer_options(struct ctl *ctl, int argc, char **argv, int64_t *customer,
                     const char **name)
{
	/* --name comes first so that token list can take the array without it. */
	static const struct option with_name[] = {
		{ "name", required_argument, NULL, OPT_NAME },
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct option *options = name != NULL ? with_name : with_name + 1;
	int opt, status = CTL_EXIT_OK;

	while (status == CTL_EXIT_OK &&
	       (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_CUSTOMER)
			status = ctl_parse_int(ctl, "--customer", optarg, 1, INT64_MAX, customer);
		else if (opt == OPT_NAME)
			*name = optarg;
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if (status != CTL_EXIT_OK)
		return status;
	if (*customer == 0)
		return ctl_usage_error(ctl, "missing --customer");
	if (name != NULL && *name == NULL)
		return ctl_usage_error(ctl, "missing --name");
	return ctl_no_arguments(ctl, argc, argv);
}

struct ctl_token_walk {
	json_object *rows;
	int64_t now;    /* Unix seconds, to tell active tokens from expired ones */
};

static void
ctl_token_row(const struct access_token *t, void *arg)
{
	struct ctl_token_walk *walk = arg;

	json_object_array_add(walk->rows, ctl_token_json(t, walk->now));
}

/* Collect the merchant's tokens. Returns CP_NOT_FOUND for an unknown merchant. */
static enum cp_result
ctl_token_collect(struct ctl *ctl, int64_t customer, json_object *rows)
{
	struct ctl_token_walk walk = { rows, ctl_now_s(ctl) };
	struct merchant m;
	enum cp_result rc;

	if ((rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return rc;
	rc = store_merchant_get(ctl->gw.store, customer, &m);
	if (rc == CP_OK)
		rc = store_token_list(ctl->gw.store, customer, ctl_token_row, &walk);
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	return rc;
}

static int
ctl_token_list(struct ctl *ctl, int argc, char **argv)
{
	int64_t customer = 0;
	json_object *rows, *result;
	enum cp_result rc;
	int status;

	status = ctl_customer_options(ctl, argc, argv, &customer, NULL);
	if (status != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	rows = json_object_new_array();
	rc = ctl_token_collect(ctl, customer, rows);
	if (rc != CP_OK) {
		json_object_put(rows);
		if (rc == CP_NOT_FOUND)
			return ctl_fail(ctl, "customer %lld not found; run citypayctl merchant list",
			                (long long)customer);
		return ctl_fail_store(ctl, "list tokens", rc);
	}

	result = json_object_new_object();
	json_object_object_add(result, "tokens", rows);
	status = ctl_emit(ctl, result, ctl_print_tokens, NULL, false);
	json_object_put(result);
	return status;
}

static int
ctl_token_revoke(struct ctl *ctl, int argc, char **argv)
{
	int64_t customer = 0;
	const char *name = NULL;
	json_object *result;
	enum cp_result rc;
	int status;

	status = ctl_customer_options(ctl, argc, argv, &customer, &name);
	if (status != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	if ((rc = store_begin(ctl->gw.store)) != CP_OK)
		return ctl_fail_store(ctl, "revoke the token", rc);
	rc = store_token_revoke(ctl->gw.store, customer, name, ctl_now_s(ctl));
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "customer %lld has no active token named \"%.100s\"; run"
		                " citypayctl token list --customer %lld", (long long)customer, name,
		                (long long)customer);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "revoke the token", rc);
	log_info("token revoked", "customer_id", log_int(customer), "name", name, NULL);

	result = json_object_new_object();
	json_object_object_add(result, "revoked", json_object_new_boolean(true));
	json_object_object_add(result, "customer_id", json_object_new_int64(customer));
	json_object_object_add(result, "name", json_object_new_string(name));
	status = ctl_emit(ctl, result, ctl_print_record, NULL, false);
	json_object_put(result);
	return status;
}

/* The merchant's active token with one name, found by ctl_token_find_name(). */
struct ctl_token_match {
	const char *name;
	int64_t id;         /* 0 when not found */
};

static void
ctl_token_match_row(const struct access_token *t, void *arg)
{
	struct ctl_token_match *match = arg;

	if (t->revoked_at == 0 && strcmp(t->name, match->name) == 0)
		match->id = t->id;
}

/* Read the options of token rotate-secret; the overlap is returned in seconds. */
static int
ctl_rotate_options(struct ctl *ctl, int argc, char **argv, int64_t *customer,
                   const char **name, int64_t *overlap_s)
{
	static const struct option options[] = {
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "overlap-hours", required_argument, NULL, OPT_OVERLAP_HOURS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t hours = 24;
	int opt, status = CTL_EXIT_OK;

	while (status == CTL_EXIT_OK &&
	       (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_CUSTOMER)
			status = ctl_parse_int(ctl, "--customer", optarg, 1, INT64_MAX, customer);
		else if (opt == OPT_NAME)
			*name = optarg;
		else if (opt == OPT_OVERLAP_HOURS)
			status = ctl_parse_int(ctl, "--overlap-hours", optarg, 0,
			                       TOKENS_ROTATE_OVERLAP_MAX_S / 3600, &hours);
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if (status != CTL_EXIT_OK)
		return status;
	if (*customer == 0)
		return ctl_usage_error(ctl, "missing --customer");
	if (*name == NULL)
		return ctl_usage_error(ctl, "missing --name");
	*overlap_s = hours * 3600;
	return ctl_no_arguments(ctl, argc, argv);
}

/* Find the id of the merchant's active token named name; CP_NOT_FOUND if none. */
static enum cp_result
ctl_token_find_name(struct ctl *ctl, int64_t customer, const char *name, int64_t *id)
{
	struct ctl_token_match match = { name, 0 };
	enum cp_result rc;

	if ((rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return rc;
	rc = store_token_list(ctl->gw.store, customer, ctl_token_match_row, &match);
	store_rollback(ctl->gw.store);
	if (rc != CP_OK)
		return rc;
	*id = match.id;
	return match.id != 0 ? CP_OK : CP_NOT_FOUND;
}

static int
ctl_token_rotate_secret(struct ctl *ctl, int argc, char **argv)
{
	int64_t customer = 0, overlap_s = 0, token_id = 0;
	const char *name = NULL;
	char secret[SIGNING_SECRET_TEXT_MAX];
	json_object *result;
	enum cp_result rc;
	int status;

	status = ctl_rotate_options(ctl, argc, argv, &customer, &name, &overlap_s);
	if (status != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	/* A token revoked between the lookup and the rotation is caught by
	 * tokens_rotate_secret(), which changes only active tokens. */
	rc = ctl_token_find_name(ctl, customer, name, &token_id);
	if (rc == CP_OK)
		rc = tokens_rotate_secret(&ctl->gw, customer, token_id, overlap_s, secret);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "customer %lld has no active token named \"%.100s\"; run"
		                " citypayctl token list --customer %lld", (long long)customer, name,
		                (long long)customer);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "rotate the signing secret", rc);

	result = json_object_new_object();
	json_object_object_add(result, "customer_id", json_object_new_int64(customer));
	json_object_object_add(result, "name", json_object_new_string(name));
	json_object_object_add(result, "signing_secret", json_object_new_string(secret));
	sodium_memzero(secret, sizeof(secret));
	json_object_object_add(result, "overlap_hours", json_object_new_int64(overlap_s / 3600));
	status = ctl_emit(ctl, result, ctl_print_record,
	                  "Store the new signing secret now: it is shown only this once. Deploy"
	                  " it to the callback receiver within overlap_hours, after which"
	                  " callbacks stop carrying the signature under the old secret.", true);
	ctl_wipe_json_string(result, "signing_secret");
	json_object_put(result);
	return status;
}

/* order */

static void
ctl_order_row(const struct order *o, void *arg)
{
	const struct money_currency *cur = money_currency_find(o->currency);
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "id", json_object_new_int64(o->id));
	json_object_object_add(obj, "token", json_object_new_string(o->token));
	json_object_object_add(obj, "client_order_id", json_object_new_string(o->client_order_id));
	json_object_object_add(obj, "customer_id", json_object_new_int64(o->merchant_id));
	json_object_object_add(obj, "status", json_object_new_string(order_status_code(o->status)));
	json_object_object_add(obj, "amount",
	                       views_decimal(o->amount_fiat, cur ? cur->scale : 2, true));
	json_object_object_add(obj, "currency", json_object_new_string(o->currency));
	json_object_object_add(obj, "coin", ctl_string_or_null(o->coin));
	json_object_object_add(obj, "created_at", json_object_new_int64(o->created_at_ms / 1000));
	json_object_array_add(arg, obj);
}

static int
ctl_order_list_options(struct ctl *ctl, int argc, char **argv, int64_t *customer,
                       int64_t *limit)
{
	static const struct option options[] = {
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, status = CTL_EXIT_OK;

	while (status == CTL_EXIT_OK &&
	       (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_CUSTOMER)
			status = ctl_parse_int(ctl, "--customer", optarg, 1, INT64_MAX, customer);
		else if (opt == OPT_LIMIT)
			status = ctl_parse_int(ctl, "--limit", optarg, 1, CTL_ORDER_LIMIT_MAX, limit);
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if (status != CTL_EXIT_OK)
		return status;
	return ctl_no_arguments(ctl, argc, argv);
}

static int
ctl_order_list(struct ctl *ctl, int argc, char **argv)
{
	int64_t customer = 0, limit = CTL_ORDER_LIMIT, total = 0;
	json_object *rows, *result;
	enum cp_result rc;
	int status;

	status = ctl_order_list_options(ctl, argc, argv, &customer, &limit);
	if (status != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	if ((rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return ctl_fail_store(ctl, "list orders", rc);
	rows = json_object_new_array();
	rc = store_order_list(ctl->gw.store, customer, limit, 0, ctl_order_row, rows);
	if (rc == CP_OK)
		rc = store_order_count(ctl->gw.store, customer, &total);
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (rc != CP_OK) {
		json_object_put(rows);
		return ctl_fail_store(ctl, "list orders", rc);
	}

	result = json_object_new_object();
	json_object_object_add(result, "orders", rows);
	json_object_object_add(result, "total", json_object_new_int64(total));
	status = ctl_emit(ctl, result, ctl_print_orders, NULL, false);
	json_object_put(result);
	return status;
}

/*
 * Read the order (or, with deposit set, the deposit) of a public token and
 * return its view. Sets *rc to CP_NOT_FOUND when there is none.
 */
static json_object *
ctl_view_by_token(struct ctl *ctl, const char *token, bool deposit, enum cp_result *rc)
{
	json_object *view = NULL;
	struct order o;
	struct deposit d;

	if ((*rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return NULL;
	if (deposit)
		*rc = store_deposit_find_token(ctl->gw.store, token, &d);
	else
		*rc = store_order_find_token(ctl->gw.store, token, &o);
	if (*rc == CP_OK) {
		view = deposit ? views_deposit(&ctl->gw, &d) : views_order(&ctl->gw, &o, true);
		*rc = view != NULL ? CP_OK : CP_ERROR;
	}
	if (*rc == CP_OK)
		*rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (*rc != CP_OK) {
		json_object_put(view);
		view = NULL;
	}
	return view;
}

static int
ctl_order_show(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *token;
	json_object *view, *result;
	enum cp_result rc;
	int opt, status;

	if ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1)
		return ctl_option_error(ctl, opt, argv);
	if (optind >= argc)
		return ctl_usage_error(ctl, "missing the order token");
	token = argv[optind++];
	if ((status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	view = ctl_view_by_token(ctl, token, false, &rc);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "no order with token \"%.64s\"; run citypayctl order list",
		                token);
	if (view == NULL)
		return ctl_fail_store(ctl, "read the order", rc);

	result = json_object_new_object();
	json_object_object_add(result, "order", view);
	status = ctl_emit(ctl, result, ctl_print_record, NULL, false);
	json_object_put(result);
	return status;
}

/* sandbox */

static json_object *
ctl_tx_json(const struct chain_tx *tx)
{
	const struct money_coin *coin = money_coin_find(tx->coin);
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "hash", json_object_new_string(tx->hash));
	json_object_object_add(obj, "coin", json_object_new_string(tx->coin));
	json_object_object_add(obj, "amount", coin ? views_decimal(tx->amount, coin->scale, false)
	                                           : NULL);
	json_object_object_add(obj, "address", json_object_new_string(tx->address));
	return obj;
}

struct ctl_pay_args {
	const char *order;
	const char *deposit;
	const char *coin;
	const char *amount;
};

static int
ctl_sandbox_pay_options(struct ctl *ctl, int argc, char **argv, struct ctl_pay_args *args)
{
	static const struct option options[] = {
		{ "order", required_argument, NULL, OPT_ORDER },
		{ "deposit", required_argument, NULL, OPT_DEPOSIT },
		{ "coin", required_argument, NULL, OPT_COIN },
		{ "amount", required_argument, NULL, OPT_AMOUNT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_ORDER: args->order = optarg; break;
		case OPT_DEPOSIT: args->deposit = optarg; break;
		case OPT_COIN: args->coin = optarg; break;
		case OPT_AMOUNT: args->amount = optarg; break;
		default:
			return ctl_option_error(ctl, opt, argv);
		}
	}
	if ((args->order == NULL) == (args->deposit == NULL))
		return ctl_usage_error(ctl, "give exactly one of --order TOKEN and --deposit TOKEN");
	return ctl_no_arguments(ctl, argc, argv);
}

/* Reject sandbox commands while the sandbox is disabled, as the daemon's API does. */
static int
ctl_check_sandbox(const struct ctl *ctl)
{
	if (!ctl->cfg.sandbox_enabled)
		return ctl_fail(ctl, "the sandbox is disabled; set CITYPAY_SANDBOX=1 to use it");
	return CTL_EXIT_OK;
}

static int
ctl_sandbox_pay(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_pay_args args = { 0 };
	struct field_errors errs = { .count = 0 };
	struct chain_tx tx;
	json_object *view, *result;
	const char *token;
	enum cp_result rc;
	int status;

	if ((status = ctl_sandbox_pay_options(ctl, argc, argv, &args)) != CTL_EXIT_OK)
		return status;
	if ((status = ctl_check_sandbox(ctl)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;
	token = args.order ? args.order : args.deposit;

	/* sandbox_pay() takes either kind of token, so check the kind first. */
	view = ctl_view_by_token(ctl, token, args.deposit != NULL, &rc);
	json_object_put(view);
	if (rc == CP_OK)
		rc = sandbox_pay(&ctl->gw, token, args.coin, args.amount, &tx, &errs);
	if (rc == CP_INVALID)
		return ctl_fail_fields(ctl, &errs);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "no sandbox %s with token \"%.64s\"",
		                args.order ? "order" : "deposit", token);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "send the sandbox transaction", rc);

	view = ctl_view_by_token(ctl, token, args.deposit != NULL, &rc);
	if (view == NULL)
		return ctl_fail_store(ctl, "read the paid order", rc);
	result = json_object_new_object();
	json_object_object_add(result, "transaction", ctl_tx_json(&tx));
	json_object_object_add(result, args.order ? "order" : "deposit", view);
	status = ctl_emit(ctl, result, ctl_print_record, NULL, false);
	json_object_put(result);
	return status;
}

static int
ctl_sandbox_mine(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "blocks", required_argument, NULL, OPT_BLOCKS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t blocks = 1, height = 0;
	json_object *result;
	enum cp_result rc;
	int opt, status = CTL_EXIT_OK;

	while (status == CTL_EXIT_OK &&
	       (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt != OPT_BLOCKS)
			return ctl_option_error(ctl, opt, argv);
		status = ctl_parse_int(ctl, "--blocks", optarg, 1, SANDBOX_MINE_MAX, &blocks);
	}
	if (status != CTL_EXIT_OK ||
	    (status = ctl_no_arguments(ctl, argc, argv)) != CTL_EXIT_OK ||
	    (status = ctl_check_sandbox(ctl)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	if ((rc = sandbox_mine(&ctl->gw, (int)blocks, &height)) != CP_OK)
		return ctl_fail_store(ctl, "mine sandbox blocks", rc);
	result = json_object_new_object();
	json_object_object_add(result, "height", json_object_new_int64(height));
	status = ctl_emit(ctl, result, ctl_print_record, NULL, false);
	json_object_put(result);
	return status;
}

/* callbacks */

/* One delivery of the operator's callback list. */
static void
ctl_callback_row(const struct outbox_summary *s, void *arg)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "event_id", json_object_new_string(s->event_id));
	if (s->order_token[0] != '\0')
		json_object_object_add(obj, "order_token", json_object_new_string(s->order_token));
	if (s->deposit_token[0] != '\0')
		json_object_object_add(obj, "deposit_token", json_object_new_string(s->deposit_token));
	json_object_object_add(obj, "action", json_object_new_string(s->action));
	json_object_object_add(obj, "sequence", json_object_new_int64(s->sequence));
	json_object_object_add(obj, "url", json_object_new_string(s->url));
	json_object_object_add(obj, "state", json_object_new_string(s->state));
	json_object_object_add(obj, "attempts", json_object_new_int64(s->attempts));
	json_object_object_add(obj, "last_http_status", s->last_http_status != 0 ?
	                       json_object_new_int64(s->last_http_status) : NULL);
	json_object_object_add(obj, "last_error", ctl_string_or_null(s->last_error));
	json_object_object_add(obj, "created_at", json_object_new_int64(s->created_at));
	json_object_object_add(obj, "delivered_at", ctl_time_or_null(s->delivered_at));
	json_object_array_add(arg, obj);
}

static void
ctl_print_callbacks(json_object *result)
{
	static const struct ctl_column columns[] = {
		{ "EVENT ID", "event_id" }, { "ORDER TOKEN", "order_token" },
		{ "DEPOSIT TOKEN", "deposit_token" }, { "ACTION", "action" },
		{ "SEQ", "sequence" }, { "STATE", "state" }, { "ATTEMPTS", "attempts" },
		{ "LAST STATUS", "last_http_status" }, { "CREATED", "created_at" },
		{ "URL", "url" },
	};
	json_object *rows = ctl_rows(result, "callbacks");

	if (json_object_array_length(rows) == 0) {
		printf("No callbacks.\n");
		return;
	}
	ctl_print_table(rows, columns, sizeof(columns) / sizeof(columns[0]));
}

static int
ctl_callbacks_list_options(struct ctl *ctl, int argc, char **argv, struct outbox_filter *f)
{
	static const struct option options[] = {
		{ "customer", required_argument, NULL, OPT_CUSTOMER },
		{ "order", required_argument, NULL, OPT_ORDER },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, status = CTL_EXIT_OK;

	while (status == CTL_EXIT_OK &&
	       (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_CUSTOMER)
			status = ctl_parse_int(ctl, "--customer", optarg, 1, INT64_MAX, &f->merchant_id);
		else if (opt == OPT_ORDER)
			f->order_token = optarg;
		else if (opt == OPT_STATE)
			f->state = optarg;
		else if (opt == OPT_LIMIT)
			status = ctl_parse_int(ctl, "--limit", optarg, 1, CTL_ORDER_LIMIT_MAX, &f->limit);
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if (status != CTL_EXIT_OK)
		return status;
	if (f->state != NULL && strcmp(f->state, "pending") != 0 &&
	    strcmp(f->state, "delivered") != 0 && strcmp(f->state, "failed") != 0)
		return ctl_usage_error(ctl, "--state must be pending, delivered or failed, not"
		                       " \"%.40s\"", f->state);
	return ctl_no_arguments(ctl, argc, argv);
}

static int
ctl_callbacks_list(struct ctl *ctl, int argc, char **argv)
{
	struct outbox_filter filter = { .limit = CTL_ORDER_LIMIT };
	json_object *rows, *result;
	enum cp_result rc;
	int status;

	status = ctl_callbacks_list_options(ctl, argc, argv, &filter);
	if (status != CTL_EXIT_OK)
		return status;
	if ((status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	if ((rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return ctl_fail_store(ctl, "list callbacks", rc);
	rows = json_object_new_array();
	rc = store_outbox_list(ctl->gw.store, &filter, ctl_callback_row, rows);
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (rc != CP_OK) {
		json_object_put(rows);
		return ctl_fail_store(ctl, "list callbacks", rc);
	}

	result = json_object_new_object();
	json_object_object_add(result, "callbacks", rows);
	status = ctl_emit(ctl, result, ctl_print_callbacks, NULL, false);
	json_object_put(result);
	return status;
}

/* Read the single EVENT_ID argument of show and resend. Returns 0 or 2. */
static int
ctl_event_id_argument(struct ctl *ctl, int argc, char **argv, const char **event_id)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	if ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1)
		return ctl_option_error(ctl, opt, argv);
	if (optind >= argc)
		return ctl_usage_error(ctl, "missing the event id");
	*event_id = argv[optind++];
	return ctl_no_arguments(ctl, argc, argv);
}

static void
ctl_attempt_row(const struct outbox_attempt_row *a, void *arg)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "attempted_at", json_object_new_int64(a->attempted_at));
	json_object_object_add(obj, "http_status", a->http_status != 0 ?
	                       json_object_new_int64(a->http_status) : NULL);
	json_object_object_add(obj, "error", ctl_string_or_null(a->error));
	json_object_object_add(obj, "latency_ms", json_object_new_int64(a->latency_ms));
	json_object_object_add(obj, "response", ctl_string_or_null(a->response));
	json_object_object_add(obj, "resend", json_object_new_boolean(a->resend));
	json_object_array_add(arg, obj);
}

/* The event part of show: the stored body as JSON, or as text if it does not parse. */
static json_object *
ctl_event_json(const struct outbox_event *ev)
{
	json_object *obj = json_object_new_object();
	json_object *body = json_tokener_parse(ev->body);

	json_object_object_add(obj, "event_id", json_object_new_string(ev->event_id));
	json_object_object_add(obj, "action", json_object_new_string(ev->action));
	json_object_object_add(obj, "sequence", json_object_new_int64(ev->sequence));
	json_object_object_add(obj, "created_at", json_object_new_int64(ev->created_at));
	json_object_object_add(obj, "body", body != NULL ? body : json_object_new_string(ev->body));
	return obj;
}

/* Read the deliveries of an event with their logged attempts into a JSON array. */
static enum cp_result
ctl_deliveries_json(struct ctl *ctl, int64_t event_row, json_object *list)
{
	struct outbox_delivery_info rows[CP_CALLBACK_URLS_MAX];
	int n = 0;
	enum cp_result rc = store_outbox_deliveries(ctl->gw.store, event_row, rows,
	                                            CP_CALLBACK_URLS_MAX, &n);

	for (int i = 0; rc == CP_OK && i < n; i++) {
		json_object *obj = json_object_new_object();
		json_object *attempts = json_object_new_array();

		json_object_object_add(obj, "url", json_object_new_string(rows[i].url));
		json_object_object_add(obj, "state", json_object_new_string(rows[i].state));
		json_object_object_add(obj, "next_attempt_at", strcmp(rows[i].state, "pending") == 0 ?
		                       json_object_new_int64(rows[i].next_attempt_at) : NULL);
		json_object_object_add(obj, "delivered_at", ctl_time_or_null(rows[i].delivered_at));
		json_object_object_add(obj, "resend_pending",
		                       json_object_new_boolean(rows[i].resend_pending));
		json_object_object_add(obj, "attempts", attempts);
		json_object_array_add(list, obj);
		rc = store_outbox_attempts(ctl->gw.store, rows[i].id, ctl_attempt_row, attempts);
	}
	return rc;
}

/* Read one event and its delivery log. Sets *rc to CP_NOT_FOUND for an unknown id. */
static json_object *
ctl_callback_detail(struct ctl *ctl, const char *event_id, enum cp_result *rc)
{
	struct outbox_event ev;
	json_object *result = NULL;

	if ((*rc = store_begin_read(ctl->gw.store)) != CP_OK)
		return NULL;
	*rc = store_outbox_event_get(ctl->gw.store, event_id, &ev);
	if (*rc == CP_OK) {
		json_object *deliveries = json_object_new_array();

		result = json_object_new_object();
		json_object_object_add(result, "event", ctl_event_json(&ev));
		json_object_object_add(result, "deliveries", deliveries);
		*rc = ctl_deliveries_json(ctl, ev.id, deliveries);
		free(ev.body);
	}
	if (*rc == CP_OK)
		*rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (*rc != CP_OK) {
		json_object_put(result);
		result = NULL;
	}
	return result;
}

static int
ctl_callbacks_show(struct ctl *ctl, int argc, char **argv)
{
	const char *event_id = NULL;
	json_object *result;
	enum cp_result rc;
	int status;

	if ((status = ctl_event_id_argument(ctl, argc, argv, &event_id)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	result = ctl_callback_detail(ctl, event_id, &rc);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "no callback event with id \"%.64s\"; run citypayctl"
		                " callbacks list", event_id);
	if (result == NULL)
		return ctl_fail_store(ctl, "read the callback event", rc);
	status = ctl_emit(ctl, result, ctl_print_record, NULL, false);
	json_object_put(result);
	return status;
}

static int
ctl_callbacks_resend(struct ctl *ctl, int argc, char **argv)
{
	const char *event_id = NULL;
	int64_t deliveries = 0;
	json_object *result;
	enum cp_result rc;
	int status;

	if ((status = ctl_event_id_argument(ctl, argc, argv, &event_id)) != CTL_EXIT_OK ||
	    (status = ctl_open(ctl)) != CTL_EXIT_OK)
		return status;

	if ((rc = store_begin(ctl->gw.store)) != CP_OK)
		return ctl_fail_store(ctl, "resend the callback", rc);
	rc = store_outbox_resend(ctl->gw.store, event_id, ctl_now_s(ctl), &deliveries);
	if (rc == CP_OK)
		rc = store_commit(ctl->gw.store);
	else
		store_rollback(ctl->gw.store);
	if (rc == CP_NOT_FOUND)
		return ctl_fail(ctl, "no callback event with id \"%.64s\"; run citypayctl"
		                " callbacks list", event_id);
	if (rc != CP_OK)
		return ctl_fail_store(ctl, "resend the callback", rc);
	log_info("callback resend requested", "event_id", event_id,
	         "deliveries", log_int(deliveries), NULL);

	result = json_object_new_object();
	json_object_object_add(result, "event_id", json_object_new_string(event_id));
	json_object_object_add(result, "deliveries", json_object_new_int64(deliveries));
	status = ctl_emit(ctl, result, ctl_print_record, "The running daemon sends it within"
	                  " a second, with the header X-Event-Resend: true.", false);
	json_object_put(result);
	return status;
}

/* callbacks listen */

#define CTL_LISTEN_BODY_MAX     65536   /* bytes of one received callback body */
#define CTL_LISTEN_TIMEOUT_S    30      /* idle connection timeout */
#define CTL_LISTEN_CONNECTIONS  64

/* Settings of the development receiver. */
struct ctl_listener {
	const char *secret;
	unsigned int status;            /* HTTP status sent in response to every POST */
	bool json;
};

/* The body of one request, capped at CTL_LISTEN_BODY_MAX bytes. */
struct ctl_listen_upload {
	char *data;
	size_t len;
	bool too_large;
};

/* The string member key of a callback body, or NULL. */
static const char *
ctl_body_string(json_object *body, const char *key)
{
	json_object *value = NULL;

	if (body == NULL || !json_object_object_get_ex(body, key, &value) ||
	    json_object_get_type(value) != json_type_string)
		return NULL;
	return json_object_get_string(value);
}

/* Print one received callback as a JSON line or as a text line. */
static void
ctl_listen_print(const struct ctl_listener *l, json_object *body, bool resend,
                 enum callback_verify_result verified)
{
	const char *keys[] = { "event_id", "action", "status" };

	if (l->json) {
		json_object *obj = json_object_new_object();

		for (size_t i = 0; i < 3; i++) {
			const char *value = ctl_body_string(body, keys[i]);

			json_object_object_add(obj, keys[i], value ? json_object_new_string(value) : NULL);
		}
		json_object_object_add(obj, "resend", json_object_new_boolean(resend));
		json_object_object_add(obj, "signature_valid",
		                       json_object_new_boolean(verified == CALLBACK_VERIFY_OK));
		json_object_object_add(obj, "signature",
		                       json_object_new_string(callback_verify_strerror(verified)));
		json_object_object_add(obj, "answered", json_object_new_int((int)l->status));
		printf("%s\n", ctl_json_text(obj));
		json_object_put(obj);
	} else {
		char text[CTL_CELL_MAX];

		for (size_t i = 0; i < 3; i++) {
			const char *value = ctl_body_string(body, keys[i]);

			ctl_copy_printable(text, sizeof(text), value ? value : "-");
			printf("%s=%s ", keys[i], text);
		}
		printf("resend=%s signature=%s answered=%u", resend ? "yes" : "no",
		       verified == CALLBACK_VERIFY_OK ? "valid" : "INVALID", l->status);
		if (verified != CALLBACK_VERIFY_OK)
			printf(" reason=\"%s\"", callback_verify_strerror(verified));
		printf("\n");
	}
	fflush(stdout);
}

/* Verify and print one complete POST. */
static void
ctl_listen_report(const struct ctl_listener *l, struct MHD_Connection *conn,
                  const struct ctl_listen_upload *up)
{
	const char *timestamp = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                                    "X-Signature-Timestamp");
	const char *signature = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Signature");
	const char *resend = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Event-Resend");
	const char *data = up->data != NULL ? up->data : "";
	json_object *body = json_tokener_parse(data);

	if (body != NULL && json_object_get_type(body) != json_type_object) {
		json_object_put(body);
		body = NULL;
	}
	ctl_listen_print(l, body, resend != NULL && strcmp(resend, "true") == 0,
	                 callback_verify(l->secret, timestamp, signature, data, up->len,
	                                 (int64_t)time(NULL)));
	json_object_put(body);
}

static enum MHD_Result
ctl_listen_answer(struct MHD_Connection *conn, unsigned int status, const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
	                                                           MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* Append a piece of the body, dropping what goes past CTL_LISTEN_BODY_MAX. */
static int
ctl_listen_take(struct ctl_listen_upload *up, const char *data, size_t size)
{
	if (up->too_large || up->len + size > CTL_LISTEN_BODY_MAX) {
		up->too_large = true;
		return 0;
	}
	char *grown = realloc(up->data, up->len + size + 1);

	if (grown == NULL)
		return -1;
	memcpy(grown + up->len, data, size);
	up->len += size;
	grown[up->len] = '\0';
	up->data = grown;
	return 0;
}

/* libmicrohttpd's request handler. It responds only once the body is
 * complete, because libmicrohttpd closes a connection whose response is
 * queued on the first call. */
static enum MHD_Result
ctl_listen_handle(void *cls, struct MHD_Connection *conn, const char *url,
                  const char *method, const char *version, const char *upload_data,
                  size_t *upload_data_size, void **con_cls)
{
	const struct ctl_listener *l = cls;
	struct ctl_listen_upload *up = *con_cls;

	(void)url;
	(void)version;
	if (up == NULL) {
		if ((up = calloc(1, sizeof(*up))) == NULL)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (ctl_listen_take(up, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0)
		return ctl_listen_answer(conn, 405, "{\"error\":\"callbacks are POST requests\"}");
	if (up->too_large)
		return ctl_listen_answer(conn, 413, "{\"error\":\"body too large\"}");
	ctl_listen_report(l, conn, up);
	return ctl_listen_answer(conn, l->status, l->status < 300 ? "{\"ok\":true}" :
	                         "{\"ok\":false}");
}

static void
ctl_listen_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                     enum MHD_RequestTerminationCode toe)
{
	struct ctl_listen_upload *up = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up != NULL) {
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

static int
ctl_callbacks_listen_options(struct ctl *ctl, int argc, char **argv, int64_t *port,
                             int64_t *status, const char **secret)
{
	static const struct option options[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, rc = CTL_EXIT_OK;

	while (rc == CTL_EXIT_OK && (opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		if (opt == OPT_PORT)
			rc = ctl_parse_int(ctl, "--port", optarg, 0, 65535, port);
		else if (opt == OPT_STATUS)
			rc = ctl_parse_int(ctl, "--status", optarg, 200, 599, status);
		else if (opt == OPT_SECRET)
			*secret = optarg;
		else
			return ctl_option_error(ctl, opt, argv);
	}
	if (rc != CTL_EXIT_OK)
		return rc;
	if (*port < 0)
		return ctl_usage_error(ctl, "missing --port");
	if (*secret == NULL || (*secret)[0] == '\0')
		return ctl_usage_error(ctl, "missing --secret, the token's signing secret");
	return ctl_no_arguments(ctl, argc, argv);
}

/* Start the receiver on 127.0.0.1:port; NULL after reporting. */
static struct MHD_Daemon *
ctl_listen_start(struct ctl *ctl, struct ctl_listener *l, uint16_t port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct MHD_Daemon *daemon;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, port, NULL, NULL,
	                          ctl_listen_handle, l,
	                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	                          MHD_OPTION_NOTIFY_COMPLETED, ctl_listen_completed, NULL,
	                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CTL_LISTEN_TIMEOUT_S,
	                          MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CTL_LISTEN_CONNECTIONS,
	                          MHD_OPTION_END);
	if (daemon == NULL)
		ctl_fail(ctl, "cannot listen on 127.0.0.1:%u; is the port in use?", (unsigned)port);
	return daemon;
}

static void
ctl_listen_print_address(const struct ctl *ctl, uint16_t port)
{
	if (ctl->json)
		printf("{\"listening\":\"127.0.0.1:%u\",\"port\":%u}\n", (unsigned)port,
		       (unsigned)port);
	else
		printf("listening on 127.0.0.1:%u; stop with Ctrl-C\n", (unsigned)port);
	fflush(stdout);
}

static int
ctl_callbacks_listen(struct ctl *ctl, int argc, char **argv)
{
	int64_t port = -1, status = 200;
	const char *secret = NULL;
	sigset_t stop_signals;
	int rc, sig = 0;

	rc = ctl_callbacks_listen_options(ctl, argc, argv, &port, &status, &secret);
	if (rc != CTL_EXIT_OK)
		return rc;

	struct ctl_listener listener = { secret, (unsigned int)status, ctl->json };

	/* Block the stop signals before libmicrohttpd starts its thread, which
	 * inherits the mask, so only sigwait() below receives them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	struct MHD_Daemon *daemon = ctl_listen_start(ctl, &listener, (uint16_t)port);
	if (daemon == NULL)
		return CTL_EXIT_FAILURE;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);

	ctl_listen_print_address(ctl, info != NULL ? info->port : (uint16_t)port);
	sigwait(&stop_signals, &sig);
	MHD_stop_daemon(daemon);
	fprintf(stderr, "citypayctl: receiver stopped\n");
	return CTL_EXIT_OK;
}

/* Command line */

static const struct ctl_command ctl_commands[] = {
	{ "init", NULL, "", ctl_init },
	{ "merchant", "add", "--company NAME --email EMAIL [--currency CODE] [--password-stdin]",
	  ctl_merchant_add },
	{ "merchant", "password", "--customer ID [--password-stdin]", ctl_merchant_password },
	{ "merchant", "list", "", ctl_merchant_list },
	{ "merchant", "set", "--customer ID [--coins BTC,ETH,...] [--currency CODE]"
	  " [--tolerance-under PERCENT] [--tolerance-over PERCENT]"
	  " [--order-expiry-minutes MINUTES] [--auto-exchange on|off]", ctl_merchant_set },
	{ "token", "add", "--customer ID --name NAME --type TYPE [--currency CODE] --ip CIDR..."
	  " --callback URL... [--success-url URL] [--cancel-url URL] --expires SECONDS"
	  " [--mode live|sandbox]", ctl_token_add },
	{ "token", "list", "--customer ID", ctl_token_list },
	{ "token", "revoke", "--customer ID --name NAME", ctl_token_revoke },
	{ "token", "rotate-secret", "--customer ID --name NAME [--overlap-hours H]",
	  ctl_token_rotate_secret },
	{ "order", "list", "[--customer ID] [--limit N]", ctl_order_list },
	{ "order", "show", "TOKEN", ctl_order_show },
	{ "sandbox", "pay", "(--order TOKEN | --deposit TOKEN) [--coin COIN] [--amount AMOUNT]",
	  ctl_sandbox_pay },
	{ "sandbox", "mine", "[--blocks N]", ctl_sandbox_mine },
	{ "callbacks", "list", "[--customer ID] [--order TOKEN] [--state pending|delivered|failed]"
	  " [--limit N]", ctl_callbacks_list },
	{ "callbacks", "show", "EVENT_ID", ctl_callbacks_show },
	{ "callbacks", "resend", "EVENT_ID", ctl_callbacks_resend },
	{ "callbacks", "listen", "--port N --secret SECRET [--status CODE]", ctl_callbacks_listen },
};

#define CTL_COMMAND_COUNT (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

/* Find the command named by the first one or two words, and count them in *words_used. */
static const struct ctl_command *
ctl_find_command(int argc, char **argv, int *words_used)
{
	for (size_t i = 0; i < CTL_COMMAND_COUNT; i++) {
		const struct ctl_command *cmd = &ctl_commands[i];

		if (strcmp(argv[0], cmd->group) != 0)
			continue;
		if (cmd->action == NULL) {
			*words_used = 1;
			return cmd;
		}
		if (argc > 1 && strcmp(argv[1], cmd->action) == 0) {
			*words_used = 2;
			return cmd;
		}
	}
	return NULL;
}

/* Explain which command words are valid after an unknown or missing one. */
static int
ctl_unknown_command(const struct ctl *ctl, int argc, char **argv)
{
	char actions[128] = "";
	size_t used = 0;

	for (size_t i = 0; i < CTL_COMMAND_COUNT; i++) {
		if (strcmp(argv[0], ctl_commands[i].group) != 0 || ctl_commands[i].action == NULL)
			continue;
		used += (size_t)snprintf(actions + used, sizeof(actions) - used, "%s%s",
		                         used ? ", " : "", ctl_commands[i].action);
		if (used >= sizeof(actions))
			break;
	}
	if (actions[0] == '\0')
		return ctl_usage_error(ctl, "unknown command \"%.40s\"; the commands are init,"
		                       " merchant, token, order, sandbox and callbacks", argv[0]);
	if (argc < 2)
		return ctl_usage_error(ctl, "%s needs a subcommand: %s", argv[0], actions);
	return ctl_usage_error(ctl, "unknown subcommand \"%.40s\" of %s; use one of: %s",
	                       argv[1], argv[0], actions);
}

/* Parse the global options, load the settings and run the command. */
static int
ctl_run(struct ctl *ctl, int argc, char **argv)
{
	static const struct option options[] = {
		{ "db", required_argument, NULL, OPT_DB },
		{ "key-file", required_argument, NULL, OPT_KEY_FILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *db = NULL, *key_file = NULL;
	const struct ctl_command *cmd;
	int opt, words = 0, status;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		if (opt == OPT_DB) {
			db = optarg;
		} else if (opt == OPT_KEY_FILE) {
			key_file = optarg;
		} else if (opt == OPT_JSON) {
			ctl->json = true;
		} else if (opt == 'h') {
			fputs(ctl_help, stdout);
			return CTL_EXIT_OK;
		} else if (opt == ':') {
			return ctl_usage_error(ctl, "option %s needs a value", argv[optind - 1]);
		} else {
			return ctl_usage_error(ctl, "unknown global option %s; global options are"
			                       " --db, --key-file, --json and --help", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error(ctl, "missing command");

	cmd = ctl_find_command(argc - optind, argv + optind, &words);
	if (cmd == NULL)
		return ctl_unknown_command(ctl, argc - optind, argv + optind);
	ctl->command = cmd;
	if ((status = ctl_configure(ctl, db, key_file)) != CTL_EXIT_OK)
		return status;

	/* The command's options start after its last word, which is its argv[0]. */
	argc -= optind + words - 1;
	argv += optind + words - 1;
	optind = 0;
	status = cmd->run(ctl, argc, argv);
	return status == CTL_HELP_SHOWN ? CTL_EXIT_OK : status;
}

int
main(int argc, char **argv)
{
	struct ctl ctl = { .json = false };
	int status;

	log_set_level(LOG_WARN);
	/* The database contains buyers' e-mail addresses: keep it and its WAL
	 * files private to the operator's account. */
	umask(077);
	if (sodium_init() < 0) {
		fprintf(stderr, "citypayctl: libsodium failed to initialise\n");
		return CTL_EXIT_FAILURE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "citypayctl: libcurl failed to initialise\n");
		return CTL_EXIT_FAILURE;
	}

	status = ctl_run(&ctl, argc, argv);

	store_close(ctl.gw.store);
	ctl.gw.store = NULL;
	keys_wipe(&ctl.gw.keys);
	curl_global_cleanup();
	return status;
}
