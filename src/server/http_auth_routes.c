/* http_auth_routes.c: the /v1/auth routes: status, whoami, enable and disable, users and roles
 * (the same writes as CONCORD.USER/ROLE/AUTH, auth_write.c). */
#include "server/http_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_auth_write_done(void *arg, int status, const struct kv_reply *reply)
{
	struct hconn *c = arg;
	if (!c->conn.closing) {
		if (status != NODE_OK)
			respond_error(c, status == NODE_ELOST ? 503 : 504, "%s",
			              node_strerror(status));
		else if (!reply->succeeded && c->op == AUTH_REPLY_OK_OR_NULL)
			respond_error(c, 409, "the record changed meanwhile; retry");
		else
			respond_empty_object(c, 200);
	}
	http_done(c);
}

typedef int (*auth_build_fn)(const struct kv *kv, size_t argc, const struct resp_arg *argv,
                             struct auth_write *w);

/* Builds the write from argv (as the RESP command) and proposes it. */
static void auth_write(struct hconn *c, auth_build_fn fn, size_t argc, const struct resp_arg *argv)
{
	struct server *sv = c->s->sv;
	if (http_not_leader(c))
		return;
	struct auth_write w;
	memset(&w, 0, sizeof(w));
	if (fn(node_kv(sv->node), argc, argv, &w) != 0) {
		const char *msg = strncmp(w.err, "ERR ", 4) == 0 ? w.err + 4 : w.err;
		respond_error(c, strstr(msg, "exists") != NULL ? 409 : 400, "%s", msg);
		free(w.scratch);
		return;
	}
	c->op = (int)w.reply;
	int rv = node_write_reserved(sv->node, &w.cmd, on_auth_write_done, c);
	free(w.scratch);
	if (rv == 0) {
		http_wait(c);
		return;
	}
	c->op = OP_NONE;
	respond_error(c, 503, "%s", node_strerror(rv));
}

static struct resp_arg arg_str(const char *s)
{
	return (struct resp_arg){.data = (char *)s, .len = strlen(s)};
}

static struct resp_arg arg_bytes(const char *s, size_t len)
{
	return (struct resp_arg){.data = (char *)s, .len = len};
}

/* The next path segment of [*p, end) (up to '/'). */
static struct resp_arg segment(const char **p, const char *end)
{
	const char *s = *p;
	const char *slash = memchr(s, '/', (size_t)(end - s));
	const char *e = slash != NULL ? slash : end;
	*p = slash != NULL ? slash + 1 : end;
	return arg_bytes(s, (size_t)(e - s));
}

/* PUT /v1/auth/users/NAME {"password": "...", "roles": ["r", ...]} */
static void user_put(struct hconn *c, struct resp_arg name)
{
	struct json_doc *doc = NULL;
	if (!request_json(c, &doc))
		return;
	const struct json_value *root = json_doc_root(doc);
	const struct json_value *pw = json_object_get(root, "password");
	const struct json_value *roles = json_object_get(root, "roles");
	struct resp_arg argv[4 + AUTH_ROLES_PER_USER];
	size_t argc = 0;
	argv[argc++] = arg_str("CONCORD.USER");
	argv[argc++] = arg_str("ADD");
	argv[argc++] = name;
	if (pw == NULL || pw->type != JSON_STRING) {
		respond_error(c, 400, "the body needs \"password\": a string");
		json_doc_free(doc);
		return;
	}
	argv[argc++] = arg_bytes(pw->str, pw->len);
	for (const struct json_value *r = roles != NULL && roles->type == JSON_ARRAY ? roles->child
	                                                                             : NULL;
	     r != NULL && argc < sizeof(argv) / sizeof(argv[0]); r = r->next)
		if (r->type == JSON_STRING)
			argv[argc++] = arg_bytes(r->str, r->len);
	auth_write(c, auth_build_user, argc, argv);
	json_doc_free(doc);
}

/* POST /v1/auth/roles/NAME/permissions {"mode": "read"|"readwrite", "prefix": "..."} */
static void role_permission(struct hconn *c, struct resp_arg name, bool grant)
{
	struct json_doc *doc = NULL;
	if (!request_json(c, &doc))
		return;
	const struct json_value *root = json_doc_root(doc);
	const struct json_value *mode = json_object_get(root, "mode");
	const struct json_value *prefix = json_object_get(root, "prefix");
	if (prefix == NULL || prefix->type != JSON_STRING ||
	    (grant && (mode == NULL || mode->type != JSON_STRING))) {
		respond_error(c, 400,
		              "the body needs \"prefix\" (and to grant, \"mode\": read or "
		              "readwrite)");
		json_doc_free(doc);
		return;
	}
	struct resp_arg argv[5] = {arg_str("CONCORD.ROLE"), arg_str(grant ? "GRANT" : "REVOKE"),
	                           name};
	size_t argc = 3;
	if (grant)
		argv[argc++] = arg_bytes(mode->str, mode->len);
	argv[argc++] = arg_bytes(prefix->str, prefix->len);
	auth_write(c, auth_build_role, argc, argv);
	json_doc_free(doc);
}

