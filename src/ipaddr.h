/*
 * IP addresses and CIDR ranges for token whitelists and trusted proxies.
 * Every address is held in the 128-bit IPv6 space; an IPv4 address is kept
 * as its IPv4-mapped form ::ffff:a.b.c.d, so IPv4 entries match clients that
 * arrive over an IPv6 socket as mapped addresses.
 */
#ifndef CITYPAY_IPADDR_H
#define CITYPAY_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Maximum length ipaddr_format() and ipnet_format() write, NUL included. */
#define IPADDR_TEXT_MAX 64

struct ipaddr {
	uint8_t bytes[16];  /* network order; IPv4 as ::ffff:a.b.c.d */
};

struct ipnet {
	struct ipaddr addr; /* host bits are zero */
	int prefix;         /* 0..128 in the IPv6 space; an IPv4 /24 is 120 */
};

/* True when the address is an IPv4 address (IPv4-mapped form). */
bool ipaddr_is_v4(const struct ipaddr *addr);

/*
 * Parse "192.0.2.1", "2001:db8::1" or "::ffff:192.0.2.1". Brackets, zone
 * ids, ports, whitespace and octets with a leading zero ("010") are
 * rejected. Returns 0, or -1 when invalid.
 */
int ipaddr_parse(const char *text, struct ipaddr *out);

/* Convert a socket address (AF_INET or AF_INET6); -1 for other families. */
int ipaddr_from_sockaddr(const struct sockaddr *sa, struct ipaddr *out);

/*
 * Write the address; IPv4 and IPv4-mapped addresses as a dotted quad.
 * Returns the length written, or 0 with buf emptied when len is too small.
 */
size_t ipaddr_format(const struct ipaddr *addr, char *buf, size_t len);

/*
 * Parse an address or CIDR range: "192.0.2.7", "192.0.2.0/24",
 * "2001:db8::/32", "0.0.0.0/0", "::/0". A bare address is a single host.
 * Writes a sentence naming the problem into err (for a 422 message) and
 * returns -1 when the text is invalid or has host bits set past the prefix.
 */
int ipnet_parse(const char *text, struct ipnet *out, char *err, size_t errlen);

/*
 * Write the range as "192.0.2.0/24" or "2001:db8::/32". Returns the length
 * written, or 0 with buf emptied when len is too small.
 */
size_t ipnet_format(const struct ipnet *net, char *buf, size_t len);

/* True when addr is inside net. */
bool ipnet_contains(const struct ipnet *net, const struct ipaddr *addr);

/* True when addr is inside any of the n ranges. */
bool ipnet_list_contains(const struct ipnet *nets, size_t n, const struct ipaddr *addr);

/*
 * Parse ranges given one per line into nets, at most max of them. Lines
 * that are invalid or longer than a range's text are skipped. Returns the
 * number of ranges written.
 */
size_t ipnet_parse_lines(const char *lines, struct ipnet *nets, size_t max);

/*
 * Determine the client address of a request. The TCP peer is the client
 * unless it is one of the trusted proxies; then the X-Forwarded-For header
 * (or, when absent, the for= parameters of Forwarded, RFC 7239) is read from
 * right to left and the first address that is not a trusted proxy is the
 * client. An unparsable entry ("unknown", an obfuscated Forwarded node, a
 * port in X-Forwarded-For) stops the walk and the last trusted hop is
 * used, so a client cannot pass a forged value through a proxy. The walk
 * also stops after CP_FORWARDED_MAX hops, and only the right-most 8 KiB of
 * the header are parsed. Either header may be NULL, and an empty
 * X-Forwarded-For counts as absent. Always fills *client.
 */
void ipaddr_client(const struct ipaddr *peer, const char *x_forwarded_for,
                   const char *forwarded, const struct ipnet *trusted,
                   size_t ntrusted, struct ipaddr *client);

#endif
