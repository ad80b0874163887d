/* Start-up benchmark driver: runs each command of a list, round-robin, for R rounds, and
 * reports per command the mean, p50, p90 and min wall time of fork+exec+wait, and the ratio of
 * its mean and p50 to the first command's. Interleaving the commands (instead of running all
 * rounds of one, then the next, as hyperfine does) keeps a shared machine's changing load from
 * favouring whichever command ran in a quiet minute.
 *   startup_driver ROUNDS WARMUP FILE
 * FILE: one command per line, "LABEL<TAB>ARGV..." with ARGV split on spaces (no quoting); a
 * word "FD9<PATH" opens PATH read-only as fd 9 in the child instead of being an argument
 * (bwrap --seccomp 9). A command that exits nonzero aborts the run: timings of failures mean
 * nothing. Output: one line per command, then a machine-readable "csv," line each. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kMaxCommands = 16, kMaxArgs = 64, kMaxRounds = 100000 };

struct Command {
  char label[64];
  char* argv[kMaxArgs + 1];
  char* fd9_path;
  double* samples_us;
};

static double NowUs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static double RunOnce(const struct Command* c) {
  double start = NowUs();
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    if (c->fd9_path != NULL) {
      int fd = open(c->fd9_path, O_RDONLY);
      if (fd < 0 || dup2(fd, 9) < 0) _exit(126);
    }
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 1);
    execv(c->argv[0], c->argv);
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) {
    perror("waitpid");
    exit(1);
  }
  double elapsed = NowUs() - start;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "startup_driver: '%s' failed (status 0x%x); fix it before timing it\n",
            c->label, status);
    exit(1);
  }
  return elapsed;
}

static int CompareDouble(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: startup_driver ROUNDS WARMUP FILE\n");
    return 2;
  }
  int rounds = atoi(argv[1]), warmup = atoi(argv[2]);
  if (rounds <= 0 || rounds > kMaxRounds || warmup < 0 || warmup > kMaxRounds) return 2;
  FILE* f = fopen(argv[3], "r");
  if (f == NULL) {
    perror(argv[3]);
    return 2;
  }
  static struct Command commands[kMaxCommands];
  int n = 0;
  char line[4096];
  while (fgets(line, sizeof line, f) != NULL && n < kMaxCommands) {
    line[strcspn(line, "\n")] = '\0';
    char* tab = strchr(line, '\t');
    if (line[0] == '#' || tab == NULL) continue;
    *tab = '\0';
    struct Command* c = &commands[n];
    snprintf(c->label, sizeof c->label, "%.63s", line);
    int argc_c = 0;
    for (char* w = strtok(tab + 1, " "); w != NULL && argc_c < kMaxArgs; w = strtok(NULL, " ")) {
      if (strncmp(w, "FD9<", 4) == 0) {
        c->fd9_path = strdup(w + 4);
      } else {
        c->argv[argc_c++] = strdup(w);
      }
    }
    c->argv[argc_c] = NULL;
    c->samples_us = calloc(rounds, sizeof(double));
    if (argc_c == 0 || c->samples_us == NULL) return 2;
    ++n;
  }
  fclose(f);
  for (int r = 0; r < warmup; ++r)
    for (int i = 0; i < n; ++i) (void)RunOnce(&commands[i]);
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < n; ++i) commands[i].samples_us[r] = RunOnce(&commands[i]);

  double base_mean = 0, base_p50 = 0;
  printf("%-34s %10s %10s %10s %10s %8s %8s\n", "command", "mean_us", "p50_us", "p90_us",
         "min_us", "mean/x1", "p50/x1");
  for (int i = 0; i < n; ++i) {
    struct Command* c = &commands[i];
    double sum = 0;
    for (int r = 0; r < rounds; ++r) sum += c->samples_us[r];
    qsort(c->samples_us, rounds, sizeof(double), CompareDouble);
    double mean = sum / rounds, p50 = c->samples_us[rounds / 2];
    double p90 = c->samples_us[(rounds * 9) / 10], min = c->samples_us[0];
    if (i == 0) {
      base_mean = mean;
      base_p50 = p50;
    }
    printf("%-34s %10.0f %10.0f %10.0f %10.0f %8.2f %8.2f\n", c->label, mean, p50, p90, min,
           mean / base_mean, p50 / base_p50);
  }
  for (int i = 0; i < n; ++i) {
    struct Command* c = &commands[i];
    double sum = 0;
    for (int r = 0; r < rounds; ++r) sum += c->samples_us[r];
    printf("csv,%s,%.1f,%.1f\n", c->label, sum / rounds, c->samples_us[rounds / 2]);
  }
  return 0;
}
