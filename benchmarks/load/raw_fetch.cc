// raw-fetch: a minimal consumer that only fetches — Fetch v12 requests, each
// answer streamed through one small reused buffer (1 MiB, like the reader of
// sendfile-limit) while its batches' headers are walked to find the next
// offset; records are not parsed. It measures what the broker's fetch path
// delivers when the client costs next to nothing, beside keel-load's
// librdkafka consumer (which measures what an application gets).
//
// Two fetches in flight: as soon as the header of an answer's last batch has
// arrived, the next offset is known and the next request goes out, while the
// rest of that batch is still being read — so the broker is never idle
// waiting for a client's round trip (librdkafka keeps one fetch per broker in
// flight; this is what the broker can do when the client does not).
//   raw-fetch <host> <port> <topic> <partition> <partition-max-bytes>
//             [--depth 1|2] [--chunk BYTES] [--whole]
// --depth 1: one fetch in flight (the ping-pong); --whole: read each answer
// into one buffer of its size and decode it with the generated code (the
// earlier client, kept for comparison). Prints one JSON line. Uses Keel's
// generated protocol code for the requests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "protocol/generated/api.h"
#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/record_batch.h"
#include "support/socket_io.h"

using namespace keel;

namespace {

constexpr int16_t kVersion = 12;

using keel::test_support::read_exact;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "raw-fetch: %s\n", what);
  std::exit(1);
}

struct Client {
  int fd = -1;
  std::string topic;
  int32_t partition = 0;
  int32_t max_bytes = 0;
  int32_t correlation = 0;

  void send_fetch(int64_t offset) {
    protocol::RequestHeader header;
    header.request_api_key = 1;
    header.request_api_version = kVersion;
    header.correlation_id = correlation++;
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
  }
};

// What the fixed part of a Fetch v12 answer with one topic and one partition
// says, up to the first record byte.
struct Prefix {
  size_t records_at = 0;     // offset of the first record byte in the answer
  int64_t records_size = 0;  // -1: null records
  int64_t high_watermark = -1;
};

void skip_tagged(ByteReader& r) {
  uint32_t n = r.read_uvarint();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    r.read_uvarint();
    r.read_view(r.read_uvarint());
  }
}

// False while `bytes` is too short to hold the prefix; dies on an answer that
// is not one topic with one partition and no error.
bool parse_prefix(ByteView bytes, Prefix& out) {
  ByteReader r(bytes);
  r.read_i32();  // correlation id
  skip_tagged(r);
  r.read_i32();  // throttle
  const int16_t error = r.read_i16();
  r.read_i32();  // session id
  const uint32_t topics = r.read_uvarint();
  r.read_view(r.read_uvarint() - 1);  // topic name
  const uint32_t partitions = r.read_uvarint();
  r.read_i32();  // partition index
  const int16_t perror = r.read_i16();
  out.high_watermark = r.read_i64();
  r.read_i64();  // last stable offset
  r.read_i64();  // log start offset
  const uint32_t aborted = r.read_uvarint();
  for (uint32_t i = 1; i < aborted && r.ok(); ++i) {
    r.read_i64();
    r.read_i64();
    skip_tagged(r);
  }
  r.read_i32();  // preferred read replica
  const uint32_t records = r.read_uvarint();
  if (!r.ok()) return false;
  if (error != 0 || perror != 0) die("fetch error");
  if (topics != 2 || partitions != 2) die("expected one topic with one partition");
  out.records_size = static_cast<int64_t>(records) - 1;
  out.records_at = bytes.size() - r.remaining();
  return true;
}

// Walks the batch headers of a records section that arrives in pieces.
struct BatchWalker {
  int64_t next = 0;  // position of the next batch in the section
  int64_t end = 0;   // section size
  uint8_t header[27];
  size_t have = 0;
  int64_t next_offset = -1;  // after the last whole batch seen
  bool done = false;         // no further whole batch in this section

  // `p` holds the section's bytes [at, at + n).
  void feed(const uint8_t* p, int64_t at, int64_t n) {
    while (!done) {
      if (next + 12 > end) {
        done = true;
        break;
      }
      const int64_t want_at = next + static_cast<int64_t>(have);
      if (want_at >= at + n) break;
      const size_t take = static_cast<size_t>(std::min<int64_t>(sizeof header - have, at + n - want_at));
      if (next + static_cast<int64_t>(have + take) > end) {
        done = true;
        break;
      }
      std::memcpy(header + have, p + (want_at - at), take);
      have += take;
      if (have < sizeof header) {
        if (next + static_cast<int64_t>(sizeof header) > end) done = true;
        break;
      }
      const int32_t length = load_be<int32_t>(header + 8);
      if (length < 49) die("bad batch length");
      if (next + 12 + length > end) {
        done = true;  // a partial batch at the end
        break;
      }
      next_offset = load_be<int64_t>(header) + load_be<int32_t>(header + 23) + 1;
      next += 12 + length;
      have = 0;
      if (next >= end) done = true;
    }
  }
};

struct Totals {
  int64_t bytes = 0;
  int64_t fetches = 0;
};

