/* wire.h: what the client-protocol codecs share: one error table and a bounded byte buffer. */
#ifndef CONCORD_SERVER_WIRE_H
#define CONCORD_SERVER_WIRE_H

/*
 * The codecs in src/codec (RESP, HTTP, JSON, Prometheus text) are pure: no
 * sockets, no clock, no globals, no threads. They read bytes the caller hands them and
 * write bytes into a struct wire_buf the caller owns; the server moves the bytes.
 *
 * Errors. Every function that can fail returns an int: 0 (WIRE_OK) or a code of the
 * table below. WIRE_EAGAIN is not a failure: a parser says it with a partial message
 * and wants more bytes. Parsers keep an error message with context (errmsg) beside the
 * code.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_ERRORS(X)                                                                             \
	X(WIRE_OK, "ok")                                                                           \
	X(WIRE_EAGAIN, "incomplete input: more bytes are needed")                                  \
	X(WIRE_ESYNTAX, "malformed input")                                                         \
	X(WIRE_ELIMIT, "input exceeds a configured limit")                                         \
	X(WIRE_EDEPTH, "input nested deeper than the limit")                                       \
	X(WIRE_ENOMEM, "out of memory")                                                            \
	X(WIRE_ENOTFOUND, "not found")                                                             \
	X(WIRE_EUNSUPPORTED, "valid but unsupported input")                                        \
	X(WIRE_EINVAL, "invalid argument")

enum wire_error {
#define WIRE_ERROR_ENUM_(name, text) name,
	WIRE_ERRORS(WIRE_ERROR_ENUM_)
#undef WIRE_ERROR_ENUM_
	    WIRE_ERROR_COUNT_
};

/* A static string describing `err` (any int; unknown values get a generic text). */
const char *wire_strerror(int err);

/* Size of the parsers' error-message buffers, terminating NUL included. */
#define WIRE_ERRMSG_SIZE 128

/* ----------------------------------------------------------------------------------
 * struct wire_buf: a growable byte buffer with a hard ceiling.
 *
 * Writers append to it; the server sends data[0..len) and drops what the socket took
 * with wire_buf_consume. Errors are sticky: the first append that fails (WIRE_ENOMEM,
 * or WIRE_ELIMIT when len would pass max_bytes) sets `err`, leaves the contents as they
 * were, and makes every later append a no-op returning the same code, so a writer may
 * append a whole reply and check once at the end. The data is not NUL-terminated.
 */
struct wire_buf {
	char *data;       /* owned; NULL until the first append */
	size_t len;       /* bytes held */
	size_t cap;       /* bytes allocated */
	size_t max_bytes; /* len never exceeds it */
	int err;          /* 0 or the first append's error (sticky until reset) */
};

/* Hard ceiling for any buffer: 1 GiB. */
#define WIRE_BUF_BYTES_LIMIT ((size_t)1 << 30)

/* An empty buffer that may hold up to max_bytes (1..WIRE_BUF_BYTES_LIMIT). */
void wire_buf_init(struct wire_buf *b, size_t max_bytes);
/* Frees the storage; the buffer is then empty and may be reused after wire_buf_init. */
void wire_buf_free(struct wire_buf *b);
/* Empties the buffer and clears a sticky error; keeps the storage. */
void wire_buf_reset(struct wire_buf *b);
/* Makes room for n more bytes. Returns 0, WIRE_ELIMIT or WIRE_ENOMEM (sticky). */
int wire_buf_reserve(struct wire_buf *b, size_t n);
int wire_buf_append(struct wire_buf *b, const void *data, size_t n);
int wire_buf_append_str(struct wire_buf *b, const char *s);
int wire_buf_append_byte(struct wire_buf *b, char c);
int wire_buf_append_u64(struct wire_buf *b, uint64_t v);
int wire_buf_append_i64(struct wire_buf *b, int64_t v);
int wire_buf_printf(struct wire_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int wire_buf_vprintf(struct wire_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Drops the first n (<= len) bytes, as after a socket write took them. */
void wire_buf_consume(struct wire_buf *b, size_t n);

/* ----------------------------------------------------------------------------------
 * struct wire_in: the input side of a parser: bytes received and not yet consumed.
 *
 * Bytes enter either by copy (wire_in_feed) or without one: wire_in_space hands out
 * free room at the end of the buffer (a libuv alloc_cb can return it), and
 * wire_in_commit counts what the socket wrote there. The buffer never holds more than
 * max_bytes unconsumed bytes. Internal to the parsers; exposed through their own APIs.
 */
struct wire_in {
	char *data;       /* owned */
	size_t start;     /* first unconsumed byte */
	size_t end;       /* one past the last byte received */
	size_t cap;       /* bytes allocated */
	size_t max_bytes; /* end - start never exceeds it */
	size_t granted;   /* length of the space handed out last, not yet committed */
};

void wire_in_init(struct wire_in *in, size_t max_bytes);
void wire_in_free(struct wire_in *in);
/* Unconsumed bytes. */
size_t wire_in_len(const struct wire_in *in);
/* Moves the unconsumed bytes to the front (pointers into the buffer become invalid);
 * returns how far they moved, so parsers can shift offsets they keep. */
size_t wire_in_compact(struct wire_in *in);
/* Room for up to `want` (>= 1) bytes at the end: *space and *space_len (<= want, >= 1).
 * Compacts and grows as needed. Returns 0, WIRE_ELIMIT (max_bytes unconsumed bytes are
 * already held) or WIRE_ENOMEM. Pointers into the buffer become invalid. */
int wire_in_space(struct wire_in *in, size_t want, char **space, size_t *space_len);
/* Counts n bytes written into the space handed out last (n <= its length). */
void wire_in_commit(struct wire_in *in, size_t n);
/* Copies n bytes in. Returns 0, or WIRE_ELIMIT if they would take the unconsumed bytes
 * past max_bytes (nothing is copied then), or WIRE_ENOMEM. */
int wire_in_feed(struct wire_in *in, const void *data, size_t n);

#endif /* CONCORD_SERVER_WIRE_H */
