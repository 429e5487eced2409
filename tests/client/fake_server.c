/* fake_server.c: scriptable RESP servers on 127.0.0.1 for the client tests; a tiny store. */
#include "fake_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_CONNS_MAX 32

struct fake_conn {
	int fd;
	bool hung; /* a FAKE_HANG: read and discard from now on */
	struct resp_parser p;
};

struct fake_server {
	fake_handler handler;
	void *arg;
	int listen_fd;
	int wake[2]; /* a pipe: a byte on it stops the thread */
	uint16_t port;
	char addr[32];
	pthread_t thread;
	pthread_mutex_t mu;
	struct fake_conn conns[FAKE_CONNS_MAX];
	uint64_t commands;
	uint64_t accepts;
};

static void fake_die(const char *what)
{
	fprintf(stderr, "fake server: %s: %s\n", what, strerror(errno));
	abort();
}

static void fake_conn_close(struct fake_conn *fc)
{
	if (fc->fd >= 0) {
		close(fc->fd);
		resp_parser_free(&fc->p);
		fc->fd = -1;
	}
}

static void fake_send_all(int fd, const char *p, size_t len)
{
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, p + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return; /* the client went away; the read side will see it */
		}
		off += (size_t)n;
	}
}

/* Reads what fc has and answers every complete command. */
static void fake_conn_serve(struct fake_server *s, struct fake_conn *fc)
{
	char buf[16384];
	ssize_t n = recv(fc->fd, buf, sizeof(buf), 0);
	if (n <= 0) {
		if (n < 0 && errno == EINTR) {
			return;
		}
		fake_conn_close(fc);
		return;
	}
	if (fc->hung) {
		return;
	}
	if (resp_parser_feed(&fc->p, buf, (size_t)n) != 0) {
		fake_conn_close(fc);
		return;
	}
	struct resp_cmd cmd;
	int rc;
	while ((rc = resp_parser_next(&fc->p, &cmd)) == 0) {
		struct wire_buf out;
		wire_buf_init(&out, WIRE_BUF_BYTES_LIMIT);
		pthread_mutex_lock(&s->mu);
		s->commands++;
		enum fake_action act = s->handler(s->arg, &cmd, &out);
		pthread_mutex_unlock(&s->mu);
		if (act == FAKE_REPLY || act == FAKE_REPLY_CLOSE) {
			fake_send_all(fc->fd, out.data, out.len);
		}
		wire_buf_free(&out);
		if (act == FAKE_REPLY_CLOSE || act == FAKE_CLOSE) {
			fake_conn_close(fc);
			return;
		}
		if (act == FAKE_HANG) {
			fc->hung = true;
			return;
		}
	}
	if (rc != WIRE_EAGAIN) {
		fake_conn_close(fc);
	}
}

static void *fake_thread(void *arg)
{
	struct fake_server *s = arg;
	for (;;) {
		struct pollfd pfd[FAKE_CONNS_MAX + 2];
		int idx[FAKE_CONNS_MAX + 2];
		nfds_t n = 0;
		pfd[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		for (int i = 0; i < FAKE_CONNS_MAX; i++) {
			if (s->conns[i].fd >= 0) {
				idx[n] = i;
				pfd[n++] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
			}
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR) {
				continue;
			}
			fake_die("poll");
		}
		if (pfd[0].revents != 0) {
			break;
		}
		if (pfd[1].revents & POLLIN) {
			int fd = accept(s->listen_fd, NULL, NULL);
			if (fd >= 0) {
				int slot = -1;
				for (int i = 0; i < FAKE_CONNS_MAX && slot < 0; i++) {
					if (s->conns[i].fd < 0) {
						slot = i;
					}
				}
				if (slot < 0) {
					close(fd);
				} else {
					struct fake_conn *fc = &s->conns[slot];
					fc->fd = fd;
					fc->hung = false;
					if (resp_parser_init(&fc->p, NULL) != 0) {
						fake_die("parser");
					}
					pthread_mutex_lock(&s->mu);
					s->accepts++;
					pthread_mutex_unlock(&s->mu);
				}
			}
		}
		for (nfds_t k = 2; k < n; k++) {
			if (pfd[k].revents != 0) {
				fake_conn_serve(s, &s->conns[idx[k]]);
			}
		}
	}
	return NULL;
}

