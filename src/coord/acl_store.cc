#include "coord/acl_store.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>
#include <set>
#include <string_view>

#include "common/log.h"
#include "common/thread_name.h"

namespace keel::coord {

using security::AccessControlEntry;
using security::PatternType;
using security::ResourcePattern;
using security::ResourceType;
namespace zk = security::zk;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("coord");
  return l;
}

bool is(const std::error_code& ec, CoordErrc e) { return ec == make_error_code(e); }

ByteView view_of(const std::string& s) { return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }
std::string_view text_of(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// The two kinds of pattern the layout stores, in the order the listener
// indexes them (0: literal, 1: extended).
constexpr PatternType kKinds[] = {PatternType::kLiteral, PatternType::kPrefixed};

// Kafka's AclAuthorizer gives up after this many lost races on one node.
constexpr int kMaxUpdateRetries = 10;

// The sequence number of `acl_changes_0000000042`; nullopt for any other name.
std::optional<int64_t> change_sequence(std::string_view name) {
  if (!name.starts_with(zk::kChangePrefix)) return std::nullopt;
  name.remove_prefix(std::string_view(zk::kChangePrefix).size());
  int64_t seq = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), seq);
  if (name.empty() || ec != std::errc() || end != name.data() + name.size()) return std::nullopt;
  return seq;
}

// Entries in first-seen order without repeats: a node is a set in Kafka.
std::vector<AccessControlEntry> without_repeats(std::vector<AccessControlEntry> entries) {
  std::set<AccessControlEntry> seen;
  std::erase_if(entries, [&](const AccessControlEntry& e) { return !seen.insert(e).second; });
  return entries;
}

bool same_set(const std::vector<AccessControlEntry>& a, const std::vector<AccessControlEntry>& b) {
  return std::set<AccessControlEntry>(a.begin(), a.end()) == std::set<AccessControlEntry>(b.begin(), b.end());
}

}  // namespace

// --- AclStore ----------------------------------------------------------------------------

Result<void> AclStore::ensure_paths() {
  for (PatternType kind : kKinds) {
    if (auto r = create_recursive(store_, zk::acl_root(kind)); !r) return r;
    for (int8_t code = 2; code <= 7; ++code) {  // every concrete resource type, as Kafka's createAclPaths
      const auto type = security::resource_type_from_code(code);
      if (auto r = create_recursive(store_, zk::acl_type_path(type, kind)); !r) return r;
    }
    if (auto r = create_recursive(store_, zk::acl_change_parent(kind)); !r) return r;
  }
  return {};
}

Result<VersionedAcls> AclStore::resource_acls(const ResourcePattern& pattern, std::string* error_message) {
  const std::string path = zk::acl_node_path(pattern);
  auto node = store_.get(path);
  if (!node) {
    if (is(node.error(), CoordErrc::kNoNode)) return VersionedAcls{};
    return node.error();
  }
  std::string why;
  auto entries = zk::decode_acl_node(text_of(node->data), &why);
  if (!entries) {
    if (error_message) *error_message = "ACL node " + path + ": " + why;
    return CoordErrc::kCorrupt;
  }
  return VersionedAcls{std::move(*entries), node->stat.version};
}

Result<std::vector<PatternAcls>> AclStore::all_acls(std::string* error_message) {
  std::vector<PatternAcls> out;
  for (PatternType kind : kKinds) {
    const std::string root = zk::acl_root(kind);
    auto types = store_.children(root);
    if (!types) {
      if (is(types.error(), CoordErrc::kNoNode)) continue;  // nobody has written ACLs of this kind
      return types.error();
    }
    for (const auto& type_name : *types) {
      const ResourceType type = security::parse_resource_type(type_name);
      // Kafka's own layout has only the concrete types here; anything else
      // is not an ACL of ours and is left alone.
      if (type == ResourceType::kUnknown || type == ResourceType::kAny) {
        log()->warn("ignoring {}/{}: not a resource type", root, type_name);
        continue;
      }
      auto names = store_.children(root + "/" + type_name);
      if (!names) {
        if (is(names.error(), CoordErrc::kNoNode)) continue;
        return names.error();
      }
      for (const auto& name : *names) {
        ResourcePattern pattern{type, name, kind};
        auto acls = resource_acls(pattern, error_message);
        if (!acls) return acls.error();
        if (!acls->entries.empty()) out.push_back({std::move(pattern), std::move(acls->entries)});
      }
    }
  }
  return out;
}

