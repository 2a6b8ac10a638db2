/*
 * IP addresses, CIDR ranges and the client address behind trusted proxies.
 */
#include "ipaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "limits.h"

/*
 * Bytes read from the right end of X-Forwarded-For or Forwarded. Proxies
 * append on the right, so the hops that decide the client are there. The
 * window fits CP_FORWARDED_MAX elements of 256 bytes each.
 */
#define FORWARDED_HEADER_MAX (CP_FORWARDED_MAX * 256)

/* Bytes 0-11 of an IPv4-mapped address (RFC 4291, section 2.5.5.2). */
static const uint8_t v4_mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

bool ipaddr_is_v4(const struct ipaddr *addr)
{
	return memcmp(addr->bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0;
}

static bool is_hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * True when a dotted quad (the whole text, or the IPv4 tail of an IPv6
 * address after its last colon) has an octet with a leading zero. Such
 * octets read as octal to inet_aton() and some other parsers, so "010" is
 * rejected instead of guessing whether it means 8 or 10.
 */
static bool has_leading_zero_octet(const char *text, size_t len)
{
	size_t start = 0;

	for (size_t i = len; i > 0; i--) {
		if (text[i - 1] == ':') {
			start = i;
			break;
		}
	}
	for (size_t i = start; i + 1 < len; i++) {
		bool octet_start = i == start || text[i - 1] == '.';
		if (octet_start && text[i] == '0' && is_digit(text[i + 1]))
			return true;
	}
	return false;
}

/*
 * Parse len bytes of text as one address. Only hex digits, dots and colons
 * pass the first check, so brackets, zone ids, spaces and signs are
 * rejected here whatever the C library's inet_pton() tolerates.
 */
static int parse_span(const char *text, size_t len, struct ipaddr *out)
{
	char buf[INET6_ADDRSTRLEN];
	bool has_colon = false;
	bool has_dot = false;

	if (len == 0 || len >= sizeof buf)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == ':')
			has_colon = true;
		else if (c == '.')
			has_dot = true;
		else if (!is_hex_digit(c))
			return -1;
	}
	if (has_dot && has_leading_zero_octet(text, len))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';

	struct ipaddr addr;
	if (has_colon) {
		if (inet_pton(AF_INET6, buf, addr.bytes) != 1)
			return -1;
	} else {
		if (!has_dot)
			return -1;
		memcpy(addr.bytes, v4_mapped_prefix, sizeof v4_mapped_prefix);
		if (inet_pton(AF_INET, buf, addr.bytes + 12) != 1)
			return -1;
	}
	*out = addr;
	return 0;
}

int ipaddr_parse(const char *text, struct ipaddr *out)
{
	if (text == NULL)
		return -1;
	return parse_span(text, strnlen(text, INET6_ADDRSTRLEN), out);
}

int ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out)
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		memcpy(out->bytes, v4_mapped_prefix, sizeof v4_mapped_prefix);
		memcpy(out->bytes + 12, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(out->bytes, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

size_t ipaddr_format(const struct ipaddr *addr, char *buf, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	const char *ok;

	if (ipaddr_is_v4(addr))
		ok = inet_ntop(AF_INET, addr->bytes + 12, text, sizeof text);
	else
		ok = inet_ntop(AF_INET6, addr->bytes, text, sizeof text);

	size_t n = ok != NULL ? strlen(text) : 0;
	if (len == 0)
		return 0;
	if (ok == NULL || n >= len) {
		buf[0] = '\0';
		return 0;
	}
	memcpy(buf, text, n + 1);
	return n;
}

/* Clear every bit of addr past the first prefix bits. */
static void clear_host_bits(struct ipaddr *addr, int prefix)
{
	for (int i = 0; i < 16; i++) {
		int bits = prefix - i * 8;
		if (bits >= 8)
			continue;
		if (bits <= 0)
			addr->bytes[i] = 0;
		else
			addr->bytes[i] &= (uint8_t)(0xff << (8 - bits));
	}
}

static void set_err(char *err, size_t errlen, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

/* Write a message into err, which may be NULL when the caller needs none. */
static void set_err(char *err, size_t errlen, const char *format, ...)
{
	va_list args;

	if (err == NULL || errlen == 0)
		return;
	va_start(args, format);
	vsnprintf(err, errlen, format, args);
	va_end(args);
}

/*
 * Explain why text is not an address, naming the common mistakes: a
 * bracketed IPv6 address, a zone id and a port.
 */
static void explain_bad_address(const char *text, char *err, size_t errlen)
{
	const char *last_dot = strrchr(text, '.');
	const char *last_colon = strrchr(text, ':');

	if (strchr(text, '[') != NULL || strchr(text, ']') != NULL)
		set_err(err, errlen,
		        "%s is invalid because IPv6 addresses are written without brackets here",
		        text);
	else if (strchr(text, '%') != NULL)
		set_err(err, errlen, "%s is invalid because zone ids such as %%eth0 are not supported",
		        text);
	else if (last_dot != NULL && last_colon != NULL && last_colon > last_dot)
		set_err(err, errlen,
		        "%s is invalid because it has a port, and only an address or range is accepted",
		        text);
	else
		set_err(err, errlen, "%s is not a valid IPv4 or IPv6 address", text);
}

/*
 * Parse the prefix length after the slash. Returns the length, or -1 when
 * it is not 1 to 3 decimal digits without a leading zero.
 */
static int parse_prefix(const char *text)
{
	size_t len = strnlen(text, 4);
	int value = 0;

	if (len == 0 || len > 3)
		return -1;
	if (len > 1 && text[0] == '0')
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(text[i]))
			return -1;
		value = value * 10 + (text[i] - '0');
	}
	return value;
}

int ipnet_parse(const char *text, struct ipnet *out, char *err, size_t errlen)
{
	char copy[IPADDR_TEXT_MAX];

	if (text == NULL || text[0] == '\0') {
		set_err(err, errlen, "IP address or range is empty");
		return -1;
	}
	size_t len = strnlen(text, sizeof copy);
	if (len >= sizeof copy) {
		set_err(err, errlen, "IP address or range is longer than %d characters",
		        IPADDR_TEXT_MAX - 1);
		return -1;
	}
	memcpy(copy, text, len + 1);

	char *slash = strchr(copy, '/');
	const char *prefix_text = NULL;
	if (slash != NULL) {
		*slash = '\0';
		prefix_text = slash + 1;
	}

	struct ipaddr addr;
	if (parse_span(copy, strlen(copy), &addr) != 0) {
		explain_bad_address(copy, err, errlen);
		return -1;
	}

	bool v4 = strchr(copy, ':') == NULL;
	int max = v4 ? 32 : 128;
	int prefix = max;
	if (prefix_text != NULL) {
		if (prefix_text[0] == '\0') {
			set_err(err, errlen, "%s is missing the prefix length after the slash", text);
			return -1;
		}
		prefix = parse_prefix(prefix_text);
		if (prefix < 0) {
			set_err(err, errlen, "prefix /%s is not a decimal number from 0 to %d",
			        prefix_text, max);
			return -1;
		}
		if (prefix > max) {
			set_err(err, errlen, "prefix /%d is out of range for %s (0-%d)",
			        prefix, v4 ? "IPv4" : "IPv6", max);
			return -1;
		}
	}

	/* An IPv4 /n covers the same addresses as its mapped form /96+n. */
	int prefix128 = v4 ? prefix + 96 : prefix;
	struct ipaddr network = addr;
	clear_host_bits(&network, prefix128);
	if (memcmp(network.bytes, addr.bytes, sizeof addr.bytes) != 0) {
		struct ipnet fixed = { .addr = network, .prefix = prefix128 };
		char fixed_text[IPADDR_TEXT_MAX];
		ipnet_format(&fixed, fixed_text, sizeof fixed_text);
		set_err(err, errlen, "%s has host bits set, so write the range as %s", text,
		        fixed_text);
		return -1;
	}

	out->addr = addr;
	out->prefix = prefix128;
	return 0;
}

size_t ipnet_format(const struct ipnet *net, char *buf, size_t len)
{
	char addr_text[IPADDR_TEXT_MAX];
	int prefix = net->prefix;

	if (len == 0)
		return 0;
	ipaddr_format(&net->addr, addr_text, sizeof addr_text);
	/*
	 * A mapped range shorter than /96 would include non-IPv4 addresses, so
	 * only /96 and longer are written in IPv4 notation.
	 */
	if (ipaddr_is_v4(&net->addr) && prefix >= 96)
		prefix -= 96;
	else if (ipaddr_is_v4(&net->addr))
		inet_ntop(AF_INET6, net->addr.bytes, addr_text, sizeof addr_text);

	int n = snprintf(buf, len, "%s/%d", addr_text, prefix);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return 0;
	}
	return (size_t)n;
}

