/* test_report.c: the nemesis report page: escaping, the graph's structure, long runs, errors. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"

static int failures;
static const char *current_test = "";

static void expect(bool ok, const char *what, int line)
{
	if (!ok) {
		fprintf(stderr, "FAIL %s (line %d): %s\n", current_test, line, what);
		failures++;
	}
}

#define EXPECT(cond) expect((cond), #cond, __LINE__)

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

static size_t count(const char *hay, size_t hay_len, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	const char *end = hay + hay_len;
	for (const char *p = hay; p + len <= end; p++) {
		if (memcmp(p, needle, len) == 0) {
			n++;
			p += len - 1;
		}
	}
	return n;
}

static bool contains(const char *hay, size_t hay_len, const char *needle)
{
	return count(hay, hay_len, needle) > 0;
}

/* The bytes from the first `from` to the end of the first `to` after it; len 0 if absent. */
static const char *slice(const char *hay, const char *from, const char *to, size_t *len)
{
	const char *a = strstr(hay, from);
	const char *b = a != NULL ? strstr(a, to) : NULL;
	if (b == NULL) {
		*len = 0;
		return "";
	}
	*len = (size_t)(b - a) + strlen(to);
	return a;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	while (buf != NULL) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		char *bigger = realloc(buf, 2 * cap + 1);
		if (bigger == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		*len = n;
	}
	return buf;
}

/* Renders the page into a temporary file and returns its bytes (NUL-terminated), or NULL. */
static char *render_html(const struct nemesis_report *r, size_t *len)
{
	char path[] = "/tmp/test_report.XXXXXX";
	int fd = mkstemp(path);
	EXPECT(fd >= 0);
	if (fd < 0)
		return NULL;
	close(fd);
	char err[256] = "";
	int rc = nemesis_report_html(path, r, err, sizeof(err));
	EXPECT(rc == 0);
	if (rc != 0)
		fprintf(stderr, "  nemesis_report_html: %s\n", err);
	char *page = rc == 0 ? read_all(path, len) : NULL;
	unlink(path);
	EXPECT(rc != 0 || page != NULL);
	return page;
}

static char *render_svg(const struct nemesis_report *r, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	EXPECT(f != NULL);
	if (f == NULL)
		return NULL;
	int rc = nemesis_report_svg(f, r);
	EXPECT(rc == 0);
	fclose(f);
	*len = size;
	return buf;
}

/* Properties every page has, whatever the report. */
static void expect_well_formed_page(const char *page, size_t len, size_t n_spans)
{
	EXPECT(strncmp(page, "<!DOCTYPE html>", strlen("<!DOCTYPE html>")) == 0);
	EXPECT(contains(page, len, "</html>"));
	EXPECT(strcasestr(page, "<script") == NULL);
	EXPECT(strlen(page) == len); /* no NUL byte in the output */
	EXPECT(count(page, len, "<svg") == 1);
	EXPECT(count(page, len, "</svg>") == 1);
	size_t svg_len;
	const char *svg = slice(page, "<svg", "</svg>", &svg_len);
	EXPECT(svg_len > 0);
	EXPECT(count(svg, svg_len, "<title>") == n_spans);
	EXPECT(count(svg, svg_len, "</title>") == n_spans);
	EXPECT(count(svg, svg_len, "<g class=\"span\">") == n_spans);
	EXPECT(count(svg, svg_len, "<g ") == count(svg, svg_len, "</g>"));
	EXPECT(count(svg, svg_len, "<text") == count(svg, svg_len, "</text>"));
	EXPECT(!contains(svg, svg_len, "nan"));
	EXPECT(!contains(svg, svg_len, "inf\""));
	EXPECT(contains(svg, svg_len, "<g class=\"legend\">"));
	/* Control characters other than tab and newline never reach the page. */
	bool clean = true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)page[i];
		if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
			clean = false;
	}
	EXPECT(clean);
}

/* The legend of the graph: the kind appears there as a label. */
static bool legend_has_kind(const char *page, const char *kind_escaped)
{
	size_t len;
	const char *legend = slice(page, "<g class=\"legend\">", "</g>", &len);
	char label[128];
	snprintf(label, sizeof(label), ">%s</text>", kind_escaped);
	return contains(legend, len, label);
}

