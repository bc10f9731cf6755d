#include "net/tls.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>
#include <vector>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "security/principal_rules.h"

namespace keel::net {

namespace {

// What one recv(2) of a TLS connection may take once the handshake is done
// (ReadAhead, below): a few reads per 1 MiB produce request.
constexpr size_t kReadAheadBytes = 256 << 10;
// Drained read-ahead buffers a thread keeps for its next connection that reads.
constexpr size_t kSpareReadAheadBuffers = 2;

std::shared_ptr<spdlog::logger> log() {
  static auto l = keel::logger("net");
  return l;
}

// OpenSSL's queued errors as one line (and the queue emptied).
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    // "error:0A000086:SSL routines::certificate verify failed": the reason is the last part.
    std::string_view text(buf);
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos) text.remove_prefix(colon + 1);
    if (out.find(text) != std::string::npos) continue;
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  return out;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

std::string read_file(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TlsConfigError(key + " " + path + ": cannot open the file: " + std::strerror(errno));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// What a store file holds, by its first bytes.
enum class StoreFormat { kPem, kPkcs12, kJks, kUnknown };
StoreFormat sniff(const std::string& bytes) {
  auto byte = [&](size_t i) { return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0; };
  if (byte(0) == 0xFE && byte(1) == 0xED && byte(2) == 0xFE && byte(3) == 0xED) return StoreFormat::kJks;
  if (byte(0) == 0xCE && byte(1) == 0xCE && byte(2) == 0xCE && byte(3) == 0xCE) return StoreFormat::kJks;  // JCEKS
  if (byte(0) == 0x30) return StoreFormat::kPkcs12;  // a DER SEQUENCE
  if (bytes.find("-----BEGIN ") != std::string::npos) return StoreFormat::kPem;
  return StoreFormat::kUnknown;
}

// `prefix` is "ssl.keystore" or "ssl.truststore". The format the store's
// type and bytes say, or an error telling how to convert a JKS store.
StoreFormat store_format(const std::string& prefix, std::string type, const std::string& location,
                         const std::string& bytes) {
  type = upper(type);
  const StoreFormat found = sniff(bytes);
  if (type == "PEM") {
    if (found != StoreFormat::kPem)
      throw TlsConfigError(prefix + ".location " + location + " is not PEM (" + prefix + ".type is PEM)");
    return StoreFormat::kPem;
  }
  if (type == "PKCS12" || (type == "JKS" && found == StoreFormat::kPkcs12)) {
    // Java 9 and later read a PKCS12 file whatever the type says: so does keel.
    if (found != StoreFormat::kPkcs12)
      throw TlsConfigError(prefix + ".location " + location + " is not a PKCS12 file (" + prefix + ".type is " +
                           type + ")");
    return StoreFormat::kPkcs12;
  }
  if (type == "JKS") {
    throw TlsConfigError(prefix + ".location " + location + " is a " + (found == StoreFormat::kJks ? "JKS" : type) +
                         " store (" + prefix + ".type " + type +
                         "), Java's own format, which keel cannot read. Convert it to PKCS12: keytool "
                         "-importkeystore -srckeystore " + location + " -srcstoretype JKS -destkeystore " + location +
                         ".p12 -deststoretype PKCS12, then set " + prefix + ".location to the .p12 file and " + prefix +
                         ".type: PKCS12 (or use PEM files with " + prefix + ".type: PEM)");
  }
  throw TlsConfigError(prefix + ".type " + type + " is not supported: use PEM or PKCS12");
}

struct Pkcs12Contents {
  PkeyPtr key;
  X509Ptr cert;
  X509StackPtr chain;
};

Pkcs12Contents read_pkcs12(const std::string& prefix, const std::string& location, const std::string& bytes,
                           const std::string& password) {
  BioPtr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  PKCS12* p12 = d2i_PKCS12_bio(bio.get(), nullptr);
  if (!p12) throw TlsConfigError(prefix + ".location " + location + ": not a PKCS12 file: " + openssl_errors());
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  STACK_OF(X509)* chain = nullptr;
  const int ok = PKCS12_parse(p12, password.c_str(), &key, &cert, &chain);
  PKCS12_free(p12);
  if (!ok) {
    throw TlsConfigError(prefix + ".location " + location + ": cannot open the PKCS12 store (wrong " + prefix +
                         ".password?): " + openssl_errors());
  }
  return {PkeyPtr(key), X509Ptr(cert), X509StackPtr(chain)};
}

std::vector<X509Ptr> read_pem_certificates(const std::string& what, const std::string& text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  std::vector<X509Ptr> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the end of the text reads as "no start line"
  if (out.empty()) throw TlsConfigError(what + ": no PEM certificate found");
  return out;
}

PkeyPtr read_pem_key(const std::string& what, const std::string& text, const std::string& password) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  EVP_PKEY* key =
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, const_cast<char*>(password.empty() ? "" : password.c_str()));
  if (!key) {
    throw TlsConfigError(what + ": no usable PEM private key (encrypted keys need ssl.key.password): " +
                         openssl_errors());
  }
  return PkeyPtr(key);
}

