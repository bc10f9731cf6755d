// How the server cuts the byte stream of a plaintext connection into
// requests: it reads into a buffer of its own, so one read may bring several
// requests, or a request's beginning only. Whatever the pieces, every request
// is handled whole, once, in order; the limits and the mute apply to a
// request already in the buffer as to one still in the socket.

#include "net/server.h"

#include "common/bytes.h"
#include "support/socket_io.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace keel::net {
namespace {

using keel::test_support::read_exact;
using keel::test_support::write_all;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint32_t digest(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = sum * 31 + p[i];
  return sum;
}

// Answers each request at once, from inside handle(), with its size and a
// checksum of its bytes. A request whose first byte is one of these letters
// also acts on its connection first, as the broker's handler does:
//   'M' mutes it for kMuteMs (a client over its quota),
//   'L' lifts its frame limit (SASL authentication succeeded),
//   'S' makes its next frames bare SASL tokens.
// Requests whose first byte is even, and 'M', may run on the network thread.
class ScriptedHandler : public RequestHandler {
 public:
  static constexpr int64_t kMuteMs = 300;

  void handle(const ConnectionInfo& conn, Frame frame, std::function<void(Response)> done) override {
    const int64_t now = steady_ms();
    {
      std::lock_guard lock(mu_);
      handled_at_.push_back(now);
    }
    if (!frame.empty()) {
      switch (frame[0]) {
        case 'M': conn.state->mute_until_ms.store(now + kMuteMs); break;
        case 'L': conn.state->max_frame_bytes.store(0); break;
        case 'S': conn.state->bare_sasl_tokens.store(true); break;
        default: break;
      }
    }
    Bytes out = {0, 0, 0, 8};
    for (uint32_t v : {static_cast<uint32_t>(frame.size()), digest(frame.data(), frame.size())})
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
    Response r;
    r.chunks.push_back(std::move(out));
    done(std::move(r));
  }
  bool runs_on_network_thread(const Frame& frame) const override {
    return !frame.empty() && (frame[0] % 2 == 0 || frame[0] == 'M');
  }

  std::vector<int64_t> handled_at() {
    std::lock_guard lock(mu_);
    return handled_at_;
  }

 private:
  std::mutex mu_;
  std::vector<int64_t> handled_at_;
};

// A request of `size` bytes: `first` then bytes derived from `seed`, with its
// size prefix.
Bytes request(size_t size, uint8_t first, uint32_t seed) {
  Bytes out(4 + size);
  store_be<int32_t>(out.data(), static_cast<int32_t>(size));
  for (size_t i = 4; i < out.size(); ++i) {
    seed = seed * 1103515245u + 12345u;
    out[i] = static_cast<uint8_t>(seed >> 16);
  }
  if (size > 0) out[4] = first;
  return out;
}

template <typename... Parts>
Bytes concat(const Parts&... parts) {
  Bytes out;
  (out.insert(out.end(), parts.begin(), parts.end()), ...);
  return out;
}

bool send_all(int fd, const Bytes& bytes) { return write_all(fd, bytes.data(), bytes.size()); }

ServerOptions one_reactor(int handler_threads = 0) {
  ServerOptions options;
  options.threads = 1;
  options.handler_threads = handler_threads;
  return options;
}

// Expects the answer to `req` (as ScriptedHandler gives it) next on `fd`.
::testing::AssertionResult answered(int fd, const Bytes& req) {
  uint8_t resp[12];
  if (!read_exact(fd, resp, sizeof(resp))) return ::testing::AssertionFailure() << "no answer";
  const uint32_t size = load_be<uint32_t>(resp + 4);
  const uint32_t sum = load_be<uint32_t>(resp + 8);
  if (size != req.size() - 4 || sum != digest(req.data() + 4, req.size() - 4))
    return ::testing::AssertionFailure() << "answer for a " << size << "-byte request, expected "
                                         << req.size() - 4 << " bytes (or its content differs)";
  return ::testing::AssertionSuccess();
}

// Whether the server closes the connection once it has answered, or not,
// the requests before `answers_up_to` (a close drops answers not yet sent).
::testing::AssertionResult closed_after_answering_at_most(int fd, const std::vector<Bytes>& answers_up_to) {
  const size_t expected = 12 * answers_up_to.size();
  Bytes got(expected + 1);
  size_t n = 0;
  for (;;) {
    const ssize_t r = ::read(fd, got.data() + n, got.size() - n);
    if (r == 0 || (r < 0 && errno == ECONNRESET)) break;
    if (r < 0) return ::testing::AssertionFailure() << "still open: " << std::strerror(errno);
    n += static_cast<size_t>(r);
    if (n > expected) return ::testing::AssertionFailure() << "more bytes than the answers expected";
  }
  if (n % 12 != 0) return ::testing::AssertionFailure() << "closed in the middle of an answer";
  return ::testing::AssertionSuccess();
}

class FramingTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = one_reactor(), int32_t unauthenticated_max_frame_bytes = 0) {
    server_ = std::make_unique<Server>(options, handler_);
    ListenerSpec spec{"PLAINTEXT", "127.0.0.1", 0};
    spec.unauthenticated_max_frame_bytes = unauthenticated_max_frame_bytes;
    port_ = server_->listen({spec})[0];
    server_->start();
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    if (server_) server_->stop();
  }
  int connect() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fds_.push_back(fd);
    return fd;
  }
  // Waits until the server side of `fd` has read everything sent to it (its
  // receive queue in /proc/net/tcp is empty): the next bytes sent then reach
  // the server in a read of their own, whatever the load of the machine.
  ::testing::AssertionResult server_read_all(int fd) {
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    const unsigned client_port = ntohs(local.sin_port);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream tcp("/proc/net/tcp");
      std::string line;
      std::getline(tcp, line);  // the header
      while (std::getline(tcp, line)) {
        unsigned local_addr, local_port, rem_addr, rem_port, state, tx_queue, rx_queue;
        if (std::sscanf(line.c_str(), " %*d: %8X:%4X %8X:%4X %2X %8X:%8X", &local_addr, &local_port, &rem_addr,
                        &rem_port, &state, &tx_queue, &rx_queue) != 7)
          continue;
        if (local_port == port_ && rem_port == client_port && rx_queue == 0) return ::testing::AssertionSuccess();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return ::testing::AssertionFailure() << "the server did not read what was sent";
  }

  ScriptedHandler handler_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  std::vector<int> fds_;
};

