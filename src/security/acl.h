#pragma once
// Kafka's ACL model (docs/security.md §1): the enumerations with their wire
// codes and text forms, resource patterns, entries, bindings and the filters
// of DescribeAcls/DeleteAcls, the checks CreateAcls applies, the authorizer's
// decision (AclAuthorizer.authorizeAction and authorizeByResourceType of
// Kafka 3.7) and the ZooKeeper form of ACLs (§1.6) so that Keel and Kafka's
// tools can share one ZooKeeper. Pure logic: no store access, no I/O.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/result.h"
#include "security/errors.h"

namespace keel::security {

// --- enumerations (wire codes are Kafka's) -------------------------------------

enum class ResourceType : int8_t {
  kUnknown = 0,
  kAny = 1,  // filters only
  kTopic = 2,
  kGroup = 3,
  kCluster = 4,
  kTransactionalId = 5,
  kDelegationToken = 6,
  kUser = 7,
};

enum class PatternType : int8_t {
  kUnknown = 0,
  kAny = 1,    // filters only
  kMatch = 2,  // filters only
  kLiteral = 3,
  kPrefixed = 4,
};

enum class AclOperation : int8_t {
  kUnknown = 0,
  kAny = 1,  // filters only
  kAll = 2,
  kRead = 3,
  kWrite = 4,
  kCreate = 5,
  kDelete = 6,
  kAlter = 7,
  kDescribe = 8,
  kClusterAction = 9,
  kDescribeConfigs = 10,
  kAlterConfigs = 11,
  kIdempotentWrite = 12,
  kCreateTokens = 13,
  kDescribeTokens = 14,
};

enum class AclPermissionType : int8_t {
  kUnknown = 0,
  kAny = 1,  // filters only
  kDeny = 2,
  kAllow = 3,
};

// A code Kafka does not define maps to kUnknown, as Kafka's fromCode does, so
// a newer client's value is answered rather than dropped on the floor.
ResourceType resource_type_from_code(int8_t code);
PatternType pattern_type_from_code(int8_t code);
AclOperation operation_from_code(int8_t code);
AclPermissionType permission_type_from_code(int8_t code);

// Kafka's text forms: PascalCase for resource types, operations and
// permissions (`TransactionalId`, `DescribeConfigs`, `Allow`: what the ZK JSON
// and the CLI use); the Java enum name for pattern types (`PREFIXED`).
std::string_view to_string(ResourceType t);
std::string_view to_string(PatternType t);
std::string_view to_string(AclOperation op);
std::string_view to_string(AclPermissionType p);
// The Java enum constant (`TRANSACTIONAL_ID`): the literal change
// notification carries this form.
std::string_view enum_name(ResourceType t);

// Text to enum, kUnknown when unrecognised. Accepted: the PascalCase form in
// any letter case (Kafka's SecurityUtils: `Topic`, `TOPIC`, `DESCRIBECONFIGS`)
// and the Java enum name in any letter case (Kafka's fromString:
// `TRANSACTIONAL_ID`, `describe_configs`) — together every form a Kafka
// reader takes. Pattern types take the enum name in any case.
ResourceType parse_resource_type(std::string_view text);
PatternType parse_pattern_type(std::string_view text);
AclOperation parse_operation(std::string_view text);
AclPermissionType parse_permission_type(std::string_view text);

// The operations that mean something on a resource type (Kafka's
// AclEntry.supportedOperations), for the authorized-operations bitfields.
// Empty for kUnknown and kAny.
std::vector<AclOperation> supported_operations(ResourceType t);

// --- patterns, entries, bindings -----------------------------------------------

inline constexpr std::string_view kWildcardResource = "*";
inline constexpr std::string_view kWildcardPrincipal = "User:*";
inline constexpr std::string_view kWildcardHost = "*";
inline constexpr std::string_view kClusterResourceName = "kafka-cluster";

struct ResourcePattern {
  ResourceType type = ResourceType::kUnknown;
  std::string name;
  PatternType pattern_type = PatternType::kLiteral;
  auto operator<=>(const ResourcePattern&) const = default;
};

struct AccessControlEntry {
  std::string principal;  // "Type:name", e.g. "User:alice"; "User:*" is anyone
  std::string host;       // the client IP as Java prints it; "*" is any host
  AclOperation operation = AclOperation::kUnknown;
  AclPermissionType permission = AclPermissionType::kUnknown;
  auto operator<=>(const AccessControlEntry&) const = default;
};

struct AclBinding {
  ResourcePattern pattern;
  AccessControlEntry entry;
  auto operator<=>(const AclBinding&) const = default;
};

// Kafka's principal text `Type:name`, split at the first colon (the name may
// hold more colons, as a TLS DN does). nullopt when there is no colon.
struct PrincipalParts {
  std::string_view type;
  std::string_view name;
};
std::optional<PrincipalParts> split_principal(std::string_view principal);

// --- filters (DescribeAcls, DeleteAcls) ----------------------------------------

// Kafka's ResourcePatternFilter.matches. A null name matches any name. kAny
// matches every pattern type but wants the name equal; kLiteral and kPrefixed
// want that type and the name equal; kMatch matches every pattern that would
// apply to the concrete resource `name`: LITERAL name, LITERAL "*", and
// PREFIXED patterns that are prefixes of name.
struct ResourcePatternFilter {
  ResourceType type = ResourceType::kAny;
  std::optional<std::string> name;
  PatternType pattern_type = PatternType::kAny;

