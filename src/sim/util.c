/* util.c: the simulator's small utilities: fault names, its random numbers, the trace
 * hash, and logging, narration and the reporting of violations. */
#include "sim/sim.h"
#include "sim/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------
 * Fault names
 */

static const struct {
	const char *name;
	uint32_t bit;
} fault_names[] = {
    {"drop", SIM_FAULT_DROP},
    {"delay", SIM_FAULT_DELAY_REQ},
    {"delay-resp", SIM_FAULT_DELAY_RESP},
    {"dup", SIM_FAULT_DUP},
    {"reorder", SIM_FAULT_REORDER},
    {"partition", SIM_FAULT_PARTITION},
    {"crash", SIM_FAULT_CRASH},
    {"transfer", SIM_FAULT_TRANSFER},
    {"snapshot", SIM_FAULT_SNAPSHOT},
    {"membership", SIM_FAULT_MEMBERSHIP},
    {"disk", SIM_FAULT_DISK},
    {"damage", SIM_FAULT_DAMAGE},
    {"stall", SIM_FAULT_STALL},
    {"diverge", SIM_FAULT_DIVERGE},
};
#define N_FAULT_NAMES (sizeof(fault_names) / sizeof(fault_names[0]))

int sim_faults_parse(const char *list, uint32_t *mask, char *err, size_t err_len)
{
	*mask = 0;
	const char *p = list;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		bool found = false;
		if (len == 3 && strncmp(p, "all", 3) == 0) {
			*mask |= SIM_FAULT_ALL;
			found = true;
		} else if (len == 4 && strncmp(p, "none", 4) == 0) {
			found = true;
		}
		for (size_t i = 0; i < N_FAULT_NAMES && !found; i++) {
			if (strlen(fault_names[i].name) == len &&
			    strncmp(p, fault_names[i].name, len) == 0) {
				*mask |= fault_names[i].bit;
				found = true;
			}
		}
		if (!found) {
			snprintf(err, err_len, "unknown fault '%.*s' (known: all, none", (int)len,
			         p);
			for (size_t i = 0; i < N_FAULT_NAMES; i++) {
				size_t used = strlen(err);
				snprintf(err + used, err_len - used, ", %s", fault_names[i].name);
			}
			size_t used = strlen(err);
			snprintf(err + used, err_len - used, ")");
			return -1;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

void sim_faults_format(uint32_t mask, char *buf, size_t len)
{
	if (mask == SIM_FAULT_ALL) {
		snprintf(buf, len, "all");
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < N_FAULT_NAMES; i++) {
		if (!(mask & fault_names[i].bit))
			continue;
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, "%s%s", used ? "," : "", fault_names[i].name);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

/* ---------------------------------------------------------------------------------
 * Small utilities
 */

uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t rng_below(struct sim *s, uint64_t n)
{
	return n == 0 ? 0 : rng_next(&s->rng) % n;
}

bool rng_chance(struct sim *s, double p)
{
	if (p <= 0)
		return false;
	return (double)(rng_next(&s->rng) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* One word at a time (a multiply and a shift fold each word in): called several times per
 * event, where the byte-wise FNV it replaced cost 3.5% of a run. */
void hash_mix(struct sim *s, uint64_t v)
{
	uint64_t h = (s->hash ^ v) * 0x9e3779b97f4a7c15ull;
	s->hash = h ^ (h >> 29);
}

uint64_t sim_payload_hash(const struct raft_entry *e)
{
	uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)e->type;
	const unsigned char *p = raft_entry_data(e);
	for (size_t i = 0; i < raft_entry_len(e); i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void *sim_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (q == NULL) {
		fprintf(stderr, "concord-sim: out of memory\n");
		abort();
	}
	return q;
}

/* A line in the trace and in the ring of recent events shown on a violation. */
void sim_log(struct sim *s, const char *fmt, ...)
{
	if (!s->record && s->opts.trace == NULL)
		return; /* formatting is most of a quiet run's time; a failed run is run again */
	char line[SIM_LINE];
	va_list ap;
	va_start(ap, fmt);
	int off = snprintf(line, sizeof(line), "%8.3f ", (double)s->now / 1e6);
	vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
	va_end(ap);
	memcpy(s->recent[s->recent_next % SIM_RECENT], line, sizeof(line));
	s->recent_next++;
	if (s->opts.trace != NULL)
		fprintf(s->opts.trace, "%s\n", line);
}

void sim_narrate(struct sim *s, const char *fmt, ...)
{
	if (s->opts.narrate == NULL)
		return;
	if (s->opts.pace > 0 && s->now > s->narrated_at) {
		/* Let a person watch: sleep for the simulated time since the last line. */
		double wall = (double)(s->now - s->narrated_at) / 1e6 * s->opts.pace;
		if (wall > 2.0)
			wall = 2.0;
		struct timespec ts = {(time_t)wall, (long)((wall - (double)(time_t)wall) * 1e9)};
		nanosleep(&ts, NULL);
	}
	s->narrated_at = s->now;
	va_list ap;
	va_start(ap, fmt);
	fprintf(s->opts.narrate, "[%7.3fs] ", (double)s->now / 1e6);
	vfprintf(s->opts.narrate, fmt, ap);
	fprintf(s->opts.narrate, "\n");
	fflush(s->opts.narrate);
	va_end(ap);
}

void sim_fail(struct sim *s, const char *property, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = true;
	snprintf(s->res->property, sizeof(s->res->property), "%s", property);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->res->detail, sizeof(s->res->detail), fmt, ap);
	va_end(ap);
	sim_log(s, "VIOLATION %s: %s", property, s->res->detail);
}

const char *sim_driver_error(int rv)
{
	static const char *const names[] = {
	    "ok",      "not leader", "lost",    "timeout",        "stopping",
	    "invalid", "busy",       "too big", "storage failed", "configuration refused",
	};
	if (rv >= 0 && (size_t)rv < sizeof(names) / sizeof(names[0]))
		return names[rv];
	return "unknown error";
}
