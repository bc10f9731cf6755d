// Pass 3 of the YAML parser: derived keys (retention in ms from hours, the
// advertised listeners from the listeners, ...) and the rules that span several keys.

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <string>
#include <variant>

#include "config/config_internal.h"
#include "security/acl.h"

namespace keel::config::detail {

namespace {

std::string this_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

// ---- pass 3: derived keys and rules spanning several keys

// bad_keys: keys whose own value was rejected; rules about them are skipped so
// one mistake does not produce a second, confusing message.
// endpoint_lines: for listeners and advertised.listeners, the line of each stored
// endpoint (a YAML sequence puts each on its own line).
void resolve(BrokerConfig& cfg, const std::map<std::string, int>& lines,
             const std::map<std::string, std::vector<int>>& endpoint_lines,
             const std::set<std::string>& bad_keys, Errors& errors) {
  auto line_of = [&](std::string_view key) {
    auto it = lines.find(std::string(key));
    return it == lines.end() ? 0 : it->second;
  };
  // The line of the i-th endpoint of a listeners key, else the key's line.
  auto ep_line = [&](std::string_view key, size_t i) {
    auto it = endpoint_lines.find(std::string(key));
    if (it != endpoint_lines.end() && i < it->second.size() && it->second[i] > 0) return it->second[i];
    return line_of(key);
  };

  // Retention: ms > minutes > hours; any negative result means "forever" (-1), as in Kafka.
  if (cfg.log_retention_ms) cfg.retention_ms = *cfg.log_retention_ms;
  else if (cfg.log_retention_minutes) cfg.retention_ms = int64_t{*cfg.log_retention_minutes} * 60000;
  else cfg.retention_ms = int64_t{cfg.log_retention_hours} * 3600000;
  if (cfg.retention_ms < 0) cfg.retention_ms = -1;
  cfg.segment_ms = cfg.log_roll_ms ? *cfg.log_roll_ms : int64_t{cfg.log_roll_hours} * 3600000;
  cfg.segment_jitter_ms =
      cfg.log_roll_jitter_ms ? *cfg.log_roll_jitter_ms : int64_t{cfg.log_roll_jitter_hours} * 3600000;
  cfg.flush_ms = cfg.log_flush_interval_ms.value_or(cfg.log_flush_scheduler_interval_ms);
  cfg.zookeeper_connection_timeout_ms =
      cfg.zookeeper_connection_timeout_ms_raw.value_or(cfg.zookeeper_session_timeout_ms);
  if (cfg.zookeeper_set_acl && cfg.zookeeper_digest_credentials_file.empty())
    errors.key_error("zookeeper.set.acl", line_of("zookeeper.set.acl"),
                     "is true but zookeeper.digest.credentials.file is not set: the broker needs an identity "
                     "for the ACLs to name");
  if (!cfg.zookeeper_digest_credentials_file.empty() && cfg.zookeeper_connect.empty())
    errors.key_error("zookeeper.digest.credentials.file", line_of("zookeeper.digest.credentials.file"),
                     "is set but zookeeper.connect is not: the embedded store has no ZooKeeper to authenticate to");

  // Security protocol map: every value must be a known protocol.
  for (const auto& [name, proto] : cfg.listener_security_protocol_map) {
    if (std::find(std::begin(kSecurityProtocols), std::end(kSecurityProtocols), proto) ==
        std::end(kSecurityProtocols))
      errors.key_error("listener.security.protocol.map", line_of("listener.security.protocol.map"),
                       "listener '" + name + "' maps to '" + proto +
                           "', which is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL");
  }
  std::vector<std::string> map_names;
  for (const auto& [name, proto] : cfg.listener_security_protocol_map) map_names.push_back(name);

  const bool map_is_bad = bad_keys.count("listener.security.protocol.map") > 0;
  // A listener that failed to parse is missing from cfg.listeners; "not in
  // listeners" would then be a second message about the same mistake.
  const bool listeners_are_bad = bad_keys.count("listeners") > 0;
  auto resolve_protocols = [&](std::vector<Endpoint>& eps, std::string_view key) {
    std::set<std::string> seen;
    for (size_t i = 0; i < eps.size(); ++i) {
      Endpoint& ep = eps[i];
      auto it = cfg.listener_security_protocol_map.find(ep.listener_name);
      if (it == cfg.listener_security_protocol_map.end()) {
        if (map_is_bad) continue;  // the map's own error was reported; the names may be fine
        errors.key_error(key, ep_line(key, i),
                         "listener name '" + ep.listener_name +
                             "' is not in listener.security.protocol.map (" +
                             join(map_names, ", ") + ")");
      } else {
        ep.security_protocol = it->second;
      }
      if (!seen.insert(ep.listener_name).second)
        errors.key_error(key, ep_line(key, i),
                         "listener name '" + ep.listener_name + "' is used twice");
    }
  };

  if (cfg.listeners.empty() && !bad_keys.count("listeners"))
    errors.key_error("listeners", line_of("listeners"), "at least one listener is needed");
  resolve_protocols(cfg.listeners, "listeners");
  // Two listeners on one port cannot both bind; say so here, with the line, rather
  // than as a bind error at start-up. Port 0 (OS-chosen) never clashes. An empty
  // host binds every interface, so it clashes with any host on the same port.
  for (size_t i = 0; i < cfg.listeners.size(); ++i)
    for (size_t j = 0; j < i; ++j) {
      const Endpoint& a = cfg.listeners[j];
      const Endpoint& b = cfg.listeners[i];
      if (a.port == 0 || a.port != b.port) continue;
      if (a.host.empty() || b.host.empty() || a.host == b.host)
        errors.key_error("listeners", ep_line("listeners", i),
                         "'" + a.to_string() + "' and '" + b.to_string() +
                             "' cannot both listen on port " + std::to_string(a.port));
    }

  if (cfg.advertised_listeners.empty()) {
    // Clients cannot connect to "all interfaces"; advertise this machine's name instead.
    cfg.advertised_listeners = cfg.listeners;
    std::string host = this_hostname();
    for (Endpoint& ep : cfg.advertised_listeners)
      if (ep.host.empty() || ep.host == "0.0.0.0" || ep.host == "::") ep.host = host;
  } else {
    resolve_protocols(cfg.advertised_listeners, "advertised.listeners");
    for (size_t i = 0; i < cfg.advertised_listeners.size(); ++i) {
      const Endpoint& ep = cfg.advertised_listeners[i];
      bool known = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                               [&](const Endpoint& l) { return l.listener_name == ep.listener_name; });
      if (!known && !listeners_are_bad)
        errors.key_error("advertised.listeners", ep_line("advertised.listeners", i),
                         "listener name '" + ep.listener_name + "' is not in listeners");
      if (ep.host.empty() || ep.host == "0.0.0.0" || ep.host == "::")
        errors.key_error("advertised.listeners", ep_line("advertised.listeners", i),
                         "'" + ep.to_string() +
                             "' cannot be advertised: clients need a host name or address");
    }
  }

