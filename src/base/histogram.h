/* histogram.h: a fixed-bucket histogram of durations in seconds: no allocation, O(log buckets)
 * observe. */
#ifndef CONCORD_BASE_HISTOGRAM_H
#define CONCORD_BASE_HISTOGRAM_H

/*
 * The shape Prometheus wants (codec/metrics.h writes it): ascending finite upper bounds,
 * a count per bucket (not cumulative) plus one for +Inf, and the count and sum of every
 * observation. Held by value by its owner; not thread safe: one thread observes it, or
 * the owner locks around observe and copy.
 */

#include <stddef.h>
#include <stdint.h>

/* Most finite buckets of a histogram (the +Inf bucket comes on top). */
#define HISTOGRAM_BUCKETS_MAX 32u

struct histogram {
	double bounds[HISTOGRAM_BUCKETS_MAX];       /* ascending upper bounds ("le"), finite */
	uint64_t counts[HISTOGRAM_BUCKETS_MAX + 1]; /* per bucket, not cumulative; last: +Inf */
	uint32_t bucket_count;
	uint64_t count;
	double sum;
};

/* bounds[0..n) strictly ascending and finite, 1 <= n <= HISTOGRAM_BUCKETS_MAX (asserted). */
void histogram_init(struct histogram *h, const double *bounds, size_t n);
/* With histogram_latency_bounds: 100 us to 10 s, 16 buckets. */
void histogram_init_latency(struct histogram *h);
/* Counts one observation in the first bucket whose bound is >= v (NaN goes to +Inf). */
void histogram_observe(struct histogram *h, double v);
/* The same, of a duration in microseconds. */
void histogram_observe_us(struct histogram *h, uint64_t us);

#define HISTOGRAM_LATENCY_BUCKETS 16u
/* Bucket bounds for latencies in seconds: 100 us to 10 s. */
extern const double histogram_latency_bounds[HISTOGRAM_LATENCY_BUCKETS];

#endif /* CONCORD_BASE_HISTOGRAM_H */
