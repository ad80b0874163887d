// libFuzzer target: the broker's path resolution, the check that stands between a plugin's
// path string and a host file. Any input must either be refused with a status or yield a
// regular file that really lies beneath the granted directory; never a crash, never a file
// outside. The granted tree (built once) holds a symlink to /, a symlink loop, a FIFO and a
// nested directory, so the interesting refusals are reachable.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "launcher/broker/path_resolver.h"

namespace {

std::string MakeTree() {
  char tmpl[] = "/tmp/cordon-fuzz-broker-XXXXXX";
  std::string root = mkdtemp(tmpl);
  std::string granted = root + "/granted";
  mkdir(granted.c_str(), 0755);
  mkdir((granted + "/sub").c_str(), 0755);
  for (const char* file : {"/a.txt", "/sub/b.txt"}) {
    int fd = open((granted + file).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
  }
  symlink("/", (granted + "/to-root").c_str());
  symlink("loop", (granted + "/loop").c_str());
  symlink("sub/b.txt", (granted + "/rel-link").c_str());
  mkfifo((granted + "/fifo").c_str(), 0644);
  int secret = open((root + "/secret").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (secret >= 0) close(secret);
  return granted;
}

const std::string& Granted() {
  static const std::string* granted = new std::string(MakeTree());
  return *granted;
}

const cordon::broker::PathResolver& Resolver() {
  static const cordon::broker::PathResolver* resolver = [] {
    absl::StatusOr<cordon::broker::PathResolver> opened =
        cordon::broker::PathResolver::Open(Granted(), cordon::broker::PathResolver::Options{});
    if (!opened.ok()) abort();
    return new cordon::broker::PathResolver(std::move(*opened));
  }();
  return *resolver;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 8192) return 0;
  // First byte: the intent; the rest: the path exactly as a plugin would send it.
  cordon::broker::OpenIntent intent;
  intent.read = data[0] & 1;
  intent.write = data[0] & 2;
  intent.append = data[0] & 4;
  intent.truncate = data[0] & 8;
  // Never create: the fuzzer must not fill the tree.
  std::string path(reinterpret_cast<const char*>(data + 1), size - 1);
  absl::StatusOr<std::vector<std::string>> components =
      cordon::broker::PathResolver::SplitPluginPath(path);
  if (!components.ok()) return 0;
  absl::StatusOr<cordon::ipc::UniqueFd> fd = Resolver().OpenBeneath(*components, intent);
  if (!fd.ok()) return 0;
  // Whatever was opened must be a regular file beneath the granted directory.
  struct stat st;
  if (fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) abort();
  char link[64], target[4096];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd->get());
  ssize_t n = readlink(link, target, sizeof(target) - 1);
  if (n <= 0) abort();
  std::string resolved(target, static_cast<size_t>(n));
  if (resolved.rfind(Granted() + "/", 0) != 0) abort();
  return 0;
}
