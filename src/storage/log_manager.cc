#include "storage/log_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <chrono>
#include <filesystem>

#include "common/log.h"
#include "common/thread_name.h"
#include "storage/cleaner.h"
#include "storage/errors.h"
#include "storage/parallel.h"

namespace keel::storage {

LogManager::LogManager(LogManagerOptions options) : options_(std::move(options)), cache_(options_.max_open_files) {
  if (!options_.clock) {
    options_.clock = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

LogManager::~LogManager() {
  if (!shut_down_) (void)shutdown();
  logs_.clear();
  for (int fd : lock_fds_) ::close(fd);
}

Result<std::unique_ptr<LogManager>> LogManager::open(LogManagerOptions options) {
  std::unique_ptr<LogManager> m(new LogManager(std::move(options)));
  auto log = keel::logger("storage");
  for (const std::string& dir : m->options_.log_dirs) {
    if (auto r = m->load_dir(dir); !r) {
      log->error("log dir {} failed to load: {}", dir, r.error().message());
      m->offline_dirs_.insert(dir);
    }
  }
  if (m->online_dirs_.empty()) return StorageErrc::kStorageError;
  m->last_retention_ms_ = m->last_checkpoint_ms_ = m->now();
  return m;
}

Result<void> LogManager::load_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return StorageErrc::kStorageError;
  int lock_fd = ::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return StorageErrc::kStorageError;
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    keel::logger("storage")->error("log dir {} is locked by another process or manager", dir);
    ::close(lock_fd);
    return StorageErrc::kStorageError;
  }
  lock_fds_.push_back(lock_fd);
  auto recovery = read_offset_checkpoint(dir + "/" + kRecoveryPointCheckpoint);
  if (!recovery) return recovery.error();
  auto starts = read_offset_checkpoint(dir + "/" + kLogStartOffsetCheckpoint);
  if (!starts) return starts.error();
  auto cleaned = read_offset_checkpoint(dir + "/" + kCleanerOffsetCheckpoint);
  if (!cleaned) return cleaned.error();
  std::string marker = dir + "/" + kCleanShutdownFile;
  bool clean = ::access(marker.c_str(), F_OK) == 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return StorageErrc::kStorageError;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  int64_t now_ms = now();
  size_t recovered = 0;
  size_t total = 0, opened = 0;
  if (options_.on_open_progress) {
    for (const std::string& name : names) total += parse_partition_dir(name) ? 1 : 0;
  }
  for (const std::string& name : names) {
    std::string path = dir + "/" + name;
    if (name.size() > 7 && name.compare(name.size() - 7, 7, "-delete") == 0) {
      std::filesystem::remove_all(path, ec);  // a partition whose deletion was interrupted
      continue;
    }
    auto tp = parse_partition_dir(name);
    if (!tp) continue;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    LogOpenOptions o;
    o.dir = path;
    o.config = options_.default_config;
    o.cache = &cache_;
    o.clean_shutdown = clean;
    auto rp = recovery->find(*tp);
    o.recovery_point = rp == recovery->end() ? 0 : rp->second;
    auto so = starts->find(*tp);
    o.log_start_offset = so == starts->end() ? 0 : so->second;
    o.now_ms = now_ms;
    auto log = Log::open(std::move(o));
    if (!log) return log.error();
    if ((*log)->recovered()) ++recovered;
    watch(**log, dir);
    if (auto c = cleaned->find(*tp); c != cleaned->end()) cleaner_offsets_[*tp] = c->second;
    logs_[*tp] = Entry{dir, std::move(*log)};
    if (options_.on_open_progress) options_.on_open_progress(dir, ++opened, total);
  }
  // From here on a crash is unclean.
  if (clean && ::unlink(marker.c_str()) != 0) return StorageErrc::kStorageError;
  if (clean) clean_dirs_.insert(dir);
  online_dirs_.insert(dir);
  keel::logger("storage")->info("loaded log dir {} ({} shutdown, {} partitions recovered)", dir,
                                clean ? "clean" : "unclean", recovered);
  return {};
}

void LogManager::watch(Log& log, const std::string& dir) {
  log.set_on_offline([this, dir] { mark_dir_offline(dir); });
  // A follower's truncation: the checkpointed recovery point may be above the
  // new log end; recovery must not skip what is appended from there.
  log.set_on_truncated([this] { (void)checkpoint_recovery_points(); });
  log.set_on_flush_needed([this] {
    // wake_mu_ is never held while a log's lock is taken, so taking it here
    // (under the log's lock) cannot deadlock, and no wake-up is lost.
    {
      std::lock_guard lock(wake_mu_);
      flush_requested_ = true;
    }
    // notify_all: the cleaner thread waits on the same condition variable, and
    // a notify_one that woke it instead of the flusher would lose the signal.
    wake_.notify_all();
  });
}

void LogManager::mark_dir_offline(const std::string& dir) {
  std::vector<Log*> others;
  std::function<void(const std::string&)> tell;
  {
    std::lock_guard lock(mu_);
    if (!online_dirs_.erase(dir)) return;
    offline_dirs_.insert(dir);
    for (auto& [tp, e] : logs_)
      if (e.dir == dir) others.push_back(e.log.get());
    tell = on_dir_offline_;
  }
  keel::logger("storage")->error("log dir {} is offline after an I/O error: its {} logs take no more writes", dir,
                                 others.size());
  for (Log* l : others) l->mark_offline(/*own_error=*/false);
  if (tell) tell(dir);
}

void LogManager::set_on_dir_offline(std::function<void(const std::string& dir)> fn) {
  std::lock_guard lock(mu_);
  on_dir_offline_ = std::move(fn);
}

Result<Log*> LogManager::get_or_create(const TopicPartition& tp, const LogConfig& config, const std::string& topic_id) {
  std::lock_guard lock(mu_);
  if (auto it = logs_.find(tp); it != logs_.end()) return it->second.log.get();
  if (online_dirs_.empty()) return StorageErrc::kLogDirOffline;
  std::map<std::string, size_t> counts;
  for (const auto& d : online_dirs_) counts[d] = 0;
  for (const auto& [t, e] : logs_)
    if (counts.count(e.dir)) ++counts[e.dir];
  std::string dir = std::min_element(counts.begin(), counts.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  LogOpenOptions o;
  o.dir = dir + "/" + tp.dir_name();
  o.config = config;
  o.cache = &cache_;
  o.now_ms = now();
  auto log = Log::open(std::move(o));
  if (!log) return log.error();
  if (!topic_id.empty()) {
    if (auto r = write_partition_metadata((*log)->dir(), topic_id); !r) return r.error();
  }
  watch(**log, dir);
  Log* raw = log->get();
  logs_[tp] = Entry{dir, std::move(*log)};
  return raw;
}

Log* LogManager::get(const TopicPartition& tp) const {
  std::lock_guard lock(mu_);
  auto it = logs_.find(tp);
  return it == logs_.end() ? nullptr : it->second.log.get();
}

std::vector<LogManager::LogEntry> LogManager::logs() const {
  std::lock_guard lock(mu_);
  std::vector<LogEntry> out;
  out.reserve(logs_.size());
  for (const auto& [tp, e] : logs_) out.push_back({tp, e.log.get(), e.dir});
  return out;
}

Result<void> LogManager::remove(const TopicPartition& tp) {
  // Taken out of the map under our lock, then handled without it: the log's
  // own lock (config(), below) is never taken while we hold ours, because a
  // log calls back into us (mark_dir_offline) while holding its lock.
  Entry entry;
  {
    std::lock_guard lock(mu_);
    auto it = logs_.find(tp);
    if (it == logs_.end()) return {};
    entry = std::move(it->second);
    logs_.erase(it);
    cleaner_offsets_.erase(tp);
  }
  Log& log = *entry.log;
  static const char kHex[] = "0123456789abcdef";
  std::string suffix;
  // Unique per deletion, as Kafka's random UUID: a topic deleted, created
  // again and deleted leaves two directories to rename, and a rename onto the
  // first one's fails (ENOTEMPTY). The hex digits come from the generator's
  // high bits: its low four bits repeat every 16 steps, which allowed only 16
  // names per partition.
  static std::atomic<uint64_t> deletions{0};
  uint64_t bits = (static_cast<uint64_t>(now()) << 20) ^ reinterpret_cast<uintptr_t>(&log) ^ ::getpid() ^
                  (deletions.fetch_add(1) * 0x9e3779b97f4a7c15ULL);
  for (int i = 0; i < 32; ++i) {
    suffix.push_back(kHex[bits >> 60]);
    bits = bits * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  const std::string target = log.dir() + "." + suffix + "-delete";
  const int64_t due = now() + log.config().file_delete_delay_ms;
  const bool renamed = ::rename(log.dir().c_str(), target.c_str()) == 0;
  if (renamed) {
    if (int dfd = ::open(entry.dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
      (void)::fsync(dfd);  // the rename survives a crash: a restart finishes the deletion
      ::close(dfd);
    }
  }
  const int rename_errno = errno;
  std::lock_guard lock(mu_);
  if (!renamed) {
    keel::logger("storage")->error("cannot rename {} to {}: {}", log.dir(), target, std::strerror(rename_errno));
    logs_[tp] = std::move(entry);  // still there: put it back
    return StorageErrc::kStorageError;
  }
  dir_deletions_.push_back({target, due});
  retired_.push_back(std::move(entry.log));
  return {};
}

size_t LogManager::partition_count() const {
  std::lock_guard lock(mu_);
  return logs_.size();
}

std::vector<std::string> LogManager::offline_dirs() const {
  std::lock_guard lock(mu_);
  return {offline_dirs_.begin(), offline_dirs_.end()};
}

bool LogManager::loaded_cleanly(const std::string& dir) const {
  std::lock_guard lock(mu_);
  return clean_dirs_.count(dir) > 0;
}

Result<void> LogManager::checkpoint_recovery_points() {
  std::lock_guard checkpoint_lock(checkpoint_mu_);
  std::map<std::string, OffsetMap> recovery, starts;
  {
    std::lock_guard lock(mu_);
    for (const auto& d : online_dirs_) {
      recovery[d];
      starts[d];
    }
    for (const auto& [tp, e] : logs_) {
      if (!online_dirs_.count(e.dir)) continue;
      recovery[e.dir][tp] = e.log->recovery_point();
      auto bases = e.log->segment_base_offsets();
      int64_t start = e.log->log_start_offset();
      // Kafka writes only starts above the first segment's base offset.
      if (!bases.empty() && start > bases.front()) starts[e.dir][tp] = start;
    }
  }
  Result<void> result;
  for (const auto& [dir, offsets] : recovery) {
    if (auto r = write_offset_checkpoint(dir + "/" + kRecoveryPointCheckpoint, offsets); !r) {
      mark_dir_offline(dir);
      result = r;
      continue;
    }
    if (auto r = write_offset_checkpoint(dir + "/" + kLogStartOffsetCheckpoint, starts[dir]); !r) {
      mark_dir_offline(dir);
      result = r;
    }
  }
  return result;
}

void LogManager::run_background_once(int64_t now_ms) {
  std::vector<Log*> logs;
  {
    std::lock_guard lock(mu_);
    for (auto& [tp, e] : logs_)
      if (!e.log->offline()) logs.push_back(e.log.get());
  }
  bool retention_due = now_ms - last_retention_ms_ >= options_.retention_check_interval_ms;
  for (Log* l : logs) {
    const LogConfig& c = l->config();
    if (l->unflushed_messages() > 0 &&
        (l->unflushed_messages() >= c.flush_messages || now_ms - l->last_flush_ms() >= c.flush_ms))
      (void)l->flush(now_ms);
    if (retention_due) (void)l->apply_retention(now_ms);
    l->delete_expired_files(now_ms);
  }
  if (retention_due) last_retention_ms_ = now_ms;
  std::vector<std::string> due_dirs;
  {
    std::lock_guard lock(mu_);
    std::erase_if(dir_deletions_, [&](const DirDeletion& d) {
      if (d.due_ms > now_ms) return false;
      due_dirs.push_back(d.path);
      return true;
    });
  }
  for (const auto& path : due_dirs) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) keel::logger("storage")->warn("cannot remove deleted partition directory {}: {}", path, ec.message());
  }
  if (now_ms - last_checkpoint_ms_ >= options_.checkpoint_interval_ms) {
    (void)checkpoint_recovery_points();
    last_checkpoint_ms_ = now_ms;
  }
  // Without start() (tests driving the manager by hand) the cleaner runs here.
  if (options_.cleaner_enable && !cleaner_thread_.joinable() && now_ms - last_clean_ms_ >= options_.cleaner_backoff_ms) {
    (void)run_cleaner_once(now_ms);
    last_clean_ms_ = now_ms;
  }
}

int64_t LogManager::cleaner_checkpoint(const TopicPartition& tp) const {
  std::lock_guard lock(mu_);
  auto it = cleaner_offsets_.find(tp);
  return it == cleaner_offsets_.end() ? 0 : it->second;
}

Result<std::optional<TopicPartition>> LogManager::run_cleaner_once(int64_t now_ms) {
  struct Candidate {
    TopicPartition tp;
    Log* log;
    std::string dir;
    int64_t first_dirty;
  };
  std::vector<Candidate> candidates;
  {
    std::lock_guard lock(mu_);
    for (auto& [tp, e] : logs_) {
      if (e.log->offline() || !online_dirs_.count(e.dir)) continue;
      auto c = cleaner_offsets_.find(tp);
      candidates.push_back({tp, e.log.get(), e.dir, c == cleaner_offsets_.end() ? 0 : c->second});
    }
  }
  // Outside our lock: the logs' locks are never taken under it (see remove()).
  const Candidate* best = nullptr;
  double best_ratio = -1;
  for (auto& c : candidates) {
    LogConfig config = c.log->config();
    if (!config.compacts()) continue;
    // A checkpoint outside the log (truncation, DeleteRecords) restarts from the log start.
    if (c.first_dirty < c.log->log_start_offset() || c.first_dirty > c.log->log_end_offset())
      c.first_dirty = c.log->log_start_offset();
    auto info = Cleaner::dirty_info(*c.log, c.first_dirty);
    if (!info || !Cleaner::needs_cleaning(*info, config, now_ms)) continue;
    if (info->ratio() > best_ratio) {
      best_ratio = info->ratio();
      best = &c;
    }
  }
  if (!best) return std::optional<TopicPartition>{};
  auto stats = Cleaner({}, [this] { return cleaner_stop_.load(); }).clean(*best->log, best->first_dirty, now_ms);
  if (!stats) {
    keel::logger("storage")->error("cleaner failed on {}: {}", best->tp.dir_name(), stats.error().message());
    return stats.error();
  }
  if (stats->aborted) return std::optional<TopicPartition>{};  // shutting down: no progress recorded
  keel::logger("storage")->info("cleaned {}: {} of {} records removed, {} -> {} bytes, {} segments rewritten",
                                best->tp.dir_name(), stats->records_removed, stats->records_read,
                                stats->bytes_before, stats->bytes_after, stats->segments_rewritten);
  {
    std::lock_guard lock(mu_);
    if (!logs_.count(best->tp)) return std::optional<TopicPartition>{};  // removed meanwhile
    cleaner_offsets_[best->tp] = stats->cleaned_up_to;
  }
  if (auto r = write_cleaner_checkpoint(best->dir); !r) return r.error();
  return std::optional<TopicPartition>{best->tp};
}

Result<void> LogManager::write_cleaner_checkpoint(const std::string& dir) {
  OffsetMap offsets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [tp, off] : cleaner_offsets_) {
      auto it = logs_.find(tp);
      if (it != logs_.end() && it->second.dir == dir) offsets[tp] = off;
    }
  }
  auto r = write_offset_checkpoint(dir + "/" + kCleanerOffsetCheckpoint, offsets);
  if (!r) mark_dir_offline(dir);
  return r;
}

