/* fuzz_raft.c: libFuzzer target for the Raft core: a small cluster (tests/raft/harness.c,
 * instant disks, every assertion of the core on) driven by the input.
 *
 * The first byte chooses the cluster (3 to 5 voters, pre-vote, check-quorum) and the
 * mode; every following op byte, with the bytes after it as arguments, does one thing:
 * tick a node, deliver, drop or duplicate a message in flight (any order: the network
 * reorders), cut or heal a link, propose, campaign, restart a node from its disk, take a
 * snapshot, transfer leadership, step down, read, change the configuration.
 *
 * Honest mode: every message is one a node really sent, so the cluster must stay safe:
 * one leader per term, every index applied with the same term on every node at every
 * time, nothing applied that is not on the disk, every disk consistent with its core,
 * and no node diverging (raft.h, "Divergence": only a broken cluster diverges).
 *
 * Forging mode adds messages made up from the input, from members and from a
 * non-member, shaped as src/proto/codec.c's decoder lets them through (valid type,
 * non-zero ids, entries only on appends, running on from the prev index with terms that
 * never decrease nor pass the message's term). A forger can lie, so safety is not
 * checked there; the core must still not crash or assert, and a node that diverges
 * must stay stopped. */
#include "../tests/raft/harness.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness records applied terms below 1024: keep logs under that. */
#define LOG_CAP   900u
#define QUEUE_CAP 1024u
#define TERM_CAP  4096u

struct input {
	const uint8_t *p;
	size_t n, at;
};

static uint8_t byte(struct input *in)
{
	return in->at < in->n ? in->p[in->at++] : 0;
}

static raft_id pick_node(struct input *in, const struct h *h)
{
	return 1 + byte(in) % h->n;
}

struct oracle {
	raft_term applied[1024];     /* first term seen applied at each index */
	raft_id leader_of[TERM_CAP]; /* the leader seen in each term */
};

static void deliver_at(struct h *h, uint32_t i)
{
	struct raft_message m = h->q[i];
	memmove(&h->q[i], &h->q[i + 1], (h->n_q - i - 1) * sizeof(*h->q));
	h->n_q--;
	struct h_node *nd = &h->nodes[m.to - 1];
	if (m.to >= 1 && m.to <= h->n && nd->up && !h->cut[m.from][m.to]) {
		int rv = raft_step(nd->r, &m);
		assert(rv == RAFT_OK || rv == RAFT_EDIVERGED);
		assert(rv == RAFT_OK || raft_error(nd->r, NULL) == RAFT_EDIVERGED);
		h_ready(h, (raft_id)m.to);
	}
	raft_message_release(&m);
}

static void duplicate_at(struct h *h, uint32_t i)
{
	if (h->n_q >= QUEUE_CAP)
		return;
	if (h->n_q == h->cap_q) {
		h->cap_q = h->cap_q ? h->cap_q * 2 : 64;
		h->q = realloc(h->q, h->cap_q * sizeof(*h->q));
		assert(h->q != NULL);
	}
	raft_message_copy(&h->q[h->n_q], &h->q[i]);
	h->n_q++;
}

static void drop_at(struct h *h, uint32_t i)
{
	raft_message_release(&h->q[i]);
	memmove(&h->q[i], &h->q[i + 1], (h->n_q - i - 1) * sizeof(*h->q));
	h->n_q--;
}

