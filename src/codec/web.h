/* web.h: the web page served at "/", embedded in the binary at build time from web/index.html. */
#ifndef CONCORD_SERVER_WEB_H
#define CONCORD_SERVER_WEB_H

#include <stddef.h>

/* The page's bytes (UTF-8 HTML, with a terminating NUL not counted in the length).
 * Serve with "Content-Type: text/html; charset=utf-8". */
extern const char concord_web_index[];
extern const size_t concord_web_index_len;

#endif /* CONCORD_SERVER_WEB_H */
