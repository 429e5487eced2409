/* resp_admin.c: the RESP connection, server and cluster commands: PING, INFO, CLIENT, CLUSTER,
 * CONCORD.STATUS/FAULT/TRANSFER/MEMBER... */
#include "server/resp_impl.h"
#include "base/alloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* =================================================================================
 * Local commands
 */

void local_ping(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	if (argc == 1)
		resp_write_simple(out, "PONG", 4);
	else if (argc == 2)
		resp_write_bulk(out, argv[1].data, argv[1].len);
	else
		reply_wrong_args(out, &argv[0]);
}

void local_echo(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	resp_write_bulk(out, argv[1].data, argv[1].len);
}

void local_select(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	(void)argc;
	int64_t db;
	if (!arg_i64(&argv[1], &db))
		reply_not_int(out);
	else if (db != 0)
		reply_error(out, "ERR DB index is out of range");
	else
		resp_write_ok(out);
}

void local_quit(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	resp_write_ok(out);
	c->quit = true;
}

void local_command(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)c;
	if (argc >= 2 && arg_is(&argv[1], "COUNT"))
		resp_write_integer(out, (int64_t)command_count());
	else
		resp_write_array(out, 0);
}

void local_config(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	if (arg_is(&argv[1], "GET")) {
		if (argc != 3) {
			reply_error(out, "ERR wrong number of arguments for 'config|get' command");
		} else if (arg_is(&argv[2], "save")) {
			resp_write_map(out, 1, c->proto);
			reply_bulk_str(out, "save");
			reply_bulk_str(out, "");
		} else if (arg_is(&argv[2], "appendonly")) {
			resp_write_map(out, 1, c->proto);
			reply_bulk_str(out, "appendonly");
			reply_bulk_str(out, "yes");
		} else {
			resp_write_map(out, 0, c->proto);
		}
	} else if (arg_is(&argv[1], "SET") || arg_is(&argv[1], "RESETSTAT") ||
	           arg_is(&argv[1], "REWRITE")) {
		reply_error(out, "ERR CONFIG SET is not supported; use concord's flags");
	} else {
		reply_error(out, "ERR unknown CONFIG subcommand");
	}
}

static bool client_name_ok(const struct resp_arg *name, struct wire_buf *out)
{
	for (size_t i = 0; i < name->len; i++) {
		unsigned char ch = (unsigned char)name->data[i];
		if (ch <= ' ' || ch > '~') {
			reply_error(out,
			            "ERR Client names cannot contain spaces, newlines or special "
			            "characters.");
			return false;
		}
	}
	return true;
}

static void client_set_name(struct rconn *c, const struct resp_arg *name)
{
	free(c->name);
	c->name = NULL;
	if (name->len > 0) {
		c->name = xmalloc(name->len + 1);
		memcpy(c->name, name->data, name->len);
		c->name[name->len] = '\0';
	}
}

/* HELLO's reply, Redis's map in the connection's (new) protocol. */
void resp_hello_reply(struct rconn *c, struct wire_buf *out)
{
	struct node_status st;
	node_status(c->s->sv->node, &st);
	resp_write_map(out, 7, c->proto);
	reply_bulk_str(out, "server");
	reply_bulk_str(out, "redis");
	reply_bulk_str(out, "version");
	reply_bulk_str(out, "7.0.0");
	reply_bulk_str(out, "proto");
	resp_write_integer(out, c->proto);
	reply_bulk_str(out, "id");
	resp_write_integer(out, (int64_t)c->conn.id);
	reply_bulk_str(out, "mode");
	reply_bulk_str(out, "standalone");
	reply_bulk_str(out, "role");
	reply_bulk_str(out, st.role == RAFT_LEADER ? "master" : "replica");
	reply_bulk_str(out, "modules");
	resp_write_array(out, 0);
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]], as Redis 7 parses it:
 * everything is checked before anything changes. */