struct fake_server *fake_server_start(fake_handler h, void *arg)
{
	struct fake_server *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		fake_die("calloc");
	}
	s->handler = h;
	s->arg = arg;
	for (int i = 0; i < FAKE_CONNS_MAX; i++) {
		s->conns[i].fd = -1;
	}
	pthread_mutex_init(&s->mu, NULL);
	if (pipe(s->wake) != 0) {
		fake_die("pipe");
	}
	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		fake_die("socket");
	}
	int one = 1;
	setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fake_die("bind");
	}
	if (listen(s->listen_fd, 64) != 0) {
		fake_die("listen");
	}
	socklen_t sl = sizeof(sa);
	if (getsockname(s->listen_fd, (struct sockaddr *)&sa, &sl) != 0) {
		fake_die("getsockname");
	}
	s->port = ntohs(sa.sin_port);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", (unsigned)s->port);
	if (pthread_create(&s->thread, NULL, fake_thread, s) != 0) {
		fake_die("pthread_create");
	}
	return s;
}

void fake_server_stop(struct fake_server *s)
{
	if (s == NULL) {
		return;
	}
	char b = 1;
	while (write(s->wake[1], &b, 1) < 0 && errno == EINTR) {
	}
	pthread_join(s->thread, NULL);
	for (int i = 0; i < FAKE_CONNS_MAX; i++) {
		fake_conn_close(&s->conns[i]);
	}
	close(s->listen_fd);
	close(s->wake[0]);
	close(s->wake[1]);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

const char *fake_server_addr(const struct fake_server *s)
{
	return s->addr;
}

uint16_t fake_server_port(const struct fake_server *s)
{
	return s->port;
}

uint64_t fake_server_commands(struct fake_server *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t n = s->commands;
	pthread_mutex_unlock(&s->mu);
	return n;
}

uint64_t fake_server_accepts(struct fake_server *s)
{
	pthread_mutex_lock(&s->mu);
	uint64_t n = s->accepts;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void fake_server_lock(struct fake_server *s)
{
	pthread_mutex_lock(&s->mu);
}

void fake_server_unlock(struct fake_server *s)
{
	pthread_mutex_unlock(&s->mu);
}

uint16_t fake_unused_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fake_die("socket");
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fake_die("bind");
	}
	socklen_t sl = sizeof(sa);
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		fake_die("getsockname");
	}
	close(fd);
	return ntohs(sa.sin_port);
}

/* ----------------------------------------------------------------------------------
 * fake_kv
 */

bool fake_arg_is(const struct resp_cmd *cmd, size_t i, const char *s)
{
	return i < cmd->argc && cmd->argv[i].len == strlen(s) &&
	       strncasecmp(cmd->argv[i].data, s, cmd->argv[i].len) == 0;
}

void fake_kv_init(struct fake_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	snprintf(kv->status_json, sizeof(kv->status_json),
	         "{\"cluster_id\": \"fake\", \"node_id\": 1, \"leader\": 1, \"term\": 3, "
	         "\"revision\": 7, \"nodes\": [{\"id\": 1, \"name\": \"n1\", \"role\": "
	         "\"leader\", \"voter\": true, \"term\": 3, \"commit\": 9, \"applied\": 9, "
	         "\"match\": 9, \"peer\": \"127.0.0.1:1\", \"client\": \"127.0.0.1:2\", "
	         "\"http\": \"127.0.0.1:3\", \"reachable\": true}]}");
}

void fake_kv_free(struct fake_kv *kv)
{
	for (size_t i = 0; i < kv->n; i++) {
		free(kv->items[i].key);
		free(kv->items[i].value);
	}
	for (size_t i = 0; i < kv->n_sessions; i++) {
		wire_buf_free(&kv->sessions[i].last_reply);
	}
	memset(kv, 0, sizeof(*kv));
}

void fake_kv_expire_sessions(struct fake_kv *kv)
{
	for (size_t i = 0; i < kv->n_sessions; i++) {
		kv->sessions[i].expired = true;
	}
}