void LogManager::start() {
  if (thread_.joinable()) return;
  if (options_.cleaner_enable) {
    // Its own thread, as Kafka's cleaner threads: a long clean must not hold
    // up flushes, retention and checkpoints.
    cleaner_thread_ = std::thread([this] {
      set_thread_name("keel-log-clean");
      std::unique_lock lock(wake_mu_);
      while (!stop_) {
        wake_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, options_.cleaner_backoff_ms)),
                       [this] { return stop_; });
        if (stop_) break;
        lock.unlock();
        (void)run_cleaner_once(now());
        lock.lock();
      }
    });
  }
  thread_ = std::thread([this] {
    set_thread_name("keel-log-flush");
    std::unique_lock lock(wake_mu_);
    while (!stop_) {
      wake_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, options_.flush_check_interval_ms)),
                     [this] { return stop_ || flush_requested_.load(); });
      if (stop_) break;
      flush_requested_ = false;
      lock.unlock();
      run_background_once(now());
      lock.lock();
    }
  });
}

Result<void> LogManager::shutdown() {
  if (shut_down_) return {};
  shut_down_ = true;
  {
    std::lock_guard lock(wake_mu_);
    stop_ = true;
  }
  cleaner_stop_ = true;  // a pass in progress stops between two batches
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (cleaner_thread_.joinable()) cleaner_thread_.join();
  Result<void> result;
  std::vector<std::pair<std::string, Log*>> logs;
  {
    std::lock_guard lock(mu_);
    for (auto& [tp, e] : logs_) logs.emplace_back(e.dir, e.log.get());
  }
  size_t dir_count;
  {
    std::lock_guard lock(mu_);
    dir_count = online_dirs_.size();
  }
  std::mutex result_mu;
  std::atomic<size_t> closed{0};
  for_each_parallel(logs.size(), options_.shutdown_threads_per_dir * std::max<size_t>(1, dir_count), [&](size_t i) {
    auto& [dir, l] = logs[i];
    if (!l->offline()) {
      if (auto r = l->close(); !r) {
        mark_dir_offline(dir);
        std::lock_guard lock(result_mu);
        result = r;
      }
      l->delete_expired_files(INT64_MAX);
    }
    const size_t done = closed.fetch_add(1) + 1;
    if (options_.on_close_progress) options_.on_close_progress(done, logs.size());
  });
  if (auto r = checkpoint_recovery_points(); !r) result = r;
  std::set<std::string> dirs;
  {
    std::lock_guard lock(mu_);
    dirs = online_dirs_;
  }
  for (const auto& dir : dirs) {
    if (auto r = write_file_atomic(dir + "/" + kCleanShutdownFile, "{\"version\":0,\"brokerEpoch\":-1}"); !r) result = r;
  }
  return result;
}

}  // namespace keel::storage