Result<std::vector<AccessControlEntry>> AclStore::update_resource_acls(const ResourcePattern& pattern,
                                                                       const AclChange& change, bool* changed,
                                                                       std::string* error_message) {
  if (changed) *changed = false;
  std::lock_guard lock(update_mu_);
  const std::string path = zk::acl_node_path(pattern);
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 0; attempt <= kMaxUpdateRetries; ++attempt) {
    if (attempt > 0) {
      // Another broker wrote the node between our read and our write: back
      // off a little (with jitter, so two brokers do not collide again).
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + jitter() % 30));
    }
    auto current = resource_acls(pattern, error_message);
    if (!current) return current.error();
    std::vector<AccessControlEntry> next = without_repeats(change(current->entries));
    if (same_set(next, current->entries)) return current->entries;

    Result<void> written;
    if (next.empty()) {
      written = store_.remove(path, current->version);
      if (!written && is(written.error(), CoordErrc::kNoNode)) written = {};  // gone already: as wanted
    } else if (current->version < 0) {
      const std::string data = zk::encode_acl_node(next);
      auto created = store_.create(path, view_of(data), CreateMode::kPersistent);
      if (!created && is(created.error(), CoordErrc::kNoNode)) {
        // The type's parent is missing (a store Kafka's tools never set up).
        if (auto r = create_recursive(store_, zk::acl_type_path(pattern.type, pattern.pattern_type)); !r) return r.error();
        created = store_.create(path, view_of(data), CreateMode::kPersistent);
      }
      if (!created) written = created.error();
    } else {
      const std::string data = zk::encode_acl_node(next);
      auto set = store_.set(path, view_of(data), current->version);
      if (!set) written = set.error();
    }
    if (!written) {
      const auto& ec = written.error();
      if (is(ec, CoordErrc::kBadVersion) || is(ec, CoordErrc::kNodeExists) || is(ec, CoordErrc::kNoNode) ||
          is(ec, CoordErrc::kNotEmpty)) {
        continue;  // lost a race: read again
      }
      return ec;
    }
    if (changed) *changed = true;
    if (auto r = write_change(pattern); !r) {
      if (error_message) *error_message = "ACLs of " + path + " written, but not their change notification";
      return r.error();
    }
    return next;
  }
  if (error_message) {
    *error_message = "ACLs of " + path + " not updated: other writers changed the node " +
                     std::to_string(kMaxUpdateRetries + 1) + " times in a row";
  }
  return CoordErrc::kBadVersion;
}

Result<void> AclStore::write_change(const ResourcePattern& pattern) {
  const std::string parent = zk::acl_change_parent(pattern.pattern_type);
  const std::string data = zk::encode_acl_change(pattern);
  auto created = store_.create(parent + "/" + zk::kChangePrefix, view_of(data), CreateMode::kPersistentSequential);
  if (!created && is(created.error(), CoordErrc::kNoNode)) {
    if (auto r = create_recursive(store_, parent); !r) return r;
    created = store_.create(parent + "/" + zk::kChangePrefix, view_of(data), CreateMode::kPersistentSequential);
  }
  if (!created) return created.error();
  return {};
}

