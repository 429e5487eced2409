/* client.c: the client handle: options, endpoints list, error texts, replies and raw commands. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *const client_error_texts[] = {
#define CLIENT_ERROR_TEXT_(name, text) [name] = text,
    CONCORD_CLIENT_ERRORS(CLIENT_ERROR_TEXT_)
#undef CLIENT_ERROR_TEXT_
};

const char *concord_strerror(int err)
{
	if (err < 0 || err >= CONCORD_CLIENT_ERROR_COUNT_) {
		return "unknown error code";
	}
	return client_error_texts[err];
}

/* ----------------------------------------------------------------------------------
 * Handle
 */

void concord_client_opts_default(struct concord_client_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
}

/* Fills the zero fields of o with the defaults; checks the rest. */
static int client_opts_resolve(struct concord_client_opts *o, char *errmsg, size_t errmsg_size)
{
	if (o->connect_timeout_ms == 0) {
		o->connect_timeout_ms = CONCORD_CLIENT_DEFAULT_CONNECT_TIMEOUT_MS;
	}
	if (o->attempt_timeout_ms == 0) {
		o->attempt_timeout_ms = CONCORD_CLIENT_DEFAULT_ATTEMPT_TIMEOUT_MS;
	}
	if (o->deadline_ms == 0) {
		o->deadline_ms = CONCORD_CLIENT_DEFAULT_DEADLINE_MS;
	}
	if (o->retries_max == 0) {
		o->retries_max = CONCORD_CLIENT_DEFAULT_RETRIES_MAX;
	}
	if (o->backoff_min_ms == 0) {
		o->backoff_min_ms = CONCORD_CLIENT_DEFAULT_BACKOFF_MIN_MS;
	}
	if (o->backoff_max_ms == 0) {
		o->backoff_max_ms = CONCORD_CLIENT_DEFAULT_BACKOFF_MAX_MS;
	}
	if (o->reply_bytes_max == 0) {
		o->reply_bytes_max = CONCORD_CLIENT_DEFAULT_REPLY_BYTES_MAX;
	}
	if (o->backoff_min_ms > o->backoff_max_ms) {
		snprintf(errmsg, errmsg_size, "backoff_min_ms is above backoff_max_ms");
		return CONCORD_EINVAL;
	}
	if (o->user != NULL && (strlen(o->user) == 0 || strlen(o->user) > 64)) {
		snprintf(errmsg, errmsg_size, "user must be 1 to 64 bytes");
		return CONCORD_EINVAL;
	}
	if (o->password != NULL && strlen(o->password) > 256) {
		snprintf(errmsg, errmsg_size, "password must be at most 256 bytes");
		return CONCORD_EINVAL;
	}
	if (o->reply_bytes_max > CONCORD_CLIENT_REPLY_BYTES_LIMIT || o->reply_bytes_max < 64) {
		snprintf(errmsg, errmsg_size, "reply_bytes_max must lie in 64..%u",
		         CONCORD_CLIENT_REPLY_BYTES_LIMIT);
		return CONCORD_EINVAL;
	}
	/* Times beyond a day are surely mistakes and would overflow nothing, but bound
	 * them so that the arithmetic on the monotonic clock stays obvious. */
	const uint32_t day_ms = 24u * 3600u * 1000u;
	if (o->connect_timeout_ms > day_ms || o->attempt_timeout_ms > day_ms ||
	    o->deadline_ms > day_ms || o->backoff_max_ms > day_ms) {
		snprintf(errmsg, errmsg_size, "a time limit is above a day");
		return CONCORD_EINVAL;
	}
	return CONCORD_OK;
}

