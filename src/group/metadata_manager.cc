#include "group/metadata_manager.h"

#include <algorithm>

#include "common/log.h"
#include "group/offsets_codec.h"

namespace keel::group {

using protocol::ErrorCode;

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("group");
  return l;
}

// Kafka's mapping of a failed __consumer_offsets write for the client; what
// a batch too large and a timeout become depends on the write.
ErrorCode write_error(ErrorCode e, ErrorCode too_large, ErrorCode timed_out) {
  switch (e) {
    case ErrorCode::kUnknownTopicOrPartition:
    case ErrorCode::kNotEnoughReplicas:
    case ErrorCode::kNotEnoughReplicasAfterAppend: return ErrorCode::kCoordinatorNotAvailable;
    case ErrorCode::kNotCoordinator:
    case ErrorCode::kNotLeaderOrFollower:
    case ErrorCode::kKafkaStorageError: return ErrorCode::kNotCoordinator;
    case ErrorCode::kRequestTimedOut: return timed_out;
    case ErrorCode::kMessageTooLarge:
    case ErrorCode::kRecordListTooLarge:
    case ErrorCode::kInvalidFetchSize: return too_large;
    default: return e;
  }
}

OffsetsRecordBytes offset_tombstone(const std::string& group_id, const TopicPartition& tp) {
  return {encode_offset_key(OffsetKey{group_id, tp.topic, tp.partition}), std::nullopt};
}

// A partition's log replayed in offset order (Kafka's doLoadGroupsAndOffsets):
// the groups with their committed offsets, and the offsets of transactions
// whose marker has not come yet, by producer id — kept apart from the groups,
// as Kafka keeps them, so a group's tombstone does not drop them.
class Replay {
 public:
  Replay(int32_t partition, std::map<std::string, Group>& groups) : partition_(partition), groups_(groups) {}

  void apply(const OffsetsRecord& rec, const OffsetsLogEntry& entry) {
    if (rec.kind == OffsetsRecord::Kind::kOffsetCommit) {
      offset(rec, entry);
    } else if (rec.kind == OffsetsRecord::Kind::kGroupMetadata) {
      group(rec);
    }
  }

  // A COMMIT marker makes the producer's offsets committed unless the group
  // has one written after them; an ABORT marker drops them.
  void marker(int64_t producer_id, bool commit) {
    auto it = pending_.find(producer_id);
    if (it == pending_.end()) return;
    if (commit) {
      for (const auto& [key, c] : it->second) {
        Group& g = group_of(key.first);
        auto cur = g.offsets.find(key.second);
        if (cur == g.offsets.end() || cur->second.record_offset < c.record_offset) g.offsets[key.second] = c;
      }
    }
    pending_.erase(it);
  }

  // The transactions still open at the log end stay pending in their groups
  // (a group that has only them comes back empty, as in Kafka).
  void finish() {
    for (auto& [producer_id, offsets] : pending_) {
      for (auto& [key, c] : offsets) group_of(key.first).pending_txn_offsets[producer_id][key.second] = c;
    }
    pending_.clear();
  }

 private:
  Group& group_of(const std::string& id) {
    auto [it, fresh] = groups_.try_emplace(id);
    if (fresh) {
      it->second.group_id = id;
      it->second.partition = partition_;
    }
    return it->second;
  }

  void offset(const OffsetsRecord& rec, const OffsetsLogEntry& entry) {
    TopicPartition tp{rec.offset_key.topic, rec.offset_key.partition};
    std::optional<CommittedOffset> c;
    if (rec.offset_value) {
      const OffsetValue& v = *rec.offset_value;
      c = CommittedOffset{v.offset, v.leader_epoch, v.metadata, v.commit_timestamp, v.expire_timestamp,
                          entry.batch_offset};
    }
    if (entry.transactional) {
      auto& mine = pending_[entry.producer_id];
      if (c) {
        mine[{rec.group, tp}] = *c;
      } else {
        mine.erase({rec.group, tp});
      }
      return;
    }
    Group& g = group_of(rec.group);
    if (c) {
      g.offsets[tp] = *c;
    } else {
      g.offsets.erase(tp);
    }
  }

