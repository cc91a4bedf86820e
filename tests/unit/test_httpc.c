/* The runner's HTTP client (cli/httpc.c) against a canned server on a Unix socket: the
 * request it sends, the answer's status, fields and body, a capped answer, a non-HTTP one. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../cli/httpc.h"
#include "test.h"

struct canned {
	int listen_fd;
	const char *answer;
	char request[1024];
};

static void *serve_one(void *arg)
{
	struct canned *c = arg;
	int fd = accept(c->listen_fd, NULL, NULL);
	size_t n = 0;

	if (fd < 0)
		return NULL;
	/* The whole request: head and the 2-byte body the test sends. */
	while (n < sizeof(c->request) - 1) {
		ssize_t got = read(fd, c->request + n, sizeof(c->request) - 1 - n);
		char *end;

		if (got <= 0)
			break;
		n += (size_t)got;
		c->request[n] = 0;
		end = strstr(c->request, "\r\n\r\n");
		if (end && strlen(end + 4) >= 2)
			break;
	}
	if (write(fd, c->answer, strlen(c->answer)) < 0)
		n = 0;
	close(fd);
	return NULL;
}

/* One exchange with a server answering `answer`; the request it got in c->request. */
static int exchange(struct canned *c, const char *answer, size_t max_len, struct httpc_response *r)
{
	char path[] = "/tmp/kindling-httpc-XXXXXX";
	char sock[64];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	pthread_t t;
	int fd, ret;

	if (!mkdtemp(path))
		return -errno;
	snprintf(sock, sizeof(sock), "%s/s", path);
	strcpy(a.sun_path, sock);
	c->answer = answer;
	c->request[0] = 0;
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&a, sizeof(a)) || listen(c->listen_fd, 1))
		return -errno;
	pthread_create(&t, NULL, serve_one, c);
	fd = httpc_dial_unix(sock, 5);
	ret = fd < 0 ? fd : httpc_request(fd, "PUT", "/snapshot/create", "{}", 2, max_len, NULL, r);
	pthread_join(t, NULL);
	close(c->listen_fd);
	unlink(sock);
	rmdir(path);
	return ret;
}

TEST(httpc_request)
{
	static struct canned c;
	struct httpc_response r;

	CHECK(exchange(&c, "HTTP/1.1 200 OK\r\nX-Kindling-Exit-Status:  3\r\nContent-Length: 5\r\n\r\nhello", 1 << 20,
		       &r) == 0);
	CHECK(!strncmp(c.request, "PUT /snapshot/create HTTP/1.1\r\n", 31));
	CHECK(strstr(c.request, "\r\nConnection: close\r\n") && strstr(c.request, "\r\nContent-Length: 2\r\n\r\n{}"));
	CHECK(r.status == 200 && r.body_len == 5 && !strcmp(r.body, "hello"));
	CHECK(httpc_header(&r, "x-kindling-exit-status") && atoi(httpc_header(&r, "x-kindling-exit-status")) == 3);
	CHECK(!httpc_header(&r, "X-Kindling") && !httpc_header(&r, "Exit-Status"));
	httpc_free(&r);

	/* An answer longer than max_len is cut there. */
	CHECK(exchange(&c, "HTTP/1.1 400 Bad Request\r\n\r\n0123456789", 30, &r) == 0);
	CHECK(r.status == 400 && r.body_len == 2 && !strcmp(r.body, "01"));
	httpc_free(&r);

	CHECK(exchange(&c, "SSH-2.0-nope\r\n", 1 << 20, &r) == -EPROTO);
	CHECK(exchange(&c, "", 1 << 20, &r) == -EPROTO);
	CHECK(httpc_dial_unix("/nonexistent/kindling.sock", 1) == -ENOENT);
	CHECK(httpc_dial_tcp("not an address", 80, 1) == -EINVAL);
}
