/* http_routes.c: the HTTP route table, as data: methods, path, flags and handler of every route
 * (docs/http.md), and routing through it. */
#include "server/http_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GET    ROUTE_GET
#define PUT    ROUTE_METHOD(HTTP_METHOD_PUT)
#define POST   ROUTE_METHOD(HTTP_METHOD_POST)
#define DELETE ROUTE_METHOD(HTTP_METHOD_DELETE)

/* The first route whose path matches and that serves the method serves the request. */
static const struct route routes[] = {
    {GET, "/v1/kv/", ROUTE_PREFIX, route_kv_get},
    {PUT, "/v1/kv/", ROUTE_PREFIX, route_kv_put},
    {POST, "/v1/kv/", ROUTE_PREFIX | ROUTE_QUIET, route_kv_put},
    {DELETE, "/v1/kv/", ROUTE_PREFIX, route_kv_delete},
    {GET, "/v1/kv", 0, route_kv_list},
    {DELETE, "/v1/kv", 0, route_kv_delrange},
    {POST, "/v1/txn", 0, route_txn},
    {ROUTE_ANY, "/v1/sessions", ROUTE_PREFIX, route_sessions},
    {ROUTE_ANY, "/v1/lease", ROUTE_PREFIX, route_lease},
    {GET, "/v1/watch", 0, route_watch},
    {GET, "/v1/cluster", 0, route_cluster},
    {ROUTE_ANY, "/v1/members", ROUTE_PREFIX, route_members},
    {POST, "/v1/admin/transfer", 0, route_transfer},
    {POST, "/v1/admin/step-down", 0, route_step_down},
    {ROUTE_ANY, "/v1/admin/faults", 0, route_faults},
    {ROUTE_ANY, "/v1/admin/faults/disk", 0, route_disk_fault},
    {ROUTE_ANY, "/v1/auth/", ROUTE_PREFIX, route_auth},
    {GET, "/v1/snapshot", 0, route_snapshot},
    {GET, "/v1/live", 0, route_live},
    {GET, "/healthz", 0, route_healthz},
    {GET, "/metrics", 0, route_metrics},
    {GET, "/", 0, route_index},
    {GET, "/index.html", 0, route_index},
};

static bool path_matches(const struct route *r, const struct http_request *q)
{
	size_t n = strlen(r->path);
	if ((r->flags & ROUTE_PREFIX) != 0)
		return q->path_len >= n && memcmp(q->path, r->path, n) == 0;
	return q->path_len == n && memcmp(q->path, r->path, n) == 0;
}

/* 405 listing the methods of the routes of this path, in a fixed order. */
static void not_allowed(struct hconn *c, unsigned methods)
{
	static const struct {
		enum http_method m;
		const char *name;
	} order[] = {{HTTP_METHOD_GET, "GET"},
	             {HTTP_METHOD_HEAD, "HEAD"},
	             {HTTP_METHOD_PUT, "PUT"},
	             {HTTP_METHOD_POST, "POST"},
	             {HTTP_METHOD_DELETE, "DELETE"}};
	char allow[64] = "";
	size_t len = 0;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (methods & ROUTE_METHOD(order[i].m))
			len += (size_t)snprintf(allow + len, sizeof(allow) - len, "%s%s",
			                        len > 0 ? ", " : "", order[i].name);
	respond_method_not_allowed(c, allow);
}

void http_route(struct hconn *c)
{
	const struct http_request *q = &c->req;
	c->head_only = q->method == HTTP_METHOD_HEAD;
	c->client_id = c->seq = 0;
	free(c->key);
	c->key = NULL;
	c->key_len = 0;
	if (http_auth_gate(c))
		http_route_table(c);
}

void http_route_table(struct hconn *c)
{
	const struct http_request *q = &c->req;
	unsigned listed = 0;
	bool matched = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *r = &routes[i];
		if (!path_matches(r, q))
			continue;
		if (r->methods & ROUTE_METHOD(q->method)) {
			size_t n = (r->flags & ROUTE_PREFIX) != 0 ? strlen(r->path) : q->path_len;
			r->handler(c, q->path + n, q->path_len - n);
			return;
		}
		matched = true;
		if ((r->flags & ROUTE_QUIET) == 0)
			listed |= r->methods;
	}
	if (matched)
		not_allowed(c, listed);
	else
		respond_error(c, 404, "no such route");
}
