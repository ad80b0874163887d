#include "ipc/payload.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

constexpr uint64_t kSlot = 1 << 20;

bool IsBadPayload(const absl::Status& s) {
  return ViolationKindOf(s) == ViolationKind::kBadPayload;
}

TEST(PayloadTest, SmallBytesTravelInline) {
  cordon::v1::Payload proto;
  std::vector<UniqueFd> fds;
  ASSERT_TRUE(Payload("abc").ToProto(16, &proto, &fds).ok());
  EXPECT_EQ(proto.inline_(), "abc");
  EXPECT_TRUE(fds.empty());
  auto back = Payload::FromProto(proto, &fds, 16);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->data(), "abc");
  EXPECT_TRUE(IsBadPayload(Payload::FromProto(proto, &fds, 2).status()));
}

TEST(PayloadTest, LargeBytesGoThroughAPoolSlotAndAPremappedView) {
  MemfdPool pool({.name = "t", .slot_bytes = kSlot, .depth = 1});
  auto offers = pool.Refill();
  ASSERT_TRUE(offers.ok());
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  ASSERT_TRUE(cache.Offer(std::move((*offers)[0])).ok());

  const std::string big(100000, 'b');
  cordon::v1::Payload proto;
  std::vector<UniqueFd> fds;
  ASSERT_TRUE(Payload(big).ToProto(1024, &proto, &fds, &pool).ok());
  EXPECT_EQ(pool.hits(), 1u);
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_EQ(proto.memfd().size(), big.size());
  EXPECT_TRUE(::fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC);
  auto back = Payload::FromProto(proto, &fds, kSlot, &cache);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->is_memfd());
  EXPECT_EQ(back->data(), big);
  EXPECT_EQ(cache.premapped_opens(), 1u);
  // The fd was taken out of the message's fds (closed or owned by the payload).
  EXPECT_FALSE(fds[0].valid());
}

TEST(PayloadTest, ExhaustedStrictPoolFailsTheSend) {
  MemfdPool pool({.name = "t", .slot_bytes = kSlot, .depth = 1, .fresh_when_empty = false});
  cordon::v1::Payload proto;
  std::vector<UniqueFd> fds;
  absl::Status s = Payload(std::string(5000, 'x')).ToProto(1024, &proto, &fds, &pool);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_TRUE(fds.empty());
}

TEST(PayloadTest, UnsealedMemfdFromThePeerIsRefused) {
  UniqueFd raw(static_cast<int>(::syscall(SYS_memfd_create, "t", MFD_CLOEXEC | MFD_ALLOW_SEALING)));
  ASSERT_EQ(::write(raw.get(), "hello", 5), 5);
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(raw));
  cordon::v1::Payload proto;
  proto.mutable_memfd()->set_fd_index(0);
  proto.mutable_memfd()->set_size(5);
  MemfdPremapCache cache({.max_slot_bytes = kSlot});
  EXPECT_TRUE(IsBadPayload(Payload::FromProto(proto, &fds, kSlot, &cache).status()));
}

TEST(PayloadTest, MemfdIndexAndCapAreChecked) {
  auto sealed = MemfdPayload::CreateSealed("t", std::string(4096, 's'));
  ASSERT_TRUE(sealed.ok());
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(*sealed));
  cordon::v1::Payload proto;
  proto.mutable_memfd()->set_fd_index(1);
  proto.mutable_memfd()->set_size(4096);
  EXPECT_TRUE(IsBadPayload(Payload::FromProto(proto, &fds, kSlot).status()));
  proto.mutable_memfd()->set_fd_index(0);
  EXPECT_TRUE(IsBadPayload(Payload::FromProto(proto, &fds, 4095).status()));
}

TEST(PayloadTest, SharedReferenceIsRefusedOutsideTheSdk) {
  // Only the plugin SDK resolves shared references (host call inputs); a plugin result or a
  // broker payload carrying one is a violation.
  std::vector<UniqueFd> fds;
  cordon::v1::Payload proto;
  proto.mutable_shared()->set_buffer_id(1);
  proto.mutable_shared()->set_length(10);
  EXPECT_TRUE(IsBadPayload(Payload::FromProto(proto, &fds, kSlot).status()));
}

TEST(PayloadTest, BorrowedBytesAreSentInlineOrAsAMemfdCopy) {
  std::string small(100, 'b');
  Payload p = Payload::Borrowed(small);
  EXPECT_TRUE(p.is_borrowed());
  EXPECT_EQ(p.data().data(), small.data());  // a view, not a copy
  std::vector<UniqueFd> fds;
  cordon::v1::Payload proto;
  ASSERT_TRUE(p.ToProto(1000, &proto, &fds).ok());
  EXPECT_EQ(proto.inline_(), small);
  std::string big(5000, 'B');
  ASSERT_TRUE(Payload::Borrowed(big).ToProto(1000, &proto, &fds).ok());
  ASSERT_TRUE(proto.has_memfd());
  auto back = Payload::FromProto(proto, &fds, kSlot);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToString(), big);
}

}  // namespace
}  // namespace cordon::ipc
