#include "cluster/high_watermark_checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "common/log.h"
#include "common/thread_name.h"

namespace keel::cluster {
namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("replica-manager");
  return l;
}

std::string path_of(const std::string& dir) {
  return (std::filesystem::path(dir) / storage::kReplicationOffsetCheckpoint).string();
}

}  // namespace

HighWatermarkCheckpoints::HighWatermarkCheckpoints(const std::vector<std::string>& log_dirs) : log_dirs_(log_dirs) {
  for (const auto& dir : log_dirs_) {
    auto read = storage::read_offset_checkpoint(path_of(dir));
    if (!read) {
      log()->warn("cannot read {}: {}; its high watermarks are unknown", path_of(dir), read.error().message());
      continue;
    }
    recorded_.insert(read->begin(), read->end());
  }
}

HighWatermarkCheckpoints::~HighWatermarkCheckpoints() {
  {
    std::lock_guard lock(wake_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<int64_t> HighWatermarkCheckpoints::recorded(const storage::TopicPartition& tp) const {
  std::lock_guard lock(mu_);
  auto it = recorded_.find(tp);
  if (it == recorded_.end()) return std::nullopt;
  return it->second;
}

void HighWatermarkCheckpoints::forget(const storage::TopicPartition& tp) {
  std::lock_guard lock(mu_);
  recorded_.erase(tp);
}

void HighWatermarkCheckpoints::write(const Source& source) {
  std::map<std::string, storage::OffsetMap> by_dir;
  for (const auto& dir : log_dirs_) by_dir[dir];
  std::map<storage::TopicPartition, std::string> hosted;
  for (const auto& e : source()) {
    hosted[e.tp] = e.log_dir;
    if (e.high_watermark >= 0) by_dir[e.log_dir][e.tp] = e.high_watermark;
  }
  {
    // A high watermark not yet checked against its log (the replica has not
    // been told to lead since start-up, or refused to) stays on record, so
    // a restart does not lose it.
    std::lock_guard lock(mu_);
    for (const auto& [tp, hw] : recorded_) {
      auto h = hosted.find(tp);
      if (h == hosted.end()) continue;
      auto& slot = by_dir[h->second][tp];
      slot = std::max(slot, hw);
    }
  }
  for (const auto& [dir, offsets] : by_dir) {
    if (!std::filesystem::is_directory(dir)) continue;  // an offline dir
    if (auto r = storage::write_offset_checkpoint(path_of(dir), offsets); !r) {
      log()->error("cannot write {}: {}", path_of(dir), r.error().message());
    }
  }
}

void HighWatermarkCheckpoints::start(Source source, int64_t interval_ms) {
  source_ = std::move(source);
  thread_ = std::thread([this, interval_ms] {
    set_thread_name("keel-hw-ckpt");
    std::unique_lock lock(wake_mu_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stop_; })) {
      lock.unlock();
      write(source_);
      lock.lock();
    }
  });
}

void HighWatermarkCheckpoints::stop() {
  {
    std::lock_guard lock(wake_mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (source_) write(source_);
}

}  // namespace keel::cluster
