#pragma once
// Shared by the controller tests: a BrokerChannel that watches no config
// changes, broker 0's options, and a patient wait.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "controller/controller.h"

namespace keel::controller::test_support {

class NoConfigChanges : public BrokerChannel {
 public:
  void topic_config_changed(const std::string&, const std::map<std::string, std::string>&) override {}
  void broker_config_changed(const std::map<std::string, std::string>&,
                             const std::map<std::string, std::string>&) override {}
};

// Broker 0 of `cluster_id`, on one PLAINTEXT endpoint, with no timed
// preferred-leader checks.
inline ControllerOptions broker0_options(const std::string& cluster_id) {
  ControllerOptions o;
  o.broker_id = 0;
  o.cluster_id = cluster_id;
  o.registration.id = 0;
  o.registration.endpoints.push_back({"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"});
  o.auto_leader_rebalance_enable = false;
  return o;
}

// Waits (generously: CI runs on two busy cores) for `done`.
inline bool eventually(const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace keel::controller::test_support
