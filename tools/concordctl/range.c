/* range.c: concordctl's range forms of get and del, spelled as etcdctl spells them: get KEY [END]
 * with --prefix, --from-key, --rev, --limit, --keys-only, --count-only; del KEY [END] with
 * --prefix, --from-key, --prev-kv. Both over CONCORD.RANGE and CONCORD.DELRANGE. */
#include "ctl.h"

#include "concord/client.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pages of one get, at most. */
#define CTL_RANGE_PAGES_MAX 100000u

struct range_opts {
	const char *key, *end;
	bool prefix, from_key, keys_only, count_only, prev_kv;
	uint64_t rev, limit;
};

/* Parses the arguments of get (del: `del` true); returns whether any range form was asked. */
static bool range_parse(int argc, char **argv, bool del, struct range_opts *o)
{
	memset(o, 0, sizeof(*o));
	bool ranged = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--prefix") == 0) {
			o->prefix = true;
		} else if (strcmp(a, "--from-key") == 0) {
			o->from_key = true;
		} else if (del && strcmp(a, "--prev-kv") == 0) {
			o->prev_kv = true;
		} else if (!del && strcmp(a, "--keys-only") == 0) {
			o->keys_only = true;
		} else if (!del && strcmp(a, "--count-only") == 0) {
			o->count_only = true;
		} else if (!del && strncmp(a, "--rev=", 6) == 0) {
			o->rev = ctl_parse_u64("--rev", a + 6, 0, UINT64_MAX);
		} else if (!del && strcmp(a, "--rev") == 0 && i + 1 < argc) {
			o->rev = ctl_parse_u64("--rev", argv[++i], 0, UINT64_MAX);
		} else if (!del && strncmp(a, "--limit=", 8) == 0) {
			o->limit = ctl_parse_u64("--limit", a + 8, 0, UINT64_MAX);
		} else if (!del && strcmp(a, "--limit") == 0 && i + 1 < argc) {
			o->limit = ctl_parse_u64("--limit", argv[++i], 0, UINT64_MAX);
		} else if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
			ctl_usage_error("%s: unknown option '%s'", del ? "del" : "get", a);
		} else if (o->key == NULL) {
			o->key = a;
			continue;
		} else if (o->end == NULL) {
			o->end = a;
		} else {
			ctl_usage_error("%s: too many arguments", del ? "del" : "get");
		}
		ranged = true;
	}
	if (o->key == NULL)
		ctl_usage_error("%s: a key is needed", del ? "del" : "get");
	if ((o->prefix ? 1 : 0) + (o->from_key ? 1 : 0) + (o->end != NULL ? 1 : 0) > 1)
		ctl_usage_error("%s: give one of END, --prefix, --from-key", del ? "del" : "get");
	return ranged;
}

/* The range part of CONCORD.DELRANGE: END end, PREFIX or FROMKEY. */
static size_t range_args(const struct range_opts *o, const char **argv, size_t n)
{
	if (o->prefix)
		argv[n++] = "PREFIX";
	else if (o->from_key)
		argv[n++] = "FROMKEY";
	else if (o->end != NULL) {
		argv[n++] = "END";
		argv[n++] = o->end;
	}
	return n;
}

