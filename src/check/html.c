/* html.c: renders a checked history as a self-contained HTML timeline, one row per client. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "check/internal.h"

enum {
	HTML_MAX_OPS = 5000, /* operations drawn; beyond, only the failing key's */
	HTML_STEP_PX = 14,   /* pixels between consecutive distinct times */
	HTML_ROW_PX = 24,
	HTML_LEFT_PX = 110,
	HTML_TOP_PX = 30,
};

enum html_mark {
	HTML_PLAIN = 0,
	HTML_KEY,    /* on the failing key */
	HTML_PREFIX, /* in the failing key's longest linearizable prefix */
	HTML_STUCK,  /* cannot be placed after the prefix */
};

static void html_text(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

static int html_compare_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return a < b ? -1 : (a > b);
}

/* Position of time t among the sorted distinct times. */
static size_t html_rank(const int64_t *times, size_t n, int64_t t)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (times[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const char *html_kind_color(enum check_kind kind)
{
	switch (kind) {
	case CHECK_KIND_GET:
		return "#9ecae1";
	case CHECK_KIND_PUT:
		return "#fdd49e";
	case CHECK_KIND_DELETE:
		return "#d9d9d9";
	case CHECK_KIND_APPEND:
		return "#c7e9c0";
	case CHECK_KIND_CAS:
		return "#dadaeb";
	case CHECK_KIND_INCR:
		return "#fcbba1";
	case CHECK_KIND_MSET:
		return "#fdae6b";
	case CHECK_KIND_DELRANGE:
		return "#bdbdbd";
	case CHECK_KIND_EXPIRE:
		return "#e5f5e0";
	case CHECK_KIND_TXN:
		return "#bcbddc";
	}
	return "#ffffff";
}

static void html_style(FILE *out)
{
	fputs("<style>\n"
	      "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\n"
	      ".verdict{padding:.6em 1em;border-radius:6px;font-size:1.2em;display:inline-block}\n"
	      ".v0{background:#d9f2d9}.v1{background:#f8d0d0}.v2{background:#fbeec1}\n"
	      ".scroll{overflow-x:auto;border:1px solid #ccc;margin:1em 0}\n"
	      "svg text{font:10px monospace}\n"
	      "table{border-collapse:collapse;font:12px monospace}\n"
	      "td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}\n"
	      "tr.stuck td{background:#f8d0d0}tr.prefix td{background:#e5f5e0}\n"
	      ".legend span{display:inline-block;padding:1px 6px;margin-right:4px;border:1px solid "
	      "#999}\n"
	      "</style>\n",
	      out);
}

static void html_explanation(FILE *out, const struct check_op *ops, const struct check_result *r)
{
	char line[640], why[400], key[128], state[128];
	check_format_str(key, sizeof(key), &ops[r->keys[r->failed_key].first_op].key, 60, "null");
	fputs(r->failed_group ? "<h2>Why the group of keys of " : "<h2>Why key ", out);
	html_text(out, key);
	fputs(" is not linearizable</h2>\n<p>The longest linearizable prefix found has ", out);
	fprintf(out, "%zu operations; after them the key%s hold%s ", r->prefix_count,
	        r->failed_group ? "s" : "", r->failed_group ? "" : "s");
	html_text(out,
	          check_format_str(state, sizeof(state), &r->prefix_state, 60, "nothing (absent)"));
	fputs(". None of these operations can be placed next:</p>\n<ul>\n", out);
	for (size_t i = 0; i < r->stuck_count && i < 50; i++) {
		const struct check_op *op = &ops[r->stuck[i]];
		fputs("<li>", out);
		html_text(out, check_describe_op(line, sizeof(line), op));
		fputs(": ", out);
		html_text(out, r->failed_group
		                   ? "it cannot go next on these values, or what must follow it "
		                     "then cannot all be placed"
		                   : check_explain_stuck(why, sizeof(why), op, &r->prefix_state));
		fputs(".</li>\n", out);
	}
	fputs("</ul>\n", out);
}

static void html_key_table(FILE *out, const struct check_op *ops, size_t op_count,
                           const struct check_result *r, const uint8_t *mark, const size_t *order)
{
	const struct check_str *key = &ops[r->keys[r->failed_key].first_op].key;
	char line[640];
	fputs("<h2>Operations on the failing key, by call time</h2>\n<table>\n"
	      "<tr><th>#</th><th>operation</th><th>status</th></tr>\n",
	      out);
	size_t shown = 0;
	for (size_t j = 0; j < op_count && shown < 2000; j++) {
		size_t i = order[j];
		if (check_str_compare(&ops[i].key, key) != 0)
			continue;
		const char *cls = mark[i] == HTML_STUCK    ? "stuck"
		                  : mark[i] == HTML_PREFIX ? "prefix"
		                                           : "";
		const char *status = mark[i] == HTML_STUCK    ? "cannot be placed"
		                     : mark[i] == HTML_PREFIX ? "in the linearizable prefix"
		                                              : "";
		fprintf(out, "<tr class=\"%s\"><td>%zu</td><td>", cls, ++shown);
		html_text(out, check_describe_op(line, sizeof(line), &ops[i]));
		fprintf(out, "</td><td>%s</td></tr>\n", status);
	}
	fputs("</table>\n", out);
}

struct html_call {
	int64_t call_time;
	size_t index;
};

static int html_compare_call(const void *pa, const void *pb)
{
	const struct html_call *a = pa, *b = pb;
	if (a->call_time != b->call_time)
		return a->call_time < b->call_time ? -1 : 1;
	return a->index < b->index ? -1 : (a->index > b->index);
}

static int html_compare_client(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return a < b ? -1 : (a > b);
}

int check_report_html(FILE *out, const struct check_op *ops, size_t op_count,
                      const struct check_result *r, const char *title)
{
	assert(out != NULL && r != NULL && (ops != NULL || op_count == 0));
	uint8_t *mark = calloc(op_count + 1, 1);
	size_t *order = calloc(op_count + 1, sizeof(size_t));
	bool *drawn = calloc(op_count + 1, sizeof(bool));
	int64_t *times = calloc(2 * op_count + 1, sizeof(int64_t));
	int64_t *clients = calloc(op_count + 1, sizeof(int64_t));
	if (mark == NULL || order == NULL || drawn == NULL || times == NULL || clients == NULL) {
		free(mark);
		free(order);
		free(drawn);
		free(times);
		free(clients);
		return -ENOMEM;
	}
	const struct check_str *failed_key =
	    r->failed_key != SIZE_MAX ? &ops[r->keys[r->failed_key].first_op].key : NULL;
	for (size_t i = 0; i < op_count; i++) {
		order[i] = i;
		if (failed_key != NULL && check_str_compare(&ops[i].key, failed_key) == 0)
			mark[i] = HTML_KEY;
	}
	for (size_t i = 0; i < r->prefix_count; i++)
		mark[r->prefix[i]] = HTML_PREFIX;
	for (size_t i = 0; i < r->stuck_count; i++)
		mark[r->stuck[i]] = HTML_STUCK;
	struct html_call *calls = calloc(op_count + 1, sizeof(*calls));
	if (calls == NULL) {
		free(mark);
		free(order);
		free(drawn);
		free(times);
		free(clients);
		return -ENOMEM;
	}
	for (size_t i = 0; i < op_count; i++) {
		calls[i].call_time = ops[i].call_time;
		calls[i].index = i;
	}
	qsort(calls, op_count, sizeof(*calls), html_compare_call);
	for (size_t i = 0; i < op_count; i++)
		order[i] = calls[i].index;
	free(calls);

	/* Which operations to draw. */
	size_t drawn_count = 0;
	bool only_key = op_count > HTML_MAX_OPS && failed_key != NULL;
	for (size_t j = 0; j < op_count && drawn_count < HTML_MAX_OPS; j++) {
		size_t i = order[j];
		if (only_key && mark[i] == HTML_PLAIN)
			continue;
		drawn[i] = true;
		drawn_count++;
	}
	/* Distinct times, ranked: the axis keeps order and concurrency, not durations. */
	size_t nt = 0, nc = 0;
	for (size_t i = 0; i < op_count; i++) {
		if (!drawn[i])
			continue;
		times[nt++] = ops[i].call_time;
		if (ops[i].ok != CHECK_OK_UNKNOWN)
			times[nt++] = ops[i].return_time;
		clients[nc++] = ops[i].client;
	}
	qsort(times, nt, sizeof(int64_t), html_compare_i64);
	size_t distinct = 0;
	for (size_t i = 0; i < nt; i++) {
		if (distinct == 0 || times[distinct - 1] != times[i])
			times[distinct++] = times[i];
	}
	qsort(clients, nc, sizeof(int64_t), html_compare_client);
	size_t rows = 0;
	for (size_t i = 0; i < nc; i++) {
		if (rows == 0 || clients[rows - 1] != clients[i])
			clients[rows++] = clients[i];
	}
	size_t width = HTML_LEFT_PX + (distinct + 3) * HTML_STEP_PX;
	size_t height = HTML_TOP_PX + rows * HTML_ROW_PX + 10;

	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>", out);
	html_text(out, title != NULL ? title : "concord-check");
	fputs("</title>\n", out);
	html_style(out);
	fputs("</head><body>\n<h1>", out);
	html_text(out, title != NULL ? title : "concord-check");
	fprintf(out, "</h1>\n<div class=\"verdict v%d\">%s", (int)r->verdict,
	        check_verdict_name(r->verdict));
	if (r->reason[0] != '\0') {
		fputs(": ", out);
		html_text(out, r->reason);
	}
	fprintf(out, "</div>\n<p>%zu operations on %zu keys, %zu clients.", op_count, r->key_count,
	        rows);
	if (drawn_count < op_count)
		fprintf(out, " The timeline shows %zu of them%s.", drawn_count,
		        only_key ? ", those on the failing key" : ", the earliest called");
	fputs(" Time runs left to right; positions keep the order of calls and returns, not "
	      "their durations. Hover over an operation for its details.</p>\n",
	      out);
	fputs("<p class=\"legend\">", out);
	for (int k = CHECK_KIND_GET; k <= CHECK_KIND_TXN; k++)
		fprintf(out, "<span style=\"background:%s\">%s</span>",
		        html_kind_color((enum check_kind)k), check_kind_name((enum check_kind)k));
	fputs(" <span style=\"border:2px dashed #555\">outcome unknown</span>"
	      "<span style=\"border:2px solid #2a7\">linearizable prefix</span>"
	      "<span style=\"background:#e33;color:#fff\">cannot be placed</span>"
	      "<span style=\"opacity:.35\">other keys</span></p>\n",
	      out);
	fprintf(out,
	        "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%zu\" "
	        "height=\"%zu\">\n",
	        width, height);
	for (size_t row = 0; row < rows; row++) {
		size_t y = HTML_TOP_PX + row * HTML_ROW_PX;
		fprintf(out,
		        "<line x1=\"0\" y1=\"%zu\" x2=\"%zu\" y2=\"%zu\" stroke=\"#eee\"/>"
		        "<text x=\"4\" y=\"%zu\">client %" PRId64 "</text>\n",
		        y + HTML_ROW_PX - 2, width, y + HTML_ROW_PX - 2, y + 15, clients[row]);
	}
	char line[640], label[64], value[48];
	for (size_t j = 0; j < op_count; j++) {
		size_t i = order[j];
		if (!drawn[i])
			continue;
		const struct check_op *op = &ops[i];
		size_t row = 0;
		size_t lo = 0, hi = rows;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (clients[mid] < op->client)
				lo = mid + 1;
			else
				hi = mid;
		}
		row = lo;
		size_t x0 = HTML_LEFT_PX + html_rank(times, distinct, op->call_time) * HTML_STEP_PX;
		size_t x1 =
		    op->ok == CHECK_OK_UNKNOWN
		        ? HTML_LEFT_PX + (distinct + 2) * HTML_STEP_PX
		        : HTML_LEFT_PX + html_rank(times, distinct, op->return_time) * HTML_STEP_PX;
		size_t w = x1 > x0 ? x1 - x0 : 0;
		if (w < 4)
			w = 4;
		size_t y = HTML_TOP_PX + row * HTML_ROW_PX + 3;
		const char *fill = mark[i] == HTML_STUCK ? "#e33" : html_kind_color(op->kind);
		const char *stroke = mark[i] == HTML_PREFIX  ? "#2a7"
		                     : mark[i] == HTML_STUCK ? "#900"
		                                             : "#777";
		double opacity = failed_key != NULL && mark[i] == HTML_PLAIN ? 0.35
		                 : op->ok == CHECK_OK_UNKNOWN                ? 0.6
		                                                             : 1.0;
		fprintf(out,
		        "<g opacity=\"%.2f\"><rect x=\"%zu\" y=\"%zu\" width=\"%zu\" height=\"%d\" "
		        "rx=\"3\" fill=\"%s\" stroke=\"%s\" stroke-width=\"%d\"%s><title>",
		        opacity, x0, y, w, HTML_ROW_PX - 6, fill, stroke,
		        mark[i] == HTML_PREFIX || mark[i] == HTML_STUCK ? 2 : 1,
		        op->ok == CHECK_OK_UNKNOWN ? " stroke-dasharray=\"4 2\"" : "");
		char key[128];
		check_format_str(key, sizeof(key), &op->key, 60, "null");
		fputs("key ", out);
		html_text(out, key);
		fputs(": ", out);
		html_text(out, check_describe_op(line, sizeof(line), op));
		if (op->ok == CHECK_OK_FALSE && op->kind != CHECK_KIND_CAS)
			fputs(" -- failed, no effect", out);
		fputs("</title></rect>", out);
		if (w >= 30) {
			const struct check_str *shown =
			    op->kind == CHECK_KIND_GET ? &op->result : &op->value;
			check_format_str(value, sizeof(value), shown, 6, "-");
			snprintf(label, sizeof(label), "%s %s", check_kind_name(op->kind), value);
			size_t max_chars = (w - 4) / 6;
			if (strlen(label) > max_chars)
				label[max_chars] = '\0';
			fprintf(out,
			        "<text x=\"%zu\" y=\"%zu\" fill=\"%s\" pointer-events=\"none\">",
			        x0 + 3, y + 12, mark[i] == HTML_STUCK ? "#fff" : "#000");
			html_text(out, label);
			fputs("</text>", out);
		}
		fputs("</g>\n", out);
	}
	fputs("</svg></div>\n", out);
	if (r->failed_key != SIZE_MAX) {
		html_explanation(out, ops, r);
		html_key_table(out, ops, op_count, r, mark, order);
	}
	fputs("</body></html>\n", out);
	free(mark);
	free(order);
	free(drawn);
	free(times);
	free(clients);
	return ferror(out) ? -EIO : 0;
}
