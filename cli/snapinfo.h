/* `kindling snapshot info STATE [--snapshot-key FILE] [--mem MEM]`: what a state file is and
 * which checks it passes, without KVM. */
#ifndef KINDLING_SNAPINFO_H
#define KINDLING_SNAPINFO_H

#include <stdio.h>

/* argv[0] is "info". Prints to out; returns 0 when every check made passed, 1 when one
 * failed or the file cannot be read, 2 on a usage error. */
int snapinfo_run(int argc, char **argv, FILE *out);
int snapinfo_main(int argc, char **argv);

#endif
