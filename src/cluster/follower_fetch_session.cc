#include "cluster/follower_fetch_session.h"

namespace keel::cluster {

namespace {

void add_partition(protocol::FetchRequest& req, const storage::TopicPartition& tp,
                   const FollowerFetchSession::PartitionState& s) {
  if (req.topics.empty() || req.topics.back().topic != tp.topic) req.topics.emplace_back().topic = tp.topic;
  auto& p = req.topics.back().partitions.emplace_back();
  p.partition = tp.partition;
  p.current_leader_epoch = s.current_leader_epoch;
  p.fetch_offset = s.fetch_offset;
  p.last_fetched_epoch = s.last_fetched_epoch;
  p.log_start_offset = s.log_start_offset;
  p.partition_max_bytes = s.partition_max_bytes;
}

}  // namespace

void FollowerFetchSession::build(const Wanted& wanted, protocol::FetchRequest& req) {
  req.topics.clear();
  req.forgotten_topics_data.clear();
  pending_ = wanted;
  if (epoch_ == 0) {
    // A full request: everything, replacing any session we had.
    req.session_id = session_id_;
    req.session_epoch = 0;
    for (const auto& [tp, s] : wanted) add_partition(req, tp, s);
    return;
  }
  req.session_id = session_id_;
  req.session_epoch = epoch_;
  for (const auto& [tp, s] : wanted) {
    auto it = session_.find(tp);
    if (it == session_.end() || !(it->second == s)) add_partition(req, tp, s);
  }
  for (const auto& [tp, s] : session_) {
    if (wanted.contains(tp)) continue;
    if (req.forgotten_topics_data.empty() || req.forgotten_topics_data.back().topic != tp.topic) {
      req.forgotten_topics_data.emplace_back().topic = tp.topic;
    }
    req.forgotten_topics_data.back().partitions.push_back(tp.partition);
  }
}

void FollowerFetchSession::on_response(int16_t error_code, int32_t session_id) {
  if (error_code != 0) {
    on_failure();
    return;
  }
  if (epoch_ == 0) {
    // The full request opened a session, or the leader declined one (id 0):
    // then every request stays a full one.
    session_id_ = session_id;
    if (session_id == 0) {
      session_.clear();
      return;
    }
    epoch_ = 1;
  } else {
    epoch_ = epoch_ == INT32_MAX ? 1 : epoch_ + 1;
  }
  session_ = std::move(pending_);
  pending_.clear();
}

void FollowerFetchSession::on_failure() {
  epoch_ = 0;  // the next request replaces the session (same id: the leader drops the old one)
  session_.clear();
  pending_.clear();
}

}  // namespace keel::cluster
