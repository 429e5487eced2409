/* watch.c: concordctl watch, etcdctl's: KEY [END] or --prefix, from --rev, with --prev-kv,
 * printed as etcdctl prints events (or a JSON object per event with -w json). It speaks
 * CONCORD.WATCH on the client port (docs/resp.md) and reads the pushes that follow with
 * concord_client_next_reply, so TLS and --user come with the handle as for every other
 * command. A broken connection is watched again from the next revision. */
#include "ctl.h"

#include "concord/client.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long one wait for a push lasts before the loop looks at the signal flag. */
#define WATCH_TICK_MS 200u

struct watch_opts {
	const char *key, *end;
	bool prefix, prev_kv;
	uint64_t rev;   /* 0: from now on */
	uint64_t count; /* 0: no bound */
};

static volatile sig_atomic_t watch_stop;
/* Set while a library call that does not look at the flag (a connect, a retry's
 * back-off) runs: a signal then ends the process at once. Every event printed so far
 * was flushed, so nothing is lost. */
static volatile sig_atomic_t watch_in_call;

static void watch_on_signal(int sig)
{
	(void)sig;
	watch_stop = 1;
	if (watch_in_call)
		_exit(CTL_OK);
}

static void watch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watch_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: a wait is cut short */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void watch_parse(int argc, char **argv, struct watch_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--prefix") == 0)
			o->prefix = true;
		else if (strcmp(a, "--prev-kv") == 0)
			o->prev_kv = true;
		else if (strncmp(a, "--rev=", 6) == 0)
			o->rev = ctl_parse_u64("--rev", a + 6, 0, UINT64_MAX);
		else if (strcmp(a, "--rev") == 0 && i + 1 < argc)
			o->rev = ctl_parse_u64("--rev", argv[++i], 0, UINT64_MAX);
		else if (strncmp(a, "--count=", 8) == 0)
			o->count = ctl_parse_u64("--count", a + 8, 1, UINT64_MAX);
		else if (strcmp(a, "--count") == 0 && i + 1 < argc)
			o->count = ctl_parse_u64("--count", argv[++i], 1, UINT64_MAX);
		else if (strncmp(a, "--", 2) == 0 && a[2] != '\0')
			ctl_usage_error("watch: unknown option or missing value '%s'", a);
		else if (o->key == NULL)
			o->key = a;
		else if (o->end == NULL)
			o->end = a;
		else
			ctl_usage_error("watch: too many arguments");
	}
	if (o->key == NULL)
		ctl_usage_error("watch: a key is needed");
	if (o->prefix && o->end != NULL)
		ctl_usage_error("watch: give END or --prefix, not both");
	if (!o->prefix && o->key[0] == '\0')
		ctl_usage_error("watch: an empty key needs --prefix (every key) or END");
}

/* The reply's text when it is a string of any kind, else "". */
static const char *reply_text(const struct concord_reply *r)
{
	return r->str != NULL ? r->str : "";
}

static bool reply_is(const struct concord_reply *r, const char *word)
{
	return (r->type == CONCORD_REPLY_STRING || r->type == CONCORD_REPLY_STATUS) &&
	       r->len == strlen(word) && memcmp(r->str, word, r->len) == 0;
}

/* CONCORD.WATCH's arguments from revision `from` (0: now) into argv/lens (8 room); a
 * single key's end goes in *one (free it), the revision's text in rev. Returns the count. */
static size_t watch_argv(const struct watch_opts *o, uint64_t from, const char **argv, size_t *lens,
                         char **one, char rev[24])
{
	/* A single key goes as RANGE key key\0: a key spelled PREFIX or RANGE cannot be
	 * taken for the keyword then. */
	size_t klen = strlen(o->key);
	size_t n = 0;
	*one = NULL;
	argv[n] = "CONCORD.WATCH";
	lens[n++] = 13;
	argv[n] = o->prefix ? "PREFIX" : "RANGE";
	lens[n++] = o->prefix ? 6 : 5;
	argv[n] = o->key;
	lens[n++] = klen;
	if (!o->prefix && o->end != NULL) {
		argv[n] = o->end;
		lens[n++] = strlen(o->end);
	} else if (!o->prefix) {
		*one = calloc(1, klen + 1);
		if (*one == NULL)
			abort();
		memcpy(*one, o->key, klen);
		argv[n] = *one;
		lens[n++] = klen + 1;
	}
	if (from > 0) {
		snprintf(rev, 24, "%" PRIu64, from);
		argv[n] = "REV";
		lens[n++] = 3;
		argv[n] = rev;
		lens[n++] = strlen(rev);
	}
	if (o->prev_kv) {
		argv[n] = "PREV_KV";
		lens[n++] = 7;
	}
	return n;
}