/* The swatch color drawn just before a kind's legend label, e.g. "#1f77b4", or "". */
static void legend_color(const char *page, const char *kind, char color[8])
{
	size_t len;
	const char *legend = slice(page, "<g class=\"legend\">", "</g>", &len);
	char label[128];
	snprintf(label, sizeof(label), ">%s</text>", kind);
	color[0] = '\0';
	const char *at = strstr(legend, label);
	if (at == NULL || at >= legend + len)
		return;
	const char *fill = NULL;
	for (const char *p = legend; p < at; p++) {
		if (strncmp(p, "fill=\"#", 7) == 0)
			fill = p + 6;
	}
	if (fill != NULL) {
		memcpy(color, fill, 7);
		color[7] = '\0';
	}
}

/* The y of each span's lane bar (the second rect of its group), in the order drawn. */
static size_t lane_ys(const char *svg, size_t svg_len, double *ys, size_t max)
{
	size_t n = 0;
	const char *end = svg + svg_len;
	for (const char *p = strstr(svg, "<g class=\"span\">"); p != NULL && p < end && n < max;
	     p = strstr(p + 1, "<g class=\"span\">")) {
		const char *band = strstr(p, "<rect ");
		const char *lane = band != NULL ? strstr(band + 1, "<rect ") : NULL;
		const char *y = lane != NULL ? strstr(lane, " y=\"") : NULL;
		ys[n++] = y != NULL ? strtod(y + 4, NULL) : -1;
	}
	return n;
}

static size_t count_distinct(const double *v, size_t n)
{
	size_t distinct = 0;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen = seen || v[j] == v[i];
		distinct += seen ? 0 : 1;
	}
	return distinct;
}

static void set_span(struct nemesis_span *s, double start_s, double end_s, const char *kind,
                     const char *detail)
{
	memset(s, 0, sizeof(*s));
	s->start_s = start_s;
	s->end_s = end_s;
	snprintf(s->kind, sizeof(s->kind), "%s", kind);
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
}

/* ---------------------------------------------------------------------------------------- */
/* Tests */

