/* metrics.c: Prometheus text exposition: family lines, samples with escaped labels, histograms. */
#include "codec/metrics.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool metrics_name_valid(const char *name, bool allow_colon)
{
	if (name == NULL || name[0] == '\0') {
		return false;
	}
	for (size_t i = 0; name[i] != '\0'; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          (c == ':' && allow_colon) || (i > 0 && c >= '0' && c <= '9');
		if (!ok) {
			return false;
		}
	}
	return true;
}

static const char *metrics_type_name(enum metrics_type type)
{
	switch (type) {
	case METRICS_COUNTER:
		return "counter";
	case METRICS_GAUGE:
		return "gauge";
	case METRICS_HISTOGRAM:
		return "histogram";
	}
	assert(0 && "unknown metric type");
	return "untyped";
}

int metrics_write_family(struct wire_buf *b, const char *name, const char *help,
                         enum metrics_type type)
{
	assert(metrics_name_valid(name, true));
	assert(help != NULL);
	wire_buf_append_str(b, "# HELP ");
	wire_buf_append_str(b, name);
	wire_buf_append_byte(b, ' ');
	for (size_t i = 0; help[i] != '\0'; i++) {
		if (help[i] == '\\') {
			wire_buf_append(b, "\\\\", 2);
		} else if (help[i] == '\n') {
			wire_buf_append(b, "\\n", 2);
		} else {
			wire_buf_append_byte(b, help[i]);
		}
	}
	wire_buf_append_str(b, "\n# TYPE ");
	wire_buf_append_str(b, name);
	wire_buf_append_byte(b, ' ');
	wire_buf_append_str(b, metrics_type_name(type));
	return wire_buf_append_byte(b, '\n');
}

static void metrics_append_label_value(struct wire_buf *b, const char *value)
{
	for (size_t i = 0; value[i] != '\0'; i++) {
		if (value[i] == '\\') {
			wire_buf_append(b, "\\\\", 2);
		} else if (value[i] == '"') {
			wire_buf_append(b, "\\\"", 2);
		} else if (value[i] == '\n') {
			wire_buf_append(b, "\\n", 2);
		} else {
			wire_buf_append_byte(b, value[i]);
		}
	}
}

/* "<name><suffix>{l1="v1",...[,le="<le>"]} " */
static void metrics_append_series(struct wire_buf *b, const char *name, const char *suffix,
                                  const struct metrics_label *labels, size_t label_count,
                                  const char *le)
{
	assert(metrics_name_valid(name, true));
	assert(labels != NULL || label_count == 0);
	wire_buf_append_str(b, name);
	wire_buf_append_str(b, suffix);
	if (label_count > 0 || le != NULL) {
		wire_buf_append_byte(b, '{');
		for (size_t i = 0; i < label_count; i++) {
			assert(metrics_name_valid(labels[i].name, false));
			assert(labels[i].value != NULL);
			assert(strncmp(labels[i].name, "__", 2) != 0); /* reserved */
			if (i > 0) {
				wire_buf_append_byte(b, ',');
			}
			wire_buf_append_str(b, labels[i].name);
			wire_buf_append(b, "=\"", 2);
			metrics_append_label_value(b, labels[i].value);
			wire_buf_append_byte(b, '"');
		}
		if (le != NULL) {
			if (label_count > 0) {
				wire_buf_append_byte(b, ',');
			}
			wire_buf_append(b, "le=\"", 4);
			wire_buf_append_str(b, le);
			wire_buf_append_byte(b, '"');
		}
		wire_buf_append_byte(b, '}');
	}
	wire_buf_append_byte(b, ' ');
}

/* The shortest decimal text of v that reads back exactly; Prometheus's spellings of
 * the non-finite values. */
static void metrics_format_double(char text[32], double v)
{
	if (isnan(v)) {
		strcpy(text, "NaN");
		return;
	}
	if (isinf(v)) {
		strcpy(text, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int precision = 1; precision <= 17; precision++) {
		snprintf(text, 32, "%.*g", precision, v);
		if (strtod(text, NULL) == v) {
			return;
		}
	}
}

int metrics_write_u64(struct wire_buf *b, const char *name, const struct metrics_label *labels,
                      size_t label_count, uint64_t value)
{
	metrics_append_series(b, name, "", labels, label_count, NULL);
	wire_buf_append_u64(b, value);
	return wire_buf_append_byte(b, '\n');
}

int metrics_write_i64(struct wire_buf *b, const char *name, const struct metrics_label *labels,
                      size_t label_count, int64_t value)
{
	metrics_append_series(b, name, "", labels, label_count, NULL);
	wire_buf_append_i64(b, value);
	return wire_buf_append_byte(b, '\n');
}

int metrics_write_double(struct wire_buf *b, const char *name, const struct metrics_label *labels,
                         size_t label_count, double value)
{
	char text[32];
	metrics_format_double(text, value);
	metrics_append_series(b, name, "", labels, label_count, NULL);
	wire_buf_append_str(b, text);
	return wire_buf_append_byte(b, '\n');
}

int metrics_write_histogram(struct wire_buf *b, const char *name,
                            const struct metrics_label *labels, size_t label_count,
                            const struct histogram *h)
{
	assert(h->bucket_count >= 1);
	assert(h->bucket_count <= HISTOGRAM_BUCKETS_MAX);
	for (size_t i = 0; i < label_count; i++) {
		assert(strcmp(labels[i].name, "le") != 0);
	}
	uint64_t cumulative = 0;
	char le[32];
	for (size_t i = 0; i <= h->bucket_count; i++) {
		cumulative += h->counts[i];
		if (i < h->bucket_count) {
			metrics_format_double(le, h->bounds[i]);
		} else {
			strcpy(le, "+Inf");
		}
		metrics_append_series(b, name, "_bucket", labels, label_count, le);
		wire_buf_append_u64(b, cumulative);
		wire_buf_append_byte(b, '\n');
	}
	assert(cumulative == h->count);
	char sum[32];
	metrics_format_double(sum, h->sum);
	metrics_append_series(b, name, "_sum", labels, label_count, NULL);
	wire_buf_append_str(b, sum);
	wire_buf_append_byte(b, '\n');
	metrics_append_series(b, name, "_count", labels, label_count, NULL);
	wire_buf_append_u64(b, h->count);
	return wire_buf_append_byte(b, '\n');
}