/* The range's end as bytes (etcd's rules: empty, the key alone; "\0", no end). */
static size_t range_end(const struct range_opts *o, unsigned char *end, size_t cap)
{
	if (o->from_key) {
		end[0] = 0;
		return 1;
	}
	if (o->end != NULL) {
		size_t n = strlen(o->end);
		if (n > cap)
			ctl_usage_error("get: END too long");
		memcpy(end, o->end, n);
		return n;
	}
	if (!o->prefix)
		return 0;
	size_t n = strlen(o->key);
	if (n > cap)
		ctl_usage_error("get: key too long");
	while (n > 0 && (unsigned char)o->key[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end[0] = 0;
		return 1;
	}
	memcpy(end, o->key, n);
	end[n - 1]++;
	return n;
}

static int reply_check(struct concord_client *c, const char *what, int rc,
                       const struct concord_reply *r)
{
	if (rc != CONCORD_OK)
		return ctl_fail(c, what, rc);
	if (r->type == CONCORD_REPLY_ERROR) {
		fprintf(stderr, "concordctl: %s: %s\n", what, r->str);
		return CTL_FAILED;
	}
	return CTL_OK;
}

struct page {
	const char *from; /* where this page starts */
	size_t from_len;
	const unsigned char *end;
	size_t end_len;
	uint64_t want;
	uint64_t count, printed; /* out */
	bool more;               /* out */
	char *last;              /* out: the last key plus a zero byte (owned) */
	size_t last_len;
};

static void print_line(const struct concord_reply *s)
{
	fwrite(s->str, 1, s->len, stdout);
	fputc('\n', stdout);
}

/* One CONCORD.RANGE: prints its keys (and values) as etcdctl does, a line each. */
static int range_page(struct concord_client *c, const struct range_opts *o, struct page *p)
{
	char lim[24], rev[24];
	snprintf(lim, sizeof(lim), "%" PRIu64, p->want);
	snprintf(rev, sizeof(rev), "%" PRIu64, o->rev);
	const char *argv[10] = {"CONCORD.RANGE", p->from, "END", (const char *)p->end,
	                        "LIMIT",         lim,     "REV", rev};
	size_t lens[10] = {13, p->from_len, 3, p->end_len, 5, strlen(lim), 3, strlen(rev)};
	size_t n = 8;
	if (o->keys_only) {
		argv[n] = "KEYSONLY";
		lens[n++] = 8;
	}
	if (o->count_only) {
		argv[n] = "COUNTONLY";
		lens[n++] = 9;
	}
	struct concord_reply r = {0};
	int rc = concord_client_command(c, argv, lens, n, &r);
	int code = reply_check(c, "get", rc, &r);
	if (code == CTL_OK &&
	    (r.type != CONCORD_REPLY_ARRAY || r.n != 4 || r.elems[3].type != CONCORD_REPLY_ARRAY)) {
		fprintf(stderr, "concordctl: get: unexpected reply to CONCORD.RANGE\n");
		code = CTL_FAILED;
	}
	if (code != CTL_OK) {
		concord_reply_free(&r);
		return code;
	}
	p->count = (uint64_t)r.elems[1].integer;
	p->more = r.elems[2].integer != 0;
	p->printed = 0;
	size_t step = o->keys_only ? 1 : 2;
	const struct concord_reply *kvs = &r.elems[3];
	for (size_t i = 0; i + step <= kvs->n; i += step) {
		print_line(&kvs->elems[i]);
		if (step == 2)
			print_line(&kvs->elems[i + 1]);
		p->printed++;
		free(p->last);
		p->last = malloc(kvs->elems[i].len + 1);
		if (p->last == NULL)
			abort();
		memcpy(p->last, kvs->elems[i].str, kvs->elems[i].len);
		p->last[kvs->elems[i].len] = '\0';
		p->last_len = kvs->elems[i].len + 1;
	}
	concord_reply_free(&r);
	return CTL_OK;
}

int ctl_get_range(struct ctl *ctl, int argc, char **argv)
{
	struct range_opts o;
	(void)range_parse(argc, argv, false, &o);
	unsigned char end[65536 + 1];
	struct page p = {.from = o.key, .from_len = strlen(o.key), .end = end};
	p.end_len = range_end(&o, end, sizeof(end) - 1);
	uint64_t total = 0, count = 0;
	int code = CTL_OK;
	for (uint32_t page = 0; page < CTL_RANGE_PAGES_MAX; page++) {
		uint64_t left = o.limit != 0 ? o.limit - total : UINT64_MAX;
		p.want = left < 10000 ? left : 10000;
		code = range_page(ctl->c, &o, &p);
		if (code != CTL_OK)
			break;
		if (page == 0)
			count = p.count;
		total += p.printed;
		if (o.count_only || !p.more || p.printed == 0 || (o.limit != 0 && total >= o.limit))
			break;
		/* The next page starts past the last key; --rev pins every page to one revision. */
		p.from = p.last;
		p.from_len = p.last_len;
	}
	if (code == CTL_OK && o.count_only)
		printf("%" PRIu64 "\n", count);
	free(p.last);
	return code;
}

int ctl_del_range(struct ctl *ctl, int argc, char **argv)
{
	struct range_opts o;
	(void)range_parse(argc, argv, true, &o);
	const char *args[6] = {"CONCORD.DELRANGE", o.key};
	size_t n = range_args(&o, args, 2);
	if (o.prev_kv)
		args[n++] = "PREVKV";
	struct concord_reply r = {0};
	int rc = concord_client_command(ctl->c, args, NULL, n, &r);
	int code = reply_check(ctl->c, "del", rc, &r);
	if (code == CTL_OK && r.type == CONCORD_REPLY_INTEGER) {
		printf("%" PRId64 "\n", r.integer);
	} else if (code == CTL_OK && r.type == CONCORD_REPLY_ARRAY && r.n == 2) {
		printf("%" PRId64 "\n", r.elems[0].integer);
		const struct concord_reply *kvs = &r.elems[1];
		for (size_t i = 0; kvs->type == CONCORD_REPLY_ARRAY && i + 2 <= kvs->n; i += 2) {
			print_line(&kvs->elems[i]);
			print_line(&kvs->elems[i + 1]);
		}
	} else if (code == CTL_OK) {
		fprintf(stderr, "concordctl: del: unexpected reply to CONCORD.DELRANGE\n");
		code = CTL_FAILED;
	}
	concord_reply_free(&r);
	return code;
}

/* Whether get or del was given a range form (END, or any option). */
bool ctl_range_wanted(int argc, char **argv)
{
	if (argc > 1)
		return true;
	return argc == 1 && strncmp(argv[0], "--", 2) == 0;
}
