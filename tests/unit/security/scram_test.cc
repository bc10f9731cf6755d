#include "security/scram.h"

#include <gtest/gtest.h>

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <map>

namespace keel::security {
namespace {

using namespace std::string_literals;

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes hmac_sha256(const Bytes& key, const Bytes& data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len);
  return out;
}

ScramNonceSource fixed(std::string nonce) {
  return [nonce = std::move(nonce)] { return nonce; };
}

// RFC 7677 §3: user "user", password "pencil".
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// Computed independently (Python hashlib) from the RFC 7677 inputs.
constexpr std::string_view kRfcStoredSha256 =
    "salt=W22ZaJ0SNY7soEsUEjb6gQ==,stored_key=WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
    "server_key=wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=,iterations=4096";
constexpr std::string_view kRfcStoredSha512 =
    "salt=W22ZaJ0SNY7soEsUEjb6gQ==,"
    "stored_key=6AAub3065EYRmyFpM2RNwqK+eGnrkYuEWbXn19LsEmBqzu8QaCXNc1FwpnX9NhH2hK/60dzj9DoO5DvVkOHbvg==,"
    "server_key=jZHbYjC1aHh0/hKbxyBuGFjDrgjgKTT1esA7awWiKcRZ0o/0b1yWEebBeSVkkCFewf91nLDfKF24mvD5nmE6rA==,"
    "iterations=4096";

ScramCredential rfc_credential(ScramMechanism m) {
  auto c = derive(m, "pencil", *base64_decode(kRfcSalt), 4096);
  EXPECT_TRUE(c.ok());
  return *c;
}

// A credential store keyed by name, as the broker's lookup would be.
ScramCredentialLookup store_of(std::map<std::string, ScramCredential, std::less<>> users) {
  return [users = std::move(users)](std::string_view name) -> std::optional<ScramCredential> {
    auto it = users.find(name);
    if (it == users.end()) return std::nullopt;
    return it->second;
  };
}

// A SHA-256 server (unless told) where "user" has password "pencil".
ScramServer user_server(ScramMechanism mechanism = ScramMechanism::kSha256,
                        ScramMechanism credential_mechanism = ScramMechanism::kSha256) {
  return ScramServer(mechanism, store_of({{"user", rfc_credential(credential_mechanism)}}));
}

ScramServer rfc_server() {
  return ScramServer(ScramMechanism::kSha256, store_of({{"user", rfc_credential(ScramMechanism::kSha256)}}),
                     fixed(std::string(kRfcServerNonce)));
}

// The RFC server's answer to `client_final` after the RFC client-first.
Result<std::string> rfc_server_answer(std::string_view client_final) {
  ScramServer server = rfc_server();
  auto first = server.step(kRfcClientFirst);
  EXPECT_TRUE(first.ok());
  return server.step(client_final);
}

struct Outcome {
  Result<void> server_result;  // of the last server step
  Result<void> client_result;  // of the last client step
};

// Runs a whole exchange; the first error on either side stops it.
Outcome exchange(ScramServer& server, ScramClient& client) {
  const Result<void> not_reached = ScramErrc::kUnexpectedMessage;
  auto first = client.first_message();
  if (!first) return {not_reached, first.error()};
  auto server_first = server.step(*first);
  if (!server_first) return {server_first.error(), not_reached};
  auto final_message = client.handle_server_first(*server_first);
  if (!final_message) return {Result<void>{}, final_message.error()};
  auto server_final = server.step(*final_message);
  if (!server_final) return {server_final.error(), not_reached};
  return {Result<void>{}, client.handle_server_final(*server_final)};
}

TEST(ScramRfc7677, ServerAnswersTheVectorByteForByte) {
  ScramServer server = rfc_server();
  auto server_first = server.step(kRfcClientFirst);
  ASSERT_TRUE(server_first.ok()) << server_first.error().message();
  EXPECT_EQ(*server_first, kRfcServerFirst);
  EXPECT_FALSE(server.complete());
  auto server_final = server.step(kRfcClientFinal);
  ASSERT_TRUE(server_final.ok()) << server_final.error().message();
  EXPECT_EQ(*server_final, kRfcServerFinal);
  EXPECT_TRUE(server.complete());
  EXPECT_EQ(server.username(), "user");
  EXPECT_EQ(server.authzid(), "");
}

TEST(ScramRfc7677, ClientSendsTheVectorByteForByte) {
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed(std::string(kRfcClientNonce)));
  auto first = client.first_message();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, kRfcClientFirst);
  auto final_message = client.handle_server_first(kRfcServerFirst);
  ASSERT_TRUE(final_message.ok()) << final_message.error().message();
  EXPECT_EQ(*final_message, kRfcClientFinal);
  EXPECT_TRUE(client.handle_server_final(kRfcServerFinal).ok());
  EXPECT_TRUE(client.complete());
}