// The key store into ctx: certificate, chain and private key. Returns the
// certificate (for its subject), or null when no key store is configured.
X509* use_keystore(SSL_CTX* ctx, const TlsSettings& s) {
  PkeyPtr key;
  std::vector<X509Ptr> certs;
  const bool inline_pem = !s.keystore_key.empty() || !s.keystore_certificate_chain.empty();
  if (inline_pem) {
    if (!s.keystore_location.empty())
      throw TlsConfigError("ssl.keystore.location and ssl.keystore.key are both set: use one");
    if (s.keystore_key.empty() || s.keystore_certificate_chain.empty())
      throw TlsConfigError("ssl.keystore.key and ssl.keystore.certificate.chain go together: set both");
    if (upper(s.keystore_type) != "PEM")
      throw TlsConfigError("ssl.keystore.key is PEM text: set ssl.keystore.type: PEM");
    key = read_pem_key("ssl.keystore.key", s.keystore_key, s.key_password);
    certs = read_pem_certificates("ssl.keystore.certificate.chain", s.keystore_certificate_chain);
  } else if (!s.keystore_location.empty()) {
    const std::string bytes = read_file("ssl.keystore.location", s.keystore_location);
    if (store_format("ssl.keystore", s.keystore_type, s.keystore_location, bytes) == StoreFormat::kPem) {
      const std::string what = "ssl.keystore.location " + s.keystore_location;
      key = read_pem_key(what, bytes, s.key_password);
      certs = read_pem_certificates(what, bytes);
    } else {
      auto p12 = read_pkcs12("ssl.keystore", s.keystore_location, bytes, s.keystore_password);
      if (!p12.key || !p12.cert)
        throw TlsConfigError("ssl.keystore.location " + s.keystore_location + " holds no private key with its certificate");
      key = std::move(p12.key);
      certs.push_back(std::move(p12.cert));
      while (p12.chain && sk_X509_num(p12.chain.get()) > 0) certs.emplace_back(sk_X509_shift(p12.chain.get()));
    }
  } else {
    return nullptr;
  }
  if (SSL_CTX_use_certificate(ctx, certs.front().get()) != 1)
    throw TlsConfigError("the key store's certificate cannot be used: " + openssl_errors());
  for (size_t i = 1; i < certs.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, certs[i].get()) != 1)
      throw TlsConfigError("the key store's certificate chain cannot be used: " + openssl_errors());
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    throw TlsConfigError("the key store's private key does not match its certificate: " + openssl_errors());
  return certs.front().get();  // the SSL_CTX keeps its own reference
}

