/* `kindling check`: host readiness report. */
#ifndef KINDLING_CHECK_H
#define KINDLING_CHECK_H

/* Prints the report; returns 0 if microVMs can run here, 1 if the KVM lab is needed. */
int check_host(void);

#endif
