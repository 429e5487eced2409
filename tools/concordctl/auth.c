/* auth.c: concordctl's user, role and auth commands, over CONCORD.USER, CONCORD.ROLE,
 * CONCORD.AUTH and ACL (docs/resp.md). */
#include "ctl.h"

#include "concord/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs argv[0..argc) and prints the reply: a status as "OK", a string or an array's
 * strings one a line. An error reply fails (exit 1) with its text. */
static int ctl_run(struct ctl *ctl, const char *what, const char *const *argv, size_t argc)
{
	struct concord_reply r;
	memset(&r, 0, sizeof(r));
	int rc = concord_client_command(ctl->c, argv, NULL, argc, &r);
	if (rc != CONCORD_OK) {
		return ctl_fail(ctl->c, what, rc);
	}
	int ret = CTL_OK;
	switch (r.type) {
	case CONCORD_REPLY_ERROR:
		fprintf(stderr, "concordctl: %s: %s\n", what, r.str);
		ret = CTL_FAILED;
		break;
	case CONCORD_REPLY_NIL:
		fprintf(stderr,
		        "concordctl: %s: the record changed meanwhile, or is absent; retry\n",
		        what);
		ret = CTL_FAILED;
		break;
	case CONCORD_REPLY_STATUS:
	case CONCORD_REPLY_STRING:
		printf("%s\n", r.str);
		break;
	case CONCORD_REPLY_INTEGER:
		printf("%s\n", r.integer > 0 ? "OK" : "not found");
		ret = r.integer > 0 ? CTL_OK : CTL_FAILED;
		break;
	case CONCORD_REPLY_ARRAY:
		for (size_t i = 0; i < r.n; i++) {
			if (r.elems[i].str != NULL) {
				printf("%s\n", r.elems[i].str);
			}
		}
		break;
	}
	concord_reply_free(&r);
	return ret;
}

/* user add NAME PASSWORD [ROLE...] | delete NAME | passwd NAME PASSWORD | list |
 * get NAME | grant-role NAME ROLE | revoke-role NAME ROLE */
static int ctl_user(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 1) {
		ctl_usage_error("user: add, delete, passwd, list, get, grant-role or revoke-role");
	}
	const char *sub = argv[0];
	const char *args[4 + 16] = {"CONCORD.USER"};
	size_t n = 1;
	if (strcmp(sub, "list") == 0 || strcmp(sub, "get") == 0) {
		ctl_need_args(sub, argc - 1, strcmp(sub, "get") == 0, strcmp(sub, "get") == 0);
		const char *acl[] = {"ACL", strcmp(sub, "get") == 0 ? "GETUSER" : "USERS", argv[1]};
		return ctl_run(ctl, "user", acl, strcmp(sub, "get") == 0 ? 3 : 2);
	}
	if (strcmp(sub, "add") == 0) {
		ctl_need_args("user add", argc - 1, 2, 18);
		args[n++] = "ADD";
	} else if (strcmp(sub, "delete") == 0) {
		ctl_need_args("user delete", argc - 1, 1, 1);
		args[n++] = "DEL";
	} else if (strcmp(sub, "passwd") == 0) {
		ctl_need_args("user passwd", argc - 1, 2, 2);
		args[n++] = "PASSWD";
	} else if (strcmp(sub, "grant-role") == 0 || strcmp(sub, "revoke-role") == 0) {
		ctl_need_args(sub, argc - 1, 2, 2);
		args[n++] = sub[0] == 'g' ? "GRANT" : "REVOKE";
	} else {
		ctl_usage_error("user: unknown subcommand '%s'", sub);
	}
	for (int i = 1; i < argc; i++) {
		args[n++] = argv[i];
	}
	return ctl_run(ctl, "user", args, n);
}

/* role add NAME | delete NAME | list | get NAME |
 * grant-permission NAME read|readwrite PREFIX | revoke-permission NAME PREFIX */
static int ctl_role(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 1) {
		ctl_usage_error("role: add, delete, list, get, grant-permission or "
		                "revoke-permission");
	}
	const char *sub = argv[0];
	if (strcmp(sub, "list") == 0) {
		ctl_need_args("role list", argc - 1, 0, 0);
		const char *acl[] = {"ACL", "ROLES"};
		return ctl_run(ctl, "role", acl, 2);
	}
	if (strcmp(sub, "get") == 0) {
		ctl_need_args("role get", argc - 1, 1, 1);
		const char *acl[] = {"ACL", "GETROLE", argv[1]};
		return ctl_run(ctl, "role", acl, 3);
	}
	const char *args[5] = {"CONCORD.ROLE"};
	size_t n = 1;
	if (strcmp(sub, "add") == 0 || strcmp(sub, "delete") == 0) {
		ctl_need_args(sub, argc - 1, 1, 1);
		args[n++] = sub[0] == 'a' ? "ADD" : "DEL";
	} else if (strcmp(sub, "grant-permission") == 0) {
		ctl_need_args(sub, argc - 1, 3, 3);
		args[n++] = "GRANT";
	} else if (strcmp(sub, "revoke-permission") == 0) {
		ctl_need_args(sub, argc - 1, 2, 2);
		args[n++] = "REVOKE";
	} else {
		ctl_usage_error("role: unknown subcommand '%s'", sub);
	}
	for (int i = 1; i < argc; i++) {
		args[n++] = argv[i];
	}
	return ctl_run(ctl, "role", args, n);
}

/* auth enable | disable | status */
static int ctl_auth(struct ctl *ctl, int argc, char **argv)
{
	ctl_need_args("auth", argc, 1, 1);
	if (strcmp(argv[0], "status") == 0) {
		const char *acl[] = {"ACL", "STATUS"};
		return ctl_run(ctl, "auth status", acl, 2);
	}
	if (strcmp(argv[0], "enable") != 0 && strcmp(argv[0], "disable") != 0) {
		ctl_usage_error("auth: enable, disable or status");
	}
	const char *args[] = {"CONCORD.AUTH", argv[0][0] == 'e' ? "ENABLE" : "DISABLE"};
	return ctl_run(ctl, "auth", args, 2);
}

const struct ctl_command ctl_auth_commands[] = {
    {"user", ctl_user},
    {"role", ctl_role},
    {"auth", ctl_auth},
    {NULL, NULL},
};
