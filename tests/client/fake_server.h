/* fake_server.h: scriptable RESP servers on 127.0.0.1, each on a thread, and a tiny store. */
#ifndef CONCORD_TESTS_CLIENT_FAKE_SERVER_H
#define CONCORD_TESTS_CLIENT_FAKE_SERVER_H

/*
 * A fake server listens on 127.0.0.1 (an ephemeral port), parses requests with the
 * server's own RESP parser and hands each command to a handler, which writes the reply
 * bytes into `out` and says what to do with them. The handler runs on the server's
 * thread with the server's mutex held; tests read state the handler shares with them
 * between fake_server_lock and fake_server_unlock.
 */

#include "codec/resp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fake_action {
	FAKE_REPLY,       /* send out */
	FAKE_REPLY_CLOSE, /* send out, then close the connection */
	FAKE_CLOSE,       /* close without a reply */
	FAKE_HANG,        /* keep the connection, never answer (until it closes) */
};

struct fake_server;

typedef enum fake_action (*fake_handler)(void *arg, const struct resp_cmd *cmd,
                                         struct wire_buf *out);

/* Starts a server; aborts the test on failure. */
struct fake_server *fake_server_start(fake_handler h, void *arg);
/* Stops the thread, closes every connection, frees. */
void fake_server_stop(struct fake_server *s);
/* "127.0.0.1:<port>" */
const char *fake_server_addr(const struct fake_server *s);
uint16_t fake_server_port(const struct fake_server *s);
/* Commands received and connections accepted so far. */
uint64_t fake_server_commands(struct fake_server *s);
uint64_t fake_server_accepts(struct fake_server *s);
void fake_server_lock(struct fake_server *s);
void fake_server_unlock(struct fake_server *s);

/* A free port on 127.0.0.1 that nothing listens on (bound, then closed). */
uint16_t fake_unused_port(void);

/* ----------------------------------------------------------------------------------
 * fake_kv: enough of Concord's commands for the client: SET, GET, DEL, INCRBY, CAS,
 * MGET, SCAN, CONCORD.SESSION, CONCORD.EXEC (exactly-once by id and seq),
 * CONCORD.STATUS, and the admin commands (answered +OK, and recorded).
 */

#define FAKE_KV_KEYS_MAX     4096
#define FAKE_KV_SESSIONS_MAX 64

struct fake_kv_item {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
};

struct fake_kv_session {
	uint64_t id;
	uint64_t last_seq;
	struct wire_buf last_reply;
	bool expired;
};

struct fake_kv {
	struct fake_kv_item items[FAKE_KV_KEYS_MAX]; /* sorted by key */
	size_t n;
	struct fake_kv_session sessions[FAKE_KV_SESSIONS_MAX];
	size_t n_sessions;
	uint64_t writes_applied;  /* writes that changed or tried to change the store */
	uint64_t exec_duplicates; /* CONCORD.EXEC answered from a session's stored reply */
	char status_json[512];
	char last_admin[512]; /* the last CONCORD.* admin command, words joined by spaces */
};

void fake_kv_init(struct fake_kv *kv);
void fake_kv_free(struct fake_kv *kv);
/* Answers cmd into out. Always FAKE_REPLY. */
enum fake_action fake_kv_handle(void *kv, const struct resp_cmd *cmd, struct wire_buf *out);
/* Expires every session (the next CONCORD.EXEC of each gets -SESSION). */
void fake_kv_expire_sessions(struct fake_kv *kv);

/* Whether argument i of cmd equals the NUL-terminated s, case-insensitively. */
bool fake_arg_is(const struct resp_cmd *cmd, size_t i, const char *s);

#endif /* CONCORD_TESTS_CLIENT_FAKE_SERVER_H */