/* Sends CONCORD.WATCH from revision `from` (0: now). On success returns CTL_OK with the
 * watch's id and first revision; prints the reason otherwise. */
static int watch_start(struct ctl *ctl, const struct watch_opts *o, uint64_t from, int64_t *id,
                       uint64_t *start_rev)
{
	const char *argv[8];
	size_t lens[8];
	char *one = NULL, rev[24];
	size_t n = watch_argv(o, from, argv, lens, &one, rev);
	struct concord_reply r = {0};
	watch_in_call = 1;
	int rc = concord_client_command(ctl->c, argv, lens, n, &r);
	watch_in_call = 0;
	free(one);
	if (rc != CONCORD_OK)
		return ctl_fail(ctl->c, "watch", rc);
	int code = CTL_OK;
	if (r.type == CONCORD_REPLY_ERROR && strncmp(reply_text(&r), "COMPACTED", 9) == 0) {
		/* "COMPACTED required revision r has been compacted; compacted revision c" */
		fprintf(stderr, "concordctl: watch: %s\n", r.str + 10);
		code = CTL_FAILED;
	} else if (r.type == CONCORD_REPLY_ERROR) {
		fprintf(stderr, "concordctl: watch: %s\n", r.str);
		code = CTL_FAILED;
	} else if (r.type != CONCORD_REPLY_ARRAY || r.n != 3 ||
	           !reply_is(&r.elems[0], "concord.watch") ||
	           r.elems[1].type != CONCORD_REPLY_INTEGER ||
	           r.elems[2].type != CONCORD_REPLY_INTEGER) {
		fprintf(stderr, "concordctl: watch: unexpected reply to CONCORD.WATCH from %s\n",
		        concord_client_endpoint(ctl->c));
		code = CTL_FAILED;
	} else {
		*id = r.elems[1].integer;
		*start_rev = (uint64_t)r.elems[2].integer;
	}
	concord_reply_free(&r);
	return code;
}

static void print_bytes_line(const struct concord_reply *s)
{
	if (s->len > 0)
		fwrite(s->str, 1, s->len, stdout);
	fputc('\n', stdout);
}

/* One event, [type, key, value, create_revision, mod_revision, version, prev_value]. */
static bool event_valid(const struct concord_reply *e)
{
	if (e->type != CONCORD_REPLY_ARRAY || e->n != 7)
		return false;
	for (size_t i = 0; i < 3; i++)
		if (e->elems[i].type != CONCORD_REPLY_STRING)
			return false;
	for (size_t i = 3; i < 6; i++)
		if (e->elems[i].type != CONCORD_REPLY_INTEGER)
			return false;
	return e->elems[6].type == CONCORD_REPLY_STRING || e->elems[6].type == CONCORD_REPLY_NIL;
}

static void print_event(enum ctl_format format, bool prev_kv, uint64_t rev,
                        const struct concord_reply *e)
{
	const struct concord_reply *type = &e->elems[0], *key = &e->elems[1], *value = &e->elems[2];
	const struct concord_reply *prev = &e->elems[6];
	bool put = reply_is(type, "put");
	if (format == CTL_FORMAT_JSON) {
		printf("{\"type\":\"%s\",\"key\":", put ? "PUT" : "DELETE");
		ctl_print_json_bytes(key->str, key->len);
		printf(",\"value\":");
		ctl_print_json_bytes(value->str, value->len);
		printf(",\"revision\":%" PRIu64 ",\"create_revision\":%" PRId64
		       ",\"mod_revision\":%" PRId64 ",\"version\":%" PRId64,
		       rev, e->elems[3].integer, e->elems[4].integer, e->elems[5].integer);
		if (prev_kv) {
			printf(",\"prev_value\":");
			if (prev->type == CONCORD_REPLY_STRING)
				ctl_print_json_bytes(prev->str, prev->len);
			else
				printf("null");
		}
		printf("}\n");
		return;
	}
	/* etcdctl: the type, the previous key and value if there was one, the key and
	 * value (empty for a delete). */
	printf("%s\n", put ? "PUT" : "DELETE");
	if (prev->type == CONCORD_REPLY_STRING) {
		print_bytes_line(key);
		print_bytes_line(prev);
	}
	print_bytes_line(key);
	print_bytes_line(value);
}