int concord_client_new(const char *endpoints, const struct concord_client_opts *opts,
                       struct concord_client **out, char *errmsg)
{
	char scratch[CONCORD_CLIENT_ERRMSG_SIZE];
	if (errmsg == NULL) {
		errmsg = scratch;
	}
	errmsg[0] = '\0';
	*out = NULL;
	if (endpoints == NULL) {
		snprintf(errmsg, CONCORD_CLIENT_ERRMSG_SIZE, "no endpoints");
		return CONCORD_EINVAL;
	}
	struct concord_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(errmsg, CONCORD_CLIENT_ERRMSG_SIZE, "out of memory");
		return CONCORD_ENOMEM;
	}
	if (opts != NULL) {
		c->opts = *opts;
	}
	int rc = client_opts_resolve(&c->opts, errmsg, CONCORD_CLIENT_ERRMSG_SIZE);
	if (rc != CONCORD_OK) {
		free(c);
		return rc;
	}
	const char *p = endpoints;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len > 0) {
			if (c->n_eps == CONCORD_CLIENT_ENDPOINTS_MAX) {
				snprintf(errmsg, CONCORD_CLIENT_ERRMSG_SIZE,
				         "more than %u endpoints", CONCORD_CLIENT_ENDPOINTS_MAX);
				free(c);
				return CONCORD_EINVAL;
			}
			rc = client_endpoint_parse(p, len, &c->eps[c->n_eps], errmsg,
			                           CONCORD_CLIENT_ERRMSG_SIZE);
			if (rc != CONCORD_OK) {
				free(c);
				return rc;
			}
			c->n_eps++;
		}
		if (comma == NULL) {
			break;
		}
		p = comma + 1;
	}
	if (c->n_eps == 0) {
		snprintf(errmsg, CONCORD_CLIENT_ERRMSG_SIZE, "no endpoints");
		free(c);
		return CONCORD_EINVAL;
	}
	c->n_listed = c->n_eps;
	/* The credentials are the handle's own from here on. */
	if (c->opts.user != NULL) {
		snprintf(c->user, sizeof(c->user), "%s", c->opts.user);
	}
	if (c->opts.password != NULL) {
		c->password = strdup(c->opts.password);
		if (c->password == NULL) {
			free(c);
			return CONCORD_ENOMEM;
		}
	}
	c->opts.user = c->opts.password = NULL;
	resp_reader_limits_default(&c->rd_lim);
	c->rd_lim.bulk_bytes_max = c->opts.reply_bytes_max;
	c->rd_lim.buffer_bytes_max = c->opts.reply_bytes_max;
	c->conn.tls_ctx = client_tls_ctx_new(&c->opts, &rc, errmsg, CONCORD_CLIENT_ERRMSG_SIZE);
	if (rc != CONCORD_OK) {
		free(c);
		return rc;
	}
	client_conn_init(&c->conn);
	wire_buf_init(&c->req, WIRE_BUF_BYTES_LIMIT);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
	         (uint64_t)(uintptr_t)c;
	if (c->rng == 0) {
		c->rng = 1;
	}
	/* Spread many clients with the same list over its endpoints. */
	c->cur = (uint32_t)(c->rng % c->n_eps);
	*out = c;
	return CONCORD_OK;
}

void concord_client_free(struct concord_client *c)
{
	if (c == NULL) {
		return;
	}
	if (c->session_open && client_conn_is_open(&c->conn)) {
		/* Best effort: the session would expire on its own anyway. */
		char id[24];
		snprintf(id, sizeof(id), "%" PRIu64, c->session_id);
		wire_buf_reset(&c->req);
		resp_write_array(&c->req, 3);
		resp_write_bulk(&c->req, "CONCORD.SESSION", 15);
		resp_write_bulk(&c->req, "CLOSE", 5);
		resp_write_bulk(&c->req, id, strlen(id));
		const struct resp_value *v = NULL;
		char msg[64];
		if (c->req.err == 0) {
			(void)client_conn_roundtrip(&c->conn, c->req.data, c->req.len,
			                            client_now_ms() + 200, &v, msg, sizeof(msg));
		}
	}
	client_conn_close(&c->conn);
	client_tls_ctx_free(c->conn.tls_ctx);
	wire_buf_free(&c->req);
	if (c->password != NULL) {
		memset(c->password, 0, strlen(c->password));
		free(c->password);
	}
	free(c);
}

const char *concord_client_errmsg(const struct concord_client *c)
{
	return c->errmsg;
}

const char *concord_client_endpoint(const struct concord_client *c)
{
	return c->endpoint;
}

/* ----------------------------------------------------------------------------------
 * Replies
 */

int client_unexpected(struct concord_client *c, const char *cmd, const struct resp_value *v)
{
	if (v->type == RESP_ERROR) {
		return client_fail(c, CONCORD_ESERVER, "%s: %.*s", cmd,
		                   (int)(v->len > 200 ? 200 : v->len), v->str);
	}
	return client_fail(c, CONCORD_EPROTO, "%s: unexpected reply of type %d from %s", cmd,
	                   (int)v->type, c->endpoint);
}

char *client_dup(const char *s, size_t len)
{
	char *p = malloc(len + 1);
	if (p == NULL) {
		return NULL;
	}
	if (len > 0) {
		memcpy(p, s, len);
	}
	p[len] = '\0';
	return p;
}

void concord_reply_free(struct concord_reply *r)
{
	if (r == NULL) {
		return;
	}
	free(r->str);
	for (size_t i = 0; i < r->n; i++) {
		concord_reply_free(&r->elems[i]);
	}
	free(r->elems);
	memset(r, 0, sizeof(*r));
}

