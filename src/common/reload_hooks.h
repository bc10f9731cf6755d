#pragma once
// What a reload (SIGHUP, `systemctl reload keel`) re-reads: a list of named
// callbacks, run in the order they were added. The log file is reopened
// first (main.cc); the TLS listeners re-read their certificate and key
// files through a hook of their own, and any module with files an operator
// replaces in place may add one.
//
// A hook returns "" when done, else why it failed; a failed hook keeps what
// it had (old certificates keep serving) and the others still run. The
// broker keeps serving throughout: a reload never stops a listener.
//
// Threads: add() and run() may be called from any thread; run() calls the
// hooks on the calling thread (the signal-handling thread in main.cc), one
// reload at a time.

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace keel {

class ReloadHooks {
 public:
  using Hook = std::function<std::string()>;

  void add(std::string name, Hook hook);

  struct Failure {
    std::string name;
    std::string why;
  };
  // Runs every hook; logs one line per hook that failed and one summary line.
  // Returns the failures (empty: everything reloaded).
  std::vector<Failure> run();

  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Hook>> hooks_;
  std::mutex run_mu_;  // one reload at a time
};

}  // namespace keel
