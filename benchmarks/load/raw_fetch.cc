// raw-fetch: a minimal consumer that only fetches — Fetch v12 requests, one
// in flight, each answer read into one buffer and its batches' headers
// walked to find the next offset; records are not parsed. It measures what
// the broker's fetch path delivers when the client costs next to nothing,
// beside keel-load's librdkafka consumer (which measures what an
// application gets).
//   raw-fetch <host> <port> <topic> <partition> <partition-max-bytes>
// Prints one JSON line. Uses Keel's generated protocol code for the encoding.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "protocol/generated/api.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/record_batch.h"

using namespace keel;

namespace {

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t got = ::read(fd, p, n);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "raw-fetch: %s\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr, "usage: raw-fetch <host> <port> <topic> <partition> <partition-max-bytes>\n");
    return 2;
  }
  const std::string topic = argv[3];
  const int32_t partition = std::atoi(argv[4]);
  const int32_t max_bytes = std::atoi(argv[5]);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  ::inet_pton(AF_INET, argv[1], &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("connect");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  constexpr int16_t kVersion = 12;
  int64_t offset = 0;
  int64_t high_watermark = -1;
  int64_t bytes = 0;
  int64_t fetches = 0;
  Bytes buffer;
  const auto start = std::chrono::steady_clock::now();
  while (high_watermark < 0 || offset < high_watermark) {
    protocol::RequestHeader header;
    header.request_api_key = 1;
    header.request_api_version = kVersion;
    header.correlation_id = static_cast<int32_t>(fetches);
    header.client_id = "raw-fetch";
    protocol::FetchRequest req;
    req.replica_id = -1;
    req.max_wait_ms = 0;
    req.min_bytes = 1;
    req.max_bytes = max_bytes;
    req.session_epoch = -1;  // no session
    auto& t = req.topics.emplace_back();
    t.topic = topic;
    auto& p = t.partitions.emplace_back();
    p.partition = partition;
    p.fetch_offset = offset;
    p.partition_max_bytes = max_bytes;
    ByteWriter w;
    w.reserve_bytes(4);
    header.encode(w, protocol::request_header_version(1, kVersion));
    req.encode(w, kVersion);
    Bytes frame = w.take();
    store_be<int32_t>(frame.data(), static_cast<int32_t>(frame.size() - 4));
    if (::write(fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) die("write");
    uint8_t size_be[4];
    if (!read_exact(fd, size_be, 4)) die("closed");
    buffer.resize(static_cast<size_t>(load_be<int32_t>(size_be)));
    if (!read_exact(fd, buffer.data(), buffer.size())) die("closed");
    ByteReader r{ByteView(buffer)};
    protocol::ResponseHeader rh;
    if (!rh.decode(r, protocol::response_header_version(1, kVersion))) die("bad header");
    protocol::FetchResponse resp;
    if (!resp.decode(r, kVersion)) die("bad response");
    ++fetches;
    if (resp.responses.empty() || resp.responses[0].partitions.empty()) die("empty response");
    const auto& pd = resp.responses[0].partitions[0];
    if (pd.error_code != 0) die("partition error");
    high_watermark = pd.high_watermark;
    if (!pd.records || pd.records->empty()) break;
    bytes += static_cast<int64_t>(pd.records->size());
    protocol::BatchIterator it(pd.records->bytes());
    while (true) {
      auto b = it.next();
      if (!b || !*b) break;
      offset = (*b)->last_offset() + 1;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"mode\":\"raw-fetch\",\"bytes\":%lld,\"fetches\":%lld,\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
              static_cast<long long>(bytes), static_cast<long long>(fetches), secs,
              static_cast<double>(bytes) / 1e6 / secs);
  ::close(fd);
  return 0;
}