bool ipnet_contains(const struct ipnet *net, const struct ipaddr *addr)
{
	struct ipaddr masked = *addr;

	if (net->prefix < 0 || net->prefix > 128)
		return false;
	clear_host_bits(&masked, net->prefix);
	return memcmp(masked.bytes, net->addr.bytes, sizeof masked.bytes) == 0;
}

bool ipnet_list_contains(const struct ipnet *nets, size_t n, const struct ipaddr *addr)
{
	for (size_t i = 0; i < n; i++) {
		if (ipnet_contains(&nets[i], addr))
			return true;
	}
	return false;
}

size_t ipnet_parse_lines(const char *lines, struct ipnet *nets, size_t max)
{
	char line[IPADDR_TEXT_MAX];
	size_t count = 0;

	for (const char *p = lines; *p != '\0' && count < max;) {
		size_t n = strcspn(p, "\n");
		char why[8];

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (ipnet_parse(line, &nets[count], why, sizeof(why)) == 0)
				count++;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return count;
}

/* Optional whitespace around list elements (RFC 9110, section 5.6.3). */
static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_blank(const char *text)
{
	if (text == NULL)
		return true;
	while (is_ows(*text))
		text++;
	return *text == '\0';
}

static void trim_ows(const char *text, size_t *start, size_t *stop)
{
	while (*start < *stop && is_ows(text[*start]))
		(*start)++;
	while (*stop > *start && is_ows(text[*stop - 1]))
		(*stop)--;
}

/* Reader of a comma-separated header from its right end. */
struct hop_reader {
	const char *text;
	size_t low;  /* first byte inside the window */
	size_t end;  /* end of the part not yet read */
	bool done;   /* the left-most element has been read */
};

/*
 * Take the right-most element not yet read into [*start, *stop). Returns 1
 * for an element, 0 when none is left, and -1 when the element is cut off
 * by the window or, with quoted set, contains a backslash or an unbalanced
 * quote. Scanning backwards cannot undo a backslash escape, and valid for=
 * values never need one, so an escape ends the walk instead.
 */
static int read_prev(struct hop_reader *r, bool quoted, size_t *start, size_t *stop)
{
	bool in_quotes = false;

	if (r->done)
		return 0;
	for (size_t i = r->end; i > r->low; i--) {
		char c = r->text[i - 1];
		if (quoted && c == '\\')
			return -1;
		if (quoted && c == '"')
			in_quotes = !in_quotes;
		else if (c == ',' && !in_quotes) {
			*start = i;
			*stop = r->end;
			r->end = i - 1;
			return 1;
		}
	}
	if (r->low > 0 || in_quotes)
		return -1;
	*start = 0;
	*stop = r->end;
	r->done = true;
	return 1;
}

/* tchar of RFC 9110, section 5.6.2: the characters of an unquoted token. */
static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* node-port of RFC 7239, section 6: 1-5 digits, or "_" and an obfuscated id. */
static bool is_node_port(const char *text, size_t len)
{
	if (len == 0)
		return false;
	if (text[0] == '_') {
		if (len == 1)
			return false;
		for (size_t i = 1; i < len; i++) {
			char c = text[i];
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
			          c == '.' || c == '_' || c == '-';
			if (!ok)
				return false;
		}
		return true;
	}
	if (len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(text[i]))
			return false;
	}
	return true;
}

/*
 * Parse a node of RFC 7239: "192.0.2.60", "192.0.2.60:80" or
 * "[2001:db8::1]:4711", quotes already removed. "unknown" and obfuscated
 * identifiers such as "_hidden" name no address, so they fail here and end
 * the walk.
 */