// The trust store into ctx. False when none is configured.
bool use_truststore(SSL_CTX* ctx, const TlsSettings& s) {
  std::vector<X509Ptr> certs;
  if (!s.truststore_certificates.empty()) {
    if (!s.truststore_location.empty())
      throw TlsConfigError("ssl.truststore.location and ssl.truststore.certificates are both set: use one");
    certs = read_pem_certificates("ssl.truststore.certificates", s.truststore_certificates);
  } else if (!s.truststore_location.empty()) {
    const std::string bytes = read_file("ssl.truststore.location", s.truststore_location);
    if (store_format("ssl.truststore", s.truststore_type, s.truststore_location, bytes) == StoreFormat::kPem) {
      certs = read_pem_certificates("ssl.truststore.location " + s.truststore_location, bytes);
    } else {
      auto p12 = read_pkcs12("ssl.truststore", s.truststore_location, bytes, s.truststore_password);
      if (p12.cert) certs.push_back(std::move(p12.cert));
      while (p12.chain && sk_X509_num(p12.chain.get()) > 0) certs.emplace_back(sk_X509_shift(p12.chain.get()));
      if (certs.empty())
        throw TlsConfigError("ssl.truststore.location " + s.truststore_location + " holds no certificate");
    }
  } else {
    return false;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (auto& c : certs) {
    if (X509_STORE_add_cert(store, c.get()) != 1) {
      // The same certificate twice is harmless.
      if (ERR_GET_REASON(ERR_peek_last_error()) != X509_R_CERT_ALREADY_IN_HASH_TABLE)
        throw TlsConfigError("a trust store certificate cannot be used: " + openssl_errors());
      ERR_clear_error();
    }
  }
  return true;
}

int protocol_version(const std::string& name) {
  if (name == "TLSv1.3") return TLS1_3_VERSION;
  if (name == "TLSv1.2") return TLS1_2_VERSION;
  if (name == "TLSv1.1") return TLS1_1_VERSION;
  if (name == "TLSv1") return TLS1_VERSION;
  throw TlsConfigError("ssl.enabled.protocols: unknown protocol '" + name + "' (TLSv1.2, TLSv1.3)");
}

void set_protocols(SSL_CTX* ctx, const std::vector<std::string>& protocols) {
  if (protocols.empty()) throw TlsConfigError("ssl.enabled.protocols is empty: no client could connect");
  int lo = TLS1_3_VERSION, hi = TLS1_VERSION;
  for (const auto& p : protocols) {
    const int v = protocol_version(p);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  SSL_CTX_set_min_proto_version(ctx, lo);
  SSL_CTX_set_max_proto_version(ctx, hi);
}

// ssl.cipher.suites as Java names them (IANA names, e.g.
// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) or as OpenSSL does. TLS 1.3 suites
// go to SSL_CTX_set_ciphersuites, the others to SSL_CTX_set_cipher_list.
void set_ciphers(SSL_CTX* ctx, const std::vector<std::string>& suites) {
  if (suites.empty()) return;
  std::string tls13, tls12;
  STACK_OF(SSL_CIPHER)* all = nullptr;
  SSL* probe = SSL_new(ctx);
  SSL_set_cipher_list(probe, "ALL:COMPLEMENTOFALL");
  all = SSL_get_ciphers(probe);
  for (const auto& name : suites) {
    const SSL_CIPHER* found = nullptr;
    for (int i = 0; all && i < sk_SSL_CIPHER_num(all) && !found; ++i) {
      const SSL_CIPHER* c = sk_SSL_CIPHER_value(all, i);
      const char* standard = SSL_CIPHER_standard_name(c);
      if ((standard && name == standard) || name == SSL_CIPHER_get_name(c)) found = c;
    }
    const bool is13 = name.starts_with("TLS_AES_") || name.starts_with("TLS_CHACHA20_");
    if (is13) {
      tls13 += (tls13.empty() ? "" : ":") + name;
    } else if (found) {
      tls12 += (tls12.empty() ? "" : ":") + std::string(SSL_CIPHER_get_name(found));
    } else {
      SSL_free(probe);
      throw TlsConfigError("ssl.cipher.suites: unknown cipher suite '" + name + "'");
    }
  }
  SSL_free(probe);
  // A version none of whose suites is named keeps OpenSSL's defaults (so a
  // TLS 1.2 list does not switch TLS 1.3 off; ssl.enabled.protocols does).
  if (!tls13.empty() && SSL_CTX_set_ciphersuites(ctx, tls13.c_str()) != 1)
    throw TlsConfigError("ssl.cipher.suites: " + openssl_errors());
  if (!tls12.empty() && SSL_CTX_set_cipher_list(ctx, tls12.c_str()) != 1)
    throw TlsConfigError("ssl.cipher.suites: " + openssl_errors());
  ERR_clear_error();
}

bool is_ip_address(std::string_view host) {
  unsigned char buf[16];
  const std::string h(host);
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

bool default_send_enabled(SSL* ssl) { return BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1; }

ssize_t default_send(SSL* ssl, int fd, off_t offset, size_t length) {
  const ossl_ssize_t n = SSL_sendfile(ssl, fd, offset, length, 0);
  if (n > 0) return n;
  if (SSL_get_error(ssl, static_cast<int>(n)) == SSL_ERROR_WANT_WRITE) {
    errno = EAGAIN;
  } else if (errno == EAGAIN) {
    errno = EIO;
  }
  return -1;
}

bool default_recv_enabled(SSL* ssl) { return BIO_get_ktls_recv(SSL_get_rbio(ssl)) == 1; }

const KtlsOps kOpenSslKtls{&default_send_enabled, &default_send, &default_recv_enabled};
std::atomic<const KtlsOps*> g_ktls_ops{&kOpenSslKtls};

// Ciphertext read from the socket ahead of OpenSSL, in large reads, and
// handed to it as it asks: the read BIO of a session whose kernel does not
// decrypt (TlsSession::handshake). OpenSSL's own read ahead
// (SSL_CTX_set_read_ahead) moves whatever it holds beyond the record it
// starts to the front of its buffer at every record (OpenSSL 3.0,
// ssl3_read_n): with a buffer large enough to save reads, 128 KiB, that was
// more memmove than the AES-GCM itself for 1-16 KiB records. Here each
// ciphertext byte is copied once, and the buffer is refilled only once
// drained: never compacted. A drained buffer goes back to the thread's
// spares, so idle connections hold none.
class ReadAhead {
 public:
  explicit ReadAhead(int fd) : fd_(fd) {}
  ~ReadAhead() { release(); }

  // BIO_read_ex: what is buffered, or one recv(2) when nothing is.
  int read(BIO* bio, char* out, size_t want, size_t* got) {
    BIO_clear_retry_flags(bio);
    *got = 0;
    if (begin_ == end_ && !fill(bio)) return 0;
    const size_t n = std::min(want, end_ - begin_);
    std::memcpy(out, data_.get() + begin_, n);
    begin_ += n;
    if (begin_ == end_) release();
    *got = n;
    return 1;
  }

  long ctrl(int cmd, long /*num*/, void* ptr) {
    switch (cmd) {
      case BIO_CTRL_EOF: return eof_ ? 1 : 0;  // OpenSSL's "unexpected eof while reading"
      case BIO_CTRL_PENDING: return static_cast<long>(end_ - begin_);
      case BIO_CTRL_FLUSH: return 1;
      case BIO_C_GET_FD:  // SSL_get_rfd
        if (ptr) *static_cast<int*>(ptr) = fd_;
        return fd_;
      default: return 0;  // not kernel TLS, not a chain, nothing else
    }
  }

 private:
  using Buffer = std::unique_ptr<uint8_t[]>;
  static std::vector<Buffer>& spares() {
    thread_local std::vector<Buffer> list;
    return list;
  }

  bool fill(BIO* bio) {
    if (!data_) {
      auto& list = spares();
      if (list.empty()) {
        data_.reset(new uint8_t[kReadAheadBytes]);  // not zeroed: recv writes what is read
      } else {
        data_ = std::move(list.back());
        list.pop_back();
      }
    }
    for (;;) {
      const ssize_t n = ::recv(fd_, data_.get(), kReadAheadBytes, 0);
      if (n > 0) {
        begin_ = 0;
        end_ = static_cast<size_t>(n);
        return true;
      }
      const int e = n < 0 ? errno : 0;
      if (e == EINTR) continue;
      release();
      if (n == 0) {
        eof_ = true;
      } else if (e == EAGAIN || e == EWOULDBLOCK) {
        BIO_set_retry_read(bio);
      }
      errno = e;  // SSL_ERROR_SYSCALL reads it (TlsSession::result)
      return false;
    }
  }

  void release() {
    begin_ = end_ = 0;
    if (!data_) return;
    auto& list = spares();
    if (list.size() < kSpareReadAheadBuffers) list.push_back(std::move(data_));
    data_.reset();
  }

  const int fd_;
  Buffer data_;  // kReadAheadBytes while bytes are buffered, else null
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
};

const BIO_METHOD* read_ahead_method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "keel socket read ahead");
    BIO_meth_set_read_ex(m, [](BIO* b, char* out, size_t want, size_t* got) {
      return static_cast<ReadAhead*>(BIO_get_data(b))->read(b, out, want, got);
    });
    BIO_meth_set_ctrl(m, [](BIO* b, int cmd, long num, void* ptr) {
      return static_cast<ReadAhead*>(BIO_get_data(b))->ctrl(cmd, num, ptr);
    });
    BIO_meth_set_destroy(m, [](BIO* b) {
      delete static_cast<ReadAhead*>(BIO_get_data(b));
      BIO_set_data(b, nullptr);
      return 1;
    });
    return m;
  }();
  return method;
}

}  // namespace

