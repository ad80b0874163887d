// A plugin that produces and consumes large payloads. Results above the inline threshold go
// back as sealed memfds: the plugin writes the bytes once into shared memory and the host maps
// them read-only, so a 64 MiB result never crosses the socket.
#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "ipc/memfd_payload.h"
#include "sdk/cpp/plugin.h"

namespace {

using cordon::ipc::MemfdPayload;
using cordon::ipc::Payload;
using cordon::sdk::CallContext;

constexpr uint64_t kMaxBlobBytes = uint64_t{256} << 20;

// generate: input is a decimal byte count; output is that many bytes of a fixed pattern.
absl::StatusOr<Payload> Generate(const CallContext&, const Payload& in) {
  uint64_t n = 0;
  if (!absl::SimpleAtoi(in.data(), &n) || n > kMaxBlobBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("generate wants a byte count up to ", kMaxBlobBytes));
  }
  auto blob = MemfdPayload::CreateWritable("blob", n);
  if (!blob.ok()) return blob.status();
  auto out = blob->mutable_data();
  for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<char>(i * 131 + (i >> 12));
  if (auto sealed = blob->Seal(); !sealed.ok()) return sealed.status();
  return Payload::FromSealedMemfd(std::move(*blob));
}

// checksum: FNV-1a of the input (large inputs arrive as a read-only memfd mapping).
absl::StatusOr<Payload> Checksum(const CallContext&, const Payload& in) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : in.data()) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return absl::StrCat(h);
}

}  // namespace

int main() {
  cordon::sdk::Plugin::Options options;
  options.name = "blob";
  options.version = "1.0.0";
  cordon::sdk::Plugin plugin(options);
  plugin.Register("generate", Generate);
  plugin.Register("checksum", Checksum);
  return plugin.Main();
}
