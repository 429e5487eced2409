/* resp.h: RESP2 and RESP3 (the Redis protocol): an incremental request parser, a reply writer
 * and a reply parser. */
#ifndef CONCORD_SERVER_RESP_H
#define CONCORD_SERVER_RESP_H

/*
 * Requests. A client sends commands as arrays of bulk strings
 * ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or, typing by hand, as inline lines ("GET k\r\n",
 * words split on spaces, with Redis's quoting: "a b", 'a b', \xHH, \n, ...). Clients
 * pipeline: one read may hold many commands, or a fraction of one. struct resp_parser
 * takes bytes as they arrive, split anywhere, and hands out one complete command per
 * resp_parser_next call, its arguments binary safe (pointer and length into the
 * parser's buffer).
 *
 * Protocol errors. Malformed input or input past a limit makes resp_parser_next return
 * WIRE_ESYNTAX or WIRE_ELIMIT, and resp_parser_errmsg says why in Redis's words
 * ("Protocol error: invalid bulk length"). The parser is then stuck in that error: the
 * server answers "-ERR <errmsg>\r\n" (resp_write_error) after the replies it owes for
 * earlier commands, and closes the connection, as Redis does.
 *
 * What the parser accepts, exactly (docs/resp.md):
 * - "*<n>\r\n" then n times "$<len>\r\n<len bytes>\r\n". n and len are decimal with an
 *   optional '-'; "*0" and "*-1" are empty commands, skipped; any other n < 0, any
 *   len < 0 (a null cannot be an argument), n > args_max, len > bulk_bytes_max, a
 *   missing "\r\n" after the bytes, or anything but '$' where a bulk is due is an error.
 * - Any other first byte starts an inline command: a line ending in "\n" (a "\r" before
 *   it is dropped) of at most inline_bytes_max bytes; empty lines are skipped.
 * - At most buffer_bytes_max bytes are held unconsumed, so a command longer than that
 *   can never complete: WIRE_ELIMIT.
 */

#include "codec/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ----------------------------------------------------------------------------------
 * Request parser
 */

struct resp_limits {
	uint32_t args_max;         /* arguments in one command, name included */
	uint64_t bulk_bytes_max;   /* one argument's length */
	uint32_t inline_bytes_max; /* one inline command line, or one "*<n>"/"$<len>" line */
	uint64_t buffer_bytes_max; /* unconsumed bytes held; bounds a whole command */
};

/* Ceilings no configuration may exceed. */
#define RESP_ARGS_LIMIT         (1u << 20)
#define RESP_BULK_BYTES_LIMIT   ((uint64_t)512 << 20)
#define RESP_INLINE_BYTES_LIMIT (1u << 20)
#define RESP_BUFFER_BYTES_LIMIT ((uint64_t)WIRE_BUF_BYTES_LIMIT)

/* Defaults: 65536 arguments, 64 MiB per argument, 64 KiB inline lines (Redis's), 96 MiB
 * buffered. */
void resp_limits_default(struct resp_limits *lim);

/* One argument: `len` bytes at `data`, which may hold any byte (NUL, CR, LF). */
struct resp_arg {
	const char *data;
	size_t len;
};

/* One command: argv[0] is its name, as sent (compare case-insensitively). */
struct resp_cmd {
	size_t argc; /* >= 1 */
	const struct resp_arg *argv;
	bool is_inline; /* sent as an inline line rather than an array */
};

/* Internal: an argument as an offset from the command's first byte. */
struct resp_span_ {
	size_t off;
	size_t len;
};

struct resp_parser {
	struct resp_limits lim;
	struct wire_in in;
	/* Progress through the command at the front, as offsets from in.start, so that the
	 * buffer may move between calls without losing them. */
	size_t pos;            /* where the next element of the command begins */
	size_t scan;           /* bytes searched for a line end so far (>= pos) */
	int64_t args_expected; /* from "*<n>"; -1 while no array header has been read */
	int64_t bulk_len;      /* from "$<len>"; -1 while no bulk header is pending */
	size_t argc;           /* arguments parsed so far */
	size_t consumed;       /* length of the command handed out last, dropped on the next call */
	struct resp_span_ *spans; /* argc offsets and lengths */
	struct resp_arg *argv;    /* the arguments handed out */
	size_t args_cap;          /* entries allocated in spans and argv */
	int err;                  /* sticky: 0 or the error returned */
	char errmsg[WIRE_ERRMSG_SIZE];
};

