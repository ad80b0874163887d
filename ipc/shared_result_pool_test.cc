#include "ipc/shared_result_pool.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

constexpr uint64_t kCap = 1 << 20;

SharedResultPool::Options Opts(size_t buffers = 2) {
  SharedResultPool::Options o;
  o.max_buffers = buffers;
  o.buffer_bytes = kCap;
  return o;
}

cordon::v1::SharedRef Ref(uint64_t id, uint64_t offset, uint64_t length) {
  cordon::v1::SharedRef r;
  r.set_buffer_id(id);
  r.set_offset(offset);
  r.set_length(length);
  return r;
}

// What the plugin holds: its read-write mapping of a lent buffer.
absl::Span<char> PluginWrites(SharedResultPool& pool, uint64_t id, SharedResultBuffer* keep,
                              char fill) {
  auto fd = pool.PeerFd(id);
  EXPECT_TRUE(fd.ok()) << fd.status();
  auto b = SharedResultBuffer::OpenWritable(std::move(*fd), kCap);
  EXPECT_TRUE(b.ok()) << b.status();
  *keep = std::move(*b);
  auto span = keep->Writable();
  EXPECT_TRUE(span.ok());
  std::memset(span->data(), fill, span->size());
  return *span;
}

void ExpectBadPayload(const absl::StatusOr<Payload>& p, absl::string_view why) {
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(ViolationKindOf(p.status()), ViolationKind::kBadPayload) << p.status();
  EXPECT_NE(p.status().message().find(why), absl::string_view::npos) << p.status();
}

TEST(SharedResultPoolTest, CopiesTheExactBytesIntoAPrivateSnapshot) {
  SharedResultPool pool(Opts());
  auto lease = pool.Acquire();
  ASSERT_TRUE(lease.ok()) << lease.status();
  EXPECT_EQ(lease->buffer_id, 1u);
  EXPECT_TRUE(lease->needs_announce);
  SharedResultBuffer plugin;
  absl::Span<char> w = PluginWrites(pool, 1, &plugin, 'r');
  std::memcpy(w.data() + 100, "result", 6);
  auto p = pool.CopyOut(1, Ref(1, 100, 6), kCap);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->is_owned_view());
  EXPECT_EQ(p->data(), "result");
  // The plugin may scribble on its buffer at any time; the returned bytes do not change.
  std::memset(w.data(), 'X', w.size());
  EXPECT_EQ(p->data(), "result");
  EXPECT_EQ(pool.results_copied(), 1u);
  // The whole buffer, and an empty result at its end.
  auto whole = pool.CopyOut(1, Ref(1, 0, kCap), kCap);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->data(), std::string(kCap, 'X'));
  auto empty = pool.CopyOut(1, Ref(1, kCap, 0), kCap);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
}

TEST(SharedResultPoolTest, RefusesAReferenceToAnyBufferButTheOneLentToTheCall) {
  SharedResultPool pool(Opts());
  ASSERT_TRUE(pool.Acquire().ok());  // buffer 1
  ASSERT_TRUE(pool.Acquire().ok());  // buffer 2
  // No buffer lent to the call; another call's buffer; an id never created.
  ExpectBadPayload(pool.CopyOut(0, Ref(1, 0, 1), kCap), "lent no result buffer");
  ExpectBadPayload(pool.CopyOut(1, Ref(2, 0, 1), kCap), "lent buffer 1");
  ExpectBadPayload(pool.CopyOut(1, Ref(0, 0, 1), kCap), "lent buffer 1");
  ExpectBadPayload(pool.CopyOut(1, Ref(99, 0, 1), kCap), "lent buffer 1");
  // A buffer whose lease ended (retired, or back in the pool) is lent to nobody.
  pool.Release(2, /*reusable=*/false);
  ExpectBadPayload(pool.CopyOut(2, Ref(2, 0, 1), kCap), "no such buffer is lent");
  pool.Release(1, /*reusable=*/true);
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 0, 1), kCap), "no such buffer is lent");
  EXPECT_EQ(pool.results_copied(), 0u);
}

TEST(SharedResultPoolTest, RefusesRangesOutsideTheBufferWithoutOverflowing) {
  SharedResultPool pool(Opts());
  ASSERT_TRUE(pool.Acquire().ok());
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t payload_cap = max;  // only the buffer bounds these
  ExpectBadPayload(pool.CopyOut(1, Ref(1, kCap + 1, 0), payload_cap), "outside the buffer");
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 0, kCap + 1), payload_cap), "outside the buffer");
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 1, kCap), payload_cap), "outside the buffer");
  ExpectBadPayload(pool.CopyOut(1, Ref(1, kCap - 1, 2), payload_cap), "outside the buffer");
  // offset + length wraps around 2^64 to something small: still refused.
  ExpectBadPayload(pool.CopyOut(1, Ref(1, max, 2), payload_cap), "outside the buffer");
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 2, max), payload_cap), "outside the buffer");
  ExpectBadPayload(pool.CopyOut(1, Ref(1, max, max), payload_cap), "outside the buffer");
  EXPECT_TRUE(pool.CopyOut(1, Ref(1, kCap - 2, 2), payload_cap).ok());
}

