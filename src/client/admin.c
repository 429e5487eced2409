/* admin.c: cluster administration from the client: status, leadership, membership, faults. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Administration
 */

/* Arguments of an admin command, at most. */
#define CLIENT_ADMIN_ARGS_MAX 24u

/* Expects +OK (any simple string) from argv. */
static int client_admin(struct concord_client *c, const struct client_endpoint *node,
                        const char *const *argv, size_t n)
{
	size_t lens[CLIENT_ADMIN_ARGS_MAX];
	if (n > CLIENT_ADMIN_ARGS_MAX) {
		return client_fail(c, CONCORD_EINVAL, "too many arguments");
	}
	for (size_t i = 0; i < n; i++) {
		lens[i] = strlen(argv[i]);
	}
	struct client_args a = {argv, lens, n};
	const struct resp_value *v = NULL;
	int rc = node != NULL ? client_call_node(c, node, CLIENT_OTHER, &a, &v)
	                      : client_call(c, CLIENT_OTHER, &a, &v);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_SIMPLE) {
		return client_unexpected(c, argv[0], v);
	}
	return CONCORD_OK;
}

int concord_client_status(struct concord_client *c, const char *node, char **json, size_t *json_len)
{
	*json = NULL;
	if (json_len != NULL) {
		*json_len = 0;
	}
	static const char *const argv[] = {"CONCORD.STATUS"};
	static const size_t lens[] = {14};
	struct client_args a = {argv, lens, 1};
	const struct resp_value *v = NULL;
	int rc;
	if (node != NULL) {
		struct client_endpoint ep;
		rc = client_endpoint_parse(node, strlen(node), &ep, c->errmsg, sizeof(c->errmsg));
		if (rc != CONCORD_OK) {
			return rc;
		}
		rc = client_call_node(c, &ep, CLIENT_READ, &a, &v);
	} else {
		rc = client_call(c, CLIENT_READ, &a, &v);
	}
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_BULK) {
		return client_unexpected(c, "CONCORD.STATUS", v);
	}
	*json = client_dup(v->str, v->len);
	if (*json == NULL) {
		return client_fail(c, CONCORD_ENOMEM, "out of memory");
	}
	if (json_len != NULL) {
		*json_len = v->len;
	}
	return CONCORD_OK;
}

int concord_client_transfer(struct concord_client *c, uint64_t to)
{
	char id[24];
	snprintf(id, sizeof(id), "%" PRIu64, to);
	const char *argv[] = {"CONCORD.TRANSFER", id};
	return client_admin(c, NULL, argv, 2);
}

int concord_client_step_down(struct concord_client *c)
{
	const char *argv[] = {"CONCORD.STEPDOWN"};
	return client_admin(c, NULL, argv, 1);
}

int concord_client_member_add(struct concord_client *c, uint64_t id, const char *name,
                              const char *peer, const char *client_addr, const char *http_addr)
{
	if (id == 0 || name == NULL || name[0] == '\0' || peer == NULL || peer[0] == '\0') {
		return client_fail(c, CONCORD_EINVAL,
		                   "a member needs an id, a name and a peer address");
	}
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRIu64, id);
	const char *argv[] = {"CONCORD.MEMBER",
	                      "ADD",
	                      ids,
	                      name,
	                      peer,
	                      client_addr != NULL ? client_addr : "",
	                      http_addr != NULL ? http_addr : ""};
	return client_admin(c, NULL, argv, 7);
}

int concord_client_member_promote(struct concord_client *c, uint64_t id)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRIu64, id);
	const char *argv[] = {"CONCORD.MEMBER", "PROMOTE", ids};
	return client_admin(c, NULL, argv, 3);
}

int concord_client_member_remove(struct concord_client *c, uint64_t id)
{
	char ids[24];
	snprintf(ids, sizeof(ids), "%" PRIu64, id);
	const char *argv[] = {"CONCORD.MEMBER", "REMOVE", ids};
	return client_admin(c, NULL, argv, 3);
}

static bool client_probability_ok(double p)
{
	return p >= 0.0 && p <= 1.0; /* false for NaN too */
}

