/* ctl.h: what concordctl's command files share: exit codes, argument helpers, the tables. */
#ifndef CONCORD_CTL_H
#define CONCORD_CTL_H

#include "concord/client.h"

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Exit codes. */
enum {
	CTL_OK = 0,
	CTL_FAILED = 1, /* not found, refused, or failed */
	CTL_USAGE = 2,
	CTL_UNAVAILABLE = 3, /* no node answered in time */
};

/* A member's own numbers are asked of it with at most this much time. */
#define CTL_PROBE_TIMEOUT_MS 1000u

/* -w / --write-out: how a command prints what it found. */
enum ctl_format {
	CTL_FORMAT_DEFAULT = 0, /* the command's own (a table for the admin commands) */
	CTL_FORMAT_TABLE,
	CTL_FORMAT_SIMPLE, /* one line per row, fields separated by ", " */
	CTL_FORMAT_JSON,
};

/* What every command runs with: the client and the global options. */
struct ctl {
	struct concord_client *c;
	const char *endpoints;  /* the --endpoints list as given */
	uint32_t timeout_ms;    /* --timeout-ms */
	enum ctl_format format; /* -w */
	/* TLS files and credentials as given: every further connection a command opens (to
	 * probe each member, say) starts from these, so it speaks TLS and authenticates. */
	struct concord_client_opts opts;
};

typedef int (*ctl_fn)(struct ctl *ctl, int argc, char **argv);

/* One command: its name on the command line and the function that runs it. Each
 * command file exports a table ending with a NULL name. */
struct ctl_command {
	const char *name;
	ctl_fn fn;
};

extern const struct ctl_command ctl_kv_commands[];       /* kv.c */
extern const struct ctl_command ctl_admin_commands[];    /* admin.c */
extern const struct ctl_command ctl_snapshot_commands[]; /* snapshot.c */
extern const struct ctl_command ctl_endpoint_commands[]; /* endpoint.c */
extern const struct ctl_command ctl_lease_commands[];    /* lease.c */
extern const struct ctl_command ctl_auth_commands[];     /* auth.c */
extern const struct ctl_command ctl_txn_commands[];      /* txn.c */
extern const struct ctl_command ctl_watch_commands[];    /* watch.c */

/* range.c: get and del with END, --prefix, --from-key and the other etcdctl options. */
bool ctl_range_wanted(int argc, char **argv);
int ctl_get_range(struct ctl *ctl, int argc, char **argv);
int ctl_del_range(struct ctl *ctl, int argc, char **argv);

/* Prints "concordctl: MESSAGE" and the help hint, then exits with CTL_USAGE. */
_Noreturn void ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports a failed call and returns the exit code for it. */
int ctl_fail(struct concord_client *c, const char *what, int rc);
/* A decimal number in [min, max], or a usage error naming `what`. */
uint64_t ctl_parse_u64(const char *what, const char *s, uint64_t min, uint64_t max);
/* A probability in [0, 1], or a usage error. */
double ctl_parse_prob(const char *what, const char *s);
/* A member id, or "*" for every peer (CONCORD_PEER_ALL). */
uint64_t ctl_parse_peer(const char *s);
/* A usage error unless want_min <= have <= want_max. */
void ctl_need_args(const char *cmd, int have, int want_min, int want_max);

/* Rows of fields (output.c): cells[row * ncols + col], NULL for empty. A bordered table
 * with the headers (CTL_FORMAT_TABLE or DEFAULT) or one line per row, fields separated
 * by ", " (CTL_FORMAT_SIMPLE); JSON is each command's own. */
#define CTL_COLUMNS_MAX 16
void ctl_print_rows(enum ctl_format format, const char *const *headers, size_t ncols,
                    const char *const *cells, size_t nrows);
/* A JSON string literal of `s` on stdout. */
void ctl_print_json_string(const char *s);
/* The same for len bytes at s (NUL bytes included). */
void ctl_print_json_bytes(const char *s, size_t len);

#endif /* CONCORD_CTL_H */
