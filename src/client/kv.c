/* kv.c: key-value operations of the client: put, get, del, cas, incr, and scan by prefix. */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------------------------------
 * Key-value operations
 */

static int client_check_key(struct concord_client *c, const void *key, size_t key_len)
{
	if (key == NULL && key_len > 0) {
		return client_fail(c, CONCORD_EINVAL, "NULL key");
	}
	return CONCORD_OK;
}

int concord_client_put(struct concord_client *c, const void *key, size_t key_len, const void *value,
                       size_t value_len)
{
	if (client_check_key(c, key, key_len) != 0 || (value == NULL && value_len > 0)) {
		return client_fail(c, CONCORD_EINVAL, "NULL key or value");
	}
	const char *argv[] = {"SET", key != NULL ? key : "", value != NULL ? value : ""};
	size_t lens[] = {3, key_len, value_len};
	const struct resp_value *v = NULL;
	int rc = client_run(c, CLIENT_WRITE, argv, lens, 3, &v);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_SIMPLE) {
		return client_unexpected(c, "SET", v);
	}
	return CONCORD_OK;
}

int concord_client_get(struct concord_client *c, const void *key, size_t key_len, char **value,
                       size_t *value_len, bool *found)
{
	*value = NULL;
	*value_len = 0;
	*found = false;
	int rc = client_check_key(c, key, key_len);
	if (rc != CONCORD_OK) {
		return rc;
	}
	const char *argv[] = {"GET", key != NULL ? key : ""};
	size_t lens[] = {3, key_len};
	const struct resp_value *v = NULL;
	rc = client_run(c, CLIENT_READ, argv, lens, 2, &v);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type == RESP_NULL) {
		return CONCORD_OK;
	}
	if (v->type != RESP_BULK) {
		return client_unexpected(c, "GET", v);
	}
	*value = client_dup(v->str, v->len);
	if (*value == NULL) {
		return client_fail(c, CONCORD_ENOMEM, "out of memory");
	}
	*value_len = v->len;
	*found = true;
	return CONCORD_OK;
}

int concord_client_del(struct concord_client *c, const void *key, size_t key_len, bool *deleted)
{
	int rc = client_check_key(c, key, key_len);
	if (rc != CONCORD_OK) {
		return rc;
	}
	const char *argv[] = {"DEL", key != NULL ? key : ""};
	size_t lens[] = {3, key_len};
	const struct resp_value *v = NULL;
	rc = client_run(c, CLIENT_WRITE, argv, lens, 2, &v);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_INTEGER || v->integer < 0 || v->integer > 1) {
		return client_unexpected(c, "DEL", v);
	}
	if (deleted != NULL) {
		*deleted = v->integer == 1;
	}
	return CONCORD_OK;
}

int concord_client_cas(struct concord_client *c, const void *key, size_t key_len,
                       const void *expected, size_t expected_len, const void *value,
                       size_t value_len, bool *swapped)
{
	if (client_check_key(c, key, key_len) != 0 || (expected == NULL && expected_len > 0) ||
	    (value == NULL && value_len > 0)) {
		return client_fail(c, CONCORD_EINVAL, "NULL key, expected value or value");
	}
	const char *argv[] = {"CAS", key != NULL ? key : "", expected != NULL ? expected : "",
	                      value != NULL ? value : ""};
	size_t lens[] = {3, key_len, expected_len, value_len};
	const struct resp_value *v = NULL;
	int rc = client_run(c, CLIENT_WRITE, argv, lens, 4, &v);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_INTEGER || v->integer < 0 || v->integer > 1) {
		return client_unexpected(c, "CAS", v);
	}
	if (swapped != NULL) {
		*swapped = v->integer == 1;
	}
	return CONCORD_OK;
}

int concord_client_incr(struct concord_client *c, const void *key, size_t key_len, int64_t delta,
                        int64_t *result)
{
	int rc = client_check_key(c, key, key_len);
	if (rc != CONCORD_OK) {
		return rc;
	}
	char d[24];
	snprintf(d, sizeof(d), "%" PRId64, delta);
	const char *argv[] = {"INCRBY", key != NULL ? key : "", d};
	size_t lens[] = {6, key_len, strlen(d)};
	const struct resp_value *v = NULL;
	rc = client_run(c, CLIENT_WRITE, argv, lens, 3, &v);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_INTEGER) {
		return client_unexpected(c, "INCRBY", v);
	}
	if (result != NULL) {
		*result = v->integer;
	}
	return CONCORD_OK;
}