TEST(ScramRfc7677, MessagesParseIntoTheirFields) {
  auto first = parse_client_first(kRfcClientFirst);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->gs2_header, "n,,");
  EXPECT_EQ(first->bare, "n=user,r=rOprNGfwEbeRWgbNEkqO");
  EXPECT_EQ(first->username, "user");
  EXPECT_EQ(first->nonce, kRfcClientNonce);
  EXPECT_TRUE(first->extensions.empty());

  auto server_first = parse_server_first(kRfcServerFirst);
  ASSERT_TRUE(server_first.ok());
  EXPECT_EQ(server_first->nonce, std::string(kRfcClientNonce) + std::string(kRfcServerNonce));
  EXPECT_EQ(base64_encode(server_first->salt), kRfcSalt);
  EXPECT_EQ(server_first->iterations, 4096);
  EXPECT_EQ(write_server_first(*server_first), kRfcServerFirst);

  auto final_message = parse_client_final(kRfcClientFinal);
  ASSERT_TRUE(final_message.ok());
  EXPECT_EQ(final_message->channel_binding, b("n,,"));
  EXPECT_EQ(final_message->without_proof, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  EXPECT_EQ(final_message->proof.size(), 32u);
  EXPECT_EQ(write_client_final(final_message->channel_binding, final_message->nonce, final_message->proof),
            kRfcClientFinal);

  auto server_final = parse_server_final(kRfcServerFinal);
  ASSERT_TRUE(server_final.ok());
  ASSERT_TRUE(server_final->signature.has_value());
  EXPECT_EQ(write_server_final(*server_final->signature), kRfcServerFinal);
}

TEST(ScramExchange, Sha512RoundTrip) {
  auto credential = derive(ScramMechanism::kSha512, "s3cret,=x", random_salt(), 8192);
  ASSERT_TRUE(credential.ok());
  ScramServer server(ScramMechanism::kSha512, store_of({{"alice,=bob", *credential}}));
  ScramClient client(ScramMechanism::kSha512, "alice,=bob", "s3cret,=x");
  Outcome out = exchange(server, client);
  EXPECT_TRUE(out.server_result.ok()) << out.server_result.error().message();
  EXPECT_TRUE(out.client_result.ok()) << out.client_result.error().message();
  EXPECT_TRUE(server.complete());
  EXPECT_TRUE(client.complete());
  EXPECT_EQ(server.username(), "alice,=bob");
}

TEST(ScramExchange, Sha256RoundTripWithMatchingAuthzid) {
  ScramServer server = user_server();
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", "user");
  Outcome out = exchange(server, client);
  EXPECT_TRUE(out.client_result.ok()) << out.client_result.error().message();
  EXPECT_TRUE(server.complete());
  EXPECT_EQ(server.authzid(), "user");
}

TEST(ScramExchange, AuthzidOtherThanUsernameIsRefused) {
  ScramServer server = user_server();
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", "admin");
  Outcome out = exchange(server, client);
  EXPECT_EQ(out.server_result.error(), ScramErrc::kAuthzidMismatch);
  EXPECT_FALSE(server.complete());
}

TEST(ScramExchange, WrongPasswordFails) {
  ScramServer server = user_server();
  ScramClient client(ScramMechanism::kSha256, "user", "pencil2");
  Outcome out = exchange(server, client);
  EXPECT_EQ(out.server_result.error(), ScramErrc::kAuthenticationFailed);
  EXPECT_FALSE(server.complete());
  // The exchange is over: nothing more is accepted, not even a valid message.
  EXPECT_EQ(server.step(kRfcClientFinal).error(), ScramErrc::kUnexpectedMessage);
}

TEST(ScramExchange, MechanismMismatchFails) {
  // A SHA-256 credential presented to a SHA-512 exchange: refused, not crashed.
  ScramServer server = user_server(ScramMechanism::kSha512, ScramMechanism::kSha256);
  ScramClient client(ScramMechanism::kSha512, "user", "pencil");
  Outcome out = exchange(server, client);
  EXPECT_EQ(out.server_result.error(), ScramErrc::kBadCredential);
}

