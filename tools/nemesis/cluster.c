/* cluster.c: the nemesis's cluster of real concord processes: ports, disks, processes, status,
 * faults. */
#include "nemesis.h"

#include "codec/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DISK_IMAGE_BYTES ((off_t)384 << 20)

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		if (nem_interrupted)
			return;
	}
}

/* ---------------------------------------------------------------------------------
 * Running helper programs (mkfs, mount, concord-wal) synchronously
 */

int nem_run(char *const argv[], char *out, size_t len)
{
	int pipefd[2];
	if (pipe(pipefd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	size_t used = 0;
	char buf[4096];
	for (;;) {
		ssize_t n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && used + 1 < len) {
			size_t take = (size_t)n < len - 1 - used ? (size_t)n : len - 1 - used;
			memcpy(out + used, buf, take);
			used += take;
		}
	}
	close(pipefd[0]);
	if (out != NULL && len > 0)
		out[used] = '\0';
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---------------------------------------------------------------------------------
 * Ports: below the kernel's ephemeral range, so that no outgoing connection takes one
 * while its node is down.
 */

static bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int pick_ports(uint64_t seed)
{
	int low = 32768;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f != NULL) {
		int lo, hi;
		if (fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 2000)
			low = lo;
		fclose(f);
	}
	const int span = NEM_SLOTS * 3;
	int range = low - 10000 - span;
	if (range < 100)
		return -1;
	uint64_t x = seed ^ ((uint64_t)getpid() << 16) ^ (uint64_t)time(NULL);
	for (int attempt = 0; attempt < 200; attempt++) {
		int base = 10000 + (int)(nem_rand(&x) % (uint64_t)range);
		bool ok = true;
		for (int p = base; p < base + span && ok; p++)
			ok = port_free(p);
		if (ok)
			return base;
	}
	return -1;
}

/* ---------------------------------------------------------------------------------
 * Disks
 */

static int make_disk(struct nem_cluster *cl, struct nem_slot *s)
{
	snprintf(s->image, sizeof(s->image), "%s/disk/s%d.img", cl->dir, s->idx + 1);
	int fd = open(s->image, O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, DISK_IMAGE_BYTES) != 0) {
		snprintf(cl->disk_reason, sizeof(cl->disk_reason), "creating %s: %s", s->image,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	char out[1024];
	char *mkfs[] = {"mkfs.ext4", "-q", "-F", "-m", "0", s->image, NULL};
	if (nem_run(mkfs, out, sizeof(out)) != 0) {
		snprintf(cl->disk_reason, sizeof(cl->disk_reason), "mkfs.ext4 failed: %.200s", out);
		return -1;
	}
	char *mount[] = {"mount", "-o", "loop", s->image, s->base, NULL};
	if (nem_run(mount, out, sizeof(out)) != 0) {
		snprintf(cl->disk_reason, sizeof(cl->disk_reason), "mount failed: %.200s", out);
		return -1;
	}
	s->mounted = true;
	return 0;
}

void cluster_unmount(struct nem_cluster *cl)
{
	for (int i = 0; i < NEM_SLOTS; i++) {
		struct nem_slot *s = &cl->slots[i];
		if (!s->mounted)
			continue;
		char out[512];
		char *umount[] = {"umount", s->base, NULL};
		int rc = -1;
		for (int attempt = 0; attempt < 20 && rc != 0; attempt++) {
			rc = nem_run(umount, out, sizeof(out));
			if (rc != 0)
				sleep_ms(200);
		}
		if (rc != 0)
			nem_log("could not unmount %s: %s", s->base, out);
		else
			s->mounted = false;
		unlink(s->image);
	}
}

/* ---------------------------------------------------------------------------------
 * Setup
 */

static void slot_name(struct nem_slot *s)
{
	snprintf(s->name, sizeof(s->name), "n%" PRIu64, s->id);
	snprintf(s->data_dir, sizeof(s->data_dir), "%s/%s", s->base, s->name);
}

int cluster_init(struct nem_cluster *cl, bool want_disks, uint64_t seed)
{
	int base = pick_ports(seed);
	if (base < 0) {
		nem_log("no free ports below the ephemeral range");
		return -1;
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/logs", cl->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/disk", cl->dir);
	mkdir(path, 0755);
	cl->next_id = NEM_SLOTS + 1;
	size_t ic = 0, icc = 0, ich = 0, ep = 0;
	for (int i = 0; i < NEM_SLOTS; i++) {
		struct nem_slot *s = &cl->slots[i];
		memset(s, 0, sizeof(*s));
		s->idx = i;
		s->id = (uint64_t)i + 1;
		snprintf(s->peer, sizeof(s->peer), "127.0.0.1:%d", base + 3 * i);
		snprintf(s->client, sizeof(s->client), "127.0.0.1:%d", base + 3 * i + 1);
		snprintf(s->http, sizeof(s->http), "127.0.0.1:%d", base + 3 * i + 2);
		snprintf(s->base, sizeof(s->base), "%s/disk/s%d", cl->dir, i + 1);
		mkdir(s->base, 0755);
		slot_name(s);
		const char *sep = i == 0 ? "" : ",";
		ic += (size_t)snprintf(cl->initial_cluster + ic, sizeof(cl->initial_cluster) - ic,
		                       "%s%s=%s", sep, s->name, s->peer);
		icc += (size_t)snprintf(cl->initial_client + icc, sizeof(cl->initial_client) - icc,
		                        "%s%s=%s", sep, s->name, s->client);
		ich += (size_t)snprintf(cl->initial_http + ich, sizeof(cl->initial_http) - ich,
		                        "%s%s=%s", sep, s->name, s->http);
		ep += (size_t)snprintf(cl->endpoints + ep, sizeof(cl->endpoints) - ep, "%s%s", sep,
		                       s->client);
	}
	cl->disks = false;
	if (!want_disks) {
		snprintf(cl->disk_reason, sizeof(cl->disk_reason), "disks not asked for");
	} else if (geteuid() != 0) {
		snprintf(cl->disk_reason, sizeof(cl->disk_reason),
		         "not root: cannot mount file system images");
	} else {
		cl->disks = true;
		for (int i = 0; i < NEM_SLOTS && cl->disks; i++) {
			if (make_disk(cl, &cl->slots[i]) != 0)
				cl->disks = false;
		}
		if (!cl->disks)
			cluster_unmount(cl);
	}
	if (cl->disks)
		nem_log("each node's data lives on its own %d MiB ext4 image (loop mount)",
		        (int)(DISK_IMAGE_BYTES >> 20));
	else
		nem_log("no disk images (%s): data in plain directories, no disk-full faults",
		        cl->disk_reason);
	for (int i = 0; i < NEM_SLOTS; i++)
		mkdir(cl->slots[i].data_dir, 0755);

	struct concord_client_opts o;
	concord_client_opts_default(&o);
	o.connect_timeout_ms = 300;
	o.attempt_timeout_ms = (uint32_t)(1000 * cl->slow);
	o.deadline_ms = (uint32_t)(2000 * cl->slow);
	o.retries_max = 6;
	o.backoff_min_ms = 20;
	o.backoff_max_ms = 200;
	o.no_session = true;
	if (nem_tls_init(cl) != 0)
		return -1;
	nem_tls_client_opts(cl, &o);
	char err[CONCORD_CLIENT_ERRMSG_SIZE];
	if (concord_client_new(cl->endpoints, &o, &cl->admin, err) != 0) {
		nem_log("admin client: %s", err);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------
 * Processes
 */

int cluster_start(struct nem_cluster *cl, struct nem_slot *s)
{
	if (s->pid != 0)
		return 0;
	char logpath[PATH_MAX + 64];
	snprintf(logpath, sizeof(logpath), "%s/logs/%s.log", cl->dir, s->name);
	mkdir(s->data_dir, 0755);
	char id[32], tick[16], timeout[16];
	snprintf(id, sizeof(id), "%" PRIu64, s->id);
	snprintf(tick, sizeof(tick), "%" PRIu32, cl->tick_ms);
	snprintf(timeout, sizeof(timeout), "%u", (unsigned)(2000 * cl->slow));
	char *argv[64];
	int n = 0;
	argv[n++] = cl->concord;
	argv[n++] = "--name";
	argv[n++] = s->name;
	argv[n++] = "--id";
	argv[n++] = id;
	argv[n++] = "--data-dir";
	argv[n++] = s->data_dir;
	argv[n++] = "--cluster-id";
	argv[n++] = "nemesis";
	argv[n++] = "--initial-cluster";
	argv[n++] = cl->initial_cluster;
	argv[n++] = "--initial-cluster-client";
	argv[n++] = cl->initial_client;
	argv[n++] = "--initial-cluster-http";
	argv[n++] = cl->initial_http;
	argv[n++] = "--listen-peer";
	argv[n++] = s->peer;
	argv[n++] = "--listen-client";
	argv[n++] = s->client;
	argv[n++] = "--listen-http";
	argv[n++] = s->http;
	argv[n++] = "--tick-ms";
	argv[n++] = tick;
	argv[n++] = "--election-ticks";
	argv[n++] = "10";
	argv[n++] = "--heartbeat-ticks";
	argv[n++] = "2";
	argv[n++] = "--request-timeout-ms";
	argv[n++] = timeout;
	/* Small numbers so that snapshots, InstallSnapshot and segment rotation happen
	 * many times in a run. */
	argv[n++] = "--snapshot-entries";
	argv[n++] = "3000";
	argv[n++] = "--snapshot-trailing";
	argv[n++] = "1000";
	argv[n++] = "--wal-segment-bytes";
	argv[n++] = "1048576";
	if (s->joiner)
		argv[n++] = "--join";
	n = nem_tls_node_args(cl, s, argv, n, 62);
	if (n < 0)
		return -1;
	for (int i = 0; i < cl->n_extra && n < 62; i++)
		argv[n++] = cl->extra[i];
	argv[n] = NULL;

	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		nem_log("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until exec: the harness has threads. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		signal(SIGPIPE, SIG_DFL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(argv[0], argv);
		_exit(127);
	}
	s->pid = pid;
	s->paused = false;
	s->may_exit = false;
	s->removed = false;
	s->starts++;
	return 0;
}

static void slot_exited(struct nem_cluster *cl, struct nem_slot *s, int st)
{
	s->pid = 0;
	s->paused = false;
	s->last_status = st;
	if (s->may_exit)
		return;
	char line[256];
	cluster_last_log_line(cl, s->name, line, sizeof(line));
	cl->unexpected_exits++;
	if (WIFSIGNALED(st))
		nem_log("UNEXPECTED: %s exited on signal %d; its log ends: %s", s->name,
		        WTERMSIG(st), line);
	else
		nem_log("UNEXPECTED: %s exited with status %d; its log ends: %s", s->name,
		        WEXITSTATUS(st), line);
}

static void wait_slot(struct nem_cluster *cl, struct nem_slot *s)
{
	int st = 0;
	while (waitpid(s->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0;
			break;
		}
	}
	slot_exited(cl, s, st);
}

void cluster_kill(struct nem_cluster *cl, struct nem_slot *s)
{
	if (s->pid == 0)
		return;
	s->may_exit = true;
	kill(s->pid, SIGKILL);
	wait_slot(cl, s);
}

void cluster_stop(struct nem_cluster *cl, struct nem_slot *s)
{
	if (s->pid == 0)
		return;
	s->may_exit = true;
	if (s->paused)
		kill(s->pid, SIGCONT);
	kill(s->pid, SIGTERM);
	for (int i = 0; i < (int)(200 * cl->slow); i++) {
		int st;
		pid_t p = waitpid(s->pid, &st, WNOHANG);
		if (p == s->pid) {
			bool removed_exit = s->removed && WIFEXITED(st) && WEXITSTATUS(st) == 3;
			if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !removed_exit) {
				/* A graceful stop ends with status 0; anything else (a crash on
				 * the way out, a sanitizer's report) is a finding. */
				char line[256];
				cluster_last_log_line(cl, s->name, line, sizeof(line));
				cl->unclean_stops++;
				nem_log(
				    "UNCLEAN: %s stopped on SIGTERM with %s %d; its log ends: %s",
				    s->name, WIFEXITED(st) ? "status" : "signal",
				    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), line);
			}
			slot_exited(cl, s, st);
			return;
		}
		sleep_ms(50);
	}
	cl->unclean_stops++;
	nem_log("UNCLEAN: %s did not stop on SIGTERM within %.0f s: kill -9", s->name,
	        10 * cl->slow);
	kill(s->pid, SIGKILL);
	wait_slot(cl, s);
}

void cluster_pause(struct nem_cluster *cl, struct nem_slot *s)
{
	(void)cl;
	if (s->pid != 0 && !s->paused && kill(s->pid, SIGSTOP) == 0)
		s->paused = true;
}

void cluster_resume(struct nem_cluster *cl, struct nem_slot *s)
{
	(void)cl;
	if (s->pid != 0 && s->paused) {
		kill(s->pid, SIGCONT);
		s->paused = false;
	}
}

void cluster_reap(struct nem_cluster *cl)
{
	for (int i = 0; i < NEM_SLOTS; i++) {
		struct nem_slot *s = &cl->slots[i];
		if (s->pid == 0)
			continue;
		int st;
		pid_t p = waitpid(s->pid, &st, WNOHANG);
		if (p == s->pid)
			slot_exited(cl, s, st);
	}
}

void cluster_nap(struct nem_cluster *cl, uint32_t ms)
{
	int64_t until = nem_now() + (int64_t)ms * 1000000;
	while (!nem_interrupted) {
		cluster_reap(cl);
		int64_t left = (until - nem_now()) / 1000000;
		if (left <= 0)
			break;
		sleep_ms(left < 50 ? (uint32_t)left : 50);
	}
}

void cluster_new_member(struct nem_cluster *cl, struct nem_slot *s)
{
	if (cl->n_retired < NEM_RETIRED_MAX) {
		struct nem_retired *r = &cl->retired[cl->n_retired++];
		snprintf(r->name, sizeof(r->name), "%s", s->name);
		snprintf(r->data_dir, sizeof(r->data_dir), "%s", s->data_dir);
	}
	s->id = cl->next_id++;
	s->joiner = true;
	slot_name(s);
}

void cluster_last_log_line(struct nem_cluster *cl, const char *name, char *out, size_t len)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/logs/%s.log", cl->dir, name);
	out[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t l = strlen(line);
		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			line[--l] = '\0';
		if (l > 0)
			snprintf(out, len, "%s", line);
	}
	fclose(f);
}

/* ---------------------------------------------------------------------------------
 * Status: CONCORD.STATUS, the JSON of GET /v1/cluster
 */

static bool member_u64(const struct json_value *obj, const char *key, uint64_t *v)
{
	return json_value_uint64(json_object_get(obj, key), v) == 0;
}

static bool member_is(const struct json_value *obj, const char *key, const char *text)
{
	const struct json_value *v = json_object_get(obj, key);
	return v != NULL && v->type == JSON_STRING && strcmp(v->str, text) == 0;
}

void cluster_status(struct nem_cluster *cl, struct nem_slot *s, struct nem_status *st)
{
	memset(st, 0, sizeof(*st));
	if (s->pid == 0 || s->paused)
		return;
	char *json = NULL;
	size_t len = 0;
	if (concord_client_status(cl->admin, s->client, &json, &len) != 0)
		return;
	struct json_doc *doc = NULL;
	int rv = json_parse(json, len, NULL, &doc, NULL);
	free(json);
	if (rv != 0)
		return;
	const struct json_value *root = json_doc_root(doc);
	st->ok = member_u64(root, "node_id", &st->id) && member_u64(root, "leader", &st->leader) &&
	         member_u64(root, "term", &st->term) && member_u64(root, "commit", &st->commit) &&
	         member_u64(root, "applied", &st->applied) &&
	         member_u64(root, "last_index", &st->last_index) &&
	         member_u64(root, "revision", &st->revision);
	st->leading = member_is(root, "role", "leader");
	const struct json_value *joint = json_object_get(root, "joint");
	st->joint = joint != NULL && joint->type == JSON_BOOL && joint->boolean;
	/* The members: objects in "nodes", each with "id" and "voter". */
	const struct json_value *nodes = json_object_get(root, "nodes");
	for (const struct json_value *m = nodes != NULL && nodes->type == JSON_ARRAY ? nodes->child
	                                                                             : NULL;
	     m != NULL; m = m->next) {
		uint64_t id;
		const struct json_value *voter = json_object_get(m, "voter");
		if (!member_u64(m, "id", &id) || voter == NULL || voter->type != JSON_BOOL)
			continue;
		if (voter->boolean && st->n_voter_ids < 16)
			st->voter_ids[st->n_voter_ids++] = id;
		else if (!voter->boolean && st->n_learner_ids < 16)
			st->learner_ids[st->n_learner_ids++] = id;
	}
	json_doc_free(doc);
}

int cluster_leader(struct nem_cluster *cl, struct nem_status *out)
{
	int best = -1;
	struct nem_status bst = {0};
	for (int i = 0; i < NEM_SLOTS; i++) {
		struct nem_status st;
		cluster_status(cl, &cl->slots[i], &st);
		if (st.ok && st.leading && (best < 0 || st.term > bst.term)) {
			best = i;
			bst = st;
		}
	}
	if (out != NULL)
		*out = bst;
	return best;
}

int cluster_wait_leader(struct nem_cluster *cl, uint32_t ms)
{
	int64_t until = nem_now() + (int64_t)ms * 1000000;
	for (;;) {
		int l = cluster_leader(cl, NULL);
		if (l >= 0 || nem_now() >= until || nem_interrupted)
			return l;
		cluster_nap(cl, 100);
	}
}

/* ---------------------------------------------------------------------------------
 * Link faults through the admin API (CONCORD.FAULT, docs/net.md)
 */

int cluster_fault(struct nem_cluster *cl, struct nem_slot *s, uint64_t peer,
                  const struct concord_fault *f)
{
	if (s->pid == 0 || s->paused)
		return -1;
	int rc = concord_client_fault_set(cl->admin, s->client, peer, f);
	if (rc != 0)
		nem_log("fault on %s failed: %s", s->name, concord_client_errmsg(cl->admin));
	return rc;
}

void cluster_block(struct nem_cluster *cl, struct nem_slot *a, struct nem_slot *b)
{
	struct concord_fault f = {0};
	f.block_in = true;
	f.block_out = true;
	cluster_fault(cl, a, b->id, &f);
	cluster_fault(cl, b, a->id, &f);
}

void cluster_heal(struct nem_cluster *cl)
{
	for (int i = 0; i < NEM_SLOTS; i++) {
		struct nem_slot *s = &cl->slots[i];
		cluster_resume(cl, s);
		if (s->pid == 0)
			continue;
		for (int attempt = 0; attempt < 5; attempt++) {
			if (concord_client_fault_clear(cl->admin, s->client, CONCORD_PEER_ALL) == 0)
				break;
			if (attempt == 4)
				nem_log("clearing the faults of %s failed: %s", s->name,
				        concord_client_errmsg(cl->admin));
			cluster_nap(cl, 200);
		}
	}
}

/* ---------------------------------------------------------------------------------
 * Full disk
 */

int64_t cluster_disk_fill(struct nem_cluster *cl, struct nem_slot *s)
{
	(void)cl;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/filler", s->base);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	int64_t total = 0;
	struct statvfs v;
	if (fstatvfs(fd, &v) == 0) {
		off_t want = (off_t)v.f_bavail * (off_t)v.f_frsize;
		/* Most of it at once, then the rest block by block until the file system
		 * refuses. */
		want -= want / 64;
		if (want > 0 && posix_fallocate(fd, 0, want) == 0)
			total = want;
	}
	static char zeros[65536];
	size_t chunk = sizeof(zeros);
	while (chunk >= 512) {
		ssize_t w = pwrite(fd, zeros, chunk, total);
		if (w > 0) {
			total += w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		chunk /= 2;
	}
	fsync(fd);
	close(fd);
	return total;
}

void cluster_disk_free(struct nem_cluster *cl, struct nem_slot *s)
{
	(void)cl;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/filler", s->base);
	unlink(path);
	int fd = open(s->base, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* ---------------------------------------------------------------------------------
 * Offline verification and shutdown
 */

int cluster_verify(struct nem_cluster *cl, const char *data_dir, char *out, size_t len)
{
	char *argv[] = {cl->concord_wal, "verify", (char *)data_dir, NULL};
	return nem_run(argv, out, len);
}

void cluster_shutdown(struct nem_cluster *cl)
{
	for (int i = 0; i < NEM_SLOTS; i++)
		cluster_stop(cl, &cl->slots[i]);
	if (cl->admin != NULL) {
		concord_client_free(cl->admin);
		cl->admin = NULL;
	}
}
