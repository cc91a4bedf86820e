/* The jailer's one error convention: a line on stderr, "kindling-jailer: <message>", and a
 * -errno return. Apart from main.c so that every jailer module links (and is unit tested)
 * without it. */
#ifndef KINDLING_JAIL_ERR_H
#define KINDLING_JAIL_ERR_H

#include <stddef.h>

/* Prints the line; errno is the same afterwards. */
void jail_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "<message>: strerror(err)" and returns -err. Pass errno itself as err: it is read
 * at the call site, before anything that could change it runs. */
int jail_error_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Tests: messages go to buf (the last one, without the prefix) instead of stderr; NULL
 * restores stderr. */
void jail_error_capture(char *buf, size_t len);

#endif
