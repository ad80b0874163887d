// Shared output helpers for the probe programs. Every result is one line on stdout,
// "<check> <key>=<value> ...", flushed at once so a probe killed mid-run still reports what
// it got through.
#ifndef CORDON_TESTS_PROGRAMS_PROBE_UTIL_H_
#define CORDON_TESTS_PROBE_UTIL_H_

#include <stddef.h>

// Makes stdout line-buffered; call first in main.
void probe_init(void);
// Prints "<check> ret=<ret> errno=<NAME>" (errno=0 when ret >= 0).
void probe_result(const char* check, long ret, int saved_errno);
// Symbolic errno name ("EPERM"), "0" for 0.
const char* probe_errno_name(int error_number);
// Reads a whole small file into buf (NUL-terminated); returns bytes or -errno.
long probe_read_file(const char* path, char* buf, size_t size);

#endif  // CORDON_TESTS_PROBE_UTIL_H_