/* A parser with the given limits (NULL: the defaults). Returns 0 or WIRE_EINVAL if a
 * limit is 0 or above its ceiling (then *p must not be used). Allocates nothing yet. */
int resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);
/* Frees the parser's buffers. */
void resp_parser_free(struct resp_parser *p);

/* Copies n bytes of input in. Returns 0, or WIRE_ELIMIT if the unconsumed bytes would
 * pass buffer_bytes_max (nothing is taken: call resp_parser_next until WIRE_EAGAIN
 * before feeding more), or WIRE_ENOMEM. */
int resp_parser_feed(struct resp_parser *p, const void *data, size_t n);

/* Zero-copy input: room for up to `want` bytes at the end of the buffer, for a socket
 * read to fill (a libuv alloc_cb can hand it out); then resp_parser_commit(p, n) with the
 * bytes read. *space_len is at most want and at least 1. Returns 0, WIRE_ELIMIT (the
 * buffer is full of one incomplete command: resp_parser_next reports the error) or
 * WIRE_ENOMEM. No other parser call may come between the two. */
int resp_parser_space(struct resp_parser *p, size_t want, char **space, size_t *space_len);
void resp_parser_commit(struct resp_parser *p, size_t n);

/* The next complete command, if the buffer holds one. Returns:
 * - 0: *cmd is filled. Everything it points to (the argv array and the argument bytes)
 *   is owned by the parser and stays valid until the next call on this parser (any
 *   call: next, feed, space, commit, free). Copy what must live longer.
 * - WIRE_EAGAIN: no complete command yet; feed more bytes.
 * - WIRE_ESYNTAX or WIRE_ELIMIT: a protocol error, see resp_parser_errmsg. Sticky.
 * - WIRE_ENOMEM: sticky as well. */
int resp_parser_next(struct resp_parser *p, struct resp_cmd *cmd);

/* "Protocol error: ..." for the error returned, "" if none. */
const char *resp_parser_errmsg(const struct resp_parser *p);
/* Bytes received and not yet handed out as part of a command. */
size_t resp_parser_buffered(const struct resp_parser *p);

/* ----------------------------------------------------------------------------------
 * Reply writer: appends to a struct wire_buf (errors there are sticky, see wire.h).
 */

/* "+<s>\r\n". A CR or LF inside s would break the framing and is written as a space. */
int resp_write_simple(struct wire_buf *b, const char *s, size_t len);
/* "+OK\r\n" */
int resp_write_ok(struct wire_buf *b);
/* "-<msg>\r\n", CR and LF written as spaces. msg starts with the error's code, as Redis
 * clients expect: "ERR unknown command", "NOTLEADER 127.0.0.1:7001". */
