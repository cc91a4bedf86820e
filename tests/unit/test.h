/* A minimal test framework: TEST(name) registers a case; CHECK records a failure and
 * returns from the case; SKIP(reason) ends a case that cannot run here, visibly. The runner
 * prints one PASS/FAIL/SKIP line per case. */
#ifndef KINDLING_TEST_H
#define KINDLING_TEST_H

#include <stdint.h>
#include <stdio.h>

struct test_case {
	const char *name;
	void (*fn)(int *failed);
};

void test_register(const char *name, void (*fn)(int *failed));
/* Marks the running case skipped (*failed = TEST_SKIPPED) with a reason for its line. */
#define TEST_SKIPPED (-1)
void test_skip(int *failed, const char *reason);

#define TEST(name)                                                                      \
	static void test_##name(int *failed);                                           \
	__attribute__((constructor)) static void register_##name(void)                  \
	{                                                                               \
		test_register(#name, test_##name);                                      \
	}                                                                               \
	static void test_##name(int *failed)

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			printf("  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			*failed = 1;                                                    \
			return;                                                         \
		}                                                                       \
	} while (0)

#define SKIP(reason)                                                                    \
	do {                                                                            \
		test_skip(failed, reason);                                              \
		return;                                                                 \
	} while (0)

/* Helpers shared by several test files. */
/* How many mappings of /proc/self/maps lie within [lo, hi), and how many of those are
 * anonymous (no inode): test_mem_bus.c. */
void count_maps(uintptr_t lo, uintptr_t hi, int *all, int *anon);

#endif
