/* report.c: the nemesis run report as one HTML page, with an SVG graph of throughput and faults. */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

/*
 * The graph, top to bottom: one thin lane per concurrent fault, the plot (operations per
 * second over seconds since the start, faults as translucent bands behind the data), the x
 * axis, and the legend. A run of two hours is far more seconds than pixels, so seconds are
 * averaged into columns of a round number of seconds, each at least REPORT_COLUMN_MIN_PX wide.
 */
enum {
	REPORT_WIDTH_PX = 1100,
	REPORT_LEFT_PX = 64,
	REPORT_RIGHT_PX = 24,
	REPORT_PLOT_W_PX = REPORT_WIDTH_PX - REPORT_LEFT_PX - REPORT_RIGHT_PX,
	REPORT_TOP_PX = 8,
	REPORT_PLOT_H_PX = 260,
	REPORT_LANE_PX = 11,  /* one fault lane, gap included */
	REPORT_LANES_MAX = 8, /* beyond, concurrent faults share the lane that frees first */
	REPORT_AXIS_PX = 40,  /* tick labels and the axis title under the plot */
	REPORT_LEGEND_ROW_PX = 18,
	REPORT_COLUMN_MIN_PX = 2,
	REPORT_BAR_MIN_PX = 3,   /* a nonzero failed or unknown bar is at least this tall, */
	REPORT_BAR_MIN_W_PX = 2, /* and this wide */
	REPORT_SPAN_MIN_PX = 2,  /* an instant fault is still this wide */
	REPORT_X_TICKS_MAX = 10,
	REPORT_Y_TICKS_MAX = 6,
	REPORT_LEGEND_KINDS_MAX = 40,
	REPORT_CLOCK_LABELS_S = 300, /* longer runs label the x axis m:ss or h:mm:ss */
};

/* Times beyond this are clamped (about 115 days): keeps every integer conversion in range. */
static const double report_time_max_s = 1e7;

static const char report_ok_fill[] = "#9bd59b";
static const char report_ok_stroke[] = "#2b8a3e";
static const char report_failed_fill[] = "#d62728";
static const char report_unknown_fill[] = "#ff8c00";

/* Fault colors, away from the green, red and orange of the data. */
static const struct report_color {
	const char *fill;
	const char *text; /* readable on fill */
} report_palette[] = {
    {"#1f77b4", "#fff"}, {"#9467bd", "#fff"}, {"#8c564b", "#fff"}, {"#e377c2", "#000"},
    {"#17becf", "#000"}, {"#bcbd22", "#000"}, {"#7f7f7f", "#fff"}, {"#393b79", "#fff"},
    {"#c800c8", "#fff"}, {"#ffe119", "#000"}, {"#dcbeff", "#000"}, {"#222222", "#fff"},
};
enum { REPORT_PALETTE_SIZE = sizeof(report_palette) / sizeof(report_palette[0]) };

static const size_t report_tick_s[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                                       600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400};
static const size_t report_bucket_s[] = {1,  2,  3,  4,   5,   6,   10,  12,   15,
                                         20, 30, 60, 120, 300, 600, 900, 1800, 3600};

/* ---------------------------------------------------------------------------------------- */
/* Text */

/* Length of the valid UTF-8 sequence (of a character XML allows) at p, or 0. */
static size_t report_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (len == 3 && cp < 0x800)
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	if (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
		return 0;
	if (cp == 0xfffe || cp == 0xffff)
		return 0;
	return len;
}

/*
 * Writes n bytes of s as HTML/XML text: markup characters become entities, control
 * characters (but tab, newline and carriage return) and invalid UTF-8 become U+FFFD.
 */
static void report_escape(FILE *out, const char *s, size_t n)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t len = report_utf8_len(p + i, n - i);
			if (len == 0) {
				fputs(replacement, out);
				i++;
			} else {
				fwrite(p + i, 1, len, out);
				i += len;
			}
			continue;
		}
		switch (c) {
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
		case '\'':
			fputs("&#39;", out);
			break;
		case '\t':
		case '\n':
		case '\r':
			fputc(c, out);
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				fputs(replacement, out);
			else
				fputc(c, out);
		}
		i++;
	}
}

/* Writes a NUL-terminated string escaped; NULL writes nothing. */
static void report_text(FILE *out, const char *s)
{
	if (s != NULL)
		report_escape(out, s, strlen(s));
}

