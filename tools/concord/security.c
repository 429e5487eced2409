/* security.c: concord's transport-security flags: TLS for clients and peers, the peer secret. */
#include "security.h"

#include "net/net.h"
#include "net/tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char security_usage_text[] =
    "Transport security (docs/security.md; default: none, plain TCP everywhere):\n"
    "  --cert-file FILE             TLS on --listen-client and --listen-http with this\n"
    "                               certificate chain (PEM); needs --key-file\n"
    "  --key-file FILE              its private key (PEM)\n"
    "  --trusted-ca-file FILE       CA bundle (PEM) for client certificates, and for the\n"
    "                               leader's certificate when a follower relays to it\n"
    "                               (default for relays: the system's CAs)\n"
    "  --client-cert-auth           clients must present a certificate signed by\n"
    "                               --trusted-ca-file\n"
    "  --peer-cert-file FILE        TLS on --listen-peer and every link to a peer, mutual:\n"
    "                               this certificate (PEM), which must name this member\n"
    "                               (its name or id as a DNS subject alternative name)\n"
    "  --peer-key-file FILE         its private key (PEM)\n"
    "  --peer-trusted-ca-file FILE  CA bundle that peers' certificates must chain to\n"
    "  --peer-secret-file FILE      a secret shared by every member (16 to 1024 bytes;\n"
    "                               trailing newlines ignored): peers prove they know it\n"
    "                               in a challenge-response handshake; without it, or\n"
    "                               without peer TLS, anyone who reaches --listen-peer can\n"
    "                               speak for a member\n";

bool security_option(struct security_options *s, int ch, const char *v)
{
	switch (ch) {
	case OPT_SEC_CERT:
		s->cert_file = v;
		return true;
	case OPT_SEC_KEY:
		s->key_file = v;
		return true;
	case OPT_SEC_CA:
		s->trusted_ca_file = v;
		return true;
	case OPT_SEC_CLIENT_CERT_AUTH:
		s->client_cert_auth = true;
		return true;
	case OPT_SEC_PEER_CERT:
		s->peer_cert_file = v;
		return true;
	case OPT_SEC_PEER_KEY:
		s->peer_key_file = v;
		return true;
	case OPT_SEC_PEER_CA:
		s->peer_trusted_ca_file = v;
		return true;
	case OPT_SEC_PEER_SECRET:
		s->peer_secret_file = v;
		return true;
	default:
		return false;
	}
}

/* Reads the secret (trailing newlines and carriage returns dropped). */
static int read_secret(const char *path, uint8_t *out, uint32_t *len, char *errmsg, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(errmsg, cap, "--peer-secret-file %s: %s", path, strerror(errno));
		return -1;
	}
	size_t n = fread(out, 1, NET_SECRET_MAX_BYTES, f);
	int more = fgetc(f);
	fclose(f);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		n--;
	if (more != EOF || n < NET_SECRET_MIN_BYTES) {
		snprintf(errmsg, cap, "--peer-secret-file %s: the secret must have %u to %u bytes",
		         path, NET_SECRET_MIN_BYTES, NET_SECRET_MAX_BYTES);
		return -1;
	}
	*len = (uint32_t)n;
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		fprintf(stderr,
		        "concord: warning: --peer-secret-file %s is readable by other users\n",
		        path);
	return 0;
}

static int check_pairs(const struct security_options *s, char *errmsg, size_t len)
{
	const char *why = NULL;
	if ((s->cert_file == NULL) != (s->key_file == NULL))
		why = "--cert-file and --key-file go together";
	else if (s->client_cert_auth && (s->cert_file == NULL || s->trusted_ca_file == NULL))
		why = "--client-cert-auth needs --cert-file, --key-file and --trusted-ca-file";
	else if (s->trusted_ca_file != NULL && s->cert_file == NULL)
		why = "--trusted-ca-file needs --cert-file and --key-file";
	else if ((s->peer_cert_file == NULL) != (s->peer_key_file == NULL) ||
	         (s->peer_cert_file == NULL) != (s->peer_trusted_ca_file == NULL))
		why = "--peer-cert-file, --peer-key-file and --peer-trusted-ca-file go together "
		      "(peer TLS is always mutual)";
	if (why == NULL)
		return 0;
	snprintf(errmsg, len, "%s", why);
	return -1;
}

static int client_contexts(const struct security_options *s, struct server *sv, char *errmsg,
                           size_t len)
{
	char err[512];
	sv->client_tls = net_tls_ctx_new(true, s->cert_file, s->key_file, s->trusted_ca_file,
	                                 s->client_cert_auth, err, sizeof(err));
	if (sv->client_tls == NULL) {
		snprintf(errmsg, len, "client TLS: %s", err);
		return -1;
	}
	/* Relays to the leader are clients of its TLS port: they present this node's
	 * certificate (for --client-cert-auth there) and check the leader's. */
	sv->relay_tls = net_tls_ctx_new(false, s->cert_file, s->key_file, s->trusted_ca_file, false,
	                                err, sizeof(err));
	if (sv->relay_tls == NULL) {
		snprintf(errmsg, len, "client TLS (relays): %s", err);
		return -1;
	}
	return 0;
}

int security_apply(const struct security_options *s, struct server *sv, struct node_config *cfg,
                   char *errmsg, size_t len)
{
	if (check_pairs(s, errmsg, len) != 0)
		return -1;
	if (s->cert_file != NULL && client_contexts(s, sv, errmsg, len) != 0)
		return -1;
	char err[512];
	/* The process keeps the peer contexts for its whole life (the node's configuration
	 * is main's local): here, where they stay reachable. */
	static struct ssl_ctx_st *peer_server, *peer_client;
	if (s->peer_cert_file != NULL) {
		peer_server = net_tls_ctx_new(true, s->peer_cert_file, s->peer_key_file,
		                              s->peer_trusted_ca_file, true, err, sizeof(err));
		if (peer_server != NULL)
			peer_client =
			    net_tls_ctx_new(false, s->peer_cert_file, s->peer_key_file,
			                    s->peer_trusted_ca_file, true, err, sizeof(err));
		cfg->peer_tls_server = peer_server;
		cfg->peer_tls_client = peer_client;
		if (cfg->peer_tls_client == NULL) {
			snprintf(errmsg, len, "peer TLS: %s", err);
			return -1;
		}
	}
	if (s->peer_secret_file != NULL) {
		static uint8_t secret[NET_SECRET_MAX_BYTES];
		if (read_secret(s->peer_secret_file, secret, &cfg->peer_secret_len, errmsg, len) !=
		    0)
			return -1;
		cfg->peer_secret = secret;
	}
	security_describe(s, err, sizeof(err));
	server_logf(sv, 1, "transport security: %s", err);
	return 0;
}

void security_describe(const struct security_options *s, char *out, size_t cap)
{
	snprintf(out, cap, "clients: %s; peers: %s%s",
	         s->cert_file == NULL  ? "plain TCP"
	         : s->client_cert_auth ? "TLS, client certificates required"
	                               : "TLS",
	         s->peer_cert_file != NULL ? "mutual TLS" : "plain TCP",
	         s->peer_secret_file != NULL ? ", shared-secret handshake" : "");
}