struct watch_state {
	int64_t id;
	uint64_t next_rev; /* the first revision not seen yet */
	uint64_t printed;
};

/* One push. Returns -1 to go on, else the exit code. */
static int watch_push(struct ctl *ctl, const struct watch_opts *o, struct watch_state *st,
                      const struct concord_reply *r)
{
	if (r->type != CONCORD_REPLY_ARRAY || r->n < 2 ||
	    r->elems[1].type != CONCORD_REPLY_INTEGER || r->elems[1].integer != st->id)
		return -1; /* not this watch's */
	if (reply_is(&r->elems[0], "concord.cancel")) {
		const char *why = r->n >= 3 ? reply_text(&r->elems[2]) : "";
		fprintf(stderr, "concordctl: watch canceled by the server: %s", why);
		if (r->n >= 4 && r->elems[3].type == CONCORD_REPLY_INTEGER &&
		    r->elems[3].integer > 0)
			fprintf(stderr, " (compacted revision %" PRId64 ")", r->elems[3].integer);
		fprintf(stderr, "\n");
		return CTL_FAILED;
	}
	if (!reply_is(&r->elems[0], "concord.events"))
		return -1;
	if (r->n != 4 || r->elems[2].type != CONCORD_REPLY_INTEGER ||
	    r->elems[3].type != CONCORD_REPLY_ARRAY) {
		fprintf(stderr, "concordctl: watch: malformed event message from %s\n",
		        concord_client_endpoint(ctl->c));
		return CTL_FAILED;
	}
	uint64_t rev = (uint64_t)r->elems[2].integer;
	const struct concord_reply *evs = &r->elems[3];
	for (size_t i = 0; i < evs->n; i++) {
		if (!event_valid(&evs->elems[i])) {
			fprintf(stderr, "concordctl: watch: malformed event from %s\n",
			        concord_client_endpoint(ctl->c));
			return CTL_FAILED;
		}
		print_event(ctl->format, o->prev_kv, rev, &evs->elems[i]);
		if (fflush(stdout) != 0) {
			fprintf(stderr, "concordctl: writing the output: %s\n", strerror(errno));
			return CTL_FAILED;
		}
		if (o->count != 0 && ++st->printed >= o->count)
			return CTL_OK;
	}
	st->next_rev = rev + 1;
	return -1;
}

static int ctl_watch(struct ctl *ctl, int argc, char **argv)
{
	struct watch_opts o;
	watch_parse(argc, argv, &o);
	watch_signals();
	struct watch_state st = {0};
	int code = watch_start(ctl, &o, o.rev, &st.id, &st.next_rev);
	while (code == CTL_OK && !watch_stop) {
		struct concord_reply r;
		bool got = false;
		int rc = concord_client_next_reply(ctl->c, WATCH_TICK_MS, &r, &got);
		if (rc == CONCORD_EUNAVAILABLE && !watch_stop) {
			/* The connection broke: watch again where this one stopped, on whichever
			 * node answers (each serves the same history). */
			fprintf(stderr,
			        "concordctl: watch: %s; watching again from revision %" PRIu64 "\n",
			        concord_client_errmsg(ctl->c), st.next_rev);
			code = watch_start(ctl, &o, st.next_rev, &st.id, &st.next_rev);
			continue;
		}
		if (rc != CONCORD_OK) {
			code = watch_stop ? CTL_OK : ctl_fail(ctl->c, "watch", rc);
			break;
		}
		if (!got)
			continue;
		int done = watch_push(ctl, &o, &st, &r);
		concord_reply_free(&r);
		if (done >= 0) {
			code = done;
			break;
		}
	}
	return code;
}

const struct ctl_command ctl_watch_commands[] = {
    {"watch", ctl_watch},
    {NULL, NULL},
};
