/* fake_main.c: a fake node process for concordctl's tests: prints its port, serves till EOF. */
#include "fake_server.h"

#include <stdio.h>
#include <unistd.h>

int main(void)
{
	static struct fake_kv kv;
	fake_kv_init(&kv);
	struct fake_server *s = fake_server_start(fake_kv_handle, &kv);
	/* The status names this process as the one member, so that concordctl's table can
	 * ask it for its own numbers. */
	fake_server_lock(s);
	snprintf(kv.status_json, sizeof(kv.status_json),
	         "{\"cluster_id\": \"fake\", \"node_id\": 1, \"role\": \"leader\", \"leader\": 1, "
	         "\"term\": 3, \"commit\": 9, \"applied\": 9, \"joint\": false, \"nodes\": "
	         "[{\"id\": 1, \"name\": \"n1\", \"role\": \"leader\", \"voter\": true, "
	         "\"term\": 3, \"commit\": 9, \"applied\": 9, \"match\": 9, \"peer\": "
	         "\"127.0.0.1:1\", \"client\": \"%s\", \"http\": \"127.0.0.1:3\"}, "
	         "{\"id\": 2, \"name\": \"n2\", \"role\": \"learner\", \"voter\": false, "
	         "\"term\": null, \"commit\": null, \"applied\": null, \"match\": null, "
	         "\"peer\": \"127.0.0.1:1\", \"client\": \"127.0.0.1:1\", \"http\": \"\"}]}",
	         fake_server_addr(s));
	fake_server_unlock(s);
	printf("%u\n", (unsigned)fake_server_port(s));
	fflush(stdout);
	/* Until the test closes our stdin (or dies: the pipe closes then too). */
	char buf[64];
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
	}
	fake_server_stop(s);
	fake_kv_free(&kv);
	return 0;
}
