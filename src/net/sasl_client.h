#pragma once
// The Kafka framing of SASL on a broker's own connections to other brokers
// (inter-broker SASL), as Kafka's SaslClientAuthenticator speaks it:
// SaslHandshake v1 names the mechanism (the broker answers with its enabled
// list, or UNSUPPORTED_SASL_MECHANISM), then SaslAuthenticate v1 carries each
// token of the mechanism (security/sasl_client.h) until the mechanism is
// complete. The last SaslAuthenticate answer's session_lifetime_ms (KIP-368,
// the server's connections.max.reauth.ms) says when the connection must
// authenticate again, which is the same exchange on the open connection.
//
// No I/O here: the exchange hands out request frames (header v1 and body,
// without the size prefix, as net::Client::send takes them) and takes the
// response frames (correlation id first) back, so the client's connection
// sends them like any other request, and a unit test drives it directly.
// Not thread-safe: one exchange per connection, on the connection's thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "security/sasl_client.h"

namespace keel::net {

inline constexpr int16_t kSaslHandshakeApiKey = 17;
inline constexpr int16_t kSaslAuthenticateApiKey = 36;

// When a client re-authenticates (KIP-368), counted from the end of its
// authentication: at 85% of the session lifetime plus up to 10% more by
// `jitter` (uniform in [0, 1)), as Kafka's SaslClientAuthenticator does, so
// that the renewal finishes before the broker's deadline despite latency and
// clock drift, and many connections do not renew at the same moment.
int64_t reauthentication_delay_ms(int64_t session_lifetime_ms, double jitter);

class SaslClientExchange {
 public:
  struct Step {
    enum class Kind { kSend, kDone, kFailed };
    Kind kind = Kind::kFailed;
    Bytes frame;                  // kSend: the request (header and body)
    int32_t correlation_id = 0;   // kSend: the id its response must carry
    int64_t session_lifetime_ms = 0;  // kDone: 0 when the server set no lifetime
    std::string error;            // kFailed: what went wrong, in words for the log
  };

  // `client_id` goes into every request header (Kafka's brokers send their
  // own, e.g. "broker-1-fetcher-0"); `next_correlation_id` gives the ids.
  SaslClientExchange(std::unique_ptr<security::SaslClientMechanism> mechanism, std::string client_id,
                     std::function<int32_t()> next_correlation_id);

  // The SaslHandshake request.
  Step start();
  // The response to the last request handed out: the next request, the end,
  // or a failure (the connection must close; nothing more is to be sent).
  Step on_response(ByteView response);

  const security::SaslClientMechanism& mechanism() const { return *mechanism_; }

 private:
  enum class State { kInitial, kAwaitHandshake, kAwaitAuthenticate, kDone, kFailed };

  Step request(int16_t api_key, ByteView body);
  Step authenticate_with(ByteView server_token);
  Step failed(std::string why);

  std::unique_ptr<security::SaslClientMechanism> mechanism_;
  std::string client_id_;
  std::function<int32_t()> next_correlation_id_;
  State state_ = State::kInitial;
  int32_t expected_correlation_id_ = 0;
};

}  // namespace keel::net
