/* json.h: a JSON writer with a binary-safe convention for byte strings, and a bounded JSON reader.
 */
#ifndef CONCORD_SERVER_JSON_H
#define CONCORD_SERVER_JSON_H

/*
 * Byte strings in JSON. Keys and values are arbitrary bytes, JSON strings are Unicode.
 * The convention (docs/http.md): a byte-string field F is written
 *   "F": "<text>"          when the bytes are valid UTF-8 (escaped as JSON requires), or
 *   "F_base64": "<b64>"    otherwise (standard alphabet, padded, RFC 4648 section 4),
 * never both; a client may ask for base64 always (json_write_bytes_field's
 * force_base64). The same two spellings are accepted on input. So every byte string
 * round-trips, and text stays readable.
 *
 * json_write_string itself never writes invalid JSON: quote, backslash and control
 * characters are escaped (\" \\ \n \r \t \b \f, others \u00XX), valid UTF-8 is written
 * as is, and a byte that is not part of valid UTF-8 becomes \ufffd (lossy: use
 * json_write_bytes_field for data that must survive).
 *
 * The reader parses a whole document (RFC 8259) into a tree held in one allocation:
 * bounded depth, bounded number of values, input must be valid UTF-8, no trailing
 * bytes, no lone surrogates; strings are unescaped into binary-safe bytes (\u0000 is a
 * NUL); numbers keep their text, so integers convert exactly (json_value_int64).
 * Malformed input is an error with the offset, never a crash.
 */

#include "codec/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_DEPTH_LIMIT 64u

/* ----------------------------------------------------------------------------------
 * Writer
 */

struct json_writer {
	struct wire_buf *b;
	uint32_t depth;   /* open containers */
	uint64_t objects; /* bit d: the container at depth d+1 is an object */
	uint64_t started; /* bit d: the container at depth d+1 has an element already */
	bool after_key;   /* a key was written; its value is due */
};

/* Writes into b (errors there are sticky; every writer call returns the buffer's). */
void json_writer_init(struct json_writer *w, struct wire_buf *b);

/* Containers nest up to JSON_DEPTH_LIMIT; a value inside an object needs a key first
 * (json_write_key), and a key only goes inside an object: misuse is an assertion. */
int json_write_object_begin(struct json_writer *w);
int json_write_object_end(struct json_writer *w);
int json_write_array_begin(struct json_writer *w);
int json_write_array_end(struct json_writer *w);
/* A member name (the NUL-terminated string; escaped like a string). */
int json_write_key(struct json_writer *w, const char *key);
int json_write_string(struct json_writer *w, const void *data, size_t len);
int json_write_cstr(struct json_writer *w, const char *s);
int json_write_int(struct json_writer *w, int64_t v);
int json_write_uint(struct json_writer *w, uint64_t v);
/* Shortest text that reads back the same double; NaN and infinities are written null. */
int json_write_double(struct json_writer *w, double v);
int json_write_bool(struct json_writer *w, bool v);
int json_write_null(struct json_writer *w);
/* A byte-string member, by the convention above: "name": "text" or "name_base64": "...". */
int json_write_bytes_field(struct json_writer *w, const char *name, const void *data, size_t len,
                           bool force_base64);
/* Whether the writer is back at depth 0 with a complete value written. */
bool json_writer_done(const struct json_writer *w);

/* Whether data[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
bool json_utf8_valid(const void *data, size_t len);

/* Appends the base64 (RFC 4648 section 4, padded) of data[0..len). */
int json_base64_encode(struct wire_buf *b, const void *data, size_t len);
/* Decodes base64 (padding optional, no whitespace, no other alphabet) into out, which
 * needs (len / 4 + 1) * 3 bytes at most. Returns 0 with *out_len, WIRE_ESYNTAX or
 * WIRE_ELIMIT (out_cap too small). */
int json_base64_decode(const char *in, size_t len, void *out, size_t out_cap, size_t *out_len);

/* ----------------------------------------------------------------------------------
 * Reader
 */

enum json_type {
	JSON_NULL = 1,
	JSON_BOOL,
	JSON_NUMBER, /* str/len: its text, as written */
	JSON_STRING, /* str/len: unescaped bytes (NUL-terminated too, but may hold NULs) */
	JSON_ARRAY,  /* count elements from child, linked by next */
	JSON_OBJECT, /* count members from child, linked by next, each with key/key_len */
};

struct json_value {
	enum json_type type;
	bool boolean;
	const char *str;
	size_t len;
	const char *key; /* a member's name, unescaped; NULL outside objects */
	size_t key_len;
	size_t count;
	const struct json_value *child;
	const struct json_value *next;
};

struct json_limits {
	uint32_t depth_max;     /* nesting of arrays and objects, at most JSON_DEPTH_LIMIT */
	uint32_t values_max;    /* values in the document, containers included */
	size_t input_bytes_max; /* length of the text */
	/* Not a limit but a leniency: bytes in strings that are not valid UTF-8 are kept as
	 * they are instead of failing the parse (the checker's history format allows them,
	 * docs/history-format.md). Escapes are checked all the same. */
	bool accept_invalid_utf8;
};

/* Defaults: depth 16, 4096 values, 16 MiB of text, strict UTF-8. */
void json_limits_default(struct json_limits *lim);

struct json_doc;

/* Parses text[0..len) (NULL lim: the defaults). Returns 0 with *out (free it with
 * json_doc_free; it does not point into text), or WIRE_ESYNTAX, WIRE_EDEPTH,
 * WIRE_ELIMIT or WIRE_ENOMEM with a message in errmsg (may be NULL). */
int json_parse(const char *text, size_t len, const struct json_limits *lim, struct json_doc **out,
               char errmsg[WIRE_ERRMSG_SIZE]);
/* json_parse for many documents in a row (JSON lines): *doc is NULL or the document of
 * an earlier call, whose storage is reused, grown when too small. On success *doc is the
 * new document. On failure *doc is NULL or storage to reuse or free, holding no value. */
int json_parse_into(const char *text, size_t len, const struct json_limits *lim,
                    struct json_doc **doc, char errmsg[WIRE_ERRMSG_SIZE]);
void json_doc_free(struct json_doc *doc);
/* The top-level value; valid while the document lives. */
const struct json_value *json_doc_root(const struct json_doc *doc);

/* The first member of `obj` named `key` (exact bytes), or NULL (also if obj is not an
 * object or is NULL). Duplicate names: the first wins. */
const struct json_value *json_object_get(const struct json_value *obj, const char *key);

/* A number as an integer, exactly: 0, or WIRE_EINVAL if v is not a number written as an
 * integer (no fraction, no exponent) within range. */
int json_value_int64(const struct json_value *v, int64_t *out);
int json_value_uint64(const struct json_value *v, uint64_t *out);
/* A number as a double (may round): 0 or WIRE_EINVAL. */
int json_value_double(const struct json_value *v, double *out);

/* A byte-string member by the convention above: "name" (a string) or "name_base64",
 * decoded into a new buffer *data of *len bytes (free() it; never NULL on success).
 * Returns 0, WIRE_ENOTFOUND (neither present), WIRE_EINVAL (both present, or not a
 * string, or bad base64) or WIRE_ENOMEM. */
int json_object_get_bytes(const struct json_value *obj, const char *name, void **data, size_t *len);

#endif /* CONCORD_SERVER_JSON_H */