/* Characters (not bytes) in n bytes of UTF-8, to estimate the width of a label. */
static size_t report_chars(const char *s, size_t n)
{
	size_t chars = 0;
	for (size_t i = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
	}
	return chars;
}

/* Estimated width of a label of `chars` characters at the graph's font size (11 px). */
static double report_text_px(size_t chars)
{
	return 6.2 * (double)chars;
}

static size_t report_kind_len(const struct nemesis_span *s)
{
	return strnlen(s->kind, sizeof(s->kind));
}

static size_t report_detail_len(const struct nemesis_span *s)
{
	return strnlen(s->detail, sizeof(s->detail));
}

/* How the x axis is labeled, by the length of the run. */
enum report_time_unit {
	REPORT_TIME_S,
	REPORT_TIME_M_SS,
	REPORT_TIME_H_MM_SS,
};

static enum report_time_unit report_time_unit(double duration_s)
{
	if (duration_s <= REPORT_CLOCK_LABELS_S)
		return REPORT_TIME_S;
	return duration_s < 3600 ? REPORT_TIME_M_SS : REPORT_TIME_H_MM_SS;
}

static void report_format_time(char *buf, size_t len, size_t t_s, enum report_time_unit unit)
{
	switch (unit) {
	case REPORT_TIME_S:
		snprintf(buf, len, "%zu", t_s);
		break;
	case REPORT_TIME_M_SS:
		snprintf(buf, len, "%zu:%02zu", t_s / 60, t_s % 60);
		break;
	case REPORT_TIME_H_MM_SS:
		snprintf(buf, len, "%zu:%02zu:%02zu", t_s / 3600, t_s / 60 % 60, t_s % 60);
		break;
	}
}

/* A tick label of the y axis; values are round multiples of the step. */
static void report_format_rate(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%gM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%gk", v / 1e3);
	else
		snprintf(buf, len, "%g", v);
}

/* ---------------------------------------------------------------------------------------- */
/* Layout */

struct report_kind {
	const char *name; /* a span's kind, not NUL-terminated when it fills the array */
	size_t len;
	size_t color; /* index into report_palette */
};

struct report_layout {
	double duration_s; /* the x axis runs from 0 to here */
	size_t seconds;    /* per-second entries drawn: r->seconds, clamped */
	size_t bucket_s;   /* seconds averaged per column */
	size_t columns;
	double y_max, y_step;
	size_t y_ticks;
	size_t x_tick_s;
	size_t lanes;
	size_t *lane_of; /* per span */
	size_t *kind_of; /* per span, into kinds */
	struct report_kind *kinds;
	size_t n_kinds;
	bool any_unhealed;
	double plot_top, plot_bottom, legend_top;
	size_t legend_rows;
	size_t height;
};

struct report_rates {
	double ok, failed, unknown;
};

static double report_clamp_time(double t_s)
{
	if (!(t_s >= 0)) /* also NaN */
		return 0;
	return t_s < report_time_max_s ? t_s : report_time_max_s;
}

static bool report_span_healed(const struct nemesis_span *s)
{
	return isfinite(s->end_s) && s->end_s >= 0;
}

static double report_span_start(const struct nemesis_span *s)
{
	return report_clamp_time(s->start_s);
}

/* Where the span ends on the axis: the end of the run when it was never healed. */
static double report_span_end(const struct report_layout *l, const struct nemesis_span *s)
{
	double start = report_span_start(s);
	double end = report_span_healed(s) ? report_clamp_time(s->end_s) : l->duration_s;
	return end > start ? end : start;
}

static double report_x(const struct report_layout *l, double t_s)
{
	return REPORT_LEFT_PX + t_s / l->duration_s * REPORT_PLOT_W_PX;
}

static double report_y(const struct report_layout *l, double rate)
{
	return l->plot_bottom - rate / l->y_max * REPORT_PLOT_H_PX;
}

/* Mean operations per second over the seconds of column c. */
static struct report_rates report_column(const struct nemesis_report *r,
                                         const struct report_layout *l, size_t c)
{
	size_t from = c * l->bucket_s;
	size_t to = from + l->bucket_s < l->seconds ? from + l->bucket_s : l->seconds;
	uint64_t ok = 0, failed = 0, unknown = 0;
	assert(from < to);
	for (size_t i = from; i < to; i++) {
		ok += r->ok != NULL ? r->ok[i] : 0;
		failed += r->failed != NULL ? r->failed[i] : 0;
		unknown += r->unknown != NULL ? r->unknown[i] : 0;
	}
	double n = (double)(to - from);
	return (struct report_rates){(double)ok / n, (double)failed / n, (double)unknown / n};
}

