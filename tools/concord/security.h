/* security.h: concord's transport-security flags (TLS on the client and peer ports, the peer
 * secret): parsing, checks and the contexts they build (docs/security.md). */
#ifndef CONCORD_TOOLS_SECURITY_H
#define CONCORD_TOOLS_SECURITY_H

#include "server/node.h"
#include "server/server.h"

#include <getopt.h>
#include <stdbool.h>

struct security_options {
	const char *cert_file, *key_file, *trusted_ca_file;
	bool client_cert_auth;
	const char *peer_cert_file, *peer_key_file, *peer_trusted_ca_file;
	const char *peer_secret_file;
};

/* Option codes, clear of main.c's. */
enum {
	OPT_SEC_CERT = 1000,
	OPT_SEC_KEY,
	OPT_SEC_CA,
	OPT_SEC_CLIENT_CERT_AUTH,
	OPT_SEC_PEER_CERT,
	OPT_SEC_PEER_KEY,
	OPT_SEC_PEER_CA,
	OPT_SEC_PEER_SECRET,
};

#define SECURITY_LONG_OPTIONS                                                                      \
	{"cert-file", required_argument, NULL, OPT_SEC_CERT},                                      \
	    {"key-file", required_argument, NULL, OPT_SEC_KEY},                                    \
	    {"trusted-ca-file", required_argument, NULL, OPT_SEC_CA},                              \
	    {"client-cert-auth", no_argument, NULL, OPT_SEC_CLIENT_CERT_AUTH},                     \
	    {"peer-cert-file", required_argument, NULL, OPT_SEC_PEER_CERT},                        \
	    {"peer-key-file", required_argument, NULL, OPT_SEC_PEER_KEY},                          \
	    {"peer-trusted-ca-file", required_argument, NULL, OPT_SEC_PEER_CA},                    \
	{                                                                                          \
		"peer-secret-file", required_argument, NULL, OPT_SEC_PEER_SECRET                   \
	}

extern const char security_usage_text[];

/* Takes option `ch` with value `v` if it is one of these; false if not. */
bool security_option(struct security_options *s, int ch, const char *v);

/* Checks the combination and builds what it asks for: the client TLS context (both
 * frontends), the relays' client context, the peer contexts and the secret, into `sv`
 * and `cfg`. Returns 0, or -1 with errmsg saying which flag and why. */
int security_apply(const struct security_options *s, struct server *sv, struct node_config *cfg,
                   char *errmsg, size_t len);

/* One line for the start-up log: what is on. */
void security_describe(const struct security_options *s, char *out, size_t cap);

#endif /* CONCORD_TOOLS_SECURITY_H */
