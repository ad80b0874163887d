#include "audit/chain_hasher.h"

#include <string>

#include "gtest/gtest.h"

namespace cordon::audit {
namespace {

std::string Hex(ChainHasher& hasher, std::string_view data) {
  char out[ChainHasher::kHexLength];
  absl::Status status = hasher.HashHex(data, out);
  EXPECT_TRUE(status.ok()) << status;
  return std::string(out, sizeof out);
}

std::unique_ptr<ChainHasher> Keyed(std::string_view key) {
  absl::StatusOr<std::unique_ptr<ChainHasher>> h = ChainHasher::CreateWithKey(key);
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? std::move(*h) : nullptr;
}

// FIPS 180-4 examples (NIST CSVP): the chain's plain digest is SHA-256.
TEST(ChainHasherTest, PlainDigestIsSha256) {
  absl::StatusOr<std::unique_ptr<ChainHasher>> h = ChainHasher::Create("");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_FALSE((*h)->keyed());
  EXPECT_EQ(Hex(**h, ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(**h, "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(**h, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // The same instance again: no state carried from one record to the next.
  EXPECT_EQ(Hex(**h, "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// RFC 4231 test cases 1, 2, 4 (short keys), 6 and 7 (keys longer than a block, hashed first).
TEST(ChainHasherTest, KeyedDigestIsHmacSha256) {
  auto case1 = Keyed(std::string(20, '\x0b'));
  ASSERT_NE(case1, nullptr);
  EXPECT_TRUE(case1->keyed());
  EXPECT_EQ(Hex(*case1, "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(Hex(*case1, "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

  auto case2 = Keyed("Jefe");
  ASSERT_NE(case2, nullptr);
  EXPECT_EQ(Hex(*case2, "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

  std::string key4;
  for (int i = 1; i <= 25; ++i) key4.push_back(static_cast<char>(i));
  auto case4 = Keyed(key4);
  ASSERT_NE(case4, nullptr);
  EXPECT_EQ(Hex(*case4, std::string(50, '\xcd')),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

  auto case6 = Keyed(std::string(131, '\xaa'));
  ASSERT_NE(case6, nullptr);
  EXPECT_EQ(Hex(*case6, "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(Hex(*case6,
                "This is a test using a larger than block-size key and a larger than block-size "
                "data. The key needs to be hashed before being used by the HMAC algorithm."),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

}  // namespace
}  // namespace cordon::audit
