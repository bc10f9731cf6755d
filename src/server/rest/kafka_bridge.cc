#include "server/rest/kafka_bridge.h"

#include <unistd.h>

#include <string_view>

#include "common/log.h"
#include "common/thread_name.h"
#include "protocol/generated/request_header.h"
#include "server/sasl.h"

namespace keel::server::rest {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("rest");
  return l;
}

class BridgeCategory : public std::error_category {
 public:
  const char* name() const noexcept override { return "rest-bridge"; }
  std::string message(int e) const override {
    switch (static_cast<BridgeErrc>(e)) {
      case BridgeErrc::kBusy: return "too many REST calls waiting";
      case BridgeErrc::kUnavailable: return "the broker is not serving requests (starting or stopping)";
      case BridgeErrc::kClosed: return "the broker refused the request";
      case BridgeErrc::kBadResponse: return "the broker's answer could not be decoded";
    }
    return "unknown";
  }
};

}  // namespace

const std::error_category& bridge_category() {
  static BridgeCategory c;
  return c;
}

KafkaBridge::KafkaBridge(std::string listener_name, Dispatch dispatch, int threads, size_t queue_limit)
    : listener_name_(std::move(listener_name)), dispatch_(std::move(dispatch)), queue_limit_(queue_limit) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    workers_.emplace_back([q = queue_, i] {
      set_thread_name("keel-rest-" + std::to_string(i));
      for (;;) {
        std::function<void()> work;
        {
          std::unique_lock lock(q->mu);
          q->cv.wait(lock, [&] { return q->stopping || !q->work.empty(); });
          if (q->work.empty()) return;  // stopping, and drained
          work = std::move(q->work.front());
          q->work.pop_front();
        }
        try {
          work();
        } catch (const std::exception& e) {
          log()->error("REST call failed: {}", e.what());
        }
      }
    });
  }
}

KafkaBridge::~KafkaBridge() { stop(); }

bool KafkaBridge::post(std::function<void()> work) {
  {
    std::lock_guard lock(queue_->mu);
    if (queue_->stopping || queue_->work.size() >= queue_limit_) return false;
    queue_->work.push_back(std::move(work));
  }
  queue_->cv.notify_one();
  return true;
}

void KafkaBridge::stop() {
  {
    std::lock_guard lock(queue_->mu);
    queue_->stopping = true;
  }
  queue_->cv.notify_all();
  std::lock_guard lock(workers_mu_);
  for (auto& t : workers_) {
    // The last reference may go on a worker (a late answer): that one ends by itself.
    if (t.get_id() == std::this_thread::get_id()) t.detach();
    else if (t.joinable()) t.join();
  }
  workers_.clear();
}

void KafkaBridge::call_raw(const Caller& who, int16_t api_key, int16_t version, Bytes body,
                           std::function<void(Result<Bytes>)> done) {
  protocol::RequestHeader header;
  header.request_api_key = api_key;
  header.request_api_version = version;
  header.correlation_id = next_correlation_id_.fetch_add(1);
  header.client_id = "keel-rest";
  ByteWriter w;
  header.encode(w, protocol::request_header_version(api_key, version));
  w.write_bytes(ByteView(body));
  // A connection of its own per call: the Router keeps per-connection state
  // (SASL stage) that must not leak from one caller to the next.
  net::ConnectionInfo conn;
  conn.id = (uint64_t{1} << 62) | next_connection_id_.fetch_add(1);
  conn.peer = who.peer;
  conn.listener_name = listener_name_;
  // The HTTP side authenticated the caller itself: no SASL exchange is due,
  // whatever the security protocol of the listener named.
  conn.state->auth.store(static_cast<uint8_t>(AuthStage::kNotRequired));
  // The Router names the principal from the connection: User:<tls_principal>
  // when set (server/sasl.h connection_principal); anonymous otherwise.
  constexpr std::string_view kUser = "User:";
  if (who.principal.compare(0, kUser.size(), kUser) == 0 && who.principal != "User:ANONYMOUS") {
    conn.tls_principal = who.principal.substr(kUser.size());
  }
  const int16_t response_header = protocol::response_header_version(api_key, version);
  const bool sent = dispatch_(conn, w.take(), [done, response_header](net::Response r) {
    if (r.close_after && r.chunks.empty()) return done(make_error_code(BridgeErrc::kClosed));
    Bytes out;
    for (size_t i = 0; i < r.chunks.size(); ++i) {
      out.insert(out.end(), r.chunks[i].begin(), r.chunks[i].end());
      // A Fetch answer's record ranges (sendfile on a socket) sit between its encoded parts.
      if (i < r.files.size()) {
        const auto& f = r.files[i];
        const size_t at = out.size();
        out.resize(at + static_cast<size_t>(f.length));
        if (::pread(f.fd, out.data() + at, static_cast<size_t>(f.length), f.offset) != f.length) {
          return done(make_error_code(BridgeErrc::kBadResponse));
        }
      }
    }
    if (out.size() < 4) return done(make_error_code(BridgeErrc::kBadResponse));
    ByteReader reader(ByteView(out).subspan(4));
    protocol::ResponseHeader h;
    if (!h.decode(reader, response_header)) return done(make_error_code(BridgeErrc::kBadResponse));
    done(Bytes(out.begin() + static_cast<ptrdiff_t>(4 + reader.position()), out.end()));
  });
  if (!sent) done(make_error_code(BridgeErrc::kUnavailable));
}

}  // namespace keel::server::rest