static int fake_kv_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	size_t m = al < bl ? al : bl;
	int c = m > 0 ? memcmp(a, b, m) : 0;
	if (c != 0) {
		return c;
	}
	return al < bl ? -1 : al > bl ? 1 : 0;
}

/* Index of the first item >= key; *found if equal. */
static size_t fake_kv_find(const struct fake_kv *kv, const char *key, size_t len, bool *found)
{
	size_t lo = 0, hi = kv->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (fake_kv_cmp(kv->items[mid].key, kv->items[mid].key_len, key, len) < 0) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	*found = lo < kv->n && fake_kv_cmp(kv->items[lo].key, kv->items[lo].key_len, key, len) == 0;
	return lo;
}

static char *fake_dup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p == NULL) {
		abort();
	}
	if (n > 0) {
		memcpy(p, s, n);
	}
	p[n] = '\0';
	return p;
}

static void fake_kv_set(struct fake_kv *kv, const struct resp_arg *k, const struct resp_arg *v)
{
	bool found;
	size_t i = fake_kv_find(kv, k->data, k->len, &found);
	if (found) {
		free(kv->items[i].value);
	} else {
		if (kv->n == FAKE_KV_KEYS_MAX) {
			abort();
		}
		memmove(&kv->items[i + 1], &kv->items[i], (kv->n - i) * sizeof(kv->items[0]));
		kv->n++;
		kv->items[i].key = fake_dup(k->data, k->len);
		kv->items[i].key_len = k->len;
	}
	kv->items[i].value = fake_dup(v->data, v->len);
	kv->items[i].value_len = v->len;
}

static const struct fake_kv_item *fake_kv_get(const struct fake_kv *kv, const struct resp_arg *k)
{
	bool found;
	size_t i = fake_kv_find(kv, k->data, k->len, &found);
	return found ? &kv->items[i] : NULL;
}

static bool fake_kv_del(struct fake_kv *kv, const struct resp_arg *k)
{
	bool found;
	size_t i = fake_kv_find(kv, k->data, k->len, &found);
	if (!found) {
		return false;
	}
	free(kv->items[i].key);
	free(kv->items[i].value);
	memmove(&kv->items[i], &kv->items[i + 1], (kv->n - i - 1) * sizeof(kv->items[0]));
	kv->n--;
	return true;
}

static bool fake_parse_u64(const struct resp_arg *a, uint64_t *out)
{
	if (a->len == 0 || a->len > 19) {
		return false;
	}
	uint64_t x = 0;
	for (size_t i = 0; i < a->len; i++) {
		if (a->data[i] < '0' || a->data[i] > '9') {
			return false;
		}
		x = x * 10 + (uint64_t)(a->data[i] - '0');
	}
	*out = x;
	return true;
}

static bool fake_parse_i64(const struct resp_arg *a, int64_t *out)
{
	if (a->len > 0 && a->data[0] == '-') {
		struct resp_arg rest = {a->data + 1, a->len - 1};
		uint64_t u;
		if (!fake_parse_u64(&rest, &u)) {
			return false;
		}
		*out = -(int64_t)u;
		return true;
	}
	uint64_t u;
	if (!fake_parse_u64(a, &u)) {
		return false;
	}
	*out = (int64_t)u;
	return true;
}