void set_ktls_ops_for_testing(const KtlsOps* ops) { g_ktls_ops.store(ops ? ops : &kOpenSslKtls); }

// --- TlsContext -----------------------------------------------------------------------------------

struct TlsContext::Built {
  std::shared_ptr<SSL_CTX> ctx;
  std::shared_ptr<const security::SslPrincipalMapper> mapper;
  std::string subject;
};

TlsContext::Built TlsContext::build(const std::string& name, const TlsSettings& s, TlsRole role) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(role == TlsRole::kServer ? TLS_server_method() : TLS_client_method()),
                               SSL_CTX_free);
  if (!ctx) throw TlsConfigError(name + ": cannot create a TLS context: " + openssl_errors());
  try {
    SSL_CTX* c = ctx.get();
    // Renegotiation is an attack surface Kafka clients never use; kTLS lets
    // the kernel encrypt file bytes when it can (SSL_sendfile).
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_ENABLE_KTLS | SSL_OP_NO_COMPRESSION);
    // A write that must wait is retried from another buffer address
    // (a coroutine's frame may move its staging buffer).
    SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    // Read ahead during the handshake: one read(2) takes a whole flight
    // rather than a 5-byte header and then the rest of each record. After
    // it, a session reads through ReadAhead instead (TlsSession::handshake).
    // TlsStream always asks OpenSSL before waiting on the socket, so records
    // already buffered are never left waiting for the socket to wake.
    SSL_CTX_set_read_ahead(c, 1);
    set_protocols(c, s.enabled_protocols);
    set_ciphers(c, s.cipher_suites);
    Built out;
    if (X509* cert = use_keystore(c, s)) {
      out.subject = security::java_rfc2253_name(X509_get_subject_name(cert));
    } else if (role == TlsRole::kServer) {
      throw TlsConfigError("no key store: set ssl.keystore.location (PEM or PKCS12) or ssl.keystore.key and "
                           "ssl.keystore.certificate.chain");
    }
    const bool trusts = use_truststore(c, s);
    if (role == TlsRole::kServer) {
      const std::string auth = s.client_auth.empty() ? "none" : s.client_auth;
      if (auth == "required") {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      } else if (auth == "requested") {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
      } else if (auth == "none") {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
      } else {
        throw TlsConfigError("ssl.client.auth '" + auth + "': use required, requested or none");
      }
      if (auth != "none" && !trusts)
        throw TlsConfigError("ssl.client.auth is " + auth + " but no trust store is set (ssl.truststore.location or "
                             "ssl.truststore.certificates): no client certificate could be verified");
      // Sessions are not resumed across connections (each one is verified anew).
      SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(c, 0);
      std::string why;
      auto mapper = security::SslPrincipalMapper::parse(s.principal_mapping_rules, &why);
      if (!mapper) throw TlsConfigError("ssl.principal.mapping.rules: " + why);
      out.mapper = std::make_shared<const security::SslPrincipalMapper>(std::move(*mapper));
    } else {
      if (!trusts && SSL_CTX_set_default_verify_paths(c) != 1)
        throw TlsConfigError("no trust store and no system CA paths: " + openssl_errors());
      SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
      const auto& alg = s.endpoint_identification_algorithm;
      if (!alg.empty() && upper(alg) != "HTTPS")
        throw TlsConfigError("ssl.endpoint.identification.algorithm '" + alg + "': use https or an empty value");
    }
    out.ctx = std::move(ctx);
    return out;
  } catch (const TlsConfigError& e) {
    ERR_clear_error();
    throw TlsConfigError(name + ": " + e.what());
  }
}