  void group(const OffsetsRecord& rec) {
    if (!rec.group_value) {
      // Deleted (or expired): whatever came before is gone, offsets included.
      groups_.erase(rec.group);
      return;
    }
    Group& g = group_of(rec.group);
    const GroupValue& v = *rec.group_value;
    g.protocol_type = v.protocol_type;
    g.generation = v.generation;
    g.protocol_name = v.protocol;
    g.leader = v.leader;
    g.current_state_timestamp_ms = v.current_state_timestamp;
    g.members.clear();
    g.static_members.clear();
    for (const auto& mr : v.members) {
      Member m;
      m.member_id = mr.member_id;
      m.group_instance_id = mr.group_instance_id;
      m.client_id = mr.client_id;
      m.client_host = mr.client_host;
      m.rebalance_timeout_ms = mr.rebalance_timeout_ms < 0 ? mr.session_timeout_ms : mr.rebalance_timeout_ms;
      m.session_timeout_ms = mr.session_timeout_ms;
      m.protocol_type = v.protocol_type;
      if (v.protocol) m.protocols.push_back({*v.protocol, mr.subscription});
      m.assignment = mr.assignment;
      if (m.group_instance_id) g.static_members[*m.group_instance_id] = m.member_id;
      g.members[m.member_id] = std::move(m);
    }
  }

  const int32_t partition_;
  std::map<std::string, Group>& groups_;
  std::map<int64_t, std::map<std::pair<std::string, TopicPartition>, CommittedOffset>> pending_;
};

}  // namespace

GroupMetadataManager::GroupMetadataManager(OffsetsConfig config, OffsetsLog& log) : config_(config), log_(log) {}

int32_t GroupMetadataManager::partition_for(std::string_view group_id) const {
  return partition_for_group(group_id, config_.num_partitions);
}

ErrorCode GroupMetadataManager::check(std::string_view group_id) const {
  auto it = partitions_.find(partition_for(group_id));
  if (it == partitions_.end()) return ErrorCode::kNotCoordinator;
  return it->second.loaded ? ErrorCode::kNone : ErrorCode::kCoordinatorLoadInProgress;
}

bool GroupMetadataManager::loaded(int32_t partition) const {
  auto it = partitions_.find(partition);
  return it != partitions_.end() && it->second.loaded;
}

bool GroupMetadataManager::loading() const {
  for (const auto& [p, st] : partitions_) {
    if (!st.loaded) return true;
  }
  return false;
}

Group* GroupMetadataManager::find(const std::string& group_id) {
  auto it = groups_.find(group_id);
  return it == groups_.end() ? nullptr : &it->second;
}

Group& GroupMetadataManager::add_group(const std::string& group_id, int64_t now) {
  Group& g = groups_[group_id];
  g.group_id = group_id;
  g.partition = partition_for(group_id);
  g.current_state_timestamp_ms = now;
  return g;
}

// --- partition loading ------------------------------------------------------

bool GroupMetadataManager::on_elected(int32_t partition, int32_t leader_epoch, const OnUnloaded& unloaded) {
  if (partition < 0 || partition >= config_.num_partitions) return false;
  auto known = epochs_.find(partition);
  if (known != epochs_.end() && leader_epoch < known->second) return false;  // stale
  epochs_[partition] = leader_epoch;
  auto it = partitions_.find(partition);
  if (it != partitions_.end() && it->second.epoch == leader_epoch) return false;  // the same leadership again
  // A newer epoch while this broker still leads, loaded (it would have
  // resigned had another led in between): an ISR change, a follower that
  // stopped. The groups in memory stay, as in Kafka, where makeLeader skips
  // a broker that already leads. Reloading them brought back members that
  // had left, with fresh sessions, and a group whose offsets partition kept
  // changing ISR never formed. The load's epoch stays the partition's: the
  // writes under way carry it.
  if (it != partitions_.end() && it->second.loaded) return false;
  if (it != partitions_.end()) unload(partition, unloaded);  // still loading: load afresh at the newer epoch
  partitions_[partition] = PartitionState{false, leader_epoch};
  to_load_.insert(partition);
  return true;
}