/* A message made up from the input, to node `to`, in the decoder's shape. */
static void forge(struct h *h, struct input *in, raft_id to)
{
	struct raft *r = h_raft(h, to);
	struct raft_message m = {0};
	m.type = (enum raft_msg_type)(RAFT_MSG_PREVOTE + byte(in) % (RAFT_MSG_TYPE_COUNT_ - 1));
	m.from = 1 + byte(in) % (h->n + 1); /* n + 1 is no member */
	if (m.from == to)
		m.from = h->n + 1;
	m.to = to;
	uint8_t f = byte(in);
	raft_term t = raft_term_current(r);
	m.term = t + (f % 4);
	if (m.term > 0)
		m.term--;
	raft_index last = raft_last_index(r);
	uint8_t g = byte(in);
	m.index = last > 3 ? last - 3 + g % 6 : g % 6;
	m.log_term = raft_term_at(r, m.index);
	if (f & 0x10)
		m.log_term =
		    m.log_term + (f & 0x20 ? 1 : 0) - (m.log_term > 0 && (f & 0x40) ? 1 : 0);
	if (m.log_term > m.term)
		m.log_term = m.term;
	/* The decoder lets no term 0 through but on a pre-vote (a fresh node's). */
	if (m.term == 0 && m.type != RAFT_MSG_PREVOTE)
		m.term = 1;
	if (m.log_term > m.term)
		m.log_term = m.term;
	m.commit = m.index + byte(in) % 4;
	m.reject = f & 0x80;
	m.transfer = g & 0x80;
	m.xterm = byte(in) % 4;
	m.xindex = byte(in) % 8;
	m.xlen = last + byte(in) % 4;
	m.context = byte(in) % 4;
	struct raft_entry es[4];
	struct raft_conf conf;
	if (m.type == RAFT_MSG_APPEND) {
		uint32_t n = byte(in) % 5;
		raft_term et = m.log_term;
		for (uint32_t i = 0; i < n && m.index + 1 + i < LOG_CAP; i++) {
			uint8_t b = byte(in);
			if ((b & 1) && et < m.term)
				et++;
			if (et == 0)
				et = m.term;
			enum raft_entry_type type = RAFT_ENTRY_NORMAL;
			if (b & 2)
				type = RAFT_ENTRY_NOOP;
			es[i] =
			    (struct raft_entry){.term = et, .index = m.index + 1 + i, .type = type};
			m.n_entries = i + 1;
		}
		if (m.n_entries > 0)
			m.entries = es;
	}
	if (m.type == RAFT_MSG_SNAPSHOT || m.type == RAFT_MSG_SNAPSHOT_RESP) {
		conf = *raft_conf_current(r);
		if (conf.n_voters == 0) {
			conf.n_voters = 1;
			conf.voters[0] = m.from;
		}
		m.snap_size = 1 + byte(in) % 8;
		m.snap_offset = byte(in) % (m.snap_size + 1);
		if (m.type == RAFT_MSG_SNAPSHOT) {
			m.snap_conf = &conf;
			size_t len = m.snap_size - m.snap_offset;
			if (len > 0)
				m.chunk = raft_buf_new("snapshot", len);
		}
	}
	int rv = raft_step(r, &m);
	assert(rv == RAFT_OK || rv == RAFT_EDIVERGED);
	raft_buf_unref(m.chunk);
	h_ready(h, to);
}

