/* txn.c: concordctl txn: etcdctl's transaction input read from stdin (compares, a blank line, the
 * success requests, a blank line, the failure requests), sent as one CONCORD.TXN. */
#include "ctl.h"

#include "concord/client.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The input, as etcdctl txn reads it:
 *
 *   mod("key1") > "0"              compares: value|val, version|ver, create|c, mod|m;
 *   value("key2") = "v"              =, !=, <, >; the operand quoted
 *
 *   put key1 "new value"           success requests: put KEY VALUE, get KEY [END]
 *   get key2 --prefix                [--prefix|--from-key], del KEY [END] [--prev-kv] [...]
 *
 *   put key1 "other"               failure requests, to the end
 *
 * Words are split on blanks; "..." quotes (with \" and \\ inside). The output, as
 * etcdctl's: SUCCESS or FAILURE, then each response after a blank line (OK for a put,
 * key and value lines for a get, the number deleted for a del, followed by what it deleted,
 * key and value lines, with --prev-kv).
 */

#define TXN_LINE_MAX  (1u << 20) /* one input line */
#define TXN_ARGS_MAX  (1u << 16) /* words of the command sent */
#define TXN_WORDS_MAX 8u         /* of one request line */

/* The command's arguments; every string owned. prev_kv[k][i]: request i of branch k
 * (0 success, 1 failure) is a del --prev-kv, whose reply prints differently. */
struct targs {
	char **v;
	size_t *len;
	size_t n, cap;
	bool *prev_kv[2];
	size_t nreq[2];
};

static void targs_push(struct targs *a, const char *s, size_t len)
{
	if (a->n == TXN_ARGS_MAX)
		ctl_usage_error("txn: too many compares or requests");
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 32;
		a->v = realloc(a->v, a->cap * sizeof(*a->v));
		a->len = realloc(a->len, a->cap * sizeof(*a->len));
		if (a->v == NULL || a->len == NULL)
			abort();
	}
	char *c = malloc(len + 1);
	if (c == NULL)
		abort();
	memcpy(c, s, len);
	c[len] = '\0';
	a->v[a->n] = c;
	a->len[a->n++] = len;
}

static void targs_free(struct targs *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	free(a->len);
	free(a->prev_kv[0]);
	free(a->prev_kv[1]);
}

/* The next word of *p (quotes removed, escapes applied) into out; false at the end. */
static bool next_word(const char **p, char *out, size_t *len)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return false;
	size_t n = 0;
	bool quoted = false;
	for (; *s != '\0' && (quoted || (*s != ' ' && *s != '\t')); s++) {
		if (*s == '"') {
			quoted = !quoted;
		} else if (quoted && *s == '\\' && (s[1] == '"' || s[1] == '\\')) {
			out[n++] = *++s;
		} else {
			out[n++] = *s;
		}
	}
	if (quoted)
		ctl_usage_error("txn: unterminated quote");
	out[n] = '\0';
	*len = n;
	*p = s;
	return true;
}

/* target("key") op "operand" */
static void compare_line(struct targs *a, const char *line, char *buf)
{
	static const char *const names[][2] = {
	    {"value", "VALUE"},   {"val", "VALUE"}, {"version", "VERSION"}, {"ver", "VERSION"},
	    {"create", "CREATE"}, {"c", "CREATE"},  {"mod", "MOD"},         {"m", "MOD"}};
	const char *open = strstr(line, "(\"");
	const char *close = open != NULL ? strstr(open + 2, "\")") : NULL;
	if (open == NULL || close == NULL)
		ctl_usage_error("txn: bad compare '%s' (want e.g. mod(\"key\") > \"0\")", line);
	const char *target = NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i][0]) == (size_t)(open - line) &&
		    strncmp(line, names[i][0], (size_t)(open - line)) == 0)
			target = names[i][1];
	if (target == NULL)
		ctl_usage_error("txn: bad compare target in '%s' (value, version, create, mod)",
		                line);
	const char *rest = close + 2;
	size_t oplen, vlen;
	char op[8];
	if (!next_word(&rest, buf, &oplen) || oplen >= sizeof(op))
		ctl_usage_error("txn: bad compare '%s'", line);
	memcpy(op, buf, oplen + 1);
	if (strcmp(op, "=") != 0 && strcmp(op, "!=") != 0 && strcmp(op, "<") != 0 &&
	    strcmp(op, ">") != 0)
		ctl_usage_error("txn: bad compare operator '%s' (=, !=, <, >)", op);
	if (!next_word(&rest, buf, &vlen))
		ctl_usage_error("txn: compare '%s' has no operand", line);
	targs_push(a, open + 2, (size_t)(close - open - 2));
	targs_push(a, target, strlen(target));
	targs_push(a, op, oplen);
	targs_push(a, buf, vlen);
}