/* ----------------------------------------------------------------------------------
 * Scan
 */

/* Bounds on one scan: server restarts of the cursor, and pages in all. */
#define CLIENT_SCAN_RESTARTS_MAX 16u
#define CLIENT_SCAN_PAGES_MAX    (1u << 24)

struct client_scan {
	char **keys; /* one page's keys, copied out of the SCAN reply */
	size_t *lens;
	size_t n;
	char *last; /* the last key delivered, NULL before the first */
	size_t last_len;
};

static void client_scan_page_free(struct client_scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->keys[i]);
	}
	free(s->keys);
	free(s->lens);
	s->keys = NULL;
	s->lens = NULL;
	s->n = 0;
}

/* Whether key sorts after the last key delivered (byte order, shorter first on a tie). */
static bool client_scan_is_new(const struct client_scan *s, const char *key, size_t len)
{
	if (s->last == NULL) {
		return true;
	}
	size_t m = len < s->last_len ? len : s->last_len;
	int cmp = m > 0 ? memcmp(key, s->last, m) : 0;
	return cmp > 0 || (cmp == 0 && len > s->last_len);
}

/* Parses a cursor: a decimal integer as a bulk (or, tolerated, an integer reply). */
static bool client_scan_cursor(const struct resp_value *v, uint64_t *cursor)
{
	if (v->type == RESP_INTEGER && v->integer >= 0) {
		*cursor = (uint64_t)v->integer;
		return true;
	}
	if (v->type != RESP_BULK || v->len == 0 || v->len > 20) {
		return false;
	}
	uint64_t x = 0;
	for (size_t i = 0; i < v->len; i++) {
		if (v->str[i] < '0' || v->str[i] > '9') {
			return false;
		}
		uint64_t d = (uint64_t)(v->str[i] - '0');
		if (x > (UINT64_MAX - d) / 10) {
			return false;
		}
		x = x * 10 + d;
	}
	*cursor = x;
	return true;
}

