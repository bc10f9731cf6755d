// The client side of PLAIN and SCRAM for inter-broker SASL (security/sasl_client.h),
// checked against Keel's own SCRAM server and Kafka's PLAIN token layout.

#include "security/sasl_client.h"

#include <gtest/gtest.h>

#include <string>

namespace keel::security {
namespace {

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }
ByteView view(const std::string& s) { return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

TEST(PlainSaslClient, SendsNulUserNulPasswordAndCompletesOnTheEmptyAnswer) {
  auto m = make_plain_client("broker", "s3cret");
  EXPECT_EQ(m->name(), "PLAIN");
  auto first = m->respond({});
  ASSERT_TRUE(first);
  EXPECT_EQ(text(*first), std::string("\0broker\0s3cret", 14));
  EXPECT_FALSE(m->complete());
  auto last = m->respond({});
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->empty());
  EXPECT_TRUE(m->complete());
  EXPECT_EQ(m->respond({}).error(), make_error_code(SaslClientErrc::kUnexpectedToken));
}

TEST(PlainSaslClient, ANonEmptyAnswerIsRefused) {
  auto m = make_plain_client("broker", "s3cret");
  ASSERT_TRUE(m->respond({}));
  EXPECT_EQ(m->respond(view("surprise")).error(), make_error_code(SaslClientErrc::kUnexpectedToken));
  EXPECT_FALSE(m->complete());
}

// Runs the client against Keel's ScramServer holding `stored_password`'s
// credential; the server's error, if it refused.
std::error_code scram_round(ScramMechanism mech, const std::string& password, const std::string& stored_password,
                            SaslClientMechanism** out_client = nullptr) {
  auto credential = derive(mech, stored_password, random_salt(), 4096);
  EXPECT_TRUE(credential);
  ScramServer server(mech, [&](std::string_view user) -> std::optional<ScramCredential> {
    if (user == "broker") return *credential;
    return std::nullopt;
  });
  auto client = make_scram_client(mech, "broker", password);
  auto token = client->respond({});
  if (!token) return token.error();
  for (int round = 0; round < 3 && !client->complete(); ++round) {
    auto answer = server.step(std::string_view(reinterpret_cast<const char*>(token->data()), token->size()));
    if (!answer) return answer.error();
    token = client->respond(view(*answer));
    if (!token) return token.error();
  }
  EXPECT_TRUE(client->complete());
  EXPECT_TRUE(server.complete());
  EXPECT_EQ(server.username(), "broker");
  return {};
}

TEST(ScramSaslClient, AuthenticatesToKeelsScramServerWithBothHashes) {
  EXPECT_FALSE(scram_round(ScramMechanism::kSha256, "pw-256", "pw-256"));
  EXPECT_FALSE(scram_round(ScramMechanism::kSha512, "pw-512", "pw-512"));
}

TEST(ScramSaslClient, AWrongPasswordIsRefusedByTheServer) {
  auto credential = derive(ScramMechanism::kSha256, "right", random_salt(), 4096);
  ASSERT_TRUE(credential);
  ScramServer server(ScramMechanism::kSha256,
                     [&](std::string_view) -> std::optional<ScramCredential> { return *credential; });
  auto client = make_scram_client(ScramMechanism::kSha256, "broker", "wrong");
  auto first = client->respond({});
  ASSERT_TRUE(first);
  auto server_first = server.step(text(*first));
  ASSERT_TRUE(server_first);
  auto final_message = client->respond(view(*server_first));
  ASSERT_TRUE(final_message);
  EXPECT_EQ(server.step(text(*final_message)).error(), make_error_code(ScramErrc::kAuthenticationFailed));
  EXPECT_FALSE(client->complete());
}

TEST(ScramSaslClient, AServerFinalWithAWrongSignatureFailsTheClient) {
  auto client = make_scram_client(ScramMechanism::kSha256, "broker", "pw", [] { return std::string("cnonce"); });
  ASSERT_TRUE(client->respond({}));
  const std::string server_first = "r=cnonceSERVER,s=" + base64_encode(view("saltsaltsalt")) + ",i=4096";
  ASSERT_TRUE(client->respond(view(server_first)));
  const std::string forged = "v=" + base64_encode(Bytes(32, 7));
  EXPECT_EQ(client->respond(view(forged)).error(), make_error_code(ScramErrc::kServerSignatureMismatch));
  EXPECT_FALSE(client->complete());
}

TEST(PasswordSaslClient, TheMechanismNameAndTheJaasCredentialsChooseIt) {
  PasswordLogin login{PasswordLogin::Module::kScram, "broker", "pw"};
  auto scram = make_password_sasl_client("SCRAM-SHA-512", login);
  ASSERT_TRUE(scram);
  EXPECT_EQ((*scram)->name(), "SCRAM-SHA-512");
  auto plain = make_password_sasl_client("PLAIN", login);
  ASSERT_TRUE(plain);
  EXPECT_EQ((*plain)->name(), "PLAIN");
  EXPECT_EQ(make_password_sasl_client("GSSAPI", login).error(), make_error_code(SaslClientErrc::kUnknownMechanism));
  EXPECT_EQ(make_password_sasl_client("scram-sha-256", login).error(),
            make_error_code(SaslClientErrc::kUnknownMechanism));
  login.password.clear();
  EXPECT_EQ(make_password_sasl_client("PLAIN", login).error(), make_error_code(SaslClientErrc::kMissingCredentials));
}

}  // namespace
}  // namespace keel::security
