// sendfile-limit: the machine's zero-copy ceiling, the number a broker's
// consume path is compared with — sendfile(2) of a page-cached file over a
// loopback TCP connection to a reader that discards, MB/s.
//   sendfile-limit <file> <megabytes> <rounds>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: sendfile-limit <file> <megabytes> <rounds>\n");
    return 2;
  }
  const char* path = argv[1];
  const long long bytes = std::atoll(argv[2]) << 20;
  const int rounds = std::atoi(argv[3]);
  int fd = ::open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 1;
  std::vector<char> block(1 << 20, 'k');
  for (long long w = 0; w < bytes; w += static_cast<long long>(block.size())) {
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) return 1;
  }
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listener, 1) != 0) return 1;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread reader([&] {
    int c = ::accept(listener, nullptr, nullptr);
    std::vector<char> sink(1 << 20);
    while (::read(c, sink.data(), sink.size()) > 0) {
    }
    ::close(c);
  });
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    off_t off = 0;
    const auto start = std::chrono::steady_clock::now();
    while (off < bytes) {
      ssize_t n = ::sendfile(s, fd, &off, static_cast<size_t>(bytes - off));
      if (n <= 0) return 1;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(bytes) / 1e6 / secs);
  }
  ::close(s);
  reader.join();
  ::close(listener);
  ::close(fd);
  ::unlink(path);
  std::printf("{\"mode\":\"sendfile\",\"mb_per_s\":%.1f}\n", best);
  return 0;
}
