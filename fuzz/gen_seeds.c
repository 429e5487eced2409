/* gen_seeds.c: writes the seed corpora of fuzz/corpus/ with the project's own encoders.
 *
 * Usage: fuzz_gen_seeds TARGET OUTDIR
 * Writes a few small valid inputs for TARGET (frame, storage, kv, kvsnap, raft) into
 * OUTDIR. Run by hand when a format changes; the output is committed. */
#include "kv/kv.h"
#include "net/frame.h"
#include "proto/codec.h"
#include "storage/crashfs.h"
#include "storage/storage.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *outdir;

/* A growable byte string. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert(b->p != NULL);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_u8(struct bytes *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put_u32(struct bytes *b, uint32_t v)
{
	uint8_t le[4];
	net_put_u32(le, v);
	put(b, le, 4);
}

static void save(const char *name, struct bytes *b)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", outdir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	free(b->p);
	*b = (struct bytes){0};
}

/* ---- frame: a HELLO, then frames */

static void frame_msg(struct bytes *b, const struct raft_message *m)
{
	size_t n = proto_message_size(m);
	uint8_t *buf = malloc(n);
	assert(buf != NULL && proto_message_encode(m, buf) == n);
	put_u32(b, (uint32_t)n);
	put(b, buf, n);
	free(buf);
}

static void hello(struct bytes *b, enum net_hs_kind kind)
{
	struct net_handshake hs = {.version = NET_PROTOCOL_VERSION,
	                           .kind = (uint8_t)kind,
	                           .cluster_id = 7,
	                           .from = 2,
	                           .to = 1};
	uint8_t f[NET_HANDSHAKE_FRAME_BYTES];
	net_handshake_encode(&hs, f);
	put(b, f, sizeof(f));
}

static void gen_frame(void)
{
	struct bytes b = {0};
	struct raft_entry es[3] = {
	    {.term = 2, .index = 5, .type = RAFT_ENTRY_NOOP},
	    {.term = 2, .index = 6, .type = RAFT_ENTRY_NORMAL, .buf = raft_buf_new("set k v", 7)},
	    {.term = 3, .index = 7, .type = RAFT_ENTRY_NORMAL, .buf = raft_buf_new("x", 1)},
	};
	hello(&b, NET_HS_HELLO);
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_APPEND,
	                                     .from = 2,
	                                     .to = 1,
	                                     .term = 3,
	                                     .index = 4,
	                                     .log_term = 1,
	                                     .commit = 4,
	                                     .n_entries = 3,
	                                     .entries = es});
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_HEARTBEAT,
	                                     .from = 2,
	                                     .to = 1,
	                                     .term = 3,
	                                     .commit = 7,
	                                     .context = 9});
	save("append_heartbeat", &b);

	hello(&b, NET_HS_ACCEPT);
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_PREVOTE,
	                                     .from = 3,
	                                     .to = 1,
	                                     .term = 5,
	                                     .index = 10,
	                                     .log_term = 4});
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_VOTE,
	                                     .from = 3,
	                                     .to = 1,
	                                     .term = 5,
	                                     .index = 10,
	                                     .log_term = 4,
	                                     .transfer = true});
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_APPEND_RESP,
	                                     .from = 3,
	                                     .to = 1,
	                                     .term = 5,
	                                     .index = 8,
	                                     .reject = true,
	                                     .xterm = 2,
	                                     .xindex = 6,
	                                     .xlen = 9});
	frame_msg(&b,
	          &(struct raft_message){
	              .type = RAFT_MSG_VOTE_RESP, .from = 3, .to = 1, .term = 5, .reject = true});
	save("votes_resp", &b);

	struct raft_conf conf = {.n_voters = 3,
	                         .voters = {1, 2, 3},
	                         .n_voters_old = 1,
	                         .voters_old = {1},
	                         .n_learners = 1,
	                         .learners = {4}};
	hello(&b, NET_HS_HELLO);
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_SNAPSHOT,
	                                     .from = 2,
	                                     .to = 1,
	                                     .term = 3,
	                                     .index = 20,
	                                     .log_term = 3,
	                                     .snap_size = 10,
	                                     .snap_offset = 0,
	                                     .chunk = raft_buf_new("0123456789", 10),
	                                     .snap_conf = &conf});
	frame_msg(&b, &(struct raft_message){.type = RAFT_MSG_SNAPSHOT_RESP,
	                                     .from = 2,
	                                     .to = 1,
	                                     .term = 3,
	                                     .index = 20,
	                                     .log_term = 3,
	                                     .snap_size = 10,
	                                     .snap_offset = 10});
	frame_msg(&b, &(struct raft_message){
	                  .type = RAFT_MSG_TIMEOUT_NOW, .from = 2, .to = 1, .term = 3});
	/* The disk's records ride in frames too, for the other decoders. */
	size_t n = proto_entry_size(&es[1]);
	uint8_t *buf = malloc(n);
	proto_entry_encode(&es[1], buf);
	put_u32(&b, (uint32_t)n);
	put(&b, buf, n);
	free(buf);
	struct proto_meta meta = {.format_version = 1,
	                          .cluster_id = 7,
	                          .node_id = 1,
	                          .hard_state = {.term = 3, .vote = 2},
	                          .conf = conf};
	n = proto_meta_size(&meta);
	buf = malloc(n);
	proto_meta_encode(&meta, buf);
	put_u32(&b, (uint32_t)n);
	put(&b, buf, n);
	free(buf);
	struct proto_snapshot_meta sm = {
	    .index = 20, .term = 3, .conf = conf, .data_size_bytes = 10, .data_crc32c = 0x1234};
	n = proto_snapshot_meta_size(&sm);
	buf = malloc(n);
	proto_snapshot_meta_encode(&sm, buf);
	put_u32(&b, (uint32_t)n);
	put(&b, buf, n);
	free(buf);
	save("snapshot_records", &b);
}

