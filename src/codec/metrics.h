/* metrics.h: Prometheus text exposition (format 0.0.4): counters, gauges and fixed-bucket
 * histograms. */
#ifndef CONCORD_SERVER_METRICS_H
#define CONCORD_SERVER_METRICS_H

/*
 * The server keeps its numbers where they live (counters in its structs, histograms in
 * struct histogram, base/histogram.h) and, on GET /metrics, writes them with these functions into
 * a struct wire_buf served as "text/plain; version=0.0.4; charset=utf-8".
 *
 * A family is written as one metrics_write_family (the # HELP and # TYPE lines) followed
 * by its samples, each with its own labels. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*
 * and label names [a-zA-Z_][a-zA-Z0-9_]*: a bad name is a programmer error (assertion).
 * HELP text escapes '\' and newline; label values escape '\', '"' and newline. Values:
 * integers in decimal, doubles in the shortest form that reads back exactly, "+Inf",
 * "-Inf", "NaN".
 */

#include "base/histogram.h"
#include "codec/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_type {
	METRICS_COUNTER = 1,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

struct metrics_label {
	const char *name;
	const char *value; /* any UTF-8; escaped on output */
};

/* "# HELP <name> <help>\n# TYPE <name> <type>\n". */
int metrics_write_family(struct wire_buf *b, const char *name, const char *help,
                         enum metrics_type type);

/* "<name>{<labels>} <value>\n" (no braces without labels). */
int metrics_write_u64(struct wire_buf *b, const char *name, const struct metrics_label *labels,
                      size_t label_count, uint64_t value);
int metrics_write_i64(struct wire_buf *b, const char *name, const struct metrics_label *labels,
                      size_t label_count, int64_t value);
int metrics_write_double(struct wire_buf *b, const char *name, const struct metrics_label *labels,
                         size_t label_count, double value);

/* The samples of one histogram series: <name>_bucket{...,le="..."} (cumulative, +Inf
 * last), <name>_sum and <name>_count, each with `labels` (which must not include "le").
 * Write the family line first with METRICS_HISTOGRAM. */
int metrics_write_histogram(struct wire_buf *b, const char *name,
                            const struct metrics_label *labels, size_t label_count,
                            const struct histogram *h);

#endif /* CONCORD_SERVER_METRICS_H */
