// net::Client with SASL (ClientOptions::sasl, set_default_client_sasl):
// SaslHandshake + SaslAuthenticate before the first request, a refusal
// failing the requests with kAuthenticationFailed, and KIP-368
// re-authentication between 85% and 95% of the session lifetime without
// losing the requests in flight. The "broker" is a scripted PLAIN server.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "client_test_support.h"
#include "net/client.h"
#include "net/sasl_client.h"
#include "security/sasl_client.h"
#include "support/log_capture.h"

namespace keel::net {
namespace {

using namespace client_test;
using namespace std::chrono_literals;

// What the scripted broker saw, in order: "handshake", "authenticate" or a
// test request's payload; with when each SASL answer went out.
struct Seen {
  std::mutex mu;
  std::vector<std::string> frames;
  std::vector<Clock::time_point> authenticated_at;  // each successful SaslAuthenticate answer
  std::vector<Clock::time_point> handshake_at;

  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu);
    return frames;
  }
};

void write_str(ByteWriter& w, std::string_view s) {
  w.write_i16(static_cast<int16_t>(s.size()));
  w.write_bytes(s);
}

// A PLAIN broker: answers SaslHandshake and SaslAuthenticate (accepting
// "\0broker\0<password>", with `lifetime_ms`), and echoes test requests; a
// request whose payload is "hold:<ms>" is answered after that long.
TestServer::Script plain_broker(std::shared_ptr<Seen> seen, std::string password, int64_t lifetime_ms) {
  return [seen, password, lifetime_ms](int fd, int) {
    while (auto frame = read_frame(fd)) {
      ByteReader r(*frame);
      const int16_t api_key = r.read_i16();
      if (api_key == kSaslHandshakeApiKey || api_key == kSaslAuthenticateApiKey) {
        r.read_i16();  // version
        const int32_t correlation_id = r.read_i32();
        const int16_t id_size = r.read_i16();
        r.read_view(static_cast<size_t>(id_size));
        ByteWriter w;
        w.write_i32(correlation_id);
        if (api_key == kSaslHandshakeApiKey) {
          {
            std::lock_guard lock(seen->mu);
            seen->frames.push_back("handshake");
            seen->handshake_at.push_back(Clock::now());
          }
          w.write_i16(0);
          w.write_i32(1);
          write_str(w, "PLAIN");
          if (!write_frame(fd, w.take())) return;
          continue;
        }
        const int32_t n = r.read_i32();
        const ByteView token = r.read_view(static_cast<size_t>(n));
        const bool good = std::string(token.begin(), token.end()) == std::string("\0broker\0", 8) + password;
        w.write_i16(good ? 0 : 58);
        if (good) {
          w.write_i16(-1);
        } else {
          write_str(w, "Authentication failed: Invalid username or password");
        }
        w.write_i32(0);
        w.write_i64(good ? lifetime_ms : 0);
        {
          std::lock_guard lock(seen->mu);
          seen->frames.push_back("authenticate");
          if (good) seen->authenticated_at.push_back(Clock::now());
        }
        if (!write_frame(fd, w.take()) || !good) return;  // a refused client is closed, as Kafka does
        continue;
      }
      const std::string payload = payload_of(*frame);
      {
        std::lock_guard lock(seen->mu);
        seen->frames.push_back(payload);
      }
      if (payload.starts_with("hold:")) std::this_thread::sleep_for(std::chrono::milliseconds(std::stoi(payload.substr(5))));
      if (!write_frame(fd, *frame)) return;
    }
  };
}

std::shared_ptr<const ClientSasl> plain_sasl(std::string password) {
  auto sasl = std::make_shared<ClientSasl>();
  sasl->mechanism = "PLAIN";
  sasl->client_id = "broker-7";
  sasl->make_mechanism = [password]() { return security::make_plain_client("broker", password); };
  return sasl;
}

// A scripted PLAIN broker (password "pw", sessions of `lifetime_ms`) and a
// client of it that logs in with `password`.
struct SaslSetup {
  SaslSetup(std::string password, int64_t lifetime_ms)
      : server(plain_broker(seen, "pw", lifetime_ms)), rec(runtime), client(runtime, options(password)) {}

  ClientOptions options(const std::string& password) const {
    auto o = options_for(server.port());
    o.sasl = plain_sasl(password);
    return o;
  }

  std::shared_ptr<Seen> seen = std::make_shared<Seen>();
  TestServer server;
  ClientRuntime runtime{"keel-test-sasl"};
  Recorder rec;
  Client client;
};

