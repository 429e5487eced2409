/* resp_impl.h: what the RESP codec's source files share (not part of codec/resp.h). */
#ifndef CONCORD_CODEC_RESP_IMPL_H
#define CONCORD_CODEC_RESP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defined in resp_request.c; the reply parser (resp_reply.c) uses them too. */

/* Parses a decimal int64 in s[0..len): an optional '-', then 1 to 19 digits, nothing
 * else (no '+', no spaces). Returns false for anything else or an overflow. */
bool resp_parse_i64(const char *s, size_t len, int64_t *out);

/* The offset of the first "\r" at or after `from` in s[0..len), or len if there is
 * none. */
size_t resp_find_cr(const char *s, size_t from, size_t len);

#endif /* CONCORD_CODEC_RESP_IMPL_H */
