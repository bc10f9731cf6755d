#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/log.h"

namespace keel {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Logging, UnknownLevelThrows) {
  EXPECT_THROW(init_logging("verbose", ""), std::runtime_error);
}

TEST(Logging, UnopenableFileThrows) {
  // A regular file as the "directory": cannot be opened even by root.
  auto blocker = std::filesystem::temp_directory_path() / "keel_log_test_blocker";
  std::ofstream(blocker) << "x";
  EXPECT_THROW(init_logging("info", (blocker / "keel.log").string()), std::runtime_error);
  std::filesystem::remove(blocker);
}

TEST(Logging, FileGetsOneLineWithTimeLevelAndModule) {
  auto path = std::filesystem::temp_directory_path() / "keel_log_test.log";
  std::filesystem::remove(path);
  auto early = logger("early");  // taken before init: must follow the new sink
  init_logging("INFO", path.string());
  early->info("broker started on {}", 9092);
  logger("storage")->debug("below the level, not written");
  logger("storage")->error("disk full");
  early->flush();
  std::string text = read_all(path);
  EXPECT_THAT(text, HasSubstr("info [early] broker started on 9092\n"));
  EXPECT_THAT(text, HasSubstr("error [storage] disk full\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("below the level")));
  std::string first = text.substr(0, text.find('\n'));
  EXPECT_THAT(first, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z info \\[early\\] .*"));
  init_logging("info", "");
  std::filesystem::remove(path);
}

TEST(Logging, InfoLineReachesTheFileWithoutAnExplicitFlush) {
  // A broker killed with SIGKILL never flushes; its start line must already be on disk.
  auto path = std::filesystem::temp_directory_path() / "keel_log_flush_test.log";
  std::filesystem::remove(path);
  init_logging("info", path.string());
  logger("main")->info("keel started");
  EXPECT_THAT(read_all(path), HasSubstr("info [main] keel started\n"));
  init_logging("info", "");
  std::filesystem::remove(path);
}

TEST(Logging, FileInAMissingDirectoryIsCreatedWithItsDirectory) {
  auto dir = std::filesystem::temp_directory_path() / "keel_log_test_newdir";
  std::filesystem::remove_all(dir);
  auto path = dir / "sub" / "keel.log";
  init_logging("info", path.string());
  logger("main")->info("first line");
  EXPECT_THAT(read_all(path), HasSubstr("info [main] first line\n"));
  init_logging("info", "");
  std::filesystem::remove_all(dir);
}

TEST(Logging, SameModuleGivesSameLogger) {
  EXPECT_EQ(logger("net").get(), logger("net").get());
  EXPECT_NE(logger("net").get(), logger("server").get());
}

}  // namespace
}  // namespace keel

namespace keel {
namespace {

TEST(Logging, ReinitialisingWhileAnotherThreadLogsLosesNoLine) {
  auto path = std::filesystem::temp_directory_path() / "keel_log_race.log";
  std::filesystem::remove(path);
  init_logging("info", path.string());
  std::thread writer([] {
    for (int i = 0; i < 2000; ++i) logger("race")->info("line {}", i);
  });
  for (int i = 0; i < 50; ++i) init_logging("info", path.string());
  writer.join();
  logger("race")->flush();
  std::string text = read_all(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2000);
  EXPECT_THAT(text, HasSubstr("info [race] line 1999\n"));
  init_logging("info", "");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace keel
