/* report.h: the nemesis run report, one self-contained HTML page with an inline SVG graph. */
#ifndef CONCORD_NEMESIS_REPORT_H
#define CONCORD_NEMESIS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * The report only reads what a struct nemesis_report points to and keeps no pointer past the
 * call; the caller owns everything. Text may hold any bytes: it is HTML-escaped, control
 * characters and invalid UTF-8 become U+FFFD, so the page and the SVG stay well-formed.
 */

/* One fault the nemesis applied, in seconds since the run started. */
struct nemesis_span {
	double start_s, end_s; /* end_s < 0: never healed before the end (drawn to the end) */
	char kind[32];         /* e.g. "kill", "pause-leader", "partition-bridge", "disk-full" */
	char detail[160];      /* e.g. "kill -9 n3 (leader), restarted after 4.0 s" */
};

struct nemesis_report {
	const char *title;   /* "Concord nemesis, seed 7" */
	const char *verdict; /* short: "linearizable", "NOT linearizable", "unknown", "FAILED" */
	bool verdict_ok;     /* colors the verdict green (true) or red (false) */
	const char *verdict_detail; /* a sentence or several lines, may be "" */
	const char *reproducer;     /* the command line that reruns the schedule */
	/*
	 * Per-second counts, each array `seconds` long. A NULL array counts as all zeros.
	 * ok: operations that succeeded (ok true, or cas answered false) in second i;
	 * failed: definitely failed in second i (by return time);
	 * unknown: timed out, outcome unknown (by call time).
	 */
	size_t seconds;
	const uint32_t *ok;
	const uint32_t *failed;
	const uint32_t *unknown;
	const struct nemesis_span *spans; /* may be NULL when n_spans is 0 */
	size_t n_spans;
	/* Rows of the summary table; the arrays may be NULL when n_summary is 0. */
	const char *const *summary_keys;
	const char *const *summary_values;
	size_t n_summary;
	const char
	    *log_text; /* the nemesis log (one line per event), shown in a <pre>; may be NULL */
};

/*
 * Writes the page to `path` (created or truncated). Returns 0, or a negative errno value with
 * a message in err (errlen bytes; err may be NULL when errlen is 0). On failure the partly
 * written file is removed.
 */
int nemesis_report_html(const char *path, const struct nemesis_report *r, char *err, size_t errlen);

/*
 * Writes the same SVG graph alone (a standalone, well-formed SVG document) to f. Returns 0,
 * -ENOMEM, or -EIO when f reports an error.
 */
int nemesis_report_svg(FILE *f, const struct nemesis_report *r);

#endif /* CONCORD_NEMESIS_REPORT_H */