// Requests of 8 to 400 bytes, over 16 KiB in all, in one write: the server's
// reads end mid-request (and mid-prefix) and must carry the rest over.
void pipelined_requests_in_one_write_are_answered_in_order(int fd) {
  std::vector<Bytes> reqs;
  Bytes burst;
  for (uint32_t i = 0; i < 120; ++i) {
    reqs.push_back(request(8 + (i * 37) % 393, static_cast<uint8_t>('a' + i % 20), i));
    burst.insert(burst.end(), reqs.back().begin(), reqs.back().end());
  }
  ASSERT_GT(burst.size(), size_t{16} << 10);
  ASSERT_TRUE(send_all(fd, burst));
  for (size_t i = 0; i < reqs.size(); ++i) ASSERT_TRUE(answered(fd, reqs[i])) << "request " << i;
}

TEST_F(FramingTest, PipelinedSmallRequestsInOneWriteAreAllAnsweredInOrder) {
  start();
  pipelined_requests_in_one_write_are_answered_in_order(connect());
}

// With handler threads, half of the requests run on the network thread (their
// answers complete there, from inside handle()), half on the handler threads.
TEST_F(FramingTest, PipelinedRequestsSplitBetweenNetworkAndHandlerThreadsAreAnsweredInOrder) {
  start(one_reactor(/*handler_threads=*/2));
  pipelined_requests_in_one_write_are_answered_in_order(connect());
}

// Two requests sent in two pieces, split at every byte boundary in turn: in
// the first prefix, the first body, the second prefix, the second body. (The
// two prefixes differ before their last byte, so the start of the second,
// left in the buffer, cannot be mistaken for the first's.)
TEST_F(FramingTest, RequestsSplitAtEveryByteBoundaryAreReadWhole) {
  start();
  const int fd = connect();
  const Bytes first = request(300, 'a', 1);
  const Bytes second = request(9, 'b', 2);
  const Bytes both = concat(first, second);
  for (size_t split = 1; split < both.size(); ++split) {
    ASSERT_TRUE(write_all(fd, both.data(), split));
    ASSERT_TRUE(server_read_all(fd)) << "split at " << split;
    ASSERT_TRUE(write_all(fd, both.data() + split, both.size() - split));
    ASSERT_TRUE(answered(fd, first)) << "split at " << split;
    ASSERT_TRUE(answered(fd, second)) << "split at " << split;
  }
  // And one byte at a time.
  for (uint8_t b : both) {
    ASSERT_TRUE(write_all(fd, &b, 1));
    ASSERT_TRUE(server_read_all(fd));
  }
  ASSERT_TRUE(answered(fd, first));
  ASSERT_TRUE(answered(fd, second));
}

// Small requests, then a 1 MiB one whose beginning is in the same read, then
// small ones again: once all in one write, once with the large request's
// tail sent later in pieces.
TEST_F(FramingTest, ALargeRequestAfterSmallOnesInTheSameReadArrivesWhole) {
  start();
  const int fd = connect();
  std::vector<Bytes> reqs = {request(10, 'a', 1), request(100, 'b', 2), request(1000, 'c', 3),
                             request(size_t{1} << 20, 'd', 4), request(20, 'e', 5), request(8, 'f', 6)};
  Bytes all;
  for (const auto& r : reqs) all = concat(all, r);
  ASSERT_TRUE(send_all(fd, all));
  for (size_t i = 0; i < reqs.size(); ++i) ASSERT_TRUE(answered(fd, reqs[i])) << "request " << i;

  // The small ones and the large one's first 100 bytes, then the rest.
  const size_t small = reqs[0].size() + reqs[1].size() + reqs[2].size();
  ASSERT_TRUE(write_all(fd, all.data(), small + 100));
  ASSERT_TRUE(server_read_all(fd));
  for (size_t i = 0; i < 3; ++i) ASSERT_TRUE(answered(fd, reqs[i])) << "request " << i;
  for (size_t sent = small + 100; sent < all.size();) {
    const size_t piece = std::min<size_t>(all.size() - sent, 200 << 10);
    ASSERT_TRUE(write_all(fd, all.data() + sent, piece));
    sent += piece;
  }
  for (size_t i = 3; i < reqs.size(); ++i) ASSERT_TRUE(answered(fd, reqs[i])) << "request " << i;
}

