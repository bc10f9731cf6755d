#include "group/group.h"

#include <algorithm>
#include <cctype>
#include <iterator>

#include "protocol/generated/consumer_protocol_subscription.h"

namespace keel::group {

const char* state_name(GroupState s) {
  switch (s) {
    case GroupState::kEmpty: return "Empty";
    case GroupState::kPreparingRebalance: return "PreparingRebalance";
    case GroupState::kCompletingRebalance: return "CompletingRebalance";
    case GroupState::kStable: return "Stable";
    case GroupState::kDead: return "Dead";
  }
  return "Dead";
}

std::optional<GroupState> parse_state(std::string_view name) {
  for (GroupState s : {GroupState::kEmpty, GroupState::kPreparingRebalance, GroupState::kCompletingRebalance,
                       GroupState::kStable, GroupState::kDead}) {
    std::string_view n = state_name(s);
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return s;
    }
  }
  return std::nullopt;
}

const Bytes* Member::metadata_for(const std::string& protocol) const {
  for (const auto& [name, metadata] : protocols) {
    if (name == protocol) return &metadata;
  }
  return nullptr;
}

bool Group::has_pending_commit(const TopicPartition& tp) const {
  if (pending_offsets.count(tp)) return true;
  for (const auto& [producer_id, offsets] : pending_txn_offsets) {
    if (offsets.count(tp)) return true;
  }
  return false;
}

void Group::drop_pending_txn(const TopicPartition& tp) {
  for (auto it = pending_txn_offsets.begin(); it != pending_txn_offsets.end();) {
    it->second.erase(tp);
    it = it->second.empty() ? pending_txn_offsets.erase(it) : std::next(it);
  }
}

bool Group::all_members_joined() const {
  if (!pending_members.empty()) return false;
  return std::all_of(members.begin(), members.end(), [](const auto& m) { return bool(m.second.awaiting_join); });
}

int32_t Group::rebalance_timeout_ms() const {
  int32_t t = 0;
  for (const auto& [id, m] : members) t = std::max(t, m.rebalance_timeout_ms);
  return t;
}

bool Group::is_fenced_static(const std::optional<std::string>& instance_id, const std::string& member_id) const {
  if (!instance_id) return false;
  auto it = static_members.find(*instance_id);
  return it != static_members.end() && it->second != member_id;
}

bool Group::supports(const std::string& type, const std::vector<std::pair<std::string, Bytes>>& protocols) const {
  if (members.empty()) return !type.empty() && !protocols.empty();
  if (type != protocol_type) return false;
  // Some protocol of the newcomer must be supported by every member.
  for (const auto& protocol : protocols) {
    const std::string& name = protocol.first;
    if (std::all_of(members.begin(), members.end(),
                    [&](const auto& m) { return m.second.metadata_for(name) != nullptr; })) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> Group::select_protocol() const {
  if (members.empty()) return std::nullopt;
  // Candidates: the protocols every member supports.
  std::vector<std::string> candidates;
  for (const auto& protocol : members.begin()->second.protocols) {
    const std::string& name = protocol.first;
    if (std::all_of(members.begin(), members.end(),
                    [&](const auto& m) { return m.second.metadata_for(name) != nullptr; })) {
      candidates.push_back(name);
    }
  }
  if (candidates.empty()) return std::nullopt;
  // Each member votes for its most preferred candidate; ties go to the
  // candidate first in the first member's order (Kafka takes the max count).
  std::map<std::string, int> votes;
  for (const auto& [id, m] : members) {
    for (const auto& [name, metadata] : m.protocols) {
      if (std::find(candidates.begin(), candidates.end(), name) != candidates.end()) {
        ++votes[name];
        break;
      }
    }
  }
  std::string best = candidates.front();
  for (const auto& c : candidates) {
    if (votes[c] > votes[best]) best = c;
  }
  return best;
}

std::optional<std::set<std::string>> Group::subscribed_topics() const {
  if (protocol_type != "consumer" || !protocol_name) return std::nullopt;
  std::set<std::string> topics;
  for (const auto& [id, m] : members) {
    const Bytes* metadata = m.metadata_for(*protocol_name);
    if (!metadata || metadata->size() < 2) return std::nullopt;
    ByteReader r{ByteView(*metadata)};
    int16_t version = r.read_i16();
    protocol::ConsumerProtocolSubscription sub;
    // Newer versions than we know still start with the fields we know.
    version = std::min<int16_t>(version, protocol::ConsumerProtocolSubscription::kHighestVersion);
    if (version < 0 || !sub.decode(r, version)) return std::nullopt;
    topics.insert(sub.topics.begin(), sub.topics.end());
  }
  return topics;
}

}  // namespace keel::group
