/* The API's routes through the real control glue (api/control.c), under the sanitizers:
 * what a request leaves allocated. */
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "test.h"

static int put(struct control *c, const char *path, const char *body)
{
	struct api_response r;
	int status;

	api_handle(&c->api, HTTP_PUT, "PUT", path, body, strlen(body), &r);
	status = r.status;
	free(r.body);
	return status;
}

/* Issue 10 item 7: PUT /metrics copied the path twice (control and route), leaking one. */
TEST(api_put_metrics_no_leak)
{
	static struct vmm vmm;
	static struct control ctl;
	char dir[] = "/tmp/kindling-unit-XXXXXX", path[64], body[128];

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/metrics", dir);
	snprintf(body, sizeof(body), "{\"metrics_path\":\"%s\"}", path);
	FILE *f = fopen(path, "w"); /* the metrics file must exist, as in Firecracker */

	CHECK(f);
	fclose(f);
	memset(&vmm, 0, sizeof(vmm));
	CHECK(evloop_init(&vmm.loop) == 0);
	control_init(&ctl, &vmm, "leak-test");
	int status = put(&ctl, "/metrics", body);

	control_destroy(&ctl);
	evloop_destroy(&vmm.loop);
	unlink(path);
	rmdir(dir);
	CHECK(status == 204);
	CHECK(__lsan_do_recoverable_leak_check() == 0);
}
