#ifndef CORDON_LAUNCHER_SANDBOX_INIT_FILTER_H_
#define CORDON_LAUNCHER_SANDBOX_INIT_FILTER_H_

#include <linux/filter.h>

#include <cstddef>

namespace cordon::sandbox {

// The seccomp filter of the sandbox's pid 1 once the program runs. Init then only waits: it
// polls its signalfd and the launcher's lifeline, reads a signal, forwards it with kill(),
// reaps with wait4(), writes the program's status to the launcher and exits. Everything else,
// and any other architecture or the x32 ABI, kills it (and with it the whole pid namespace),
// so that one bug in init cannot become an unfiltered process inside the sandbox. A fixed
// array built at compile time: loading it after fork allocates nothing.
class InitFilter {
 public:
  // The program, valid for the life of the process.
  static const sock_fprog& Program();
  // Its instructions, for tests (BpfEvaluator).
  static const sock_filter* Instructions();
  static size_t Length();
};

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_INIT_FILTER_H_