void local_hello(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	int64_t ver = c->proto;
	if (argc >= 2 && !arg_i64(&argv[1], &ver)) {
		reply_error(out, "ERR Protocol version is not an integer or out of range");
		return;
	}
	if (ver < RESP_PROTO_2 || ver > RESP_PROTO_3) {
		reply_error(out, "NOPROTO unsupported protocol version");
		return;
	}
	const struct resp_arg *user = NULL, *name = NULL;
	for (size_t j = 2; j < argc; j++) {
		size_t more = argc - 1 - j;
		if (arg_is(&argv[j], "AUTH") && more >= 2) {
			user = &argv[j + 1];
			j += 2;
		} else if (arg_is(&argv[j], "SETNAME") && more >= 1) {
			name = &argv[j + 1];
			j++;
		} else {
			char opt[64];
			snprintf(opt, sizeof(opt), "%.*s",
			         (int)(argv[j].len < 60 ? argv[j].len : 60), argv[j].data);
			reply_errorf(out, "ERR Syntax error in HELLO option '%s'", opt);
			return;
		}
	}
	if (name != NULL && !client_name_ok(name, out))
		return;
	if (user != NULL) { /* the password follows the user name */
		resp_auth_start(c, user, user + 1, true, (int)ver, name);
		return;
	}
	if (name != NULL)
		client_set_name(c, name);
	c->proto = (uint8_t)ver;
	resp_hello_reply(c, out);
}

/* AUTH [username] password: resp_auth.c verifies it. */
void local_auth(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	if (argc == 3)
		resp_auth_start(c, &argv[1], &argv[2], false, 0, NULL);
	else if (argc == 2)
		resp_auth_start(c, NULL, &argv[1], false, 0, NULL);
	else
		reply_syntax(out);
}

void local_client(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	if (arg_is(&argv[1], "SETNAME") && argc == 3) {
		if (argv[2].len > 256 || memchr(argv[2].data, ' ', argv[2].len) != NULL ||
		    memchr(argv[2].data, '\n', argv[2].len) != NULL) {
			reply_error(out,
			            "ERR Client names cannot contain spaces, newlines or special "
			            "characters.");
			return;
		}
		client_set_name(c, &argv[2]);
		resp_write_ok(out);
	} else if (arg_is(&argv[1], "SETINFO") && argc == 4) {
		resp_write_ok(out);
	} else if (arg_is(&argv[1], "GETNAME") && argc == 2) {
		if (c->name == NULL)
			resp_write_nil(out, c->proto);
		else
			reply_bulk_str(out, c->name);
	} else if (arg_is(&argv[1], "ID") && argc == 2) {
		resp_write_integer(out, (int64_t)c->conn.id);
	} else {
		reply_error(out, "ERR unknown CLIENT subcommand or wrong number of arguments; "
		                 "supported: SETNAME, SETINFO, GETNAME, ID");
	}
}

void local_relay(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	c->relayed = true;
	resp_write_ok(out);
}

/* The process's resident set size in bytes, from /proc/self/statm (0 where it cannot be
 * read: not Linux). */
static uint64_t process_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return 0;
	unsigned long long size = 0, resident = 0;
	int got = fscanf(f, "%llu %llu", &size, &resident);
	fclose(f);
	long page = sysconf(_SC_PAGESIZE);
	if (got != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

/* "1.50M": as Redis prints used_memory_human. */
static void human_bytes(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "BKMGTP";
	double d = (double)v;
	size_t u = 0;
	while (d >= 1024 && u + 1 < sizeof(units) - 1) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 "B", v);
	else
		snprintf(buf, len, "%.2f%c", d, units[u]);
}

/* RESP connections other than `self` with a command waiting on the node (a write being
 * committed or a read being confirmed). */
static uint32_t blocked_clients(const struct resp_server *s, const struct rconn *self)
{
	uint32_t n = 0;
	for (const struct conn *k = s->l.conns; k != NULL; k = k->next) {
		const struct rconn *rc = (const struct rconn *)k;
		if (rc != self && driver_order_in_flight(&rc->order) > 0)
			n++;
	}
	return n;
}

