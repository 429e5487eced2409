/* test_tls.c: peer links over TLS: a mesh with certificates of one CA delivers; a certificate
 * of another CA, one naming another member, or a plaintext stranger gets nothing delivered. */
#include "harness.h"

#include "net/frame.h"
#include "net/tls.h"
#include "proto/codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char certs[256];           /* CA "ca" with members 1, 2, 3 */
static char other[256];           /* another CA, with a certificate for 2 */
static struct ssl_ctx_st *ctx[2]; /* the next node's server and client contexts */

/* Both contexts of a node whose certificate is DIR/NAME.pem, trusting CA_DIR's CA. */
static void contexts(const char *dir, const char *name, const char *ca_dir)
{
	char cert[512], key[512], ca[512], err[512];
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	snprintf(ca, sizeof(ca), "%s/ca.pem", ca_dir);
	ctx[0] = net_tls_ctx_new(true, cert, key, ca, true, err, sizeof(err));
	if (ctx[0] == NULL)
		fail_msg("%s", err);
	ctx[1] = net_tls_ctx_new(false, cert, key, ca, true, err, sizeof(err));
	if (ctx[1] == NULL)
		fail_msg("%s", err);
}

static struct ssl_ctx_st *all[16];
static int n_all;

static void with_tls(struct net_config *cfg)
{
	cfg->tls_server = ctx[0];
	cfg->tls_client = ctx[1];
	cfg->connect_timeout_ms = 1000;
	cfg->backoff_max_ms = 200;
	all[n_all++] = ctx[0];
	all[n_all++] = ctx[1];
}

static void start(struct harness *h, int i, const char *dir, const char *name, const char *ca)
{
	contexts(dir, name, ca);
	assert_int_equal(h_node_start(h, i, (raft_id)(i + 1), 1, "127.0.0.1:0", with_tls), 0);
}

static void finish(struct harness *h)
{
	h_fini(h);
	while (n_all > 0)
		net_tls_ctx_free(all[--n_all]);
}

static void peers(struct harness *h, int count)
{
	for (int i = 0; i < count; i++)
		for (int j = 0; j < count; j++)
			if (i != j)
				h_peer(h, i, j, NULL);
}

static void test_tls_mesh_delivers(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	start(&h, 0, certs, "1", certs);
	start(&h, 1, certs, "2", certs);
	start(&h, 2, certs, "3", certs);
	peers(&h, 3);
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			if (i != j)
				assert_true(h_wait_connects(&h, i, j, 1));
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_APPEND, 5, 40, 1000), NET_OK);
	assert_int_equal(h_send(&h, 1, 0, RAFT_MSG_APPEND_RESP, 6, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 2, 1, RAFT_MSG_VOTE, 7, 0, 0), NET_OK);
	assert_true(h_wait_received(&h, 1, 0, 1));
	assert_true(h_wait_received(&h, 0, 1, 1));
	assert_true(h_wait_received(&h, 1, 2, 1));
	uint32_t k = 0;
	while (k < h.nodes[1].n_msgs && h.nodes[1].msgs[k].m.from != 1)
		k++;
	assert_true(k < h.nodes[1].n_msgs);
	assert_int_equal(h.nodes[1].msgs[k].m.n_entries, 40);
	assert_int_equal(h_stats(&h, 1, -1).auth_failed, 0);
	finish(&h);
}

/* Node 2 presents `name`'s certificate from `dir`: no link to or from it comes up. */
static void refused(const char *dir, const char *name, const char *ca)
{
	struct harness h;
	h_init(&h);
	start(&h, 0, certs, "1", certs);
	start(&h, 1, dir, name, ca);
	peers(&h, 2);
	for (int k = 0;
	     k < 300 && (h_stats(&h, 0, -1).auth_failed < 2 ||
	                 h_stats(&h, 1, -1).auth_failed + h_stats(&h, 0, -1).refused < 2);
	     k++)
		h_run_for(&h, 10);
	assert_true(h_stats(&h, 0, -1).auth_failed >= 2);
	assert_int_equal(h_stats(&h, 0, -1).connects, 0);
	assert_int_equal(h_stats(&h, 1, -1).connects, 0);
	assert_int_equal(h_send(&h, 1, 0, RAFT_MSG_TIMEOUT_NOW, 1, 0, 0), NET_OK);
	assert_int_equal(h_send(&h, 0, 1, RAFT_MSG_HEARTBEAT, 1, 0, 0), NET_OK);
	h_run_for(&h, 200);
	assert_int_equal(h.nodes[0].n_msgs, 0);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	finish(&h);
}

static void test_other_ca_refused(void **state)
{
	(void)state;
	refused(other, "2", other); /* it trusts its own CA; the others trust theirs */
}

static void test_certificate_of_another_member_refused(void **state)
{
	(void)state;
	refused(certs, "3", certs); /* a valid certificate, for member 3, on member 2 */
}

/* A plaintext stranger that knows the cluster id: closed, nothing delivered. */
static void test_plaintext_stranger(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h);
	start(&h, 0, certs, "1", certs);
	start(&h, 1, certs, "2", certs);
	peers(&h, 2);
	assert_true(h_wait_connects(&h, 0, 1, 1));
	int fd = h_raw_connect(&h, 1);
	assert_true(fd >= 0);
	struct net_handshake hs = {
	    .version = NET_PROTOCOL_VERSION,
	    .kind = NET_HS_HELLO,
	    .cluster_id = 1,
	    .from = 1,
	    .to = 2,
	};
	uint8_t buf[NET_HANDSHAKE_FRAME_BYTES + 256];
	net_handshake_encode(&hs, buf);
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_TIMEOUT_NOW;
	m.from = 1;
	m.to = 2;
	m.term = 1000;
	size_t size = proto_message_size(&m);
	net_put_u32(buf + NET_HANDSHAKE_FRAME_BYTES, (uint32_t)size);
	proto_message_encode(&m, buf + NET_HANDSHAKE_FRAME_BYTES + 4);
	assert_true(h_raw_write(fd, buf, NET_HANDSHAKE_FRAME_BYTES + 4 + size));
	assert_true(h_raw_wait_closed(&h, fd));
	close(fd);
	assert_int_equal(h.nodes[1].n_msgs, 0);
	assert_true(h_stats(&h, 1, -1).auth_failed >= 1);
	finish(&h);
}

static int make_certs(char *dir, size_t cap, const char *names)
{
	const char *script = getenv("CONCORD_CERT_SCRIPT");
	if (script == NULL)
		script = "scripts/make-test-certs.sh";
	snprintf(dir, cap, "%s/concord-net-tls.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "bash '%s' '%s' %s", script, dir, names);
	return system(cmd);
}

int main(void)
{
	if (make_certs(certs, sizeof(certs), "1 2 3") != 0 ||
	    make_certs(other, sizeof(other), "2") != 0) {
		fprintf(stderr, "test_tls: cannot make the test certificates\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_mesh_delivers),
	    cmocka_unit_test(test_other_ca_refused),
	    cmocka_unit_test(test_certificate_of_another_member_refused),
	    cmocka_unit_test(test_plaintext_stranger),
	};
	int rv = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", certs, other);
	if (system(cmd) != 0)
		fprintf(stderr, "test_tls: could not remove the certificates\n");
	return rv;
}