/* ---- storage: a data directory as [u8 path length][path][u32 LE length][content]... */

static void dump_file(struct bytes *b, struct crashfs *fs, const char *rel, bool trim)
{
	char path[SIO_PATH_MAX];
	snprintf(path, sizeof(path), "d/%s", rel);
	uint8_t *content = NULL;
	size_t len = 0;
	int rv = crashfs_read_file(fs, path, &content, &len);
	assert(rv == 0);
	/* An open segment is preallocated with zeros: keep the seeds small. */
	while (trim && len > 0 && content[len - 1] == 0)
		len--;
	put_u8(b, (uint8_t)strlen(rel));
	put(b, rel, strlen(rel));
	put_u32(b, (uint32_t)len);
	put(b, content, len);
	free(content);
}

static void dump_dir(struct bytes *b, struct crashfs *fs)
{
	struct sio *io = crashfs_io(fs);
	dump_file(b, fs, "meta", false);
	static const char *const sub[] = {"wal", "snap"};
	for (int k = 0; k < 2; k++) {
		char path[64];
		snprintf(path, sizeof(path), "d/%s", sub[k]);
		struct sio_names names;
		int rv = sio_list(io, path, &names);
		assert(rv == 0);
		for (uint32_t i = 0; i < names.n; i++) {
			char rel[SIO_NAME_MAX + 8];
			snprintf(rel, sizeof(rel), "%s/%s", sub[k], names.v[i]);
			dump_file(b, fs, rel, k == 0);
		}
		sio_names_free(&names);
	}
}

static void append_n(struct storage *st, raft_index first, uint32_t n, raft_term term)
{
	for (uint32_t i = 0; i < n; i++) {
		char payload[32];
		int len = snprintf(payload, sizeof(payload), "cmd-%u", (unsigned)(first + i));
		struct raft_entry e = {.term = term,
		                       .index = first + i,
		                       .type = i == 0 ? RAFT_ENTRY_NOOP : RAFT_ENTRY_NORMAL,
		                       .buf = i == 0 ? NULL : raft_buf_new(payload, (size_t)len)};
		int rv = storage_append(st, &e, 1);
		assert(rv == 0);
		raft_buf_unref(e.buf);
	}
	assert(storage_sync(st) == 0);
}

/* A directory with `n1` entries of term 1, then (if snap) a snapshot at n1, then `n2`
 * entries of term 2; small segments so that some close. */