void GroupMetadataManager::on_resigned(int32_t partition, int32_t leader_epoch, const OnUnloaded& unloaded) {
  if (leader_epoch >= 0) {
    auto known = epochs_.find(partition);
    if (known != epochs_.end() && leader_epoch < known->second) return;  // stale
    epochs_[partition] = leader_epoch;
  }
  unload(partition, unloaded);
}

bool GroupMetadataManager::owns(int32_t partition, int32_t coordinator_epoch) const {
  auto it = partitions_.find(partition);
  return it != partitions_.end() && it->second.loaded && it->second.epoch == coordinator_epoch;
}

void GroupMetadataManager::resign_all(const OnUnloaded& unloaded) {
  std::vector<int32_t> owned;
  for (const auto& [p, s] : partitions_) owned.push_back(p);
  for (int32_t p : owned) unload(p, unloaded);
}

void GroupMetadataManager::unload(int32_t partition, const OnUnloaded& unloaded) {
  partitions_.erase(partition);
  to_load_.erase(partition);
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (it->second.partition != partition) {
      ++it;
      continue;
    }
    unloaded(it->second);
    forget_txn_group(it->second);
    it = groups_.erase(it);
  }
}

std::optional<GroupMetadataManager::Load> GroupMetadataManager::next_load() {
  while (!to_load_.empty()) {
    const int32_t partition = *to_load_.begin();
    to_load_.erase(to_load_.begin());
    auto it = partitions_.find(partition);
    if (it != partitions_.end()) return Load{partition, it->second.epoch};
  }
  return std::nullopt;
}

LoadedPartition GroupMetadataManager::read_partition(Load load) const {
  LoadedPartition out;
  out.partition = load.partition;
  out.epoch = load.epoch;
  Replay replay(load.partition, out.groups);
  out.error = log_.read_all(load.partition, [&](const OffsetsLogEntry& entry) {
    if (entry.marker_commit) {
      replay.marker(entry.producer_id, *entry.marker_commit);
      return;
    }
    ++out.records;
    auto rec = decode_offsets_record(entry.key, entry.value);
    if (!rec) {
      ++out.skipped;
      return;
    }
    replay.apply(*rec, entry);
  });
  replay.finish();
  return out;
}

void GroupMetadataManager::complete_load(LoadedPartition loaded, int64_t now) {
  const int32_t partition = loaded.partition;
  auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.epoch != loaded.epoch) return;  // resigned meanwhile
  if (loaded.error != ErrorCode::kNone) {
    // Stay in loading; the next election (or a retry) loads again.
    log()->error("cannot load __consumer_offsets-{}: {}", partition, protocol::error_name(loaded.error));
    to_load_.insert(partition);
    return;
  }
  for (auto& [id, g] : loaded.groups) {
    if (partition_for(id) != partition) {
      // Only a development build before 0.1.0 wrote such records: it placed a
      // group whose hash is negative by another rule (docs/compatibility.md).
      // Clients look for the group in its own partition, so these are left out.
      log()->warn("__consumer_offsets-{} holds group '{}', which belongs in partition {}: left out", partition, id,
                  partition_for(id));
      continue;
    }
    g.state = g.members.empty() ? GroupState::kEmpty : GroupState::kStable;
    // Members come back with a full session to heartbeat in.
    for (auto& [mid, m] : g.members) m.heartbeat_deadline_ms = now + m.session_timeout_ms;
    if (g.members.empty() && !g.has_offsets() && g.protocol_type.empty()) continue;
    for (const auto& [producer_id, offsets] : g.pending_txn_offsets) txn_groups_[producer_id].insert(id);
    groups_[id] = std::move(g);
  }
  it->second.loaded = true;
  log()->info("loaded {} group(s) from __consumer_offsets-{} ({} records{})", loaded.groups.size(), partition,
              loaded.records,
              loaded.skipped ? ", " + std::to_string(loaded.skipped) + " undecodable skipped" : std::string());
}

