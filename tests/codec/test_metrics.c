/* test_metrics.c: the Prometheus text writer against a golden exposition. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codec/metrics.h"

static const char golden[] =
    "# HELP concord_requests_total Client requests served, by protocol and command.\n"
    "# TYPE concord_requests_total counter\n"
    "concord_requests_total{proto=\"resp\",cmd=\"GET\"} 1027\n"
    "concord_requests_total{proto=\"http\",cmd=\"a\\\"b\\\\c\\nd\"} 0\n"
    "# HELP concord_raft_term Current term. Back\\\\slash and\\nnewline escaped.\n"
    "# TYPE concord_raft_term gauge\n"
    "concord_raft_term 18446744073709551615\n"
    "concord_clock_skew_seconds -0.25\n"
    "concord_ratio{node=\"n1\"} 0.1\n"
    "concord_signed -42\n"
    "concord_inf +Inf\n"
    "concord_ninf -Inf\n"
    "concord_nan NaN\n"
    "# HELP concord_request_seconds Request latency.\n"
    "# TYPE concord_request_seconds histogram\n"
    "concord_request_seconds_bucket{cmd=\"SET\",le=\"0.001\"} 2\n"
    "concord_request_seconds_bucket{cmd=\"SET\",le=\"0.01\"} 3\n"
    "concord_request_seconds_bucket{cmd=\"SET\",le=\"1\"} 3\n"
    "concord_request_seconds_bucket{cmd=\"SET\",le=\"+Inf\"} 5\n"
    "concord_request_seconds_sum{cmd=\"SET\"} 7.0055\n"
    "concord_request_seconds_count{cmd=\"SET\"} 5\n"
    "concord_bare_bucket{le=\"0.5\"} 0\n"
    "concord_bare_bucket{le=\"+Inf\"} 0\n"
    "concord_bare_sum 0\n"
    "concord_bare_count 0\n";

static void test_golden(void **state)
{
	(void)state;
	struct wire_buf b;
	wire_buf_init(&b, 1 << 16);
	metrics_write_family(&b, "concord_requests_total",
	                     "Client requests served, by protocol and command.", METRICS_COUNTER);
	const struct metrics_label l1[] = {{"proto", "resp"}, {"cmd", "GET"}};
	metrics_write_u64(&b, "concord_requests_total", l1, 2, 1027);
	const struct metrics_label l2[] = {{"proto", "http"}, {"cmd", "a\"b\\c\nd"}};
	metrics_write_u64(&b, "concord_requests_total", l2, 2, 0);
	metrics_write_family(&b, "concord_raft_term",
	                     "Current term. Back\\slash and\nnewline escaped.", METRICS_GAUGE);
	metrics_write_u64(&b, "concord_raft_term", NULL, 0, UINT64_MAX);
	metrics_write_double(&b, "concord_clock_skew_seconds", NULL, 0, -0.25);
	const struct metrics_label l3[] = {{"node", "n1"}};
	metrics_write_double(&b, "concord_ratio", l3, 1, 0.1);
	metrics_write_i64(&b, "concord_signed", NULL, 0, -42);
	metrics_write_double(&b, "concord_inf", NULL, 0, INFINITY);
	metrics_write_double(&b, "concord_ninf", NULL, 0, -INFINITY);
	metrics_write_double(&b, "concord_nan", NULL, 0, NAN);

	metrics_write_family(&b, "concord_request_seconds", "Request latency.", METRICS_HISTOGRAM);
	struct histogram h;
	const double bounds[] = {0.001, 0.01, 1};
	histogram_init(&h, bounds, 3);
	histogram_observe(&h, 0.0005);
	histogram_observe(&h, 0.001); /* on a bound: that bucket (le is <=) */
	histogram_observe(&h, 0.004);
	histogram_observe(&h, 2);
	histogram_observe(&h, 5);
	const struct metrics_label l4[] = {{"cmd", "SET"}};
	metrics_write_histogram(&b, "concord_request_seconds", l4, 1, &h);
	const double one[] = {0.5};
	histogram_init(&h, one, 1);
	assert_int_equal(metrics_write_histogram(&b, "concord_bare", NULL, 0, &h), 0);

	if (b.len != sizeof(golden) - 1 || memcmp(b.data, golden, b.len) != 0) {
		fprintf(stderr, "got:\n%.*s\n", (int)b.len, b.data);
	}
	assert_int_equal(b.len, sizeof(golden) - 1);
	assert_memory_equal(b.data, golden, b.len);
	wire_buf_free(&b);
}

static void test_latency_bounds(void **state)
{
	(void)state;
	struct histogram h;
	histogram_init(&h, histogram_latency_bounds, 16);
	for (int i = 0; i < 1000; i++) {
		histogram_observe(&h, i * 0.001);
	}
	histogram_observe(&h, NAN);
	assert_int_equal(h.count, 1001);
	assert_int_equal(h.counts[16], 1); /* NaN lands in +Inf */
	uint64_t total = 0;
	for (size_t i = 0; i <= 16; i++) {
		total += h.counts[i];
	}
	assert_int_equal(total, 1001);

	/* A full buffer: the error is reported, nothing crashes. */
	struct wire_buf b;
	wire_buf_init(&b, 64);
	assert_int_equal(metrics_write_histogram(&b, "x", NULL, 0, &h), WIRE_ELIMIT);
	wire_buf_free(&b);
}

/* The binary search puts every value where a linear scan would, bounds included. */
static void test_observe_matches_scan(void **state)
{
	(void)state;
	struct histogram h;
	histogram_init_latency(&h);
	uint64_t want[HISTOGRAM_LATENCY_BUCKETS + 1] = {0};
	double probes[3 * HISTOGRAM_LATENCY_BUCKETS + 2];
	size_t n = 0;
	for (size_t i = 0; i < HISTOGRAM_LATENCY_BUCKETS; i++) {
		probes[n++] = histogram_latency_bounds[i];
		probes[n++] = histogram_latency_bounds[i] * 0.999;
		probes[n++] = histogram_latency_bounds[i] * 1.001;
	}
	probes[n++] = 0;
	probes[n++] = 1e9;
	for (size_t k = 0; k < n; k++) {
		size_t i = 0;
		while (i < HISTOGRAM_LATENCY_BUCKETS && !(probes[k] <= histogram_latency_bounds[i]))
			i++;
		want[i]++;
		histogram_observe(&h, probes[k]);
	}
	assert_memory_equal(h.counts, want, sizeof(want));
	histogram_observe_us(&h, 250);
	assert_int_equal(h.counts[1], want[1] + 1); /* 250 us is le="0.00025" */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_latency_bounds),
	    cmocka_unit_test(test_observe_matches_scan),
	};
	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
