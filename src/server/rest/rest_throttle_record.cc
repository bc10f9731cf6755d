#include "server/rest/rest_throttle_record.h"

#include <boost/json.hpp>

#include "common/json_util.h"
#include "coord/coordination_store.h"

namespace keel::server::rest {
namespace {

using coord::CoordErrc;

bool is(const std::error_code& ec, CoordErrc e) { return ec == make_error_code(e); }

std::string encode(const ThrottledSet& s) {
  boost::json::array topics;
  for (const auto& t : s.topics) topics.emplace_back(t);
  boost::json::array brokers;
  for (int32_t b : s.brokers) brokers.emplace_back(b);
  boost::json::object v;
  v["version"] = 1;
  v["topics"] = std::move(topics);
  v["brokers"] = std::move(brokers);
  return json::write(v);
}

// Unknown keys are ignored (a later version may add some); the two lists
// must be what encode() writes.
Result<ThrottledSet> decode(ByteView data) {
  auto v = json::parse(as_string_view(data));
  if (!v) return CoordErrc::kCorrupt;
  const boost::json::value* topics = json::find(*v, "topics");
  const boost::json::value* brokers = json::find(*v, "brokers");
  if (!topics || !topics->is_array() || !brokers || !brokers->is_array()) return CoordErrc::kCorrupt;
  ThrottledSet s;
  for (const auto& t : topics->as_array()) {
    if (!t.is_string()) return CoordErrc::kCorrupt;
    s.topics.emplace(t.get_string());
  }
  for (const auto& b : brokers->as_array()) {
    auto id = json::to_int64(b);
    if (!id || *id < 0 || *id > INT32_MAX) return CoordErrc::kCorrupt;
    s.brokers.insert(static_cast<int32_t>(*id));
  }
  return s;
}

}  // namespace

Result<ThrottledSet> ThrottleRecord::read() const {
  coord::CoordinationStore* store = store_ ? store_() : nullptr;
  if (!store) return CoordErrc::kConnectionLoss;
  auto node = store->get(kPath);
  if (!node) return is(node.error(), CoordErrc::kNoNode) ? Result<ThrottledSet>(ThrottledSet{}) : node.error();
  return decode(node->data);
}

Result<void> ThrottleRecord::update(const std::function<void(ThrottledSet&)>& change) const {
  coord::CoordinationStore* store = store_ ? store_() : nullptr;
  if (!store) return CoordErrc::kConnectionLoss;
  // Each lost race means another REST call wrote the node meanwhile: a
  // handful of calls at most, never a livelock in practice; bounded anyway.
  for (int attempt = 0; attempt < 32; ++attempt) {
    auto node = store->get(kPath);
    if (!node && !is(node.error(), CoordErrc::kNoNode)) return node.error();
    ThrottledSet s;
    if (node) {
      auto recorded = decode(node->data);
      if (!recorded) return recorded.error();
      s = std::move(*recorded);
    }
    change(s);
    const std::string data = encode(s);
    if (node) {
      auto r = store->set(kPath, as_bytes(data), node->stat.version);
      if (r || !is(r.error(), CoordErrc::kBadVersion)) return r ? Result<void>() : r.error();
      continue;
    }
    if (auto parent = coord::create_recursive(*store, "/keel"); !parent) return parent;
    auto r = store->create(kPath, as_bytes(data), coord::CreateMode::kPersistent);
    if (r || !is(r.error(), CoordErrc::kNodeExists)) return r ? Result<void>() : r.error();
  }
  return CoordErrc::kBadVersion;
}

Result<ThrottledSet> ThrottleRecord::add(const ThrottledSet& more) const {
  ThrottledSet added;
  auto r = update([&](ThrottledSet& s) {
    added = {};  // recomputed on each attempt: another writer may have added some meanwhile
    for (const auto& t : more.topics) {
      if (s.topics.insert(t).second) added.topics.insert(t);
    }
    for (int32_t b : more.brokers) {
      if (s.brokers.insert(b).second) added.brokers.insert(b);
    }
  });
  if (!r) return r.error();
  return added;
}

Result<void> ThrottleRecord::remove(const ThrottledSet& done) const {
  return update([&](ThrottledSet& s) {
    for (const auto& t : done.topics) s.topics.erase(t);
    for (int32_t b : done.brokers) s.brokers.erase(b);
  });
}

}  // namespace keel::server::rest