static void report_layout_x(struct report_layout *l, const struct nemesis_report *r)
{
	double duration = (double)r->seconds;
	for (size_t i = 0; i < r->n_spans; i++) {
		const struct nemesis_span *s = &r->spans[i];
		if (report_span_start(s) > duration)
			duration = report_span_start(s);
		if (report_span_healed(s) && report_clamp_time(s->end_s) > duration)
			duration = report_clamp_time(s->end_s);
	}
	if (duration < 1)
		duration = 1;
	if (duration > report_time_max_s)
		duration = report_time_max_s;
	l->duration_s = duration;
	l->seconds = (double)r->seconds < duration ? r->seconds : (size_t)duration;

	size_t max_columns = REPORT_PLOT_W_PX / REPORT_COLUMN_MIN_PX;
	size_t n_buckets = sizeof(report_bucket_s) / sizeof(report_bucket_s[0]);
	l->bucket_s = 0;
	for (size_t i = 0; i < n_buckets && l->bucket_s == 0; i++) {
		if (duration / (double)report_bucket_s[i] <= (double)max_columns)
			l->bucket_s = report_bucket_s[i];
	}
	if (l->bucket_s == 0)
		l->bucket_s = (size_t)(duration / (double)max_columns) + 1;
	l->columns = (l->seconds + l->bucket_s - 1) / l->bucket_s;

	size_t n_ticks = sizeof(report_tick_s) / sizeof(report_tick_s[0]);
	l->x_tick_s = 0;
	for (size_t i = 0; i < n_ticks && l->x_tick_s == 0; i++) {
		if (duration / (double)report_tick_s[i] <= REPORT_X_TICKS_MAX)
			l->x_tick_s = report_tick_s[i];
	}
	if (l->x_tick_s == 0) {
		l->x_tick_s = report_tick_s[n_ticks - 1];
		while (duration / (double)l->x_tick_s > REPORT_X_TICKS_MAX)
			l->x_tick_s *= 2;
	}
}

/* A y axis from 0 to a round maximum, in at most 6 steps of 1, 2, 2.5 or 5 times a power of 10. */
static void report_layout_y(struct report_layout *l, const struct nemesis_report *r)
{
	double max = 0;
	for (size_t c = 0; c < l->columns; c++) {
		struct report_rates rates = report_column(r, l, c);
		max = rates.ok > max ? rates.ok : max;
		max = rates.failed > max ? rates.failed : max;
		max = rates.unknown > max ? rates.unknown : max;
	}
	if (max < 1)
		max = 1;
	double raw = max / REPORT_Y_TICKS_MAX, magnitude = 1;
	while (magnitude * 10 <= raw)
		magnitude *= 10;
	while (magnitude > raw)
		magnitude /= 10;
	double norm = raw / magnitude;
	double factor = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
	l->y_step = factor * magnitude;
	l->y_ticks = (size_t)(max / l->y_step);
	if ((double)l->y_ticks * l->y_step < max * (1 - 1e-9))
		l->y_ticks++;
	l->y_max = (double)l->y_ticks * l->y_step;
	assert(l->y_ticks >= 1);
	assert(l->y_ticks <= REPORT_Y_TICKS_MAX);
}

struct report_order {
	double start_s;
	size_t index;
};

static int report_compare_order(const void *pa, const void *pb)
{
	const struct report_order *a = pa, *b = pb;
	if (a->start_s != b->start_s)
		return a->start_s < b->start_s ? -1 : 1;
	return a->index < b->index ? -1 : (a->index > b->index);
}

