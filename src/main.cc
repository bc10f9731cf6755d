// keel: a Kafka-compatible broker.
//
//   keel --config FILE         run the broker until SIGTERM or SIGINT (SIGHUP
//                              reopens the log file and runs the reload hooks);
//                              under systemd (Type=notify) it reports READY=1,
//                              STATUS=, RELOADING=1, STOPPING=1 and WATCHDOG=1
//                              on $NOTIFY_SOCKET (common/systemd_notify.h)
//   keel --check-config FILE   validate FILE, print the effective configuration
//   keel --version
//   keel --hash-password USER [SCRAM-SHA-256|SCRAM-SHA-512 [ITERATIONS]]
//                              read a password from stdin, print the line for
//                              sasl.plain.credentials.file
//
// Exit codes: 0 clean stop or valid config, 1 bad configuration or start-up
// failure, 2 bad command line.

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <atomic>
#include <chrono>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/systemd_notify.h"
#include "config/config_def.h"
#include "config/config.h"
#include "security/scram.h"
#include "server/broker.h"
#include "server/sasl.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "0.0.0"
#endif

namespace {

constexpr std::string_view kUsage =
    "usage: keel --config FILE        run the broker\n"
    "       keel --check-config FILE  validate a configuration file and print it\n"
    "       keel --version            print the version\n"
    "       keel --hash-password USER [SCRAM-SHA-256|SCRAM-SHA-512 [ITERATIONS]]\n"
    "                                 read USER's password from stdin (one line) and print\n"
    "                                 its line for sasl.plain.credentials.file\n";

// The password is read from stdin, never taken from the command line, where
// other users of the machine could see it (ps) and shells keep it (history).
int hash_password(int argc, char** argv) {
  const std::string user = argv[2];
  if (user.empty() || user.find(':') != std::string::npos) {
    std::cerr << "keel: the user name must be non-empty and hold no ':'\n";
    return 2;
  }
  auto mechanism = keel::security::ScramMechanism::kSha256;
  if (argc >= 4) {
    auto m = keel::security::parse_mechanism(argv[3]);
    if (!m) {
      std::cerr << "keel: unknown mechanism '" << argv[3] << "' (SCRAM-SHA-256 or SCRAM-SHA-512)\n";
      return 2;
    }
    mechanism = *m;
  }
  int32_t iterations = 8192;
  if (argc >= 5) {
    try {
      iterations = std::stoi(argv[4]);
    } catch (const std::exception&) {
      std::cerr << "keel: iterations must be a number\n";
      return 2;
    }
  }
  std::string password;
  if (!std::getline(std::cin, password) || password.empty()) {
    std::cerr << "keel: no password on stdin\n";
    return 2;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  auto line = keel::server::plain_credentials_line(user, password, mechanism, iterations);
  if (!line) {
    std::cerr << "keel: " << line.error().message() << " (iterations must be 4096..16384)\n";
    return 2;
  }
  std::cout << *line << "\n";
  return 0;
}

int check_config(const char* path) {
  try {
    auto config = keel::config::load_config_file(path);
    // Every key with its effective value; the ones the file sets say where.
    for (const auto& e : config.describe()) {
      std::cout << e.name << "=" << (keel::config::is_sensitive_key(e.name) ? "[hidden]" : e.value);
      if (e.explicitly_set) std::cout << "    # " << path << ":" << e.line;
      std::cout << "\n";
    }
    for (const auto& k : config.ignored_kafka_keys) {
      std::cout << "# " << path << ":" << k.line << ": " << k.key << " has no effect in Keel (" << k.why << ")\n";
    }
    std::cout << "# " << path << ": configuration OK\n";
    return 0;
  } catch (const keel::config::ConfigError& e) {
    std::cerr << "keel: invalid configuration:\n" << e.what() << "\n";
    return 1;
  }
}

int run(const char* path) {
  // SIGTERM/SIGINT (stop) and SIGHUP (reopen the log file, for logrotate) are
  // taken synchronously by this thread (sigwait below); blocked here, before
  // any thread starts, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client vanishing mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  // Request buffers (up to a few MiB each, allocated and freed for every
  // produce request) are kept by malloc for reuse instead of being mapped
  // fresh and given back to the kernel each time: glibc's default maps
  // blocks past a moving threshold and trims freed memory at the top of a
  // heap, so a steady producer paid page faults and page zeroing on every
  // request (and on VMs with free page reporting, a host fault per page).
  // Blocks over 32 MiB are still mapped; what is kept is bounded by the
  // buffers alive at once (connections x request size, at most).
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);

  keel::config::BrokerConfig config;
  try {
    config = keel::config::load_config_file(path);
  } catch (const keel::config::ConfigError& e) {
    std::cerr << "keel: invalid configuration:\n" << e.what() << "\n";
    keel::logger("main")->error("invalid configuration in {}: {}", path, e.what());
    return 1;
  }
  try {
    keel::init_logging(config.logging_level, config.logging_file);
    keel::set_log_broker_id(config.broker_id);
    keel::set_module_level("request", config.logging_request_level);
  } catch (const std::exception& e) {
    std::cerr << "keel: cannot set up logging: " << e.what() << "\n";
    return 1;
  }
  auto log = keel::logger("main");
  for (const auto& k : config.ignored_kafka_keys) {
    log->warn("{}:{}: Kafka's key '{}' has no effect in Keel ({}); it is accepted so Kafka's configs start",
              path, k.line, k.key, k.why);
  }

  try {
    keel::server::Broker broker(config);
    broker.start();
    std::string where;
    for (size_t i = 0; i < config.listeners.size(); ++i) {
      if (!where.empty()) where += ", ";
      auto ep = config.listeners[i];
      ep.port = broker.bound_ports()[i];
      where += ep.to_string();
    }
    log->info("keel {} started: broker.id={}, cluster.id={}, listening on {}, config {}",
              KEEL_VERSION, config.broker_id, broker.identity().cluster_id, where, path);
    // Logs recovered, broker registered, listeners serving: systemd may
    // start what depends on Keel (Type=notify).
    auto& systemd = keel::systemd::notifier();
    const std::string serving = "serving: broker " + std::to_string(config.broker_id) + " on " + where;
    systemd.notify("READY=1\nSTATUS=" + serving);
    // WATCHDOG=1 while the request path answers (and while stopping: the
    // stop has its own timeout, TimeoutStopSec).
    std::atomic<bool> stopping{false};
    const auto probe_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
        systemd.watchdog_interval().value_or(std::chrono::seconds(4)) / 4);
    keel::systemd::WatchdogPinger watchdog(systemd, [&] { return stopping || broker.responsive(probe_timeout); });

    int sig = 0;
    for (;;) {
      sigwait(&signals, &sig);
      if (sig != SIGHUP) break;
      systemd.reloading();
      systemd.status("reloading");
      try {
        keel::init_logging(config.logging_level, config.logging_file);
        log->info("log file reopened on SIGHUP");
      } catch (const std::exception& e) {
        // Keep running on the old sink; say why on stderr, which is all there is.
        std::cerr << "keel: cannot reopen the log file on SIGHUP: " << e.what() << "\n";
      }
      const auto failed = broker.reload_hooks().run();
      // A failed hook keeps what it had: the broker serves on, as before.
      systemd.notify("READY=1\nSTATUS=" + serving +
                     (failed.empty() ? std::string() : "; last reload failed for " + failed.front().name));
    }
    log->info("keel stopping on {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stopping = true;
    systemd.notify("STOPPING=1\nSTATUS=stopping");
    broker.stop();
    log->info("keel stopped");
    log->flush();
    return 0;
  } catch (const std::exception& e) {
    log->error("keel failed to start: {}", e.what());
    log->flush();
    std::cerr << "keel: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--version") == 0)) {
    std::cout << "keel " << KEEL_VERSION << "\n";
    return 0;
  }
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << kUsage;
    return 0;
  }
  if (argc >= 3 && argc <= 5 && std::strcmp(argv[1], "--hash-password") == 0) return hash_password(argc, argv);
  if (argc == 3 && std::strcmp(argv[1], "--check-config") == 0) return check_config(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--config") == 0) return run(argv[2]);
  std::cerr << kUsage;
  return 2;
}
