#include "cluster/high_watermark_checkpoint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace keel::cluster {
namespace {

namespace fs = std::filesystem;

class HighWatermarkCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hwcp-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(HighWatermarkCheckpointTest, WritesKafkasFormatAndReadsItBack) {
  {
    HighWatermarkCheckpoints cp({dir_.string()});
    EXPECT_FALSE(cp.recorded({"t", 0}));
    cp.write([&] {
      return std::vector<HighWatermarkCheckpoints::Entry>{{dir_.string(), {"t", 0}, 42}, {dir_.string(), {"u", 3}, 7}};
    });
  }
  std::ifstream in(dir_ / "replication-offset-checkpoint");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "0\n2\nt 0 42\nu 3 7\n");
  HighWatermarkCheckpoints again({dir_.string()});
  EXPECT_EQ(again.recorded({"t", 0}), 42);
  EXPECT_EQ(again.recorded({"u", 3}), 7);
}

TEST_F(HighWatermarkCheckpointTest, AnUncheckedHighWatermarkStaysOnRecordUntilForgotten) {
  {
    HighWatermarkCheckpoints cp({dir_.string()});
    cp.write([&] { return std::vector<HighWatermarkCheckpoints::Entry>{{dir_.string(), {"t", 0}, 300}}; });
  }
  HighWatermarkCheckpoints cp({dir_.string()});
  // Not hosted yet (-1), or hosted with a lower high watermark: the old one
  // is kept, so a second restart still knows what was acknowledged.
  cp.write([&] { return std::vector<HighWatermarkCheckpoints::Entry>{{dir_.string(), {"t", 0}, -1}}; });
  EXPECT_EQ(HighWatermarkCheckpoints({dir_.string()}).recorded({"t", 0}), 300);
  cp.write([&] { return std::vector<HighWatermarkCheckpoints::Entry>{{dir_.string(), {"t", 0}, 100}}; });
  EXPECT_EQ(HighWatermarkCheckpoints({dir_.string()}).recorded({"t", 0}), 300);
  // Checked (or the replica is hosted): its own high watermark from now on.
  cp.forget({"t", 0});
  cp.write([&] { return std::vector<HighWatermarkCheckpoints::Entry>{{dir_.string(), {"t", 0}, 100}}; });
  EXPECT_EQ(HighWatermarkCheckpoints({dir_.string()}).recorded({"t", 0}), 100);
  // A log that is gone (deleted) leaves the file.
  cp.write([&] { return std::vector<HighWatermarkCheckpoints::Entry>{}; });
  EXPECT_FALSE(HighWatermarkCheckpoints({dir_.string()}).recorded({"t", 0}));
}

TEST_F(HighWatermarkCheckpointTest, TheThreadWritesPeriodicallyAndOnStop) {
  HighWatermarkCheckpoints cp({dir_.string()});
  std::atomic<int64_t> hw{5};
  cp.start([&] { return std::vector<HighWatermarkCheckpoints::Entry>{{dir_.string(), {"t", 0}, hw.load()}}; }, 10);
  for (int i = 0; i < 200 && !fs::exists(dir_ / "replication-offset-checkpoint"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(HighWatermarkCheckpoints({dir_.string()}).recorded({"t", 0}), 5);
  hw = 9;
  cp.stop();
  EXPECT_EQ(HighWatermarkCheckpoints({dir_.string()}).recorded({"t", 0}), 9);
}

}  // namespace
}  // namespace keel::cluster
