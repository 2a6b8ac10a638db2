/*
 * ipaddr_parse() and ipnet_parse() with a format round trip, and
 * ipaddr_client() with the input as forwarding headers.
 *
 * For ipaddr_client() the first byte is a flag byte: bit 0 leaves out
 * X-Forwarded-For, bit 1 leaves out Forwarded, bit 2 makes the TCP peer an
 * untrusted address. The rest is split at the first newline into the
 * X-Forwarded-For value and the Forwarded value.
 */
#include <stdbool.h>
#include <stdio.h>

#include "fuzz_common.h"
#include "ipaddr.h"

static void
check_addr(const char *text)
{
	struct ipaddr addr, again;
	char formatted[IPADDR_TEXT_MAX];

	if (ipaddr_parse(text, &addr) != 0)
		return;
	if (ipaddr_format(&addr, formatted, sizeof(formatted)) == 0)
		abort();
	if (ipaddr_parse(formatted, &again) != 0 ||
	    memcmp(addr.bytes, again.bytes, sizeof(addr.bytes)) != 0) {
		fprintf(stderr, "ipaddr round trip failed: \"%s\" formatted as \"%s\"\n",
		        text, formatted);
		abort();
	}
}

static void
check_net(const char *text)
{
	struct ipnet net, again;
	char formatted[IPADDR_TEXT_MAX], err[256];

	if (ipnet_parse(text, &net, err, sizeof(err)) != 0)
		return;
	if (net.prefix < 0 || net.prefix > 128 || !ipnet_contains(&net, &net.addr))
		abort();
	if (ipnet_format(&net, formatted, sizeof(formatted)) == 0)
		abort();
	if (ipnet_parse(formatted, &again, err, sizeof(err)) != 0 ||
	    again.prefix != net.prefix ||
	    memcmp(net.addr.bytes, again.addr.bytes, sizeof(net.addr.bytes)) != 0) {
		fprintf(stderr, "ipnet round trip failed: \"%s\" formatted as \"%s\"\n",
		        text, formatted);
		abort();
	}
}

static void
parse_or_abort(const char *text, struct ipnet *net)
{
	char err[256];

	if (ipnet_parse(text, net, err, sizeof(err)) != 0)
		abort();
}

static void
check_client(const uint8_t *data, size_t size)
{
	struct ipnet trusted[3];
	struct ipaddr peer, client;
	uint8_t flags;
	char *headers, *forwarded;

	if (size == 0)
		return;
	flags = data[0];
	parse_or_abort("10.0.0.0/8", &trusted[0]);
	parse_or_abort("192.0.2.0/24", &trusted[1]);
	parse_or_abort("2001:db8::/32", &trusted[2]);
	if (ipaddr_parse((flags & 4) ? "198.51.100.9" : "10.0.0.1", &peer) != 0)
		abort();

	headers = fuzz_strndup(data + 1, size - 1);
	forwarded = strchr(headers, '\n');
	if (forwarded != NULL)
		*forwarded++ = '\0';
	else
		forwarded = headers + strlen(headers);

	ipaddr_client(&peer, (flags & 1) ? NULL : headers, (flags & 2) ? NULL : forwarded,
	              trusted, 3, &client);

	/* A peer that is not a trusted proxy is the client, whatever it sends. */
	if ((flags & 4) && memcmp(client.bytes, peer.bytes, sizeof(peer.bytes)) != 0)
		abort();
	free(headers);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size > FUZZ_INPUT_MAX)
		return 0;
	text = fuzz_strndup(data, size);
	check_addr(text);
	check_net(text);
	free(text);

	check_client(data, size);
	return 0;
}