// --- writes -----------------------------------------------------------------

ErrorCode GroupMetadataManager::append(int32_t partition, std::vector<OffsetsRecordBytes> records, int64_t now) {
  return write_error(log_.append(partition, records, now).error, ErrorCode::kUnknownServerError,
                     ErrorCode::kCoordinatorNotAvailable);
}

PendingWrite GroupMetadataManager::write(int32_t partition, std::vector<OffsetsRecordBytes> records, int64_t now,
                                         std::optional<TxnProducer> txn) {
  PendingWrite w;
  w.partition = partition;
  auto it = partitions_.find(partition);
  w.coordinator_epoch = it == partitions_.end() ? -1 : it->second.epoch;
  w.append = log_.append(partition, records, now, txn);
  w.error = w.append.error;  // the caller maps it
  return w;
}

void GroupMetadataManager::await_replication(const PendingWrite& w, OffsetsLog::ReplicatedFn done) const {
  log_.await_replication(w.partition, w.append, config_.commit_timeout_ms, std::move(done));
}

ErrorCode GroupMetadataManager::group_write_error(ErrorCode e) {
  // A timed-out group write sends the members back to rejoin.
  return write_error(e, ErrorCode::kUnknownServerError, ErrorCode::kRebalanceInProgress);
}

ErrorCode GroupMetadataManager::offset_write_error(ErrorCode e) {
  // REQUEST_TIMED_OUT goes to the client as it is: a retriable commit
  // failure that also sends it looking for the coordinator.
  return write_error(e, ErrorCode::kInvalidCommitOffsetSize, ErrorCode::kRequestTimedOut);
}

PendingWrite GroupMetadataManager::store_group(const Group& g, const std::map<std::string, Bytes>* assignment,
                                               int64_t now) {
  GroupValue v;
  v.protocol_type = g.protocol_type;
  v.generation = g.generation;
  v.protocol = g.protocol_name;
  v.leader = g.leader;
  v.current_state_timestamp = g.current_state_timestamp_ms;
  for (const auto& [id, m] : g.members) {
    GroupMemberRecord r;
    r.member_id = id;
    r.group_instance_id = m.group_instance_id;
    r.client_id = m.client_id;
    r.client_host = m.client_host;
    r.rebalance_timeout_ms = m.rebalance_timeout_ms;
    r.session_timeout_ms = m.session_timeout_ms;
    if (g.protocol_name) {
      if (const Bytes* md = m.metadata_for(*g.protocol_name)) r.subscription = *md;
    }
    if (assignment) {
      auto it = assignment->find(id);
      if (it != assignment->end()) r.assignment = it->second;
    } else {
      r.assignment = m.assignment;
    }
    v.members.push_back(std::move(r));
  }
  Bytes value = encode_group_value(v);
  // A string the record's int16 lengths cannot hold (a compact request may
  // carry one): nothing is written, the request is refused.
  if (value.empty()) {
    PendingWrite w;
    w.partition = g.partition;
    w.error = ErrorCode::kInvalidRequest;
    return w;
  }
  std::vector<OffsetsRecordBytes> recs;
  recs.push_back({encode_group_key(g.group_id), std::move(value)});
  PendingWrite w = write(g.partition, std::move(recs), now);
  w.error = group_write_error(w.error);
  return w;
}