/* put KEY VALUE | get KEY [END] [--prefix|--from-key]
 * | del KEY [END] [--prefix|--from-key] [--prev-kv] */
static bool request_line(struct targs *a, const char *line, char *buf)
{
	char *w[TXN_WORDS_MAX];
	size_t wl[TXN_WORDS_MAX], n = 0, len;
	bool prefix = false, from_key = false, prev_kv = false;
	const char *p = line;
	while (next_word(&p, buf, &len)) {
		bool *flag = strcmp(buf, "--prefix") == 0     ? &prefix
		             : strcmp(buf, "--from-key") == 0 ? &from_key
		             : strcmp(buf, "--prev-kv") == 0  ? &prev_kv
		                                              : NULL;
		if (flag != NULL) {
			*flag = true;
			continue;
		}
		if (n == TXN_WORDS_MAX)
			ctl_usage_error("txn: too many words in '%s'", line);
		w[n] = malloc(len + 1);
		if (w[n] == NULL)
			abort();
		memcpy(w[n], buf, len + 1);
		wl[n++] = len;
	}
	bool put = n > 0 && strcmp(w[0], "put") == 0;
	bool get = n > 0 && strcmp(w[0], "get") == 0;
	bool del = n > 0 && strcmp(w[0], "del") == 0;
	if ((!(put && n == 3 && !prefix && !from_key) && !((get || del) && (n == 2 || n == 3))) ||
	    (prev_kv && !del))
		ctl_usage_error(
		    "txn: bad request '%s' (put KEY VALUE, get KEY [END] "
		    "[--prefix|--from-key], del KEY [END] [--prefix|--from-key] [--prev-kv])",
		    line);
	if (prev_kv)
		targs_push(a, "DELPREV", 7);
	else
		targs_push(a, put ? "PUT" : get ? "GET" : "DEL", 3);
	targs_push(a, w[1], wl[1]);
	if (put || n == 3) {
		targs_push(a, w[2], wl[2]);
	} else if (from_key) {
		targs_push(a, "", 1); /* "\0": every key >= KEY */
	} else if (prefix) {
		unsigned char *end = (unsigned char *)w[1];
		size_t el = wl[1];
		while (el > 0 && end[el - 1] == 0xff)
			el--;
		if (el == 0)
			targs_push(a, "", 1);
		else {
			end[el - 1]++;
			targs_push(a, w[1], el);
		}
	} else {
		targs_push(a, "", 0);
	}
	for (size_t i = 0; i < n; i++)
		free(w[i]);
	return prev_kv;
}