TlsContext::TlsContext(std::string name, TlsSettings settings, TlsRole role)
    : name_(std::move(name)), role_(role), settings_(std::move(settings)) {
  // OpenSSL's socket BIO writes with write(2), not send(MSG_NOSIGNAL): a peer
  // gone mid-write would raise SIGPIPE and end the process. keel's main()
  // ignores it already; a process that uses TLS here gets the same.
  static std::once_flag sigpipe_once;
  std::call_once(sigpipe_once, [] { std::signal(SIGPIPE, SIG_IGN); });
  Built b = build(name_, settings_, role_);
  ctx_ = std::move(b.ctx);
  mapper_ = std::move(b.mapper);
  subject_ = std::move(b.subject);
}

TlsContext::~TlsContext() = default;

std::string TlsContext::reload() { return reload(settings()); }

std::string TlsContext::reload(TlsSettings settings) {
  try {
    Built b = build(name_, settings, role_);
    std::lock_guard lock(mu_);
    settings_ = std::move(settings);
    ctx_ = std::move(b.ctx);
    mapper_ = std::move(b.mapper);
    subject_ = std::move(b.subject);
    ++generation_;
    log()->info("{}: TLS certificate and trust store reloaded; new connections present '{}'", name_, subject_);
    return "";
  } catch (const std::exception& e) {
    log()->error("{}: TLS reload failed, the previous certificate stays in use: {}", name_, e.what());
    return e.what();
  }
}

