/* endpoint.c: "host:port" and "[v6]:port" addresses: parsing, formatting, comparison. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

int client_endpoint_parse(const char *s, size_t len, struct client_endpoint *ep, char *errmsg,
                          size_t errmsg_size)
{
	memset(ep, 0, sizeof(*ep));
	const char *host = s;
	size_t host_len;
	const char *rest;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL) {
			snprintf(errmsg, errmsg_size, "'%.*s': missing ']'", (int)len, s);
			return CONCORD_EINVAL;
		}
		host = s + 1;
		host_len = (size_t)(close - host);
		rest = close + 1;
	} else {
		/* The last ':' splits, so a bare IPv6 address without a port is refused below
		 * rather than misread. */
		const char *colon = NULL;
		for (size_t i = 0; i < len; i++) {
			if (s[i] == ':') {
				colon = s + i;
			}
		}
		if (colon == NULL) {
			snprintf(errmsg, errmsg_size, "'%.*s': expected host:port", (int)len, s);
			return CONCORD_EINVAL;
		}
		host_len = (size_t)(colon - s);
		rest = colon;
		if (memchr(s, ':', host_len) != NULL) {
			snprintf(errmsg, errmsg_size,
			         "'%.*s': write an IPv6 address as [addr]:port", (int)len, s);
			return CONCORD_EINVAL;
		}
	}
	size_t rest_len = len - (size_t)(rest - s);
	if (rest_len < 2 || rest[0] != ':') {
		snprintf(errmsg, errmsg_size, "'%.*s': expected host:port", (int)len, s);
		return CONCORD_EINVAL;
	}
	if (host_len == 0 || host_len > CLIENT_HOST_BYTES_MAX) {
		snprintf(errmsg, errmsg_size, "'%.*s': bad host", (int)len, s);
		return CONCORD_EINVAL;
	}
	for (size_t i = 0; i < host_len; i++) {
		unsigned char ch = (unsigned char)host[i];
		if (ch <= ' ' || ch >= 0x7f || ch == ',' || ch == '/') {
			snprintf(errmsg, errmsg_size, "'%.*s': bad character in host", (int)len, s);
			return CONCORD_EINVAL;
		}
	}
	const char *port = rest + 1;
	size_t port_len = rest_len - 1;
	unsigned long v = 0;
	if (port_len > CLIENT_PORT_BYTES_MAX) {
		snprintf(errmsg, errmsg_size, "'%.*s': bad port", (int)len, s);
		return CONCORD_EINVAL;
	}
	for (size_t i = 0; i < port_len; i++) {
		if (port[i] < '0' || port[i] > '9') {
			snprintf(errmsg, errmsg_size, "'%.*s': bad port", (int)len, s);
			return CONCORD_EINVAL;
		}
		v = v * 10 + (unsigned long)(port[i] - '0');
	}
	if (v == 0 || v > 65535) {
		snprintf(errmsg, errmsg_size, "'%.*s': port out of range", (int)len, s);
		return CONCORD_EINVAL;
	}
	memcpy(ep->host, host, host_len);
	snprintf(ep->port, sizeof(ep->port), "%lu", v);
	return CONCORD_OK;
}

void client_endpoint_format(const struct client_endpoint *ep, char *out, size_t out_size)
{
	if (strchr(ep->host, ':') != NULL) {
		snprintf(out, out_size, "[%s]:%s", ep->host, ep->port);
	} else {
		snprintf(out, out_size, "%s:%s", ep->host, ep->port);
	}
}

bool client_endpoint_equal(const struct client_endpoint *a, const struct client_endpoint *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}