/* The names under a record prefix as a JSON array member. */
struct names {
	struct json_writer *w;
	size_t plen;
};

static int write_name(void *arg, const struct kv_value *v)
{
	struct names *n = arg;
	json_write_string(n->w, (const char *)v->key + n->plen, v->key_len - n->plen);
	return 0;
}

static void list_names(struct hconn *c, const char *field, const char *prefix, size_t plen)
{
	struct wire_buf b;
	wire_buf_init(&b, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &b);
	json_write_object_begin(&w);
	json_write_key(&w, field);
	json_write_array_begin(&w);
	struct names n = {.w = &w, .plen = plen};
	kv_scan(node_kv(c->s->sv->node), prefix, plen, NULL, 0, 1u << 20, 0, write_name, &n, NULL);
	json_write_array_end(&w);
	json_write_object_end(&w);
	respond_json(c, 200, &b, NULL, 0);
	wire_buf_free(&b);
}

static void route_users(struct hconn *c, const char *p, const char *end)
{
	enum http_method m = c->req.method;
	if (p == end && m == HTTP_METHOD_GET) {
		list_names(c, "users", AUTH_USER_PREFIX, AUTH_USER_PREFIX_LEN);
		return;
	}
	struct resp_arg name = segment(&p, end);
	if (p == end && m == HTTP_METHOD_PUT) {
		user_put(c, name);
	} else if (p == end && m == HTTP_METHOD_DELETE) {
		struct resp_arg argv[] = {arg_str("CONCORD.USER"), arg_str("DEL"), name};
		auth_write(c, auth_build_user, 3, argv);
	} else if (end - p > 6 && memcmp(p, "roles/", 6) == 0 &&
	           (m == HTTP_METHOD_PUT || m == HTTP_METHOD_POST || m == HTTP_METHOD_DELETE)) {
		p += 6;
		struct resp_arg role = segment(&p, end);
		struct resp_arg argv[] = {arg_str("CONCORD.USER"),
		                          arg_str(m == HTTP_METHOD_DELETE ? "REVOKE" : "GRANT"),
		                          name, role};
		auth_write(c, auth_build_user, 4, argv);
	} else {
		respond_error(c, 404, "no such auth route (docs/http.md)");
	}
}

static void route_roles(struct hconn *c, const char *p, const char *end)
{
	enum http_method m = c->req.method;
	if (p == end && m == HTTP_METHOD_GET) {
		list_names(c, "roles", AUTH_ROLE_PREFIX, AUTH_ROLE_PREFIX_LEN);
		return;
	}
	struct resp_arg name = segment(&p, end);
	if (p == end && (m == HTTP_METHOD_PUT || m == HTTP_METHOD_DELETE)) {
		struct resp_arg argv[] = {arg_str("CONCORD.ROLE"),
		                          arg_str(m == HTTP_METHOD_PUT ? "ADD" : "DEL"), name};
		auth_write(c, auth_build_role, 3, argv);
	} else if ((size_t)(end - p) == 11 && memcmp(p, "permissions", 11) == 0 &&
	           (m == HTTP_METHOD_POST || m == HTTP_METHOD_DELETE)) {
		role_permission(c, name, m == HTTP_METHOD_POST);
	} else {
		respond_error(c, 404, "no such auth route (docs/http.md)");
	}
}

void route_auth(struct hconn *c, const char *rest, size_t len)
{
	const char *end = rest + len;
	enum http_method m = c->req.method;
	bool get = m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD;
	if (len == 6 && memcmp(rest, "status", 6) == 0 && get) {
		bool on = auth_enabled(node_kv(c->s->sv->node));
		struct wire_buf b;
		wire_buf_init(&b, 256);
		wire_buf_printf(&b, "{\"enabled\": %s}", on ? "true" : "false");
		respond_json(c, 200, &b, NULL, 0);
		wire_buf_free(&b);
	} else if (len == 6 && memcmp(rest, "whoami", 6) == 0 && get) {
		struct wire_buf b;
		wire_buf_init(&b, 256);
		wire_buf_printf(&b, "{\"user\": \"%s\"}", c->user[0] != '\0' ? c->user : "default");
		respond_json(c, 200, &b, NULL, 0);
		wire_buf_free(&b);
	} else if ((len == 6 || len == 7) && m == HTTP_METHOD_POST &&
	           (memcmp(rest, "enable", len) == 0 || memcmp(rest, "disable", len) == 0)) {
		struct resp_arg argv[] = {arg_str("CONCORD.AUTH"),
		                          arg_str(len == 6 ? "ENABLE" : "DISABLE")};
		auth_write(c, auth_build_auth, 2, argv);
	} else if (len >= 5 && memcmp(rest, "users", 5) == 0 && (len == 5 || rest[5] == '/')) {
		route_users(c, rest + (len == 5 ? 5 : 6), end);
	} else if (len >= 5 && memcmp(rest, "roles", 5) == 0 && (len == 5 || rest[5] == '/')) {
		route_roles(c, rest + (len == 5 ? 5 : 6), end);
	} else {
		respond_error(c, 404, "no such auth route (docs/http.md)");
	}
}