std::shared_ptr<SSL_CTX> TlsContext::ssl_ctx() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

TlsSettings TlsContext::settings() const {
  std::lock_guard lock(mu_);
  return settings_;
}

uint64_t TlsContext::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::string TlsContext::certificate_subject() const {
  std::lock_guard lock(mu_);
  return subject_;
}

std::optional<std::string> TlsContext::principal_name(std::string_view subject, std::string* why) const {
  std::shared_ptr<const security::SslPrincipalMapper> mapper;
  {
    std::lock_guard lock(mu_);
    mapper = mapper_;
  }
  if (!mapper) return std::string(subject);
  std::string message;
  auto name = mapper->name(subject, &message);
  if (!name) {
    if (why) *why = message.empty() ? name.error().message() : message;
    return std::nullopt;
  }
  return *name;
}

// --- TlsSession -----------------------------------------------------------------------------------

TlsSession::TlsSession(const TlsContext& ctx, int fd, std::string_view host) : ops_(g_ktls_ops.load()) {
  auto c = ctx.ssl_ctx();
  ERR_clear_error();
  ssl_ = SSL_new(c.get());
  if (!ssl_ || SSL_set_fd(ssl_, fd) != 1) {
    const std::string why = openssl_errors();
    if (ssl_) SSL_free(ssl_);
    ssl_ = nullptr;
    throw TlsConfigError(ctx.name() + ": cannot start a TLS session: " + why);
  }
  if (ctx.role() == TlsRole::kServer) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  const std::string h(host);
  const bool ip = is_ip_address(h);
  if (!h.empty() && !ip) SSL_set_tlsext_host_name(ssl_, h.c_str());
  if (!h.empty() && !ctx.settings().endpoint_identification_algorithm.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    const int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, h.c_str()) : X509_VERIFY_PARAM_set1_host(param, h.c_str(), 0);
    if (ok != 1) throw TlsConfigError(ctx.name() + ": cannot verify host name '" + h + "'");
  }
}

TlsSession::~TlsSession() {
  if (ssl_) SSL_free(ssl_);
}

TlsIo TlsSession::result(int ret, const char* what) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_NONE: return TlsIo::kOk;
    case SSL_ERROR_WANT_READ: return TlsIo::kWantRead;
    case SSL_ERROR_WANT_WRITE: return TlsIo::kWantWrite;
    case SSL_ERROR_ZERO_RETURN: return TlsIo::kClosed;
    case SSL_ERROR_SYSCALL: {
      const int e = errno;
      const std::string queued = openssl_errors();
      if (!queued.empty()) {
        error_ = std::string(what) + ": " + queued;
      } else if (e == 0 || e == ECONNRESET || e == EPIPE) {
        error_ = std::string(what) + ": the peer closed the connection";
        return TlsIo::kClosed;
      } else {
        error_ = std::string(what) + ": " + std::strerror(e);
      }
      return TlsIo::kError;
    }
    default: {
      error_ = std::string(what) + ": " + openssl_errors();
      const long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) error_ += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      // "unexpected eof while reading" is a peer gone mid-record: no failure of ours.
      if (error_.find("unexpected eof") != std::string::npos) return TlsIo::kClosed;
      return TlsIo::kError;
    }
  }
}