static void fake_kv_scan(struct fake_kv *kv, const struct resp_cmd *cmd, struct wire_buf *out)
{
	uint64_t cursor = 0;
	if (cmd->argc < 2 || !fake_parse_u64(&cmd->argv[1], &cursor) || cursor > kv->n) {
		resp_write_error(out, "ERR invalid cursor", 18);
		return;
	}
	const char *prefix = "";
	size_t prefix_len = 0;
	uint64_t count = 10;
	for (size_t i = 2; i + 1 < cmd->argc; i += 2) {
		if (fake_arg_is(cmd, i, "MATCH")) {
			prefix = cmd->argv[i + 1].data;
			prefix_len = cmd->argv[i + 1].len;
			if (prefix_len == 0 || prefix[prefix_len - 1] != '*') {
				resp_write_error(out, "ERR only prefix patterns", 24);
				return;
			}
			prefix_len--;
		} else if (fake_arg_is(cmd, i, "COUNT")) {
			if (!fake_parse_u64(&cmd->argv[i + 1], &count) || count == 0) {
				resp_write_error(out, "ERR syntax error", 16);
				return;
			}
		}
	}
	size_t idx[1000];
	size_t n = 0;
	size_t i = (size_t)cursor;
	for (; i < kv->n && n < count && n < 1000; i++) {
		const struct fake_kv_item *it = &kv->items[i];
		if (it->key_len >= prefix_len && memcmp(it->key, prefix, prefix_len) == 0) {
			idx[n++] = i;
		}
	}
	resp_write_array(out, 2);
	char next[24];
	snprintf(next, sizeof(next), "%zu", i >= kv->n ? (size_t)0 : i);
	resp_write_bulk(out, next, strlen(next));
	resp_write_array(out, n);
	for (size_t k = 0; k < n; k++) {
		resp_write_bulk(out, kv->items[idx[k]].key, kv->items[idx[k]].key_len);
	}
}

/* The store's own commands (no session handling). */
static void fake_kv_exec(struct fake_kv *kv, const struct resp_cmd *cmd, struct wire_buf *out)
{
	if (fake_arg_is(cmd, 0, "SET") && cmd->argc == 3) {
		fake_kv_set(kv, &cmd->argv[1], &cmd->argv[2]);
		kv->writes_applied++;
		resp_write_ok(out);
	} else if (fake_arg_is(cmd, 0, "GET") && cmd->argc == 2) {
		const struct fake_kv_item *it = fake_kv_get(kv, &cmd->argv[1]);
		if (it == NULL) {
			resp_write_null(out);
		} else {
			resp_write_bulk(out, it->value, it->value_len);
		}
	} else if (fake_arg_is(cmd, 0, "DEL") && cmd->argc >= 2) {
		int64_t n = 0;
		for (size_t i = 1; i < cmd->argc; i++) {
			n += fake_kv_del(kv, &cmd->argv[i]) ? 1 : 0;
		}
		kv->writes_applied++;
		resp_write_integer(out, n);
	} else if (fake_arg_is(cmd, 0, "INCRBY") && cmd->argc == 3) {
		int64_t delta = 0, cur = 0;
		const struct fake_kv_item *it = fake_kv_get(kv, &cmd->argv[1]);
		if (!fake_parse_i64(&cmd->argv[2], &delta)) {
			resp_write_error(out, "ERR value is not an integer or out of range", 43);
			return;
		}
		if (it != NULL) {
			struct resp_arg v = {it->value, it->value_len};
			if (!fake_parse_i64(&v, &cur)) {
				resp_write_error(out, "ERR value is not an integer or out of range",
				                 43);
				return;
			}
		}
		cur += delta;
		char num[24];
		snprintf(num, sizeof(num), "%" PRId64, cur);
		struct resp_arg nv = {num, strlen(num)};
		fake_kv_set(kv, &cmd->argv[1], &nv);
		kv->writes_applied++;
		resp_write_integer(out, cur);
	} else if (fake_arg_is(cmd, 0, "CAS") && cmd->argc == 4) {
		const struct fake_kv_item *it = fake_kv_get(kv, &cmd->argv[1]);
		kv->writes_applied++;
		if (it == NULL || it->value_len != cmd->argv[2].len ||
		    memcmp(it->value, cmd->argv[2].data, it->value_len) != 0) {
			resp_write_integer(out, 0);
			return;
		}
		fake_kv_set(kv, &cmd->argv[1], &cmd->argv[3]);
		resp_write_integer(out, 1);
	} else if (fake_arg_is(cmd, 0, "MGET") && cmd->argc >= 2) {
		resp_write_array(out, cmd->argc - 1);
		for (size_t i = 1; i < cmd->argc; i++) {
			const struct fake_kv_item *it = fake_kv_get(kv, &cmd->argv[i]);
			if (it == NULL) {
				resp_write_null(out);
			} else {
				resp_write_bulk(out, it->value, it->value_len);
			}
		}
	} else if (fake_arg_is(cmd, 0, "SCAN")) {
		fake_kv_scan(kv, cmd, out);
	} else if (fake_arg_is(cmd, 0, "PING")) {
		resp_write_simple(out, "PONG", 4);
	} else if (fake_arg_is(cmd, 0, "CONCORD.STATUS")) {
		resp_write_bulk(out, kv->status_json, strlen(kv->status_json));
	} else if (fake_arg_is(cmd, 0, "CONCORD.TRANSFER") ||
	           fake_arg_is(cmd, 0, "CONCORD.STEPDOWN") ||
	           fake_arg_is(cmd, 0, "CONCORD.MEMBER") || fake_arg_is(cmd, 0, "CONCORD.FAULT")) {
		size_t at = 0;
		kv->last_admin[0] = '\0';
		for (size_t i = 0; i < cmd->argc && at + 1 < sizeof(kv->last_admin); i++) {
			int w =
			    snprintf(kv->last_admin + at, sizeof(kv->last_admin) - at, "%s%.*s",
			             i > 0 ? " " : "", (int)cmd->argv[i].len, cmd->argv[i].data);
			if (w < 0) {
				break;
			}
			at += (size_t)w;
		}
		resp_write_ok(out);
	} else {
		resp_write_errorf(out, "ERR unknown command '%.*s'", (int)cmd->argv[0].len,
		                  cmd->argv[0].data);
	}
}