static void info_clients_memory_stats(struct rconn *c, struct wire_buf *t, bool clients,
                                      bool memory, bool stats)
{
	struct resp_server *s = c->s;
	const struct server_stats *rs = &s->sv->resp_stats;
	if (clients)
		wire_buf_printf(t,
		                "# Clients\r\nconnected_clients:%u\r\nblocked_clients:%u\r\n"
		                "maxclients:%u\r\n\r\n",
		                s->l.n_conns, blocked_clients(s, c), s->sv->max_clients);
	if (memory) {
		uint64_t rss = process_rss_bytes();
		char h[32];
		human_bytes(h, sizeof(h), rss);
		wire_buf_printf(t,
		                "# Memory\r\nused_memory:%" PRIu64 "\r\nused_memory_human:%s\r\n"
		                "used_memory_rss:%" PRIu64 "\r\nused_memory_rss_human:%s\r\n"
		                "maxmemory:0\r\n\r\n",
		                rss, h, rss, h);
	}
	if (stats)
		wire_buf_printf(t,
		                "# Stats\r\ntotal_connections_received:%" PRIu64 "\r\n"
		                "total_commands_processed:%" PRIu64 "\r\n"
		                "rejected_connections:%" PRIu64 "\r\n\r\n",
		                rs->connections, rs->requests, rs->rejected);
}

void local_info(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	struct resp_server *s = c->s;
	struct server *sv = s->sv;
	bool all = argc == 1 || arg_is(&argv[1], "all") || arg_is(&argv[1], "everything") ||
	           arg_is(&argv[1], "default");
	struct wire_buf t;
	wire_buf_init(&t, 1 << 20);
	struct node_status st;
	node_status(sv->node, &st);
	if (all || arg_is(&argv[1], "server")) {
		wire_buf_printf(&t,
		                "# Server\r\nredis_version:7.0.0\r\nconcord_version:%s\r\n"
		                "redis_mode:standalone\r\nprocess_id:%d\r\ntcp_port:%d\r\n"
		                "uptime_in_seconds:%" PRIu64 "\r\n\r\n",
		                sv->version, (int)getpid(), s->l.port,
		                (uv_now(sv->loop) - sv->start_ms) / 1000);
	}
	info_clients_memory_stats(c, &t, all || arg_is(&argv[1], "clients"),
	                          all || arg_is(&argv[1], "memory"),
	                          all || arg_is(&argv[1], "stats"));
	if (all || arg_is(&argv[1], "replication")) {
		wire_buf_printf(&t, "# Replication\r\nrole:%s\r\n\r\n",
		                st.role == RAFT_LEADER ? "master" : "slave");
	}
	if (all || arg_is(&argv[1], "concord")) {
		const struct node_member *self = node_self(sv->node);
		const struct node_member *leader = node_leader(sv->node);
		const struct kv *kv = node_kv(sv->node);
		wire_buf_printf(
		    &t,
		    "# Concord\r\nnode_id:%" PRIu64 "\r\nnode_name:%s\r\ncluster_id:%s\r\n"
		    "raft_role:%s\r\nraft_term:%" PRIu64 "\r\nleader_id:%" PRIu64 "\r\n"
		    "leader_client_addr:%s\r\ncommit_index:%" PRIu64 "\r\n"
		    "applied_index:%" PRIu64 "\r\nrevision:%" PRIu64 "\r\nread_mode:%s\r\n"
		    "follower_mode:%s\r\n\r\n",
		    st.id, self != NULL ? self->name : "", sv->cluster_id, server_role_name(sv),
		    st.term, st.leader, leader != NULL ? leader->client : "", st.commit, st.applied,
		    kv_revision(kv), sv->stale_reads ? "stale" : "linearizable",
		    sv->resp_follower == SERVER_FOLLOWER_FORWARD ? "forward" : "moved");
	}
	if (all || arg_is(&argv[1], "keyspace")) {
		struct kv_stats ks;
		kv_stats(node_kv(sv->node), &ks);
		wire_buf_printf(
		    &t, "# Keyspace\r\ndb0:keys=%" PRIu64 ",expires=%" PRIu64 ",avg_ttl=0\r\n",
		    resp_user_keys(node_kv(sv->node)), ks.ttls);
	}
	resp_write_bulk(out, t.data, t.len);
	wire_buf_free(&t);
}