TEST(SharedResultPoolTest, RefusesALengthOverThePayloadCap) {
  SharedResultPool pool(Opts());
  ASSERT_TRUE(pool.Acquire().ok());
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 0, 1001), 1000), "over the payload cap of 1000");
  // Checked before the range: a huge length is refused for the cap, never read.
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 0, std::numeric_limits<uint64_t>::max()), 1000),
                   "over the payload cap");
  EXPECT_TRUE(pool.CopyOut(1, Ref(1, 0, 1000), 1000).ok());
}

TEST(SharedResultPoolTest, LendsLowestFreeBufferAndRetiresOnesStillInTheAir) {
  SharedResultPool pool(Opts(2));
  auto a = pool.Acquire();
  auto b = pool.Acquire();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->buffer_id, 1u);
  EXPECT_EQ(b->buffer_id, 2u);
  EXPECT_TRUE(absl::IsResourceExhausted(pool.Acquire().status()));
  pool.MarkAnnounced(1);
  pool.Release(1, /*reusable=*/true);
  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->buffer_id, 1u);
  EXPECT_FALSE(again->needs_announce);
  // A buffer whose call timed out is never lent again, and still counts: the plugin maps it.
  pool.Release(2, /*reusable=*/false);
  EXPECT_TRUE(absl::IsResourceExhausted(pool.Acquire().status()));
  EXPECT_EQ(pool.buffers_created(), 2u);
  EXPECT_FALSE(pool.PeerFd(2).ok());
  pool.Release(1, /*reusable=*/true);
  EXPECT_EQ(pool.free_buffers(), 1u);
}

TEST(SharedResultPoolTest, ReusesTheLandingBlockOnceTheCallerDropsTheResult) {
  SharedResultPool pool(Opts());
  ASSERT_TRUE(pool.Acquire().ok());
  SharedResultBuffer plugin;
  PluginWrites(pool, 1, &plugin, 'q');
  const char* first_block;
  {
    auto p = pool.CopyOut(1, Ref(1, 0, 500000), kCap);
    ASSERT_TRUE(p.ok());
    first_block = p->data().data();
    // Held by the caller: the next result lands elsewhere.
    auto q = pool.CopyOut(1, Ref(1, 0, 500000), kCap);
    ASSERT_TRUE(q.ok());
    EXPECT_NE(q->data().data(), first_block);
    EXPECT_EQ(pool.landing().blocks_created(), 2u);
  }
  auto r = pool.CopyOut(1, Ref(1, 0, 400000), kCap);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(pool.landing().blocks_created(), 2u);  // no new pages
  EXPECT_EQ(r->data(), std::string(400000, 'q'));
}

TEST(SharedResultPoolTest, DangerViewsAreInPlaceAndHoldTheBufferBackFromLending) {
  SharedResultPool::Options o = Opts(1);
  o.danger_unstable_result_views = true;
  SharedResultPool pool(o);
  ASSERT_TRUE(pool.Acquire().ok());
  SharedResultBuffer plugin;
  absl::Span<char> w = PluginWrites(pool, 1, &plugin, 'v');
  {
    auto p = pool.CopyOut(1, Ref(1, 10, 100), kCap);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->data(), std::string(100, 'v'));
    EXPECT_EQ(pool.results_viewed(), 1u);
    EXPECT_EQ(pool.results_copied(), 0u);
    EXPECT_EQ(pool.landing().blocks_created(), 0u);
    // The danger the name warns of: the plugin changes what the caller reads.
    w[10] = 'X';
    EXPECT_EQ(p->data()[0], 'X');
    // The call ends (its lease is released) while the caller still holds the view: the buffer
    // is not lent again, so the plugin is never told its bytes were taken.
    pool.Release(1, /*reusable=*/true);
    EXPECT_EQ(pool.free_buffers(), 0u);
    EXPECT_TRUE(absl::IsResourceExhausted(pool.Acquire().status()));
    Payload moved = std::move(*p);  // whoever holds it holds the buffer back
    p = absl::InternalError("dropped");
    EXPECT_TRUE(absl::IsResourceExhausted(pool.Acquire().status()));
    EXPECT_EQ(moved.size(), 100u);
  }
  EXPECT_EQ(pool.free_buffers(), 1u);
  auto again = pool.Acquire();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->buffer_id, 1u);
  // Range checks are the same as for copies.
  ExpectBadPayload(pool.CopyOut(1, Ref(1, 1, kCap), kCap), "outside the buffer");
}

TEST(SharedResultPoolTest, DangerViewsStillCopyRangesThePluginNeverWrote) {
  SharedResultPool::Options o = Opts(1);
  o.danger_unstable_result_views = true;
  SharedResultPool pool(o);
  ASSERT_TRUE(pool.Acquire().ok());
  // Nothing written: a view would fault the pages in on the host's account.
  auto p = pool.CopyOut(1, Ref(1, 0, 8192), kCap);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->data(), std::string(8192, '\0'));
  EXPECT_EQ(pool.results_viewed(), 0u);
  EXPECT_EQ(pool.results_copied(), 1u);
}

}  // namespace
}  // namespace cordon::ipc
