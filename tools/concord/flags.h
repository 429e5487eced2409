/* flags.h: what concord's main.c shares with restore.c: usage errors, member lists, ids. */
#ifndef CONCORD_TOOLS_FLAGS_H
#define CONCORD_TOOLS_FLAGS_H

#include <stdint.h>

#define EXIT_USAGE 2

/* Prints "concord: MESSAGE" and a hint, then exits with EXIT_USAGE. */
__attribute__((format(printf, 1, 2), noreturn)) void usage_error(const char *fmt, ...);
/* Parses "name=host:port,..." into (name, address) pairs, host names resolved; returns
 * how many (at most cap); a malformed list is a usage error naming `flag`. */
uint32_t parse_list(const char *flag, const char *list, char names[][64], char addrs[][128],
                    uint32_t cap);
/* The position of `name` in names[0..n), or -1. */
int lookup(char names[][64], uint32_t n, const char *name);
/* --cluster-id's value: a decimal number, or a hash of the text. */
uint64_t cluster_id_value(const char *text);

/* `concord restore ...` (restore.c): argv[0] is "restore". Returns the exit status. */
int restore_main(int argc, char **argv);

#endif /* CONCORD_TOOLS_FLAGS_H */
