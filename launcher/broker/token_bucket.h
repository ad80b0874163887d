#ifndef CORDON_LAUNCHER_BROKER_TOKEN_BUCKET_H_
#define CORDON_LAUNCHER_BROKER_TOKEN_BUCKET_H_

#include "absl/time/time.h"

namespace cordon::broker {

// A request-rate quota: `rate` tokens per second refill a bucket of `burst`, each request
// takes one. Not thread-safe (the broker holds its lock around it). Time is passed in so tests
// need no sleeps.
class TokenBucket {
 public:
  // rate <= 0: unlimited.
  TokenBucket(double rate, double burst, absl::Time now);

  bool TryTake(absl::Time now);
  bool unlimited() const { return rate_ <= 0; }
  double rate() const { return rate_; }
  double burst() const { return burst_; }

 private:
  double rate_;
  double burst_;
  double tokens_;
  absl::Time last_;
};

}  // namespace cordon::broker

#endif  // CORDON_LAUNCHER_BROKER_TOKEN_BUCKET_H_
