#include "security/sasl_client.h"

#include <utility>

namespace keel::security {

namespace {

Bytes to_bytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

class PlainClient final : public SaslClientMechanism {
 public:
  PlainClient(std::string username, std::string password)
      : username_(std::move(username)), password_(std::move(password)) {}

  std::string_view name() const override { return "PLAIN"; }

  Result<Bytes> respond(ByteView server_token) override {
    switch (state_) {
      case State::kInitial: {
        state_ = State::kSent;
        std::string token;
        token.reserve(username_.size() + password_.size() + 2);
        token.push_back('\0');  // no authzid: the principal is the username
        token += username_;
        token.push_back('\0');
        token += password_;
        return to_bytes(token);
      }
      case State::kSent:
        // Kafka's PlainSaslServer answers a good token with an empty one.
        if (!server_token.empty()) {
          state_ = State::kFailed;
          return SaslClientErrc::kUnexpectedToken;
        }
        state_ = State::kComplete;
        return Bytes{};
      case State::kComplete:
      case State::kFailed:
        break;
    }
    state_ = State::kFailed;
    return SaslClientErrc::kUnexpectedToken;
  }

  bool complete() const override { return state_ == State::kComplete; }

 private:
  enum class State { kInitial, kSent, kComplete, kFailed };
  std::string username_;
  std::string password_;
  State state_ = State::kInitial;
};

class ScramClientMechanism final : public SaslClientMechanism {
 public:
  ScramClientMechanism(ScramMechanism mechanism, std::string username, std::string password,
                       ScramNonceSource nonce_source)
      : mechanism_(mechanism),
        client_(mechanism, std::move(username), std::move(password), {}, {}, std::move(nonce_source)) {}

  std::string_view name() const override { return mechanism_name(mechanism_); }

  Result<Bytes> respond(ByteView server_token) override {
    const std::string_view text(reinterpret_cast<const char*>(server_token.data()), server_token.size());
    switch (step_++) {
      case 0: {
        auto first = client_.first_message();
        if (!first) return first.error();
        return to_bytes(*first);
      }
      case 1: {
        auto final_message = client_.handle_server_first(text);
        if (!final_message) return final_message.error();
        return to_bytes(*final_message);
      }
      case 2: {
        auto verified = client_.handle_server_final(text);
        if (!verified) return verified.error();
        return Bytes{};
      }
      default:
        return SaslClientErrc::kUnexpectedToken;
    }
  }

  bool complete() const override { return client_.complete(); }
  std::string server_error() const override { return client_.server_error(); }

 private:
  ScramMechanism mechanism_;
  ScramClient client_;
  int step_ = 0;
};

}  // namespace

std::unique_ptr<SaslClientMechanism> make_plain_client(std::string username, std::string password) {
  return std::make_unique<PlainClient>(std::move(username), std::move(password));
}

std::unique_ptr<SaslClientMechanism> make_scram_client(ScramMechanism mechanism, std::string username,
                                                       std::string password, ScramNonceSource nonce_source) {
  return std::make_unique<ScramClientMechanism>(mechanism, std::move(username), std::move(password),
                                                std::move(nonce_source));
}

Result<std::unique_ptr<SaslClientMechanism>> make_password_sasl_client(std::string_view name,
                                                                        const PasswordLogin& login) {
  const bool plain = name == "PLAIN";
  const auto scram = parse_mechanism(name);
  if (!plain && !scram) return SaslClientErrc::kUnknownMechanism;
  if (login.username.empty() || login.password.empty()) return SaslClientErrc::kMissingCredentials;
  if (plain) return make_plain_client(login.username, login.password);
  return make_scram_client(*scram, login.username, login.password);
}

}  // namespace keel::security
