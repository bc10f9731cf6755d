#include "net/sasl_client.h"

#include <algorithm>
#include <string_view>
#include <utility>

namespace keel::net {

namespace {

// Kafka's error codes these two APIs answer with.
constexpr int16_t kUnsupportedSaslMechanism = 33;
constexpr int16_t kIllegalSaslState = 34;
constexpr int16_t kSaslAuthenticationFailed = 58;

std::string error_name(int16_t code) {
  switch (code) {
    case kUnsupportedSaslMechanism: return "UNSUPPORTED_SASL_MECHANISM";
    case kIllegalSaslState: return "ILLEGAL_SASL_STATE";
    case kSaslAuthenticationFailed: return "SASL_AUTHENTICATION_FAILED";
    default: return "error code " + std::to_string(code);
  }
}

void write_string(ByteWriter& w, std::string_view s) {
  w.write_i16(static_cast<int16_t>(s.size()));
  w.write_bytes(s);
}

std::string read_string(ByteReader& r) {
  const int16_t n = r.read_i16();
  if (n < 0) return {};
  const ByteView v = r.read_view(static_cast<size_t>(n));
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

}  // namespace

int64_t reauthentication_delay_ms(int64_t session_lifetime_ms, double jitter) {
  if (session_lifetime_ms <= 0) return 0;
  jitter = std::clamp(jitter, 0.0, 1.0);
  return static_cast<int64_t>(static_cast<double>(session_lifetime_ms) * (0.85 + 0.10 * jitter));
}

SaslClientExchange::SaslClientExchange(std::unique_ptr<security::SaslClientMechanism> mechanism,
                                       std::string client_id, std::function<int32_t()> next_correlation_id)
    : mechanism_(std::move(mechanism)),
      client_id_(std::move(client_id)),
      next_correlation_id_(std::move(next_correlation_id)) {}

SaslClientExchange::Step SaslClientExchange::request(int16_t api_key, ByteView body) {
  Step step;
  step.kind = Step::Kind::kSend;
  step.correlation_id = next_correlation_id_();
  expected_correlation_id_ = step.correlation_id;
  ByteWriter w(body.size() + 16 + client_id_.size());
  w.write_i16(api_key);
  w.write_i16(1);  // SaslHandshake v1, SaslAuthenticate v1 (v1 answers session_lifetime_ms)
  w.write_i32(step.correlation_id);
  write_string(w, client_id_);
  w.write_bytes(body);
  step.frame = w.take();
  return step;
}

SaslClientExchange::Step SaslClientExchange::failed(std::string why) {
  state_ = State::kFailed;
  Step step;
  step.kind = Step::Kind::kFailed;
  step.error = std::move(why);
  return step;
}

SaslClientExchange::Step SaslClientExchange::start() {
  if (state_ != State::kInitial) return failed("the SASL exchange was already started");
  state_ = State::kAwaitHandshake;
  ByteWriter body;
  write_string(body, mechanism_->name());
  return request(kSaslHandshakeApiKey, body.buffer());
}

SaslClientExchange::Step SaslClientExchange::authenticate_with(ByteView server_token) {
  auto token = mechanism_->respond(server_token);
  if (!token) {
    std::string why = std::string(mechanism_->name()) + ": " + token.error().message();
    if (!mechanism_->server_error().empty()) why += " (the broker says: " + mechanism_->server_error() + ")";
    if (!mechanism_->detail().empty()) why += ": " + mechanism_->detail();
    return failed(why);
  }
  if (mechanism_->complete()) {
    // The server's last token checked out; nothing more to send.
    state_ = State::kDone;
    Step done;
    done.kind = Step::Kind::kDone;
    return done;
  }
  state_ = State::kAwaitAuthenticate;
  ByteWriter body(token->size() + 4);
  body.write_i32(static_cast<int32_t>(token->size()));
  body.write_bytes(*token);
  return request(kSaslAuthenticateApiKey, body.buffer());
}

SaslClientExchange::Step SaslClientExchange::on_response(ByteView response) {
  ByteReader r(response);
  const int32_t correlation_id = r.read_i32();
  if (!r.ok() || correlation_id != expected_correlation_id_)
    return failed("a SASL response with correlation id " + std::to_string(correlation_id) + ", expected " +
                  std::to_string(expected_correlation_id_));
  switch (state_) {
    case State::kAwaitHandshake: {
      const int16_t error = r.read_i16();
      const int32_t count = r.read_i32();
      std::string enabled;
      for (int32_t i = 0; r.ok() && i < count; ++i) enabled += (i ? ", " : "") + read_string(r);
      if (!r.ok()) return failed("a malformed SaslHandshake response");
      if (error != 0) {
        return failed("the broker refused SASL mechanism " + std::string(mechanism_->name()) + " (" +
                      error_name(error) + "); it enables: " + (enabled.empty() ? "none" : enabled));
      }
      return authenticate_with({});
    }
    case State::kAwaitAuthenticate: {
      const int16_t error = r.read_i16();
      const int16_t message_size = r.read_i16();
      std::string message;
      if (message_size > 0) {
        const ByteView v = r.read_view(static_cast<size_t>(message_size));
        message.assign(reinterpret_cast<const char*>(v.data()), v.size());
      }
      const int32_t token_size = r.read_i32();
      const ByteView token = token_size > 0 ? r.read_view(static_cast<size_t>(token_size)) : ByteView{};
      const int64_t lifetime_ms = r.read_i64();
      if (!r.ok()) return failed("a malformed SaslAuthenticate response");
      if (error != 0) {
        return failed(std::string(mechanism_->name()) + " authentication failed (" + error_name(error) + ")" +
                      (message.empty() ? "" : ": " + message));
      }
      Step next = authenticate_with(token);
      if (next.kind == Step::Kind::kDone) next.session_lifetime_ms = lifetime_ms > 0 ? lifetime_ms : 0;
      return next;
    }
    case State::kInitial:
    case State::kDone:
    case State::kFailed:
      break;
  }
  return failed("a SASL response when none was expected");
}

}  // namespace keel::net
