#include "launcher/broker/token_bucket.h"

#include <algorithm>

namespace cordon::broker {

TokenBucket::TokenBucket(double rate, double burst, absl::Time now)
    : rate_(rate), burst_(std::max(burst, 1.0)), tokens_(std::max(burst, 1.0)), last_(now) {}

bool TokenBucket::TryTake(absl::Time now) {
  if (unlimited()) return true;
  // A clock that steps backwards must not mint tokens.
  if (now > last_) {
    tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
    last_ = now;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

}  // namespace cordon::broker