/* Two hours, overlapping and unhealed faults, hostile text everywhere. */
static void test_long_run(void)
{
	current_test = "long run";
	enum { SECONDS = 7200, N_SPANS = 7 };
	static uint32_t ok[SECONDS], failed[SECONDS], unknown[SECONDS];
	for (size_t i = 0; i < SECONDS; i++) {
		ok[i] = 800 + (uint32_t)(i % 60);
		failed[i] = i % 97 == 0 ? 1 : 0;
		unknown[i] = i >= 10 && i < 14 ? 40 : 0;
	}
	struct nemesis_span spans[N_SPANS];
	set_span(&spans[0], 10, 14, "kill", "kill -9 n3 (leader), restarted after 4.0 s");
	set_span(&spans[1], 12, 40, "partition-bridge", "n1 n2 | n3 | n4 n5, n3 bridges");
	set_span(&spans[2], 13, 20, "pause-leader", "SIGSTOP n1 <script>alert(1)</script>&\"'");
	set_span(&spans[3], 15, 15, "clock-jump", "n4 jumps 30 s forward");
	set_span(&spans[4], 3000, 3300, "kill", "kill -9 n2, restarted after 300.0 s");
	set_span(&spans[5], 6000, 6100, "disk-full", "n5's disk full");
	set_span(&spans[6], 7000, -1, "disk-full", "n2's disk full, never freed");
	const char *keys[] = {"operations", "note <b>"};
	const char *values[] = {"5820000", "a <b>bold</b> & \"quoted\"\nsecond line"};
	struct nemesis_report r = {
	    .title = "Concord nemesis, seed 7 <i>",
	    .verdict = "NOT linearizable",
	    .verdict_ok = false,
	    .verdict_detail = "key k3: read 'v9' after <put v10> returned",
	    .reproducer = "concord-nemesis --seed 7 --schedule 'kill,pause' > out.html",
	    .seconds = SECONDS,
	    .ok = ok,
	    .failed = failed,
	    .unknown = unknown,
	    .spans = spans,
	    .n_spans = N_SPANS,
	    .summary_keys = keys,
	    .summary_values = values,
	    .n_summary = 2,
	    .log_text = "0.000 start\n10.000 kill n3 <script>evil()</script>\n7000.0 disk-full\n",
	};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, N_SPANS);

	/* Escaping, in the title, the verdict, the summary, the span table and the log. */
	EXPECT(contains(page, len,
	                "SIGSTOP n1 &lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"));
	EXPECT(contains(page, len, "Concord nemesis, seed 7 &lt;i&gt;"));
	EXPECT(contains(page, len, "read &#39;v9&#39; after &lt;put v10&gt; returned"));
	EXPECT(contains(page, len, "--schedule &#39;kill,pause&#39; &gt; out.html"));
	EXPECT(contains(page, len, "a &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"));
	EXPECT(contains(page, len, "note &lt;b&gt;"));
	EXPECT(contains(page, len, "kill n3 &lt;script&gt;evil()&lt;/script&gt;"));
	EXPECT(!contains(page, len, "<b>"));
	EXPECT(!contains(page, len, "<i>"));
	EXPECT(contains(page, len, "class=\"verdict bad\""));

	/* The hover title carries the detail, escaped. */
	size_t svg_len;
	const char *svg = slice(page, "<svg", "</svg>", &svg_len);
	EXPECT(
	    contains(svg, svg_len,
	             "<title>pause-leader, 13.0 s to 20.0 s (7.0 s): SIGSTOP n1 &lt;script&gt;"));
	EXPECT(contains(svg, svg_len, "<title>disk-full, from 7000.0 s, never healed: n2&#39;s"));

	/*
	 * Spans that overlap in time are drawn in different lanes; so are spans that only
	 * touch on screen (at 7 s a pixel, the instant at 15 s meets the kill ending at 14 s).
	 */
	double ys[N_SPANS];
	EXPECT(lane_ys(svg, svg_len, ys, N_SPANS) == N_SPANS);
	const size_t overlapping[][2] = {{0, 1}, {0, 2}, {1, 2}, {1, 3}, {2, 3}, {0, 3}};
	for (size_t i = 0; i < sizeof(overlapping) / sizeof(overlapping[0]); i++)
		EXPECT(ys[overlapping[i][0]] != ys[overlapping[i][1]]);
	EXPECT(count_distinct(ys, N_SPANS) == 4);

	/* Each kind once in the legend, each with its own color. */
	const char *kinds[] = {"kill", "partition-bridge", "pause-leader", "clock-jump",
	                       "disk-full"};
	enum { N_KINDS = sizeof(kinds) / sizeof(kinds[0]) };
	char colors[N_KINDS][8];
	for (size_t i = 0; i < N_KINDS; i++) {
		EXPECT(legend_has_kind(page, kinds[i]));
		legend_color(page, kinds[i], colors[i]);
		EXPECT(strlen(colors[i]) == 7);
		for (size_t j = 0; j < i; j++)
			EXPECT(strcmp(colors[i], colors[j]) != 0);
	}
	EXPECT(legend_has_kind(page, "fault never healed"));

	/* The span table: a header and one row per span. */
	size_t table_len;
	const char *table = slice(page, "<table class=\"spans\">", "</table>", &table_len);
	EXPECT(count(table, table_len, "<tr>") == N_SPANS + 1);
	EXPECT(contains(table, table_len, "never healed"));
	EXPECT(contains(table, table_len, "<td class=\"n\">300.0 s</td>"));

	/* Two hours: seconds averaged in columns, clock labels, and a page of bounded size. */
	EXPECT(contains(page, len, "mean over 15 s"));
	EXPECT(contains(svg, svg_len, ">2:00:00</text>"));
	EXPECT(contains(svg, svg_len, ">0:15:00</text>"));
	EXPECT(count(svg, svg_len, "<path") == 1);
	EXPECT(count(svg, svg_len, "<rect") < 2000);
	EXPECT(len < 200 * 1024);

	/* The same report renders to the same bytes. */
	size_t again_len = 0;
	char *again = render_html(&r, &again_len);
	EXPECT(again != NULL && again_len == len && memcmp(again, page, len) == 0);
	free(again);

	/* The SVG alone is the same graph, as its own document. */
	size_t alone_len = 0;
	char *alone = render_svg(&r, &alone_len);
	EXPECT(alone != NULL && alone_len == svg_len + 1); /* and a newline */
	EXPECT(alone != NULL && strncmp(alone, "<svg xmlns=", 11) == 0);
	EXPECT(alone != NULL && memcmp(alone, svg, svg_len) == 0);
	free(alone);
	free(page);
}

static void test_zero_seconds(void)
{
	current_test = "zero seconds";
	struct nemesis_report r = {
	    .title = "Concord nemesis, seed 1",
	    .verdict = "FAILED",
	    .verdict_detail = "",
	    .reproducer = "concord-nemesis --seed 1",
	};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, 0);
	EXPECT(contains(page, len, "no operations recorded"));
	EXPECT(contains(page, len, "applied no faults"));
	EXPECT(!contains(page, len, "Nemesis log"));
	EXPECT(!contains(page, len, "class=\"detail\""));
	free(page);
}

