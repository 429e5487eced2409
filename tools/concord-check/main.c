/* main.c: concord-check, the command that says whether a JSONL history is linearizable. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"

enum {
	EXIT_LINEARIZABLE = 0,
	EXIT_NOT_LINEARIZABLE = 1,
	EXIT_UNKNOWN = 2,
	EXIT_BAD_INPUT = 3,
};

static void cli_usage(FILE *out)
{
	fputs(
	    "usage: concord-check [options] FILE.jsonl\n"
	    "\n"
	    "Checks whether a history of key-value operations (JSON lines, one operation per\n"
	    "line, as described in docs/history-format.md) is linearizable. FILE may be - for\n"
	    "standard input.\n"
	    "\n"
	    "options:\n"
	    "  --budget-ms N      stop and answer \"unknown\" after N ms of search (default "
	    "10000)\n"
	    "  --budget-mb N      stop and answer \"unknown\" past N MiB of search memory\n"
	    "                     (default 1024)\n"
	    "  --budget-states N  stop and answer \"unknown\" after N search states (default: no\n"
	    "                     limit; unlike time, this limit is deterministic)\n"
	    "  --no-client-order  check real-time order only: do not require a client's completed\n"
	    "                     operations on a key to take effect in the order of their calls\n"
	    "  --html FILE        also write the history as a timeline to FILE (opens in a "
	    "browser)\n"
	    "  --json             print the result as one JSON object instead of text\n"
	    "  --quiet            print only the verdict line\n"
	    "  --verbose          print a line for every key\n"
	    "  -h, --help         print this help\n"
	    "\n"
	    "exit status: 0 linearizable, 1 not linearizable, 2 unknown (a budget ran out),\n"
	    "3 bad input (the error names the line) or bad usage.\n",
	    out);
}

static int cli_parse_u64(const char *flag, const char *text, uint64_t *out)
{
	char *end = NULL;
	errno = 0;
	if (text == NULL || text[0] < '0' || text[0] > '9') {
		fprintf(stderr, "concord-check: %s needs a number\n", flag);
		return -EINVAL;
	}
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || v == 0) {
		fprintf(stderr, "concord-check: %s needs a positive integer, not '%s'\n", flag,
		        text);
		return -EINVAL;
	}
	*out = (uint64_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct check_options options = {0};
	const char *html_path = NULL;
	const char *path = NULL;
	bool json = false;
	enum check_report_detail detail = CHECK_REPORT_NORMAL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			cli_usage(stdout);
			return EXIT_LINEARIZABLE;
		} else if (strcmp(a, "--budget-ms") == 0) {
			if (cli_parse_u64(a, next, &options.budget_ms) != 0)
				return EXIT_BAD_INPUT;
			i++;
		} else if (strcmp(a, "--budget-mb") == 0) {
			uint64_t mb;
			if (cli_parse_u64(a, next, &mb) != 0)
				return EXIT_BAD_INPUT;
			options.budget_bytes =
			    mb > UINT64_MAX / (1024 * 1024) ? UINT64_MAX : mb * 1024 * 1024;
			i++;
		} else if (strcmp(a, "--budget-states") == 0) {
			if (cli_parse_u64(a, next, &options.budget_states) != 0)
				return EXIT_BAD_INPUT;
			i++;
		} else if (strcmp(a, "--html") == 0) {
			if (next == NULL) {
				fprintf(stderr, "concord-check: --html needs a file name\n");
				return EXIT_BAD_INPUT;
			}
			html_path = next;
			i++;
		} else if (strcmp(a, "--no-client-order") == 0) {
			options.no_client_order = true;
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--quiet") == 0) {
			detail = CHECK_REPORT_QUIET;
		} else if (strcmp(a, "--verbose") == 0) {
			detail = CHECK_REPORT_VERBOSE;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "concord-check: unknown option %s (try --help)\n", a);
			return EXIT_BAD_INPUT;
		} else if (path != NULL) {
			fprintf(stderr, "concord-check: one history file at a time (try --help)\n");
			return EXIT_BAD_INPUT;
		} else {
			path = a;
		}
	}
	if (path == NULL) {
		cli_usage(stderr);
		return EXIT_BAD_INPUT;
	}

	struct check_history history;
	struct check_error error;
	int rc = check_history_load(path, &history, &error);
	if (rc != 0) {
		if (error.line > 0)
			fprintf(stderr, "concord-check: %s:%zu: %s\n", path, error.line,
			        error.message);
		else
			fprintf(stderr, "concord-check: %s: %s\n", path, error.message);
		return EXIT_BAD_INPUT;
	}
	struct check_result result;
	rc = check_history_run(history.ops, history.op_count, &options, &result);
	if (rc != 0) {
		fprintf(stderr, "concord-check: %s: %s\n", path,
		        rc == -EINVAL ? result.reason : strerror(-rc));
		check_history_free(&history);
		return rc == -EINVAL ? EXIT_BAD_INPUT : EXIT_UNKNOWN;
	}
	if (json)
		rc = check_report_json(stdout, history.ops, history.op_count, &result);
	else
		rc = check_report_text(stdout, history.ops, history.op_count, &result, detail);
	if (rc == 0 && html_path != NULL) {
		FILE *f = fopen(html_path, "w");
		if (f == NULL) {
			fprintf(stderr, "concord-check: cannot write %s: %s\n", html_path,
			        strerror(errno));
			rc = -EIO;
		} else {
			rc = check_report_html(f, history.ops, history.op_count, &result, path);
			if (fclose(f) != 0 && rc == 0)
				rc = -EIO;
			if (rc != 0)
				fprintf(stderr, "concord-check: writing %s failed\n", html_path);
		}
	}
	int status = (int)result.verdict;
	check_result_free(&result);
	check_history_free(&history);
	if (fflush(stdout) != 0)
		rc = -EIO;
	/* A verdict stands even if a report could not be written; say so on stderr only. */
	if (rc != 0)
		fprintf(stderr, "concord-check: output error: %s\n", strerror(-rc));
	return status;
}