/* Greedy interval partitioning by start time: a span takes the first lane free at its start. */
static int report_layout_lanes(struct report_layout *l, const struct nemesis_report *r)
{
	struct report_order *order = calloc(r->n_spans + 1, sizeof(*order));
	if (order == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_spans; i++) {
		order[i].start_s = report_span_start(&r->spans[i]);
		order[i].index = i;
	}
	qsort(order, r->n_spans, sizeof(*order), report_compare_order);
	/* Spans closer than an instant fault's width would overlap on screen. */
	double min_s = REPORT_SPAN_MIN_PX * l->duration_s / REPORT_PLOT_W_PX;
	double lane_end[REPORT_LANES_MAX] = {0};
	l->lanes = 0;
	for (size_t j = 0; j < r->n_spans; j++) {
		const struct nemesis_span *s = &r->spans[order[j].index];
		double start = order[j].start_s, end = report_span_end(l, s);
		size_t lane = SIZE_MAX;
		for (size_t k = 0; k < l->lanes && lane == SIZE_MAX; k++) {
			if (lane_end[k] <= start)
				lane = k;
		}
		if (lane == SIZE_MAX && l->lanes < REPORT_LANES_MAX)
			lane = l->lanes++;
		if (lane == SIZE_MAX) {
			lane = 0;
			for (size_t k = 1; k < l->lanes; k++) {
				if (lane_end[k] < lane_end[lane])
					lane = k;
			}
		}
		lane_end[lane] = end > start + min_s ? end : start + min_s;
		l->lane_of[order[j].index] = lane;
	}
	free(order);
	return 0;
}

static uint32_t report_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

static int report_compare_kind(const void *pa, const void *pb)
{
	const struct report_kind *a = pa, *b = pb;
	int c = memcmp(a->name, b->name, a->len < b->len ? a->len : b->len);
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : (a->len > b->len);
}

/*
 * The distinct kinds, sorted by name. A kind's color comes from the hash of its name; when
 * two kinds of the report hash to the same color, the later by name takes the next free one,
 * so colors depend only on the set of kinds.
 */