// The earlier client: one answer into one buffer, decoded by the generated code.
void run_whole(Client& c, Totals& t) {
  int64_t offset = 0;
  int64_t high_watermark = -1;
  Bytes buffer;
  while (high_watermark < 0 || offset < high_watermark) {
    c.send_fetch(offset);
    uint8_t size_be[4];
    if (!read_exact(c.fd, size_be, 4)) die("closed");
    buffer.resize(static_cast<size_t>(load_be<int32_t>(size_be)));
    if (!read_exact(c.fd, buffer.data(), buffer.size())) die("closed");
    ByteReader r{ByteView(buffer)};
    protocol::ResponseHeader rh;
    if (!rh.decode(r, protocol::response_header_version(1, kVersion))) die("bad header");
    protocol::FetchResponse resp;
    if (!resp.decode(r, kVersion)) die("bad response");
    ++t.fetches;
    if (resp.responses.empty() || resp.responses[0].partitions.empty()) die("empty response");
    const auto& pd = resp.responses[0].partitions[0];
    if (pd.error_code != 0) die("partition error");
    high_watermark = pd.high_watermark;
    if (!pd.records || pd.records->empty()) break;
    t.bytes += static_cast<int64_t>(pd.records->size());
    protocol::BatchIterator it(pd.records->bytes());
    while (true) {
      auto b = it.next();
      if (!b || !*b) break;
      offset = (*b)->last_offset() + 1;
    }
  }
}

void run_stream(Client& c, Totals& t, int depth, size_t chunk) {
  Bytes buf(chunk);
  int64_t offset = 0;
  int64_t high_watermark = -1;
  int in_flight = 0;
  c.send_fetch(offset);
  ++in_flight;
  while (in_flight > 0) {
    uint8_t size_be[4];
    if (!read_exact(c.fd, size_be, 4)) die("closed");
    const int64_t total = load_be<int32_t>(size_be);
    --in_flight;
    ++t.fetches;
    // The prefix: read until it parses (it is a few dozen bytes).
    int64_t got = 0;
    Prefix prefix;
    while (true) {
      const ssize_t n = ::read(c.fd, buf.data() + got, static_cast<size_t>(std::min<int64_t>(
                                                            total - got, static_cast<int64_t>(buf.size()) - got)));
      if (n <= 0) die("closed");
      got += n;
      if (parse_prefix(ByteView(buf.data(), static_cast<size_t>(got)), prefix)) break;
      if (got == total || got == static_cast<int64_t>(buf.size())) die("bad response");
    }
    high_watermark = prefix.high_watermark;
    BatchWalker walk;
    walk.end = std::max<int64_t>(0, prefix.records_size);
    const int64_t records_at = static_cast<int64_t>(prefix.records_at);
    bool sent_next = false;
    auto consume = [&](const uint8_t* p, int64_t at, int64_t n) {
      // [at, at + n) of the answer: the part inside the records section.
      const int64_t lo = std::max(at, records_at), hi = std::min(at + n, records_at + walk.end);
      if (lo < hi) walk.feed(p + (lo - at), lo - records_at, hi - lo);
      if (walk.done && !sent_next) {
        sent_next = true;
        if (walk.next_offset >= 0) offset = walk.next_offset;
        if (walk.next_offset >= 0 && offset < high_watermark && depth > 1) {
          c.send_fetch(offset);  // the next answer follows this one without a round trip
          ++in_flight;
        }
      }
    };
    consume(buf.data(), 0, got);
    while (got < total) {
      const ssize_t n = ::read(c.fd, buf.data(), static_cast<size_t>(std::min<int64_t>(total - got, buf.size())));
      if (n <= 0) die("closed");
      consume(buf.data(), got, n);
      got += n;
    }
    t.bytes += std::max<int64_t>(0, prefix.records_size);
    if (walk.next_offset < 0) {
      if (in_flight == 0) break;  // nothing more to read
      continue;
    }
    if (in_flight == 0 && offset < high_watermark) {
      c.send_fetch(offset);
      ++in_flight;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: raw-fetch <host> <port> <topic> <partition> <partition-max-bytes> "
                 "[--depth 1|2] [--chunk BYTES] [--whole]\n");
    return 2;
  }
  Client c;
  c.topic = argv[3];
  c.partition = std::atoi(argv[4]);
  c.max_bytes = std::atoi(argv[5]);
  int depth = 2;
  size_t chunk = 1 << 20;
  bool whole = false;
  for (int i = 6; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--depth" && i + 1 < argc) {
      depth = std::atoi(argv[++i]);
    } else if (a == "--chunk" && i + 1 < argc) {
      chunk = static_cast<size_t>(std::atoll(argv[++i]));
    } else if (a == "--whole") {
      whole = true;
    } else {
      die("unknown option");
    }
  }
  if (chunk < 4096) die("--chunk must be at least 4096");
  c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  ::inet_pton(AF_INET, argv[1], &addr.sin_addr);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("connect");
  int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  Totals t;
  const auto start = std::chrono::steady_clock::now();
  if (whole) {
    run_whole(c, t);
  } else {
    run_stream(c, t, depth, chunk);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"mode\":\"raw-fetch\",\"bytes\":%lld,\"fetches\":%lld,\"seconds\":%.3f,\"mb_per_s\":%.1f}\n",
              static_cast<long long>(t.bytes), static_cast<long long>(t.fetches), secs,
              static_cast<double>(t.bytes) / 1e6 / secs);
  ::close(c.fd);
  return 0;
}