/* Reads the three sections; a[counts[k]] is the placeholder of section k's count. */
static void txn_read(FILE *in, struct targs *a)
{
	char *line = malloc(TXN_LINE_MAX), *buf = malloc(TXN_LINE_MAX);
	if (line == NULL || buf == NULL)
		abort();
	size_t at[3], count[3] = {0, 0, 0};
	int section = 0;
	at[0] = a->n;
	targs_push(a, "0", 1);
	while (section < 3 && fgets(line, TXN_LINE_MAX, in) != NULL) {
		size_t len = strlen(line);
		if (len > 0 && line[len - 1] != '\n' && !feof(in))
			ctl_usage_error("txn: an input line is longer than %u bytes", TXN_LINE_MAX);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0) {
			if (++section < 3) {
				at[section] = a->n;
				targs_push(a, "0", 1);
			}
			continue;
		}
		if (section == 0) {
			compare_line(a, line, buf);
		} else {
			bool prev_kv = request_line(a, line, buf);
			size_t *nr = &a->nreq[section - 1];
			bool *pk = realloc(a->prev_kv[section - 1], (*nr + 1) * sizeof(*pk));
			if (pk == NULL)
				abort();
			pk[(*nr)++] = prev_kv;
			a->prev_kv[section - 1] = pk;
		}
		count[section]++;
	}
	for (; section < 2; section++) {
		at[section + 1] = a->n;
		targs_push(a, "0", 1);
	}
	for (int k = 0; k < 3; k++) {
		char num[24];
		int n = snprintf(num, sizeof(num), "%zu", count[k]);
		free(a->v[at[k]]);
		a->v[at[k]] = strdup(num);
		a->len[at[k]] = (size_t)n;
	}
	free(line);
	free(buf);
}

static void print_str(const struct concord_reply *r)
{
	fwrite(r->str, 1, r->len, stdout);
	fputc('\n', stdout);
}

static void response_print(const struct concord_reply *r, bool prev_kv)
{
	fputc('\n', stdout);
	if (r->type == CONCORD_REPLY_STATUS || r->type == CONCORD_REPLY_ERROR) {
		print_str(r);
	} else if (r->type == CONCORD_REPLY_INTEGER) {
		printf("%" PRId64 "\n", r->integer);
	} else if (r->type == CONCORD_REPLY_ARRAY && r->n == 2 &&
	           r->elems[1].type == CONCORD_REPLY_ARRAY) {
		/* A get answers [count, [key, value...]]; a del with --prev-kv [deleted, [...]]:
		 * etcdctl prints the number deleted before the pairs, a get's count not at all. */
		if (r->elems[0].type == CONCORD_REPLY_INTEGER && prev_kv)
			printf("%" PRId64 "\n", r->elems[0].integer);
		for (size_t i = 0; i + 1 < r->elems[1].n; i += 2) {
			print_str(&r->elems[1].elems[i]);
			print_str(&r->elems[1].elems[i + 1]);
		}
	}
}

static int ctl_txn(struct ctl *ctl, int argc, char **argv)
{
	(void)argv;
	ctl_need_args("txn", argc, 0, 0);
	struct targs a = {0};
	targs_push(&a, "CONCORD.TXN", 11);
	txn_read(stdin, &a);
	struct concord_reply r = {0};
	int rc = concord_client_command(ctl->c, (const char *const *)a.v, a.len, a.n, &r);
	if (rc != CONCORD_OK) {
		targs_free(&a);
		return ctl_fail(ctl->c, "txn", rc);
	}
	int code = CTL_OK;
	if (r.type == CONCORD_REPLY_ERROR) {
		fprintf(stderr, "concordctl: txn: %s\n", r.str);
		code = CTL_FAILED;
	} else if (r.type != CONCORD_REPLY_ARRAY || r.n != 3) {
		fprintf(stderr, "concordctl: txn: unexpected reply to CONCORD.TXN\n");
		code = CTL_FAILED;
	} else {
		int branch = r.elems[0].integer != 0 ? 0 : 1;
		printf("%s\n", branch == 0 ? "SUCCESS" : "FAILURE");
		for (size_t i = 0; r.elems[2].type == CONCORD_REPLY_ARRAY && i < r.elems[2].n; i++)
			response_print(&r.elems[2].elems[i],
			               i < a.nreq[branch] && a.prev_kv[branch][i]);
	}
	targs_free(&a);
	concord_reply_free(&r);
	return code;
}

const struct ctl_command ctl_txn_commands[] = {
    {"txn", ctl_txn},
    {NULL, NULL},
};
