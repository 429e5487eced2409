/* tls.c: the nemesis over TLS (--tls): a test CA and a certificate per member made with
 * scripts/make-test-certs.sh, the nodes' TLS flags, and the clients' CA. */
#include "nemesis.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef NEMESIS_CERT_SCRIPT
#define NEMESIS_CERT_SCRIPT "scripts/make-test-certs.sh"
#endif

/* Makes certificates for `name` (and the CA on first use) in the run's certs directory. */
static int make_cert(struct nem_cluster *cl, const char *name)
{
	char pem[PATH_MAX + 80];
	snprintf(pem, sizeof(pem), "%s/%s.pem", cl->certs, name);
	if (access(pem, R_OK) == 0)
		return 0;
	const char *script = getenv("CONCORD_CERT_SCRIPT");
	if (script == NULL || script[0] == '\0')
		script = NEMESIS_CERT_SCRIPT;
	char *argv[] = {"bash", (char *)script, cl->certs, (char *)name, NULL};
	char out[1024];
	if (nem_run(argv, out, sizeof(out)) != 0) {
		nem_log("TLS: %s %s %s failed: %s", script, cl->certs, name, out);
		return -1;
	}
	return 0;
}

int nem_tls_init(struct nem_cluster *cl)
{
	if (!cl->tls)
		return 0;
	snprintf(cl->certs, sizeof(cl->certs), "%s/certs", cl->dir);
	mkdir(cl->certs, 0755);
	if (make_cert(cl, "client") != 0)
		return -1;
	snprintf(cl->ca_file, sizeof(cl->ca_file), "%s/ca.pem", cl->certs);
	snprintf(cl->client_cert, sizeof(cl->client_cert), "%s/client.pem", cl->certs);
	snprintf(cl->client_key, sizeof(cl->client_key), "%s/client.key", cl->certs);
	nem_log("TLS on every port (client certificates required); certificates in %s", cl->certs);
	return 0;
}

void nem_tls_client_opts(const struct nem_cluster *cl, struct concord_client_opts *o)
{
	if (!cl->tls)
		return;
	o->tls_ca_file = cl->ca_file;
	o->tls_cert_file = cl->client_cert;
	o->tls_key_file = cl->client_key;
}

int nem_tls_node_args(struct nem_cluster *cl, struct nem_slot *s, char **argv, int n, int cap)
{
	if (!cl->tls)
		return n;
	if (make_cert(cl, s->name) != 0 || n + 13 > cap)
		return -1;
	snprintf(s->tls_cert, sizeof(s->tls_cert), "%s/%s.pem", cl->certs, s->name);
	snprintf(s->tls_key, sizeof(s->tls_key), "%s/%s.key", cl->certs, s->name);
	char *const args[] = {
	    "--cert-file",       s->tls_cert,       "--key-file",         s->tls_key,
	    "--trusted-ca-file", cl->ca_file,       "--client-cert-auth", "--peer-cert-file",
	    s->tls_cert,         "--peer-key-file", s->tls_key,           "--peer-trusted-ca-file",
	    cl->ca_file,
	};
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		argv[n++] = args[i];
	return n;
}
