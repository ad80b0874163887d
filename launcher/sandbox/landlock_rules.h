#ifndef CORDON_LAUNCHER_SANDBOX_LANDLOCK_RULES_H_
#define CORDON_LAUNCHER_SANDBOX_LANDLOCK_RULES_H_

#include <cstdint>

namespace cordon::sandbox {

// Landlock closes a hole the mount tree cannot: a plugin holding a brokered fd (say a
// read-only fd to a host file) can reopen it through /proc/self/fd/N with more access, and
// the kernel then only checks the file's mode bits against the sandbox's uid. Under the
// ruleset applied here, opening a file for reading needs it to sit below the sandbox's root
// (or be the program itself), and writing, creating, removing, renaming or truncating needs it
// to sit below a writable mount (tmpfs, --bind), /proc or /dev. A host file reached through a
// magic link is below neither, so such a reopen fails with EACCES, while fds the broker opened
// keep exactly the access they were opened with.
//
// Execution is not restricted: the program is executed from the launcher's O_PATH fd, and
// executing a file needs read access to it anyway.

// The Landlock ABI version of the running kernel, 0 when Landlock is missing or disabled.
// Probed once per process; safe to call from any thread (not after clone).
int LandlockAbi();

// The access rights cordon restricts under `abi` (0 for abi 0).
uint64_t LandlockHandledAccess(int abi);

// Rights for a rule on the sandbox's root: read files and list directories.
uint64_t LandlockReadAccess();

// Applies the ruleset to the calling process. Runs in the sandboxed child after the mount
// tree is final and no_new_privs is set, before the seccomp filter: system calls only, no
// allocation. read_root: below it files may be read (the sandbox's "/"); writable_paths:
// paths (inside the sandbox) where everything handled is allowed; a missing path is skipped.
// exec_fd: the program's O_PATH fd, or -1. Returns 0 or the errno of the failed step.
int ApplyLandlock(int abi, const char* read_root, const char* const* writable_paths,
                  int writable_count, int exec_fd);

}  // namespace cordon::sandbox

#endif  // CORDON_LAUNCHER_SANDBOX_LANDLOCK_RULES_H_
