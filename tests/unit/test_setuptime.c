/* The vmm_setup_ms breakdown: each phase counts from the previous mark, phases that did not
 * run (or ran before the start, as main() before an API InstanceStart) are left out. */
#include <string.h>

#include "setuptime.h"
#include "test.h"

TEST(setuptime_phases)
{
	struct setup_times s = { 0 };
	char buf[400];

	setuptime_begin(&s, 1000000);
	s.end[SETUP_ARGS] = 1500000;
	s.end[SETUP_FILES] = 2500000;
	s.end[SETUP_KERNEL] = 10500000;
	setuptime_format(&s, 10600000, buf, sizeof(buf));
	CHECK(!strcmp(buf, "9.600 (args 0.500, files 1.000, kernel 8.000, rest 0.100)"));
}

TEST(setuptime_begin_forgets_older_marks)
{
	struct setup_times s = { 0 };
	char buf[400];

	s.end[SETUP_ARGS] = 500;
	s.end[SETUP_KVM] = 3000000;
	setuptime_begin(&s, 2000000);
	CHECK(s.end[SETUP_ARGS] == 0 && s.end[SETUP_KVM] == 3000000);
	setuptime_format(&s, 3000000, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1.000 (kvm 1.000, rest 0.000)"));
	/* A mark out of order is not a duration; a short buffer is cut, never overrun. */
	s.end[SETUP_MEM] = 2500000;
	setuptime_format(&s, 3000000, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1.000 (kvm 1.000, rest 0.000)"));
	setuptime_format(&s, 3000000, buf, 12);
	CHECK(strlen(buf) == 11);
	setuptime_mark(NULL, SETUP_MEM);
}