Result<std::vector<AclStore::Change>> AclStore::changes_after(PatternType kind, int64_t after_seq, Watch watch) {
  const std::string parent = zk::acl_change_parent(kind);
  auto names = store_.children(parent, std::move(watch));
  if (!names) return names.error();
  std::vector<Change> out;
  for (const auto& name : *names) {
    auto seq = change_sequence(name);
    if (!seq || *seq <= after_seq) continue;
    auto node = store_.get(parent + "/" + name);
    if (!node) {
      if (is(node.error(), CoordErrc::kNoNode)) continue;  // purged meanwhile
      return node.error();
    }
    std::string why;
    auto pattern = kind == PatternType::kLiteral ? zk::decode_literal_acl_change(text_of(node->data), &why)
                                                 : zk::decode_extended_acl_change(text_of(node->data), &why);
    if (!pattern) {
      log()->warn("skipping ACL change notification {}/{}: {}", parent, name, why);
      continue;
    }
    out.push_back({*seq, std::move(*pattern)});
  }
  std::sort(out.begin(), out.end(), [](const Change& a, const Change& b) { return a.sequence < b.sequence; });
  return out;
}

Result<int64_t> AclStore::last_change(PatternType kind, Watch watch) {
  auto names = store_.children(zk::acl_change_parent(kind), std::move(watch));
  if (!names) return names.error();
  int64_t last = -1;
  for (const auto& name : *names) last = std::max(last, change_sequence(name).value_or(-1));
  return last;
}

Result<void> AclStore::purge_changes(PatternType kind, int64_t now_ms, int64_t max_age_ms) {
  const std::string parent = zk::acl_change_parent(kind);
  auto names = store_.children(parent);
  if (!names) return names.error();
  for (const auto& name : *names) {
    if (!change_sequence(name)) continue;  // not a notification: not ours to delete
    const std::string path = parent + "/" + name;
    auto stat = store_.exists(path);
    if (!stat) return stat.error();
    const bool expired = *stat && (*stat)->ctime_ms < now_ms - max_age_ms;
    if (!expired) continue;
    auto removed = store_.remove(path);
    if (!removed && !is(removed.error(), CoordErrc::kNoNode)) return removed;  // another broker's purge won
  }
  return {};
}

// --- AclChangeListener ----------------------------------------------------------------------

AclChangeListener::AclChangeListener(AclStore& store, security::AclAuthorizer& authorizer,
                                     std::function<int64_t()> now_ms)
    : store_(store), authorizer_(authorizer), now_ms_(std::move(now_ms)) {}

AclChangeListener::~AclChangeListener() { stop(); }

Watch AclChangeListener::watch_for(int kind) {
  return [signal = signal_, kind](const WatchEvent&) {
    std::lock_guard lock(signal->mu);
    signal->armed[kind] = false;  // one-shot: fired, so gone
    signal->pending[kind] = true;
    signal->cv.notify_all();
  };
}

// Marks the watch of `kind` as registered before asking for it, so that it
// firing at once (clearing the mark) is not overwritten afterwards.
static bool claim_watch(std::mutex& mu, bool& armed) {
  std::lock_guard lock(mu);
  if (armed) return false;
  armed = true;
  return true;
}

Result<void> AclChangeListener::load_all(std::string* error_message) {
  for (int kind = 0; kind < 2; ++kind) {
    const bool arm = claim_watch(signal_->mu, signal_->armed[kind]);
    auto last = store_.last_change(kKinds[kind], arm ? watch_for(kind) : Watch{});
    if (!last) {
      if (arm) {
        std::lock_guard lock(signal_->mu);
        signal_->armed[kind] = false;
      }
      if (error_message) *error_message = "cannot read " + zk::acl_change_parent(kKinds[kind]) + ": " +
                                          last.error().message();
      return last.error();
    }
    // The full load below includes every change up to here.
    last_seq_[kind] = *last;
  }
  auto all = store_.all_acls(error_message);
  if (!all) {
    if (error_message && error_message->empty()) *error_message = "cannot read the ACLs: " + all.error().message();
    return all.error();
  }
  // Patterns that went while we were not listening are emptied; the others
  // replaced one by one, so no decision ever sees a half-empty cache.
  std::set<ResourcePattern> stale;
  for (const auto& b : authorizer_.acls(security::AclBindingFilter{})) stale.insert(b.pattern);
  for (const auto& p : *all) {
    stale.erase(p.pattern);
    authorizer_.set_acls(p.pattern, p.entries);
  }
  for (const auto& p : stale) authorizer_.set_acls(p, {});
  log()->info("ACLs loaded: {} bindings on {} resource patterns", authorizer_.size(), all->size());
  return {};
}

