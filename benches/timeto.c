/* timeto [-k] MARKER CMD...: runs CMD with its stdout on a pipe, copies that output to our
 * stderr, and prints "<ms until a line starting with MARKER> <ms until exit> <status>".
 * Measures two VMMs the same way, from outside, from fork to the guest's marker. With -k,
 * CMD is sent SIGTERM once the marker is seen (for a VMM that cannot end on a guest reboot). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
	struct timespec t0;
	char line[4096];
	double marker_ms = -1;
	int fds[2], status;
	size_t mlen;
	pid_t pid;
	FILE *f;

	int kill_on_marker = argc > 1 && !strcmp(argv[1], "-k");

	argv += kill_on_marker;
	argc -= kill_on_marker;
	if (argc < 3) {
		fprintf(stderr, "usage: timeto [-k] MARKER CMD...\n");
		return 2;
	}
	mlen = strlen(argv[1]);
	if (pipe(fds))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0); /* its own group, so -k reaches its children too */
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	close(fds[1]);
	f = fdopen(fds[0], "r");
	while (fgets(line, sizeof(line), f)) {
		/* Consoles may prefix a carriage return. */
		char *p = line + strspn(line, "\r");

		if (marker_ms < 0 && !strncmp(p, argv[1], mlen)) {
			marker_ms = ms_since(&t0);
			if (kill_on_marker) {
				kill(-pid, SIGTERM);
				fputs(line, stderr);
				break;
			}
		}
		fputs(line, stderr);
	}
	waitpid(pid, &status, 0);
	printf("%.3f %.3f %d\n", marker_ms, ms_since(&t0), WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