TlsIo TlsSession::handshake() {
  ERR_clear_error();
  const int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    if (!ktls_recv()) read_ahead_in_user_space();
    return TlsIo::kOk;
  }
  const TlsIo r = result(ret, "TLS handshake failed");
  // A peer that leaves during the handshake failed it.
  if (r == TlsIo::kClosed) {
    if (error_.empty()) error_ = "TLS handshake failed: the peer closed the connection";
    return TlsIo::kError;
  }
  return r;
}

void TlsSession::read_ahead_in_user_space() {
  if (user_read_ahead_) return;
  // Bytes OpenSSL read ahead during the handshake stay in its buffer and are
  // taken before the new BIO is asked for any. From here it asks for each
  // record's header and body, and ReadAhead has them.
  BIO* bio = BIO_new(read_ahead_method());
  if (!bio) return;  // OpenSSL's read ahead goes on: correct, only slower
  BIO_set_data(bio, new ReadAhead(SSL_get_fd(ssl_)));
  BIO_set_init(bio, 1);
  SSL_set0_rbio(ssl_, bio);  // the socket BIO stays the write BIO
  SSL_set_read_ahead(ssl_, 0);
  // Without read ahead OpenSSL's record buffer is empty after every record,
  // and SSL_MODE_RELEASE_BUFFERS would free and allocate it for each one. It
  // stays (16 KiB and a bit; a Java broker keeps three such buffers per TLS
  // connection); ReadAhead's is the large one, and it holds none when idle.
  SSL_clear_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  user_read_ahead_ = true;
}

TlsIo TlsSession::read(void* data, size_t size, size_t* got) {
  *got = 0;
  if (deferred_ != TlsIo::kOk) return std::exchange(deferred_, TlsIo::kOk);
  ERR_clear_error();
  // SSL_read_ex returns one record's plaintext at most: loop over the
  // records already here (they cost no system call) until `size` or the
  // socket is needed. The error queue stays empty while calls succeed.
  auto* p = static_cast<uint8_t*>(data);
  while (*got < size) {
    size_t n = 0;
    const int ret = SSL_read_ex(ssl_, p + *got, size - *got, &n);
    if (ret == 1) {
      *got += n;
      continue;
    }
    const TlsIo io = result(ret, "TLS read failed");
    if (*got == 0) return io;
    // The bytes first; an end or an error is the next call's answer.
    if (io == TlsIo::kClosed || io == TlsIo::kError) deferred_ = io;
    break;
  }
  return TlsIo::kOk;
}

TlsIo TlsSession::write(const void* data, size_t size, size_t* put) {
  ERR_clear_error();
  *put = 0;
  if (size == 0) return TlsIo::kOk;
  const int ret = SSL_write_ex(ssl_, data, size, put);
  return ret == 1 ? TlsIo::kOk : result(ret, "TLS write failed");
}

TlsIo TlsSession::sendfile(int file_fd, off_t offset, size_t size, size_t* put) {
  ERR_clear_error();
  *put = 0;
  const ssize_t n = ops_->send(ssl_, file_fd, offset, size);
  if (n > 0) {
    *put = static_cast<size_t>(n);
    return TlsIo::kOk;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return TlsIo::kWantWrite;
  error_ = "kernel TLS sendfile failed: " + std::string(std::strerror(errno));
  const std::string queued = openssl_errors();
  if (!queued.empty()) error_ += " (" + queued + ")";
  return TlsIo::kError;
}

void TlsSession::shutdown() {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

bool TlsSession::is_server() const { return SSL_is_server(ssl_) == 1; }

bool TlsSession::ktls_send() const { return ops_->send_enabled(ssl_); }

bool TlsSession::ktls_recv() const { return !user_read_ahead_ && ops_->recv_enabled(ssl_); }

std::string TlsSession::peer_subject() const {
  X509* peer = SSL_get0_peer_certificate(ssl_);
  return peer ? security::java_rfc2253_name(X509_get_subject_name(peer)) : std::string();
}

std::string TlsSession::description() const {
  return std::string(SSL_get_version(ssl_)) + " " + SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
}

}  // namespace keel::net
