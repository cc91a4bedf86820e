/* Unit test runner: runs every registered case (or those named on the command line). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define MAX_TESTS 1024

static struct test_case tests[MAX_TESTS];
static int nr_tests, dropped;
static char skip_reason[200];

void test_skip(int *failed, const char *reason)
{
	snprintf(skip_reason, sizeof(skip_reason), "%s", reason);
	*failed = TEST_SKIPPED;
}

void test_register(const char *name, void (*fn)(int *failed))
{
	if (nr_tests < MAX_TESTS)
		tests[nr_tests++] = (struct test_case){ name, fn };
	else
		dropped++;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;

	/* A case past the table would go unrun without a word. */
	if (dropped) {
		printf("FAIL: unit.registry (%d cases past MAX_TESTS %d were not run)\n", dropped, MAX_TESTS);
		failed++;
	}

	for (int i = 0; i < nr_tests; i++) {
		int f = 0, wanted = argc < 2;

		for (int a = 1; a < argc; a++)
			wanted |= !strcmp(argv[a], tests[i].name);
		if (!wanted)
			continue;
		tests[i].fn(&f);
		if (f == TEST_SKIPPED) {
			printf("SKIP: unit.%s (%s)\n", tests[i].name, skip_reason);
			skipped++;
		} else {
			printf("%s: unit.%s\n", f ? "FAIL" : "PASS", tests[i].name);
			f ? failed++ : passed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
