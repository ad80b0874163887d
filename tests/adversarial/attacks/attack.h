// Shared helpers for the adversarial attack programs. Each attack is a small hostile program
// run inside the sandbox. It reports on stdout with lines the harness parses:
//   NOTE <text>           evidence gathered along the way
//   RESULT blocked <why>  every attempt failed (exit 0)
//   RESULT escaped <how>  an attempt succeeded (exit 1)
// Exit 2 means the attack itself could not run (harness error, not a verdict). An attack that
// the sandbox kills (SIGSYS, quota) prints nothing further; the harness checks the status.
#ifndef CORDON_TESTS_ADVERSARIAL_ATTACK_H_
#define CORDON_TESTS_ADVERSARIAL_ATTACK_H_

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __attribute__((unused)) int attack_escapes = 0;

static __attribute__((unused)) void note(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) void note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("NOTE ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
}

// Records one attempt: `ret` is the syscall's return, -1 meaning it failed with errno.
// Returns 1 when the attempt succeeded (an escape).
static __attribute__((unused)) int attempt(const char* what, long ret) {
  if (ret == -1) {
    note("%s: failed (%s)", what, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    return 0;
  }
  note("%s: SUCCEEDED (ret %ld)", what, ret);
  attack_escapes++;
  return 1;
}

// Marks an escape found by means other than a syscall's return value.
static __attribute__((unused)) void escaped_because(const char* fmt, ...)
    __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) void escaped_because(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("NOTE ESCAPE: ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
  attack_escapes++;
}

static __attribute__((unused)) void fatal(const char* fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static __attribute__((unused)) void fatal(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("RESULT error ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
  exit(2);
}

// Ends the attack with its verdict.
static __attribute__((unused)) int finish(const char* summary) {
  if (attack_escapes > 0) {
    printf("RESULT escaped %d attempt(s) succeeded: %s\n", attack_escapes, summary);
    fflush(stdout);
    return 1;
  }
  printf("RESULT blocked %s\n", summary);
  fflush(stdout);
  return 0;
}

static __attribute__((unused)) long arg_long(int argc, char** argv, int i) {
  if (i >= argc) fatal("missing argument %d", i);
  return strtol(argv[i], NULL, 0);
}

#endif  // CORDON_TESTS_ADVERSARIAL_ATTACK_H_
