/* vmm/ramfence.c: a fault in withdrawn guest RAM ends the process with status 1 and the
 * reason on stderr; elsewhere, or before the RAM is withdrawn, a fault keeps its default
 * action. Each case runs in a child (the handler is process-wide). */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ramfence.h"
#include "test.h"

enum { TOUCH_WITHDRAWN, TOUCH_NOT_WITHDRAWN, TOUCH_OUTSIDE };

/* The child's wait status; its stderr into err. */
static int child(int how, char *err, size_t errlen)
{
	int p[2], status = -1;
	ssize_t n;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		size_t len = 4 * 4096;
		volatile uint8_t *ram = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		dup2(p[1], STDERR_FILENO);
		/* The sanitizers' handlers out of the way: the default action is what is checked. */
		sigaction(SIGSEGV, &dfl, NULL);
		sigaction(SIGBUS, &dfl, NULL);
		if (ram == MAP_FAILED || ramfence_install((void *)ram, len))
			_exit(3);
		if (how != TOUCH_NOT_WITHDRAWN)
			ramfence_withdraw("chunk 7 failed its digest");
		mprotect((void *)ram, 2 * len, PROT_NONE);
		(void)ram[how == TOUCH_OUTSIDE ? len + 4096 : 4096 + 5];
		_exit(4);
	}
	close(p[1]);
	n = read(p[0], err, errlen - 1);
	err[n > 0 ? n : 0] = 0;
	close(p[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

TEST(ramfence_withdrawn_ram_exits_with_the_reason)
{
	char err[600];
	int st = child(TOUCH_WITHDRAWN, err, sizeof(err));

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	CHECK(strstr(err, "withdrawn") && strstr(err, "chunk 7 failed its digest"));
}

TEST(ramfence_before_withdrawal_is_a_plain_fault)
{
	char err[600];
	int st = child(TOUCH_NOT_WITHDRAWN, err, sizeof(err));

	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	CHECK(!strstr(err, "withdrawn"));
}

TEST(ramfence_outside_the_ram_is_a_plain_fault)
{
	char err[600];
	int st = child(TOUCH_OUTSIDE, err, sizeof(err));

	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	CHECK(!strstr(err, "withdrawn"));
}
