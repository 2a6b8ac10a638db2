/*
 * Unit tests for address parsing, CIDR ranges and client address
 * resolution behind trusted proxies.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ipaddr.h"
#include "limits.h"

static struct ipaddr addr_of(const char *text)
{
	struct ipaddr addr;
	assert_int_equal(ipaddr_parse(text, &addr), 0);
	return addr;
}

static struct ipnet net_of(const char *text)
{
	struct ipnet net;
	char err[160] = "";
	if (ipnet_parse(text, &net, err, sizeof err) != 0)
		fail_msg("ipnet_parse(\"%s\") failed: %s", text, err);
	return net;
}

static bool net_has(const char *net_text, const char *addr_text)
{
	struct ipnet net = net_of(net_text);
	struct ipaddr addr = addr_of(addr_text);
	return ipnet_contains(&net, &addr);
}

static void assert_addr_text(const struct ipaddr *addr, const char *expected)
{
	char buf[IPADDR_TEXT_MAX];
	size_t n = ipaddr_format(addr, buf, sizeof buf);
	assert_string_equal(buf, expected);
	assert_int_equal(n, strlen(expected));
}

static void test_parse_ipv4(void **state)
{
	struct ipaddr addr = addr_of("192.0.2.1");
	static const uint8_t expected[16] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1
	};

	assert_memory_equal(addr.bytes, expected, 16);
	assert_true(ipaddr_is_v4(&addr));
	assert_addr_text(&addr, "192.0.2.1");
}

static void test_parse_ipv6(void **state)
{
	struct ipaddr addr = addr_of("2001:DB8::1");

	assert_false(ipaddr_is_v4(&addr));
	assert_int_equal(addr.bytes[0], 0x20);
	assert_int_equal(addr.bytes[1], 0x01);
	assert_int_equal(addr.bytes[15], 0x01);
	assert_addr_text(&addr, "2001:db8::1");

	struct ipaddr loopback = addr_of("::1");
	assert_false(ipaddr_is_v4(&loopback));
	assert_addr_text(&loopback, "::1");
}

static void test_parse_mapped_equals_ipv4(void **state)
{
	struct ipaddr mapped = addr_of("::ffff:192.0.2.1");
	struct ipaddr plain = addr_of("192.0.2.1");

	assert_memory_equal(mapped.bytes, plain.bytes, 16);
	assert_true(ipaddr_is_v4(&mapped));
	assert_addr_text(&mapped, "192.0.2.1");
}

static void test_parse_invalid(void **state)
{
	static const char *const inputs[] = {
		"", "1.2.3", "256.1.1.1", "1.2.3.4.5", "[::1]", "fe80::1%eth0",
		"1.2.3.4:80", "[::1]:80", " 1.2.3.4", "1.2.3.4 ", "01.2.3.4",
		"1.2.3.010", "::ffff:01.2.3.4", "1", "::g", "1:2:3:4:5:6:7:8:9",
		"+1.2.3.4", "0x1.2.3.4", "1.2.3.4/32", "localhost",
		"0000:0000:0000:0000:0000:ffff:255.255.255.255x",
	};
	struct ipaddr addr;

	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
		if (ipaddr_parse(inputs[i], &addr) != -1)
			fail_msg("ipaddr_parse accepted \"%s\"", inputs[i]);
	}
	assert_int_equal(ipaddr_parse(NULL, &addr), -1);
}

static void test_from_sockaddr(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr unix_family = { .sa_family = AF_UNIX };
	struct ipaddr addr;

	assert_int_equal(inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin, &addr), 0);
	assert_addr_text(&addr, "198.51.100.7");

	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &addr), 0);
	assert_addr_text(&addr, "2001:db8::7");

	assert_int_equal(ipaddr_from_sockaddr(&unix_family, &addr), -1);
}

static void test_format_short_buffer(void **state)
{
	struct ipaddr addr = addr_of("192.0.2.1");
	struct ipnet net = net_of("192.0.2.0/24");
	char buf[9] = "xxxxxxxx";

	assert_int_equal(ipaddr_format(&addr, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(ipnet_format(&net, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
}

static void test_ipnet_format(void **state)
{
	static const char *const texts[] = {
		"192.0.2.0/24", "0.0.0.0/0", "192.0.2.7/32", "2001:db8::/32",
		"::/0", "2001:db8::1/128",
	};
	char buf[IPADDR_TEXT_MAX];

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		struct ipnet net = net_of(texts[i]);
		ipnet_format(&net, buf, sizeof buf);
		assert_string_equal(buf, texts[i]);
	}

	struct ipnet host = net_of("192.0.2.7");
	assert_int_equal(host.prefix, 128);
	ipnet_format(&host, buf, sizeof buf);
	assert_string_equal(buf, "192.0.2.7/32");

	struct ipnet v4_24 = net_of("192.0.2.0/24");
	assert_int_equal(v4_24.prefix, 120);
}

static void test_cidr_v4_boundaries(void **state)
{
	assert_true(net_has("192.0.2.0/24", "192.0.2.0"));
	assert_true(net_has("192.0.2.0/24", "192.0.2.255"));
	assert_false(net_has("192.0.2.0/24", "192.0.1.255"));
	assert_false(net_has("192.0.2.0/24", "192.0.3.0"));

	assert_true(net_has("10.0.0.0/8", "10.255.255.255"));
	assert_false(net_has("10.0.0.0/8", "11.0.0.0"));
	assert_false(net_has("10.0.0.0/8", "9.255.255.255"));

	/* A prefix that is not a multiple of 8 splits a byte. */
	assert_true(net_has("198.51.100.64/27", "198.51.100.64"));
	assert_true(net_has("198.51.100.64/27", "198.51.100.95"));
	assert_false(net_has("198.51.100.64/27", "198.51.100.63"));
	assert_false(net_has("198.51.100.64/27", "198.51.100.96"));

	assert_true(net_has("192.0.2.7/32", "192.0.2.7"));
	assert_false(net_has("192.0.2.7/32", "192.0.2.6"));
	assert_false(net_has("192.0.2.7/32", "192.0.2.8"));
}

