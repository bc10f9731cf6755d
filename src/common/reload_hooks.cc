#include "common/reload_hooks.h"

#include <exception>

#include "common/log.h"

namespace keel {

void ReloadHooks::add(std::string name, Hook hook) {
  std::lock_guard lock(mu_);
  hooks_.emplace_back(std::move(name), std::move(hook));
}

size_t ReloadHooks::size() const {
  std::lock_guard lock(mu_);
  return hooks_.size();
}

std::vector<ReloadHooks::Failure> ReloadHooks::run() {
  std::lock_guard running(run_mu_);
  std::vector<std::pair<std::string, Hook>> hooks;
  {
    std::lock_guard lock(mu_);
    hooks = hooks_;  // a hook may add another; it runs on the next reload
  }
  auto log = keel::logger("reload");
  std::vector<Failure> failures;
  std::string done;
  for (auto& [name, hook] : hooks) {
    std::string why;
    try {
      why = hook();
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (why.empty()) {
      done += (done.empty() ? "" : ", ") + name;
    } else {
      log->error("reload of {} failed, keeping what it had: {}", name, why);
      failures.push_back({name, std::move(why)});
    }
  }
  log->info("reload: {} of {} reloaded{}{}", hooks.size() - failures.size(), hooks.size(),
            done.empty() ? "" : " (", done.empty() ? "" : done + ")");
  return failures;
}

}  // namespace keel