OffsetCommitWrite GroupMetadataManager::store_offsets(Group& g, const CommitRequest& req, int64_t now) {
  OffsetCommitWrite w;
  w.group_id = g.group_id;
  w.producer_id = req.producer_id;
  w.errors.assign(req.partitions.size(), ErrorCode::kNone);
  std::vector<OffsetsRecordBytes> records;
  for (size_t i = 0; i < req.partitions.size(); ++i) {
    const CommitPartition& p = req.partitions[i];
    const std::string metadata = p.metadata.value_or("");
    if (static_cast<int64_t>(metadata.size()) > config_.max_metadata_bytes) {
      w.errors[i] = ErrorCode::kOffsetMetadataTooLarge;
      continue;
    }
    CommittedOffset c;
    c.offset = p.offset;
    c.leader_epoch = p.leader_epoch;
    c.metadata = metadata;
    c.commit_timestamp_ms = p.commit_timestamp_ms >= 0 ? p.commit_timestamp_ms : now;
    c.expire_timestamp_ms = req.retention_ms >= 0 ? c.commit_timestamp_ms + req.retention_ms : -1;
    OffsetValue v{c.offset, c.leader_epoch, c.metadata, c.commit_timestamp_ms, c.expire_timestamp_ms};
    Bytes key = encode_offset_key(OffsetKey{g.group_id, p.tp.topic, p.tp.partition});
    Bytes value = encode_offset_value(v);
    if (key.empty() || value.empty()) {
      // Longer than a record's int16 strings (offset.metadata.max.bytes set above them).
      w.errors[i] = ErrorCode::kOffsetMetadataTooLarge;
      continue;
    }
    records.push_back({std::move(key), std::move(value)});
    w.offsets.push_back({p.tp, c});
    w.written.push_back(i);
  }
  if (records.empty()) return w;
  std::optional<TxnProducer> txn;
  if (w.transactional()) txn = TxnProducer{req.producer_id, req.producer_epoch};
  w.write = write(g.partition, std::move(records), now, txn);
  if (w.write.error != ErrorCode::kNone) {
    w.write.error = offset_write_error(w.write.error);
    for (size_t i : w.written) w.errors[i] = w.write.error;
    return w;
  }
  for (auto& [tp, c] : w.offsets) c.record_offset = w.write.append.base_offset;
  if (w.transactional()) {
    // Pending from now on (Kafka's prepareTxnOffsetCommit), whether the ISR
    // has the batch yet or not: the marker decides, a failed wait drops them.
    add_pending_txn(g, w.producer_id, w.offsets);
    return w;
  }
  for (auto& [tp, c] : w.offsets) g.pending_offsets[tp] = c.record_offset;
  if (!w.write.waiting()) apply_offsets(w, ErrorCode::kNone);
  return w;
}

void GroupMetadataManager::complete_offsets(OffsetCommitWrite& w, ErrorCode replication_error) {
  const ErrorCode e = offset_write_error(replication_error);
  for (size_t i : w.written) w.errors[i] = e;
  if (!owns(w.write.partition, w.write.coordinator_epoch)) return;  // unloaded meanwhile: nothing to update
  if (w.transactional()) {
    if (e != ErrorCode::kNone) fail_pending_txn(w);
    return;
  }
  apply_offsets(w, e);
}

void GroupMetadataManager::apply_offsets(OffsetCommitWrite& w, ErrorCode error) {
  Group* g = find(w.group_id);
  if (!g) return;  // deleted meanwhile
  for (auto& [tp, c] : w.offsets) {
    auto pending = g->pending_offsets.find(tp);
    // No longer pending: the offsets were deleted (or expired) meanwhile.
    if (pending == g->pending_offsets.end()) continue;
    if (error == ErrorCode::kNone) {
      auto it = g->offsets.find(tp);
      if (it == g->offsets.end() || it->second.record_offset < c.record_offset) {
        log()->debug("group {} committed {}-{} at {}", w.group_id, tp.topic, tp.partition, c.offset);
        g->offsets[tp] = c;
      }
    }
    if (pending->second == c.record_offset) g->pending_offsets.erase(pending);
  }
}

