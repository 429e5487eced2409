/* error.c: storage error strings and messages that name file, operation and errno. */
#include "storage/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *storage_strerror(int err)
{
	static const char *const text[] = {
#define STORAGE_ERROR_TEXT_(name, t) t,
	    STORAGE_ERRORS(STORAGE_ERROR_TEXT_)
#undef STORAGE_ERROR_TEXT_
	};
	if (err < 0 || err >= STORAGE_ERROR_COUNT_)
		return "unknown storage error";
	return text[err];
}

int storage_error_from_errno(int neg_errno)
{
	switch (-neg_errno) {
	case ENOSPC:
	case EDQUOT:
		return STORAGE_ENOSPC;
	case ENOENT:
		return STORAGE_ENOENT;
	default:
		return STORAGE_EIO;
	}
}

int storage_errmsg_io(char *msg, const char *path, const char *op, int neg_errno)
{
	int e = -neg_errno;
	char errbuf[128];
	/* strerror_r (GNU flavour) may return a static string instead of filling errbuf. */
	const char *text = strerror_r(e, errbuf, sizeof(errbuf));
	const char *name = strerrorname_np(e);
	if (name == NULL)
		name = "errno";
	if (e == ENOSPC || e == EDQUOT)
		snprintf(msg, STORAGE_ERRMSG_SIZE,
		         "%s: %s: disk full: the file system has no space left for this "
		         "node's data (%s, %s)",
		         path, op, name, text);
	else
		snprintf(msg, STORAGE_ERRMSG_SIZE, "%s: %s: %s (%s)", path, op, text, name);
	return storage_error_from_errno(neg_errno);
}

int storage_errmsg_set(char *msg, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, STORAGE_ERRMSG_SIZE, fmt, ap);
	va_end(ap);
	return err;
}
