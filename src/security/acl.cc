#include "security/acl.h"

#include <algorithm>
#include <mutex>

#include <boost/json.hpp>

#include "common/assert.h"
#include "common/json_util.h"

namespace keel::security {

namespace {

// Indexed by wire code. PascalCase is what Kafka writes into ZooKeeper and
// prints; the Java enum names are what ResourceType.fromString and the
// literal change notification use.
constexpr std::array<std::string_view, 8> kResourceTypePascal = {
    "Unknown", "Any", "Topic", "Group", "Cluster", "TransactionalId", "DelegationToken", "User"};
constexpr std::array<std::string_view, 8> kResourceTypeEnum = {
    "UNKNOWN", "ANY", "TOPIC", "GROUP", "CLUSTER", "TRANSACTIONAL_ID", "DELEGATION_TOKEN", "USER"};
constexpr std::array<std::string_view, 5> kPatternTypeEnum = {"UNKNOWN", "ANY", "MATCH", "LITERAL", "PREFIXED"};
constexpr std::array<std::string_view, 15> kOperationPascal = {
    "Unknown",  "Any",           "All",             "Read",         "Write",
    "Create",   "Delete",        "Alter",           "Describe",     "ClusterAction",
    "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "CreateTokens", "DescribeTokens"};
constexpr std::array<std::string_view, 15> kOperationEnum = {
    "UNKNOWN",  "ANY",           "ALL",              "READ",          "WRITE",
    "CREATE",   "DELETE",        "ALTER",            "DESCRIBE",      "CLUSTER_ACTION",
    "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "CREATE_TOKENS", "DESCRIBE_TOKENS"};
constexpr std::array<std::string_view, 4> kPermissionPascal = {"Unknown", "Any", "Deny", "Allow"};
constexpr std::array<std::string_view, 4> kPermissionEnum = {"UNKNOWN", "ANY", "DENY", "ALLOW"};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Index of the name text spells (in either table, any letter case), or 0 —
// the UNKNOWN slot — when none does.
template <size_t N>
int8_t lookup(std::string_view text, const std::array<std::string_view, N>& first,
              const std::array<std::string_view, N>& second) {
  for (size_t i = 0; i < N; ++i) {
    if (iequals(text, first[i]) || iequals(text, second[i])) return static_cast<int8_t>(i);
  }
  return 0;
}

template <size_t N>
std::string_view name_at(const std::array<std::string_view, N>& table, int8_t code) {
  auto i = static_cast<size_t>(static_cast<uint8_t>(code));
  return i < N ? table[i] : table[0];
}

template <typename E, size_t N>
E checked_from_code(int8_t code) {
  return code >= 0 && static_cast<size_t>(code) < N ? static_cast<E>(code) : static_cast<E>(0);
}

size_t type_slot(ResourceType t) { return static_cast<size_t>(static_cast<uint8_t>(t)); }

Result<std::vector<AccessControlEntry>> malformed_entries(std::string* error_message, std::string why) {
  if (error_message) *error_message = std::move(why);
  return AclErrc::kMalformed;
}

Result<ResourcePattern> malformed_pattern(std::string* error_message, std::string why) {
  if (error_message) *error_message = std::move(why);
  return AclErrc::kMalformed;
}

// Java's String.trim: everything <= ' ' at both ends.
std::string_view java_trim(std::string_view s) {
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= ' ') s.remove_prefix(1);
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= ' ') s.remove_suffix(1);
  return s;
}

bool principal_matches(const AccessControlEntry& acl, std::string_view principal) {
  return acl.principal == principal || acl.principal == kWildcardPrincipal;
}

bool host_matches(const AccessControlEntry& acl, std::string_view host) {
  return acl.host == kWildcardHost || acl.host == host;
}

// What an ALLOW for `granted` permits. Kafka widens only these two requests;
// a DENY is matched on the operation itself (or ALL), never widened.
bool allow_grants(AclOperation granted, AclOperation requested) {
  if (granted == AclOperation::kAll || granted == requested) return true;
  switch (requested) {
    case AclOperation::kDescribe:
      return granted == AclOperation::kRead || granted == AclOperation::kWrite ||
             granted == AclOperation::kDelete || granted == AclOperation::kAlter;
    case AclOperation::kDescribeConfigs:
      return granted == AclOperation::kAlterConfigs;
    default:
      return false;
  }
}


}  // namespace

// --- enumerations ------------------------------------------------------------------

ResourceType resource_type_from_code(int8_t code) {
  return checked_from_code<ResourceType, kResourceTypePascal.size()>(code);
}
PatternType pattern_type_from_code(int8_t code) {
  return checked_from_code<PatternType, kPatternTypeEnum.size()>(code);
}
AclOperation operation_from_code(int8_t code) {
  return checked_from_code<AclOperation, kOperationPascal.size()>(code);
}
AclPermissionType permission_type_from_code(int8_t code) {
  return checked_from_code<AclPermissionType, kPermissionPascal.size()>(code);
}

std::string_view to_string(ResourceType t) { return name_at(kResourceTypePascal, static_cast<int8_t>(t)); }
std::string_view to_string(PatternType t) { return name_at(kPatternTypeEnum, static_cast<int8_t>(t)); }
std::string_view to_string(AclOperation op) { return name_at(kOperationPascal, static_cast<int8_t>(op)); }
std::string_view to_string(AclPermissionType p) { return name_at(kPermissionPascal, static_cast<int8_t>(p)); }
std::string_view enum_name(ResourceType t) { return name_at(kResourceTypeEnum, static_cast<int8_t>(t)); }

ResourceType parse_resource_type(std::string_view text) {
  return static_cast<ResourceType>(lookup(text, kResourceTypePascal, kResourceTypeEnum));
}
PatternType parse_pattern_type(std::string_view text) {
  return static_cast<PatternType>(lookup(text, kPatternTypeEnum, kPatternTypeEnum));
}
AclOperation parse_operation(std::string_view text) {
  return static_cast<AclOperation>(lookup(text, kOperationPascal, kOperationEnum));
}
AclPermissionType parse_permission_type(std::string_view text) {
  return static_cast<AclPermissionType>(lookup(text, kPermissionPascal, kPermissionEnum));
}

std::vector<AclOperation> supported_operations(ResourceType t) {
  using Op = AclOperation;
  switch (t) {
    case ResourceType::kTopic:
      return {Op::kRead, Op::kWrite, Op::kCreate, Op::kDescribe, Op::kDelete, Op::kAlter, Op::kDescribeConfigs,
              Op::kAlterConfigs};
    case ResourceType::kGroup: return {Op::kRead, Op::kDescribe, Op::kDelete};
    case ResourceType::kCluster:
      return {Op::kCreate, Op::kClusterAction, Op::kDescribeConfigs, Op::kAlterConfigs, Op::kIdempotentWrite,
              Op::kAlter, Op::kDescribe};
    case ResourceType::kTransactionalId: return {Op::kDescribe, Op::kWrite};
    case ResourceType::kDelegationToken: return {Op::kDescribe};
    case ResourceType::kUser: return {Op::kCreateTokens, Op::kDescribeTokens};
    case ResourceType::kUnknown:
    case ResourceType::kAny: break;
  }
  return {};
}

std::optional<PrincipalParts> split_principal(std::string_view principal) {
  auto colon = principal.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return PrincipalParts{principal.substr(0, colon), principal.substr(colon + 1)};
}

// --- filters ------------------------------------------------------------------------

bool ResourcePatternFilter::matches(const ResourcePattern& p) const {
  if (type != ResourceType::kAny && type != p.type) return false;
  if (pattern_type != PatternType::kAny && pattern_type != PatternType::kMatch && pattern_type != p.pattern_type)
    return false;
  if (!name) return true;
  if (pattern_type == PatternType::kAny || pattern_type == p.pattern_type) return *name == p.name;
  // MATCH: would p apply to the concrete resource *name?
  switch (p.pattern_type) {
    case PatternType::kLiteral: return *name == p.name || p.name == kWildcardResource;
    case PatternType::kPrefixed: return name->starts_with(p.name);
    default: return false;
  }
}

bool ResourcePatternFilter::is_unknown() const {
  return type == ResourceType::kUnknown || pattern_type == PatternType::kUnknown;
}

bool AccessControlEntryFilter::matches(const AccessControlEntry& e) const {
  if (principal && *principal != e.principal) return false;
  if (host && *host != e.host) return false;
  if (operation != AclOperation::kAny && operation != e.operation) return false;
  return permission == AclPermissionType::kAny || permission == e.permission;
}

bool AccessControlEntryFilter::is_unknown() const {
  return operation == AclOperation::kUnknown || permission == AclPermissionType::kUnknown;
}

// --- validation ---------------------------------------------------------------------

std::optional<std::string> validate_for_create(const AclBinding& binding) {
  const auto& p = binding.pattern;
  const auto& e = binding.entry;
  if (p.type == ResourceType::kUnknown || p.pattern_type == PatternType::kUnknown ||
      e.operation == AclOperation::kUnknown || e.permission == AclPermissionType::kUnknown)
    return "ACL binding contains unknown elements";
  if (p.type == ResourceType::kAny) return "resourceType must not be ANY";
  if (p.pattern_type != PatternType::kLiteral && p.pattern_type != PatternType::kPrefixed)
    return "patternType must not be " + std::string(to_string(p.pattern_type));
  if (e.operation == AclOperation::kAny) return "operation must not be ANY";
  if (e.permission == AclPermissionType::kAny) return "permissionType must not be ANY";
  if (p.type == ResourceType::kCluster && p.name != kClusterResourceName)
    return "The only valid name for the CLUSTER resource is " + std::string(kClusterResourceName);
  if (p.name.empty()) return "Invalid empty resource name";
  if (p.name.find('/') != std::string::npos) return "ACL binding contains invalid resource name: " + p.name;
  if (!split_principal(e.principal))
    return "expected a string in format principalType:principalName but got " + e.principal;
  return std::nullopt;
}

std::optional<std::string> validate_filter(const AclBindingFilter& filter) {
  if (filter.is_unknown()) return "Filter contains UNKNOWN elements";
  return std::nullopt;
}

// --- errors, super.users ------------------------------------------------------------


Result<std::vector<std::string>> parse_super_users(std::string_view text, std::string* error_message) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::vector<std::string_view> pieces;
  for (size_t start = 0;;) {
    size_t semi = text.find(';', start);
    pieces.push_back(text.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start));
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  // Java's String.split drops trailing empty pieces (only exactly empty ones).
  while (!pieces.empty() && pieces.back().empty()) pieces.pop_back();
  for (auto piece : pieces) {
    auto principal = java_trim(piece);
    if (!split_principal(principal)) {
      if (error_message)
        *error_message = "super.users: expected a string in format principalType:principalName but got '" +
                         std::string(principal) + "'";
      return AclErrc::kMalformed;
    }
    out.emplace_back(principal);
  }
  return out;
}