static void storage_seed(const char *name, uint32_t n1, bool snap, uint32_t n2,
                         uint32_t payload_bytes)
{
	struct crashfs *fs = crashfs_new(1);
	struct sio *io = crashfs_io(fs);
	struct raft_conf conf = {.n_voters = 3, .voters = {1, 2, 3}};
	struct storage_options opts = {.cluster_id = 7,
	                               .node_id = 1,
	                               .bootstrap_conf = &conf,
	                               .create = true,
	                               .segment_size_bytes = STORAGE_SEGMENT_SIZE_MIN_BYTES};
	struct storage *st;
	struct storage_recovered rec;
	char errmsg[STORAGE_ERRMSG_SIZE];
	int rv = storage_open(&st, io, "d", &opts, &rec, errmsg);
	assert(rv == 0);
	storage_recovered_release(&rec);
	assert(storage_set_hard_state(st, &(struct raft_hard_state){.term = 2, .vote = 1}) == 0);
	append_n(st, 1, n1, 1);
	if (snap) {
		char data[64];
		memset(data, 's', sizeof(data));
		rv = storage_snapshot_put(
		    st, n1, 1, &conf, data,
		    payload_bytes < sizeof(data) ? payload_bytes : sizeof(data), 0);
		assert(rv == 0);
	}
	append_n(st, n1 + 1, n2, 2);
	storage_close(st);
	struct bytes b = {0};
	dump_dir(&b, fs);
	save(name, &b);
	crashfs_free(fs);
}

static void gen_storage(void)
{
	storage_seed("log_only", 6, false, 3, 0);
	storage_seed("snapshot_then_log", 4, true, 2, 20);
	storage_seed("closed_segments", 40, false, 40, 0);
	/* A fresh directory: the meta file and an empty log. */
	storage_seed("fresh", 0, false, 0, 0);
}

/* ---- kv: log entries [u16 LE length][command]...; kvsnap: [flag][snapshot] */

static void cmd(struct bytes *b, struct kv *kv, raft_index *index, const struct kv_cmd *c)
{
	void *buf;
	size_t len;
	int rv = kv_cmd_encode(c, NULL, &buf, &len);
	assert(rv == 0 && len < 0x8000);
	uint8_t h[2] = {(uint8_t)len, (uint8_t)(len >> 8)};
	put(b, h, 2);
	put(b, buf, len);
	if (kv != NULL) {
		struct kv_reply reply;
		kv_apply(kv, ++*index, buf, len, &reply);
	}
	free(buf);
}

