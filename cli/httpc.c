/* The runner's HTTP client: see httpc.h. */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static int dial(int domain, const struct sockaddr *a, socklen_t alen, int timeout_s)
{
	struct timeval tv = { .tv_sec = timeout_s };
	int fd = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	/* SO_SNDTIMEO bounds the connect too. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, a, alen) < 0) {
		r = -errno; /* before close() can change it */
		close(fd);
		return r;
	}
	return fd;
}

int httpc_dial_tcp(const char *ip, int port, int timeout_s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return -EINVAL;
	return dial(AF_INET, (struct sockaddr *)&a, sizeof(a), timeout_s);
}

int httpc_dial_unix(const char *path, int timeout_s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	return dial(AF_UNIX, (struct sockaddr *)&a, sizeof(a), timeout_s);
}

/* Head and body in one call: sent apart, Nagle held the body back until the peer acknowledged
 * the head, a round trip for nothing (in the lab, with the console quiet, it was about a
 * third of a clone's warm start). 0, or -errno (EINTR: a signal, for the caller's cancel). */
static int send_request(int fd, const char *head, size_t hl, const char *body, size_t len)
{
	struct iovec iov[2] = { { (void *)head, hl }, { (void *)body, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t total = hl + len;

	while (total) {
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		total -= (size_t)w;
		while (w > 0 && m.msg_iovlen) {
			size_t k = (size_t)w < m.msg_iov->iov_len ? (size_t)w : m.msg_iov->iov_len;

			m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + k;
			m.msg_iov->iov_len -= k;
			w -= (ssize_t)k;
			if (!m.msg_iov->iov_len) {
				m.msg_iov++;
				m.msg_iovlen--;
			}
		}
	}
	return 0;
}

int httpc_request(int fd, const char *method, const char *path, const char *body, size_t len, size_t max_len,
		  const volatile sig_atomic_t *cancel, struct httpc_response *resp)
{
	char head[512], *buf = NULL, *end;
	size_t cap = 65536, n = 0;
	int hl, r;

	memset(resp, 0, sizeof(*resp));
	hl = snprintf(head, sizeof(head),
		      "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n", method,
		      path, len);
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if ((r = send_request(fd, head, (size_t)hl, body, len)))
		goto fail;
	if (cap > max_len)
		cap = max_len ? max_len : 1;
	buf = malloc(cap + 1);
	while (buf) {
		ssize_t got;

		if (n == cap) {
			char *b = cap < max_len ? realloc(buf, (cap * 2 < max_len ? cap * 2 : max_len) + 1) : NULL;

			if (!b)
				break;
			buf = b;
			cap = cap * 2 < max_len ? cap * 2 : max_len;
		}
		got = recv(fd, buf + n, cap - n, 0);
		if (got < 0 && errno == EINTR && !(cancel && *cancel))
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	buf[n] = 0;
	end = strstr(buf, "\r\n\r\n");
	if (!end || sscanf(buf, "HTTP/1.%*d %d", &resp->status) != 1) {
		free(buf);
		return -EPROTO;
	}
	*end = 0;
	resp->head = buf;
	resp->body = end + 4;
	resp->body_len = n - (size_t)(end + 4 - buf);
	return 0;
fail:
	close(fd);
	return r;
}

const char *httpc_header(const struct httpc_response *resp, const char *name)
{
	size_t nl = strlen(name);

	for (const char *l = resp->head ? strstr(resp->head, "\r\n") : NULL; l; l = strstr(l + 2, "\r\n")) {
		const char *v = l + 2;

		if (!strncasecmp(v, name, nl) && v[nl] == ':') {
			v += nl + 1;
			return v + strspn(v, " \t");
		}
	}
	return NULL;
}

void httpc_free(struct httpc_response *resp)
{
	free(resp->head);
	memset(resp, 0, sizeof(*resp));
}