/* CLUSTER SLOTS: one range, 0..16383, served by the leader, the followers as replicas. */
static void cluster_slots(struct rconn *c, struct wire_buf *out)
{
	struct server *sv = c->s->sv;
	const struct node_member *leader = node_leader(sv->node);
	if (leader == NULL || leader->client[0] == '\0') {
		struct node_status st;
		node_status(sv->node, &st);
		reply_errorf(out, "CLUSTERDOWN no leader is known (term %" PRIu64 "); retry",
		             st.term);
		return;
	}
	struct node_status st;
	node_status(sv->node, &st);
	const struct node_member *members[RAFT_MAX_MEMBERS * 3];
	size_t n = 0;
	members[n++] = leader;
	const raft_id *lists[2] = {st.conf.voters, st.conf.learners};
	uint32_t counts[2] = {st.conf.n_voters, st.conf.n_learners};
	for (int l = 0; l < 2; l++) {
		for (uint32_t i = 0; i < counts[l]; i++) {
			const struct node_member *m = node_member(sv->node, lists[l][i]);
			if (m != NULL && m->id != leader->id && m->client[0] != '\0')
				members[n++] = m;
		}
	}
	resp_write_array(out, 1);
	resp_write_array(out, 2 + n);
	resp_write_integer(out, 0);
	resp_write_integer(out, 16383);
	for (size_t i = 0; i < n; i++) {
		const char *addr = members[i]->client;
		const char *colon = strrchr(addr, ':');
		const char *host = addr;
		size_t hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
		if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
			host++;
			hlen -= 2;
		}
		char idbuf[64];
		int idlen =
		    snprintf(idbuf, sizeof(idbuf), "concord-node-%040" PRIu64, members[i]->id);
		resp_write_array(out, 3);
		resp_write_bulk(out, host, hlen);
		resp_write_integer(out, colon != NULL ? strtol(colon + 1, NULL, 10) : 0);
		resp_write_bulk(out, idbuf, (size_t)idlen);
	}
}

void local_cluster(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	if (arg_is(&argv[1], "SLOTS") && argc == 2) {
		cluster_slots(c, out);
	} else if (arg_is(&argv[1], "KEYSLOT") && argc == 3) {
		resp_write_integer(out, (int64_t)resp_key_slot(argv[2].data, argv[2].len));
	} else {
		char lname[32];
		lower_name(&argv[1], lname, sizeof(lname));
		reply_errorf(out,
		             "ERR unsupported command 'cluster %s': only CLUSTER SLOTS and CLUSTER "
		             "KEYSLOT are served",
		             lname);
	}
}

void local_status(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	struct wire_buf t;
	wire_buf_init(&t, 1 << 20);
	server_write_cluster_json(&t, c->s->sv);
	resp_write_bulk(out, t.data, t.len);
	wire_buf_free(&t);
}

/* CONCORD.FAULT SET peer|* [drop P] [delay-req MS] [delay-resp MS] [dup P] [block-out 0|1]
 * [block-in 0|1] / CONCORD.FAULT CLEAR peer|*: this node's links. */
/* One "name value" pair of CONCORD.FAULT SET into *f; false after an error reply. */
static bool fault_option(const struct resp_arg *o, const struct resp_arg *v, struct net_fault *f,
                         struct wire_buf *out)
{
	double d = 0;
	uint64_t u = 0;
	if (arg_is(o, "drop") || arg_is(o, "dup")) {
		if (!arg_double(v, &d) || !(d >= 0 && d <= 1)) {
			reply_error(out, "ERR a probability must lie in [0, 1]");
			return false;
		}
		if (arg_is(o, "drop"))
			f->drop_probability = d;
		else
			f->duplicate_probability = d;
	} else if (arg_is(o, "delay-req") || arg_is(o, "delay-resp") || arg_is(o, "jitter")) {
		if (!arg_u64(v, &u) || u > 600000) {
			reply_error(out, "ERR a delay is whole milliseconds, at most 600000");
			return false;
		}
		if (arg_is(o, "delay-req")) {
			f->request_delay_ms = (uint32_t)u;
			f->request_delay_probability = u > 0 ? 1 : 0;
		} else if (arg_is(o, "delay-resp")) {
			f->response_delay_ms = (uint32_t)u;
			f->response_delay_probability = u > 0 ? 1 : 0;
		} else {
			f->reorder_jitter_ms = (uint32_t)u;
		}
	} else if (arg_is(o, "delay-req-p") || arg_is(o, "delay-resp-p")) {
		if (!arg_double(v, &d) || !(d >= 0 && d <= 1)) {
			reply_error(out, "ERR a probability must lie in [0, 1]");
			return false;
		}
		if (arg_is(o, "delay-req-p"))
			f->request_delay_probability = d;
		else
			f->response_delay_probability = d;
	} else if (arg_is(o, "block-out") || arg_is(o, "block-in")) {
		if (!arg_u64(v, &u) || u > 1) {
			reply_error(out, "ERR block-out and block-in take 0 or 1");
			return false;
		}
		if (arg_is(o, "block-out"))
			f->block_outbound = u == 1;
		else
			f->block_inbound = u == 1;
	} else {
		reply_syntax(out);
		return false;
	}
	return true;
}

