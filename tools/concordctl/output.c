/* output.c: concordctl's output formats for rows of fields: a bordered table, or simple lines. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

static void ctl_table_rule(const size_t *width, size_t ncols)
{
	for (size_t j = 0; j < ncols; j++) {
		fputc('+', stdout);
		for (size_t k = 0; k < width[j] + 2; k++) {
			fputc('-', stdout);
		}
	}
	fputs("+\n", stdout);
}

static void ctl_table_line(const char *const *cells, const size_t *width, size_t ncols)
{
	for (size_t j = 0; j < ncols; j++) {
		printf("| %-*s ", (int)width[j], cells[j] != NULL ? cells[j] : "");
	}
	fputs("|\n", stdout);
}

void ctl_print_rows(enum ctl_format format, const char *const *headers, size_t ncols,
                    const char *const *cells, size_t nrows)
{
	if (format == CTL_FORMAT_SIMPLE) {
		for (size_t i = 0; i < nrows; i++) {
			for (size_t j = 0; j < ncols; j++) {
				const char *v = cells[i * ncols + j];
				printf("%s%s", j > 0 ? ", " : "", v != NULL ? v : "");
			}
			fputc('\n', stdout);
		}
		return;
	}
	size_t width[CTL_COLUMNS_MAX];
	if (ncols > CTL_COLUMNS_MAX) {
		ncols = CTL_COLUMNS_MAX;
	}
	for (size_t j = 0; j < ncols; j++) {
		width[j] = strlen(headers[j]);
		for (size_t i = 0; i < nrows; i++) {
			const char *v = cells[i * ncols + j];
			size_t n = v != NULL ? strlen(v) : 0;
			if (n > width[j]) {
				width[j] = n;
			}
		}
	}
	ctl_table_rule(width, ncols);
	ctl_table_line(headers, width, ncols);
	ctl_table_rule(width, ncols);
	for (size_t i = 0; i < nrows; i++) {
		ctl_table_line(cells + i * ncols, width, ncols);
	}
	ctl_table_rule(width, ncols);
}

void ctl_print_json_bytes(const char *s, size_t len)
{
	fputc('"', stdout);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			printf("\\%c", ch);
		} else if (ch < 0x20) {
			printf("\\u%04x", ch);
		} else {
			fputc(ch, stdout);
		}
	}
	fputc('"', stdout);
}

void ctl_print_json_string(const char *s)
{
	ctl_print_json_bytes(s, strlen(s));
}