  bool matches(const ResourcePattern& p) const;
  bool is_unknown() const;
};

// Kafka's AccessControlEntryFilter.matches: null principal/host and kAny
// operation/permission match anything; otherwise plain equality — "User:*"
// in a filter finds only the wildcard entries themselves.
struct AccessControlEntryFilter {
  std::optional<std::string> principal;
  std::optional<std::string> host;
  AclOperation operation = AclOperation::kAny;
  AclPermissionType permission = AclPermissionType::kAny;

  bool matches(const AccessControlEntry& e) const;
  bool is_unknown() const;
};

struct AclBindingFilter {
  ResourcePatternFilter pattern;
  AccessControlEntryFilter entry;

  bool matches(const AclBinding& b) const { return pattern.matches(b.pattern) && entry.matches(b.entry); }
  bool is_unknown() const { return pattern.is_unknown() || entry.is_unknown(); }
};

// --- validation (CreateAcls, DescribeAcls, DeleteAcls) -------------------------

// Why CreateAcls must refuse this binding (the caller answers
// INVALID_REQUEST with the message), or nullopt when it may be created. The
// checks of Kafka's CreateAclsRequest, ResourcePattern, AccessControlEntry,
// AclApis and AclAuthorizer: no UNKNOWN or ANY anywhere, pattern LITERAL or
// PREFIXED, CLUSTER only as `kafka-cluster`, no empty name, no `/` in the name
// (it would become a znode path), principal `Type:name`. A PREFIXED `*` is
// allowed, as in Kafka: it is a plain prefix, never a wildcard.
std::optional<std::string> validate_for_create(const AclBinding& binding);

// Why a DescribeAcls/DeleteAcls filter must be refused (an UNKNOWN in any
// field), or nullopt.
std::optional<std::string> validate_filter(const AclBindingFilter& filter);

// --- super.users -----------------------------------------------------------------

// `super.users`: principals separated by ';', each trimmed, as Kafka splits
// them (a trailing ';' is ignored, an empty entry in the middle is not).
// kMalformed (message via error_message) when an entry is not `Type:name`.
Result<std::vector<std::string>> parse_super_users(std::string_view text,
                                                   std::string* error_message = nullptr);

// --- the authorizer ----------------------------------------------------------------

struct AuthorizerConfig {
  std::vector<std::string> super_users;       // principal texts, e.g. "User:admin"
  bool allow_everyone_if_no_acl_found = false;  // Kafka's default
};

// The in-memory ACL cache and Kafka's decision over it. The owner (coord)
// loads it from the store and keeps it current from change notifications;
// this class never touches the store.
//
// Threads: every method may be called from any thread. Decisions take a
// shared lock and run in parallel; changes take it exclusively. A decision
// costs lookups by (type, name), not a scan of all ACLs: LITERAL patterns are
// keyed by name and PREFIXED ones probed only at the prefix lengths present.
class AclAuthorizer {
 public:
  explicit AclAuthorizer(AuthorizerConfig config = {});
  AclAuthorizer(const AclAuthorizer&) = delete;
  AclAuthorizer& operator=(const AclAuthorizer&) = delete;