  // security.inter.broker.protocol, Kafka's older spelling: the listener named after the protocol.
  if (!cfg.security_inter_broker_protocol.empty()) {
    if (!cfg.inter_broker_listener_name.empty()) {
      errors.key_error("security.inter.broker.protocol", line_of("security.inter.broker.protocol"),
                       "set inter.broker.listener.name or security.inter.broker.protocol, not both (as in Kafka)");
    } else {
      const std::string& name = cfg.security_inter_broker_protocol;
      const bool known = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                                     [&](const Endpoint& l) { return l.listener_name == name; });
      if (known) {
        cfg.inter_broker_listener_name = name;
      } else if (!listeners_are_bad) {
        errors.key_error("security.inter.broker.protocol", line_of("security.inter.broker.protocol"),
                         "no listener is named '" + name +
                             "': name one so in listeners, or set inter.broker.listener.name instead");
      }
    }
  }
  if (cfg.inter_broker_listener_name.empty()) {
    bool has_plain = std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                                 [](const Endpoint& l) { return l.listener_name == "PLAINTEXT"; });
    if (has_plain) cfg.inter_broker_listener_name = "PLAINTEXT";
    else if (!cfg.listeners.empty()) cfg.inter_broker_listener_name = cfg.listeners[0].listener_name;
  } else {
    cfg.inter_broker_listener_name = upper(cfg.inter_broker_listener_name);
    bool known = std::any_of(cfg.listeners.begin(), cfg.listeners.end(), [&](const Endpoint& l) {
      return l.listener_name == cfg.inter_broker_listener_name;
    });
    if (!known && !listeners_are_bad)
      errors.key_error("inter.broker.listener.name", line_of("inter.broker.listener.name"),
                       "'" + cfg.inter_broker_listener_name + "' is not a listener name in listeners");
  }

  // Data directories: log.dirs, else log.dir; made absolute against the current directory.
  if (cfg.log_dirs.empty()) {
    if (cfg.log_dir.empty()) errors.key_error("log.dir", line_of("log.dir"), "must not be empty");
    else cfg.log_dirs.push_back(cfg.log_dir);
  }
  std::set<std::string> seen_dirs;
  for (std::string& dir : cfg.log_dirs) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(std::filesystem::path(dir), ec);
    if (!ec) dir = abs.lexically_normal().string();
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (!seen_dirs.insert(dir).second)
      errors.key_error("log.dirs", line_of("log.dirs"), "directory '" + dir + "' is listed twice");
  }

  // zookeeper.connect: host[:port][,host[:port]...][/chroot]. Checked here so a
  // typo stops start-up with its line instead of a retry loop in the ZooKeeper client.
  if (!cfg.zookeeper_connect.empty()) {
    std::string_view zk = cfg.zookeeper_connect;
    size_t slash = zk.find('/');
    std::string_view hosts = zk.substr(0, slash);
    if (slash != std::string_view::npos && zk.size() > slash + 1 && zk.back() == '/')
      errors.key_error("zookeeper.connect", line_of("zookeeper.connect"),
                       "the chroot '" + std::string(zk.substr(slash)) + "' must not end with '/'");
    if (trim(hosts).empty())
      errors.key_error("zookeeper.connect", line_of("zookeeper.connect"),
                       "'" + cfg.zookeeper_connect + "' names no host (host:port[,host:port][/chroot])");
    for (const std::string& hp : split_commas(hosts)) {
      size_t colon = hp.rfind(':');
      std::string host = colon == std::string::npos ? hp : hp.substr(0, colon);
      bool ok = !host.empty() && host.find(':') == std::string::npos;
      if (ok && colon != std::string::npos) {
        std::string port = hp.substr(colon + 1);
        unsigned value = 0;
        auto r = std::from_chars(port.data(), port.data() + port.size(), value);
        ok = !port.empty() && r.ec == std::errc() && r.ptr == port.data() + port.size() &&
             value >= 1 && value <= 65535;
      }
      if (!ok)
        errors.key_error("zookeeper.connect", line_of("zookeeper.connect"),
                         "'" + hp + "' is not host:port (in host:port[,host:port][/chroot])");
    }
  }

  // Kafka's ZooKeeper-era authorizer classes both name Keel's ACL
  // authorizer; any other class (a KRaft or third-party authorizer) cannot be
  // loaded, and starting without it would serve unprotected.
  if (!cfg.authorizer_class_name.empty() && cfg.authorizer_class_name != kAclAuthorizerClass &&
      cfg.authorizer_class_name != kSimpleAclAuthorizerClass)
    errors.key_error("authorizer.class.name", line_of("authorizer.class.name"),
                     "'" + cfg.authorizer_class_name + "' is not an authorizer keel has; use " +
                         std::string(kAclAuthorizerClass) + " (or the older name " +
                         std::string(kSimpleAclAuthorizerClass) +
                         ") for Kafka's ACLs, or leave it empty for no authorization");
  if (std::string why; !parse_connection_overrides(cfg.max_connections_per_ip_overrides, &why))
    errors.key_error("max.connections.per.ip.overrides", line_of("max.connections.per.ip.overrides"), why);
  if (std::string why; !security::parse_super_users(cfg.super_users, &why))
    errors.key_error("super.users", line_of("super.users"), why);

  if (cfg.group_min_session_timeout_ms > cfg.group_max_session_timeout_ms)
    errors.key_error("group.min.session.timeout.ms", line_of("group.min.session.timeout.ms"),
                     "must not exceed group.max.session.timeout.ms (" +
                         std::to_string(cfg.group_min_session_timeout_ms) + " > " +
                         std::to_string(cfg.group_max_session_timeout_ms) + ")");
  if (cfg.message_max_bytes > cfg.socket_request_max_bytes)
    errors.key_error("message.max.bytes", line_of("message.max.bytes"),
                     "must not exceed socket.request.max.bytes (" +
                         std::to_string(cfg.message_max_bytes) + " > " +
                         std::to_string(cfg.socket_request_max_bytes) + ")");
}

}  // namespace keel::config::detail

namespace keel::config {

std::optional<std::vector<std::pair<std::string, int32_t>>> parse_connection_overrides(std::string_view text,
                                                                                        std::string* why) {
  std::vector<std::pair<std::string, int32_t>> out;
  for (const std::string& item : detail::split_commas(text)) {
    const size_t colon = item.rfind(':');
    const std::string host = detail::trim(colon == std::string::npos ? item : std::string_view(item).substr(0, colon));
    const std::string limit = colon == std::string::npos ? "" : detail::trim(std::string_view(item).substr(colon + 1));
    int32_t n = -1;
    const auto r = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (host.empty() || limit.empty() || r.ec != std::errc() || r.ptr != limit.data() + limit.size() || n < 0) {
      if (why) *why = "'" + item + "' is not host:limit (a host or address, a whole number of connections)";
      return std::nullopt;
    }
    out.emplace_back(host, n);
  }
  return out;
}

}  // namespace keel::config
