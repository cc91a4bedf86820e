/* Test guest: prints a line, then spins in a tight loop with interrupts off, never leaving
 * guest mode by itself (spin.S built with BUSY): a hung guest, for the VMM's diagnostics and
 * the tests' deadlines. Only a signal to the VMM can end it. */
#define BUSY
#include "spin.S"