// A request that mutes its connection (quota), and one behind it in the same
// write, so in the server's buffer: the second is handled only once the mute
// is over.
void a_muted_connection_handles_nothing_until_the_mute_ends(ScriptedHandler& handler, int fd) {
  const Bytes mute = request(8, 'M', 1);
  const Bytes next = request(8, 'b', 2);
  ASSERT_TRUE(send_all(fd, concat(mute, next)));
  ASSERT_TRUE(answered(fd, mute));
  ASSERT_TRUE(answered(fd, next));
  const auto at = handler.handled_at();
  ASSERT_EQ(at.size(), 2u);
  EXPECT_GE(at[1], at[0] + ScriptedHandler::kMuteMs) << "handled while its connection was muted";
}

TEST_F(FramingTest, AMutedConnectionHandlesNoRequestOfItsBufferUntilTheMuteEnds) {
  start();
  a_muted_connection_handles_nothing_until_the_mute_ends(handler_, connect());
}

// With handler threads the muting request runs on the network thread (the
// mute is set before the reader takes the next request; one muted from a
// handler thread holds back only the requests handed over after it).
TEST_F(FramingTest, AMutedConnectionWithHandlerThreadsHandlesNoRequestOfItsBufferUntilTheMuteEnds) {
  start(one_reactor(/*handler_threads=*/2));
  a_muted_connection_handles_nothing_until_the_mute_ends(handler_, connect());
}

// An invalid size prefix behind a valid request in the same read closes the
// connection (as Kafka does, at once: the valid request's answer may be lost
// with it, as it may when the prefix comes in a read of its own).
TEST_F(FramingTest, AnOversizedSizePrefixInTheBufferClosesTheConnection) {
  ServerOptions options = one_reactor();
  options.max_request_bytes = 1024;
  start(options);
  const int fd = connect();
  const Bytes ok = request(20, 'a', 1);
  const Bytes too_large = {0, 0, 0x04, 0x01, 'x', 'y'};  // 1025 bytes
  ASSERT_TRUE(send_all(fd, concat(ok, too_large)));
  EXPECT_TRUE(closed_after_answering_at_most(fd, {ok}));
}

// The frame limit before authentication applies to each request as it is
// taken from the buffer: lifted by the request before it, a larger one in the
// same read passes; not lifted, it closes the connection.
TEST_F(FramingTest, TheFrameLimitInForceWhenARequestIsTakenFromTheBufferApplies) {
  start(one_reactor(), /*unauthenticated_max_frame_bytes=*/64);
  const Bytes large = request(200, 'b', 2);
  {
    const int fd = connect();
    const Bytes lift = request(8, 'L', 1);
    ASSERT_TRUE(send_all(fd, concat(lift, large)));
    ASSERT_TRUE(answered(fd, lift));
    ASSERT_TRUE(answered(fd, large));
  }
  {
    const int fd = connect();
    const Bytes other = request(8, 'a', 1);
    ASSERT_TRUE(send_all(fd, concat(other, large)));
    EXPECT_TRUE(closed_after_answering_at_most(fd, {other}));
  }
}

// After SaslHandshake v0 the client's frames are bare tokens, shorter than a
// request header: one already in the buffer behind the request that said so
// is read as a 3-byte token, then an empty one.
TEST_F(FramingTest, ABareSaslTokenInTheBufferMayBeShort) {
  start();
  const int fd = connect();
  const Bytes handshake = request(10, 'S', 1);
  const Bytes token = request(3, 'x', 2);
  const Bytes empty = request(0, 0, 3);
  ASSERT_TRUE(send_all(fd, concat(handshake, token, empty)));
  ASSERT_TRUE(answered(fd, handshake));
  ASSERT_TRUE(answered(fd, token));
  ASSERT_TRUE(answered(fd, empty));
}

// The reactor threads carry names top -H shows: keel-net-0, keel-net-1.
TEST_F(FramingTest, NetworkThreadsAreNamed) {
  ServerOptions options;
  options.threads = 2;
  start(options);
  // Each thread names itself as it starts, maybe after start() returned.
  std::set<std::string> names;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(names.count("keel-net-0") && names.count("keel-net-1")) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    DIR* dir = ::opendir("/proc/self/task");
    ASSERT_NE(dir, nullptr);
    while (dirent* e = ::readdir(dir)) {
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      if (std::getline(comm, name)) names.insert(name);
    }
    ::closedir(dir);
  }
  EXPECT_TRUE(names.count("keel-net-0")) << "no thread named keel-net-0";
  EXPECT_TRUE(names.count("keel-net-1")) << "no thread named keel-net-1";
}

}  // namespace
}  // namespace keel::net
