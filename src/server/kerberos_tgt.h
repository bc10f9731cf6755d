#pragma once
// The broker's Kerberos ticket-granting ticket for its own GSSAPI connections
// to other brokers, kept fresh in the background as Kafka's KerberosLogin
// does: logged in from the keytab at start, renewed at 80-85% of the
// ticket's life, retried every few seconds while the KDC does not answer
// (the old ticket serves meanwhile), and stored into a MEMORY ticket cache
// with one atomic move, so a connection never sees the cache empty.
//
// Why not let MIT's GSS-API refresh the ticket itself (gss_acquire_cred_from
// with client_keytab): it refreshes in line, inside the connection's login,
// from half the ticket's life on. With the KDC away, every new inter-broker
// connection then waited out the library's KDC retries (about 27 s) and timed
// out, although the ticket it held was good for hours: a controller could
// not reach a restarted broker for as long as the KDC was down (the chaos
// scenario kdc-down-restart-leader, docs/chaos.md). Here a connection only
// reads the cache; it needs the KDC only for a service ticket it has never
// had.
//
// Thread-safe. The renewing thread holds only shared state: the keeper may be
// destroyed while a login waits for the KDC (the thread ends after it).

#include <memory>
#include <string>

namespace keel::server {

struct KerberosTgtOptions {
  std::string principal;  // the JAAS line's principal=
  std::string keytab;     // its keyTab=
  std::string ccache;     // "MEMORY:..." the GSSAPI client reads
  double renew_window = 0.80;       // sasl.kerberos.ticket.renew.window.factor
  double renew_jitter = 0.05;       // sasl.kerberos.ticket.renew.jitter
  int64_t min_relogin_ms = 60'000;  // sasl.kerberos.min.time.before.relogin
  int64_t retry_ms = 5'000;         // after a failed login
};

class KerberosTgtKeeper {
 public:
  explicit KerberosTgtKeeper(KerberosTgtOptions options);
  ~KerberosTgtKeeper();  // stops renewing (a login under way finishes on its own)
  KerberosTgtKeeper(const KerberosTgtKeeper&) = delete;
  KerberosTgtKeeper& operator=(const KerberosTgtKeeper&) = delete;

  // Starts the renewing thread; its first login runs at once.
  void start();
  // Whether a login has succeeded yet (the cache holds a ticket).
  bool has_ticket() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// When to renew a ticket valid from `start_s` to `end_s` (epoch seconds),
// seconds from `now_s`: at window + jitter * u (u in [0, 1]) of its life, but
// not sooner than min_relogin_s after it started (Kafka's rule), nor past its
// end less a few seconds.
int64_t kerberos_renew_delay_s(int64_t now_s, int64_t start_s, int64_t end_s, double window, double jitter, double u,
                               int64_t min_relogin_s);

// The clock offset (KDC minus ours, seconds) a login's answer proves. MIT's
// kdc_timesync takes the ticket's authtime minus the time the request was
// made: a KDC that answers late (busy, stopped, its queue draining after an
// outage) sets our clock ahead by the delay, for every request made with
// that cache, and a KDC with a tight clockskew then refuses them all. The
// KDC stamped the ticket between asking and answering, so the offset lies
// in [authtime - answered, authtime - asked] (a second wider for whole
// seconds). Our clock is believed (0) unless that range leaves it out; then
// the library's offset, brought into the range.
int64_t kerberos_clock_offset_s(int64_t authtime_s, int64_t asked_s, int64_t answered_s, int64_t library_s);

}  // namespace keel::server