// --- the authorizer -----------------------------------------------------------------

AclAuthorizer::AclAuthorizer(AuthorizerConfig config)
    : super_users_(config.super_users.begin(), config.super_users.end()),
      allow_everyone_if_no_acl_found_(config.allow_everyone_if_no_acl_found) {}

AclAuthorizer::PatternMap& AclAuthorizer::patterns_for(ResourceType type, PatternType pattern_type) {
  KEEL_ASSERT(type_slot(type) < kTypeSlots, "resource type outside Kafka's codes");
  KEEL_ASSERT(pattern_type == PatternType::kLiteral || pattern_type == PatternType::kPrefixed,
              "only LITERAL and PREFIXED patterns are stored");
  auto& index = by_type_[type_slot(type)];
  return pattern_type == PatternType::kLiteral ? index.literal : index.prefixed;
}

const AclAuthorizer::PatternMap* AclAuthorizer::find_patterns(ResourceType type, PatternType pattern_type) const {
  if (type_slot(type) >= kTypeSlots) return nullptr;
  const auto& index = by_type_[type_slot(type)];
  if (pattern_type == PatternType::kLiteral) return &index.literal;
  if (pattern_type == PatternType::kPrefixed) return &index.prefixed;
  return nullptr;
}

bool AclAuthorizer::add_locked(const ResourcePattern& pattern, const AccessControlEntry& entry) {
  auto& patterns = patterns_for(pattern.type, pattern.pattern_type);
  auto [it, new_pattern] = patterns.try_emplace(pattern.name);
  if (!it->second.insert(entry).second) return false;
  if (new_pattern && pattern.pattern_type == PatternType::kPrefixed)
    ++by_type_[type_slot(pattern.type)].prefix_lengths[pattern.name.size()];
  names_by_entry_[EntryKey{entry, pattern.type, pattern.pattern_type}].insert(pattern.name);
  ++size_;
  return true;
}

