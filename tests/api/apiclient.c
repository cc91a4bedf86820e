/* apiclient: a raw HTTP client for the API socket, for what curl cannot do.
 *   apiclient SOCK conns N        N connections at once, each sends GET / ; prints how many got 200
 *   apiclient SOCK halfsend       stalls a half-sent request, then checks another client is served
 *   apiclient SOCK idle N         N idle connections (half with a partial request head), then
 *                                 one more sends GET / ; prints its status and microseconds
 *   apiclient SOCK deadline       sends half a request head and waits; prints the status the
 *                                 server answers (or -1 when it just closes) and ms until then
 *   apiclient SOCK raw            sends stdin as-is, prints the status code of the reply
 *   apiclient SOCK bench N        N PUT /machine-config round trips on one keep-alive connection;
 *                                 prints the median in microseconds
 *   apiclient SOCK ready TIMEOUT_MS  waits until the socket accepts; prints ms waited
 *   apiclient SOCK startup CMD...     forks CMD, prints ms from fork until SOCK accepts, then
 *                                     prints the child's pid on a second line (left running) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path;

static int dial(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	/* No test waits for ever on a server that does not answer. */
	struct timeval tv = { .tv_sec = 15 };

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Reads one response (headers + Content-Length body); returns the status code or -1. */
static int read_response(int fd)
{
	char buf[65536];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *end, *cl;
		size_t need;

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "Content-Length:");
		need = (size_t)(end - buf) + 4 + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
		if (len >= need) {
			int status = 0;

			sscanf(buf, "HTTP/1.%*d %d", &status);
			return status;
		}
	}
}

static int send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static const char get_root[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

static int cmd_conns(int n)
{
	int *fds = calloc((size_t)n, sizeof(int)), ok = 0;

	/* All connected before any request: they are concurrent, not sequential. */
	for (int i = 0; i < n; i++)
		fds[i] = dial();
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0 && send_all(fds[i], get_root, sizeof(get_root) - 1) == 0 && read_response(fds[i]) == 200)
			ok++;
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("%d\n", ok);
	free(fds);
	return 0;
}

static int cmd_halfsend(void)
{
	static const char half[] = "PUT /machine-config HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"vcpu_count\"";
	int stall = dial(), other, status;
	double t0;

	if (stall < 0 || send_all(stall, half, sizeof(half) - 1))
		return 1;
	usleep(100000);
	t0 = now_us();
	other = dial();
	if (other < 0 || send_all(other, get_root, sizeof(get_root) - 1))
		return 1;
	status = read_response(other);
	printf("%d %.0f\n", status, now_us() - t0);
	close(other);
	close(stall);
	return 0;
}

static int cmd_idle(int n)
{
	static const char partial[] = "GET / HTTP/1.1\r\nHost: loc";
	int *fds = calloc((size_t)n, sizeof(int)), other, status;
	double t0;

	for (int i = 0; i < n; i++) {
		fds[i] = dial();
		if (fds[i] >= 0 && i % 2 && send_all(fds[i], partial, sizeof(partial) - 1))
			fprintf(stderr, "apiclient: idle %d: write failed\n", i);
	}
	usleep(100000);
	t0 = now_us();
	other = dial();
	status = other >= 0 && send_all(other, get_root, sizeof(get_root) - 1) == 0 ? read_response(other) : -1;
	printf("%d %.0f\n", status, now_us() - t0);
	if (other >= 0)
		close(other);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return 0;
}

static int cmd_deadline(void)
{
	static const char partial[] = "PUT /machine-config HTTP/1.1\r\nContent-Le";
	int fd = dial(), status;
	double t0 = now_us();

	if (fd < 0 || send_all(fd, partial, sizeof(partial) - 1))
		return 1;
	status = read_response(fd);
	printf("%d %.0f\n", status, (now_us() - t0) / 1000);
	close(fd);
	return 0;
}

static int cmd_raw(void)
{
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), stdin);
	int fd = dial();

	if (fd < 0)
		return 1;
	/* Ignore write errors: the server may answer and close before reading it all. */
	if (send_all(fd, buf, n))
		fprintf(stderr, "apiclient: write: %s\n", strerror(errno));
	shutdown(fd, SHUT_WR);
	printf("%d\n", read_response(fd));
	close(fd);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_bench(int n)
{
	static const char body[] = "{\"vcpu_count\": 1, \"mem_size_mib\": 128}";
	char req[256];
	int len = snprintf(req, sizeof(req), "PUT /machine-config HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s",
			   sizeof(body) - 1, body);
	double *t = calloc((size_t)n, sizeof(double));
	int fd = dial();

	if (fd < 0 || !t)
		return 1;
	for (int i = 0; i < n; i++) {
		double t0 = now_us();

		if (send_all(fd, req, (size_t)len) || read_response(fd) != 204) {
			fprintf(stderr, "apiclient: request %d failed\n", i);
			return 1;
		}
		t[i] = now_us() - t0;
	}
	qsort(t, (size_t)n, sizeof(double), cmp);
	printf("%.1f\n", t[n / 2]);
	close(fd);
	free(t);
	return 0;
}

static int cmd_ready(int timeout_ms)
{
	double t0 = now_us();

	while (now_us() - t0 < timeout_ms * 1000.0) {
		int fd = dial();

		if (fd >= 0) {
			close(fd);
			printf("%.3f\n", (now_us() - t0) / 1000);
			return 0;
		}
		usleep(50);
	}
	return 1;
}

static int cmd_startup(char **cmd)
{
	double t0 = now_us();
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		execvp(cmd[0], cmd);
		_exit(127);
	}
	while (now_us() - t0 < 5e6) {
		int fd = dial();

		if (fd >= 0) {
			close(fd);
			printf("%.3f\n%d\n", (now_us() - t0) / 1000, (int)pid);
			return 0;
		}
		usleep(20);
	}
	kill(pid, SIGKILL);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: apiclient SOCK conns N|halfsend|raw|bench N|ready MS\n");
		return 2;
	}
	sock_path = argv[1];
	/* Refused connections are closed by the server; writing to them must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[2], "conns") && argc == 4)
		return cmd_conns(atoi(argv[3]));
	if (!strcmp(argv[2], "halfsend"))
		return cmd_halfsend();
	if (!strcmp(argv[2], "idle") && argc == 4)
		return cmd_idle(atoi(argv[3]));
	if (!strcmp(argv[2], "deadline"))
		return cmd_deadline();
	if (!strcmp(argv[2], "raw"))
		return cmd_raw();
	if (!strcmp(argv[2], "bench") && argc == 4)
		return cmd_bench(atoi(argv[3]));
	if (!strcmp(argv[2], "startup") && argc >= 4)
		return cmd_startup(argv + 3);
	if (!strcmp(argv[2], "ready") && argc == 4)
		return cmd_ready(atoi(argv[3]));
	fprintf(stderr, "apiclient: unknown command\n");
	return 2;
}
