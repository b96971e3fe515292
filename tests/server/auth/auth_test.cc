// Tokens, names and the loopback rule.
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/loopback.h"
#include "server/auth/names.h"
#include "server/auth/token.h"

namespace ablate::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(TokenTest, TokensAreLongRandomAndUrlSafe) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<std::string> token = NewToken();
    ASSERT_TRUE(token.ok()) << token.status();
    // 32 bytes in unpadded base64url: 43 characters.
    EXPECT_THAT(*token, MatchesRegex("abl_[A-Za-z0-9_-]+"));
    EXPECT_EQ(token->size(), 4u + 43u);
    EXPECT_TRUE(seen.insert(*token).second) << "a repeated token: " << *token;
  }
}

TEST(TokenTest, HashIsSha256HexOfTheText) {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(TokenHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(VisiblePrefix("abl_0123456789abcdef"), "abl_01234567");
}

TEST(TokenTest, BearerTokenParsesTheHeader) {
  EXPECT_EQ(BearerToken("Bearer abl_x"), "abl_x");
  EXPECT_EQ(BearerToken("bearer   abl_x  "), "abl_x");
  EXPECT_EQ(BearerToken("Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(BearerToken("Bearer "), "");
  EXPECT_EQ(BearerToken(""), "");
}

TEST(NamesTest, NamesAreShortAndPlain) {
  EXPECT_TRUE(CheckName("user name", "ada").ok());
  EXPECT_TRUE(CheckName("user name", "a.b_c-9").ok());
  EXPECT_TRUE(CheckName("user name", std::string(64, 'x')).ok());
  EXPECT_FALSE(CheckName("user name", "").ok());
  EXPECT_FALSE(CheckName("user name", std::string(65, 'x')).ok());
  for (const char* bad : {"a b", "a/b", "ada\n", "é", "a;b", "a\"b"}) {
    absl::Status s = CheckName("user name", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("user name must be 1 to 64 characters"));
  }
  // What was typed comes back escaped: no raw newline in the sentence.
  EXPECT_THAT(CheckName("user name", "ada\nroot").message(), HasSubstr("ada\\nroot"));
}

TEST(LoopbackTest, OnlyThisMachinesAddressesAreLoopback) {
  for (const char* host :
       {"127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "unix:/tmp/ablate.sock"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "192.168.1.2", "example.org", "",
                           "128.0.0.1", "::ffff:127.0.0.1x"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
  EXPECT_EQ(HostOf("127.0.0.1:50051"), "127.0.0.1");
  EXPECT_EQ(HostOf("[::1]:50051"), "::1");
  EXPECT_EQ(HostOf("[::1]"), "::1");  // an HTTP Host header without a port
  EXPECT_EQ(HostOf("localhost"), "localhost");
  EXPECT_TRUE(IsIpLiteral("10.1.2.3"));
  EXPECT_TRUE(IsIpLiteral("::1"));
  EXPECT_FALSE(IsIpLiteral("localhost"));
  EXPECT_FALSE(IsIpLiteral("10.1.2.3.example"));
  EXPECT_EQ(HostOf("0.0.0.0:0"), "0.0.0.0");
  EXPECT_EQ(HostOf("unix:/tmp/s"), "unix:/tmp/s");
}

}  // namespace
}  // namespace ablate::auth
