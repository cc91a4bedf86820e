/* hotfuncs EXE SYMS OUT CMD...: runs CMD, puts a one-shot breakpoint at every function listed
 * in SYMS ("hexoffset name" lines, offsets from the load base, as nm prints them for a
 * position-independent executable) in each of its processes that executes EXE (the command
 * itself, a child of timeout, `kindling run`'s VMMs), follows their threads and children, and
 * writes the names of the functions that ran to OUT, in the order they first ran. With
 * HOTFUNCS_SKIP_ARG1=WORD in the environment, a process whose first argument is WORD is left
 * alone (`kindling run`'s runner, to learn what its VMMs run).
 * scripts/textorder.sh uses it to find the code build/kindling runs, which its link puts
 * together (Makefile, "Text order"). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

struct bp {
	uint64_t off;       /* from the load base */
	char name[128];
	unsigned char orig; /* the byte the breakpoint replaced */
	int hit;
};
static struct bp *bps;
static size_t nbps;

static int cmp(const void *a, const void *b)
{
	const struct bp *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static struct bp *find(uint64_t off)
{
	size_t lo = 0, hi = nbps;

	while (lo < hi) {
		size_t m = (lo + hi) / 2;

		if (bps[m].off == off)
			return &bps[m];
		if (bps[m].off < off)
			lo = m + 1;
		else
			hi = m;
	}
	return NULL;
}

/* Where pid maps the start of file exe (a real path), or 0. */
static uint64_t exe_base(pid_t pid, const char *exe)
{
	char p[64], line[512];
	uint64_t b = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	f = fopen(p, "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, off;
		char path[400] = "";

		if (sscanf(line, "%lx-%*x %*s %lx %*s %*s %399s", &s, &off, path) == 3 && off == 0 && !strcmp(path, exe)) {
			b = s;
			break;
		}
	}
	if (f)
		fclose(f);
	return b;
}

static int poke_byte(pid_t pid, uint64_t addr, unsigned char v, unsigned char *old)
{
	long w;

	errno = 0;
	w = ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, 0);
	if (errno)
		return -1;
	if (old)
		*old = w & 0xff;
	w = (w & ~0xffL) | v;
	return ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)w);
}

/* Whether pid's first argument is the word HOTFUNCS_SKIP_ARG1 names. */
static int skipped(pid_t pid)
{
	const char *w = getenv("HOTFUNCS_SKIP_ARG1");
	char p[64], buf[4096];
	ssize_t n;
	FILE *f;

	if (!w || !*w)
		return 0;
	snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
	f = fopen(p, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	size_t a0 = strlen(buf);
	return (ssize_t)a0 + 1 < n && !strcmp(buf + a0 + 1, w);
}

/* Breakpoints at every function that has not run yet, in pid's memory. */
static void arm(pid_t pid, uint64_t base)
{
	for (size_t i = 0; i < nbps; i++)
		if (!bps[i].hit && poke_byte(pid, base + bps[i].off, 0xcc, &bps[i].orig))
			fprintf(stderr, "hotfuncs: cannot set a breakpoint at %s in %d\n", bps[i].name, pid);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: hotfuncs EXE SYMS OUT CMD...\n");
		return 2;
	}
	char exe[4096];
	if (!realpath(argv[1], exe)) {
		perror(argv[1]);
		return 2;
	}
	FILE *f = fopen(argv[2], "r"), *out = fopen(argv[3], "w");
	if (!f || !out) {
		perror(f ? argv[3] : argv[2]);
		return 2;
	}
	char line[256];
	size_t cap = 0, j = 0;
	while (fgets(line, sizeof(line), f)) {
		if (nbps == cap) {
			cap = cap ? cap * 2 : 1024;
			bps = realloc(bps, cap * sizeof(*bps));
			if (!bps) {
				perror("hotfuncs");
				return 1;
			}
		}
		if (sscanf(line, "%lx %127s", &bps[nbps].off, bps[nbps].name) == 2)
			bps[nbps].hit = 0, nbps++;
	}
	fclose(f);
	qsort(bps, nbps, sizeof(*bps), cmp);
	for (size_t i = 0; i < nbps; i++) /* one breakpoint per address */
		if (!j || bps[j - 1].off != bps[i].off)
			bps[j++] = bps[i];
	nbps = j;
	pid_t child = fork();
	if (!child) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execvp(argv[4], argv + 4);
		_exit(127);
	}
	int st, rc = 0, nhit = 0;
	waitpid(child, &st, 0); /* the exec's stop */
	ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
	       PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL);
	uint64_t b0 = exe_base(child, exe);
	if (b0 && !skipped(child))
		arm(child, b0);
	ptrace(PTRACE_CONT, child, 0, 0);
	for (;;) {
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0)
			break;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			if (p == child)
				rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st), ev = st >> 16;
		if (ev == PTRACE_EVENT_EXEC) {
			/* A process that starts executing EXE (the command itself under timeout, or
			 * `kindling run`'s VMMs): its fresh image gets the breakpoints not hit yet. */
			uint64_t b = exe_base(p, exe);
			if (b && !skipped(p))
				arm(p, b);
		}
		if (ev) {
			ptrace(PTRACE_CONT, p, 0, 0);
			continue;
		}
		if (sig == SIGTRAP) {
			struct user_regs_struct r;
			uint64_t pb = exe_base(p, exe);
			ptrace(PTRACE_GETREGS, p, 0, &r);
			struct bp *b = pb && r.rip > pb ? find(r.rip - 1 - pb) : NULL;
			if (b) {
				if (!b->hit) {
					b->hit = 1;
					fprintf(out, "%s\n", b->name);
					nhit++;
				}
				/* Another thread may have restored it already. */
				errno = 0;
				long w = ptrace(PTRACE_PEEKTEXT, p, (void *)(r.rip - 1), 0);
				if (!errno && (w & 0xff) == 0xcc)
					poke_byte(p, r.rip - 1, b->orig, NULL);
				r.rip--;
				ptrace(PTRACE_SETREGS, p, 0, &r);
				ptrace(PTRACE_CONT, p, 0, 0);
				continue;
			}
		}
		if (sig == SIGSTOP)
			sig = 0; /* a new thread's or child's first stop */
		ptrace(PTRACE_CONT, p, 0, (void *)(long)sig);
	}
	fclose(out);
	fprintf(stderr, "hotfuncs: %d of %zu functions ran; exit %d\n", nhit, nbps, rc);
	return rc;
}
