#include "ipc/envelope_codec.h"

#include <string>

#include "gtest/gtest.h"
#include "ipc/protocol_violation.h"

namespace cordon::ipc {
namespace {

using cordon::v1::Envelope;

TEST(EnvelopeCodecTest, RoundTrip) {
  EnvelopeCodec codec;
  Envelope e;
  e.mutable_call_request()->set_id(7);
  e.mutable_call_request()->set_method("echo");
  e.mutable_call_request()->mutable_payload()->set_inline_("hi");
  auto bytes = codec.Encode(e);
  ASSERT_TRUE(bytes.ok());
  auto back = codec.Decode(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->call_request().id(), 7u);
  EXPECT_EQ(EnvelopeCodec::MessageName(*back), "call_request");
}

TEST(EnvelopeCodecTest, MalformedBytes) {
  EnvelopeCodec codec;
  auto r = codec.Decode(std::string("\xff\xff\xff\xff\xff", 5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ViolationKindOf(r.status()), ViolationKind::kMalformedEnvelope);
}

TEST(EnvelopeCodecTest, EmptyAndUnknownMessageType) {
  EnvelopeCodec codec;
  EXPECT_EQ(ViolationKindOf(codec.Decode("").status()), ViolationKind::kUnknownMessage);
  // Field 99, length-delimited, empty: a message type from some future version.
  std::string future("\x9a\x06\x00", 3);
  auto r = codec.Decode(future);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ViolationKindOf(r.status()), ViolationKind::kUnknownMessage);
}

TEST(EnvelopeCodecTest, OversizedInput) {
  EnvelopeLimits l;
  l.max_bytes = 8;
  EnvelopeCodec codec(l);
  EXPECT_EQ(ViolationKindOf(codec.Decode(std::string(9, 'x')).status()),
            ViolationKind::kOversizedDatagram);
  Envelope e;
  e.mutable_log()->set_message("far more than eight bytes");
  EXPECT_FALSE(codec.Encode(e).ok());
}

TEST(EnvelopeCodecTest, FieldCaps) {
  EnvelopeCodec codec;
  Envelope e;
  e.mutable_call_request()->set_method(std::string(129, 'm'));
  EXPECT_EQ(ViolationKindOf(codec.Validate(e)), ViolationKind::kMalformedEnvelope);
  Envelope h;
  for (int i = 0; i < 1025; ++i) h.mutable_hello()->add_methods("m");
  EXPECT_EQ(ViolationKindOf(codec.Validate(h)), ViolationKind::kMalformedEnvelope);
}

TEST(EnvelopeCodecTest, NamesAndVersions) {
  EXPECT_TRUE(IsValidPluginName("echo"));
  EXPECT_TRUE(IsValidPluginName("a.b_c-9"));
  EXPECT_FALSE(IsValidPluginName("Echo"));
  EXPECT_FALSE(IsValidPluginName("-x"));
  EXPECT_FALSE(IsValidPluginName(""));
  EXPECT_TRUE(IsValidSemver("1.2.3"));
  EXPECT_TRUE(IsValidSemver("0.1.0-rc.1+build5"));
  EXPECT_FALSE(IsValidSemver("1.2"));
  EXPECT_FALSE(IsValidSemver("01.2.3"));
  EXPECT_FALSE(IsValidSemver("1.2.3-"));
  EXPECT_TRUE(IsValidMethodName("blob.get", 128));
  EXPECT_FALSE(IsValidMethodName("has space", 128));
}

}  // namespace
}  // namespace cordon::ipc