bool AclAuthorizer::remove_locked(const ResourcePattern& pattern, const AccessControlEntry& entry) {
  auto& patterns = patterns_for(pattern.type, pattern.pattern_type);
  auto it = patterns.find(pattern.name);
  if (it == patterns.end() || it->second.erase(entry) == 0) return false;
  if (it->second.empty()) {
    patterns.erase(it);
    if (pattern.pattern_type == PatternType::kPrefixed) {
      auto& lengths = by_type_[type_slot(pattern.type)].prefix_lengths;
      auto len = lengths.find(pattern.name.size());
      if (--len->second == 0) lengths.erase(len);
    }
  }
  auto names = names_by_entry_.find(EntryKey{entry, pattern.type, pattern.pattern_type});
  KEEL_ASSERT(names != names_by_entry_.end(), "entry index out of step with the pattern index");
  names->second.erase(pattern.name);
  if (names->second.empty()) names_by_entry_.erase(names);
  --size_;
  return true;
}

bool AclAuthorizer::add(const AclBinding& binding) {
  std::unique_lock lock(mu_);
  return add_locked(binding.pattern, binding.entry);
}

bool AclAuthorizer::remove(const AclBinding& binding) {
  std::unique_lock lock(mu_);
  return remove_locked(binding.pattern, binding.entry);
}