static void report_layout_kinds(struct report_layout *l, const struct nemesis_report *r)
{
	l->n_kinds = 0;
	for (size_t i = 0; i < r->n_spans; i++) {
		struct report_kind k = {r->spans[i].kind, report_kind_len(&r->spans[i]), 0};
		bool seen = false;
		for (size_t j = 0; j < l->n_kinds && !seen; j++)
			seen = report_compare_kind(&k, &l->kinds[j]) == 0;
		if (!seen)
			l->kinds[l->n_kinds++] = k;
	}
	qsort(l->kinds, l->n_kinds, sizeof(*l->kinds), report_compare_kind);
	bool taken[REPORT_PALETTE_SIZE] = {false};
	size_t n_taken = 0;
	for (size_t j = 0; j < l->n_kinds; j++) {
		size_t color = report_hash(l->kinds[j].name, l->kinds[j].len) % REPORT_PALETTE_SIZE;
		while (n_taken < REPORT_PALETTE_SIZE && taken[color])
			color = (color + 1) % REPORT_PALETTE_SIZE;
		if (!taken[color]) {
			taken[color] = true;
			n_taken++;
		}
		l->kinds[j].color = color;
	}
	for (size_t i = 0; i < r->n_spans; i++) {
		struct report_kind k = {r->spans[i].kind, report_kind_len(&r->spans[i]), 0};
		struct report_kind *found =
		    bsearch(&k, l->kinds, l->n_kinds, sizeof(*l->kinds), report_compare_kind);
		assert(found != NULL);
		l->kind_of[i] = (size_t)(found - l->kinds);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Legend */

struct report_legend {
	FILE *out; /* NULL: only measures */
	double x, y;
	size_t rows;
};

enum report_swatch {
	REPORT_SWATCH_FILL,
	REPORT_SWATCH_DASHED, /* a fault never healed */
};

static void report_legend_item(struct report_legend *g, const char *fill, enum report_swatch sw,
                               const char *label, size_t len)
{
	double width = 14 + 5 + report_text_px(report_chars(label, len)) + 16;
	if (g->x > REPORT_LEFT_PX && g->x + width > REPORT_WIDTH_PX - REPORT_RIGHT_PX) {
		g->x = REPORT_LEFT_PX;
		g->y += REPORT_LEGEND_ROW_PX;
		g->rows++;
	}
	if (g->out != NULL) {
		if (sw == REPORT_SWATCH_DASHED)
			fprintf(
			    g->out,
			    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"#ddd\" "
			    "stroke=\"#000\" stroke-dasharray=\"2 2\"/>",
			    g->x, g->y);
		else
			fprintf(
			    g->out,
			    "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"10\" fill=\"%s\"/>",
			    g->x, g->y, fill);
		fprintf(g->out, "<text x=\"%.1f\" y=\"%.1f\">", g->x + 19, g->y + 9);
		report_escape(g->out, label, len);
		fputs("</text>\n", g->out);
	}
	g->x += width;
}

/* Lays out (out NULL) or draws the legend from y; returns its rows. */
static size_t report_legend(FILE *out, const struct report_layout *l, double y)
{
	struct report_legend g = {out, REPORT_LEFT_PX, y, 1};
	static const char ok[] = "ok", failed[] = "failed", unknown[] = "unknown (timed out)";
	report_legend_item(&g, report_ok_fill, REPORT_SWATCH_FILL, ok, strlen(ok));
	report_legend_item(&g, report_failed_fill, REPORT_SWATCH_FILL, failed, strlen(failed));
	report_legend_item(&g, report_unknown_fill, REPORT_SWATCH_FILL, unknown, strlen(unknown));
	for (size_t j = 0; j < l->n_kinds && j < REPORT_LEGEND_KINDS_MAX; j++) {
		const struct report_kind *k = &l->kinds[j];
		report_legend_item(&g, report_palette[k->color].fill, REPORT_SWATCH_FILL, k->name,
		                   k->len);
	}
	if (l->n_kinds > REPORT_LEGEND_KINDS_MAX) {
		char more[64];
		snprintf(more, sizeof(more), "and %zu more kinds",
		         l->n_kinds - REPORT_LEGEND_KINDS_MAX);
		report_legend_item(&g, "#fff", REPORT_SWATCH_FILL, more, strlen(more));
	}
	if (l->any_unhealed) {
		static const char unhealed[] = "fault never healed";
		report_legend_item(&g, "", REPORT_SWATCH_DASHED, unhealed, strlen(unhealed));
	}
	return g.rows;
}

static void report_layout_free(struct report_layout *l)
{
	free(l->lane_of);
	free(l->kind_of);
	free(l->kinds);
}

static int report_layout_init(struct report_layout *l, const struct nemesis_report *r)
{
	memset(l, 0, sizeof(*l));
	l->lane_of = calloc(r->n_spans + 1, sizeof(*l->lane_of));
	l->kind_of = calloc(r->n_spans + 1, sizeof(*l->kind_of));
	l->kinds = calloc(r->n_spans + 1, sizeof(*l->kinds));
	if (l->lane_of == NULL || l->kind_of == NULL || l->kinds == NULL) {
		report_layout_free(l);
		return -ENOMEM;
	}
	report_layout_x(l, r);
	report_layout_y(l, r);
	int rc = report_layout_lanes(l, r);
	if (rc != 0) {
		report_layout_free(l);
		return rc;
	}
	report_layout_kinds(l, r);
	for (size_t i = 0; i < r->n_spans; i++)
		l->any_unhealed = l->any_unhealed || !report_span_healed(&r->spans[i]);
	l->plot_top = REPORT_TOP_PX + (l->lanes > 0 ? (double)l->lanes * REPORT_LANE_PX + 6 : 0);
	l->plot_bottom = l->plot_top + REPORT_PLOT_H_PX;
	l->legend_top = l->plot_bottom + REPORT_AXIS_PX;
	l->legend_rows = report_legend(NULL, l, l->legend_top);
	l->height = (size_t)l->legend_top + l->legend_rows * REPORT_LEGEND_ROW_PX + 4;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* SVG */

static void report_svg_grid(FILE *out, const struct report_layout *l)
{
	char label[32];
	double right = REPORT_WIDTH_PX - REPORT_RIGHT_PX;
	for (size_t i = 0; i <= l->y_ticks; i++) {
		double v = (double)i * l->y_step, y = report_y(l, v);
		fprintf(out,
		        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>",
		        REPORT_LEFT_PX, y, right, y);
		report_format_rate(label, sizeof(label), v);
		fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
		        REPORT_LEFT_PX - 6, y + 4, label);
	}
	enum report_time_unit unit = report_time_unit(l->duration_s);
	for (size_t t = 0; (double)t <= l->duration_s; t += l->x_tick_s) {
		double x = report_x(l, (double)t);
		fprintf(out,
		        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#f0f0f0\"/>"
		        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>",
		        x, l->plot_top, x, l->plot_bottom, x, l->plot_bottom, x,
		        l->plot_bottom + 5);
		report_format_time(label, sizeof(label), t, unit);
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
		        l->plot_bottom + 17, label);
	}
}

static void report_svg_axes(FILE *out, const struct report_layout *l)
{
	fprintf(out,
	        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#888\"/>"
	        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#888\"/>\n",
	        REPORT_LEFT_PX, l->plot_top, REPORT_LEFT_PX, l->plot_bottom, REPORT_LEFT_PX,
	        l->plot_bottom, REPORT_WIDTH_PX - REPORT_RIGHT_PX, l->plot_bottom);
	static const char *const titles[] = {
	    [REPORT_TIME_S] = "seconds since start",
	    [REPORT_TIME_M_SS] = "time since start (m:ss)",
	    [REPORT_TIME_H_MM_SS] = "time since start (h:mm:ss)",
	};
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
	        REPORT_LEFT_PX + REPORT_PLOT_W_PX / 2.0, l->plot_bottom + 33,
	        titles[report_time_unit(l->duration_s)]);
	double mid = (l->plot_top + l->plot_bottom) / 2;
	if (l->bucket_s == 1)
		fprintf(out,
		        "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
		        "transform=\"rotate(-90 14 %.1f)\">operations per second</text>\n",
		        mid, mid);
	else
		fprintf(out,
		        "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
		        "transform=\"rotate(-90 14 %.1f)\">operations per second (mean over %zu s)"
		        "</text>\n",
		        mid, mid, l->bucket_s);
	if (l->lanes > 0)
		fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">faults</text>\n",
		        REPORT_LEFT_PX - 6,
		        REPORT_TOP_PX + (double)l->lanes * REPORT_LANE_PX / 2 + 4);
}