TEST(ClientSasl, ReauthenticationFallsBetween85And95PercentOfTheLifetime) {
  EXPECT_EQ(reauthentication_delay_ms(1000, 0.0), 850);
  EXPECT_EQ(reauthentication_delay_ms(1000, 0.5), 900);
  EXPECT_LE(reauthentication_delay_ms(1000, 0.9999), 950);
  EXPECT_EQ(reauthentication_delay_ms(3'600'000, 1.0), 3'420'000);
  EXPECT_EQ(reauthentication_delay_ms(1000, -3.0), 850) << "jitter outside [0, 1] is clamped";
  EXPECT_EQ(reauthentication_delay_ms(0, 0.5), 0);
}

TEST(ClientSasl, TheDefaultSaslAuthenticatesBeforeTheFirstRequest) {
  auto seen = std::make_shared<Seen>();
  TestServer server(plain_broker(seen, "pw", 0));
  ASSERT_TRUE(server.ok());
  set_default_client_sasl(plain_sasl("pw"));
  ClientRuntime runtime("keel-test-sasl");
  Recorder rec(runtime);
  {
    Client client(runtime, options_for(server.port()));
    set_default_client_sasl(nullptr);  // the client keeps what it was made with
    send_tagged(client, rec, 1, "one");
    send_tagged(client, rec, 2, "two");
    ASSERT_TRUE(rec.wait_for(2));
    EXPECT_TRUE(client.connected());
  }
  auto out = rec.outcomes();
  ASSERT_TRUE(out[0].result.ok()) << out[0].result.error().message();
  ASSERT_TRUE(out[1].result.ok()) << out[1].result.error().message();
  EXPECT_EQ(payload_of(*out[1].result), "two");
  EXPECT_EQ(seen->snapshot(), (std::vector<std::string>{"handshake", "authenticate", "one", "two"}));
}

TEST(ClientSasl, ARefusalFailsTheRequestsWithAuthenticationFailedAndSendsNone) {
  SaslSetup t("wrong", 0);
  ASSERT_TRUE(t.server.ok());
  auto [seen, client, rec] = std::tie(t.seen, t.client, t.rec);
  send_tagged(client, rec, 1, "one");
  send_tagged(client, rec, 2, "two");
  ASSERT_TRUE(rec.wait_for(2));
  for (const auto& o : rec.outcomes()) EXPECT_TRUE(failed_with(o, ClientErrc::kAuthenticationFailed));
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(seen->snapshot(), (std::vector<std::string>{"handshake", "authenticate"}));
}

// A broker whose login keeps failing (the KDC away) reconnects every
// backoff: one warning for the reason, not one per attempt.
TEST(ClientSasl, TheSameRefusalAgainLogsAtDebug) {
  test::LogCapture logs("net");
  {
    SaslSetup t("wrong", 0);
    ASSERT_TRUE(t.server.ok());
    for (int i = 1; i <= 3; ++i) {
      send_tagged(t.client, t.rec, i, "x");
      ASSERT_TRUE(t.rec.wait_for(static_cast<size_t>(i)));
    }
  }
  EXPECT_EQ(logs.count("SASL authentication with PLAIN failed", "warning"), 1) << logs.text();
  EXPECT_EQ(logs.count("SASL authentication with PLAIN failed", "debug"), 2) << logs.text();
}

TEST(ClientSasl, AnIdleConnectionReauthenticatesBetween85And95PercentOfTheLifetime) {
  SaslSetup t("pw", 1000);
  ASSERT_TRUE(t.server.ok());
  auto [seen, client, rec] = std::tie(t.seen, t.client, t.rec);
  send_tagged(client, rec, 1, "one");
  ASSERT_TRUE(rec.wait_for(1));
  const auto deadline = Clock::now() + 3s;
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(seen->mu);
      if (seen->authenticated_at.size() >= 2) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(seen->mu);
  ASSERT_GE(seen->authenticated_at.size(), 2u);
  ASSERT_GE(seen->handshake_at.size(), 2u);
  const int64_t renewed_after = ms_between(seen->authenticated_at[0], seen->handshake_at[1]);
  EXPECT_GE(renewed_after, 850);
  EXPECT_LE(renewed_after, 950 + 300) << "slack for a loaded machine";
  EXPECT_EQ(seen->frames[3], "handshake") << "the same connection, after the request";
  EXPECT_EQ(t.server.accepted(), 1);
}