/* Writes a few command sequences; the last one is also applied to `kv` (may be NULL). */
static void kv_commands(struct kv *kv)
{
	struct bytes b = {0};
	raft_index index = 0;
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .time_ms = 10,
	                     .put = {.key = "a", .key_len = 1, .value = "1", .value_len = 1}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){
	        .op = KV_OP_INCRBY, .time_ms = 11, .put = {.key = "a", .key_len = 1}, .delta = 41});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_APPEND,
	                     .time_ms = 12,
	                     .put = {.key = "s", .key_len = 1, .value = "xyz", .value_len = 3}});
	struct kv_key dk[2] = {{"a", 1}, {"zz", 2}};
	cmd(&b, NULL, &index, &(struct kv_cmd){.op = KV_OP_DEL, .time_ms = 13, .n = 2, .keys = dk});
	save("set_incr_append_del", &b);

	struct kv_put puts[2] = {
	    {.key = "k1",
	     .key_len = 2,
	     .value = "v1",
	     .value_len = 2,
	     .cond = {.kind = KV_COND_ABSENT}},
	    {.key = "k2", .key_len = 2, .value = "v2", .value_len = 2},
	};
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_MSET, .time_ms = 20, .n = 2, .puts = puts});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){
	        .op = KV_OP_CAS,
	        .time_ms = 21,
	        .put = {.key = "k1",
	                .key_len = 2,
	                .value = "v9",
	                .value_len = 2,
	                .cond = {.kind = KV_COND_VALUE, .value = "v1", .value_len = 2}}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_CAS,
	                     .time_ms = 22,
	                     .cas_delete = true,
	                     .put = {.key = "k2",
	                             .key_len = 2,
	                             .cond = {.kind = KV_COND_MOD_REVISION, .mod_revision = 1}}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .time_ms = 23,
	                     .put = {.key = "k1",
	                             .key_len = 2,
	                             .value = "v",
	                             .value_len = 1,
	                             .cond = {.kind = KV_COND_PRESENT}}});
	cmd(&b, NULL, &index, &(struct kv_cmd){.op = KV_OP_COMPACT, .time_ms = 24, .revision = 2});
	cmd(&b, NULL, &index, &(struct kv_cmd){.op = KV_OP_NOOP, .time_ms = 25});
	save("mset_cas_compact", &b);

	/* PUBLISH: no key, no revision; one under a session, retried. */
	index = 0;
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .time_ms = 30,
	                     .put = {.key = "c", .key_len = 1, .value = "v", .value_len = 1}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_PUBLISH,
	                     .time_ms = 31,
	                     .put = {.key = "c", .key_len = 1, .value = "hi", .value_len = 2}});
	cmd(&b, NULL, &index, &(struct kv_cmd){.op = KV_OP_SESSION_OPEN, .time_ms = 32});
	for (int i = 0; i < 2; i++)
		cmd(&b, NULL, &index,
		    &(struct kv_cmd){
		        .op = KV_OP_PUBLISH,
		        .client_id = 3,
		        .seq = 1,
		        .time_ms = 33,
		        .put = {.key = "news", .key_len = 4, .value = "", .value_len = 0}});
	save("publish", &b);

	index = 0;
	cmd(&b, kv, &index, &(struct kv_cmd){.op = KV_OP_SESSION_OPEN, .time_ms = 100});
	cmd(&b, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .client_id = 1,
	                     .seq = 1,
	                     .time_ms = 101,
	                     .put = {.key = "x", .key_len = 1, .value = "1", .value_len = 1}});
	cmd(&b, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .client_id = 1,
	                     .seq = 1,
	                     .time_ms = 102,
	                     .put = {.key = "x", .key_len = 1, .value = "1", .value_len = 1}});
	cmd(&b, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SESSION_KEEPALIVE, .client_id = 1, .time_ms = 103});
	cmd(&b, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .time_ms = 104,
	                     .put = {.key = KV_MEMBER_PREFIX "2",
	                             .key_len = KV_MEMBER_PREFIX_LEN + 1,
	                             .value = "127.0.0.1:7002",
	                             .value_len = 14}});
	cmd(&b, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .time_ms = 105,
	                     .put = {.key = "x", .key_len = 1, .value = "2", .value_len = 1}});
	cmd(&b, kv, &index, &(struct kv_cmd){.op = KV_OP_SESSION_OPEN, .time_ms = 106});
	cmd(&b, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SESSION_CLOSE, .client_id = 1, .time_ms = 5000});
	/* A skipped entry, then bytes that are no command. */
	put(&b, "\x00\x80", 2);
	put(&b, "\x03\x00\xff\xff\xff", 5);
	save("sessions_members", &b);

	/* Expiry: a TTL, EXPIRE with flags, PERSIST, a lease with a key, keepalive, the
	 * reaper, revoke; stamps across two terms are the entries' business (kv_apply_entry),
	 * here one clock. */
	index = 0;
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .mono_ms = 10,
	                     .put = {.key = "t",
	                             .key_len = 1,
	                             .value = "1",
	                             .value_len = 1,
	                             .expiry = {.mode = KV_EXPIRY_IN, .ms = 50}}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){
	        .op = KV_OP_EXPIRE,
	        .mono_ms = 20,
	        .expire_flags = KV_EXPIRE_GT,
	        .put = {.key = "t", .key_len = 1, .expiry = {.mode = KV_EXPIRY_IN, .ms = 500}}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_EXPIRE, .mono_ms = 30, .put = {.key = "t", .key_len = 1}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){
	        .op = KV_OP_LEASE_GRANT, .mono_ms = 40, .lease = 3, .lease_ttl_ms = 100});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .mono_ms = 50,
	                     .put = {.key = "l",
	                             .key_len = 1,
	                             .value = "2",
	                             .value_len = 1,
	                             .expiry = {.mode = KV_EXPIRY_LEASE, .lease = 3}}});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_LEASE_KEEPALIVE, .mono_ms = 60, .lease = 3});
	struct kv_key due[1] = {{"l", 1}};
	uint64_t due_lease[1] = {3};
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_EXPIRE_DUE,
	                     .mono_ms = 500,
	                     .n = 1,
	                     .keys = due,
	                     .n_leases = 1,
	                     .leases = due_lease});
	cmd(&b, NULL, &index,
	    &(struct kv_cmd){.op = KV_OP_LEASE_REVOKE, .mono_ms = 510, .lease = 3});
	save("expiry_leases", &b);
}

