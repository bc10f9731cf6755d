// The web console's server side under /keel/v1: the message browser (records
// of one partition from an offset or a time, with a server-side search over
// keys, values and headers, and a download) and a consumer group's lag trend.
// Records are read with Kafka Fetch requests under the caller's principal, so
// READ on the topic is needed exactly as for a consumer; the lag trend needs
// DESCRIBE on the group (a DescribeGroups is made first).
#include <algorithm>
#include <memory>

#include <boost/json.hpp>

#include "protocol/generated/fetch_request.h"
#include "protocol/generated/fetch_response.h"
#include "protocol/generated/list_offsets_request.h"
#include "protocol/generated/list_offsets_response.h"
#include "protocol/record_batch.h"
#include "security/scram.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_keel_util.h"

namespace keel::server::rest {
namespace {


constexpr int64_t kDefaultLimit = 50;
constexpr int64_t kMaxLimit = 1000;
constexpr int32_t kFetchBytes = 1 << 20;          // per Fetch
constexpr int64_t kSearchScanBytes = 64ll << 20;   // a search reads at most this much per call
constexpr int kMaxFetches = 256;

bool valid_utf8(ByteView b) {
  size_t i = 0;
  while (i < b.size()) {
    const uint8_t c = b[i];
    const size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : 4;
    if (n == 4 || i + n >= b.size()) {
      if (n != 0) return false;  // a bad lead byte, or a sequence cut at the end
    }
    for (size_t k = 1; k <= n; ++k) {
      if ((b[i + k] & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

// A key, value or header value as JSON: text when it is UTF-8, else base64
// (then `<name>_encoding` says so); null for a null one.
void set_bytes(boost::json::object& out, const std::string& name, const std::optional<ByteView>& b) {
  if (!b) {
    out[name] = nullptr;
    return;
  }
  if (valid_utf8(*b)) {
    out[name] = std::string(reinterpret_cast<const char*>(b->data()), b->size());
  } else {
    out[name] = security::base64_encode(*b);
    out[name + "_encoding"] = "base64";
  }
}

bool contains(const std::optional<ByteView>& b, std::string_view needle) {
  if (!b) return false;
  std::string_view hay(reinterpret_cast<const char*>(b->data()), b->size());
  return hay.find(needle) != std::string_view::npos;
}

// What one browse asks for and what it has found so far.
struct Browse {
  std::string topic;
  int32_t partition = 0;
  int64_t next = 0;  // the next offset to read
  int64_t limit = kDefaultLimit;
  std::string search;
  bool in_key = true, in_value = true, in_headers = true;
  bool download = false;
  int64_t byte_cap = kSearchScanBytes;  // bytes read (search) or written (download)
  int64_t scanned = 0;
  int64_t written = 0;
  int fetches = 0;
  int64_t high_watermark = -1;
  int64_t log_start = -1;
  bool capped = false;
  boost::json::array records;
  std::string lines;  // the download body, one JSON record per line
};

bool matches(const Browse& b, const protocol::Record& r) {
  if (b.search.empty()) return true;
  if (b.in_key && contains(r.key, b.search)) return true;
  if (b.in_value && contains(r.value, b.search)) return true;
  if (b.in_headers) {
    for (const auto& h : r.headers) {
      if (h.key.find(b.search) != std::string_view::npos || contains(h.value, b.search)) return true;
    }
  }
  return false;
}

boost::json::object record_json(const protocol::RecordBatchView& batch, const protocol::Record& r, int32_t partition) {
  boost::json::object v;
  v["partition_id"] = partition;
  v["offset"] = r.offset;
  v["timestamp"] = r.timestamp;
  v["timestamp_type"] = batch.timestamp_type() == protocol::TimestampType::kLogAppendTime ? "LOG_APPEND_TIME" : "CREATE_TIME";
  set_bytes(v, "key", r.key);
  set_bytes(v, "value", r.value);
  boost::json::array headers;
  for (const auto& h : r.headers) {
    boost::json::object hv;
    hv["key"] = std::string(h.key);
    set_bytes(hv, "value", h.value);
    headers.push_back(std::move(hv));
  }
  v["headers"] = std::move(headers);
  return v;
}

// Takes the records of one Fetch answer; false when the browse is complete.
bool take(Browse& b, ByteView bytes) {
  protocol::BatchIterator it(bytes);
  Bytes scratch;
  while (auto batch = it.next()) {
    if (!*batch) return false;
    const protocol::RecordBatchView& view = **batch;
    b.scanned += static_cast<int64_t>(view.size_bytes());
    if (view.last_offset() < b.next) continue;
    if (view.is_control()) {
      b.next = view.last_offset() + 1;
      continue;
    }
    auto records = view.decode_records(scratch);
    if (!records) return false;
    for (const auto& r : *records) {
      if (r.offset < b.next) continue;
      b.next = r.offset + 1;
      if (!matches(b, r)) continue;
      boost::json::object v = record_json(view, r, b.partition);
      if (b.download) {
        std::string line = json::write(v) + "\n";
        if (b.written + static_cast<int64_t>(line.size()) > b.byte_cap) {
          b.next = r.offset;
          b.capped = true;
          return false;
        }
        b.written += static_cast<int64_t>(line.size());
        b.lines += line;
      } else {
        b.records.push_back(std::move(v));
      }
      if (static_cast<int64_t>(b.records.size()) >= b.limit && !b.download) return false;
    }
    b.next = std::max(b.next, view.last_offset() + 1);
  }
  if (!b.download && b.scanned >= b.byte_cap) {
    b.capped = true;
    return false;
  }
  return true;
}

http::Response answer(const Browse& b) {
  if (b.download) {
    http::Response r;
    r.content_type = "application/x-ndjson";
    r.body = b.lines;
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + b.topic + "-" +
                                                      std::to_string(b.partition) + ".jsonl\"");
    r.headers.emplace_back("X-Keel-Next-Offset", std::to_string(b.next));
    r.headers.emplace_back("X-Keel-Truncated", b.capped ? "true" : "false");
    return r;
  }
  boost::json::object v;
  v["kind"] = "KeelRecordList";
  v["topic_name"] = b.topic;
  v["partition_id"] = b.partition;
  v["next_offset"] = b.next;
  v["high_watermark"] = b.high_watermark;
  v["log_start_offset"] = b.log_start;
  v["scanned_bytes"] = b.scanned;
  // true: the search stopped at its byte cap; ask again from next_offset.
  v["scan_capped"] = b.capped;
  v["data"] = boost::json::array(b.records);
  return json_response(200, v);
}

}  // namespace

void RestApi::register_console_routes(http::Routes& routes) {
  add(routes, "GET", kKeelCluster + "/topics/{topic_name}/records", &RestApi::browse_records);
  add(routes, "GET", kKeelCluster + "/consumer-groups/{consumer_group_id}/lag-history", &RestApi::get_lag_history);
  if (options_.lag_source) lag_history_->start(options_.lag_source, options_.lag_history_interval_ms);
}

// ?partition=P (default 0) and offset=O | timestamp=T (ms; the first record at
// or after it) | neither (the log start), limit=N, search=S, in=key,value,headers,
// format=download (JSON lines, capped at console.records.download.max.bytes).
void RestApi::browse_records(const http::Request& req, const Caller& who, http::Reply reply) {
  auto b = std::make_shared<Browse>();
  b->topic = req.param("topic_name");
  std::optional<int64_t> offset, timestamp;
  for (const auto& [k, v] : req.query_params()) {
    std::optional<int64_t> n;
    if (k == "partition") {
      if (!(n = parse_int(v, 0, INT32_MAX))) return reply(error(400, "partition must be an integer >= 0"));
      b->partition = static_cast<int32_t>(*n);
    } else if (k == "offset") {
      if (!(offset = parse_int(v, 0, INT64_MAX))) return reply(error(400, "offset must be an integer >= 0"));
    } else if (k == "timestamp") {
      if (!(timestamp = parse_int(v, 0, INT64_MAX))) return reply(error(400, "timestamp must be ms since the epoch"));
    } else if (k == "limit") {
      if (!(n = parse_int(v, 1, kMaxLimit))) return reply(error(400, "limit must be in [1, 1000]"));
      b->limit = *n;
    } else if (k == "search") {
      b->search = v;
    } else if (k == "in") {
      b->in_key = b->in_value = b->in_headers = false;
      size_t at = 0;
      while (at <= v.size()) {
        const size_t comma = std::min(v.find(',', at), v.size());
        const std::string part = v.substr(at, comma - at);
        if (part == "key") b->in_key = true;
        else if (part == "value") b->in_value = true;
        else if (part == "headers") b->in_headers = true;
        else return reply(error(400, "in takes key, value and headers, comma-separated"));
        at = comma + 1;
      }
    } else if (k == "format") {
      if (v != "download" && v != "json") return reply(error(400, "format must be json or download"));
      b->download = v == "download";
    } else {
      return reply(error(400, "unknown query parameter '" + k + "'"));
    }
  }
  if (offset && timestamp) return reply(error(400, "give offset or timestamp, not both"));
  if (b->download) {
    if (options_.records_download_max_bytes <= 0) {
      return reply(error(403, kAuthorizationFailed, "downloads are turned off (console.records.download.max.bytes)"));
    }
    b->byte_cap = options_.records_download_max_bytes;
  }
  auto self = shared_from_this();
  // One Fetch from b->next; an answer that wants more posts the next step to
  // a worker. `step` holds itself while a Fetch is out; every end clears it.
  auto step = std::make_shared<std::function<void()>>();
  *step = [self, who, b, reply, step] {
    protocol::FetchRequest f;
    f.replica_id = -1;
    f.max_wait_ms = 0;
    f.max_bytes = kFetchBytes;
    f.topics.emplace_back();
    f.topics.back().topic = b->topic;
    protocol::FetchRequest::FetchPartition p;
    p.partition = b->partition;
    p.fetch_offset = b->next;
    p.partition_max_bytes = kFetchBytes;
    f.topics.back().partitions.push_back(p);
    self->bridge_.call<protocol::FetchResponse>(who, f, 11, [self, b, reply, step](Result<protocol::FetchResponse> r) {
      auto next_step = std::move(*step);  // the cycle ends here unless continued
      if (!r) return reply(bridge_error(r.error()));
      if (r->error_code != 0) return reply(keel_kafka_error(r->error_code, ""));
      if (r->responses.size() != 1 || r->responses[0].partitions.size() != 1) {
        return reply(error(500, kKafkaError, "Fetch answered no partition"));
      }
      const auto& pd = r->responses[0].partitions[0];
      if (pd.error_code != 0) return reply(keel_kafka_error(pd.error_code, ""));
      b->high_watermark = pd.high_watermark;
      b->log_start = pd.log_start_offset;
      if (b->next < pd.log_start_offset) b->next = pd.log_start_offset;
      const int64_t before = b->next;
      const bool more = take(*b, pd.records ? pd.records->bytes() : ByteView());
      if (!more || b->next >= pd.high_watermark || b->next == before || ++b->fetches >= kMaxFetches) {
        return reply(answer(*b));
      }
      *step = std::move(next_step);
      if (!self->bridge_.post([step] { (*step)(); })) {
        *step = nullptr;
        reply(error(503, "the broker is busy or stopping; try again"));
      }
    });
  };
  if (offset) {
    b->next = *offset;
    return (*step)();
  }
  // The offset of the timestamp, or the log start (ListOffsets under the caller too).
  protocol::ListOffsetsRequest lo;
  lo.replica_id = -1;
  lo.topics.emplace_back();
  lo.topics.back().name = b->topic;
  protocol::ListOffsetsRequest::ListOffsetsPartition lp;
  lp.partition_index = b->partition;
  lp.timestamp = timestamp ? *timestamp : -2;
  lo.topics.back().partitions.push_back(lp);
  bridge_.call<protocol::ListOffsetsResponse>(who, lo, 7, [b, reply, step](Result<protocol::ListOffsetsResponse> r) {
    if (!r) {
      *step = nullptr;
      return reply(bridge_error(r.error()));
    }
    if (r->topics.size() != 1 || r->topics[0].partitions.size() != 1) {
      *step = nullptr;
      return reply(error(500, kKafkaError, "ListOffsets answered no partition"));
    }
    const auto& p = r->topics[0].partitions[0];
    if (p.error_code != 0) {
      *step = nullptr;
      return reply(keel_kafka_error(p.error_code, ""));
    }
    if (p.offset < 0) {  // no record at or after the time: nothing to show
      *step = nullptr;
      b->next = -1;
      return reply(answer(*b));
    }
    b->next = p.offset;
    (*step)();
  });
}

void RestApi::get_lag_history(const http::Request& req, const Caller& who, http::Reply reply) {
  describe_group(req, who, reply, [history = lag_history_](const auto& g) {
    boost::json::array data;
    if (auto samples = history->samples(g.group_id)) {
      for (const auto& s : *samples) {
        boost::json::object v;
        v["time"] = s.time_ms;
        v["lag"] = s.lag;
        v["lag_seconds"] = s.lag_seconds >= 0 ? boost::json::value(s.lag_seconds) : boost::json::value();
        data.push_back(std::move(v));
      }
    }
    boost::json::object v;
    v["kind"] = "KeelConsumerGroupLagHistory";
    v["consumer_group_id"] = g.group_id;
    v["data"] = std::move(data);
    return json_response(200, v);
  });
}

}  // namespace keel::server::rest
