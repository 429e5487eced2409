/* addr.c: parsing "a.b.c.d:port" and "[ipv6]:port" addresses, and printing socket addresses. */
#include "net/internal.h"

#include <stdio.h>
#include <string.h>

/* Parses a decimal port of 1 to 5 digits, at most 65535. */
static int port_parse(const char *s, int *port)
{
	size_t len = strlen(s);
	if (len == 0 || len > 5)
		return NET_EADDR;
	int v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return NET_EADDR;
		v = v * 10 + (s[i] - '0');
	}
	if (v > 65535)
		return NET_EADDR;
	*port = v;
	return NET_OK;
}

int net_addr_parse(const char *s, struct sockaddr_storage *out)
{
	if (s == NULL)
		return NET_EADDR;
	size_t len = strnlen(s, NET_ADDRESS_MAX_BYTES);
	if (len == 0 || len >= NET_ADDRESS_MAX_BYTES)
		return NET_EADDR;
	char host[NET_ADDRESS_MAX_BYTES];
	const char *port_s;
	bool ipv6 = s[0] == '[';
	if (ipv6) {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':' || end == s + 1)
			return NET_EADDR;
		size_t host_len = (size_t)(end - s - 1);
		memcpy(host, s + 1, host_len);
		host[host_len] = '\0';
		port_s = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon == NULL || colon == s)
			return NET_EADDR;
		/* A bare IPv6 address is ambiguous about where its port starts. */
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return NET_EADDR;
		size_t host_len = (size_t)(colon - s);
		memcpy(host, s, host_len);
		host[host_len] = '\0';
		port_s = colon + 1;
	}
	int port = 0;
	if (port_parse(port_s, &port) != NET_OK)
		return NET_EADDR;
	memset(out, 0, sizeof(*out));
	int rv = ipv6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)out)
	              : uv_ip4_addr(host, port, (struct sockaddr_in *)out);
	if (rv != 0)
		return NET_EADDR;
	return NET_OK;
}

void net_addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (uv_ip4_name(in, host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "?");
		snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (uv_ip6_name(in6, host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "?");
		snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(out, cap, "(unknown address family %d)", (int)sa->sa_family);
	}
}