/* CONCORD.FAULT DISK STALL ms | CLEAR | STATUS: this node's storage stalls (every write
 * and sync waits) for ms from now, as HTTP /v1/admin/faults/disk does. */
static void disk_fault(struct rconn *c, size_t argc, const struct resp_arg *argv,
                       struct wire_buf *out)
{
	struct server *sv = c->s->sv;
	uint64_t ms = 0;
	if (arg_is(&argv[2], "STALL") && argc == 4 && arg_u64(&argv[3], &ms) && ms <= 600000) {
		node_disk_stall(sv->node, (uint32_t)ms);
		resp_write_ok(out);
		return;
	}
	if (arg_is(&argv[2], "CLEAR") && argc == 3) {
		node_disk_stall(sv->node, 0);
		resp_write_ok(out);
		return;
	}
	if (!(arg_is(&argv[2], "STATUS") && argc == 3)) {
		reply_error(out,
		            "ERR usage: CONCORD.FAULT DISK STALL ms (at most 600000) | CLEAR | "
		            "STATUS");
		return;
	}
	uint64_t calls = 0;
	uint64_t left = node_disk_stall_left(sv->node, &calls);
	resp_write_array(out, 2);
	resp_write_integer(out, (int64_t)left);
	resp_write_integer(out, (int64_t)calls);
}

void local_fault(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	struct server *sv = c->s->sv;
	if (arg_is(&argv[1], "DISK")) {
		disk_fault(c, argc, argv, out);
		return;
	}
	raft_id peer = RAFT_NONE;
	if (!(argv[2].len == 1 && argv[2].data[0] == '*') &&
	    (!arg_u64(&argv[2], &peer) || peer == RAFT_NONE)) {
		reply_error(out, "ERR peer must be a node id or *");
		return;
	}
	if (arg_is(&argv[1], "CLEAR")) {
		if (argc != 3) {
			reply_syntax(out);
			return;
		}
		server_fault_clear(sv, peer);
		resp_write_ok(out);
		return;
	}
	if (!arg_is(&argv[1], "SET")) {
		reply_error(out, "ERR usage: CONCORD.FAULT SET peer|* [drop P] [delay-req MS] "
		                 "[delay-resp MS] [dup P] [block-out 0|1] [block-in 0|1] | "
		                 "CONCORD.FAULT CLEAR peer|*");
		return;
	}
	struct net_fault f;
	memset(&f, 0, sizeof(f));
	for (size_t i = 3; i < argc; i += 2) {
		if (i + 1 >= argc) {
			reply_syntax(out);
			return;
		}
		if (!fault_option(&argv[i], &argv[i + 1], &f, out))
			return;
	}
	int rv = server_fault_set(sv, peer, &f);
	if (rv != 0)
		reply_errorf(out, "ERR cannot set faults on the link to %" PRIu64 ": %s", peer,
		             node_strerror(rv));
	else
		resp_write_ok(out);
}

/* =================================================================================
 * Admin commands the leader carries out
 */

/* `id`: the member the command names (RAFT_NONE: none), for the errors about it. */
static void reply_node_error(struct wire_buf *out, int rv, raft_id id)
{
	if (rv == 0)
		resp_write_ok(out);
	else if (rv == NODE_ENOTLEADER)
		reply_error(out, "CLUSTERDOWN this node is not the leader; retry");
	else if (rv == NODE_EBUSY)
		reply_error(out,
		            "TRYAGAIN a leadership transfer or configuration change is under way");
	else if (rv == NODE_ELAGGING)
		reply_errorf(out, "TRYAGAIN learner %" PRIu64 " has not caught up with the log yet",
		             id);
	else if (rv == NODE_ENOMEMBER)
		reply_errorf(out, "ERR no such member %" PRIu64, id);
	else if (rv == NODE_EMEMBER)
		reply_errorf(out, "ERR %" PRIu64 " is already a member", id);
	else if (rv == NODE_ENOTVOTER)
		reply_errorf(out, "ERR member %" PRIu64 " is a learner, not a voter", id);
	else if (rv == NODE_EVOTER)
		reply_errorf(out, "ERR member %" PRIu64 " is already a voter", id);
	else
		reply_errorf(out, "ERR %s", node_strerror(rv));
}

