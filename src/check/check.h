/* check.h: public API of the linearizability checker for Concord key-value histories. */
#ifndef CONCORD_CHECK_H
#define CONCORD_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A history is an array of operations on a key-value store. The checker answers whether it
 * is linearizable (docs/history-format.md defines the semantics, docs/checker.md the method).
 *
 * Ownership, in short: the caller owns every struct check_op and every byte they point to;
 * the checker only reads them and never keeps a pointer to them past the call. A struct
 * check_result and a struct check_history own what they point to and are released with
 * check_result_free() and check_history_free(). Functions returning int return 0 on
 * success and a negative errno value on failure.
 */

enum check_kind {
	CHECK_KIND_GET = 0,
	CHECK_KIND_PUT,
	CHECK_KIND_DELETE,
	CHECK_KIND_APPEND,
	CHECK_KIND_CAS,
	CHECK_KIND_INCR,
	/* Multi-key: they tie several keys together, which are then checked as one object. */
	CHECK_KIND_MSET,     /* keys[i] := values[i] for every i, atomically */
	CHECK_KIND_DELRANGE, /* every key in [key, range_end) becomes absent; result: how many
	                        existed (decimal), or null if unobserved */
	/* Expiry: if the key holds expect, it may become absent at any moment after call, or
	 * never (ok must be unknown). Checked as a group of its own, like the multi-key ops. */
	CHECK_KIND_EXPIRE,
	/* A transaction: compares evaluated at one instant, then the "then" or the "else"
	 * sub-operations applied in order at that same instant. Tied into a group with every
	 * key it names, like mset. */
	CHECK_KIND_TXN,
};

enum check_ok {
	CHECK_OK_TRUE = 0, /* it took effect, and returned result */
	CHECK_OK_FALSE,    /* it had no effect; for cas: the comparison failed */
	CHECK_OK_UNKNOWN,  /* timed out: took effect once at some point after call, or never */
};

/* Whether a delete reported that the key existed. */
enum check_existed {
	CHECK_EXISTED_UNOBSERVED = 0,
	CHECK_EXISTED_NO,
	CHECK_EXISTED_YES,
};

/* Which branch of a txn was taken, as the client saw it. */
enum check_branch {
	CHECK_BRANCH_UNOBSERVED = 0, /* not seen (ok unknown or false): whichever state dictates */
	CHECK_BRANCH_THEN,           /* every compare held */
	CHECK_BRANCH_ELSE,           /* some compare did not */
};

/* A string or null. bytes may be NULL when len is 0; bytes need not be NUL-terminated. */
struct check_str {
	const char *bytes;
	size_t len;
	bool present; /* false: JSON null (absent key, no value, not observed) */
};

/* A txn's compare: the key holds value (value null: the key is absent). */
struct check_compare {
	struct check_str key;
	struct check_str value;
};

/* A txn's sub-operation: kind is CHECK_KIND_GET, PUT, DELETE or APPEND. */
struct check_subop {
	enum check_kind kind;
	struct check_str key;
	struct check_str value;  /* put, append: the value written or appended */
	struct check_str result; /* get in the branch taken, when observed: the value read
	                            (null = absent); null otherwise */
};

/* One client operation. Which fields matter per kind is in docs/history-format.md. */
struct check_op {
	int64_t client;
	enum check_kind kind;
	enum check_ok ok;
	struct check_str key;    /* always present */
	struct check_str value;  /* put, append, cas: the new value; incr: the delta (null = 1) */
	struct check_str expect; /* cas only: the expected value (null = expect absent) */
	struct check_str result; /* get: the value read (null = absent); incr: new value or null */
	enum check_existed existed; /* delete only */
	/* mset only: key_count keys and their values; key must equal keys[0]. */
	const struct check_str *keys;
	const struct check_str *values;
	size_t key_count;
	struct check_str range_end; /* delrange only: the end of the range, exclusive */
	/* txn only: compares, the two branches and the one taken. key must be the first key
	 * the txn names (compares first, then "then", then "else"). The gets' results in the
	 * taken branch are observations only when ok is true and branch is observed. */
	const struct check_compare *compares;
	size_t compare_count;
	const struct check_subop *then_ops, *else_ops;
	size_t then_count, else_count;
	enum check_branch branch;
	int64_t call_time;
	int64_t return_time; /* ignored when ok is CHECK_OK_UNKNOWN; return_time >= call_time */
	size_t line;         /* 1-based line in the source file, or 0; used in messages only */
};

enum check_verdict {
	CHECK_LINEARIZABLE = 0,
	CHECK_NOT_LINEARIZABLE = 1,
	CHECK_UNKNOWN = 2, /* a budget ran out; reason says which */
};