/* One fault: a band behind the data and a bar in its lane, sharing one hover title. */
static void report_svg_span(FILE *out, const struct report_layout *l, const struct nemesis_span *s,
                            size_t i)
{
	const struct report_kind *k = &l->kinds[l->kind_of[i]];
	const struct report_color *color = &report_palette[k->color];
	double start = report_span_start(s), end = report_span_end(l, s);
	double x0 = report_x(l, start), x1 = report_x(l, end);
	double w = x1 - x0 > REPORT_SPAN_MIN_PX ? x1 - x0 : REPORT_SPAN_MIN_PX;
	double lane_y = REPORT_TOP_PX + (double)l->lane_of[i] * REPORT_LANE_PX;
	bool healed = report_span_healed(s);

	fputs("<g class=\"span\"><title>", out);
	report_escape(out, k->name, k->len);
	if (healed)
		fprintf(out, ", %.1f s to %.1f s (%.1f s)", start, end, end - start);
	else
		fprintf(out, ", from %.1f s, never healed", start);
	if (report_detail_len(s) > 0) {
		fputs(": ", out);
		report_escape(out, s->detail, report_detail_len(s));
	}
	fprintf(out,
	        "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
	        "fill-opacity=\"0.18\"/><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" "
	        "fill=\"%s\"%s/>",
	        x0, l->plot_top, w, REPORT_PLOT_H_PX, color->fill, x0, lane_y, w,
	        REPORT_LANE_PX - 2, color->fill,
	        healed ? "" : " stroke=\"#000\" stroke-dasharray=\"2 2\"");
	if (w >= report_text_px(report_chars(k->name, k->len)) * 0.85 + 6) {
		fprintf(out,
		        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" fill=\"%s\" "
		        "pointer-events=\"none\">",
		        x0 + 3, lane_y + 7.5, color->text);
		report_escape(out, k->name, k->len);
		fputs("</text>", out);
	}
	fputs("</g>\n", out);
}