void leader_transfer(struct rconn *c, size_t argc, const struct resp_arg *argv,
                     struct wire_buf *out)
{
	(void)argc;
	uint64_t to;
	if (!arg_u64(&argv[1], &to) || to == 0) {
		reply_error(out, "ERR usage: CONCORD.TRANSFER node-id");
		return;
	}
	int rv = node_transfer(c->s->sv->node, to);
	if (rv == NODE_EALREADY)
		resp_write_simple(out, "OK already the leader", 21);
	else
		reply_node_error(out, rv, to);
}

void leader_stepdown(struct rconn *c, size_t argc, const struct resp_arg *argv,
                     struct wire_buf *out)
{
	(void)argc;
	(void)argv;
	reply_node_error(out, node_step_down(c->s->sv->node), RAFT_NONE);
}

/* argv[3..6]: name peer client http, into `m` (id set); false once it replied. */
static bool member_args(const struct resp_arg *argv, uint64_t id, struct node_member *m,
                        struct wire_buf *out)
{
	memset(m, 0, sizeof(*m));
	m->id = id;
	const struct resp_arg *f[4] = {&argv[3], &argv[4], &argv[5], &argv[6]};
	char *dst[4] = {m->name, m->peer, m->client, m->http};
	size_t cap[4] = {sizeof(m->name), sizeof(m->peer), sizeof(m->client), sizeof(m->http)};
	for (int i = 0; i < 4; i++) {
		if (f[i]->len >= cap[i] || memchr(f[i]->data, '\n', f[i]->len) != NULL ||
		    memchr(f[i]->data, '\0', f[i]->len) != NULL) {
			reply_error(out, "ERR a member's name or address is too long or holds a "
			                 "newline");
			return false;
		}
		memcpy(dst[i], f[i]->data, f[i]->len);
	}
	struct sockaddr_storage sa;
	if (server_addr_parse(m->peer, &sa) != 0) {
		reply_error(out, "ERR the peer address must be numeric host:port");
		return false;
	}
	return true;
}

/* PUBLISH: a member records its own addresses (a follower's node sends it to the
 * leader when the address book lacks them). */
void leader_member(struct rconn *c, size_t argc, const struct resp_arg *argv, struct wire_buf *out)
{
	struct node *n = c->s->sv->node;
	uint64_t id;
	if (argc < 3 || !arg_u64(&argv[2], &id) || id == 0) {
		reply_error(out, "ERR usage: CONCORD.MEMBER ADD id name peer client http | "
		                 "CONCORD.MEMBER PUBLISH id name peer client http | "
		                 "CONCORD.MEMBER PROMOTE id | CONCORD.MEMBER REMOVE id");
		return;
	}
	struct node_member m;
	if (arg_is(&argv[1], "ADD") && argc == 7) {
		if (member_args(argv, id, &m, out))
			reply_node_error(out, node_member_add_learner(n, &m), id);
	} else if (arg_is(&argv[1], "PUBLISH") && argc == 7) {
		if (member_args(argv, id, &m, out))
			reply_node_error(out, node_member_publish(n, &m), id);
	} else if (arg_is(&argv[1], "PROMOTE") && argc == 3) {
		reply_node_error(out, node_member_promote(n, id), id);
	} else if (arg_is(&argv[1], "REMOVE") && argc == 3) {
		reply_node_error(out, node_member_remove(n, id), id);
	} else {
		reply_syntax(out);
	}
}

int build_compact(struct resp_server *s, size_t argc, const struct resp_arg *argv, struct build *b)
{
	(void)s;
	(void)argc;
	uint64_t rev;
	if (!arg_u64(&argv[1], &rev) || rev == 0) {
		snprintf(b->err, sizeof(b->err),
		         "ERR usage: CONCORD.COMPACT revision (a number > 0)");
		return -1;
	}
	b->cmd.op = KV_OP_COMPACT;
	b->cmd.revision = rev;
	b->kind = REPLY_OK;
	return 0;
}
