// raw-produce: a minimal producer that only sends — one Produce v9 request
// holding one ~1 MiB record batch, encoded once and sent again and again with
// only its correlation id changed, up to `--depth` requests in flight (5, the
// most librdkafka keeps with idempotence). The broker assigns each copy new
// offsets (the batch's CRC does not cover its base offset), validates it and
// writes it to its log as it would any producer's batch. Beside keel-load's
// librdkafka producer (what an application gets, where the client's own CPU
// per byte outweighs the broker's) it shows what the broker's produce path
// takes in when the client costs next to nothing, as iperf3 does for TCP.
//   raw-produce <host> <port> <topic> <partition> <batches>
//               [--record-size BYTES] [--records-per-batch N] [--depth N] [--acks A]
// Prints one JSON line; mb_per_s counts record values, as keel-load does.
// Every answer is checked: no error, and each batch's base offset is the one
// after the previous batch's last. One untimed batch goes first, retried
// while the partition has no leader yet (a topic just created).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "protocol/generated/api.h"
#include "protocol/generated/produce_request.h"
#include "protocol/generated/produce_response.h"
#include "protocol/generated/request_header.h"
#include "protocol/generated/response_header.h"
#include "protocol/record_batch.h"
#include "support/socket_io.h"

using namespace keel;

namespace {

constexpr int16_t kVersion = 9;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "raw-produce: %s\n", what.c_str());
  std::exit(1);
}

using keel::test_support::read_exact;

void write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t put = ::write(fd, p, n);
    if (put <= 0) die("write failed");
    p += put;
    n -= static_cast<size_t>(put);
  }
}

// The size-prefixed request; its correlation id sits at byte 8 (after the
// size, api key and version).
Bytes encode_request(const std::string& topic, int32_t partition, int16_t acks, const Bytes& batch) {
  protocol::RequestHeader header;
  header.request_api_key = protocol::ProduceRequest::kApiKey;
  header.request_api_version = kVersion;
  header.correlation_id = 0;
  header.client_id = "raw-produce";
  protocol::ProduceRequest req;
  req.acks = acks;
  req.timeout_ms = 30000;
  auto& t = req.topic_data.emplace_back();
  t.name = topic;
  auto& p = t.partition_data.emplace_back();
  p.index = partition;
  p.records = protocol::Records::borrow(ByteView(batch));
  ByteWriter w;
  w.reserve_bytes(4);
  header.encode(w, protocol::request_header_version(protocol::ProduceRequest::kApiKey, kVersion));
  req.encode(w, kVersion);
  Bytes frame = w.take();
  store_be<int32_t>(frame.data(), static_cast<int32_t>(frame.size() - 4));
  return frame;
}

// Reads one answer and returns its partition's base offset and error code.
std::pair<int64_t, int16_t> read_answer_or_error(int fd, int32_t expect_correlation, Bytes& buf) {
  uint8_t size_be[4];
  if (!read_exact(fd, size_be, 4)) die("connection closed");
  buf.resize(static_cast<size_t>(load_be<int32_t>(size_be)));
  if (!read_exact(fd, buf.data(), buf.size())) die("connection closed");
  ByteReader r{ByteView(buf)};
  protocol::ResponseHeader rh;
  if (!rh.decode(r, protocol::response_header_version(protocol::ProduceRequest::kApiKey, kVersion))) {
    die("bad response header");
  }
  if (rh.correlation_id != expect_correlation) die("answer out of order");
  protocol::ProduceResponse resp;
  if (!resp.decode(r, kVersion)) die("bad produce response");
  if (resp.responses.size() != 1 || resp.responses[0].partition_responses.size() != 1) die("unexpected answer shape");
  const auto& pr = resp.responses[0].partition_responses[0];
  return {pr.base_offset, pr.error_code};
}

// The same; dies on an error.
int64_t read_answer(int fd, int32_t expect_correlation, Bytes& buf) {
  const auto [base, error] = read_answer_or_error(fd, expect_correlation, buf);
  if (error != 0) die("produce error " + std::to_string(error));
  return base;
}

