#pragma once
// Private to src/config: what the parser's passes share across its files
// (config.cc: pass 1, storing, and the public API; config_convert.cc: pass 2,
// values by type; config_resolve.cc: pass 3, rules spanning several keys;
// topic_config.cc). Not included from outside this directory.

#include <climits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/config_def.h"

namespace keel::config::detail {

inline constexpr std::string_view kListenerPrefix = "listener.name.";  // per-listener overrides

inline constexpr std::string_view kSecurityProtocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT",
                                                           "SASL_SSL"};

// Text helpers (config_convert.cc).
std::string trim(std::string_view s);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string join(const std::vector<std::string>& items, std::string_view sep);
std::vector<std::string> split_commas(std::string_view s);
std::string format_double(double d);
std::string format_bound(double d);  // integral bounds without ".0"
std::string describe_node_kind(const YAML::Node& n);
// The candidate nearest to got (case-insensitive edit distance), when near enough.
std::optional<std::string_view> nearest_of(std::string_view got,
                                           const std::vector<std::string_view>& candidates);

// A key's value as found in the file, with the lines needed for messages.
struct RawEntry {
  std::string key;
  YAML::Node value;
  int line = 0;
  bool nested = false;  // reached through a nested map (log: {retention: ...})
};

// One value after conversion by type. Only the field matching the type is used.
struct Value {
  int64_t i = 0;
  double d = 0;
  bool b = false;
  std::string s;
  std::vector<std::string> list;
  std::vector<int> list_lines;  // line of each list item
  std::map<std::string, std::string> map;
};

// Builds the messages; every one starts with the key and where it was set.
// list() orders them by line, so the operator reads them top to bottom.
class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}

  std::string where(int line) const {
    return line > 0 ? source_ + ":" + std::to_string(line) : source_ + " (default)";
  }
  void key_error(std::string_view key, int line, const std::string& problem) {
    add(line, "'" + std::string(key) + "' at " + where(line) + ": " + problem);
  }
  // line 0 = not tied to a line (defaults, file-level problems): listed last.
  void add(int line, std::string message) { items_.emplace_back(line, std::move(message)); }
  bool empty() const { return items_.empty(); }
  std::vector<std::string> list() const {
    auto sorted = items_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return (a.first == 0 ? INT_MAX : a.first) < (b.first == 0 ? INT_MAX : b.first);
    });
    std::vector<std::string> out;
    for (auto& [line, msg] : sorted) out.push_back(std::move(msg));
    return out;
  }

 private:
  std::string source_;
  std::vector<std::pair<int, std::string>> items_;
};

// Pass 2 (config_convert.cc): one key's value by its type. convert_scalar returns
// the problem ("" when fine); the others report through errors and return false.
std::string convert_scalar(const KeyDef& def, const std::string& raw, Value& v);
bool convert_node(const KeyDef& def, const RawEntry& e, Value& v, Errors& errors);
bool convert_given(const KeyDef& def, const RawEntry& e, Value& v, Errors& errors);
// Item-level checks that need the list: allowed values, listener syntax.
bool check_list_items(const KeyDef& def, int key_line, Value& v, std::vector<Endpoint>* endpoints,
                      std::vector<int>* endpoint_lines, Errors& errors);

// Pass 3 (config_resolve.cc): derived keys and rules spanning several keys.
// bad_keys: keys whose own value was rejected; rules about them are skipped so
// one mistake does not produce a second, confusing message.
// endpoint_lines: for listeners and advertised.listeners, the line of each stored
// endpoint (a YAML sequence puts each on its own line).
void resolve(BrokerConfig& cfg, const std::map<std::string, int>& lines,
             const std::map<std::string, std::vector<int>>& endpoint_lines,
             const std::set<std::string>& bad_keys, Errors& errors);

}  // namespace keel::config::detail