/* Copies the keys of one SCAN reply's key array into s (only those not yet delivered). */
static int client_scan_take(struct concord_client *c, struct client_scan *s,
                            const struct resp_value *keys)
{
	if (keys->n == 0) {
		return CONCORD_OK;
	}
	s->keys = calloc(keys->n, sizeof(*s->keys));
	s->lens = calloc(keys->n, sizeof(*s->lens));
	if (s->keys == NULL || s->lens == NULL) {
		return client_fail(c, CONCORD_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < keys->n; i++) {
		const struct resp_value *k = &keys->elems[i];
		if (k->type != RESP_BULK) {
			return client_fail(c, CONCORD_EPROTO, "SCAN: a key that is not a string");
		}
		if (!client_scan_is_new(s, k->str, k->len)) {
			continue;
		}
		s->keys[s->n] = client_dup(k->str, k->len);
		if (s->keys[s->n] == NULL) {
			return client_fail(c, CONCORD_ENOMEM, "out of memory");
		}
		s->lens[s->n] = k->len;
		s->n++;
	}
	return CONCORD_OK;
}

/* MGETs the page's keys and hands each present one to the callback. */
static int client_scan_deliver(struct concord_client *c, struct client_scan *s, concord_scan_cb cb,
                               void *arg)
{
	if (s->n == 0) {
		return CONCORD_OK;
	}
	const char **argv = malloc((s->n + 1) * sizeof(*argv));
	size_t *lens = malloc((s->n + 1) * sizeof(*lens));
	if (argv == NULL || lens == NULL) {
		free(argv);
		free(lens);
		return client_fail(c, CONCORD_ENOMEM, "out of memory");
	}
	argv[0] = "MGET";
	lens[0] = 4;
	for (size_t i = 0; i < s->n; i++) {
		argv[i + 1] = s->keys[i];
		lens[i + 1] = s->lens[i];
	}
	const struct resp_value *v = NULL;
	int rc = client_run(c, CLIENT_READ, argv, lens, s->n + 1, &v);
	free(argv);
	free(lens);
	if (rc != CONCORD_OK) {
		return rc;
	}
	if (v->type != RESP_ARRAY || v->n != s->n) {
		return client_unexpected(c, "MGET", v);
	}
	for (size_t i = 0; i < s->n; i++) {
		const struct resp_value *e = &v->elems[i];
		if (e->type == RESP_NULL) {
			continue; /* deleted since the SCAN */
		}
		if (e->type != RESP_BULK) {
			return client_unexpected(c, "MGET", e);
		}
		/* Remember the key first: the callback may not call back into the handle,
		 * but keep the bookkeeping independent of what it does. */
		free(s->last);
		s->last = client_dup(s->keys[i], s->lens[i]);
		if (s->last == NULL) {
			return client_fail(c, CONCORD_ENOMEM, "out of memory");
		}
		s->last_len = s->lens[i];
		/* The MGET reply stays valid: nothing else uses the connection meanwhile. */
		char *val = client_dup(e->str, e->len);
		if (val == NULL) {
			return client_fail(c, CONCORD_ENOMEM, "out of memory");
		}
		int stop = cb(arg, s->keys[i], s->lens[i], val, e->len);
		free(val);
		if (stop != 0) {
			return stop;
		}
	}
	return CONCORD_OK;
}

int concord_client_scan(struct concord_client *c, const void *prefix, size_t prefix_len,
                        concord_scan_cb cb, void *arg)
{
	if ((prefix == NULL && prefix_len > 0) || cb == NULL) {
		return client_fail(c, CONCORD_EINVAL, "NULL prefix or callback");
	}
	char *match = malloc(prefix_len + 2);
	if (match == NULL) {
		return client_fail(c, CONCORD_ENOMEM, "out of memory");
	}
	if (prefix_len > 0) {
		memcpy(match, prefix, prefix_len);
	}
	match[prefix_len] = '*';
	match[prefix_len + 1] = '\0';
	char count[16];
	snprintf(count, sizeof(count), "%u", CONCORD_CLIENT_SCAN_PAGE);

	struct client_scan s = {0};
	uint64_t cursor = 0;
	uint32_t restarts = 0;
	int rc = CONCORD_OK;
	for (uint32_t page = 0; page < CLIENT_SCAN_PAGES_MAX; page++) {
		char cur[24];
		snprintf(cur, sizeof(cur), "%" PRIu64, cursor);
		const char *argv[] = {"SCAN", cur, "MATCH", match, "COUNT", count};
		size_t lens[] = {4, strlen(cur), 5, prefix_len + 1, 5, strlen(count)};
		const struct resp_value *v = NULL;
		rc = client_run(c, CLIENT_READ, argv, lens, 6, &v);
		if (rc != CONCORD_OK) {
			break;
		}
		if (v->type == RESP_ERROR && cursor != 0 && v->len >= 3 &&
		    memmem(v->str, v->len, "cursor", 6) != NULL) {
			/* The server forgot the cursor (a reconnect to another node or an
			 * evicted scan): start over, skipping what was delivered. */
			if (++restarts > CLIENT_SCAN_RESTARTS_MAX) {
				rc = client_fail(c, CONCORD_EUNAVAILABLE,
				                 "SCAN: the cursor was lost %u times",
				                 CLIENT_SCAN_RESTARTS_MAX);
				break;
			}
			cursor = 0;
			continue;
		}
		uint64_t next = 0;
		if (v->type != RESP_ARRAY || v->n != 2 ||
		    !client_scan_cursor(&v->elems[0], &next) || v->elems[1].type != RESP_ARRAY) {
			rc = client_unexpected(c, "SCAN", v);
			break;
		}
		rc = client_scan_take(c, &s, &v->elems[1]);
		if (rc == CONCORD_OK) {
			rc = client_scan_deliver(c, &s, cb, arg);
		}
		client_scan_page_free(&s);
		if (rc != CONCORD_OK || next == 0) {
			break;
		}
		cursor = next;
	}
	client_scan_page_free(&s);
	free(s.last);
	free(match);
	if (rc == CONCORD_OK) {
		c->errmsg[0] = '\0';
	}
	return rc;
}