static void check_safety(struct h *h, struct oracle *o)
{
	char why[256];
	for (uint32_t i = 0; i < h->n; i++) {
		struct h_node *nd = &h->nodes[i];
		if (!nd->up)
			continue;
		if (nd->error != 0) {
			fprintf(stderr, "node %u diverged in an honest cluster\n", i + 1);
			abort();
		}
		assert(nd->applied_unstored == 0);
		if (!h_disk_consistent(h, i + 1, why, sizeof(why))) {
			fprintf(stderr, "node %u: %s\n", i + 1, why);
			abort();
		}
		for (raft_index x = 1; x < 1024 && x <= nd->applied; x++) {
			raft_term t = nd->applied_terms[x];
			if (t == 0)
				continue;
			if (o->applied[x] == 0)
				o->applied[x] = t;
			if (o->applied[x] != t) {
				fprintf(stderr, "index %llu applied with terms %llu and %llu\n",
				        (unsigned long long)x, (unsigned long long)o->applied[x],
				        (unsigned long long)t);
				abort();
			}
		}
		if (raft_role(nd->r) == RAFT_LEADER) {
			raft_term t = raft_term_current(nd->r);
			if (t < TERM_CAP) {
				if (o->leader_of[t] == RAFT_NONE)
					o->leader_of[t] = i + 1;
				assert(o->leader_of[t] == i + 1);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct input in = {.p = data, .n = size, .at = 1};
	uint8_t head = data[0];
	bool forging = head & 4;
	struct h *h = calloc(1, sizeof(*h));
	struct oracle *o = calloc(1, sizeof(*o));
	assert(h != NULL && o != NULL);
	h_init(h, 3 + (head >> 3) % 3, head & 1, head & 2);

	while (in.at < in.n) {
		uint8_t op = byte(&in);
		raft_id x = pick_node(&in, h);
		struct h_node *nd = &h->nodes[x - 1];
		switch (op % 16) {
		case 0:
			h_tick(h, x, 1 + byte(&in) % 4);
			break;
		case 1:
			if (h->n_q > 0)
				deliver_at(h, byte(&in) % h->n_q);
			break;
		case 2:
			if (h->n_q > 0)
				drop_at(h, byte(&in) % h->n_q);
			break;
		case 3:
			if (h->n_q > 0)
				duplicate_at(h, byte(&in) % h->n_q);
			break;
		case 4:
			h_stabilize(h);
			break;
		case 5:
			if (raft_last_index(nd->r) < LOG_CAP) {
				char text[16];
				snprintf(text, sizeof(text), "p%u", (unsigned)in.at);
				h_propose(h, x, text, NULL, NULL);
			}
			break;
		case 6:
			raft_campaign(nd->r);
			h_ready(h, x);
			break;
		case 7:
			h_restart(h, x);
			break;
		case 8:
			if (nd->applied > nd->snap_index &&
			    nd->applied > raft_snapshot_index(nd->r) &&
			    raft_error(nd->r, NULL) == RAFT_OK)
				h_snapshot(h, x, 1 + byte(&in) % 64, byte(&in) % 4);
			break;
		case 9:
			raft_transfer_leader(nd->r, pick_node(&in, h));
			h_ready(h, x);
			break;
		case 10:
			raft_step_down(nd->r);
			h_ready(h, x);
			break;
		case 11:
			raft_read_index(nd->r, in.at);
			h_ready(h, x);
			break;
		case 12: {
			uint8_t vm = byte(&in), lm = byte(&in);
			raft_id voters[H_MAX], learners[H_MAX];
			uint32_t nv = 0, nl = 0;
			for (uint32_t i = 0; i < h->n; i++) {
				if (vm & (1u << i))
					voters[nv++] = i + 1;
				else if (lm & (1u << i))
					learners[nl++] = i + 1;
			}
			if (nv > 0)
				h_change(h, x, voters, nv, learners, nl);
			break;
		}
		case 13: {
			raft_id y = pick_node(&in, h);
			h->cut[x][y] = !h->cut[x][y];
			break;
		}
		case 14:
			if (forging)
				forge(h, &in, x);
			break;
		case 15:
			h_heal(h);
			break;
		}
		/* Answers to the forged non-member have nowhere to go. */
		if (forging)
			h_drop(h, 0, h->n + 1, 0);
		if (!forging)
			check_safety(h, o);
	}
	h_heal(h);
	h_stabilize(h);
	if (!forging)
		check_safety(h, o);
	if (getenv("FUZZ_VERBOSE") != NULL)
		for (uint32_t i = 0; i < h->n; i++)
			fprintf(stderr,
			        "node %u: %s term %llu commit %llu applied %llu snap %llu%s\n",
			        i + 1, raft_role_name(raft_role(h->nodes[i].r)),
			        (unsigned long long)raft_term_current(h->nodes[i].r),
			        (unsigned long long)raft_commit_index(h->nodes[i].r),
			        (unsigned long long)h->nodes[i].applied,
			        (unsigned long long)raft_snapshot_index(h->nodes[i].r),
			        h->nodes[i].error ? " DIVERGED" : "");
	h_free(h);
	free(h);
	free(o);
	return 0;
}
