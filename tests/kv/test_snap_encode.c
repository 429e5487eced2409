/* test_snap_encode.c: the hand-packed snapshot version record is byte for byte what
 * protobuf-c packs, over field values at every varint length, empty and set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kv.pb-c.h"
#include "helpers.h"
#include "kv/codec.h"

#include <stdlib.h>
#include <string.h>

static void test_same_bytes_as_protobuf_c(void **state)
{
	(void)state;
	static uint8_t data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	uint64_t seed = 42;
	for (int round = 0; round < 20000; round++) {
		Concord__Kv__SnapVersion sv;
		concord__kv__snap_version__init(&sv);
		sv.key.len = th_rng(&seed) % 3 == 0 ? 0 : th_rng(&seed) % 200;
		sv.key.data = data;
		sv.same_key = th_rng(&seed) % 2;
		sv.create_revision = th_draw(&seed);
		sv.mod_revision = th_draw(&seed);
		sv.version = th_draw(&seed);
		sv.value.len = th_rng(&seed) % 3 == 0 ? 0 : th_rng(&seed) % sizeof(data);
		sv.value.data = data;
		sv.deadline = th_draw(&seed);
		sv.lease = th_draw(&seed);
		Concord__Kv__SnapRecord rec;
		concord__kv__snap_record__init(&rec);
		rec.record_case = CONCORD__KV__SNAP_RECORD__RECORD_VERSION;
		rec.version = &sv;
		uint8_t want[1024], got[1024];
		size_t n = concord__kv__snap_record__pack(&rec, want);
		assert_true(n <= sizeof(want));
		assert_int_equal(kv_snap_version_record_size(&sv), n);
		memset(got, 0xee, sizeof(got));
		assert_int_equal(kv_snap_version_record_pack(&sv, got), n);
		assert_memory_equal(got, want, n);
		assert_int_equal(got[n], 0xee); /* nothing written past it */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_bytes_as_protobuf_c),
	};
	return cmocka_run_group_tests_name("kv snapshot record encoding", tests, NULL, NULL);
}