/* Budgets; a zero field takes the default. UINT64_MAX means unlimited. */
struct check_options {
	uint64_t budget_ms;    /* wall-clock time for the whole history; default 10000 */
	uint64_t budget_bytes; /* memory of the search structures; default 1 GiB */
	uint64_t
	    budget_states; /* search states visited in total (deterministic); default unlimited */
	/* Client order: completed operations of one client on one key take effect in the order
	 * of their calls (docs/history-format.md). On unless this is set. */
	bool no_client_order;
};

struct check_key_result {
	size_t first_op; /* index into ops[] of the first operation on this key (names the key) */
	size_t op_count; /* operations on the key in the history */
	size_t checked_count; /* of which the search considered (see dropped ops in the docs) */
	enum check_verdict verdict;
	uint64_t states; /* search states visited */
};

/* Everything here is owned by the result; free with check_result_free(). */
struct check_result {
	enum check_verdict verdict;
	char reason[256]; /* one sentence: the failing key, the budget that ran out, or "" */
	struct check_key_result *keys; /* sorted by key bytes */
	size_t key_count;
	size_t failed_key; /* index into keys[] of the smallest failing key, or SIZE_MAX */
	/* For the failed key: the longest linearizable prefix found, as indices into ops[] in
	 * linearization order, the key's value after it, and the operations that cannot be placed
	 * after it (indices into ops[], earliest return first). */
	size_t *prefix;
	size_t prefix_count;
	struct check_str prefix_state; /* bytes owned by the result */
	size_t *stuck;
	size_t stuck_count;
	/* For the failed key: it would be linearizable under real-time order alone, so the order
	 * of some client's operations is what was violated. */
	bool client_order_violated;
	/* For the failed key: it stands for a group of keys that multi-key operations (mset,
	 * delrange) tie together; prefix_state then lists every key's value: "k1=v k2=(absent)". */
	bool failed_group;
	bool client_order;   /* whether client order was checked (not options->no_client_order) */
	uint64_t states;     /* search states visited, all keys */
	uint64_t elapsed_ms; /* time spent checking */
	uint64_t peak_bytes; /* peak memory of the search structures */
};

/*
 * Checks ops[0..op_count). Returns 0 and fills *result (which the caller then frees), or
 * -EINVAL if an operation is malformed (result->reason names it by index and line; nothing
 * to free), or -ENOMEM. ops are only read during the call. Deterministic for a given input
 * unless the time budget runs out.
 */
int check_history_run(const struct check_op *ops, size_t op_count,
                      const struct check_options *options, struct check_result *result);
void check_result_free(struct check_result *result);

/* Checks one operation's fields; on -EINVAL writes a message naming the problem. */
int check_op_validate(const struct check_op *op, char *message, size_t message_size);

/* A parsed JSONL history. ops and the bytes they point to are owned by the history. */
struct check_history {
	struct check_op *ops;
	size_t op_count;
	char *bytes;             /* backing store of every string in ops */
	struct check_str *lists; /* backing store of mset's keys and values */
	void *txn_blocks;        /* backing store of txns' compares and sub-operations */
};

struct check_error {
	size_t line; /* 1-based line of the problem, 0 if not about a line */
	char message[200];
};

/* Parses JSON lines (docs/history-format.md). Returns 0, -EINVAL with *error filled, or -ENOMEM.
 * text is only read during the call. Blank lines are skipped. */
int check_history_parse(const char *text, size_t text_len, struct check_history *history,
                        struct check_error *error);
/* Reads and parses a whole file; path "-" is standard input. -EIO etc. for a read failure. */
int check_history_load(const char *path, struct check_history *history, struct check_error *error);
void check_history_free(struct check_history *history);

/* Writes ops as JSON lines, one per operation, in the format check_history_parse reads. */
int check_history_write(FILE *out, const struct check_op *ops, size_t op_count);

/* Reporters. ops must be the array the result was computed from. */
enum check_report_detail {
	CHECK_REPORT_QUIET = 0, /* the verdict line only */
	CHECK_REPORT_NORMAL,    /* verdict, per-key summary, explanation of a violation */
	CHECK_REPORT_VERBOSE,   /* and a line for every key */
};
int check_report_text(FILE *out, const struct check_op *ops, size_t op_count,
                      const struct check_result *result, enum check_report_detail detail);
int check_report_json(FILE *out, const struct check_op *ops, size_t op_count,
                      const struct check_result *result);
/* A self-contained HTML page: one timeline row per client, the failing key's operations marked. */
int check_report_html(FILE *out, const struct check_op *ops, size_t op_count,
                      const struct check_result *result, const char *title);

/* "linearizable", "not linearizable", "unknown"; "get", "put", ...; "true", "false", "unknown" */
const char *check_verdict_name(enum check_verdict verdict);
const char *check_kind_name(enum check_kind kind);
const char *check_ok_name(enum check_ok ok);

#endif /* CONCORD_CHECK_H */