// One batch, sent until the partition takes it (a topic just created may not
// have its leader yet: NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, as
// any client retries), before the clock starts. Uses correlation id -1.
void first_batch(int fd, Bytes& frame, Bytes& answer) {
  constexpr int16_t kUnknownTopicOrPartition = 3, kNotLeaderOrFollower = 6;
  store_be<int32_t>(frame.data() + 8, -1);
  for (int attempt = 0;; ++attempt) {
    write_all(fd, frame.data(), frame.size());
    const auto [base, error] = read_answer_or_error(fd, -1, answer);
    if (error == 0) return;
    if ((error != kUnknownTopicOrPartition && error != kNotLeaderOrFollower) || attempt == 100) {
      die("produce error " + std::to_string(error));
    }
    ::usleep(100 * 1000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: raw-produce <host> <port> <topic> <partition> <batches> [--record-size BYTES] "
                 "[--records-per-batch N] [--depth N] [--acks A]\n");
    return 2;
  }
  const std::string topic = argv[3];
  const int32_t partition = std::atoi(argv[4]);
  const long long batches = std::atoll(argv[5]);
  size_t record_size = 1024;
  int records_per_batch = 1000;  // 1000 x 1 KiB values: a ~1 MiB batch, as librdkafka's batch.size 1 MiB packs
  int depth = 5;
  int16_t acks = 1;
  for (int i = 6; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--record-size") {
      record_size = static_cast<size_t>(std::atoll(argv[i + 1]));
    } else if (a == "--records-per-batch") {
      records_per_batch = std::atoi(argv[i + 1]);
    } else if (a == "--depth") {
      depth = std::atoi(argv[i + 1]);
    } else if (a == "--acks") {
      acks = static_cast<int16_t>(std::atoi(argv[i + 1]));
    } else {
      die("unknown option " + a);
    }
  }
  if (batches <= 0 || records_per_batch <= 0 || depth <= 0 || acks == 0) die("bad arguments (acks 0 has no answers)");

  // Record values are not all one byte, so nothing downstream can shortcut them.
  Bytes value(record_size);
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<uint8_t>(i * 131 + 7);
  protocol::RecordBatchBuilder builder;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (int i = 0; i < records_per_batch; ++i) builder.add(now_ms, std::nullopt, ByteView(value));
  auto batch = builder.build();
  if (!batch) die("cannot build the batch");
  Bytes frame = encode_request(topic, partition, acks, *batch);

  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) die("bad host");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) die("connect failed");
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  Bytes answer;
  first_batch(fd, frame, answer);
  long long sent = 0, answered = 0;
  int64_t expect_offset = -1;  // learnt from the first answer
  const auto start = std::chrono::steady_clock::now();
  while (answered < batches) {
    while (sent < batches && sent - answered < depth) {
      store_be<int32_t>(frame.data() + 8, static_cast<int32_t>(sent));
      write_all(fd, frame.data(), frame.size());
      ++sent;
    }
    const int64_t base = read_answer(fd, static_cast<int32_t>(answered), answer);
    if (expect_offset >= 0 && base != expect_offset) {
      die("base offset " + std::to_string(base) + ", expected " + std::to_string(expect_offset));
    }
    expect_offset = base + records_per_batch;
    ++answered;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double value_bytes = static_cast<double>(batches) * records_per_batch * static_cast<double>(record_size);
  std::printf("{\"mode\":\"raw-produce\",\"batches\":%lld,\"records\":%lld,\"wire_bytes\":%lld,\"seconds\":%.3f,"
              "\"records_per_s\":%.0f,\"mb_per_s\":%.1f,\"wire_mb_per_s\":%.1f}\n",
              batches, batches * records_per_batch, batches * static_cast<long long>(frame.size()), secs,
              static_cast<double>(batches * records_per_batch) / secs, value_bytes / 1e6 / secs,
              static_cast<double>(batches) * static_cast<double>(frame.size()) / 1e6 / secs);
  ::close(fd);
  return 0;
}
