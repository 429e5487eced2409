/* quorum.c: majority arithmetic over simple and joint configurations (thesis 4.3). */
#include "raft/impl.h"

#include <stdlib.h>

static enum vote_result majority_result(const raft_id *ids, uint32_t n, const struct vote *votes,
                                        uint32_t n_votes)
{
	if (n == 0)
		return VOTE_WON; /* an empty half of a configuration agrees with anything */
	uint32_t yes = 0;
	uint32_t no = 0;
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < n_votes; j++) {
			if (votes[j].id != ids[i])
				continue;
			if (votes[j].granted)
				yes++;
			else
				no++;
			break;
		}
	}
	uint32_t need = n / 2 + 1;
	if (yes >= need)
		return VOTE_WON;
	if (no > n - need)
		return VOTE_LOST;
	return VOTE_PENDING;
}

enum vote_result quorum_vote_result(const struct raft_conf *c, const struct vote *votes,
                                    uint32_t n_votes)
{
	enum vote_result a = majority_result(c->voters, c->n_voters, votes, n_votes);
	enum vote_result b = majority_result(c->voters_old, c->n_voters_old, votes, n_votes);
	/* Joint consensus needs both majorities (thesis 4.3). */
	if (a == VOTE_LOST || b == VOTE_LOST)
		return VOTE_LOST;
	if (a == VOTE_WON && b == VOTE_WON)
		return VOTE_WON;
	return VOTE_PENDING;
}

/* The (n/2+1)-th highest of the values the voters hold: what a majority holds. Called on
 * every append response, so the few values (at most RAFT_MAX_MEMBERS) are sorted by
 * insertion in place rather than through qsort's callback. */
static uint64_t majority_value(const raft_id *ids, uint32_t n,
                               uint64_t (*value)(void *ctx, raft_id id), void *ctx)
{
	if (n == 0)
		return UINT64_MAX;
	uint64_t v[RAFT_MAX_MEMBERS];
	assert(n <= RAFT_MAX_MEMBERS);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t x = value(ctx, ids[i]);
		uint32_t j = i;
		for (; j > 0 && v[j - 1] < x; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	for (uint32_t i = 1; i < n; i++)
		assert(v[i - 1] >= v[i]); /* descending */
	return v[n / 2];
}

uint64_t quorum_value(const struct raft_conf *c, uint64_t (*value)(void *ctx, raft_id id),
                      void *ctx)
{
	uint64_t a = majority_value(c->voters, c->n_voters, value, ctx);
	uint64_t b = majority_value(c->voters_old, c->n_voters_old, value, ctx);
	uint64_t v = a < b ? a : b;
	return v == UINT64_MAX ? 0 : v;
}

static uint32_t add_unique(raft_id *ids, uint32_t n, const raft_id *add, uint32_t n_add)
{
	for (uint32_t i = 0; i < n_add; i++) {
		bool seen = false;
		for (uint32_t j = 0; j < n && !seen; j++)
			seen = ids[j] == add[i];
		if (!seen)
			ids[n++] = add[i];
	}
	return n;
}

uint32_t conf_voter_ids(const struct raft_conf *c, raft_id *ids)
{
	uint32_t n = add_unique(ids, 0, c->voters, c->n_voters);
	return add_unique(ids, n, c->voters_old, c->n_voters_old);
}

uint32_t conf_member_ids(const struct raft_conf *c, raft_id *ids)
{
	uint32_t n = conf_voter_ids(c, ids);
	return add_unique(ids, n, c->learners, c->n_learners);
}
