#include "server/kerberos_tgt.h"

#include <krb5.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/thread_name.h"

namespace keel::server {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("server");
  return l;
}

// One login from the keytab into a fresh MEMORY cache, moved over `ccache`
// at the end; the ticket's start and end (epoch seconds), or why not.
struct Login {
  bool ok = false;
  int64_t start_s = 0, end_s = 0;
  std::string error;
};

Login login_once(const KerberosTgtOptions& o) {
  Login out;
  krb5_context ctx = nullptr;
  if (krb5_error_code code = krb5_init_context(&ctx); code != 0) {
    out.error = "cannot set up Kerberos (krb5_init_context failed with " + std::to_string(code) + ")";
    return out;
  }
  krb5_principal client = nullptr;
  krb5_keytab keytab = nullptr;
  krb5_ccache fresh = nullptr;
  krb5_ccache target = nullptr;
  krb5_creds creds{};
  bool have_creds = false;
  int64_t asked_s = 0;
  auto fail = [&](const std::string& what, krb5_error_code code) {
    const char* text = krb5_get_error_message(ctx, code);
    out.error = what + ": " + text;
    krb5_free_error_message(ctx, text);
  };
  const std::string keytab_name = "FILE:" + o.keytab;
  krb5_error_code code = krb5_parse_name(ctx, o.principal.c_str(), &client);
  if (code != 0) {
    fail("principal " + o.principal, code);
  } else if ((code = krb5_kt_resolve(ctx, keytab_name.c_str(), &keytab)) != 0) {
    fail("keytab " + o.keytab, code);
  } else if ((asked_s = std::time(nullptr), code = krb5_get_init_creds_keytab(ctx, &creds, client, keytab, 0,
                                                                              nullptr, nullptr)) != 0) {
    fail("no ticket for " + o.principal + " from keytab " + o.keytab, code);
  } else {
    have_creds = true;
    // The cache takes the context's clock offset: only what the answer proves.
    krb5_timestamp offset_s = 0;
    int32_t offset_us = 0;
    if (krb5_get_time_offsets(ctx, &offset_s, &offset_us) == 0 && (offset_s != 0 || offset_us != 0)) {
      const int64_t answered_s = std::time(nullptr);
      const int64_t kept = kerberos_clock_offset_s(creds.times.authtime, asked_s, answered_s, offset_s);
      if (kept != offset_s) {
        log()->info("Kerberos: the KDC answered {} s after the request; our clock is taken as {} s behind the KDC's, "
                    "not {} s",
                    answered_s - asked_s, kept, offset_s);
        // The library's public way to set an offset: the KDC's time now.
        timeval now{};
        gettimeofday(&now, nullptr);
        krb5_set_real_time(ctx, static_cast<krb5_timestamp>(now.tv_sec + kept), static_cast<krb5_int32>(now.tv_usec));
      }
    }
    // A fresh cache filled, then moved over the one connections read: they
    // see the old ticket or the new one, never an empty cache.
    if ((code = krb5_cc_new_unique(ctx, "MEMORY", nullptr, &fresh)) != 0 ||
        (code = krb5_cc_initialize(ctx, fresh, client)) != 0 || (code = krb5_cc_store_cred(ctx, fresh, &creds)) != 0 ||
        (code = krb5_cc_resolve(ctx, o.ccache.c_str(), &target)) != 0) {
      fail("cannot store the ticket in " + o.ccache, code);
    } else if ((code = krb5_cc_move(ctx, fresh, target)) != 0) {
      fail("cannot store the ticket in " + o.ccache, code);
    } else {
      fresh = nullptr;  // krb5_cc_move destroyed it
      out.ok = true;
      out.start_s = creds.times.starttime != 0 ? creds.times.starttime : creds.times.authtime;
      out.end_s = creds.times.endtime;
    }
  }
  if (have_creds) krb5_free_cred_contents(ctx, &creds);
  if (fresh) krb5_cc_destroy(ctx, fresh);
  if (target) krb5_cc_close(ctx, target);
  if (keytab) krb5_kt_close(ctx, keytab);
  if (client) krb5_free_principal(ctx, client);
  krb5_free_context(ctx);
  return out;
}