  // Stores a binding; false when it was already there. The pattern must be
  // LITERAL or PREFIXED (client input goes through validate_for_create
  // first; the store's layout only holds those two).
  bool add(const AclBinding& binding);
  // Drops a binding; false when it was not there.
  bool remove(const AclBinding& binding);
  // Replaces every entry of one pattern, as a change notification does after
  // re-reading the pattern's node; no entries removes the pattern.
  void set_acls(const ResourcePattern& pattern, const std::vector<AccessControlEntry>& entries);
  // Drops every binding (before a full reload).
  void clear();

  // The entries of exactly this pattern, sorted.
  std::vector<AccessControlEntry> acls_of(const ResourcePattern& pattern) const;
  // DescribeAcls: the bindings the filter matches, grouped by pattern
  // (sorted by type, pattern type, name).
  std::vector<AclBinding> acls(const AclBindingFilter& filter) const;
  // Removes the bindings the filter matches and returns them (the in-memory
  // half of DeleteAcls, for a store that needs no change notification).
  std::vector<AclBinding> remove_matching(const AclBindingFilter& filter);
  size_t size() const;

  bool is_super_user(std::string_view principal) const;

  // Kafka's authorizeAction for one concrete (LITERAL) resource: super users
  // first; then the ACLs of LITERAL name, LITERAL "*" and every PREFIXED
  // prefix of name; none at all -> allow.everyone.if.no.acl.found; a
  // matching DENY (principal equal or "User:*", host equal or "*", operation
  // equal or ALL) denies; else a matching ALLOW allows, where DESCRIBE is
  // also granted by READ/WRITE/DELETE/ALTER and DESCRIBE_CONFIGS by
  // ALTER_CONFIGS (never for DENY).
  bool authorize(std::string_view principal, std::string_view host, AclOperation op, ResourceType type,
                 std::string_view name) const;

  // Kafka's authorizeByResourceType (KIP-679): may the principal do op on at
  // least one resource of this type — an ALLOW (op or ALL, no implications)
  // not shadowed by a DENY on the same or a broader pattern. A LITERAL "*"
  // DENY refuses everything; allow.everyone.if.no.acl.found allows unless
  // that is so. false for a filter or unknown type or operation.
  bool authorize_by_resource_type(std::string_view principal, std::string_view host, AclOperation op,
                                  ResourceType type) const;

 private:
  using Entries = std::set<AccessControlEntry>;
  using PatternMap = std::map<std::string, Entries, std::less<>>;

  struct TypeIndex {
    PatternMap literal;
    PatternMap prefixed;
    std::map<size_t, size_t> prefix_lengths;  // length -> PREFIXED patterns of that length
  };

  // authorize_by_resource_type's index, as Kafka's resourceCache: for each
  // (entry, type, pattern type), the names of the patterns that hold it.
  struct EntryKey {
    AccessControlEntry entry;
    ResourceType type;
    PatternType pattern_type;
    auto operator<=>(const EntryKey&) const = default;
  };
  using NamesByEntry = std::map<EntryKey, std::set<std::string, std::less<>>>;