/* ok as a stepped area; failed and unknown as bars side by side, never thinner than visible. */
static void report_svg_data(FILE *out, const struct nemesis_report *r,
                            const struct report_layout *l)
{
	if (l->columns == 0) {
		fprintf(out,
		        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">"
		        "no operations recorded</text>\n",
		        REPORT_LEFT_PX + REPORT_PLOT_W_PX / 2.0,
		        (l->plot_top + l->plot_bottom) / 2);
		return;
	}
	fprintf(out, "<path d=\"M%.1f %.1f", report_x(l, 0), l->plot_bottom);
	for (size_t c = 0; c < l->columns; c++) {
		size_t to = (c + 1) * l->bucket_s < l->seconds ? (c + 1) * l->bucket_s : l->seconds;
		double y = report_y(l, report_column(r, l, c).ok);
		fprintf(out, " L%.1f %.1f L%.1f %.1f", report_x(l, (double)(c * l->bucket_s)), y,
		        report_x(l, (double)to), y);
	}
	fprintf(out,
	        " L%.1f %.1fZ\" fill=\"%s\" fill-opacity=\"0.65\" stroke=\"%s\" "
	        "stroke-width=\"1\"/>\n",
	        report_x(l, (double)l->seconds), l->plot_bottom, report_ok_fill, report_ok_stroke);
	for (size_t c = 0; c < l->columns; c++) {
		size_t to = (c + 1) * l->bucket_s < l->seconds ? (c + 1) * l->bucket_s : l->seconds;
		double x0 = report_x(l, (double)(c * l->bucket_s)), x1 = report_x(l, (double)to);
		double half = (x1 - x0) / 2;
		struct report_rates rates = report_column(r, l, c);
		const double values[2] = {rates.failed, rates.unknown};
		const char *fills[2] = {report_failed_fill, report_unknown_fill};
		for (size_t k = 0; k < 2; k++) {
			if (values[k] <= 0)
				continue;
			double h = values[k] / l->y_max * REPORT_PLOT_H_PX;
			h = h > REPORT_BAR_MIN_PX ? h : REPORT_BAR_MIN_PX;
			double w = half > REPORT_BAR_MIN_W_PX ? half : REPORT_BAR_MIN_W_PX;
			fprintf(out,
			        "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" "
			        "fill=\"%s\"/>",
			        x0 + (double)k * half, l->plot_bottom - h, w, h, fills[k]);
		}
	}
	fputc('\n', out);
}

static void report_svg_write(FILE *out, const struct nemesis_report *r,
                             const struct report_layout *l)
{
	fprintf(out,
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%zu\" "
	        "viewBox=\"0 0 %d %zu\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\n"
	        "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
	        REPORT_WIDTH_PX, l->height, REPORT_WIDTH_PX, l->height);
	report_svg_grid(out, l);
	for (size_t i = 0; i < r->n_spans; i++)
		report_svg_span(out, l, &r->spans[i], i);
	report_svg_data(out, r, l);
	report_svg_axes(out, l);
	fputs("<g class=\"legend\">\n", out);
	report_legend(out, l, l->legend_top);
	fputs("</g>\n</svg>\n", out);
}

static void report_check(const struct nemesis_report *r)
{
	assert(r != NULL);
	assert(r->spans != NULL || r->n_spans == 0);
	assert(r->summary_keys != NULL || r->n_summary == 0);
	assert(r->summary_values != NULL || r->n_summary == 0);
}

int nemesis_report_svg(FILE *f, const struct nemesis_report *r)
{
	assert(f != NULL);
	report_check(r);
	struct report_layout l;
	int rc = report_layout_init(&l, r);
	if (rc != 0)
		return rc;
	report_svg_write(f, r, &l);
	report_layout_free(&l);
	return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* HTML */

static void report_html_head(FILE *out, const char *title)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", out);
	report_text(out, title);
	fputs("</title>\n<style>\n"
	      "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}\n"
	      ".verdict{display:inline-block;padding:.4em .9em;border-radius:6px;font-size:1.3em;"
	      "font-weight:600}\n"
	      ".ok{background:#d3f0d3;color:#135c13}.bad{background:#f8d0d0;color:#8a1010}\n"
	      ".detail{white-space:pre-wrap}\n"
	      "pre{background:#f6f6f6;padding:.6em;white-space:pre-wrap;overflow-wrap:anywhere}\n"
	      "table{border-collapse:collapse;font-size:13px}\n"
	      "td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top;"
	      "white-space:pre-wrap}\n"
	      "td.n{text-align:right;white-space:nowrap}\n"
	      ".sw{display:inline-block;width:.8em;height:.8em;margin-right:.4em}\n"
	      ".graph svg{max-width:100%;height:auto}\n"
	      "</style>\n</head><body>\n",
	      out);
}

