#pragma once
// TLS for the listeners and the broker's own outgoing connections, on
// OpenSSL 3, configured with Kafka's ssl.* keys.
//
// TlsContext turns one set of ssl.* settings into an SSL_CTX and keeps the
// newest one for new connections: reload() re-reads the key and trust stores
// (SIGHUP, or a dynamic listener.name.<l>.ssl.keystore.location) and swaps
// the SSL_CTX; connections already open keep the one they started with
// (each SSL holds a reference to its SSL_CTX).
//
// TlsSession is one connection's SSL on a non-blocking socket (a socket
// BIO, not a memory BIO, so that the kernel can take over the record layer:
// kTLS). Every call returns at once: kWantRead / kWantWrite say which way the
// socket must become ready before the same call is made again. The Asio side
// (waiting for readiness, coroutines) is in tls_stream.h, inside net.
//
// Key stores: PEM (ssl.keystore.location naming one file with the private key
// and the certificate chain, or the inline ssl.keystore.key and
// ssl.keystore.certificate.chain) and PKCS12 with ssl.keystore.password.
// JKS is Java's own format and cannot be read: a store of type JKS (Kafka's
// default type) that really is a JKS file is refused with the keytool command
// that converts it; one that is a PKCS12 file is read as PKCS12, as Java 9+
// does. Trust stores the same (PEM file or ssl.truststore.certificates, or
// PKCS12).
//
// Thread-safety: TlsContext is thread-safe (reload() from the signal thread
// while reactor threads open sessions). A TlsSession is used by one thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace keel::security {
class SslPrincipalMapper;
}

namespace keel::net {

// One listener's (or the outgoing connections') ssl.* values, as Kafka names them.
struct TlsSettings {
  std::string keystore_type = "JKS";           // ssl.keystore.type: PEM, PKCS12, JKS
  std::string keystore_location;               // ssl.keystore.location
  std::string keystore_password;               // ssl.keystore.password
  std::string key_password;                    // ssl.key.password (an encrypted PEM key)
  std::string keystore_key;                    // ssl.keystore.key: inline PEM private key
  std::string keystore_certificate_chain;      // ssl.keystore.certificate.chain: inline PEM
  std::string truststore_type = "JKS";         // ssl.truststore.type
  std::string truststore_location;             // ssl.truststore.location
  std::string truststore_password;             // ssl.truststore.password
  std::string truststore_certificates;         // ssl.truststore.certificates: inline PEM
  std::string client_auth = "none";            // ssl.client.auth: required, requested, none
  std::vector<std::string> enabled_protocols = {"TLSv1.2", "TLSv1.3"};  // ssl.enabled.protocols
  std::vector<std::string> cipher_suites;      // ssl.cipher.suites; empty: OpenSSL's defaults
  std::string endpoint_identification_algorithm = "https";  // "" = do not check the host name
  std::string principal_mapping_rules = "DEFAULT";          // ssl.principal.mapping.rules

  friend bool operator==(const TlsSettings&, const TlsSettings&) = default;
};

enum class TlsRole { kServer, kClient };

// A setting that cannot be used: the message names the key and what to do.
class TlsConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TlsContext {
 public:
  // `name` names it in messages (the listener, or "inter-broker client").
  // Throws TlsConfigError when the settings or the stores cannot be used.
  TlsContext(std::string name, TlsSettings settings, TlsRole role);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Re-reads the stores with the current settings (or `settings`) and
  // installs the result for new connections. "" when done, else why not: the
  // previous SSL_CTX (and settings) then stay in use.
  std::string reload();
  std::string reload(TlsSettings settings);

  // The SSL_CTX new connections use. SSL_new() takes its own reference.
  std::shared_ptr<SSL_CTX> ssl_ctx() const;
  TlsSettings settings() const;
  const std::string& name() const { return name_; }
  TlsRole role() const { return role_; }
  // How many times a reload succeeded (0 at first).
  uint64_t generation() const;
  // Subject of the certificate this context presents ("" when none), in
  // Java's RFC 2253 form: lets a log line and a test see which one is in use.
  std::string certificate_subject() const;

