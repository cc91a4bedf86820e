/* Small helpers shared by the VMM, the API, the jailer and kindling-init. */
#ifndef KINDLING_UTIL_H
#define KINDLING_UTIL_H

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The structure that holds member `m` at `p`. */
#define container_of(p, type, m) ((type *)((char *)(p) - offsetof(type, m)))

#endif