TEST(ScramExchange, UnknownUserLooksLikeWrongPassword) {
  auto lookup = store_of({{"user", rfc_credential(ScramMechanism::kSha256)}});
  ScramServer known(ScramMechanism::kSha256, lookup, fixed("S"));
  ScramServer unknown(ScramMechanism::kSha256, lookup, fixed("S"));
  auto known_first = known.step("n,,n=user,r=abc");
  auto unknown_first = unknown.step("n,,n=nobody,r=abc");
  ASSERT_TRUE(known_first.ok());
  ASSERT_TRUE(unknown_first.ok()) << unknown_first.error().message();
  auto shape = parse_server_first(*unknown_first);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->nonce, "abcS");
  EXPECT_EQ(shape->iterations, 4096);
  EXPECT_EQ(shape->salt.size(), 26u);  // as long as a salt Kafka makes

  // The stand-in salt is stable per name, as a real one is, and differs by name.
  ScramServer again(ScramMechanism::kSha256, lookup, fixed("S"));
  EXPECT_EQ(*again.step("n,,n=nobody,r=abc"), *unknown_first);
  ScramServer other(ScramMechanism::kSha256, lookup, fixed("S"));
  EXPECT_NE(*other.step("n,,n=nobody2,r=abc"), *unknown_first);

  ScramClient client(ScramMechanism::kSha256, "nobody", "pencil");
  ScramServer server(ScramMechanism::kSha256, lookup);
  Outcome out = exchange(server, client);
  EXPECT_EQ(out.server_result.error(), ScramErrc::kAuthenticationFailed);
}

TEST(ScramExchange, TokenAuthFailsLikeAnUnknownUser) {
  // Keel has no delegation tokens; a token id must not be taken for a user name.
  ScramServer server = user_server();
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {{"tokenauth", "true"}});
  Outcome out = exchange(server, client);
  EXPECT_EQ(out.server_result.error(), ScramErrc::kAuthenticationFailed);
}

TEST(ScramExchange, OtherExtensionsAreIgnored) {
  ScramServer server = user_server();
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {{"tokenauth", "false"}, {"foo", "bar"}});
  Outcome out = exchange(server, client);
  EXPECT_TRUE(out.client_result.ok()) << out.client_result.error().message();
  EXPECT_TRUE(server.complete());
}