void AclAuthorizer::set_acls(const ResourcePattern& pattern, const std::vector<AccessControlEntry>& entries) {
  std::unique_lock lock(mu_);
  auto& patterns = patterns_for(pattern.type, pattern.pattern_type);
  if (auto it = patterns.find(pattern.name); it != patterns.end()) {
    const Entries old = it->second;  // remove_locked may erase the node it points into
    for (const auto& e : old) remove_locked(pattern, e);
  }
  for (const auto& e : entries) add_locked(pattern, e);
}

void AclAuthorizer::clear() {
  std::unique_lock lock(mu_);
  by_type_ = {};
  names_by_entry_.clear();
  size_ = 0;
}

std::vector<AccessControlEntry> AclAuthorizer::acls_of(const ResourcePattern& pattern) const {
  std::shared_lock lock(mu_);
  const PatternMap* patterns = find_patterns(pattern.type, pattern.pattern_type);
  if (!patterns) return {};
  auto it = patterns->find(pattern.name);
  if (it == patterns->end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<AclBinding> AclAuthorizer::matching_locked(const AclBindingFilter& filter) const {
  std::vector<AclBinding> out;
  for (size_t slot = 0; slot < kTypeSlots; ++slot) {
    const auto type = static_cast<ResourceType>(slot);
    for (auto pattern_type : {PatternType::kLiteral, PatternType::kPrefixed}) {
      for (const auto& [name, entries] : *find_patterns(type, pattern_type)) {
        ResourcePattern pattern{type, name, pattern_type};
        if (!filter.pattern.matches(pattern)) continue;
        for (const auto& e : entries) {
          if (filter.entry.matches(e)) out.push_back(AclBinding{pattern, e});
        }
      }
    }
  }
  return out;
}

std::vector<AclBinding> AclAuthorizer::acls(const AclBindingFilter& filter) const {
  std::shared_lock lock(mu_);
  return matching_locked(filter);
}

std::vector<AclBinding> AclAuthorizer::remove_matching(const AclBindingFilter& filter) {
  std::unique_lock lock(mu_);
  std::vector<AclBinding> matched = matching_locked(filter);
  for (const auto& b : matched) remove_locked(b.pattern, b.entry);
  return matched;
}

size_t AclAuthorizer::size() const {
  std::shared_lock lock(mu_);
  return size_;
}

bool AclAuthorizer::is_super_user(std::string_view principal) const { return super_users_.contains(principal); }

bool AclAuthorizer::authorize(std::string_view principal, std::string_view host, AclOperation op,
                              ResourceType type, std::string_view name) const {
  if (is_super_user(principal)) return true;
  KEEL_ASSERT(type_slot(type) < kTypeSlots, "resource type outside Kafka's codes");

  std::shared_lock lock(mu_);
  const auto& index = by_type_[type_slot(type)];
  bool any_acl = false;
  bool denied = false;
  bool allowed = false;
  // One pass over the applicable entries: a matching DENY settles it, and
  // since a DENY means ACLs exist, allow.everyone cannot overturn that.
  auto visit = [&](const Entries& entries) {
    any_acl = any_acl || !entries.empty();
    for (const auto& acl : entries) {
      if (!principal_matches(acl, principal) || !host_matches(acl, host)) continue;
      if (acl.permission == AclPermissionType::kDeny &&
          (acl.operation == op || acl.operation == AclOperation::kAll)) {
        denied = true;
        return;
      }
      if (acl.permission == AclPermissionType::kAllow && allow_grants(acl.operation, op)) allowed = true;
    }
  };

  if (auto it = index.literal.find(kWildcardResource); it != index.literal.end()) visit(it->second);
  if (!denied && name != kWildcardResource) {
    if (auto it = index.literal.find(name); it != index.literal.end()) visit(it->second);
  }
  // Probe only the prefix lengths some PREFIXED pattern has; an empty
  // prefix never applies (Kafka's range starts at the first character).
  for (auto [length, count] : index.prefix_lengths) {
    if (denied || length > name.size()) break;
    if (length == 0) continue;
    if (auto it = index.prefixed.find(name.substr(0, length)); it != index.prefixed.end()) visit(it->second);
  }

  if (denied) return false;
  if (!any_acl) return allow_everyone_if_no_acl_found_;
  return allowed;
}

std::vector<const std::set<std::string, std::less<>>*> AclAuthorizer::names_with(
    std::string_view principal, std::string_view host, AclOperation op, AclPermissionType permission,
    ResourceType type, PatternType pattern_type) const {
  std::vector<std::string_view> principals{kWildcardPrincipal};
  if (principal != kWildcardPrincipal) principals.push_back(principal);
  std::vector<std::string_view> hosts{kWildcardHost};
  if (host != kWildcardHost) hosts.push_back(host);
  std::vector<AclOperation> ops{AclOperation::kAll};
  if (op != AclOperation::kAll) ops.push_back(op);

  std::vector<const std::set<std::string, std::less<>>*> out;
  EntryKey key{{}, type, pattern_type};
  key.entry.permission = permission;
  for (auto p : principals) {
    key.entry.principal = p;
    for (auto h : hosts) {
      key.entry.host = h;
      for (auto o : ops) {
        key.entry.operation = o;
        if (auto it = names_by_entry_.find(key); it != names_by_entry_.end()) out.push_back(&it->second);
      }
    }
  }
  return out;
}

bool AclAuthorizer::authorize_by_resource_type(std::string_view principal, std::string_view host,
                                               AclOperation op, ResourceType type) const {
  if (type == ResourceType::kAny || type == ResourceType::kUnknown || type_slot(type) >= kTypeSlots ||
      op == AclOperation::kAny || op == AclOperation::kUnknown)
    return false;
  if (is_super_user(principal)) return true;

  std::shared_lock lock(mu_);
  using Names = std::vector<const std::set<std::string, std::less<>>*>;
  auto contains = [](const Names& sets, std::string_view name) {
    return std::any_of(sets.begin(), sets.end(), [&](const auto* s) { return s->contains(name); });
  };
  // A DENY on a prefix of name (name itself included) shadows it.
  auto shadowed = [&](const Names& deny_prefixes, std::string_view name) {
    for (size_t length = 0; length <= name.size(); ++length) {
      if (contains(deny_prefixes, name.substr(0, length))) return true;
    }
    return false;
  };

  const Names deny_literals =
      names_with(principal, host, op, AclPermissionType::kDeny, type, PatternType::kLiteral);
  if (contains(deny_literals, kWildcardResource)) return false;
  if (allow_everyone_if_no_acl_found_) return true;

  const Names deny_prefixes =
      names_with(principal, host, op, AclPermissionType::kDeny, type, PatternType::kPrefixed);
  const Names allow_literals =
      names_with(principal, host, op, AclPermissionType::kAllow, type, PatternType::kLiteral);
  const Names allow_prefixes =
      names_with(principal, host, op, AclPermissionType::kAllow, type, PatternType::kPrefixed);
  if (deny_literals.empty() && deny_prefixes.empty()) return !allow_literals.empty() || !allow_prefixes.empty();

  for (const auto* names : allow_prefixes) {
    for (const auto& prefix : *names) {
      if (!shadowed(deny_prefixes, prefix)) return true;
    }
  }
  for (const auto* names : allow_literals) {
    for (const auto& literal : *names) {
      if (literal == kWildcardResource) return true;
      if (!contains(deny_literals, literal) && !shadowed(deny_prefixes, literal)) return true;
    }
  }
  return false;
}

// --- ZooKeeper layout ---------------------------------------------------------------

namespace zk {

std::string acl_root(PatternType pattern_type) {
  KEEL_ASSERT(pattern_type == PatternType::kLiteral || pattern_type == PatternType::kPrefixed,
              "only LITERAL and PREFIXED patterns have a ZooKeeper node");
  return pattern_type == PatternType::kLiteral ? kLiteralAclRoot : kPrefixedAclRoot;
}

std::string acl_type_path(ResourceType type, PatternType pattern_type) {
  return acl_root(pattern_type) + "/" + std::string(to_string(type));
}

std::string acl_node_path(const ResourcePattern& pattern) {
  return acl_type_path(pattern.type, pattern.pattern_type) + "/" + pattern.name;
}

std::string encode_acl_node(const std::vector<AccessControlEntry>& entries) {
  boost::json::array acls;
  acls.reserve(entries.size());
  for (const auto& e : entries) {
    auto acl = boost::json::object();
    acl["principal"] = e.principal;
    acl["permissionType"] = std::string(to_string(e.permission));
    acl["operation"] = std::string(to_string(e.operation));
    acl["host"] = e.host;
    acls.push_back(std::move(acl));
  }
  auto node = boost::json::object();
  node["version"] = 1;
  node["acls"] = std::move(acls);
  return json::write(node);
}

Result<std::vector<AccessControlEntry>> decode_acl_node(std::string_view data, std::string* error_message) {
  std::vector<AccessControlEntry> out;
  if (data.empty()) return out;
  std::string parse_error;
  auto doc = json::parse(data, &parse_error);
  if (!doc) return malformed_entries(error_message, "ACL node is not JSON: " + parse_error);
  if (!doc->is_object()) return malformed_entries(error_message, "ACL node is not a JSON object");
  const boost::json::value* version = json::find(*doc, "version");
  if (!version || !version->is_int64() || version->as_int64() != 1)
    return malformed_entries(error_message, "ACL node: \"version\" must be the integer 1");
  const boost::json::value* acls = json::find(*doc, "acls");
  if (!acls || !acls->is_array()) return malformed_entries(error_message, "ACL node: \"acls\" must be an array");

  for (size_t i = 0; i < acls->as_array().size(); ++i) {
    const boost::json::value& item = acls->as_array()[i];
    const std::string where = "ACL node: acls[" + std::to_string(i) + "]";
    if (!item.is_object()) return malformed_entries(error_message, where + " is not an object");
    auto text = [&](const char* key) -> std::optional<std::string> {
      const boost::json::value* v = json::find(item, key);
      if (!v || !v->is_string()) return std::nullopt;
      return std::string(v->get_string());
    };
    const auto principal = text("principal");
    const auto permission = text("permissionType");
    const auto operation = text("operation");
    const auto host = text("host");
    if (!principal || !permission || !operation || !host)
      return malformed_entries(error_message,
                               where + " needs string fields principal, permissionType, operation and host");
    AccessControlEntry e{*principal, *host, parse_operation(*operation), parse_permission_type(*permission)};
    if (!split_principal(e.principal))
      return malformed_entries(error_message, where + ": principal '" + e.principal + "' is not Type:name");
    if (e.operation == AclOperation::kUnknown || e.operation == AclOperation::kAny)
      return malformed_entries(error_message, where + ": unknown operation '" + *operation + "'");
    if (e.permission == AclPermissionType::kUnknown || e.permission == AclPermissionType::kAny)
      return malformed_entries(error_message, where + ": unknown permissionType '" + *permission + "'");
    if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(std::move(e));
  }
  return out;
}

std::string acl_change_parent(PatternType pattern_type) {
  return pattern_type == PatternType::kLiteral ? kLiteralChanges : kExtendedChanges;
}

std::string encode_acl_change(const ResourcePattern& pattern) {
  if (pattern.pattern_type == PatternType::kLiteral) return std::string(enum_name(pattern.type)) + ":" + pattern.name;
  auto event = boost::json::object();
  event["version"] = 1;
  event["resourceType"] = std::string(enum_name(pattern.type));
  event["name"] = pattern.name;
  event["patternType"] = std::string(to_string(pattern.pattern_type));
  return json::write(event);
}

Result<ResourcePattern> decode_literal_acl_change(std::string_view data, std::string* error_message) {
  auto colon = data.find(':');
  if (colon == std::string_view::npos)
    return malformed_pattern(error_message, "ACL change: expected ResourceType:ResourceName, got '" +
                                                std::string(data) + "'");
  ResourcePattern pattern{parse_resource_type(data.substr(0, colon)), std::string(data.substr(colon + 1)),
                          PatternType::kLiteral};
  if (pattern.type == ResourceType::kUnknown || pattern.type == ResourceType::kAny)
    return malformed_pattern(error_message,
                             "ACL change: unknown resource type '" + std::string(data.substr(0, colon)) + "'");
  return pattern;
}

Result<ResourcePattern> decode_extended_acl_change(std::string_view data, std::string* error_message) {
  std::string parse_error;
  auto doc = json::parse(data, &parse_error);
  if (!doc) return malformed_pattern(error_message, "ACL change is not JSON: " + parse_error);
  if (!doc->is_object()) return malformed_pattern(error_message, "ACL change is not a JSON object");
  const boost::json::value* version = json::find(*doc, "version");
  if (!version || !version->is_int64() || version->as_int64() > 1)
    return malformed_pattern(error_message, "ACL change: \"version\" must be an integer not above 1");
  const boost::json::value* type = json::find(*doc, "resourceType");
  const boost::json::value* name = json::find(*doc, "name");
  const boost::json::value* pattern_type = json::find(*doc, "patternType");
  if (!type || !type->is_string() || !name || !name->is_string() || !pattern_type || !pattern_type->is_string())
    return malformed_pattern(error_message, "ACL change needs string fields resourceType, name and patternType");
  const std::string type_text(type->get_string());
  const std::string pattern_type_text(pattern_type->get_string());
  ResourcePattern pattern{parse_resource_type(type_text), std::string(name->get_string()),
                          parse_pattern_type(pattern_type_text)};
  if (pattern.type == ResourceType::kUnknown || pattern.type == ResourceType::kAny)
    return malformed_pattern(error_message, "ACL change: unknown resource type '" + type_text + "'");
  if (pattern.pattern_type != PatternType::kLiteral && pattern.pattern_type != PatternType::kPrefixed)
    return malformed_pattern(error_message,
                             "ACL change: pattern type '" + pattern_type_text + "' is not LITERAL or PREFIXED");
  return pattern;
}

}  // namespace zk

}  // namespace keel::security