  static constexpr size_t kTypeSlots = 8;  // resource type codes 0..7

  PatternMap& patterns_for(ResourceType type, PatternType pattern_type);
  const PatternMap* find_patterns(ResourceType type, PatternType pattern_type) const;
  bool add_locked(const ResourcePattern& pattern, const AccessControlEntry& entry);
  bool remove_locked(const ResourcePattern& pattern, const AccessControlEntry& entry);
  std::vector<AclBinding> matching_locked(const AclBindingFilter& filter) const;
  std::vector<const std::set<std::string, std::less<>>*> names_with(std::string_view principal,
                                                                    std::string_view host, AclOperation op,
                                                                    AclPermissionType permission,
                                                                    ResourceType type,
                                                                    PatternType pattern_type) const;

  const std::set<std::string, std::less<>> super_users_;
  const bool allow_everyone_if_no_acl_found_;

  mutable std::shared_mutex mu_;
  std::array<TypeIndex, kTypeSlots> by_type_;
  NamesByEntry names_by_entry_;
  size_t size_ = 0;
};

// --- ZooKeeper layout (Kafka's AclAuthorizer) --------------------------------------

namespace zk {
inline constexpr const char* kLiteralAclRoot = "/kafka-acl";
inline constexpr const char* kExtendedAclRoot = "/kafka-acl-extended";
inline constexpr const char* kPrefixedAclRoot = "/kafka-acl-extended/prefixed";
inline constexpr const char* kLiteralChanges = "/kafka-acl-changes";
inline constexpr const char* kExtendedChanges = "/kafka-acl-extended-changes";
inline constexpr const char* kChangePrefix = "acl_changes_";

// The parent of a pattern type's resource types: /kafka-acl for LITERAL,
// /kafka-acl-extended/prefixed for PREFIXED.
std::string acl_root(PatternType pattern_type);
// /kafka-acl/Topic, /kafka-acl-extended/prefixed/Group: its children are names.
std::string acl_type_path(ResourceType type, PatternType pattern_type);
// /kafka-acl/Topic/orders, /kafka-acl-extended/prefixed/Topic/ord. The name
// goes in unescaped, as Kafka puts it; validate_for_create refuses '/'.
std::string acl_node_path(const ResourcePattern& pattern);

// A node's value: {"version":1,"acls":[{"principal":..,"permissionType":..,
// "operation":..,"host":..}]}, byte for byte as Kafka writes it, entries in
// the order given.
std::string encode_acl_node(const std::vector<AccessControlEntry>& entries);
// Decodes a node's value, duplicates dropped. Empty data is no ACLs (as in
// Kafka). Names may be in any of the forms parse_* accept; anything else —
// not JSON, version other than 1, a missing or mistyped field, an unknown
// or filter-only (Any) operation or permission, a principal without ':' —
// is kMalformed with the reason in error_message.
Result<std::vector<AccessControlEntry>> decode_acl_node(std::string_view data,
                                                        std::string* error_message = nullptr);

// Where the change notification for a pattern goes (the sequential node's
// parent): /kafka-acl-changes for LITERAL, /kafka-acl-extended-changes else.
std::string acl_change_parent(PatternType pattern_type);
// Its contents: `TOPIC:orders` for LITERAL; for PREFIXED
// {"version":1,"resourceType":"TOPIC","name":"ord","patternType":"PREFIXED"}.
std::string encode_acl_change(const ResourcePattern& pattern);
// The pattern a change notification names; kMalformed on anything unreadable
// (no ':', an unknown resource type, bad JSON, a version above 1, a pattern
// type other than LITERAL or PREFIXED). Type names in any letter case.
Result<ResourcePattern> decode_literal_acl_change(std::string_view data, std::string* error_message = nullptr);
Result<ResourcePattern> decode_extended_acl_change(std::string_view data, std::string* error_message = nullptr);
}  // namespace zk

}  // namespace keel::security