  // The principal name of a client certificate's subject (Java RFC 2253 form)
  // by ssl.principal.mapping.rules; nullopt (and *why) when no rule maps it.
  std::optional<std::string> principal_name(std::string_view subject, std::string* why) const;

 private:
  struct Built;
  static Built build(const std::string& name, const TlsSettings& settings, TlsRole role);

  const std::string name_;
  const TlsRole role_;
  mutable std::mutex mu_;
  TlsSettings settings_;
  std::shared_ptr<SSL_CTX> ctx_;
  std::shared_ptr<const security::SslPrincipalMapper> mapper_;
  std::string subject_;
  uint64_t generation_ = 0;
};

enum class TlsIo {
  kOk,         // done (some bytes moved, or the handshake finished)
  kWantRead,   // wait until the socket is readable, then call again
  kWantWrite,  // wait until the socket is writable, then call again
  kClosed,     // the peer closed (close_notify or end of stream)
  kError,      // failed: error() says why; the connection must close
};

// How a session uses kernel TLS. The defaults are OpenSSL's BIO_get_ktls_send,
// SSL_sendfile and BIO_get_ktls_recv; a unit test substitutes its own to drive
// the kTLS branches on a kernel without TLS support. `send` returns bytes sent
// (> 0), or -1 with errno EAGAIN when the socket is full, or -1 otherwise.
struct KtlsOps {
  bool (*send_enabled)(SSL* ssl);
  ssize_t (*send)(SSL* ssl, int file_fd, off_t offset, size_t length);
  bool (*recv_enabled)(SSL* ssl);
};
// Replaces the operations for sessions created afterwards; nullptr restores
// OpenSSL's. For tests.
void set_ktls_ops_for_testing(const KtlsOps* ops);

class TlsSession {
 public:
  // A new SSL from ctx's current SSL_CTX on the connected, non-blocking socket
  // `fd` (not owned). A client session checks the server's certificate and,
  // with ssl.endpoint.identification.algorithm https, that it names `host`.
  // Throws TlsConfigError when OpenSSL cannot make the SSL.
  TlsSession(const TlsContext& ctx, int fd, std::string_view host = {});
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Once it finished, a session whose kernel does not decrypt what it
  // receives reads the socket in large reads of its own (ktls_recv() false).
  TlsIo handshake();
  // As much of `size` as the records already received hold (at least one
  // byte when kOk): one call for many small TLS records.
  TlsIo read(void* data, size_t size, size_t* got);
  // All of `size` or nothing (kWantWrite: call again with the same bytes).
  TlsIo write(const void* data, size_t size, size_t* put);
  // Bytes of `file_fd` from `offset` by kernel TLS (only when ktls_send()).
  TlsIo sendfile(int file_fd, off_t offset, size_t size, size_t* put);
  // Sends close_notify if the socket takes it now; never waits.
  void shutdown();

  // Whether the kernel encrypts what this session sends (after the handshake).
  bool ktls_send() const;
  // Whether the kernel decrypts what this session receives (after the
  // handshake; OpenSSL 3.0 offers it for TLS 1.2 only).
  bool ktls_recv() const;
  // Why the last call failed, with OpenSSL's reasons ("certificate verify
  // failed: unable to get local issuer certificate", "wrong version number").
  const std::string& error() const { return error_; }
  // The peer's certificate subject in Java's RFC 2253 form; "" when it sent none.
  std::string peer_subject() const;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384", for logs.
  std::string description() const;
  bool is_server() const;
  SSL* native() const { return ssl_; }

 private:
  TlsIo result(int ret, const char* what);
  // Replaces OpenSSL's socket read BIO by a read-ahead buffer of ours.
  void read_ahead_in_user_space();

  SSL* ssl_ = nullptr;
  const KtlsOps* ops_;
  std::string error_;
  bool user_read_ahead_ = false;  // reading through read_ahead_in_user_space()'s BIO
  TlsIo deferred_ = TlsIo::kOk;   // an end or error met after read() had bytes to return
};

}  // namespace keel::net