int concord_client_fault_set(struct concord_client *c, const char *node, uint64_t peer,
                             const struct concord_fault *f)
{
	if (node == NULL || f == NULL) {
		return client_fail(c, CONCORD_EINVAL, "faults need a node and a fault");
	}
	if (!client_probability_ok(f->drop) || !client_probability_ok(f->dup) ||
	    !client_probability_ok(f->delay_req_p) || !client_probability_ok(f->delay_resp_p)) {
		return client_fail(c, CONCORD_EINVAL, "a probability outside [0, 1]");
	}
	struct client_endpoint ep;
	int rc = client_endpoint_parse(node, strlen(node), &ep, c->errmsg, sizeof(c->errmsg));
	if (rc != CONCORD_OK) {
		return rc;
	}
	char peer_s[24], drop[32], dreq[16], dreqp[32], dresp[16], drespp[32], dup[32], jit[16];
	if (peer == CONCORD_PEER_ALL) {
		snprintf(peer_s, sizeof(peer_s), "*");
	} else {
		snprintf(peer_s, sizeof(peer_s), "%" PRIu64, peer);
	}
	snprintf(drop, sizeof(drop), "%.6g", f->drop);
	snprintf(dreq, sizeof(dreq), "%" PRIu32, f->delay_req_ms);
	snprintf(dreqp, sizeof(dreqp), "%.6g", f->delay_req_p);
	snprintf(dresp, sizeof(dresp), "%" PRIu32, f->delay_resp_ms);
	snprintf(drespp, sizeof(drespp), "%.6g", f->delay_resp_p);
	snprintf(dup, sizeof(dup), "%.6g", f->dup);
	snprintf(jit, sizeof(jit), "%" PRIu32, f->jitter_ms);
	/* Only the faults asked for: SET replaces the link's faults, omitted ones are 0. */
	const char *argv[CLIENT_ADMIN_ARGS_MAX] = {"CONCORD.FAULT", "SET", peer_s};
	size_t n = 3;
	if (f->drop > 0.0) {
		argv[n++] = "drop";
		argv[n++] = drop;
	}
	if (f->delay_req_ms > 0) {
		argv[n++] = "delay-req";
		argv[n++] = dreq;
		if (f->delay_req_p > 0.0) {
			argv[n++] = "delay-req-p";
			argv[n++] = dreqp;
		}
	}
	if (f->delay_resp_ms > 0) {
		argv[n++] = "delay-resp";
		argv[n++] = dresp;
		if (f->delay_resp_p > 0.0) {
			argv[n++] = "delay-resp-p";
			argv[n++] = drespp;
		}
	}
	if (f->dup > 0.0) {
		argv[n++] = "dup";
		argv[n++] = dup;
	}
	if (f->jitter_ms > 0) {
		argv[n++] = "jitter";
		argv[n++] = jit;
	}
	if (f->block_out) {
		argv[n++] = "block-out";
		argv[n++] = "1";
	}
	if (f->block_in) {
		argv[n++] = "block-in";
		argv[n++] = "1";
	}
	_Static_assert(3 + 2 * 9 <= CLIENT_ADMIN_ARGS_MAX, "room for every fault argument");
	return client_admin(c, &ep, argv, n);
}

int concord_client_disk_stall(struct concord_client *c, const char *node, uint32_t ms)
{
	if (node == NULL) {
		return client_fail(c, CONCORD_EINVAL, "a disk fault needs a node");
	}
	struct client_endpoint ep;
	int rc = client_endpoint_parse(node, strlen(node), &ep, c->errmsg, sizeof(c->errmsg));
	if (rc != CONCORD_OK) {
		return rc;
	}
	char ms_s[16];
	snprintf(ms_s, sizeof(ms_s), "%" PRIu32, ms);
	const char *stall[] = {"CONCORD.FAULT", "DISK", "STALL", ms_s};
	const char *clear[] = {"CONCORD.FAULT", "DISK", "CLEAR"};
	return ms > 0 ? client_admin(c, &ep, stall, 4) : client_admin(c, &ep, clear, 3);
}

int concord_client_fault_clear(struct concord_client *c, const char *node, uint64_t peer)
{
	if (node == NULL) {
		return client_fail(c, CONCORD_EINVAL, "faults need a node");
	}
	struct client_endpoint ep;
	int rc = client_endpoint_parse(node, strlen(node), &ep, c->errmsg, sizeof(c->errmsg));
	if (rc != CONCORD_OK) {
		return rc;
	}
	char peer_s[24];
	if (peer == CONCORD_PEER_ALL) {
		snprintf(peer_s, sizeof(peer_s), "*");
	} else {
		snprintf(peer_s, sizeof(peer_s), "%" PRIu64, peer);
	}
	const char *argv[] = {"CONCORD.FAULT", "CLEAR", peer_s};
	return client_admin(c, &ep, argv, 3);
}
