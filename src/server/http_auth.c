/* http_auth.c: auth and browser safety on the HTTP port: the Origin and Host checks, Basic
 * credentials verified (off the loop unless cached) before a route runs, 401 and 403. */
#include "server/http_impl.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* =================================================================================
 * Browser safety: Origin and Host
 */

/* The host part of "host:port", "[v6]:port" or "host" (brackets kept). */
static size_t host_part(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);
		return rb != NULL ? (size_t)(rb - s) + 1 : len;
	}
	const char *colon = memchr(s, ':', len);
	return colon != NULL ? (size_t)(colon - s) : len;
}

static bool host_is(const char *h, size_t len, const char *addr)
{
	size_t n = host_part(addr, strlen(addr));
	return n == len && n > 0 && strncasecmp(h, addr, n) == 0;
}

/* Whether host name h[0..len) is this node's: loopback names, a member's address, or one
 * of --allowed-hosts. */
static bool host_allowed(const struct server *sv, const char *h, size_t len)
{
	static const char *const local[] = {"localhost", "127.0.0.1", "[::1]"};
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if (host_is(h, len, local[i]))
			return true;
	struct node_status st;
	node_status(sv->node, &st);
	for (uint32_t i = 0; i < st.conf.n_voters + st.conf.n_learners; i++) {
		raft_id id = i < st.conf.n_voters ? st.conf.voters[i]
		                                  : st.conf.learners[i - st.conf.n_voters];
		const struct node_member *m = node_member(sv->node, id);
		if (m != NULL && (host_is(h, len, m->http) || host_is(h, len, m->client)))
			return true;
	}
	const char *p = sv->auth.allowed_hosts;
	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == len && strncasecmp(p, h, n) == 0)
			return true;
		p += n + (comma != NULL ? 1 : 0);
	}
	return false;
}

/* Whether the request changes state or reaches an admin route. */
static bool request_sensitive(const struct http_request *q)
{
	static const char *const admin[] = {"/v1/admin/", "/v1/members", "/v1/auth/"};
	if (q->method != HTTP_METHOD_GET && q->method != HTTP_METHOD_HEAD)
		return true;
	for (size_t i = 0; i < sizeof(admin) / sizeof(admin[0]); i++)
		if (q->path_len >= strlen(admin[i]) &&
		    memcmp(q->path, admin[i], strlen(admin[i])) == 0)
			return true;
	return false;
}

/* 403 for a state-changing request from a foreign page (Origin) or a name this node does
 * not answer to (Host: DNS rebinding). True if answered. */
static bool browser_refused(struct hconn *c)
{
	struct server *sv = c->s->sv;
	const struct http_request *q = &c->req;
	if (!request_sensitive(q))
		return false;
	const struct http_header *host = http_request_header(q, "Host");
	if (host != NULL &&
	    !host_allowed(sv, host->value, host_part(host->value, host->value_len))) {
		sv->auth.browser_refused++;
		respond_error(c, 403,
		              "refused: the Host header names a host this node does not answer to "
		              "(add it with --allowed-hosts); state-changing and admin requests "
		              "are refused so that DNS rebinding cannot reach them");
		return true;
	}
	const struct http_header *origin = http_request_header(q, "Origin");
	if (origin == NULL)
		return false;
	const char *o = origin->value;
	size_t n = origin->value_len;
	const char *sep = n > 3 ? strstr(o, "://") : NULL;
	if (sep != NULL && (size_t)(sep - o) + 3 < n) {
		o = sep + 3;
		n -= (size_t)(sep - origin->value) + 3;
		if (host_allowed(sv, o, host_part(o, n)))
			return false;
	}
	sv->auth.browser_refused++;
	respond_error(c, 403,
	              "refused: a cross-site request (the Origin is not this node's); "
	              "state-changing and admin requests are only taken from the node's own "
	              "page or from clients that send no Origin");
	return true;
}

/* =================================================================================
 * Basic auth
 */

static bool path_is(const struct http_request *q, const char *p)
{
	return q->path_len == strlen(p) && memcmp(q->path, p, q->path_len) == 0;
}

static bool path_under(const struct http_request *q, const char *p)
{
	return q->path_len >= strlen(p) && memcmp(q->path, p, strlen(p)) == 0;
}

/* Routes open to anyone: the page, health. */
static bool route_open(const struct http_request *q)
{
	return q->method == HTTP_METHOD_GET &&
	       (path_is(q, "/") || path_is(q, "/index.html") || path_is(q, "/healthz"));
}

struct range_check {
	const struct kv *kv;
	const struct auth_user *u;
	enum auth_mode mode;
};

static bool range_allowed(void *arg, const struct kv_range *r)
{
	const struct range_check *rc = arg;
	return auth_allows_range(rc->kv, rc->u, r, rc->mode);
}

