#pragma once
// A BrokerChannel for controller tests that watch no config changes.

#include <map>
#include <string>

#include "controller/controller.h"

namespace keel::controller::test_support {

class NoConfigChanges : public BrokerChannel {
 public:
  void topic_config_changed(const std::string&, const std::map<std::string, std::string>&) override {}
  void broker_config_changed(const std::map<std::string, std::string>&,
                             const std::map<std::string, std::string>&) override {}
};

}  // namespace keel::controller::test_support