static void test_cidr_v6_boundaries(void **state)
{
	assert_true(net_has("2001:db8::/32", "2001:db8::"));
	assert_true(net_has("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(net_has("2001:db8::/32", "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_false(net_has("2001:db8::/32", "2001:db9::"));

	assert_true(net_has("2001:db8::1/128", "2001:db8::1"));
	assert_false(net_has("2001:db8::1/128", "2001:db8::"));
	assert_false(net_has("2001:db8::1/128", "2001:db8::2"));
}

static void test_cidr_zero_prefix(void **state)
{
	/* An IPv4 /0 is ::ffff:0:0/96 and so covers IPv4 only. */
	assert_true(net_has("0.0.0.0/0", "0.0.0.0"));
	assert_true(net_has("0.0.0.0/0", "255.255.255.255"));
	assert_false(net_has("0.0.0.0/0", "2001:db8::1"));
	assert_false(net_has("0.0.0.0/0", "::fffe:ffff:ffff"));

	assert_true(net_has("::/0", "::"));
	assert_true(net_has("::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	assert_true(net_has("::/0", "192.0.2.1"));
}

static void test_cidr_mapped_client(void **state)
{
	/* A client on a dual-stack socket arrives as ::ffff:a.b.c.d. */
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct ipnet net = net_of("192.0.2.0/24");
	struct ipaddr client;

	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.33", &sin6.sin6_addr), 1);
	assert_int_equal(ipaddr_from_sockaddr((struct sockaddr *)&sin6, &client), 0);
	assert_true(ipnet_contains(&net, &client));
	assert_true(net_has("::ffff:192.0.2.0/120", "192.0.2.200"));
}

static void test_list_contains(void **state)
{
	struct ipnet nets[2] = { net_of("192.0.2.0/24"), net_of("2001:db8::/32") };
	struct ipaddr inside_v6 = addr_of("2001:db8::5");
	struct ipaddr outside = addr_of("203.0.113.1");

	assert_true(ipnet_list_contains(nets, 2, &inside_v6));
	assert_false(ipnet_list_contains(nets, 2, &outside));
	assert_false(ipnet_list_contains(nets, 0, &inside_v6));
}

static void assert_net_error(const char *text, const char *expected)
{
	struct ipnet net;
	char err[160] = "";

	if (ipnet_parse(text, &net, err, sizeof err) != -1)
		fail_msg("ipnet_parse accepted \"%s\"", text);
	if (strcmp(err, expected) != 0)
		fail_msg("ipnet_parse(\"%s\") wrote \"%s\", expected \"%s\"", text, err, expected);
}

static void test_cidr_errors(void **state)
{
	assert_net_error("10.0.0.1/8", "10.0.0.1/8 has host bits set, so write the range as 10.0.0.0/8");
	assert_net_error("2001:db8::1/32",
	                 "2001:db8::1/32 has host bits set, so write the range as 2001:db8::/32");
	assert_net_error("1.2.3.4/33", "prefix /33 is out of range for IPv4 (0-32)");
	assert_net_error("::1/129", "prefix /129 is out of range for IPv6 (0-128)");
	assert_net_error("1.2.3.4/", "1.2.3.4/ is missing the prefix length after the slash");
	assert_net_error("1.2.3.0/x", "prefix /x is not a decimal number from 0 to 32");
	assert_net_error("1.2.3.0/024", "prefix /024 is not a decimal number from 0 to 32");
	assert_net_error("1.2.3.0/-1", "prefix /-1 is not a decimal number from 0 to 32");
	assert_net_error("1.2.3.0/24/24", "prefix /24/24 is not a decimal number from 0 to 32");
	assert_net_error("", "IP address or range is empty");
	assert_net_error("1.2.3", "1.2.3 is not a valid IPv4 or IPv6 address");
	assert_net_error("256.1.1.1", "256.1.1.1 is not a valid IPv4 or IPv6 address");
	assert_net_error("[::1]", "[::1] is invalid because IPv6 addresses are written without brackets here");
	assert_net_error("fe80::1%eth0",
	                 "fe80::1%eth0 is invalid because zone ids such as %eth0 are not supported");
	assert_net_error("1.2.3.4:80",
	                 "1.2.3.4:80 is invalid because it has a port, and only an address or range is accepted");
}

static void test_cidr_error_buffers(void **state)
{
	char long_text[IPADDR_TEXT_MAX + 10];
	struct ipnet net;
	char err[8];

	memset(long_text, '1', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	assert_net_error(long_text, "IP address or range is longer than 63 characters");

	/* A short or missing error buffer truncates or skips the message. */
	assert_int_equal(ipnet_parse("10.0.0.1/8", &net, err, sizeof err), -1);
	assert_string_equal(err, "10.0.0.");
	assert_int_equal(ipnet_parse("10.0.0.1/8", &net, NULL, 0), -1);
	assert_int_equal(ipnet_parse(NULL, &net, NULL, 0), -1);
}

/* Trusted proxies for the client tests: a load balancer range and a host. */
static const char *const trusted_texts[] = { "10.0.0.0/8", "2001:db8:ffff::/48" };

static const char *client_of(const char *peer, const char *xff, const char *forwarded)
{
	static char text[IPADDR_TEXT_MAX];
	struct ipnet trusted[2] = { net_of(trusted_texts[0]), net_of(trusted_texts[1]) };
	struct ipaddr peer_addr = addr_of(peer);
	struct ipaddr client;

	ipaddr_client(&peer_addr, xff, forwarded, trusted, 2, &client);
	ipaddr_format(&client, text, sizeof text);
	return text;
}

static void test_client_untrusted_peer(void **state)
{
	assert_string_equal(client_of("203.0.113.9", "198.51.100.1", NULL), "203.0.113.9");
	assert_string_equal(client_of("203.0.113.9", NULL, "for=198.51.100.1"), "203.0.113.9");
}

static void test_client_trusted_no_header(void **state)
{
	assert_string_equal(client_of("10.0.0.2", NULL, NULL), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "", NULL), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", " \t", NULL), "10.0.0.2");
}

static void test_client_xff_rightmost(void **state)
{
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1", NULL), "198.51.100.1");
	assert_string_equal(client_of("10.0.0.2", " 198.51.100.1 ", NULL), "198.51.100.1");
	assert_string_equal(client_of("10.0.0.2", "2001:db8::42", NULL), "2001:db8::42");
}

static void test_client_xff_two_proxies(void **state)
{
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1, 10.1.1.1", NULL), "198.51.100.1");
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1,2001:db8:ffff::5", NULL),
	                    "198.51.100.1");
}

static void test_client_xff_spoofed_left(void **state)
{
	/* The client sent the first two entries, and the proxy appended its peer. */
	assert_string_equal(client_of("10.0.0.2", "1.1.1.1, 10.9.9.9, 198.51.100.1", NULL),
	                    "198.51.100.1");
}

static void test_client_xff_all_trusted(void **state)
{
	assert_string_equal(client_of("10.0.0.2", "10.0.0.5, 10.0.0.4", NULL), "10.0.0.5");
}

static void test_client_xff_garbage(void **state)
{
	/* The walk stops at an unparsable entry and keeps the last trusted hop. */
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1, garbage", NULL), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1, garbage, 10.1.1.1", NULL),
	                    "10.1.1.1");
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1:4711", NULL), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1,", NULL), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1,,10.1.1.1", NULL), "10.1.1.1");
	/* Garbage left of the client's entry has no effect. */
	assert_string_equal(client_of("10.0.0.2", "garbage, 198.51.100.1", NULL), "198.51.100.1");
}

static void test_client_xff_hop_limit(void **state)
{
	char header[CP_FORWARDED_MAX * 16 + 32];
	size_t used = 0;

	/* One untrusted address, then CP_FORWARDED_MAX trusted proxies. */
	used += (size_t)snprintf(header + used, sizeof header - used, "198.51.100.1");
	for (int i = 0; i < CP_FORWARDED_MAX; i++)
		used += (size_t)snprintf(header + used, sizeof header - used, ", 10.0.0.%d", i + 1);
	assert_true(used < sizeof header);

	/* The walk stops at the CP_FORWARDED_MAX-th hop, the left-most proxy. */
	assert_string_equal(client_of("10.0.0.200", header, NULL), "10.0.0.1");
}

static void test_client_xff_long_header(void **state)
{
	/* A client pads the header far beyond the window read from the right. */
	size_t pad = 100000;
	char *header = test_malloc(pad + 32);

	memset(header, ' ', pad);
	snprintf(header + pad, 32, "1.1.1.1, 198.51.100.1");
	assert_string_equal(client_of("10.0.0.2", header, NULL), "198.51.100.1");

	test_free(header);
}

static void test_client_xff_cut_entry(void **state)
{
	/*
	 * The 8 KiB window read from the right starts inside "11.1.1.1", so
	 * the reader sees "1.1.1.1", a valid address that must not be used.
	 */
	char header[8 * 1024 + 2];
	size_t spaces = sizeof header - 1 - strlen("11.1.1.1,") - strlen("10.1.1.1");

	memcpy(header, "11.1.1.1,", 9);
	memset(header + 9, ' ', spaces);
	memcpy(header + 9 + spaces, "10.1.1.1", 9);
	assert_int_equal(strlen(header), 8 * 1024 + 1);
	assert_string_equal(client_of("10.0.0.2", header, NULL), "10.1.1.1");
}

static void test_client_xff_preferred(void **state)
{
	assert_string_equal(client_of("10.0.0.2", "198.51.100.1", "for=198.51.100.2"),
	                    "198.51.100.1");
}

static void test_client_forwarded_forms(void **state)
{
	assert_string_equal(client_of("10.0.0.2", NULL, "for=192.0.2.60;proto=http;by=203.0.113.43"),
	                    "192.0.2.60");
	assert_string_equal(client_of("10.0.0.2", NULL, "for=\"[2001:db8::1]:4711\""), "2001:db8::1");
	assert_string_equal(client_of("10.0.0.2", NULL, "For=\"[2001:db8::1]\""), "2001:db8::1");
	assert_string_equal(client_of("10.0.0.2", NULL, "for=\"192.0.2.60:8080\""), "192.0.2.60");
	assert_string_equal(client_of("10.0.0.2", NULL, "for=\"192.0.2.60:_port\""), "192.0.2.60");
	assert_string_equal(client_of("10.0.0.2", NULL, "proto=https; for=192.0.2.60"), "192.0.2.60");
	assert_string_equal(client_of("10.0.0.2", "", "for=192.0.2.60"), "192.0.2.60");
	assert_string_equal(client_of("10.0.0.2", NULL,
	                              "for=192.0.2.43, for=198.51.100.17;by=10.1.1.1, for=10.1.1.1"),
	                    "198.51.100.17");
	/* A quoted comma or semicolon inside another parameter splits nothing. */
	assert_string_equal(client_of("10.0.0.2", NULL, "for=192.0.2.43;ext=\"a,b;c\""), "192.0.2.43");
}

static void test_client_forwarded_stops(void **state)
{
	/* "unknown" and obfuscated nodes name no address, so the walk stops. */
	assert_string_equal(client_of("10.0.0.2", NULL, "for=unknown"), "10.0.0.2");
	assert_string_equal(client_of("10.0.0.2", NULL, "for=192.0.2.1, for=_hidden, for=10.1.1.1"),
	                    "10.1.1.1");
	/* Malformed values are unparsable too. */
	static const char *const bad[] = {
		"for=[2001:db8::1]",          /* IPv6 must be quoted */
		"for=\"2001:db8::1\"",        /* IPv6 must be bracketed */
		"for=\"[192.0.2.1]\"",        /* brackets contain IPv6 only */
		"for=\"[2001:db8::1]x\"",
		"for=\"192.0.2.1:123456\"",
		"for=\"192.0.2.1",
		"for=192.0.2.1;for=192.0.2.2", /* for twice in one element */
		"proto=http",                 /* no for */
		"for=\"192.0.2.1\\\"\"",      /* escapes are not followed */
		"for",
		"for=192.0.2.1;",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *client = client_of("10.0.0.2", NULL, bad[i]);
		if (strcmp(client, "10.0.0.2") != 0)
			fail_msg("Forwarded \"%s\" gave client %s, expected 10.0.0.2", bad[i], client);
	}
}

/* Lines that do not parse are skipped, and at most max ranges are written. */
static void test_parse_lines(void **state)
{
	(void)state;
	struct ipnet nets[3];
	struct ipaddr inside = addr_of("198.51.100.9");

	assert_int_equal(ipnet_parse_lines("", nets, 3), 0);
	assert_int_equal(ipnet_parse_lines("192.0.2.1\nnot-an-address\n198.51.100.0/24",
	                                   nets, 3), 2);
	assert_true(ipnet_list_contains(nets, 2, &inside));
	assert_int_equal(ipnet_parse_lines("10.0.0.1\n10.0.0.2\n10.0.0.3\n10.0.0.4",
	                                   nets, 3), 3);
	assert_int_equal(nets[2].prefix, 128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_parse_mapped_equals_ipv4),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_from_sockaddr),
		cmocka_unit_test(test_format_short_buffer),
		cmocka_unit_test(test_ipnet_format),
		cmocka_unit_test(test_cidr_v4_boundaries),
		cmocka_unit_test(test_cidr_v6_boundaries),
		cmocka_unit_test(test_cidr_zero_prefix),
		cmocka_unit_test(test_cidr_mapped_client),
		cmocka_unit_test(test_list_contains),
		cmocka_unit_test(test_cidr_errors),
		cmocka_unit_test(test_cidr_error_buffers),
		cmocka_unit_test(test_client_untrusted_peer),
		cmocka_unit_test(test_client_trusted_no_header),
		cmocka_unit_test(test_client_xff_rightmost),
		cmocka_unit_test(test_client_xff_two_proxies),
		cmocka_unit_test(test_client_xff_spoofed_left),
		cmocka_unit_test(test_client_xff_all_trusted),
		cmocka_unit_test(test_client_xff_garbage),
		cmocka_unit_test(test_client_xff_hop_limit),
		cmocka_unit_test(test_client_xff_long_header),
		cmocka_unit_test(test_client_xff_cut_entry),
		cmocka_unit_test(test_client_xff_preferred),
		cmocka_unit_test(test_client_forwarded_forms),
		cmocka_unit_test(test_client_forwarded_stops),
		cmocka_unit_test(test_parse_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
