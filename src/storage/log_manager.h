#pragma once
// All partition logs of a broker, over the directories of log.dirs.
//
// open(): for each log dir, reads the recovery-point and log-start-offset
// checkpoints, checks for .kafka_cleanshutdown (then deletes it: a crash from
// now on must be seen as unclean), removes "-delete" partition dirs, and opens
// every <topic>-<n> directory (recovering segments after the recovery point
// when the marker was absent). Opening is lazy per segment and descriptors go
// through one bounded FileCache, so 10,000 partitions start within the
// default open-files limit.
//
// A background thread (start()) flushes logs by flush.messages / flush.ms,
// applies retention, removes *.deleted files after file.delete.delay.ms and
// checkpoints recovery points. A cleaner thread (also start(), unless
// cleaner_enable is false) compacts at most one log every
// log.cleaner.backoff.ms (cleanup.policy with compact; see cleaner.h): the
// dirtiest among those at min.cleanable.dirty.ratio or past
// max.compaction.lag.ms. Its progress per partition is kept in each log dir's
// cleaner-offset-checkpoint (Kafka's format). shutdown() stops both threads,
// closes every log (on shutdown_threads_per_dir threads per online dir),
// writes the checkpoints and the clean-shutdown marker of each online
// directory.
//
// Each log dir is locked (flock on <dir>/.lock, held until destruction), so a
// second broker — or a second manager in this process — cannot open it.
//
// An I/O error in any log takes its whole directory offline (its logs refuse
// appends with kLogDirOffline). Thread-safe.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "storage/checkpoint.h"
#include "storage/file_cache.h"
#include "storage/log.h"
#include "storage/log_config.h"

namespace keel::storage {

struct LogManagerOptions {
  std::vector<std::string> log_dirs;
  LogConfig default_config;
  size_t max_open_files = 1000;                       // descriptors kept by the FileCache
  int64_t flush_check_interval_ms = 1000;             // how often the flusher looks at flush.ms
  int64_t retention_check_interval_ms = 300000;       // log.retention.check.interval.ms
  int64_t checkpoint_interval_ms = 60000;             // log.flush.offset.checkpoint.interval.ms
  std::function<int64_t()> clock;                     // ms; defaults to the system clock
  bool cleaner_enable = true;                         // log.cleaner.enable
  int64_t cleaner_backoff_ms = 15000;                 // log.cleaner.backoff.ms: between cleaner checks
  // Called by open() after each partition of a log dir is opened (recovered
  // when it must be), with how many of that dir's partitions are done: the
  // broker reports start-up progress to systemd from it. Optional.
  std::function<void(const std::string& dir, size_t opened, size_t total)> on_open_progress;
  // Threads per online log dir closing the logs in shutdown(), as Kafka closes
  // them on a pool per dir. A close waits on fsyncs, not on the CPU, and
  // concurrent fsyncs share journal commits: one thread took minutes to stop
  // 10,000 partitions (issue 23). More threads than cores is the point.
  size_t shutdown_threads_per_dir = 16;
  // Called by shutdown() after each log is closed, with how many are done of
  // how many: the broker reports stop progress to systemd from it. Called
  // from the closing threads, possibly at the same time (a count may arrive
  // after a larger one). Optional.
  std::function<void(size_t closed, size_t total)> on_close_progress;
};

class LogManager {
 public:
  // Errors: kStorageError when no log dir can be opened.
  static Result<std::unique_ptr<LogManager>> open(LogManagerOptions options);
  ~LogManager();

  // The log of tp, created (in the log dir with the fewest partitions) when
  // absent. topic_id, when non-empty, is written to partition.metadata.
  Result<Log*> get_or_create(const TopicPartition& tp, const LogConfig& config, const std::string& topic_id = "");
  Log* get(const TopicPartition& tp) const;
  // Every log with the directory (of log.dirs) holding it.
  struct LogEntry {
    TopicPartition tp;
    Log* log;
    std::string log_dir;
  };
  std::vector<LogEntry> logs() const;
  // Deletes a partition's log (topic deletion), as Kafka's asyncDelete: the
  // partition directory is renamed to <topic>-<n>.<32 hex>-delete at once (a
  // restart finishes the deletion) and removed by the background thread after
  // file.delete.delay.ms. The Log object stays alive until the manager is
  // destroyed, so a request still holding it never touches freed memory, and
  // readers holding FileRanges keep their descriptors. Absent tp: no-op.
  Result<void> remove(const TopicPartition& tp);
  size_t partition_count() const;
  // log.dirs as configured (online or not).
  const std::vector<std::string>& log_dirs() const { return options_.log_dirs; }
  std::vector<std::string> offline_dirs() const;
  // Called once for each dir that goes offline after an I/O error, on the
  // thread that met it (which may hold that log's lock): it must only hand
  // the news on, not call back into the logs. Set it before serving.
  void set_on_dir_offline(std::function<void(const std::string& dir)> fn);
  bool loaded_cleanly(const std::string& dir) const;
  FileCache& file_cache() { return cache_; }

  void start();
  // One pass of the background work at `now_ms` (the thread calls this; tests may too).
  void run_background_once(int64_t now_ms);
  Result<void> checkpoint_recovery_points();
  // One cleaner pass at now_ms: cleans the dirtiest eligible log, if any, and
  // writes its dir's cleaner-offset-checkpoint. Returns the partition cleaned.
  Result<std::optional<TopicPartition>> run_cleaner_once(int64_t now_ms);
  // The partition's first dirty offset as the cleaner knows it (0 if never cleaned).
  int64_t cleaner_checkpoint(const TopicPartition& tp) const;
  // Stops the thread, closes logs, writes checkpoints and the clean-shutdown markers.
  Result<void> shutdown();

 private:
  explicit LogManager(LogManagerOptions options);
  Result<void> load_dir(const std::string& dir);
  void mark_dir_offline(const std::string& dir);
  int64_t now() const { return options_.clock(); }

  LogManagerOptions options_;
  FileCache cache_;
  mutable std::mutex mu_;
  struct Entry {
    std::string dir;  // the log dir holding it
    std::unique_ptr<Log> log;
  };
  std::map<TopicPartition, Entry> logs_;
  std::vector<std::unique_ptr<Log>> retired_;  // removed logs (see remove())
  struct DirDeletion {
    std::string path;
    int64_t due_ms;
  };
  std::vector<DirDeletion> dir_deletions_;
  std::set<std::string> online_dirs_;
  std::set<std::string> offline_dirs_;
  std::function<void(const std::string&)> on_dir_offline_;  // under mu_
  std::set<std::string> clean_dirs_;
  std::vector<int> lock_fds_;
  std::thread thread_;
  std::thread cleaner_thread_;
  std::atomic<bool> cleaner_stop_{false};  // started before thread_ (which reads joinable())
  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<bool> flush_requested_{false};
  void watch(Log& log, const std::string& dir);
  bool shut_down_ = false;
  int64_t last_retention_ms_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  // Serialises checkpoint_recovery_points (the background thread and a
  // truncating fetcher write the same <file>.tmp). Taken before mu_.
  std::mutex checkpoint_mu_;
  int64_t last_clean_ms_ = 0;
  std::map<TopicPartition, int64_t> cleaner_offsets_;  // under mu_
  Result<void> write_cleaner_checkpoint(const std::string& dir);
};

}  // namespace keel::storage