static void gen_kv(void)
{
	kv_commands(NULL);
}

static void gen_kvsnap(void)
{
	struct kv_config cfg;
	kv_config_default(&cfg);
	cfg.history_revisions = 4;
	struct kv *kv;
	int rv = kv_new(&cfg, &kv);
	assert(rv == 0);
	struct bytes b = {0};
	void *buf;
	size_t len;
	assert(kv_snapshot_write_buf(kv, &buf, &len) == 0);
	put_u8(&b, 0);
	put(&b, buf, len);
	free(buf);
	save("empty", &b);
	raft_index index = 0;
	struct bytes scratch = {0};
	cmd(&scratch, kv, &index, &(struct kv_cmd){.op = KV_OP_SESSION_OPEN, .time_ms = 100});
	cmd(&scratch, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .client_id = 1,
	                     .seq = 1,
	                     .time_ms = 101,
	                     .put = {.key = "x", .key_len = 1, .value = "1", .value_len = 1}});
	for (int i = 0; i < 6; i++)
		cmd(&scratch, kv, &index,
		    &(struct kv_cmd){
		        .op = KV_OP_SET,
		        .time_ms = 102,
		        .put = {
		            .key = "y", .key_len = 1, .value = "abcdef", .value_len = (size_t)i}});
	struct kv_key dk[1] = {{"x", 1}};
	cmd(&scratch, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_DEL, .time_ms = 103, .n = 1, .keys = dk});
	free(scratch.p);
	assert(kv_snapshot_write_buf(kv, &buf, &len) == 0);
	put_u8(&b, 0);
	put(&b, buf, len);
	save("keys_history_session", &b);
	/* The same with a damaged record and the checksum recomputed by the target. */
	put_u8(&b, 1);
	put(&b, buf, len);
	b.p[1 + 12] ^= 0x40;
	save("damaged_fixed_crc", &b);
	free(buf);
	/* Format 2: a lease with a key, a key with its own deadline, the clock running. */
	scratch = (struct bytes){0};
	cmd(&scratch, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_LEASE_GRANT,
	                     .lease = 9,
	                     .lease_ttl_ms = 5000,
	                     .mono_ms = 1000,
	                     .time_ms = 200});
	cmd(&scratch, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .mono_ms = 1100,
	                     .time_ms = 201,
	                     .put = {.key = "l",
	                             .key_len = 1,
	                             .value = "1",
	                             .value_len = 1,
	                             .expiry = {.mode = KV_EXPIRY_LEASE, .lease = 9}}});
	cmd(&scratch, kv, &index,
	    &(struct kv_cmd){.op = KV_OP_SET,
	                     .mono_ms = 1200,
	                     .time_ms = 202,
	                     .put = {.key = "t",
	                             .key_len = 1,
	                             .value = "2",
	                             .value_len = 1,
	                             .expiry = {.mode = KV_EXPIRY_IN, .ms = 700}}});
	free(scratch.p);
	assert(kv_snapshot_write_buf(kv, &buf, &len) == 0);
	put_u8(&b, 0);
	put(&b, buf, len);
	save("leases_ttls", &b);
	put_u8(&b, 1);
	put(&b, buf, len);
	b.p[1 + 40] ^= 0x08;
	save("leases_ttls_damaged", &b);
	free(buf);
	kv_free(kv);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s TARGET OUTDIR\n", argv[0]);
		return 1;
	}
	outdir = argv[2];
	if (strcmp(argv[1], "frame") == 0)
		gen_frame();
	else if (strcmp(argv[1], "storage") == 0)
		gen_storage();
	else if (strcmp(argv[1], "kv") == 0)
		gen_kv();
	else if (strcmp(argv[1], "kvsnap") == 0)
		gen_kvsnap();
	else {
		fprintf(stderr, "unknown target %s\n", argv[1]);
		return 1;
	}
	return 0;
}