FetchOffsetsResult GroupMetadataManager::fetch_offsets(const std::string& group_id,
                                                       const std::optional<std::vector<TopicPartition>>& partitions,
                                                       bool require_stable) const {
  FetchOffsetsResult out;
  if (ErrorCode e = check(group_id); e != ErrorCode::kNone) {
    out.error = e;
    if (partitions) {
      for (const auto& tp : *partitions) out.partitions.push_back({tp, -1, -1, "", e});
    }
    return out;
  }
  auto git = groups_.find(group_id);
  const Group* g = git == groups_.end() ? nullptr : &git->second;
  // Kafka's getOffsets: with require_stable (OffsetFetch v7+) a partition
  // whose commit is not settled — a transaction's without its marker, or a
  // commit on its way to the ISR — answers UNSTABLE_OFFSET_COMMIT (the
  // consumer retries) instead of an offset that may be about to change.
  auto unstable = [&](const TopicPartition& tp) { return require_stable && g && g->has_pending_commit(tp); };
  if (!partitions) {
    // Every committed offset (Kafka's allOffsets): a partition that has only
    // a pending commit is not listed.
    if (g) {
      for (const auto& [tp, c] : g->offsets) {
        if (unstable(tp)) {
          out.partitions.push_back({tp, -1, -1, "", ErrorCode::kUnstableOffsetCommit});
        } else {
          out.partitions.push_back({tp, c.offset, c.leader_epoch, c.metadata});
        }
      }
    }
    return out;
  }
  for (const auto& tp : *partitions) {
    FetchedOffset f;
    f.tp = tp;
    if (unstable(tp)) {
      f.error = ErrorCode::kUnstableOffsetCommit;
    } else if (g) {
      auto it = g->offsets.find(tp);
      if (it != g->offsets.end()) {
        f.offset = it->second.offset;
        f.leader_epoch = it->second.leader_epoch;
        f.metadata = it->second.metadata;
      }
    }
    log()->debug("group {} fetched {}-{}: {}", group_id, tp.topic, tp.partition, f.offset);
    out.partitions.push_back(std::move(f));
  }
  return out;
}

// --- deletion ---------------------------------------------------------------

ErrorCode GroupMetadataManager::delete_group(Group& g, int64_t now) {
  const std::string group_id = g.group_id;  // g goes with the cache entry
  std::vector<OffsetsRecordBytes> records;
  for (const auto& [tp, c] : g.offsets) records.push_back(offset_tombstone(group_id, tp));
  records.push_back({encode_group_key(group_id), std::nullopt});
  if (ErrorCode e = append(g.partition, std::move(records), now); e != ErrorCode::kNone) return e;
  // Its pending transactional offsets go with it (Kafka's DeleteGroups): a
  // marker coming later finds no group.
  forget_txn_group(g);
  groups_.erase(group_id);
  log()->info("group {} deleted", group_id);
  return ErrorCode::kNone;
}

ErrorCode GroupMetadataManager::delete_offsets(Group& g, const std::vector<TopicPartition>& partitions,
                                               int64_t now) {
  std::vector<OffsetsRecordBytes> records;
  std::vector<TopicPartition> removed;
  for (const auto& tp : partitions) {
    // A commit still on its way to the ISR goes too (Kafka's removeOffsets):
    // its tombstone comes after it in the log.
    // A transaction's offsets of the partition go too, with no tombstone
    // unless there is a committed offset (Kafka's removeOffsets).
    g.drop_pending_txn(tp);
    if (!g.offsets.count(tp) && !g.pending_offsets.count(tp)) continue;
    records.push_back(offset_tombstone(g.group_id, tp));
    removed.push_back(tp);
  }
  if (records.empty()) return ErrorCode::kNone;
  if (ErrorCode e = append(g.partition, std::move(records), now); e != ErrorCode::kNone) return e;
  for (const auto& tp : removed) {
    g.offsets.erase(tp);
    g.pending_offsets.erase(tp);
  }
  return ErrorCode::kNone;
}