/* NULL if user `u` may make the request, else what it may not do. */
static const char *request_denied(const struct kv *kv, const struct auth_user *u,
                                  const struct http_request *q)
{
	if (auth_user_is_root(u))
		return NULL;
	bool read = q->method == HTTP_METHOD_GET || q->method == HTTP_METHOD_HEAD;
	if (path_under(q, "/v1/kv/")) {
		const char *key = q->path + 7;
		return auth_allows(kv, u, key, q->path_len - 7,
		                   read ? AUTH_MODE_READ : AUTH_MODE_READWRITE)
		           ? NULL
		           : (read ? "read this key" : "write this key");
	}
	if (path_is(q, "/v1/kv")) {
		/* A listing or range read, or a range delete: one permission must cover the
		 * whole range (the prefix, or key to range_end). */
		struct range_check rc = {kv, u, read ? AUTH_MODE_READ : AUTH_MODE_READWRITE};
		if (http_range_check(q, range_allowed, &rc))
			return NULL;
		return read ? "read every key of this range (or prefix)"
		            : "delete every key of this range (or prefix)";
	}
	if (path_is(q, "/v1/lease/grant") || path_is(q, "/v1/lease/keepalive"))
		return NULL; /* no key; revoke deletes keys: readwrite on every key, below */
	if (path_under(q, "/v1/lease/"))
		return auth_allows(kv, u, "", 0, read ? AUTH_MODE_READ : AUTH_MODE_READWRITE)
		           ? NULL
		           : "use this lease route: it needs read (revoke: readwrite) on every key";
	if (path_under(q, "/v1/sessions") ||
	    (read && (path_is(q, "/v1/cluster") || path_is(q, "/metrics") ||
	              path_is(q, "/v1/auth/whoami") || path_is(q, "/v1/auth/status"))))
		return NULL;
	return "use this route: it needs the root role";
}

static void respond_unauthorized(struct hconn *c, const char *why)
{
	c->s->sv->auth.denied++;
	static const char value[] = "Basic realm=\"concord\", charset=\"UTF-8\"";
	struct http_header h = {"WWW-Authenticate", 16, value, sizeof(value) - 1};
	struct wire_buf b;
	wire_buf_init(&b, 1024);
	wire_buf_printf(&b, "{\"error\": \"%s\"}", why);
	respond_json(c, 401, &b, &h, 1);
	wire_buf_free(&b);
}

/* The user is verified: 403 or the route. */
static void authorized(struct hconn *c, const struct auth_user *u)
{
	struct server *sv = c->s->sv;
	snprintf(c->user, sizeof(c->user), "%s", u->name);
	c->auth_failures = 0;
	const char *why = request_denied(node_kv(sv->node), u, &c->req);
	if (why == NULL) {
		http_route_table(c);
		return;
	}
	sv->auth.denied++;
	respond_error(c, 403, "forbidden: user %s has no permission to %s", u->name, why);
}

static void refused(struct hconn *c)
{
	if (++c->auth_failures >= AUTH_FAILURES_MAX)
		c->close_after = true; /* rate limit: the connection closes */
	respond_unauthorized(c, "wrong user name or password");
}

static void on_verified(void *arg, bool ok, const struct auth_user *u)
{
	struct hconn *c = arg;
	c->busy = false; /* the reference http_wait took is still ours */
	if (!c->conn.closing) {
		if (ok)
			authorized(c, u);
		else
			refused(c);
	}
	if (c->busy) { /* the route waits for something of its own */
		conn_unref(&c->conn);
		return;
	}
	c->busy = true;
	http_done(c);
}

/* "Basic base64(user:password)" into user and password (NUL-terminated). */
static bool basic_credentials(const struct http_header *h, char *user, size_t ucap, char *pw,
                              size_t *pw_len)
{
	if (h == NULL || h->value_len < 7 || strncasecmp(h->value, "Basic ", 6) != 0)
		return false;
	char plain[AUTH_NAME_MAX + AUTH_PASSWORD_MAX + 2];
	size_t n = 0;
	if (json_base64_decode(h->value + 6, h->value_len - 6, plain, sizeof(plain), &n) != 0)
		return false;
	const char *colon = memchr(plain, ':', n);
	if (colon == NULL || (size_t)(colon - plain) >= ucap)
		return false;
	size_t ulen = (size_t)(colon - plain);
	memcpy(user, plain, ulen);
	user[ulen] = '\0';
	*pw_len = n - ulen - 1;
	memcpy(pw, colon + 1, *pw_len);
	return true;
}

bool http_auth_gate(struct hconn *c)
{
	struct server *sv = c->s->sv;
	c->user[0] = '\0';
	if (browser_refused(c))
		return false;
	if (!auth_enabled(node_kv(sv->node)) || route_open(&c->req))
		return true;
	char user[AUTH_NAME_MAX + 1], pw[AUTH_PASSWORD_MAX + 1];
	size_t pw_len = 0;
	if (!basic_credentials(http_request_header(&c->req, "Authorization"), user, sizeof(user),
	                       pw, &pw_len)) {
		respond_unauthorized(c, "authentication required: HTTP Basic credentials of a "
		                        "Concord user");
		return false;
	}
	if (strcmp(user, AUTH_MEMBER_USER) == 0) {
		/* Another member gathering the page's status (peer_status.c): those two reads
		 * only. */
		bool ok = auth_member_check(node_kv(sv->node), user, strlen(user), pw, pw_len);
		OPENSSL_cleanse(pw, sizeof(pw));
		if (!ok) {
			sv->auth.failures++;
			refused(c);
			return false;
		}
		if (c->req.method == HTTP_METHOD_GET &&
		    (path_is(&c->req, "/v1/cluster") || path_is(&c->req, "/v1/admin/faults"))) {
			snprintf(c->user, sizeof(c->user), "%s", AUTH_MEMBER_USER);
			return true;
		}
		sv->auth.denied++;
		respond_error(c, 403,
		              "forbidden: the members' identity may only read the status "
		              "and the faults");
		return false;
	}
	struct auth_user u;
	switch (auth_verify(sv, user, strlen(user), pw, pw_len, &u, on_verified, c)) {
	case AUTH_VERIFY_OK:
		authorized(c, &u);
		break;
	case AUTH_VERIFY_FAIL:
		refused(c);
		break;
	case AUTH_VERIFY_BUSY:
		respond_retry(c, "{\"error\": \"too many password checks in progress; retry\"}");
		break;
	case AUTH_VERIFY_PENDING:
		http_wait(c);
		break;
	}
	memset(pw, 0, sizeof(pw));
	return false;
}
