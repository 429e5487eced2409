/* http_impl.h: what the HTTP codec's source files share (not part of codec/http.h). */
#ifndef CONCORD_CODEC_HTTP_IMPL_H
#define CONCORD_CODEC_HTTP_IMPL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s[0..len) is a token (RFC 9110 5.6.2: one or more tchar). Defined in
 * http_request.c; the response writer checks header names with it. */
bool http_is_token(const char *s, size_t len);

#endif /* CONCORD_CODEC_HTTP_IMPL_H */