bool GroupMetadataManager::remove_offsets(std::map<std::string, Group>::iterator& it,
                                          const std::vector<TopicPartition>& gone, int64_t now) {
  Group& g = it->second;
  const bool nothing_pending = std::all_of(g.pending_offsets.begin(), g.pending_offsets.end(), [&](const auto& p) {
    return std::find(gone.begin(), gone.end(), p.first) != gone.end();
  });
  // Pending transactional offsets keep the group (Kafka's hasOffsets); their
  // marker settles them.
  const bool dead = g.is(GroupState::kEmpty) && g.offsets.size() == gone.size() && nothing_pending &&
                    g.pending_txn_offsets.empty();
  std::vector<OffsetsRecordBytes> records;
  for (const auto& tp : gone) records.push_back(offset_tombstone(g.group_id, tp));
  if (dead) records.push_back({encode_group_key(g.group_id), std::nullopt});
  if (!records.empty() && append(g.partition, std::move(records), now) != ErrorCode::kNone) {
    ++it;
    return false;
  }
  for (const auto& tp : gone) {
    g.offsets.erase(tp);
    g.pending_offsets.erase(tp);
  }
  if (dead) {
    log()->info("group {} removed with its last offsets", g.group_id);
    it = groups_.erase(it);
  } else {
    ++it;
  }
  return true;
}

void GroupMetadataManager::on_partition_deleted(const TopicPartition& tp, int64_t now) {
  for (auto it = groups_.begin(); it != groups_.end();) {
    if (loaded(it->second.partition)) it->second.drop_pending_txn(tp);
    if (!loaded(it->second.partition) || !it->second.offsets.count(tp)) {
      ++it;
      continue;
    }
    if (!remove_offsets(it, {tp}, now)) {
      log()->warn("cannot remove the offsets of deleted partition {}-{}", tp.topic, tp.partition);
    }
  }
}

// --- expiry -----------------------------------------------------------------

void GroupMetadataManager::expire_offsets_if_due(int64_t now) {
  if (now - last_expiry_ms_ < config_.retention_check_interval_ms) return;
  last_expiry_ms_ = now;
  expire_offsets(now);
}

void GroupMetadataManager::expire_offsets(int64_t now) {
  size_t expired_count = 0;
  for (auto it = groups_.begin(); it != groups_.end();) {
    Group& g = it->second;
    if (!loaded(g.partition)) {
      ++it;
      continue;
    }
    // Kafka's rules (KIP-211): an empty group's offsets expire a retention
    // period after it became empty; a stable consumer group's offsets of
    // topics it no longer subscribes to, a retention period after their
    // commit; a group that only stores offsets, after each commit. An
    // explicit expire timestamp (OffsetCommit v1-4) wins.
    std::optional<std::function<int64_t(const CommittedOffset&)>> base;
    std::set<std::string> keep_topics;
    if (g.is(GroupState::kEmpty) && !g.protocol_type.empty()) {
      base = [&g](const CommittedOffset& c) {
        return g.current_state_timestamp_ms >= 0 ? g.current_state_timestamp_ms : c.commit_timestamp_ms;
      };
    } else if (g.is(GroupState::kEmpty) && g.protocol_type.empty()) {
      base = [](const CommittedOffset& c) { return c.commit_timestamp_ms; };
    } else if (g.is(GroupState::kStable) && g.protocol_type == "consumer") {
      if (auto topics = g.subscribed_topics()) {
        keep_topics = *topics;
        base = [](const CommittedOffset& c) { return c.commit_timestamp_ms; };
      }
    }
    std::vector<TopicPartition> gone;
    if (base) {
      for (const auto& [tp, c] : g.offsets) {
        if (keep_topics.count(tp.topic) || g.pending_offsets.count(tp)) continue;
        bool expired = c.expire_timestamp_ms >= 0 ? now >= c.expire_timestamp_ms
                                                  : now - (*base)(c) >= config_.offsets_retention_ms;
        if (expired) gone.push_back(tp);
      }
    }
    // A failed write is tried again at the next pass.
    if (remove_offsets(it, gone, now)) expired_count += gone.size();
  }
  if (expired_count) log()->info("expired {} committed offset(s)", expired_count);
}

}  // namespace keel::group
