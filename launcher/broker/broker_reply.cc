#include "launcher/broker/broker_reply.h"

#include <string>
#include <string_view>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "audit/json_escape.h"
#include "ipc/utf8_text.h"

namespace cordon::broker {

std::vector<int> BrokerReply::raw_fds() const {
  std::vector<int> out;
  out.reserve(fds.size());
  for (const ipc::UniqueFd& fd : fds) out.push_back(fd.get());
  return out;
}

BrokerReply BrokerReply::Error(uint64_t id, const absl::Status& status) {
  BrokerReply reply;
  reply.response.set_id(id);
  FillError(status, reply.response.mutable_error());
  return reply;
}

void BrokerReply::FillError(const absl::Status& status, cordon::v1::Error* error) {
  // Never OK: an error must not read as success.
  error->set_code(status.ok() ? static_cast<int32_t>(absl::StatusCode::kUnknown)
                              : static_cast<int32_t>(status.code()));
  error->set_message(ipc::ToProtoText(status.message(), kMaxErrorMessageBytes));
  size_t dropped = 0;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
    if (static_cast<size_t>(error->details_size()) >= kMaxErrorDetails) {
      ++dropped;
      return;
    }
    // Only the shown part is ever copied out of the cord; 3 more bytes tell whether the cut
    // falls inside a UTF-8 sequence.
    const std::string head(payload.Subcord(0, kMaxDetailBytes + 3));
    absl::string_view text;
    std::string key = ipc::ToProtoText(type_url, kMaxDetailKeyBytes);
    std::string value;
    size_t shown;
    if (ipc::ValidUtf8Prefix(head, kMaxDetailBytes, &text)) {
      value = std::string(text);
      shown = text.size();
    } else {
      key += ";hex";
      const absl::string_view bytes = absl::string_view(head).substr(0, kMaxDetailBytes);
      value = audit::HexEncode(std::string_view(bytes.data(), bytes.size()));
      shown = bytes.size();
    }
    if (shown < payload.size()) absl::StrAppend(&value, "...[cut, ", payload.size(), " bytes]");
    (*error->mutable_details())[key] = std::move(value);
  });
  if (dropped > 0) (*error->mutable_details())["cordon.details_dropped"] = absl::StrCat(dropped);
}

void BrokerReply::Bound(size_t max_bytes) {
  const size_t size = response.ByteSizeLong();
  if (size <= max_bytes) return;
  const uint64_t id = response.id();
  response.Clear();
  response.set_id(id);
  fds.clear();
  FillError(absl::ResourceExhaustedError(
                absl::StrCat("the broker's answer of ", size, " bytes exceeds the ", max_bytes,
                             "-byte cap of one message; it was replaced by this error")),
            response.mutable_error());
}

}  // namespace cordon::broker