std::string utc(int64_t epoch_s) {
  const std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

}  // namespace

int64_t kerberos_renew_delay_s(int64_t now_s, int64_t start_s, int64_t end_s, double window, double jitter, double u,
                               int64_t min_relogin_s) {
  const int64_t life = std::max<int64_t>(end_s - start_s, 0);
  int64_t at = start_s + static_cast<int64_t>(static_cast<double>(life) * (window + jitter * std::clamp(u, 0.0, 1.0)));
  at = std::max(at, start_s + min_relogin_s);
  at = std::min(at, end_s - 5);  // a minimum that outlives a short ticket must not let it lapse
  return std::max<int64_t>(at - now_s, 1);
}

int64_t kerberos_clock_offset_s(int64_t authtime_s, int64_t asked_s, int64_t answered_s, int64_t library_s) {
  const int64_t low = authtime_s - answered_s - 1;
  const int64_t high = std::max(low, authtime_s - asked_s + 1);
  if (low <= 0 && 0 <= high) return 0;
  return std::clamp(library_s, low, high);
}

struct KerberosTgtKeeper::State {
  explicit State(KerberosTgtOptions o) : options(std::move(o)) {}
  const KerberosTgtOptions options;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;         // under mu
  bool has_ticket = false;   // under mu
};

KerberosTgtKeeper::KerberosTgtKeeper(KerberosTgtOptions options)
    : state_(std::make_shared<State>(std::move(options))) {}

KerberosTgtKeeper::~KerberosTgtKeeper() {
  std::lock_guard lock(state_->mu);
  state_->stop = true;
  state_->cv.notify_all();
}

bool KerberosTgtKeeper::has_ticket() const {
  std::lock_guard lock(state_->mu);
  return state_->has_ticket;
}

void KerberosTgtKeeper::start() {
  std::thread([state = state_]() {
    set_thread_name("keel-krb5-tgt");
    const auto& o = state->options;
    std::mt19937_64 rng(std::random_device{}());
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    int64_t held_until_s = 0;  // the end of the ticket in the cache, 0 before the first login
    int failures = 0;
    for (;;) {
      const Login l = login_once(o);
      const int64_t now_s = static_cast<int64_t>(std::time(nullptr));
      int64_t wait_ms;
      if (l.ok) {
        if (failures > 0 || held_until_s == 0) {
          log()->info("Kerberos: logged in as {} from keytab {} (ticket valid until {}){}", o.principal, o.keytab,
                      utc(l.end_s), failures > 0 ? " after " + std::to_string(failures) + " failed attempt(s)" : "");
        } else {
          log()->debug("Kerberos: ticket of {} renewed, valid until {}", o.principal, utc(l.end_s));
        }
        failures = 0;
        held_until_s = l.end_s;
        wait_ms = 1000 * kerberos_renew_delay_s(now_s, l.start_s, l.end_s, o.renew_window, o.renew_jitter, unit(rng),
                                                o.min_relogin_ms / 1000);
        std::lock_guard lock(state->mu);
        state->has_ticket = true;
      } else {
        ++failures;
        // The first failure, then one a minute: a KDC away for an hour is
        // one line a minute, not one per retry.
        if (failures == 1 || failures % std::max<int64_t>(1, 60'000 / std::max<int64_t>(o.retry_ms, 1)) == 0) {
          const std::string held =
              held_until_s > now_s ? "; the ticket held is good for " + std::to_string(held_until_s - now_s) + " s more"
              : held_until_s > 0   ? "; the ticket held has expired: inter-broker logins fail until one succeeds"
                                   : "; inter-broker logins fail until one succeeds";
          log()->warn("Kerberos: login as {} failed ({} attempt(s)): {}{}; retrying every {} ms", o.principal,
                      failures, l.error, held, o.retry_ms);
        }
        wait_ms = o.retry_ms;
      }
      std::unique_lock lock(state->mu);
      if (state->cv.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return state->stop; })) return;
    }
  }).detach();
}

}  // namespace keel::server
