// Confluent v3's batch produce, POST /v3/clusters/{c}/topics/{t}/records:batch:
// {"entries":[{"id", ...one record as POST .../records takes it}]}, answered
// 207 with {"successes":[{"id", cluster_id, topic_name, partition_id, offset,
// timestamp, key, value}], "failures":[{"id", error_code, message}]}.
//
// Each entry goes through the single-record route itself (produce_record,
// rest_records.cc) with the entry, without its id, as the body: the same
// parsing, partitioner, Produce under the caller's principal and the same
// errors; an entry refused (a bad field, an unknown partition, an ACL) fails
// alone. Entries are written one after another in their order, so entries
// for one partition get increasing offsets, as one producer's would.
//
// The batch as a whole is refused as Confluent refuses it, 422 with
// error_code 42208, before anything is written: no entries, more than
// kMaxBatchEntries (Confluent's api.v3.produce.batch.maximum.entries
// default), an id that is not a string of 1 to 80 characters, ids not
// distinct.
#include <boost/json.hpp>
#include <memory>
#include <set>

#include "common/json_util.h"
#include "server/rest/rest_api.h"
#include "server/rest/rest_util.h"

namespace keel::server::rest {
namespace {

constexpr size_t kMaxBatchEntries = 10;
constexpr size_t kMaxIdLength = 80;
constexpr int kBatchRefused = 42208;  // Confluent's PRODUCE_BATCH_EXCEPTION_ERROR_CODE

http::Response batch_refused(std::string_view message) { return error(422, kBatchRefused, message); }

// The batch in flight: the entries' own requests live here until the last answers.
struct Batch {
  Caller who;
  std::vector<std::string> ids;
  std::vector<http::Request> requests;
  boost::json::array successes;
  boost::json::array failures;
  http::Reply reply;
};

// The single-record answer for entry `id` -> a success or a failure entry.
void record_answer(Batch& batch, const std::string& id, const http::Response& r) {
  auto parsed = json::parse(r.body);
  const boost::json::object* body = parsed && parsed->is_object() ? &parsed->get_object() : nullptr;
  if (r.status == 200 && body) {
    boost::json::object ok;
    ok["id"] = id;
    for (const auto& [key, value] : *body) {
      if (key != "error_code") ok[key] = value;
    }
    batch.successes.push_back(std::move(ok));
    return;
  }
  boost::json::object failed;
  failed["id"] = id;
  const boost::json::value* code = body ? body->if_contains("error_code") : nullptr;
  failed["error_code"] = code && code->is_int64() ? code->get_int64() : int64_t{r.status};
  const boost::json::value* message = body ? body->if_contains("message") : nullptr;
  failed["message"] = message && message->is_string() ? message->get_string() : boost::json::string(r.body);
  batch.failures.push_back(std::move(failed));
}

}  // namespace

void RestApi::produce_records_batch(const http::Request& req, const Caller& who, http::Reply reply) {
  http::Response refusal;
  auto body = parse_body(req.body, {{"entries", boost::json::kind::array, true}}, &refusal);
  if (!body) return reply(std::move(refusal));
  const boost::json::array& entries = body->get_object().at("entries").get_array();
  auto batch = std::make_shared<Batch>();
  batch->who = who;
  std::set<std::string> seen;
  for (const auto& entry : entries) {
    const boost::json::value* id = json::find(entry, "id");
    if (!id || !id->is_string() || id->get_string().empty() || id->get_string().size() > kMaxIdLength) {
      return reply(batch_refused("Batch entry identifier is not a valid string."));
    }
    if (!seen.emplace(id->get_string()).second) return reply(batch_refused("Batch entry IDs are not distinct."));
    boost::json::object record = entry.get_object();
    record.erase("id");
    http::Request one;
    one.method = "POST";
    one.path = req.path.substr(0, req.path.size() - std::string_view(":batch").size());
    one.target = one.path;
    one.body = json::write(record);
    one.params = req.params;
    if (auto host = req.header("Host")) one.headers.emplace_back("Host", std::string(*host));
    one.peer = req.peer;
    one.tls = req.tls;
    one.tls_subject = req.tls_subject;
    batch->ids.emplace_back(id->get_string());
    batch->requests.push_back(std::move(one));
  }
  if (batch->requests.empty()) return reply(batch_refused("Empty batch."));
  if (batch->requests.size() > kMaxBatchEntries) {
    return reply(batch_refused("Too many entries in batch (at most " + std::to_string(kMaxBatchEntries) + ")."));
  }
  batch->reply = std::move(reply);
  // Entry i, then i + 1 once it is answered; the last answers the batch.
  auto step = std::make_shared<std::function<void(size_t)>>();
  *step = [this, batch, weak = std::weak_ptr<std::function<void(size_t)>>(step)](size_t i) {
    if (i == batch->requests.size()) {
      boost::json::object answer;
      answer["successes"] = std::move(batch->successes);
      answer["failures"] = std::move(batch->failures);
      return batch->reply(json_response(207, answer));
    }
    auto next = weak.lock();
    produce_record(batch->requests[i], batch->who, [batch, next, i](http::Response r) {
      record_answer(*batch, batch->ids[i], r);
      (*next)(i + 1);
    });
  };
  // The chain keeps `step` alive: each entry's reply holds it until the next runs.
  (*step)(0);
}

}  // namespace keel::server::rest
