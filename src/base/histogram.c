/* histogram.c: fixed-bucket histograms: init with checked bounds, binary-search observe. */
#include "base/histogram.h"

#include <assert.h>
#include <math.h>

const double histogram_latency_bounds[HISTOGRAM_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void histogram_init(struct histogram *h, const double *bounds, size_t n)
{
	assert(h != NULL);
	assert(bounds != NULL);
	assert(n >= 1);
	assert(n <= HISTOGRAM_BUCKETS_MAX);
	*h = (struct histogram){.bucket_count = (uint32_t)n};
	for (size_t i = 0; i < n; i++) {
		assert(isfinite(bounds[i]));
		assert(i == 0 || bounds[i] > bounds[i - 1]);
		h->bounds[i] = bounds[i];
	}
}

void histogram_init_latency(struct histogram *h)
{
	histogram_init(h, histogram_latency_bounds, HISTOGRAM_LATENCY_BUCKETS);
}

void histogram_observe(struct histogram *h, double v)
{
	assert(h->bucket_count >= 1);
	assert(h->bucket_count <= HISTOGRAM_BUCKETS_MAX);
	/* The first i with v <= bounds[i]; bucket_count (+Inf) if none, NaN included. */
	uint32_t lo = 0, hi = h->bucket_count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v <= h->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (isnan(v))
		lo = h->bucket_count;
	h->counts[lo]++;
	h->count++;
	h->sum += v;
}

void histogram_observe_us(struct histogram *h, uint64_t us)
{
	histogram_observe(h, (double)us / 1e6);
}