static struct fake_kv_session *fake_kv_session(struct fake_kv *kv, uint64_t id)
{
	for (size_t i = 0; i < kv->n_sessions; i++) {
		if (kv->sessions[i].id == id) {
			return &kv->sessions[i];
		}
	}
	return NULL;
}

enum fake_action fake_kv_handle(void *arg, const struct resp_cmd *cmd, struct wire_buf *out)
{
	struct fake_kv *kv = arg;
	if (fake_arg_is(cmd, 0, "CONCORD.SESSION")) {
		if (cmd->argc == 3 && fake_arg_is(cmd, 1, "CLOSE")) {
			resp_write_ok(out);
			return FAKE_REPLY;
		}
		if (kv->n_sessions == FAKE_KV_SESSIONS_MAX) {
			resp_write_error(out, "ERR too many sessions", 21);
			return FAKE_REPLY;
		}
		struct fake_kv_session *s = &kv->sessions[kv->n_sessions++];
		s->id = 100 + kv->n_sessions;
		s->last_seq = 0;
		s->expired = false;
		wire_buf_init(&s->last_reply, 1 << 20);
		resp_write_integer(out, (int64_t)s->id);
		return FAKE_REPLY;
	}
	if (fake_arg_is(cmd, 0, "CONCORD.EXEC")) {
		uint64_t id = 0, seq = 0;
		if (cmd->argc < 4 || !fake_parse_u64(&cmd->argv[1], &id) ||
		    !fake_parse_u64(&cmd->argv[2], &seq)) {
			resp_write_error(out, "ERR syntax error", 16);
			return FAKE_REPLY;
		}
		struct fake_kv_session *s = fake_kv_session(kv, id);
		if (s == NULL || s->expired) {
			resp_write_errorf(out, "SESSION session %" PRIu64 " expired or unknown",
			                  id);
			return FAKE_REPLY;
		}
		if (seq < s->last_seq) {
			resp_write_errorf(out, "STALE sequence %" PRIu64 " is older", seq);
			return FAKE_REPLY;
		}
		if (seq == s->last_seq) {
			kv->exec_duplicates++;
			wire_buf_append(out, s->last_reply.data, s->last_reply.len);
			return FAKE_REPLY;
		}
		struct resp_cmd inner = {.argc = cmd->argc - 3, .argv = cmd->argv + 3};
		wire_buf_reset(&s->last_reply);
		fake_kv_exec(kv, &inner, &s->last_reply);
		s->last_seq = seq;
		wire_buf_append(out, s->last_reply.data, s->last_reply.len);
		return FAKE_REPLY;
	}
	fake_kv_exec(kv, cmd, out);
	return FAKE_REPLY;
}
