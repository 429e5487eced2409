/* call.c: one command against the cluster: leader discovery, back-off, retries, sessions. */
#include "internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int client_fail(struct concord_client *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

void client_say(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* ----------------------------------------------------------------------------------
 * Error replies
 */

/* Whether the error text `s` (len bytes) starts with the word `w`. */
static bool call_word_is(const char *s, size_t len, const char *w)
{
	size_t wl = strlen(w);
	return len >= wl && strncasecmp(s, w, wl) == 0 && (len == wl || s[wl] == ' ');
}

enum client_reply_error client_reply_error_class(const struct resp_value *v)
{
	if (v->type != RESP_ERROR) {
		return CLIENT_RERR_OTHER;
	}
	if (call_word_is(v->str, v->len, "MOVED")) {
		return CLIENT_RERR_MOVED;
	}
	if (call_word_is(v->str, v->len, "CLUSTERDOWN") ||
	    call_word_is(v->str, v->len, "TRYAGAIN") || call_word_is(v->str, v->len, "LOADING")) {
		return CLIENT_RERR_CLUSTERDOWN;
	}
	if (call_word_is(v->str, v->len, "UNKNOWN")) {
		return CLIENT_RERR_UNKNOWN;
	}
	if (call_word_is(v->str, v->len, "SESSION")) {
		return CLIENT_RERR_SESSION;
	}
	return CLIENT_RERR_OTHER;
}

/* The address of "MOVED <slot> <host:port>": its last word. */
static int call_moved_target(const struct resp_value *v, struct client_endpoint *ep, char *errmsg,
                             size_t errmsg_size)
{
	size_t end = v->len;
	while (end > 0 && v->str[end - 1] == ' ') {
		end--;
	}
	size_t start = end;
	while (start > 0 && v->str[start - 1] != ' ') {
		start--;
	}
	if (start == 0 || start == end) {
		snprintf(errmsg, errmsg_size, "a MOVED without an address");
		return CONCORD_EPROTO;
	}
	return client_endpoint_parse(v->str + start, end - start, ep, errmsg, errmsg_size);
}

/* ----------------------------------------------------------------------------------
 * Endpoints and back-off
 */

/* Index of ep in the list, adding it (over the oldest learnt one when full). */
static uint32_t call_endpoint_index(struct concord_client *c, const struct client_endpoint *ep)
{
	for (uint32_t i = 0; i < c->n_eps; i++) {
		if (client_endpoint_equal(&c->eps[i], ep)) {
			return i;
		}
	}
	if (c->n_eps < CONCORD_CLIENT_ENDPOINTS_MAX) {
		c->eps[c->n_eps] = *ep;
		return c->n_eps++;
	}
	/* Full: learnt addresses rotate through the slots after the listed ones; with a
	 * full user list, the last listed slot is borrowed. */
	uint32_t slot = c->n_listed < CONCORD_CLIENT_ENDPOINTS_MAX
	                    ? c->n_listed + (uint32_t)(c->rng % (c->n_eps - c->n_listed))
	                    : c->n_eps - 1;
	c->eps[slot] = *ep;
	return slot;
}

static void call_next_endpoint(struct concord_client *c)
{
	client_conn_close(&c->conn);
	c->cur = (c->cur + 1) % c->n_eps;
}

static uint64_t call_rand(struct concord_client *c)
{
	/* xorshift64* */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1DULL;
}

/* Sleeps for the back-off after `failures` failures in a row: backoff_min_ms doubled
 * per failure up to backoff_max_ms, the upper half of it at random, and never past the
 * deadline. */
static void call_backoff(struct concord_client *c, uint32_t failures, int64_t deadline_ms)
{
	uint64_t ms = c->opts.backoff_min_ms;
	for (uint32_t i = 1; i < failures && ms < c->opts.backoff_max_ms; i++) {
		ms *= 2;
	}
	if (ms > c->opts.backoff_max_ms) {
		ms = c->opts.backoff_max_ms;
	}
	ms = ms / 2 + call_rand(c) % (ms / 2 + 1);
	int64_t left = deadline_ms - client_now_ms();
	client_sleep_ms((int64_t)ms < left ? (int64_t)ms : left);
}

/* ----------------------------------------------------------------------------------
 * Requests
 */

/* Encodes [prefix...] + a's arguments as a RESP array into c->req. */
static int call_encode(struct concord_client *c, const char *const *pre, size_t npre,
                       const struct client_args *a)
{
	wire_buf_reset(&c->req);
	resp_write_array(&c->req, npre + a->argc);
	for (size_t i = 0; i < npre; i++) {
		resp_write_bulk(&c->req, pre[i], strlen(pre[i]));
	}
	for (size_t i = 0; i < a->argc; i++) {
		resp_write_bulk(&c->req, a->argv[i], a->lens[i]);
	}
	if (c->req.err != 0) {
		return client_fail(c, c->req.err == WIRE_ENOMEM ? CONCORD_ENOMEM : CONCORD_EINVAL,
		                   "request too large to encode");
	}
	return CONCORD_OK;
}

static int64_t call_min(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

int client_open(struct concord_client *c, const struct client_endpoint *ep, int64_t deadline_ms,
                char *msg, size_t msg_size)
{
	c->auth_refused = false;
	int rc = client_conn_open(&c->conn, ep, &c->rd_lim, deadline_ms, msg, msg_size);
	if (rc != CONN_OK || c->password == NULL) {
		return rc;
	}
	struct wire_buf b;
	wire_buf_init(&b, 4096);
	const char *user = c->user[0] != '\0' ? c->user : "default";
	resp_write_array(&b, 3);
	resp_write_bulk(&b, "AUTH", 4);
	resp_write_bulk(&b, user, strlen(user));
	resp_write_bulk(&b, c->password, strlen(c->password));
	const struct resp_value *v = NULL;
	rc = client_conn_roundtrip(&c->conn, b.data, b.len, deadline_ms, &v, msg, msg_size);
	wire_buf_free(&b);
	if (rc != CONN_OK) {
		client_conn_close(&c->conn);
		return CONN_ECONNECT;
	}
	if (v->type == RESP_ERROR) {
		snprintf(msg, msg_size, "AUTH as %s refused: %.*s", user,
		         (int)(v->len < 120 ? v->len : 120), v->str);
		c->auth_refused = true;
		client_conn_close(&c->conn);
		return CONN_ECONNECT;
	}
	return CONN_OK;
}

/* Connects c->conn to the current endpoint if it is not connected. */
static int call_connect(struct concord_client *c, int64_t deadline_ms, char *why, size_t why_size)
{
	client_endpoint_format(&c->eps[c->cur], c->endpoint, sizeof(c->endpoint));
	if (client_conn_is_open(&c->conn)) {
		if (client_endpoint_equal(&c->conn.ep, &c->eps[c->cur])) {
			return CONN_OK;
		}
		client_conn_close(&c->conn); /* left open to another node by client_call_node */
	}
	int64_t until = call_min(deadline_ms, client_now_ms() + c->opts.connect_timeout_ms);
	char msg[160];
	int rc = client_open(c, &c->eps[c->cur], until, msg, sizeof(msg));
	if (rc != CONN_OK) {
		client_say(why, why_size, "%s: %s", c->endpoint, msg);
	}
	return rc;
}

int client_call(struct concord_client *c, enum client_kind kind, const struct client_args *a,
                const struct resp_value **out)
{
	const int64_t t0 = client_now_ms();
	const int64_t deadline = t0 + c->opts.deadline_ms;
	const bool sessioned = kind == CLIENT_WRITE && !c->opts.no_session;
	bool maybe_applied = false; /* an attempt may have reached the state machine */
	uint64_t seq = 0;           /* this write's sequence number; 0: not given yet */
	uint32_t failures = 0;      /* in a row, for the back-off */
	char why[CONCORD_CLIENT_ERRMSG_SIZE] = "no attempt made";
	/* The last answer a server gave, kept apart from `why`: a timeout at the end would
	 * otherwise hide why the servers refused (e.g. CLUSTERDOWN). */
	char said[CONCORD_CLIENT_ERRMSG_SIZE] = "";
	c->errmsg[0] = '\0';

	for (uint32_t attempt = 0;; attempt++) {
		if (attempt >= c->opts.retries_max || client_now_ms() >= deadline) {
			int64_t spent = client_now_ms() - t0;
			if (maybe_applied) {
				/* The session might still hold this write as outstanding: the
				 * next write starts a new one. */
				c->session_open = false;
				return client_fail(
				    c, CONCORD_EUNKNOWN,
				    "gave up after %" PRIu32 " attempts in %" PRId64
				    " ms; the write may have been applied; last: %s%s%s",
				    attempt, spent, why, said[0] ? "; last answer: " : "", said);
			}
			return client_fail(
			    c, CONCORD_EUNAVAILABLE,
			    "gave up after %" PRIu32 " attempts in %" PRId64 " ms; last: %s%s%s",
			    attempt, spent, why, said[0] ? "; last answer: " : "", said);
		}
		if (failures > 0) {
			call_backoff(c, failures, deadline);
			if (client_now_ms() >= deadline) {
				continue;
			}
		}
		if (call_connect(c, deadline, why, sizeof(why)) != CONN_OK) {
			if (c->auth_refused) {
				return client_fail(c, CONCORD_ESERVER, "%s", why);
			}
			call_next_endpoint(c);
			failures++;
			continue;
		}

		/* The request: the session's opening, the write under the session, or the
		 * command as it is. */
		const bool opening = sessioned && !c->session_open;
		int rc;
		if (opening) {
			static const char *const open_argv[] = {"CONCORD.SESSION"};
			static const size_t open_len[] = {15};
			struct client_args oa = {open_argv, open_len, 1};
			rc = call_encode(c, NULL, 0, &oa);
		} else if (sessioned) {
			if (seq == 0) {
				seq = ++c->session_seq;
			}
			char id[24], sq[24];
			snprintf(id, sizeof(id), "%" PRIu64, c->session_id);
			snprintf(sq, sizeof(sq), "%" PRIu64, seq);
			const char *pre[] = {"CONCORD.EXEC", id, sq};
			rc = call_encode(c, pre, 3, a);
		} else {
			rc = call_encode(c, NULL, 0, a);
		}
		if (rc != CONCORD_OK) {
			return rc;
		}

		const struct resp_value *v = NULL;
		int64_t until = call_min(deadline, client_now_ms() + c->opts.attempt_timeout_ms);
		char msg[160];
		rc = client_conn_roundtrip(&c->conn, c->req.data, c->req.len, until, &v, msg,
		                           sizeof(msg));
		if (rc == CONN_ECONNECT || rc == CONN_ESEND) {
			client_say(why, sizeof(why), "%s: %s", c->endpoint, msg);
			call_next_endpoint(c);
			failures++;
			continue;
		}
		if (rc == CONN_EPROTO) {
			return client_fail(c, CONCORD_EPROTO, "%s: %s%s", c->endpoint, msg,
			                   kind == CLIENT_READ || opening
			                       ? ""
			                       : " (the command may have been applied)");
		}
		if (rc == CONN_ERECV) {
			client_say(why, sizeof(why), "%s: %s", c->endpoint, msg);
			if (!opening && kind == CLIENT_OTHER) {
				return client_fail(c, CONCORD_EUNKNOWN,
				                   "%s; the command may have been applied", why);
			}
			if (!opening && kind == CLIENT_WRITE) {
				maybe_applied = true;
				if (!sessioned) {
					return client_fail(c, CONCORD_EUNKNOWN,
					                   "%s; the write may have been applied "
					                   "(sessions are off)",
					                   why);
				}
			}
			call_next_endpoint(c);
			failures++;
			continue;
		}

		switch (client_reply_error_class(v)) {
		case CLIENT_RERR_MOVED: {
			struct client_endpoint ep;
			char pmsg[160];
			if (call_moved_target(v, &ep, pmsg, sizeof(pmsg)) != CONCORD_OK) {
				return client_fail(
				    c, CONCORD_EPROTO, "%s: bad redirection '%.*s': %s",
				    c->endpoint, (int)call_min((int64_t)v->len, 120), v->str, pmsg);
			}
			client_say(why, sizeof(why), "%s: %.*s", c->endpoint,
			           (int)call_min((int64_t)v->len, 160), v->str);
			uint32_t to = call_endpoint_index(c, &ep);
			client_conn_close(&c->conn);
			if (to == c->cur) {
				/* Sent back to the node that sent us away: its view is stale. */
				failures++;
			} else {
				failures = 0;
			}
			c->cur = to;
			continue;
		}
		case CLIENT_RERR_CLUSTERDOWN:
			client_say(why, sizeof(why), "%s: %.*s", c->endpoint,
			           (int)call_min((int64_t)v->len, 160), v->str);
			snprintf(said, sizeof(said), "%s", why);
			call_next_endpoint(c);
			failures++;
			continue;
		case CLIENT_RERR_UNKNOWN:
			client_say(why, sizeof(why), "%s: %.*s", c->endpoint,
			           (int)call_min((int64_t)v->len, 160), v->str);
			snprintf(said, sizeof(said), "%s", why);
			if (opening || kind == CLIENT_READ) {
				failures++;
				continue;
			}
			if (!sessioned) {
				return client_fail(c, CONCORD_EUNKNOWN, "%s", why);
			}
			maybe_applied = true;
			failures++;
			continue;
		case CLIENT_RERR_SESSION:
			client_say(why, sizeof(why), "%s: %.*s", c->endpoint,
			           (int)call_min((int64_t)v->len, 160), v->str);
			if (!sessioned || opening) {
				break; /* not ours to handle: the caller sees the error */
			}
			c->session_open = false;
			if (maybe_applied) {
				return client_fail(c, CONCORD_EUNKNOWN,
				                   "the session expired while the write was being "
				                   "retried; it may have been applied (%s)",
				                   why);
			}
			seq = 0; /* a number of the new session */
			continue;
		case CLIENT_RERR_OTHER:
			break;
		}

		if (opening) {
			if (v->type != RESP_INTEGER || v->integer <= 0) {
				if (v->type == RESP_ERROR) {
					return client_fail(
					    c, CONCORD_ESERVER, "%s: cannot open a session: %.*s",
					    c->endpoint, (int)call_min((int64_t)v->len, 160),
					    v->str);
				}
				return client_fail(c, CONCORD_EPROTO,
				                   "%s: CONCORD.SESSION did not answer an id",
				                   c->endpoint);
			}
			c->session_open = true;
			c->session_id = (uint64_t)v->integer;
			c->session_seq = 0;
			failures = 0;
			continue;
		}
		*out = v;
		return CONCORD_OK;
	}
}

int client_call_node(struct concord_client *c, const struct client_endpoint *ep,
                     enum client_kind kind, const struct client_args *a,
                     const struct resp_value **out)
{
	const int64_t t0 = client_now_ms();
	const int64_t deadline = t0 + c->opts.deadline_ms;
	char why[CONCORD_CLIENT_ERRMSG_SIZE] = "no attempt made";
	char said[CONCORD_CLIENT_ERRMSG_SIZE] = ""; /* the last answer the node gave */
	uint32_t failures = 0;
	c->errmsg[0] = '\0';
	/* The handle's connection goes to this node for the call; its usual target is
	 * found again by the next call (which starts from the same index). */
	if (!client_conn_is_open(&c->conn) || !client_endpoint_equal(&c->conn.ep, ep)) {
		client_conn_close(&c->conn);
	}
	client_endpoint_format(ep, c->endpoint, sizeof(c->endpoint));
	int rc = call_encode(c, NULL, 0, a);
	if (rc != CONCORD_OK) {
		return rc;
	}
	for (uint32_t attempt = 0;; attempt++) {
		if (attempt >= c->opts.retries_max || client_now_ms() >= deadline) {
			return client_fail(c, CONCORD_EUNAVAILABLE,
			                   "gave up after %" PRIu32 " attempts in %" PRId64
			                   " ms; last: %s%s%s",
			                   attempt, client_now_ms() - t0, why,
			                   said[0] ? "; last answer: " : "", said);
		}
		if (failures > 0) {
			call_backoff(c, failures, deadline);
			if (client_now_ms() >= deadline) {
				continue;
			}
		}
		char msg[160];
		if (!client_conn_is_open(&c->conn)) {
			int64_t until =
			    call_min(deadline, client_now_ms() + c->opts.connect_timeout_ms);
			if (client_open(c, ep, until, msg, sizeof(msg)) != CONN_OK) {
				if (c->auth_refused) {
					return client_fail(c, CONCORD_ESERVER, "%s: %s",
					                   c->endpoint, msg);
				}
				client_say(why, sizeof(why), "%s: %s", c->endpoint, msg);
				failures++;
				continue;
			}
		}
		const struct resp_value *v = NULL;
		int64_t until = call_min(deadline, client_now_ms() + c->opts.attempt_timeout_ms);
		rc = client_conn_roundtrip(&c->conn, c->req.data, c->req.len, until, &v, msg,
		                           sizeof(msg));
		if (rc == CONN_EPROTO) {
			return client_fail(c, CONCORD_EPROTO, "%s: %s", c->endpoint, msg);
		}
		if (rc == CONN_ERECV && kind != CLIENT_READ) {
			return client_fail(c, CONCORD_EUNKNOWN,
			                   "%s: %s; the command may have been applied", c->endpoint,
			                   msg);
		}
		if (rc != CONN_OK) {
			client_say(why, sizeof(why), "%s: %s", c->endpoint, msg);
			failures++;
			continue;
		}
		if (client_reply_error_class(v) == CLIENT_RERR_CLUSTERDOWN) {
			client_say(why, sizeof(why), "%s: %.*s", c->endpoint,
			           (int)call_min((int64_t)v->len, 160), v->str);
			snprintf(said, sizeof(said), "%s", why);
			failures++;
			continue;
		}
		*out = v;
		return CONCORD_OK;
	}
}
