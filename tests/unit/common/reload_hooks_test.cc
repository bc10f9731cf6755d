#include "common/reload_hooks.h"

#include <stdexcept>

#include <gtest/gtest.h>

namespace keel {
namespace {

TEST(ReloadHooks, RunsEveryHookInOrderAndReportsFailures) {
  ReloadHooks hooks;
  std::vector<std::string> ran;
  hooks.add("logs", [&] { ran.push_back("logs"); return std::string(); });
  hooks.add("tls", [&] { ran.push_back("tls"); return std::string("cannot read /etc/keel/broker.pem"); });
  hooks.add("users", [&]() -> std::string { ran.push_back("users"); throw std::runtime_error("bad file"); });
  hooks.add("acls", [&] { ran.push_back("acls"); return std::string(); });
  EXPECT_EQ(hooks.size(), 4u);
  auto failures = hooks.run();
  EXPECT_EQ(ran, (std::vector<std::string>{"logs", "tls", "users", "acls"}));  // a failure stops nothing
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_EQ(failures[0].name, "tls");
  EXPECT_EQ(failures[0].why, "cannot read /etc/keel/broker.pem");
  EXPECT_EQ(failures[1].name, "users");
  EXPECT_EQ(failures[1].why, "bad file");
}

TEST(ReloadHooks, WithoutHooksNothingFails) {
  ReloadHooks hooks;
  EXPECT_TRUE(hooks.run().empty());
}

}  // namespace
}  // namespace keel
