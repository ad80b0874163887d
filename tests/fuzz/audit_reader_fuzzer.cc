// libFuzzer target: the audit reader and verifier (`cordon audit verify`, `cordon audit
// show`). Logs may be tampered with by whoever can write the log directory, so every line is
// untrusted: JSON values, record envelopes, timestamps and the hash chain over a whole file.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_verifier.h"
#include "audit/json_value.h"
#include "audit/log_reader.h"
#include "audit/record_line.h"

namespace {

// One memfd reused across inputs: the verifier and reader take paths, and /proc/self/fd/N is a
// path that never touches the disk.
int LogFd() {
  static int fd = memfd_create("fuzz-audit.jsonl", MFD_CLOEXEC);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 20) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);

  // Per line: the JSON parser and the record envelope parser.
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    (void)cordon::audit::JsonValue::Parse(line);
    (void)cordon::audit::RecordLine::Parse(line);
    start = end + 1;
  }

  // Whole file: the reader and the chain verifier.
  int fd = LogFd();
  if (fd < 0 || ftruncate(fd, 0) != 0) return 0;
  if (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto reader = cordon::audit::LogReader::Open(path);
  if (reader.ok()) {
    std::string line;
    for (int i = 0; i < 100000; ++i) {
      auto r = reader->Next(&line);
      if (!r.ok() || *r == cordon::audit::LogReader::Result::kNoLine) break;
    }
  }
  cordon::audit::VerifyOptions options;
  (void)cordon::audit::AuditVerifier::Verify({path}, options);
  options.allow_missing_head = true;
  (void)cordon::audit::AuditVerifier::Verify({path}, options);
  return 0;
}