static void test_one_second(void)
{
	current_test = "one second";
	uint32_t ok[1] = {5}, failed[1] = {1}, unknown[1] = {2};
	struct nemesis_span span;
	set_span(&span, 0.2, -1, "kill", "kill -9 n1, never restarted");
	struct nemesis_report r = {
	    .title = "one second",
	    .verdict = "linearizable",
	    .verdict_ok = true,
	    .seconds = 1,
	    .ok = ok,
	    .failed = failed,
	    .unknown = unknown,
	    .spans = &span,
	    .n_spans = 1,
	    .log_text = "",
	};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, 1);
	EXPECT(legend_has_kind(page, "kill"));
	EXPECT(contains(page, len, "class=\"verdict ok\""));
	EXPECT(contains(page, len, "never healed"));
	EXPECT(contains(page, len, "Nemesis log"));
	size_t svg_len;
	const char *svg = slice(page, "<svg", "</svg>", &svg_len);
	/* A failed and an unknown bar beside the legend's swatches. */
	EXPECT(count(svg, svg_len, "fill=\"#d62728\"") == 2);
	EXPECT(count(svg, svg_len, "fill=\"#ff8c00\"") == 2);
	free(page);
}

/* One failure among ten thousand operations a second is still drawn a few pixels tall. */
static void test_small_counts_visible(void)
{
	current_test = "small counts visible";
	enum { SECONDS = 60 };
	uint32_t ok[SECONDS], failed[SECONDS] = {0};
	for (size_t i = 0; i < SECONDS; i++)
		ok[i] = 10000;
	failed[30] = 1;
	struct nemesis_report r = {
	    .title = "t", .verdict = "unknown", .seconds = SECONDS, .ok = ok, .failed = failed};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, 0);
	EXPECT(contains(page, len, "height=\"3.0\" fill=\"#d62728\""));
	EXPECT(!contains(page, len, "mean over"));
	EXPECT(contains(page, len, ">60</text>"));
	free(page);
}

/* More concurrent faults than lanes, instants, NaN and infinite times, spans past the end. */
static void test_crowded_spans(void)
{
	current_test = "crowded spans";
	enum { SECONDS = 30, N_SPANS = 24 };
	uint32_t ok[SECONDS];
	for (size_t i = 0; i < SECONDS; i++)
		ok[i] = 100;
	struct nemesis_span spans[N_SPANS];
	for (size_t i = 0; i < N_SPANS; i++) {
		char kind[32];
		snprintf(kind, sizeof(kind), "kind-%zu", i % 14);
		set_span(&spans[i], (double)i * 0.5, 25, kind, "");
	}
	spans[20].start_s = NAN;
	spans[21].end_s = INFINITY;
	spans[22].start_s = -5;
	spans[23].end_s = 100; /* healed after the clients stopped: the axis goes to 100 s */
	struct nemesis_report r = {.title = "crowded",
	                           .verdict = "unknown",
	                           .seconds = SECONDS,
	                           .ok = ok,
	                           .spans = spans,
	                           .n_spans = N_SPANS};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, N_SPANS);
	for (size_t i = 0; i < 14; i++) {
		char kind[32];
		snprintf(kind, sizeof(kind), "kind-%zu", i);
		EXPECT(legend_has_kind(page, kind));
	}
	EXPECT(contains(page, len, ">100</text>"));
	/* Twenty-four concurrent faults share the eight lanes there are. */
	size_t svg_len;
	const char *svg = slice(page, "<svg", "</svg>", &svg_len);
	double ys[N_SPANS];
	EXPECT(lane_ys(svg, svg_len, ys, N_SPANS) == N_SPANS);
	EXPECT(count_distinct(ys, N_SPANS) == 8);
	free(page);
}

/* As many kinds as colors: no two kinds share one. */
static void test_palette(void)
{
	current_test = "palette";
	enum { N_SPANS = 12 };
	struct nemesis_span spans[N_SPANS];
	char kinds[N_SPANS][32];
	for (size_t i = 0; i < N_SPANS; i++) {
		snprintf(kinds[i], sizeof(kinds[i]), "fault-%zu", i);
		set_span(&spans[i], (double)i * 10, (double)i * 10 + 5, kinds[i], "");
	}
	struct nemesis_report r = {.title = "palette",
	                           .verdict = "unknown",
	                           .seconds = 120,
	                           .spans = spans,
	                           .n_spans = N_SPANS};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, N_SPANS);
	char colors[N_SPANS][8];
	for (size_t i = 0; i < N_SPANS; i++) {
		legend_color(page, kinds[i], colors[i]);
		EXPECT(strlen(colors[i]) == 7);
		for (size_t j = 0; j < i; j++)
			EXPECT(strcmp(colors[i], colors[j]) != 0);
	}
	free(page);
}

