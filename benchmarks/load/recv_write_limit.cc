// recv-write-limit: the machine's ceiling for a broker's produce path without
// the broker — a sender thread writes 1 MiB blocks over a loopback TCP
// connection; the receiver reads each block into one reused buffer and
// pwrite(2)s it at the end of a file (page cache only, no sync), starting a
// new file every 256 MiB as a log rolls segments. MB/s received and written.
// With --crc the receiver also runs CRC-32C over each block first (what the
// produce path's validation costs at least).
//   recv-write-limit <dir> <megabytes> [--crc] [--rcvbuf BYTES]
// --rcvbuf sets SO_RCVBUF on the receiving socket (as socket.receive.buffer.bytes
// does on a broker's; by default the kernel autotunes it).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/crc32c.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: recv-write-limit <dir> <megabytes> [--crc] [--rcvbuf BYTES]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const long long total = std::atoll(argv[2]) << 20;
  bool crc = false;
  int rcvbuf = -1;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--crc") crc = true;
    else if (a == "--rcvbuf" && i + 1 < argc) rcvbuf = std::atoi(argv[++i]);
  }
  constexpr size_t kBlock = 1 << 20;
  constexpr long long kSegment = 256LL << 20;
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listener, 1) != 0) return 1;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread sender([&] {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) std::exit(1);
    std::vector<char> block(kBlock);
    for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
    for (long long sent = 0; sent < total;) {
      const ssize_t n = ::write(s, block.data(), block.size());
      if (n <= 0) std::exit(1);
      sent += n;
    }
    ::close(s);
  });
  int c = ::accept(listener, nullptr, nullptr);
  if (rcvbuf > 0) ::setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  std::vector<uint8_t> buf(kBlock);
  int fd = -1;
  int segment = 0;
  long long in_file = 0;
  long long got = 0;
  uint32_t sum = 0;
  const auto start = std::chrono::steady_clock::now();
  while (got < total) {
    if (fd < 0 || in_file >= kSegment) {
      if (fd >= 0) {
        ::close(fd);
        ::unlink((dir + "/seg" + std::to_string(segment - 1)).c_str());
      }
      fd = ::open((dir + "/seg" + std::to_string(segment++)).c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
      if (fd < 0) return 1;
      in_file = 0;
    }
    // One block, read whole (a request body).
    size_t have = 0;
    while (have < kBlock && got + static_cast<long long>(have) < total) {
      const ssize_t n = ::read(c, buf.data() + have, kBlock - have);
      if (n <= 0) return 1;
      have += static_cast<size_t>(n);
    }
    if (crc) sum ^= keel::crc32c(keel::ByteView(buf.data(), have));
    if (::pwrite(fd, buf.data(), have, in_file) != static_cast<ssize_t>(have)) return 1;
    in_file += static_cast<long long>(have);
    got += static_cast<long long>(have);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  sender.join();
  ::close(c);
  ::close(listener);
  if (fd >= 0) ::close(fd);
  ::unlink((dir + "/seg" + std::to_string(segment - 1)).c_str());
  std::printf("{\"mode\":\"recv-write\",\"crc\":%s,\"mb_per_s\":%.1f,\"check\":%u}\n", crc ? "true" : "false",
              static_cast<double>(got) / 1e6 / secs, sum & 1);
  return 0;
}
