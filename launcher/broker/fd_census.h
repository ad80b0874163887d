#ifndef CORDON_LAUNCHER_BROKER_FD_CENSUS_H_
#define CORDON_LAUNCHER_BROKER_FD_CENSUS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cordon::broker {

// Identity of an open file: what stat(2) of the plugin's /proc/<pid>/fd/N says.
using FileId = std::pair<dev_t, ino_t>;

// The "brokered fds held at once" quota. The broker cannot see the plugin close an fd, so it
// remembers the identity of each file it handed out and, only when the limit is reached,
// recounts by scanning the plugin's fd tables (FdCensus::ScanProcessTree) and forgets what is
// no longer held. Without a scanner nothing is ever forgotten, which errs on the strict side.
// Not thread-safe (the broker holds its lock around it).
class FdCensus {
 public:
  using Scanner = std::function<absl::StatusOr<std::set<FileId>>()>;

  // limit 0: unlimited.
  FdCensus(uint64_t limit, Scanner scanner);

  // Reserves a slot for one more fd. ResourceExhausted when even a recount leaves none;
  // *observed is then the number held.
  absl::Status Reserve(uint64_t* observed);
  // Settles a reservation: the fd was handed out (its identity is remembered) or not.
  void Commit(const struct stat& st);
  void Cancel();

  uint64_t held() const { return held_.size(); }
  uint64_t limit() const { return limit_; }

  // Identities of every fd open in `pid` and its descendants (via /proc/<pid>/task/*/children),
  // at most 4096 processes. Needs ptrace-read access to them (the launcher has it).
  static absl::StatusOr<std::set<FileId>> ScanProcessTree(pid_t pid);

 private:
  uint64_t limit_;
  Scanner scanner_;
  std::multiset<FileId> held_;
  uint64_t reserved_ = 0;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_FD_CENSUS_H_
