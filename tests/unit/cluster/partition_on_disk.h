#pragma once
// A Partition over a real Log in a temporary directory, reopened clean (as
// after a clean shutdown) or not (as after a crash, with no producer
// snapshot taken since): the fixture base of the partition tests that need
// the producer state rebuilt from disk.

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "cluster/partition.h"
#include "storage/log.h"

namespace keel::cluster {

class PartitionOnDisk : public ::testing::Test {
 protected:
  explicit PartitionOnDisk(const std::string& prefix)
      : dir_(std::filesystem::temp_directory_path() / (prefix + std::to_string(std::random_device{}()))) {}
  ~PartitionOnDisk() override {
    partition_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Reopens the log of t-0 under config_ and a new partition on it.
  void open(bool clean) {
    partition_.reset();
    if (log_ && clean) {
      ASSERT_TRUE(log_->close());
    }
    log_.reset();
    storage::LogOpenOptions o;
    o.dir = (dir_ / "t-0").string();
    o.config = config_;
    o.cache = &cache_;
    o.clean_shutdown = clean;
    auto r = storage::Log::open(o);
    ASSERT_TRUE(r) << r.error().message();
    log_ = std::move(*r);
    partition_ = std::make_unique<Partition>(TopicPartition{"t", 0}, protocol::Uuid{}, log_.get(), 1);
  }

  std::filesystem::path dir_;
  storage::FileCache cache_{64};
  storage::LogConfig config_;
  std::unique_ptr<storage::Log> log_;
  std::unique_ptr<Partition> partition_;
};

}  // namespace keel::cluster
