// HTTP Negotiate header handling (security/spnego_header.h) and the start-up
// checks of the SPNEGO acceptor that need no KDC (security/spnego.h; the
// Kerberos exchange itself is tests/integration/test_spnego.py).
#include "security/spnego_header.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "security/spnego.h"

namespace keel::security {
namespace {

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string refusal(std::string_view value) {
  std::string why;
  auto token = parse_negotiate(value, &why);
  EXPECT_FALSE(token.has_value()) << value;
  EXPECT_FALSE(why.empty()) << value;
  return why;
}

TEST(AuthorizationHeader, SplitsSchemeAndCredentials) {
  auto h = split_authorization("Negotiate YIIC");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->scheme, "Negotiate");
  EXPECT_EQ(h->credentials, "YIIC");
  h = split_authorization("Basic   YWxpY2U6eA==  ");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->credentials, "YWxpY2U6eA==");
  h = split_authorization("Negotiate");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->credentials, "");
}

TEST(AuthorizationHeader, SchemeComparesWithoutCase) {
  auto h = split_authorization("nEGOTIATE abc");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->scheme_is("Negotiate"));
  EXPECT_FALSE(h->scheme_is("Negotiat"));
  EXPECT_FALSE(h->scheme_is("Basic"));
}

TEST(AuthorizationHeader, RefusesWhatIsNotSchemeSpaceCredentials) {
  EXPECT_FALSE(split_authorization(""));
  EXPECT_FALSE(split_authorization(" Negotiate abc"));
  EXPECT_FALSE(split_authorization("Nego(tiate abc"));
  EXPECT_FALSE(split_authorization("Negotiate\tabc"));
  EXPECT_FALSE(split_authorization("=abc"));
}

TEST(Negotiate, DecodesTheBase64Token) {
  std::string why;
  auto token = parse_negotiate("Negotiate " + std::string("YIIBAgYGKwYBBQUC"), &why);
  ASSERT_TRUE(token) << why;
  EXPECT_EQ(*token, (Bytes{0x60, 0x82, 0x01, 0x02, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}));
  token = parse_negotiate("negotiate YQ==", &why);
  ASSERT_TRUE(token) << why;
  EXPECT_EQ(*token, bytes("a"));
}

TEST(Negotiate, RefusesOtherSchemesAndMissingTokens) {
  EXPECT_NE(refusal("Basic YWxpY2U6eA==").find("not Negotiate"), std::string::npos);
  EXPECT_NE(refusal("Negotiate").find("no token"), std::string::npos);
  EXPECT_NE(refusal("Negotiate    ").find("no token"), std::string::npos);
  EXPECT_NE(refusal("").find("<scheme>"), std::string::npos);
}

TEST(Negotiate, RefusesWhatIsNotCanonicalBase64) {
  EXPECT_NE(refusal("Negotiate !!!!").find("not base64"), std::string::npos);
  EXPECT_NE(refusal("Negotiate YII C").find("not base64"), std::string::npos);
  EXPECT_NE(refusal("Negotiate ==YQ").find("not base64"), std::string::npos);
  EXPECT_NE(refusal("Negotiate YQ").find("not valid base64"), std::string::npos);      // unpadded
  EXPECT_NE(refusal("Negotiate YR==").find("not valid base64"), std::string::npos);    // non-zero pad bits
  EXPECT_NE(refusal("Negotiate YQ-_").find("not valid base64"), std::string::npos);    // base64url
  EXPECT_NE(refusal("Negotiate a=b=").find("not base64"), std::string::npos);
}

TEST(Negotiate, RefusesAnOversizedTokenBeforeDecoding) {
  const std::string big(((kMaxNegotiateTokenBytes + 2) / 3 + 1) * 4, 'A');
  EXPECT_NE(refusal("Negotiate " + big).find("larger than"), std::string::npos);
  const std::string fits(kMaxNegotiateTokenBytes / 3 * 4, 'A');
  std::string why;
  EXPECT_TRUE(parse_negotiate("Negotiate " + fits, &why)) << why;
}

TEST(Negotiate, ChallengeCarriesTheTokenInBase64) {
  EXPECT_EQ(negotiate_challenge(), "Negotiate");
  const Bytes token = bytes("ok");
  EXPECT_EQ(negotiate_challenge(token), "Negotiate b2s=");
  std::string why;
  auto back = parse_negotiate(negotiate_challenge(token), &why);
  ASSERT_TRUE(back) << why;
  EXPECT_EQ(*back, token);
}

TEST(SpnegoAcceptor, RefusesAMissingKeytabAtStartUp) {
  SpnegoOptions options;
  options.keytab = "/nonexistent/keel-http.keytab";
  try {
    SpnegoAcceptor::create(options);
    FAIL() << "a missing keytab was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read keytab /nonexistent/keel-http.keytab"), std::string::npos)
        << e.what();
  }
  options.keytab = "";
  EXPECT_THROW(SpnegoAcceptor::create(options), std::runtime_error);
}

}  // namespace
}  // namespace keel::security