int resp_write_error(struct wire_buf *b, const char *msg, size_t len);
/* The same from a format. */
int resp_write_errorf(struct wire_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* ":<v>\r\n" */
int resp_write_integer(struct wire_buf *b, int64_t v);
/* "$<len>\r\n<bytes>\r\n": any bytes. */
int resp_write_bulk(struct wire_buf *b, const void *data, size_t len);
/* "$-1\r\n": the null bulk string (GET of an absent key). */
int resp_write_null(struct wire_buf *b);
/* "*<n>\r\n": an array header; the caller then writes n replies (arrays nest). */
int resp_write_array(struct wire_buf *b, size_t n);
/* "*-1\r\n": the null array. */
int resp_write_null_array(struct wire_buf *b);

/* RESP3 (HELLO 3) and RESP2 side by side: a connection's protocol version `proto` (2 or
 * 3) picks the encoding; under 2 each writes exactly what the RESP2 writer above does. */
#define RESP_PROTO_2 2
#define RESP_PROTO_3 3
/* The null: "_\r\n" under RESP3, else "$-1\r\n" (resp_write_null). */
int resp_write_nil(struct wire_buf *b, int proto);
/* A null array (EXEC whose watched key changed): "_\r\n" under RESP3, else "*-1\r\n". */
int resp_write_nil_array(struct wire_buf *b, int proto);
/* A map of n key-value pairs, 2n replies to follow: "%<n>\r\n" under RESP3, else the
 * flat array "*<2n>\r\n". */
int resp_write_map(struct wire_buf *b, size_t n, int proto);
/* A double: ",<v>\r\n" (",inf", ",-inf", ",nan") under RESP3, else the bulk string of
 * the same text. Shortest text that reads back exactly (%.17g at most). */
int resp_write_double(struct wire_buf *b, double v, int proto);
/* A boolean: "#t\r\n" / "#f\r\n" under RESP3, else ":1\r\n" / ":0\r\n". */
int resp_write_bool(struct wire_buf *b, bool v, int proto);

/* The Redis Cluster hash slot of a key, 0..16383: CRC16 (XMODEM) of the key, or of the
 * part between the first '{' and the next '}' when that part is not empty (a hash tag),
 * modulo 16384. For "-MOVED <slot> <host:port>" redirections (docs/resp.md). */
unsigned resp_key_slot(const void *key, size_t len);

/* ----------------------------------------------------------------------------------
 * Reply parser, for the C client library and tests: a reply stream into trees.
 */

enum resp_type {
	RESP_SIMPLE = 1, /* +  str/len */
	RESP_ERROR,      /* -  str/len */
	RESP_INTEGER,    /* :  integer */
	RESP_BULK,       /* $  str/len */
	RESP_NULL,       /* $-1 */
	RESP_ARRAY,      /* *  elems[0..n) */
	RESP_NULL_ARRAY, /* *-1 */
};

struct resp_value {
	enum resp_type type;
	int64_t integer;
	const char *str; /* not NUL-terminated; any bytes for a bulk */
	size_t len;
	const struct resp_value *elems;
	size_t n;
};

struct resp_reader_limits {
	uint32_t depth_max;        /* array nesting; at most RESP_DEPTH_LIMIT */
	uint32_t values_max;       /* values in one reply, arrays and their elements counted */
	uint64_t bulk_bytes_max;   /* one bulk string */
	uint32_t line_bytes_max;   /* one simple string, error or header line */
	uint64_t buffer_bytes_max; /* unconsumed bytes held; bounds a whole reply */
};

#define RESP_DEPTH_LIMIT 64u

/* Defaults: depth 16, 1 Mi values, 512 MiB bulks, 64 KiB lines, 1 GiB buffered. */
void resp_reader_limits_default(struct resp_reader_limits *lim);

struct resp_reader {
	struct resp_reader_limits lim;
	struct wire_in in;
	size_t consumed;           /* length of the reply handed out last */
	size_t need;               /* no reply can complete before this many bytes are held */
	size_t values_used;        /* nodes handed out of `values` while building */
	struct resp_value *values; /* the tree's nodes, values_cap of them */
	size_t values_cap;
	int err;
	char errmsg[WIRE_ERRMSG_SIZE];
};

int resp_reader_init(struct resp_reader *r, const struct resp_reader_limits *lim);
void resp_reader_free(struct resp_reader *r);
/* As resp_parser_feed / _space / _commit. */
int resp_reader_feed(struct resp_reader *r, const void *data, size_t n);
int resp_reader_space(struct resp_reader *r, size_t want, char **space, size_t *space_len);
void resp_reader_commit(struct resp_reader *r, size_t n);
/* The next complete reply: 0 with *out pointing at its root (owned by the reader, valid
 * until the next call on it), WIRE_EAGAIN, or a sticky WIRE_ESYNTAX, WIRE_ELIMIT,
 * WIRE_EDEPTH or WIRE_ENOMEM (see resp_reader_errmsg). */
int resp_reader_next(struct resp_reader *r, const struct resp_value **out);
const char *resp_reader_errmsg(const struct resp_reader *r);

#endif /* CONCORD_SERVER_RESP_H */
