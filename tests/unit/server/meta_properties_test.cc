#include "server/meta_properties.h"

#include <gtest/gtest.h>

#include <fstream>

namespace keel::server {
namespace {

namespace fs = std::filesystem;

class MetaPropertiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("keel-meta-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(MetaPropertiesTest, CreatedWithARandomClusterIdThenReused) {
  auto first = ensure_meta_properties(dir_, 4, std::nullopt);
  EXPECT_EQ(first.broker_id, 4);
  EXPECT_EQ(first.cluster_id.size(), 22u);
  auto again = ensure_meta_properties(dir_, 4, std::nullopt);
  EXPECT_EQ(again.cluster_id, first.cluster_id);
  std::ifstream in(dir_ / "meta.properties");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("broker.id=4\n"), std::string::npos);
  EXPECT_NE(text.find("version=0\n"), std::string::npos);
  EXPECT_NE(text.find("cluster.id=" + first.cluster_id + "\n"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "meta.properties.tmp"));
}

TEST_F(MetaPropertiesTest, AnotherBrokersDirectoryIsRefused) {
  ensure_meta_properties(dir_, 1, std::nullopt);
  try {
    ensure_meta_properties(dir_, 2, std::nullopt);
    FAIL() << "accepted another broker's directory";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("belongs to broker.id 1"), std::string::npos);
  }
}

TEST_F(MetaPropertiesTest, AnotherClustersDirectoryIsRefused) {
  ensure_meta_properties(dir_, 1, std::string("AAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_THROW(ensure_meta_properties(dir_, 1, std::string("BBBBBBBBBBBBBBBBBBBBBB")),
               std::runtime_error);
}

TEST_F(MetaPropertiesTest, ReadsKafkasOwnFile) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "meta.properties") << "#\n#Tue Nov 03 10:00:00 UTC 2026\n"
                                             "cluster.id=kUv2kR9vQeGm3Gbd8X9sXw\n"
                                             "version=0\nbroker.id=0\n";
  auto meta = read_meta_properties(dir_);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->cluster_id, "kUv2kR9vQeGm3Gbd8X9sXw");
  EXPECT_EQ(meta->broker_id, 0);
}

TEST_F(MetaPropertiesTest, MalformedFileIsAnError) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "meta.properties") << "version=zero\nbroker.id=0\ncluster.id=x\n";
  EXPECT_THROW(read_meta_properties(dir_), std::runtime_error);
  std::ofstream(dir_ / "meta.properties", std::ios::trunc) << "version=0\nbroker.id=0\n";
  EXPECT_THROW(read_meta_properties(dir_), std::runtime_error);
}

// Before joining the store a broker only reads: a new broker's directories
// have no cluster id yet (it takes the store's), and nothing is written.
TEST_F(MetaPropertiesTest, ReadClusterIdCreatesNothingAndChecksAgreement) {
  const fs::path a = dir_ / "a", b = dir_ / "b";
  EXPECT_EQ(read_cluster_id({a.string(), b.string()}, 3), std::nullopt);
  EXPECT_FALSE(fs::exists(a / "meta.properties"));
  ensure_meta_properties(b, 3, std::string("CCCCCCCCCCCCCCCCCCCCCC"));
  EXPECT_EQ(read_cluster_id({a.string(), b.string()}, 3), "CCCCCCCCCCCCCCCCCCCCCC");
  EXPECT_FALSE(fs::exists(a / "meta.properties"));
  EXPECT_THROW(read_cluster_id({a.string(), b.string()}, 4), std::runtime_error) << "another broker's directory";
  ensure_meta_properties(a, 3, std::string("DDDDDDDDDDDDDDDDDDDDDD"));
  try {
    read_cluster_id({a.string(), b.string()}, 3);
    FAIL() << "two clusters in one broker's directories";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("different clusters"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace keel::server
