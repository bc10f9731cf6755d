#include "coord/zookeeper_security.h"

#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "common/log.h"
#include "coord/kafka_layout.h"
#include "coord/startup_retry.h"

namespace keel::coord {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("coord");
  return l;
}

std::string read_credentials_file(const std::string& file) {
  struct stat st{};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw std::runtime_error("zookeeper.digest.credentials.file: cannot read '" + file + "'");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    log()->warn("zookeeper.digest.credentials.file '{}' may be read by other users (mode {:o}); "
                "chmod 600 it", file, st.st_mode & 0777);
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) {
    throw std::runtime_error("zookeeper.digest.credentials.file: cannot read '" + file + "'");
  }
  return text.str();
}

// The probe for "are we the identity the cluster's nodes were made for":
// /brokers/ids exists from the first broker's start on and every broker
// registers under it.
constexpr const char* kProbePath = "/brokers/ids";

}  // namespace

DigestCredentials parse_digest_credentials(std::string_view text) {
  std::optional<std::string_view> found;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (found) throw std::invalid_argument("holds more than one user:password line");
    found = line;
  }
  if (!found) throw std::invalid_argument("holds no user:password line");
  const size_t colon = found->find(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("the line is not user:password (no ':')");
  DigestCredentials c{std::string(found->substr(0, colon)), std::string(found->substr(colon + 1))};
  if (c.user.empty()) throw std::invalid_argument("the user before ':' is empty");
  if (c.password.empty()) throw std::invalid_argument("the password after ':' is empty");
  return c;
}

std::unique_ptr<ZooKeeperStore> open_kafka_zookeeper(const KafkaZooKeeperOptions& o) {
  ZooKeeperStore::Security security;
  std::string user;
  if (!o.credentials_file.empty()) {
    try {
      const DigestCredentials c = parse_digest_credentials(read_credentials_file(o.credentials_file));
      user = c.user;
      security.digest = c.auth();
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error("zookeeper.digest.credentials.file '" + o.credentials_file + "': " + e.what());
    }
  }
  security.set_acl = o.set_acl;
  const std::string who = user.empty() ? std::string("an unauthenticated client (zookeeper.digest.credentials.file "
                                                     "is not set)")
                                       : "digest user '" + user + "' (from zookeeper.digest.credentials.file)";
  auto connect = [&](const std::string& where) {
    auto store = ZooKeeperStore::connect(where, o.session_timeout, o.connect_timeout, security);
    if (!store) {
      if (store.error() == CoordErrc::kConnectionLoss) {
        throw std::runtime_error("cannot connect to ZooKeeper at " + o.connect_string + ": no session within " +
                                 std::to_string(o.connect_timeout.count()) +
                                 " ms (zookeeper.connection.timeout.ms); is ZooKeeper running and reachable?");
      }
      throw std::runtime_error("cannot connect to ZooKeeper at " + o.connect_string + ": " +
                               store.error().message());
    }
    return std::move(*store);
  };
  // Once connected, a ZooKeeper that goes away for a moment is waited for
  // (coord/startup_retry.h); nothing ephemeral exists yet, so an expired
  // session is simply replaced.
  auto retry_on = [&](ZooKeeperStore& store) {
    return StartupRetry(o.connect_timeout, [&store] { return store.reconnect(); });
  };

  // "h1:2181,h2:2181/kafka": like Kafka, create the chroot when it is missing.
  if (const size_t slash = o.connect_string.find('/'); slash != std::string::npos) {
    const std::string chroot = o.connect_string.substr(slash);
    if (chroot.size() > 1) {
      auto root = connect(o.connect_string.substr(0, slash));
      const StartupRetry retry = retry_on(*root);
      if (auto r = retry.run("creating the ZooKeeper chroot", [&] { return create_recursive(*root, chroot); }); !r) {
        throw std::runtime_error("cannot create the ZooKeeper chroot " + chroot + " as " + who + ": " +
                                 retry.explain(r.error()));
      }
      if (o.set_acl) {
        if (auto r = retry.run("securing the ZooKeeper chroot", [&] { return root->secure(chroot, false); }); !r) {
          throw std::runtime_error("cannot set the ACL of the ZooKeeper chroot " + chroot + " as " + who + ": " +
                                   retry.explain(r.error()));
        }
      }
    }
  }

  auto zk = connect(o.connect_string);
  const StartupRetry retry = retry_on(*zk);
  if (auto r = retry.run("checking ZooKeeper access", [&] { return zk->check_write_access(kProbePath); }); !r) {
    if (r.error() == CoordErrc::kNoAuth) {
      throw std::runtime_error(
          "ZooKeeper at " + o.connect_string + " refuses writes to " + kProbePath + " from " + who +
          ": its ACL names another identity. The cluster's nodes were created with zookeeper.set.acl; give this "
          "broker the same user:password as the others in zookeeper.digest.credentials.file");
    }
    throw std::runtime_error("cannot check ZooKeeper access at " + o.connect_string + ": " + retry.explain(r.error()));
  }
  if (o.set_acl) {
    size_t secured = 0;
    for (const auto& root : paths::secure_roots()) {
      auto n = retry.run("securing the ZooKeeper nodes", [&] { return zk->secure(root, true); });
      if (!n) {
        throw std::runtime_error("cannot secure the ZooKeeper nodes under " + root + " as " + who +
                                 " (zookeeper.set.acl): " + retry.explain(n.error()));
      }
      secured += *n;
    }
    if (secured > 0) {
      log()->info("zookeeper.set.acl: secured {} ZooKeeper node(s) created before it was set", secured);
    }
  }
  return zk;
}

}  // namespace keel::coord