/* Control characters and invalid UTF-8 become U+FFFD; valid UTF-8 passes; a full kind array. */
static void test_bytes(void)
{
	current_test = "bytes";
	struct nemesis_span span;
	memset(&span, 0, sizeof(span));
	span.start_s = 1;
	span.end_s = 2;
	memset(span.kind, 'x', sizeof(span.kind)); /* no NUL */
	snprintf(span.detail, sizeof(span.detail), "bell\x07 bad\xff caf\xc3\xa9 cut\xe2\x82");
	struct nemesis_report r = {.title = "bytes\x01",
	                           .verdict = "unknown",
	                           .seconds = 3,
	                           .spans = &span,
	                           .n_spans = 1,
	                           .log_text = "a\x1b[31mred\n"};
	size_t len = 0;
	char *page = render_html(&r, &len);
	if (page == NULL)
		return;
	expect_well_formed_page(page, len, 1);
	EXPECT(legend_has_kind(page, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	EXPECT(!contains(page, len, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	EXPECT(contains(page, len, "bell\xef\xbf\xbd bad\xef\xbf\xbd caf\xc3\xa9 cut\xef\xbf\xbd"));
	EXPECT(contains(page, len, "a\xef\xbf\xbd[31mred"));
	EXPECT(!contains(page, len, "\xff"));
	free(page);
}

static void test_errors(void)
{
	current_test = "errors";
	struct nemesis_report r = {.title = "t", .verdict = "unknown"};
	char err[256] = "";
	int rc = nemesis_report_html("/nonexistent-nemesis-dir/report.html", &r, err, sizeof(err));
	EXPECT(rc == -ENOENT);
	EXPECT(err[0] != '\0');
	EXPECT(strstr(err, "/nonexistent-nemesis-dir/report.html") != NULL);
	EXPECT(nemesis_report_html("/nonexistent-nemesis-dir/report.html", &r, NULL, 0) < 0);
	char tiny[4] = "abc";
	EXPECT(nemesis_report_html("/nonexistent-nemesis-dir/report.html", &r, tiny, 1) < 0);
	EXPECT(tiny[0] == '\0');

	/* A full device: the write fails, and the device itself is not removed. */
	struct stat st;
	if (stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode)) {
		err[0] = '\0';
		rc = nemesis_report_html("/dev/full", &r, err, sizeof(err));
		EXPECT(rc == -ENOSPC);
		EXPECT(err[0] != '\0');
		EXPECT(stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode));
	}

	/* A write cut short by the file size limit: an error, and no partial page is left. */
	char path[] = "/tmp/test_report.XXXXXX";
	int fd = mkstemp(path);
	EXPECT(fd >= 0);
	struct rlimit saved;
	if (fd >= 0 && getrlimit(RLIMIT_FSIZE, &saved) == 0) {
		close(fd);
		void (*previous)(int) = signal(SIGXFSZ, SIG_IGN);
		struct rlimit small = {.rlim_cur = 512, .rlim_max = saved.rlim_max};
		EXPECT(setrlimit(RLIMIT_FSIZE, &small) == 0);
		err[0] = '\0';
		rc = nemesis_report_html(path, &r, err, sizeof(err));
		EXPECT(setrlimit(RLIMIT_FSIZE, &saved) == 0);
		signal(SIGXFSZ, previous);
		EXPECT(rc == -EFBIG);
		EXPECT(err[0] != '\0');
		EXPECT(access(path, F_OK) != 0);
		unlink(path);
	}

	/* The SVG alone into a stream that refuses writes. */
	FILE *f = fopen("/dev/null", "r");
	EXPECT(f != NULL);
	if (f != NULL) {
		EXPECT(nemesis_report_svg(f, &r) == -EIO);
		fclose(f);
	}
}

int main(void)
{
	test_long_run();
	test_zero_seconds();
	test_one_second();
	test_small_counts_visible();
	test_crowded_spans();
	test_palette();
	test_bytes();
	test_errors();
	if (failures != 0) {
		fprintf(stderr, "test_report: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_report: all passed\n");
	return 0;
}