static void report_html_spans(FILE *out, const struct nemesis_report *r,
                              const struct report_layout *l)
{
	fprintf(out, "<h2>Faults (%zu)</h2>\n", r->n_spans);
	if (r->n_spans == 0) {
		fputs("<p>The nemesis applied no faults.</p>\n", out);
		return;
	}
	fputs("<table class=\"spans\">\n<tr><th>#</th><th>start</th><th>end</th><th>duration</th>"
	      "<th>kind</th><th>detail</th></tr>\n",
	      out);
	for (size_t i = 0; i < r->n_spans; i++) {
		const struct nemesis_span *s = &r->spans[i];
		const struct report_kind *k = &l->kinds[l->kind_of[i]];
		double start = report_span_start(s), end = report_span_end(l, s);
		fprintf(out, "<tr><td class=\"n\">%zu</td><td class=\"n\">%.1f s</td>", i + 1,
		        start);
		if (report_span_healed(s))
			fprintf(out, "<td class=\"n\">%.1f s</td><td class=\"n\">%.1f s</td>", end,
			        end - start);
		else
			fprintf(out,
			        "<td class=\"n\">never healed</td><td class=\"n\">&ge; %.1f s</td>",
			        end - start);
		fprintf(out, "<td><span class=\"sw\" style=\"background:%s\"></span>",
		        report_palette[k->color].fill);
		report_escape(out, k->name, k->len);
		fputs("</td><td>", out);
		report_escape(out, s->detail, report_detail_len(s));
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void report_html_write(FILE *out, const struct nemesis_report *r,
                              const struct report_layout *l)
{
	const char *title = r->title != NULL ? r->title : "Concord nemesis";
	report_html_head(out, title);
	fputs("<h1>", out);
	report_text(out, title);
	fprintf(out, "</h1>\n<p class=\"verdict %s\">", r->verdict_ok ? "ok" : "bad");
	report_text(out, r->verdict != NULL ? r->verdict : "unknown");
	fputs("</p>\n", out);
	if (r->verdict_detail != NULL && r->verdict_detail[0] != '\0') {
		fputs("<p class=\"detail\">", out);
		report_text(out, r->verdict_detail);
		fputs("</p>\n", out);
	}
	if (r->reproducer != NULL && r->reproducer[0] != '\0') {
		fputs("<h2>Reproduce</h2>\n<pre class=\"reproducer\">", out);
		report_text(out, r->reproducer);
		fputs("</pre>\n", out);
	}
	if (r->n_summary > 0) {
		fputs("<h2>Summary</h2>\n<table class=\"summary\">\n", out);
		for (size_t i = 0; i < r->n_summary; i++) {
			fputs("<tr><th>", out);
			report_text(out, r->summary_keys[i]);
			fputs("</th><td>", out);
			report_text(out, r->summary_values[i]);
			fputs("</td></tr>\n", out);
		}
		fputs("</table>\n", out);
	}
	fputs("<h2>Throughput and faults</h2>\n<p>Operations per second: ok (green area), failed "
	      "(red, by return time), outcome unknown (orange, by call time).",
	      out);
	if (l->bucket_s > 1)
		fprintf(out, " Each column is the mean over %zu s.", l->bucket_s);
	fputs(" Each fault is a shaded band and a bar in a lane above the plot; hover over one for "
	      "its details.</p>\n<div class=\"graph\">\n",
	      out);
	report_svg_write(out, r, l);
	fputs("</div>\n", out);
	report_html_spans(out, r, l);
	if (r->log_text != NULL) {
		fputs("<h2>Nemesis log</h2>\n<pre class=\"log\">", out);
		report_text(out, r->log_text);
		fputs("</pre>\n", out);
	}
	fputs("</body></html>\n", out);
}

static void report_error(char *err, size_t errlen, const char *what, const char *path, int e)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(e));
}

int nemesis_report_html(const char *path, const struct nemesis_report *r, char *err, size_t errlen)
{
	assert(path != NULL);
	report_check(r);
	struct report_layout l;
	int rc = report_layout_init(&l, r);
	if (rc != 0) {
		report_error(err, errlen, "cannot lay out the report for", path, -rc);
		return rc;
	}
	FILE *out = fopen(path, "w");
	if (out == NULL) {
		int e = errno;
		report_layout_free(&l);
		report_error(err, errlen, "cannot create", path, e);
		return -e;
	}
	/* Only a regular file is removed on failure: the path may be a device. */
	struct stat st;
	bool regular = fstat(fileno(out), &st) == 0 && S_ISREG(st.st_mode);
	errno = 0;
	report_html_write(out, r, &l);
	report_layout_free(&l);
	rc = 0;
	if (fflush(out) != 0 || ferror(out))
		rc = errno != 0 ? -errno : -EIO;
	if (fclose(out) != 0 && rc == 0)
		rc = errno != 0 ? -errno : -EIO;
	if (rc != 0) {
		report_error(err, errlen, "cannot write", path, -rc);
		if (regular)
			unlink(path);
	}
	return rc;
}