TEST(ScramServerNonce, WrongNonceIsRefused) {
  auto result = rfc_server_answer(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_EQ(result.error(), ScramErrc::kNonceMismatch);
}

TEST(ScramServerNonce, ClientNonceAloneIsRefused) {
  auto result = rfc_server_answer("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_EQ(result.error(), ScramErrc::kNonceMismatch);
}

TEST(ScramServerNonce, LibrdkafkaDoubledClientNonceIsAccepted) {
  // librdkafka < 2.6.1 sends r=<client nonce><server's whole r> and signs the
  // AuthMessage holding exactly those bytes; the proof here is computed with
  // OpenSSL directly from RFC 5802's formulas, not with Keel's client.
  ScramServer server(ScramMechanism::kSha256, store_of({{"user", rfc_credential(ScramMechanism::kSha256)}}),
                     fixed("SNONCE"));
  auto server_first = server.step("n,,n=user,r=CNONCE");
  ASSERT_TRUE(server_first.ok());
  EXPECT_EQ(*server_first, "r=CNONCESNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  const std::string without_proof = "c=biws,r=CNONCECNONCESNONCE";
  const std::string auth = "n=user,r=CNONCE," + *server_first + "," + without_proof;

  Bytes salted = salted_password(ScramMechanism::kSha256, "pencil", *base64_decode(kRfcSalt), 4096);
  Bytes client_key = hmac_sha256(salted, b("Client Key"));
  Bytes stored_key(SHA256_DIGEST_LENGTH);
  SHA256(client_key.data(), client_key.size(), stored_key.data());
  Bytes signature = hmac_sha256(stored_key, b(auth));
  Bytes proof(client_key.size());
  for (size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ signature[i];

  auto server_final = server.step(without_proof + ",p=" + base64_encode(proof));
  ASSERT_TRUE(server_final.ok()) << server_final.error().message();
  Bytes server_key = hmac_sha256(salted, b("Server Key"));
  EXPECT_EQ(*server_final, "v=" + base64_encode(hmac_sha256(server_key, b(auth))));
  EXPECT_TRUE(server.complete());
}

TEST(ScramServerNonce, ProofOverAnotherServerFirstFails) {
  // A client that saw a different server-first signs a different AuthMessage.
  ScramServer server(ScramMechanism::kSha256, store_of({{"user", rfc_credential(ScramMechanism::kSha256)}}),
                     fixed("SNONCE"));
  ASSERT_TRUE(server.step("n,,n=user,r=CNONCE").ok());
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed("CNONCE"));
  ASSERT_TRUE(client.first_message().ok());
  auto final_message = client.handle_server_first("r=CNONCESNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=1");
  ASSERT_TRUE(final_message.ok());
  EXPECT_EQ(server.step(*final_message).error(), ScramErrc::kAuthenticationFailed);
}

TEST(ScramServerChannelBinding, TamperedEchoIsRefused) {
  // c= of "n,a=user," where the client-first said "n,,".
  auto result = rfc_server_answer(
      "c=bixhPXVzZXIs,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_EQ(result.error(), ScramErrc::kChannelBindingMismatch);
}

TEST(ScramServerChannelBinding, ChannelBindingRequestsAreRefused) {
  for (std::string_view message : {"p=tls-unique,,n=user,r=abc", "y,,n=user,r=abc"}) {
    ScramServer server = rfc_server();
    EXPECT_EQ(server.step(message).error(), ScramErrc::kChannelBindingUnsupported) << message;
  }
}

TEST(ScramServerChannelBinding, ProofTamperedInOneBitFails) {
  std::string tampered(kRfcClientFinal);
  tampered[tampered.size() - 3] = 'W';  // ...AndVQ= -> ...AndWQ=
  EXPECT_EQ(rfc_server_answer(tampered).error(), ScramErrc::kAuthenticationFailed);
}

TEST(ScramIterations, StoredCredentialBelowMinimumIsRefused) {
  ScramCredential weak = rfc_credential(ScramMechanism::kSha256);
  weak.iterations = 4095;
  ScramServer server(ScramMechanism::kSha256, store_of({{"user", weak}}));
  EXPECT_EQ(server.step(kRfcClientFirst).error(), ScramErrc::kIterationsOutOfRange);
}

TEST(ScramIterations, DeriveKeepsKafkasRange) {
  Bytes salt = random_salt();
  EXPECT_EQ(derive(ScramMechanism::kSha256, "pw", salt, 4095).error(), ScramErrc::kIterationsOutOfRange);
  EXPECT_EQ(derive(ScramMechanism::kSha256, "pw", salt, 16385).error(), ScramErrc::kIterationsOutOfRange);
  EXPECT_TRUE(derive(ScramMechanism::kSha256, "pw", salt, 4096).ok());
  EXPECT_EQ(derive_from_salted_password(ScramMechanism::kSha256, Bytes(32), salt, 1000).error(),
            ScramErrc::kIterationsOutOfRange);
  EXPECT_EQ(derive_from_salted_password(ScramMechanism::kSha512, Bytes(32), salt, 4096).error(),
            ScramErrc::kBadCredential);
}

TEST(ScramIterations, ClientRefusesServerOfferingTooFew) {
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed("abc"));
  ASSERT_TRUE(client.first_message().ok());
  EXPECT_EQ(client.handle_server_first("r=abcdef,s=QSXCR+Q6sek8bf92,i=4095").error(),
            ScramErrc::kIterationsOutOfRange);
  ScramClient greedy(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed("abc"));
  ASSERT_TRUE(greedy.first_message().ok());
  EXPECT_EQ(greedy.handle_server_first("r=abcdef,s=QSXCR+Q6sek8bf92,i=2000000000").error(),
            ScramErrc::kIterationsOutOfRange);
}

TEST(ScramClientChecks, ForeignServerNonceIsRefused) {
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed("abc"));
  ASSERT_TRUE(client.first_message().ok());
  EXPECT_EQ(client.handle_server_first("r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096").error(), ScramErrc::kNonceMismatch);
  ScramClient echo(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed("abc"));
  ASSERT_TRUE(echo.first_message().ok());
  // A server that adds nothing of its own gives no freshness.
  EXPECT_EQ(echo.handle_server_first("r=abc,s=QSXCR+Q6sek8bf92,i=4096").error(), ScramErrc::kNonceMismatch);
}

TEST(ScramClientChecks, BadServerSignatureAndServerErrorFail) {
  ScramClient client(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed(std::string(kRfcClientNonce)));
  ASSERT_TRUE(client.first_message().ok());
  ASSERT_TRUE(client.handle_server_first(kRfcServerFirst).ok());
  EXPECT_EQ(client.handle_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G8=").error(),
            ScramErrc::kServerSignatureMismatch);
  EXPECT_FALSE(client.complete());

  ScramClient refused(ScramMechanism::kSha256, "user", "pencil", {}, {}, fixed(std::string(kRfcClientNonce)));
  ASSERT_TRUE(refused.first_message().ok());
  ASSERT_TRUE(refused.handle_server_first(kRfcServerFirst).ok());
  EXPECT_EQ(refused.handle_server_final("e=invalid-proof").error(), ScramErrc::kServerError);
  EXPECT_EQ(refused.server_error(), "invalid-proof");
}

TEST(ScramClientChecks, EmptyUsernameAndOutOfOrderCallsFail) {
  ScramClient empty(ScramMechanism::kSha256, "", "pw");
  EXPECT_EQ(empty.first_message().error(), ScramErrc::kInvalidUsername);
  ScramClient early(ScramMechanism::kSha256, "u", "pw");
  EXPECT_EQ(early.handle_server_first(kRfcServerFirst).error(), ScramErrc::kUnexpectedMessage);
  EXPECT_EQ(early.handle_server_final(kRfcServerFinal).error(), ScramErrc::kUnexpectedMessage);
}

TEST(ScramMessages, SaslNamesAreEscapedAndUnescaped) {
  EXPECT_EQ(escape_saslname("a,b=c"), "a=2Cb=3Dc");
  EXPECT_EQ(unescape_saslname("a=2Cb=3Dc"), "a,b=c");
  EXPECT_EQ(unescape_saslname("a=2c"), std::nullopt);  // the RFC's escapes are upper case
  EXPECT_EQ(unescape_saslname("a="), std::nullopt);
  EXPECT_EQ(unescape_saslname("a=3"), std::nullopt);
  EXPECT_EQ(unescape_saslname(""), std::nullopt);
  auto first = parse_client_first("n,a=x=3Dy,n=x=3Dy,r=abc,tokenauth=TRUE");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->gs2_header, "n,a=x=3Dy,");
  EXPECT_EQ(first->authzid, "x=y");
  EXPECT_EQ(first->username, "x=y");
  EXPECT_TRUE(first->token_auth());
  EXPECT_EQ(write_client_first("x=y", "abc", "x=y", {{"tokenauth", "TRUE"}}),
            "n,a=x=3Dy,n=x=3Dy,r=abc,tokenauth=TRUE");
}

struct Case {
  std::string_view message;
  ScramErrc error;
};

template <typename Parse>
void expect_refused(Parse parse, std::initializer_list<Case> cases) {
  for (const Case& c : cases) EXPECT_EQ(parse(c.message).error(), c.error) << c.message;
}

TEST(ScramMessages, GarbageIsRefusedWithAReason) {
  expect_refused(parse_client_first, {
      {"", ScramErrc::kMalformedMessage},
      {"n", ScramErrc::kMalformedMessage},
      {"n,,", ScramErrc::kMalformedMessage},
      {"n,,n=user", ScramErrc::kMalformedMessage},
      {"n,,n=user,r=", ScramErrc::kMalformedMessage},
      {"n,,n=,r=abc", ScramErrc::kInvalidUsername},
      {"n,,n=us=er,r=abc", ScramErrc::kInvalidUsername},
      {"n,,n=user,r=a\x7f" "b", ScramErrc::kMalformedMessage},
      {"n,,m=ext,n=user,r=abc", ScramErrc::kUnsupportedExtension},
      {"n,,n=user,r=abc,m=ext", ScramErrc::kUnsupportedExtension},
      {"n,,n=user,r=abc,r=def", ScramErrc::kMalformedMessage},
      {"n,,n=user,r=abc,x", ScramErrc::kMalformedMessage},
      {"n,,n=user,r=abc,x=", ScramErrc::kMalformedMessage},
      {"n,,n=user,r=abc,x=1,x=2", ScramErrc::kMalformedMessage},
      {"n,b=user,n=user,r=abc", ScramErrc::kMalformedMessage},
      {"n,a=,n=user,r=abc", ScramErrc::kInvalidUsername},
      {"F,n,,n=user,r=abc", ScramErrc::kMalformedMessage},
      {"x,,n=user,r=abc", ScramErrc::kMalformedMessage},
      {"n,,r=abc,n=user", ScramErrc::kMalformedMessage},
  });
  EXPECT_EQ(parse_client_first(std::string_view("n,,n=us\0er,r=abc", 16)).error(), ScramErrc::kInvalidUsername);

  expect_refused(parse_client_final, {
      {"", ScramErrc::kMalformedMessage},
      {"c=biws", ScramErrc::kMalformedMessage},
      {"c=biws,r=abc", ScramErrc::kMalformedMessage},
      {"c=biws,r=abc,p=", ScramErrc::kMalformedMessage},
      {"c=biw,r=abc,p=AAAA", ScramErrc::kMalformedMessage},
      {"c=biws,r=abc,p=AA=A", ScramErrc::kMalformedMessage},
      {"c=biws,r=abc,p=AAA=,x=1", ScramErrc::kMalformedMessage},
      {"r=abc,c=biws,p=AAAA", ScramErrc::kMalformedMessage},
      {"c=biws,r=abc,m=1,p=AAAA", ScramErrc::kUnsupportedExtension},
  });
  auto with_extension = parse_client_final("c=biws,r=abc,x=1,p=AAAA");
  ASSERT_TRUE(with_extension.ok());
  EXPECT_EQ(with_extension->without_proof, "c=biws,r=abc,x=1");

  expect_refused(parse_server_first, {
      {"", ScramErrc::kMalformedMessage},
      {"r=abc,s=QSXC,i=", ScramErrc::kMalformedMessage},
      {"r=abc,s=QSXC,i=0", ScramErrc::kMalformedMessage},
      {"r=abc,s=QSXC,i=-1", ScramErrc::kMalformedMessage},
      {"r=abc,s=QSXC,i=4096x", ScramErrc::kMalformedMessage},
      {"r=abc,s=QSXC,i=99999999999", ScramErrc::kMalformedMessage},
      {"r=abc,s=QSX,i=4096", ScramErrc::kMalformedMessage},
      {"m=1,r=abc,s=QSXC,i=4096", ScramErrc::kUnsupportedExtension},
      {"e=other-error", ScramErrc::kMalformedMessage},
  });

  expect_refused(parse_server_final, {
      {"", ScramErrc::kMalformedMessage},
      {"v=", ScramErrc::kMalformedMessage},
      {"e=", ScramErrc::kMalformedMessage},
      {"v=abc", ScramErrc::kMalformedMessage},
      {"x=abc", ScramErrc::kMalformedMessage},
  });

  // Garbage through the server: refused, and the exchange is over.
  ScramServer server = rfc_server();
  EXPECT_FALSE(server.step(std::string(100, ',')).ok());
  EXPECT_EQ(server.step(kRfcClientFirst).error(), ScramErrc::kUnexpectedMessage);
  EXPECT_EQ(rfc_server_answer("c=biws,r=x,p=====").error(), ScramErrc::kMalformedMessage);
  // A proof of the wrong length for the mechanism.
  EXPECT_EQ(rfc_server_answer("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA").error(),
            ScramErrc::kMalformedMessage);
}

TEST(ScramBase64, StrictAndCanonical) {
  EXPECT_EQ(base64_encode(b("")), "");
  EXPECT_EQ(base64_encode(b("f")), "Zg==");
  EXPECT_EQ(base64_encode(b("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(b("foo")), "Zm9v");
  EXPECT_EQ(base64_decode("Zm8="), b("fo"));
  EXPECT_EQ(base64_decode(""), Bytes{});
  EXPECT_EQ(base64_decode("Zm9="), std::nullopt);   // non-zero bits under the padding
  EXPECT_EQ(base64_decode("Zg"), std::nullopt);     // padding required
  EXPECT_EQ(base64_decode(" Zg=="), std::nullopt);  // EVP_DecodeBlock would skip this
  EXPECT_EQ(base64_decode("Z=g="), std::nullopt);
  EXPECT_EQ(base64_decode("===="), std::nullopt);
  EXPECT_EQ(base64_decode("Zm-_"), std::nullopt);  // URL-safe alphabet is another encoding
}

TEST(ScramCredentialText, KnownValuesForTheRfcInputs) {
  EXPECT_EQ(encode_credential(rfc_credential(ScramMechanism::kSha256)), kRfcStoredSha256);
  EXPECT_EQ(encode_credential(rfc_credential(ScramMechanism::kSha512)), kRfcStoredSha512);
  auto parsed = parse_credential(ScramMechanism::kSha256, kRfcStoredSha256);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(*parsed, rfc_credential(ScramMechanism::kSha256));
  // A credential read back from the stored text authenticates the RFC exchange.
  ScramServer server(ScramMechanism::kSha256, store_of({{"user", *parsed}}), fixed(std::string(kRfcServerNonce)));
  ASSERT_TRUE(server.step(kRfcClientFirst).ok());
  EXPECT_EQ(*server.step(kRfcClientFinal), kRfcServerFinal);
}

TEST(ScramCredentialText, RoundTripsAndAcceptsAnyKeyOrder) {
  for (ScramMechanism m : {ScramMechanism::kSha256, ScramMechanism::kSha512}) {
    auto credential = derive(m, "pw", random_salt(), 16384);
    ASSERT_TRUE(credential.ok());
    auto again = parse_credential(m, encode_credential(*credential));
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *credential);
  }
  auto reordered = parse_credential(
      ScramMechanism::kSha256,
      "iterations=4096,server_key=wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=,"
      "stored_key=WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,salt=W22ZaJ0SNY7soEsUEjb6gQ==");
  ASSERT_TRUE(reordered.ok());
  EXPECT_EQ(encode_credential(*reordered), kRfcStoredSha256);
  EXPECT_EQ(mechanism_name(ScramMechanism::kSha256), "SCRAM-SHA-256");
  EXPECT_EQ(mechanism_name(ScramMechanism::kSha512), "SCRAM-SHA-512");
  EXPECT_EQ(parse_mechanism("SCRAM-SHA-512"), ScramMechanism::kSha512);
  EXPECT_EQ(parse_mechanism("SCRAM-SHA-1"), std::nullopt);
  EXPECT_EQ(parse_mechanism("scram-sha-256"), std::nullopt);
}

TEST(ScramCredentialText, MalformedTextIsRefused) {
  const std::string salt = "salt=W22ZaJ0SNY7soEsUEjb6gQ==";
  const std::string stored = "stored_key=WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
  const std::string server = "server_key=wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const std::string bad[] = {
      "",
      salt + "," + stored + "," + server,                                  // iterations missing
      salt + "," + stored + "," + server + ",iterations=4096,extra=1",     // five keys
      salt + "," + stored + "," + stored + ",iterations=4096",             // key twice
      salt + "," + stored + "," + server + ",iterations=",                 // empty number
      salt + "," + stored + "," + server + ",iterations=4096.0",           // not an integer
      salt + "," + stored + "," + server + ",iterations=-4096",
      salt + "," + stored + "," + server + ",iterations=99999999999",
      "salt=,"s + stored + "," + server + ",iterations=4096",              // empty salt
      "salt=W22ZaJ0SNY7soEsUEjb6gQ,"s + stored + "," + server + ",iterations=4096",  // unpadded
      salt + ",stored_key=AAAA," + server + ",iterations=4096",            // wrong key size
      salt + "," + stored + "," + server + ",iterations 4096",
      "SCRAM-SHA-256=" + salt + "," + stored + "," + server + ",iterations=4096",
      salt + "," + stored + "," + server + ",iterations=4096,",
  };
  for (const std::string& text : bad)
    EXPECT_EQ(parse_credential(ScramMechanism::kSha256, text).error(), ScramErrc::kBadCredential) << text;
  EXPECT_EQ(parse_credential(ScramMechanism::kSha256, salt + "," + stored + "," + server + ",iterations=4095").error(),
            ScramErrc::kIterationsOutOfRange);
  // SHA-256 keys are too short for a SHA-512 credential.
  EXPECT_EQ(parse_credential(ScramMechanism::kSha512, kRfcStoredSha256).error(), ScramErrc::kBadCredential);
}

TEST(ScramCredentialText, RandomSaltLooksLikeKafkas) {
  Bytes one = random_salt();
  Bytes two = random_salt();
  EXPECT_EQ(one.size(), 26u);
  EXPECT_NE(one, two);
  for (uint8_t c : one) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << c;
  std::string nonce = random_nonce();
  EXPECT_EQ(nonce.size(), 24u);
  EXPECT_EQ(nonce.find(','), std::string::npos);
}

}  // namespace
}  // namespace keel::security
