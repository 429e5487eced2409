/* json_impl.h: what the JSON codec's source files share (not part of codec/json.h). */
#ifndef CONCORD_CODEC_JSON_IMPL_H
#define CONCORD_CODEC_JSON_IMPL_H

#include <stddef.h>

/* The length of the valid UTF-8 sequence at s[0..len) (len >= 1), or 0 if none starts
 * there. Defined in json_bytes.c; the writer's escaping and the reader's strings use it. */
size_t json_utf8_seq(const unsigned char *s, size_t len);

#endif /* CONCORD_CODEC_JSON_IMPL_H */