TEST(ClientSasl, ReauthenticationWaitsForTheRequestsInFlightAndHoldsBackNewOnes) {
  SaslSetup t("pw", 600);  // renewal due 510-570 ms after authenticating
  ASSERT_TRUE(t.server.ok());
  auto [seen, client, rec] = std::tie(t.seen, t.client, t.rec);
  send_tagged(client, rec, 1, "warm");
  ASSERT_TRUE(rec.wait_for(1));
  send_tagged(client, rec, 2, "hold:800");  // in flight across the renewal point
  std::this_thread::sleep_for(650ms);       // the renewal is due now
  send_tagged(client, rec, 3, "after");
  ASSERT_TRUE(rec.wait_for(3, 5s));
  for (const auto& o : rec.outcomes()) EXPECT_TRUE(o.result.ok()) << o.tag << ": " << o.result.error().message();
  const auto out = rec.outcomes();
  EXPECT_EQ(out[1].tag, 2);
  EXPECT_EQ(payload_of(*out[2].result), "after");
  const auto frames = seen->snapshot();
  ASSERT_GE(frames.size(), 7u);
  EXPECT_EQ(std::vector<std::string>(frames.begin(), frames.begin() + 7),
            (std::vector<std::string>{"handshake", "authenticate", "warm", "hold:800", "handshake", "authenticate",
                                      "after"}));
  EXPECT_EQ(t.server.accepted(), 1) << "renewed on the open connection";
}

// A PLAIN client whose first token waits for `gate` (as GSSAPI's waits for a
// KDC), saying so with may_block().
class GatedLogin : public security::SaslClientMechanism {
 public:
  explicit GatedLogin(std::shared_future<void> gate) : inner_(security::make_plain_client("broker", "pw")),
                                                       gate_(std::move(gate)) {}
  std::string_view name() const override { return inner_->name(); }
  Result<Bytes> respond(ByteView server_token) override {
    if (!started_) {
      started_ = true;
      gate_.wait_for(10s);
    }
    return inner_->respond(server_token);
  }
  bool complete() const override { return inner_->complete(); }
  bool may_block() const override { return !started_; }

 private:
  std::unique_ptr<security::SaslClientMechanism> inner_;
  std::shared_future<void> gate_;
  bool started_ = false;
};

TEST(ClientSasl, ALoginThatWaitsOnAnotherServiceDoesNotHoldTheRuntimesOtherConnections) {
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  struct Opener {
    std::promise<void>& p;
    bool done = false;
    void operator()() {
      if (!done) p.set_value();
      done = true;
    }
    ~Opener() { (*this)(); }
  } release{open};

  auto seen_slow = std::make_shared<Seen>();
  auto seen_fast = std::make_shared<Seen>();
  TestServer slow_server(plain_broker(seen_slow, "pw", 0));
  TestServer fast_server(plain_broker(seen_fast, "pw", 0));
  ASSERT_TRUE(slow_server.ok() && fast_server.ok());
  ClientRuntime runtime("keel-test-sasl");  // one thread for both clients, as a fetcher's
  Recorder slow_rec(runtime), fast_rec(runtime);
  auto slow_options = options_for(slow_server.port());
  auto gated = std::make_shared<ClientSasl>();
  gated->mechanism = "PLAIN";
  gated->client_id = "broker-7";
  gated->make_mechanism = [gate]() { return std::make_unique<GatedLogin>(gate); };
  slow_options.sasl = gated;
  auto fast_options = options_for(fast_server.port());
  fast_options.sasl = plain_sasl("pw");
  Client slow(runtime, slow_options);
  Client fast(runtime, fast_options);

  send_tagged(slow, slow_rec, 1, "slow");
  const auto deadline = Clock::now() + 5s;  // until the slow login is waiting at the gate
  while (Clock::now() < deadline && seen_slow->snapshot().empty()) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(seen_slow->snapshot(), std::vector<std::string>{"handshake"});
  std::this_thread::sleep_for(50ms);

  send_tagged(fast, fast_rec, 2, "fast");
  ASSERT_TRUE(fast_rec.wait_for(1, 3s)) << "the other connection waited for the gated login";
  ASSERT_TRUE(fast_rec.outcomes()[0].result.ok());
  EXPECT_FALSE(slow_rec.wait_for(1, 100ms)) << "the gated login cannot have finished";

  release();
  ASSERT_TRUE(slow_rec.wait_for(1, 5s));
  ASSERT_TRUE(slow_rec.outcomes()[0].result.ok()) << slow_rec.outcomes()[0].result.error().message();
  EXPECT_EQ(seen_slow->snapshot(), (std::vector<std::string>{"handshake", "authenticate", "slow"}));
}

}  // namespace
}  // namespace keel::net