static int parse_node(const char *text, size_t len, struct ipaddr *out)
{
	size_t addr_start;
	size_t addr_stop;
	size_t rest;

	if (len > 0 && text[0] == '[') {
		const char *close = memchr(text, ']', len);
		if (close == NULL)
			return -1;
		addr_start = 1;
		addr_stop = (size_t)(close - text);
		rest = addr_stop + 1;
		/* Brackets contain an IPv6 address only, never a dotted quad. */
		if (memchr(text + addr_start, ':', addr_stop - addr_start) == NULL)
			return -1;
	} else {
		const char *colon = memchr(text, ':', len);
		addr_start = 0;
		addr_stop = colon != NULL ? (size_t)(colon - text) : len;
		rest = addr_stop;
	}
	if (rest < len) {
		if (text[rest] != ':' || !is_node_port(text + rest + 1, len - rest - 1))
			return -1;
	}
	return parse_span(text + addr_start, addr_stop - addr_start, out);
}

/*
 * Parse the for= parameter of one Forwarded element such as
 * `for="[2001:db8::1]:4711";proto=https`. An element without for=, or with
 * it twice (RFC 7239, section 4), names no single hop and fails.
 */
static int parse_forwarded_element(const char *text, size_t len, struct ipaddr *out)
{
	size_t value_start = 0;
	size_t value_stop = 0;
	bool found = false;
	size_t pos = 0;

	while (pos <= len) {
		size_t pair_start = pos;
		size_t pair_stop = pos;
		bool in_quotes = false;

		while (pair_stop < len && (in_quotes || text[pair_stop] != ';')) {
			if (text[pair_stop] == '"')
				in_quotes = !in_quotes;
			pair_stop++;
		}
		pos = pair_stop + 1;
		trim_ows(text, &pair_start, &pair_stop);

		const char *eq = memchr(text + pair_start, '=', pair_stop - pair_start);
		if (eq == NULL)
			return -1;
		size_t name_len = (size_t)(eq - (text + pair_start));
		if (name_len == 3 && strncasecmp(text + pair_start, "for", 3) == 0) {
			if (found)
				return -1;
			found = true;
			value_start = (size_t)(eq - text) + 1;
			value_stop = pair_stop;
		}
	}
	if (!found)
		return -1;

	const char *value = text + value_start;
	size_t value_len = value_stop - value_start;
	if (value_len >= 2 && value[0] == '"') {
		if (value[value_len - 1] != '"')
			return -1;
		value++;
		value_len -= 2;
		if (memchr(value, '"', value_len) != NULL)
			return -1;
	} else {
		for (size_t i = 0; i < value_len; i++) {
			if (!is_tchar(value[i]))
				return -1;
		}
	}
	return parse_node(value, value_len, out);
}

void ipaddr_client(const struct ipaddr *peer, const char *x_forwarded_for,
                   const char *forwarded, const struct ipnet *trusted,
                   size_t ntrusted, struct ipaddr *client)
{
	*client = *peer;
	if (!ipnet_list_contains(trusted, ntrusted, peer))
		return;

	const char *header = x_forwarded_for;
	bool is_forwarded = false;
	if (is_blank(header)) {
		header = forwarded;
		is_forwarded = true;
	}
	if (is_blank(header))
		return;

	size_t len = strlen(header);
	struct hop_reader reader = {
		.text = header,
		.low = len > FORWARDED_HEADER_MAX ? len - FORWARDED_HEADER_MAX : 0,
		.end = len,
		.done = false,
	};

	/*
	 * Each hop that is a trusted proxy vouches for the one to its left.
	 * The walk ends at the first untrusted hop, at an entry it cannot
	 * parse, or after CP_FORWARDED_MAX hops. The last hop reached is the
	 * client.
	 */
	for (int hops = 0; hops < CP_FORWARDED_MAX; hops++) {
		size_t start;
		size_t stop;
		struct ipaddr hop;

		if (read_prev(&reader, is_forwarded, &start, &stop) != 1)
			return;
		trim_ows(header, &start, &stop);

		int rc;
		if (is_forwarded)
			rc = parse_forwarded_element(header + start, stop - start, &hop);
		else
			rc = parse_span(header + start, stop - start, &hop);
		if (rc != 0)
			return;

		*client = hop;
		if (!ipnet_list_contains(trusted, ntrusted, &hop))
			return;
	}
}
