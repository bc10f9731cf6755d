#include "server/scram_credentials.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "common/thread_name.h"
#include "coord/kafka_store.h"

namespace keel::server {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

constexpr std::string_view kUsersPrefix = "users/";

// A lost watch (a ZooKeeper session that expired) would otherwise leave the
// cache stale until the next change someone else happens to trigger.
constexpr auto kLookAgainEvery = std::chrono::seconds(10);

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string sanitize_user(std::string_view user) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : user) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
        c == '_') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> desanitize_user(std::string_view sanitized) {
  std::string out;
  for (size_t i = 0; i < sanitized.size(); ++i) {
    const char c = sanitized[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 2 >= sanitized.size()) return std::nullopt;
    const int hi = hex_value(sanitized[i + 1]);
    const int lo = hex_value(sanitized[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

UserScramCredentials scram_credentials_from_config(const std::string& user,
                                                   const std::map<std::string, std::string>& config) {
  UserScramCredentials out;
  for (auto m : {security::ScramMechanism::kSha256, security::ScramMechanism::kSha512}) {
    auto it = config.find(std::string(security::mechanism_name(m)));
    if (it == config.end()) continue;
    auto cred = security::parse_credential(m, it->second);
    if (!cred) {
      log()->warn("user '{}': stored {} credential is unreadable ({}); that mechanism fails for the user",
                  printable(user), security::mechanism_name(m), cred.error().message());
      continue;
    }
    out.of(m) = std::move(*cred);
  }
  return out;
}

struct ScramCredentialCache::Signal {
  std::mutex mu;
  std::condition_variable cv;
  bool changed = false;
  bool stopping = false;
  void raise() {
    std::lock_guard lock(mu);
    changed = true;
    cv.notify_one();
  }
};

ScramCredentialCache::ScramCredentialCache(coord::KafkaStore& store)
    : store_(store), signal_(std::make_shared<Signal>()) {}

ScramCredentialCache::~ScramCredentialCache() { stop(); }

Result<void> ScramCredentialCache::start() {
  // The notifications first, then every user: a change made in between is
  // both read here and notified, never lost.
  auto changes = store_.config_changes_after(-1);
  if (!changes) return changes.error();
  for (const auto& change : *changes) last_change_ = std::max(last_change_, change.first);
  auto names = store_.entity_names("users");
  if (!names) return names.error();
  for (const auto& name : *names) {
    auto user = desanitize_user(name);
    if (!user) {
      log()->warn("ignoring /config/users/{}: not a sanitized user name", printable(name));
      continue;
    }
    if (auto r = load_user(*user); !r) return r;
  }
  {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& [name, creds] : users_) n += creds.empty() ? 0 : 1;
    log()->info("SCRAM credentials of {} users loaded from the store", n);
  }
  thread_ = std::thread([this] {
    set_thread_name("keel-scram");
    run();
  });
  return {};
}

void ScramCredentialCache::stop() {
  {
    std::lock_guard lock(signal_->mu);
    signal_->stopping = true;
    signal_->cv.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

std::optional<security::ScramCredential> ScramCredentialCache::lookup(security::ScramMechanism m,
                                                                     std::string_view user) const {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  return it->second.of(m);
}

void ScramCredentialCache::reload(const std::string& user) {
  if (auto r = load_user(user); !r)
    log()->warn("cannot re-read user '{}' from the store: {}", printable(user), r.error().message());
}

Result<void> ScramCredentialCache::load_user(const std::string& user) {
  auto config = store_.entity_config("users", sanitize_user(user));
  if (!config) return config.error();
  UserScramCredentials creds = scram_credentials_from_config(user, *config);
  std::lock_guard lock(mu_);
  if (creds.empty()) {
    users_.erase(user);
  } else {
    users_.insert_or_assign(user, std::move(creds));
  }
  return {};
}

Result<std::vector<std::string>> ScramCredentialCache::stored_users() {
  auto names = store_.entity_names("users");
  if (!names) return names.error();
  std::vector<std::string> out;
  for (const auto& name : *names) {
    auto user = desanitize_user(name);
    if (!user) continue;
    auto creds = stored(*user);
    if (!creds) return creds.error();
    if (!creds->empty()) out.push_back(std::move(*user));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<UserScramCredentials> ScramCredentialCache::stored(const std::string& user) {
  auto config = store_.entity_config("users", sanitize_user(user));
  if (!config) return config.error();
  return scram_credentials_from_config(user, *config);
}

Result<void> ScramCredentialCache::store(const std::string& user, const UserScramCredentials& creds) {
  auto config = store_.entity_config("users", sanitize_user(user));
  if (!config) return config.error();
  for (auto m : {security::ScramMechanism::kSha256, security::ScramMechanism::kSha512}) {
    const std::string key(security::mechanism_name(m));
    if (creds.of(m)) {
      (*config)[key] = security::encode_credential(*creds.of(m));
    } else {
      config->erase(key);
    }
  }
  if (auto r = store_.set_entity_config("users", sanitize_user(user), *config); !r) return r.error();
  reload(user);
  return {};
}

void ScramCredentialCache::run() {
  follow_changes();
  for (;;) {
    {
      std::unique_lock lock(signal_->mu);
      signal_->cv.wait_for(lock, kLookAgainEvery, [&] { return signal_->changed || signal_->stopping; });
      if (signal_->stopping) return;
      signal_->changed = false;
    }
    follow_changes();
  }
}

// Reads the notifications after the last one seen (re-arming the watch) and
// re-reads each user they name.
void ScramCredentialCache::follow_changes() {
  std::weak_ptr<Signal> weak = signal_;
  auto changes = store_.config_changes_after(last_change_, [weak](const coord::WatchEvent&) {
    if (auto s = weak.lock()) s->raise();
  });
  if (!changes) {
    log()->warn("cannot read /config/changes for SCRAM credentials: {}", changes.error().message());
    return;
  }
  for (const auto& [seq, path] : *changes) {
    last_change_ = std::max(last_change_, seq);
    if (!std::string_view(path).starts_with(kUsersPrefix)) continue;
    auto user = desanitize_user(std::string_view(path).substr(kUsersPrefix.size()));
    if (!user) continue;
    reload(*user);
    log()->info("SCRAM credentials of user '{}' re-read after a config change", printable(*user));
  }
}

}  // namespace keel::server