bool AclChangeListener::process(int kind) {
  const bool arm = claim_watch(signal_->mu, signal_->armed[kind]);
  auto changes = store_.changes_after(kKinds[kind], last_seq_[kind], arm ? watch_for(kind) : Watch{});
  if (!changes) {
    if (arm) {
      std::lock_guard lock(signal_->mu);
      signal_->armed[kind] = false;
    }
    log()->warn("cannot read ACL change notifications: {}; retrying", changes.error().message());
    return false;
  }
  for (const auto& c : *changes) {
    std::string why;
    auto acls = store_.resource_acls(c.pattern, &why);
    if (!acls) {
      if (!is(acls.error(), CoordErrc::kCorrupt)) {
        log()->warn("cannot re-read the ACLs of {} {}: {}; retrying", to_string(c.pattern.type), c.pattern.name,
                    acls.error().message());
        return false;
      }
      // Kafka's listener logs and moves on; the pattern keeps what it had.
      log()->error("{}; the previous ACLs of this resource stay in force", why);
    } else {
      authorizer_.set_acls(c.pattern, acls->entries);
    }
    last_seq_[kind] = c.sequence;
  }
  if (auto r = store_.purge_changes(kKinds[kind], now_ms_()); !r) {
    log()->debug("cannot purge old ACL change notifications: {}", r.error().message());
  }
  return true;
}

Result<void> AclChangeListener::start(std::string* error_message) {
  if (auto r = load_all(error_message); !r) return r;
  thread_ = std::thread([this] {
    set_thread_name("keel-acls");
    run();
  });
  return {};
}

void AclChangeListener::resync() {
  std::lock_guard lock(signal_->mu);
  signal_->armed[0] = signal_->armed[1] = false;  // the expired session's watches are gone
  signal_->reload_all = true;
  signal_->cv.notify_all();
}

void AclChangeListener::stop() {
  {
    std::lock_guard lock(signal_->mu);
    signal_->stopping = true;
    signal_->cv.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void AclChangeListener::run() {
  bool due[2] = {false, false};
  bool reload = false;
  for (;;) {
    {
      std::unique_lock lock(signal_->mu);
      if (due[0] || due[1] || reload) {
        // The last attempt failed: try again in a second (Kafka's listener
        // retries as its ZooKeeper client reconnects).
        signal_->cv.wait_for(lock, std::chrono::seconds(1), [&] { return signal_->stopping; });
      } else {
        signal_->cv.wait(lock, [&] {
          return signal_->stopping || signal_->pending[0] || signal_->pending[1] || signal_->reload_all;
        });
      }
      if (signal_->stopping) return;
      for (int kind = 0; kind < 2; ++kind) {
        due[kind] = due[kind] || signal_->pending[kind];
        signal_->pending[kind] = false;
      }
      reload = reload || signal_->reload_all;
      signal_->reload_all = false;
    }
    if (reload) {
      std::string why;
      if (!load_all(&why)) {
        log()->warn("{}; retrying", why);
        continue;
      }
      reload = false;
      due[0] = due[1] = false;
      continue;
    }
    for (int kind = 0; kind < 2; ++kind) {
      if (due[kind] && process(kind)) due[kind] = false;
    }
  }
}

}  // namespace keel::coord