/* Deep copy of v into *r (zeroed first). Depth is bounded by the reader's limit. */
static int client_reply_copy(struct concord_reply *r, const struct resp_value *v)
{
	memset(r, 0, sizeof(*r));
	switch (v->type) {
	case RESP_SIMPLE:
	case RESP_ERROR:
	case RESP_BULK:
		r->type = v->type == RESP_SIMPLE  ? CONCORD_REPLY_STATUS
		          : v->type == RESP_ERROR ? CONCORD_REPLY_ERROR
		                                  : CONCORD_REPLY_STRING;
		r->str = client_dup(v->str, v->len);
		if (r->str == NULL) {
			return CONCORD_ENOMEM;
		}
		r->len = v->len;
		return CONCORD_OK;
	case RESP_INTEGER:
		r->type = CONCORD_REPLY_INTEGER;
		r->integer = v->integer;
		return CONCORD_OK;
	case RESP_NULL:
	case RESP_NULL_ARRAY:
		r->type = CONCORD_REPLY_NIL;
		return CONCORD_OK;
	case RESP_ARRAY:
		r->type = CONCORD_REPLY_ARRAY;
		if (v->n == 0) {
			return CONCORD_OK;
		}
		r->elems = calloc(v->n, sizeof(*r->elems));
		if (r->elems == NULL) {
			return CONCORD_ENOMEM;
		}
		r->n = v->n;
		for (size_t i = 0; i < v->n; i++) {
			int rc = client_reply_copy(&r->elems[i], &v->elems[i]);
			if (rc != CONCORD_OK) {
				return rc;
			}
		}
		return CONCORD_OK;
	}
	return CONCORD_EPROTO;
}

/* ----------------------------------------------------------------------------------
 * Commands as data: how a raw command may be retried.
 */

static const char *const client_read_cmds[] = {
    "GET",    "MGET",        "EXISTS",  "STRLEN",  "SCAN",           "KEYS",
    "DBSIZE", "TYPE",        "TTL",     "PTTL",    "PING",           "ECHO",
    "INFO",   "CONCORD.GET", "CLUSTER", "COMMAND", "CONCORD.STATUS", "CONCORD.RANGE",
};
static const char *const client_write_cmds[] = {
    "SET",    "SETNX", "DEL",    "UNLINK", "INCR",    "DECR",    "INCRBY",           "DECRBY",
    "APPEND", "MSET",  "MSETNX", "CAS",    "CAS.REV", "CAS.DEL", "CONCORD.DELRANGE", "CONCORD.TXN",
};

static bool client_name_in(const char *name, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(list[i]) == len && strncasecmp(list[i], name, len) == 0) {
			return true;
		}
	}
	return false;
}

static enum client_kind client_kind_of(const char *name, size_t len)
{
	if (client_name_in(name, len, client_read_cmds,
	                   sizeof(client_read_cmds) / sizeof(client_read_cmds[0]))) {
		return CLIENT_READ;
	}
	if (client_name_in(name, len, client_write_cmds,
	                   sizeof(client_write_cmds) / sizeof(client_write_cmds[0]))) {
		return CLIENT_WRITE;
	}
	return CLIENT_OTHER;
}

int client_run(struct concord_client *c, enum client_kind kind, const char *const *argv,
               const size_t *lens, size_t n, const struct resp_value **out)
{
	struct client_args a = {argv, lens, n};
	return client_call(c, kind, &a, out);
}

int concord_client_command(struct concord_client *c, const char *const *argv,
                           const size_t *argv_len, size_t argc, struct concord_reply *reply)
{
	memset(reply, 0, sizeof(*reply));
	if (argc == 0 || argv == NULL) {
		return client_fail(c, CONCORD_EINVAL, "empty command");
	}
	if (argc > RESP_ARGS_LIMIT) {
		return client_fail(c, CONCORD_EINVAL, "too many arguments");
	}
	size_t *lens = NULL;
	if (argv_len == NULL) {
		lens = malloc(argc * sizeof(*lens));
		if (lens == NULL) {
			return client_fail(c, CONCORD_ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < argc; i++) {
			lens[i] = strlen(argv[i]);
		}
		argv_len = lens;
	}
	enum client_kind kind = client_kind_of(argv[0], argv_len[0]);
	const struct resp_value *v = NULL;
	int rc = client_run(c, kind, argv, argv_len, argc, &v);
	free(lens);
	if (rc != CONCORD_OK) {
		return rc;
	}
	rc = client_reply_copy(reply, v);
	if (rc != CONCORD_OK) {
		concord_reply_free(reply);
		return client_fail(c, rc, "copying the reply: %s", concord_strerror(rc));
	}
	return CONCORD_OK;
}

int concord_client_next_reply(struct concord_client *c, uint32_t timeout_ms,
                              struct concord_reply *reply, bool *got)
{
	memset(reply, 0, sizeof(*reply));
	*got = false;
	c->errmsg[0] = '\0';
	const struct resp_value *v = NULL;
	char msg[160];
	int rc = client_conn_next(&c->conn, client_now_ms() + timeout_ms, &v, msg, sizeof(msg));
	if (rc == CONN_EIDLE) {
		return CONCORD_OK;
	}
	if (rc == CONN_EPROTO) {
		return client_fail(c, CONCORD_EPROTO, "%s: %s", c->endpoint, msg);
	}
	if (rc != CONN_OK) {
		return client_fail(c, CONCORD_EUNAVAILABLE, "%s: %s", c->endpoint, msg);
	}
	rc = client_reply_copy(reply, v);
	if (rc != CONCORD_OK) {
		concord_reply_free(reply);
		return client_fail(c, rc, "copying the reply: %s", concord_strerror(rc));
	}
	*got = true;
	return CONCORD_OK;
}
