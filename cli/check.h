/* `kindling check`: host readiness report. */
#ifndef KINDLING_CHECK_H
#define KINDLING_CHECK_H

/* Prints the report; returns 0 if microVMs can run here, 1 if the KVM lab is needed. */
int check_host(void);

/* Which KVM this host's /dev/kvm is: "pvm" (the nested PVM module of
 * shared/docs/environment.md, which emulates guest ring 0), "kvm-intel", "kvm-amd", or
 * "unknown", told by the modules in sys_module (NULL: /sys/module). */
const char *check_kvm_flavour(const char *sys_module);

#endif
