// File ranges in a response leave through sendfile(2): the bytes arrive
// intact and in place between the encoded parts, and the sendfile counter
// (not the write counter) grows by their size — the zero-copy proof the
// Fetch path relies on.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <random>
#include <string>

#include "net/server.h"
#include "support/socket_io.h"

namespace keel::net {
namespace {

// Serves every request with: 4-byte size, "HEAD", the file range, "TAIL".
class FileHandler : public RequestHandler {
 public:
  FileHandler(std::shared_ptr<int> fd, int64_t offset, int64_t length)
      : fd_(std::move(fd)), offset_(offset), length_(length) {}
  void handle(const ConnectionInfo&, Frame, std::function<void(Response)> done) override {
    Response r;
    const int32_t size = static_cast<int32_t>(4 + length_ + 4);
    Bytes head(8);
    store_be<int32_t>(head.data(), size);
    std::copy_n("HEAD", 4, head.begin() + 4);
    r.chunks.push_back(std::move(head));
    r.files.push_back({fd_, *fd_, offset_, length_});
    r.chunks.push_back(Bytes{'T', 'A', 'I', 'L'});
    done(std::move(r));
  }

 private:
  std::shared_ptr<int> fd_;
  int64_t offset_;
  int64_t length_;
};

using keel::test_support::read_exact;

TEST(Sendfile, FileRangeArrivesIntactBetweenChunksAndIsCountedAsSendfile) {
  char path[] = "/tmp/keel-sendfile-XXXXXX";
  const int raw_fd = ::mkstemp(path);
  ASSERT_GE(raw_fd, 0);
  ::unlink(path);
  // 8 MiB of random bytes: larger than any socket buffer, so sendfile has to
  // wait for the socket to drain (the EAGAIN path) several times.
  const size_t kSize = 8 << 20;
  Bytes data(kSize);
  std::mt19937 rng(42);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  ASSERT_EQ(::write(raw_fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  auto fd = std::shared_ptr<int>(new int(raw_fd), [](int* p) { ::close(*p); delete p; });
  const int64_t offset = 12345;
  const int64_t length = static_cast<int64_t>(kSize) - offset - 777;

  FileHandler handler(fd, offset, length);
  ServerOptions options;
  options.threads = 1;
  Server server(options, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();

  const IoCounters before = io_counters();
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ports[0]);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const uint8_t request[] = {0, 0, 0, 8, 0, 1, 0, 4, 0, 0, 0, 7};
  ASSERT_EQ(::write(sock, request, sizeof(request)), static_cast<ssize_t>(sizeof(request)));

  Bytes got(8 + static_cast<size_t>(length) + 4);
  ASSERT_TRUE(read_exact(sock, got.data(), got.size()));
  EXPECT_EQ(load_be<int32_t>(got.data()), static_cast<int32_t>(got.size() - 4));
  EXPECT_EQ(std::string(got.begin() + 4, got.begin() + 8), "HEAD");
  EXPECT_TRUE(std::equal(got.begin() + 8, got.begin() + 8 + length, data.begin() + offset))
      << "the file range arrived changed";
  EXPECT_EQ(std::string(got.end() - 4, got.end()), "TAIL");

  const IoCounters after = io_counters();
  EXPECT_EQ(after.sendfile_bytes - before.sendfile_bytes, static_cast<uint64_t>(length));
  EXPECT_GE(after.sendfile_calls - before.sendfile_calls, 1u);
  EXPECT_EQ(after.written_bytes - before.written_bytes, 12u) << "only HEAD and TAIL go through write";
  ::close(sock);
  server.stop();
}

TEST(Sendfile, ARangeBeyondTheFileEndClosesTheConnectionInsteadOfSendingAShortResponse) {
  char path[] = "/tmp/keel-sendfile-XXXXXX";
  const int raw_fd = ::mkstemp(path);
  ASSERT_GE(raw_fd, 0);
  ::unlink(path);
  ASSERT_EQ(::write(raw_fd, "0123456789", 10), 10);
  auto fd = std::shared_ptr<int>(new int(raw_fd), [](int* p) { ::close(*p); delete p; });
  FileHandler handler(fd, 0, 100);  // 90 bytes more than the file has
  Server server({}, handler);
  auto ports = server.listen({{"PLAINTEXT", "127.0.0.1", 0}});
  server.start();
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ports[0]);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{5, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const uint8_t request[] = {0, 0, 0, 8, 0, 1, 0, 4, 0, 0, 0, 7};
  ASSERT_EQ(::write(sock, request, sizeof(request)), static_cast<ssize_t>(sizeof(request)));
  uint8_t buf[256];
  size_t total = 0;
  for (;;) {
    ssize_t n = ::read(sock, buf, sizeof(buf));
    if (n <= 0) {
      EXPECT_EQ(n, 0) << "expected an orderly close";
      break;
    }
    total += static_cast<size_t>(n);
  }
  EXPECT_EQ(total, 8u + 10u) << "the head and the 10 bytes there were, then the close";
  ::close(sock);
  server.stop();
}

}  // namespace
}  // namespace keel::net
