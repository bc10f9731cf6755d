// TLS on the listeners and the inter-broker client (net/tls.h): key stores
// (PEM, PKCS12, JKS refused), reload, handshake failures that leave the
// server serving, the client certificate's principal, and the two ways file
// bytes leave a TLS connection. This kernel has no TLS ULP, so the copy path
// runs for real and the kernel-TLS branch is driven through KtlsOps: a stand-in
// "kernel" that encrypts the file range it is handed, in small pieces and
// sometimes refusing (EAGAIN), so the branch's offset and retry bookkeeping is
// what decides whether the bytes arrive intact.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "net/client.h"
#include "net/server.h"
#include "net/tls.h"
#include "net/tls_stream.h"
#include "support/log_capture.h"

namespace keel::net {
namespace {

namespace fs = std::filesystem;

// A test CA made with the openssl command: ca, server (SAN localhost,
// 127.0.0.1), client-1 and client-2 (signed by ca), rogue (signed by another CA).
class Pki {
 public:
  Pki() {
    char tmpl[] = "/tmp/keel-tls-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=Test-CA "
        "-keyout ca.key -out ca.pem");
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=Other-CA "
        "-keyout other.key -out other.pem");
    issue("server", "/CN=localhost/O=Keel", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    issue("server2", "/CN=localhost/O=Renewed", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1");
    issue("client-1", "/CN=client-1/O=Keel", "ca", "");
    issue("rogue", "/CN=rogue", "other", "");
    run("openssl pkcs12 -export -in server.pem -inkey server.key -passout pass:secret -out server.p12");
  }
  ~Pki() { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // PEM key store: key and certificate in one file.
  std::string pem_store(const std::string& who) const {
    const std::string out = path(who + "-store.pem");
    run("cat " + who + ".key " + who + ".pem > " + out);
    return out;
  }

  void run(const std::string& cmd) const {
    const std::string full = "cd " + dir_ + " && (" + cmd + ") >/dev/null 2>&1";
    if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }

 private:
  void issue(const std::string& who, const std::string& subject, const std::string& ca, const std::string& san) {
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '" + subject + "' -keyout " + who +
        ".key -out " + who + ".csr");
    std::string ext;
    if (!san.empty()) {
      std::ofstream(path(who + ".ext")) << san << "\n";
      ext = " -extfile " + who + ".ext";
    }
    run("openssl x509 -req -in " + who + ".csr -CA " + ca + ".pem -CAkey " + ca + ".key -CAcreateserial -days 2 -out " +
        who + ".pem" + ext);
  }

  std::string dir_;
};

Pki& pki() {
  static Pki p;
  return p;
}

TlsSettings server_settings() {
  TlsSettings s;
  s.keystore_type = "PEM";
  s.keystore_location = pki().pem_store("server");
  s.truststore_type = "PEM";
  s.truststore_location = pki().path("ca.pem");
  return s;
}

std::string config_error(const TlsSettings& s, TlsRole role = TlsRole::kServer) {
  try {
    TlsContext ctx("test", s, role);
  } catch (const TlsConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TlsContext, AJksKeyStoreIsRefusedWithTheKeytoolCommandThatConvertsIt) {
  const std::string jks = pki().path("broker.jks");
  std::ofstream(jks, std::ios::binary) << std::string("\xFE\xED\xFE\xED\x00\x00\x00\x02", 8) << "rest of a JKS store";
  TlsSettings s = server_settings();
  s.keystore_type = "JKS";
  s.keystore_location = jks;
  const std::string why = config_error(s);
  EXPECT_NE(why.find("JKS"), std::string::npos) << why;
  EXPECT_NE(why.find("keytool -importkeystore -srckeystore " + jks), std::string::npos) << why;
  EXPECT_NE(why.find("-deststoretype PKCS12"), std::string::npos) << why;
}

TEST(TlsContext, APkcs12KeyStoreLoadsWithItsPasswordAndNotWithoutIt) {
  TlsSettings s = server_settings();
  s.keystore_type = "PKCS12";
  s.keystore_location = pki().path("server.p12");
  s.keystore_password = "secret";
  TlsContext ctx("p12", s, TlsRole::kServer);
  EXPECT_EQ(ctx.certificate_subject(), "O=Keel,CN=localhost");
  // Kafka's default type JKS on a file that is PKCS12: read as PKCS12, as Java does.
  s.keystore_type = "JKS";
  EXPECT_EQ(config_error(s), "");
  s.keystore_password = "wrong";
  EXPECT_NE(config_error(s).find("ssl.keystore.password"), std::string::npos) << config_error(s);
}

TEST(TlsContext, BadSettingsNameTheKey) {
  TlsSettings s = server_settings();
  s.client_auth = "always";
  EXPECT_NE(config_error(s).find("ssl.client.auth"), std::string::npos);
  s = server_settings();
  s.enabled_protocols = {"SSLv3"};
  EXPECT_NE(config_error(s).find("ssl.enabled.protocols"), std::string::npos);
  s = server_settings();
  s.cipher_suites = {"TLS_NO_SUCH_SUITE_WITH_ROT13"};
  EXPECT_NE(config_error(s).find("ssl.cipher.suites"), std::string::npos);
  s = server_settings();
  s.keystore_location.clear();
  EXPECT_NE(config_error(s).find("no key store"), std::string::npos);
  s = server_settings();
  s.client_auth = "required";
  s.truststore_location.clear();
  EXPECT_NE(config_error(s).find("trust store"), std::string::npos);
  s = server_settings();
  s.cipher_suites = {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"};
  EXPECT_EQ(config_error(s), "") << "IANA (Java) names are accepted";
}

TEST(TlsContext, ReloadInstallsTheNewCertificateAndKeepsTheOldOneWhenTheNewFileIsBad) {
  const std::string store = pki().path("reload-store.pem");
  fs::copy_file(pki().pem_store("server"), store, fs::copy_options::overwrite_existing);
  TlsSettings s = server_settings();
  s.keystore_location = store;
  TlsContext ctx("reload", s, TlsRole::kServer);
  EXPECT_EQ(ctx.certificate_subject(), "O=Keel,CN=localhost");
  fs::copy_file(pki().pem_store("server2"), store, fs::copy_options::overwrite_existing);
  EXPECT_EQ(ctx.reload(), "");
  EXPECT_EQ(ctx.generation(), 1u);
  EXPECT_EQ(ctx.certificate_subject(), "O=Renewed,CN=localhost");
  std::ofstream(store) << "not a key store";
  EXPECT_NE(ctx.reload(), "");
  EXPECT_EQ(ctx.generation(), 1u);
  EXPECT_EQ(ctx.certificate_subject(), "O=Renewed,CN=localhost");
}

// --- a TLS server and a blocking OpenSSL client ------------------------------------------------

// Answers every request with: size, "HEAD", the file range, "TAIL"; records
// the principal name of each connection.
class FileHandler : public RequestHandler {
 public:
  FileHandler(std::shared_ptr<int> fd, int64_t offset, int64_t length)
      : fd_(std::move(fd)), offset_(offset), length_(length) {}
  void handle(const ConnectionInfo& conn, Frame, std::function<void(Response)> done) override {
    {
      std::lock_guard lock(mu_);
      principals_.push_back(conn.tls ? conn.tls_principal : "(plaintext)");
    }
    Response r;
    Bytes head(8);
    store_be<int32_t>(head.data(), static_cast<int32_t>(4 + length_ + 4));
    std::copy_n("HEAD", 4, head.begin() + 4);
    r.chunks.push_back(std::move(head));
    r.files.push_back({fd_, *fd_, offset_, length_});
    r.chunks.push_back(Bytes{'T', 'A', 'I', 'L'});
    done(std::move(r));
  }
  std::vector<std::string> principals() {
    std::lock_guard lock(mu_);
    return principals_;
  }

 private:
  std::shared_ptr<int> fd_;
  int64_t offset_;
  int64_t length_;
  std::mutex mu_;
  std::vector<std::string> principals_;
};

struct DataFile {
  Bytes data;
  std::shared_ptr<int> fd;
  explicit DataFile(size_t size) : data(size) {
    char path[] = "/tmp/keel-tls-data-XXXXXX";
    const int raw = ::mkstemp(path);
    ::unlink(path);
    std::mt19937 rng(7);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    EXPECT_EQ(::write(raw, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    fd = std::shared_ptr<int>(new int(raw), [](int* p) { ::close(*p); delete p; });
  }
};

int connect_to(uint16_t port) {
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{10, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return sock;
}

// A blocking client: handshake (with `who`'s certificate when not empty),
// one request, the whole response; empty when the server refused.
struct BlockingClient {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int sock = -1;
  BlockingClient(uint16_t port, const std::string& who) {
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx, pki().path("ca.pem").c_str(), nullptr);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!who.empty()) {
      SSL_CTX_use_certificate_chain_file(ctx, pki().path(who + ".pem").c_str());
      SSL_CTX_use_PrivateKey_file(ctx, pki().path(who + ".key").c_str(), SSL_FILETYPE_PEM);
    }
    sock = connect_to(port);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, sock);
    SSL_set1_host(ssl, "localhost");
  }
  ~BlockingClient() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    ::close(sock);
  }
  // The response (size prefix included), or empty when the connection failed.
  Bytes exchange(size_t expected) {
    if (SSL_connect(ssl) != 1) return {};
    const uint8_t request[] = {0, 0, 0, 8, 0, 1, 0, 4, 0, 0, 0, 7};
    if (SSL_write(ssl, request, sizeof request) != static_cast<int>(sizeof request)) return {};
    Bytes got(expected);
    size_t done = 0;
    while (done < expected) {
      const int n = SSL_read(ssl, got.data() + done, static_cast<int>(expected - done));
      if (n <= 0) return {};
      done += static_cast<size_t>(n);
    }
    return got;
  }
};

ServerOptions one_thread() {
  ServerOptions o;
  o.threads = 1;
  return o;
}

ListenerSpec ssl_spec() {
  ListenerSpec spec;
  spec.name = "SSL";
  spec.host = "127.0.0.1";
  return spec;
}

struct TlsServer {
  FileHandler handler;
  Server server;
  uint16_t port = 0;
  TlsServer(DataFile& file, int64_t offset, int64_t length, TlsSettings settings)
      : handler(file.fd, offset, length), server(one_thread(), handler) {
    ListenerSpec spec = ssl_spec();
    spec.tls = std::make_shared<TlsContext>("listener SSL", std::move(settings), TlsRole::kServer);
    port = server.listen({spec})[0];
    server.start();
  }
  ~TlsServer() { server.stop(); }
};

void expect_file_response(const Bytes& got, const DataFile& file, int64_t offset, int64_t length) {
  ASSERT_EQ(got.size(), static_cast<size_t>(8 + length + 4));
  EXPECT_EQ(std::string(got.begin() + 4, got.begin() + 8), "HEAD");
  EXPECT_TRUE(std::equal(got.begin() + 8, got.begin() + 8 + length, file.data.begin() + offset))
      << "the file range arrived changed";
  EXPECT_EQ(std::string(got.end() - 4, got.end()), "TAIL");
}

// One file response over TLS, checked byte for byte; the counters' growth.
struct CounterDelta {
  uint64_t copy, ktls, ktls_calls, written, plain_sendfile;
};
CounterDelta fetch_over_tls(DataFile& file, int64_t offset, int64_t length) {
  IoCounters before;
  {
    TlsServer ts(file, offset, length, server_settings());
    before = io_counters();
    BlockingClient client(ts.port, "");
    expect_file_response(client.exchange(static_cast<size_t>(8 + length + 4)), file, offset, length);
  }
  // Read once the server stopped: it counts a write after it returned, which
  // may be after the client already has the bytes.
  const IoCounters after = io_counters();
  return {after.tls_copy_bytes - before.tls_copy_bytes, after.tls_sendfile_bytes - before.tls_sendfile_bytes,
          after.tls_sendfile_calls - before.tls_sendfile_calls, after.tls_written_bytes - before.tls_written_bytes,
          after.sendfile_bytes - before.sendfile_bytes};
}

TEST(TlsServer, WithoutKernelTlsFileBytesAreReadAndEncryptedAndCountedAsCopies) {
  DataFile file(3 << 20);
  const int64_t offset = 1001, length = (3 << 20) - 5000;
  const CounterDelta d = fetch_over_tls(file, offset, length);
  // This machine's kernel has no TLS ULP, so OpenSSL keeps the keys.
  EXPECT_EQ(d.copy, static_cast<uint64_t>(length));
  EXPECT_EQ(d.ktls, 0u);
  EXPECT_EQ(d.written, 12u);
  EXPECT_EQ(d.plain_sendfile, 0u) << "no plaintext sendfile on a TLS connection";
}

// The stand-in kernel: at most 3000 bytes a call, and every fourth call
// "the socket is full". It encrypts with the session's own keys (SSL_write),
// as the kernel would with the keys OpenSSL gave it.
struct FakeKernel {
  static inline std::mutex mu;
  static inline std::vector<std::pair<off_t, size_t>> calls;
  static inline int refusals = 0;
  static bool enabled(SSL*) { return true; }
  static ssize_t send(SSL* ssl, int fd, off_t offset, size_t length) {
    std::lock_guard lock(mu);
    if ((calls.size() + static_cast<size_t>(refusals)) % 4 == 3) {
      ++refusals;
      errno = EAGAIN;
      return -1;
    }
    const size_t n = std::min<size_t>(length, 3000);
    std::vector<uint8_t> buf(n);
    if (::pread(fd, buf.data(), n, offset) != static_cast<ssize_t>(n)) return -1;
    size_t put = 0;
    if (SSL_write_ex(ssl, buf.data(), n, &put) != 1) {
      errno = SSL_get_error(ssl, 0) == SSL_ERROR_WANT_WRITE ? EAGAIN : EIO;
      return -1;
    }
    calls.emplace_back(offset, n);
    return static_cast<ssize_t>(n);
  }
};

TEST(TlsServer, WithKernelTlsFileBytesGoThroughSslSendfileInOrderAndAreCountedSo) {
  static const KtlsOps kFake{&FakeKernel::enabled, &FakeKernel::send, [](SSL*) { return false; }};
  set_ktls_ops_for_testing(&kFake);
  DataFile file(200000);
  const int64_t offset = 777, length = 150001;
  const CounterDelta d = fetch_over_tls(file, offset, length);
  EXPECT_EQ(d.ktls, static_cast<uint64_t>(length));
  EXPECT_EQ(d.ktls_calls, static_cast<uint64_t>((length + 2999) / 3000));
  EXPECT_EQ(d.copy, 0u) << "the copy path was not taken";
  set_ktls_ops_for_testing(nullptr);
  std::lock_guard lock(FakeKernel::mu);
  EXPECT_GT(FakeKernel::refusals, 0) << "the EAGAIN wait was exercised";
  off_t next = offset;
  for (const auto& [off, n] : FakeKernel::calls) {
    EXPECT_EQ(off, next) << "each call continues where the last ended";
    next = off + static_cast<off_t>(n);
  }
  EXPECT_EQ(next, offset + length);
}

TEST(TlsServer, RefusedHandshakesCloseThoseConnectionsAndTheServerServesTheNextClient) {
  DataFile file(1000);
  TlsSettings s = server_settings();
  s.client_auth = "required";
  s.principal_mapping_rules = "RULE:^O=Keel,CN=([^,]+)$/$1/L,DEFAULT";
  TlsServer ts(file, 0, 1000, s);
  {
    BlockingClient rogue(ts.port, "rogue");  // signed by another CA
    EXPECT_TRUE(rogue.exchange(1012).empty());
  }
  {
    BlockingClient anonymous(ts.port, "");  // no certificate where one is required
    EXPECT_TRUE(anonymous.exchange(1012).empty());
  }
  {
    // Plaintext Kafka bytes on the TLS port: closed, nothing answered.
    const int sock = connect_to(ts.port);
    const uint8_t request[] = {0, 0, 0, 8, 0, 18, 0, 3, 0, 0, 0, 7};
    ASSERT_EQ(::write(sock, request, sizeof request), static_cast<ssize_t>(sizeof request));
    uint8_t buf[64];
    ssize_t n;
    while ((n = ::read(sock, buf, sizeof buf)) > 0) {
      EXPECT_NE(buf[0], 0) << "a TLS alert at most, never a Kafka answer";
    }
    EXPECT_EQ(n, 0) << "closed";
    ::close(sock);
  }
  BlockingClient good(ts.port, "client-1");
  expect_file_response(good.exchange(1012), file, 0, 1000);
  EXPECT_EQ(ts.handler.principals(), std::vector<std::string>{"client-1"})
      << "the certificate's subject mapped by ssl.principal.mapping.rules";
}

// A load balancer's TCP health check connects and closes without a byte:
// not worth a warning per probe (Kafka logs that disconnect at debug). A
// client that sent something that is not TLS still gets one.
TEST(TlsServer, AConnectionClosedBeforeItsHelloIsLoggedAtDebugAPlaintextClientAtWarning) {
  DataFile file(1000);
  test::LogCapture logs("net");
  {
    TlsServer ts(file, 0, 1000, server_settings());
    ::close(connect_to(ts.port));  // the health check
    const int sock = connect_to(ts.port);
    const uint8_t request[] = {0, 0, 0, 8, 0, 18, 0, 3, 0, 0, 0, 7};
    ASSERT_EQ(::write(sock, request, sizeof request), static_cast<ssize_t>(sizeof request));
    uint8_t buf[64];
    while (::read(sock, buf, sizeof buf) > 0) {
    }
    ::close(sock);
    BlockingClient good(ts.port, "");
    expect_file_response(good.exchange(1012), file, 0, 1000);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline &&
           (logs.lines_with("before its hello").empty() || logs.lines_with("the first byte is 0x00").empty())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_EQ(logs.count("before its hello", "debug"), 1) << logs.text();
  EXPECT_EQ(logs.count("before its hello", "warning"), 0) << logs.text();
  EXPECT_EQ(logs.count("the first byte is 0x00", "warning"), 1) << logs.text();
}

TEST(TlsServer, RequestedClientAuthAcceptsAClientWithoutACertificate) {
  DataFile file(100);
  TlsSettings s = server_settings();
  s.client_auth = "requested";
  TlsServer ts(file, 0, 100, s);
  BlockingClient anonymous(ts.port, "");
  expect_file_response(anonymous.exchange(112), file, 0, 100);
  BlockingClient rogue(ts.port, "rogue");
  EXPECT_TRUE(rogue.exchange(112).empty()) << "a certificate that is sent must verify";
  BlockingClient named(ts.port, "client-1");
  expect_file_response(named.exchange(112), file, 0, 100);
  EXPECT_EQ(ts.handler.principals(), (std::vector<std::string>{"", "O=Keel,CN=client-1"}));
}

TEST(TlsServer, AReloadedCertificateServesNewConnections) {
  const std::string store = pki().path("listener-store.pem");
  fs::copy_file(pki().pem_store("server"), store, fs::copy_options::overwrite_existing);
  DataFile file(100);
  TlsSettings s = server_settings();
  s.keystore_location = store;
  FileHandler handler(file.fd, 0, 100);
  Server server(one_thread(), handler);
  ListenerSpec spec = ssl_spec();
  spec.tls = std::make_shared<TlsContext>("listener SSL", s, TlsRole::kServer);
  const uint16_t port = server.listen({spec})[0];
  server.start();
  auto peer_org = [&](BlockingClient& c) {
    EXPECT_EQ(c.exchange(112).size(), 112u);
    X509* cert = SSL_get0_peer_certificate(c.ssl);
    char buf[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationName, buf, sizeof buf);
    return std::string(buf);
  };
  BlockingClient before(port, "");
  EXPECT_EQ(peer_org(before), "Keel");
  fs::copy_file(pki().pem_store("server2"), store, fs::copy_options::overwrite_existing);
  ASSERT_EQ(spec.tls->reload(), "");
  BlockingClient after(port, "");
  EXPECT_EQ(peer_org(after), "Renewed");
  server.stop();
}

// --- the inter-broker client ---------------------------------------------------------------------

class Echo : public RequestHandler {
 public:
  void handle(const ConnectionInfo&, Frame frame, std::function<void(Response)> done) override {
    Response r;
    Bytes out(4 + frame.size());
    store_be<int32_t>(out.data(), static_cast<int32_t>(frame.size()));
    std::copy(frame.begin(), frame.end(), out.begin() + 4);
    r.chunks.push_back(std::move(out));
    done(std::move(r));
  }
};

Result<Bytes> round_trip(uint16_t port, const std::string& host, std::shared_ptr<TlsContext> tls) {
  ClientRuntime runtime("tls-client");
  ClientOptions o;
  o.host = host;
  o.port = port;
  o.tls = std::move(tls);
  o.connect_timeout_ms = 5000;
  Client client(runtime, o);
  std::promise<Result<Bytes>> p;
  Bytes frame = {0, 0, 0, 42, 'p', 'i', 'n', 'g'};
  client.send(frame, 42, [&](Result<Bytes> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

TEST(TlsClient, TalksToATlsListenerWithItsCertificateAndChecksTheHostName) {
  Echo echo;
  Server server(one_thread(), echo);
  TlsSettings ss = server_settings();
  ss.client_auth = "required";
  ListenerSpec spec = ssl_spec();
  spec.host = "0.0.0.0";  // 127.0.0.2 too
  spec.tls = std::make_shared<TlsContext>("listener SSL", ss, TlsRole::kServer);
  const uint16_t port = server.listen({spec})[0];
  server.start();

  TlsSettings cs;
  cs.keystore_type = "PEM";
  cs.keystore_location = pki().pem_store("client-1");
  cs.truststore_type = "PEM";
  cs.truststore_location = pki().path("ca.pem");
  auto client_tls = std::make_shared<TlsContext>("inter-broker client", cs, TlsRole::kClient);
  auto ok = round_trip(port, "localhost", client_tls);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(std::string(ok->begin() + 4, ok->end()), "ping");
  EXPECT_TRUE(round_trip(port, "127.0.0.1", client_tls)) << "the IP SAN matches";

  // 127.0.0.2 reaches the same listener but is not in the certificate.
  auto wrong = round_trip(port, "127.0.0.2", client_tls);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error(), make_error_code(ClientErrc::kConnectFailed)) << "the handshake, not the connect, failed";
  cs.endpoint_identification_algorithm = "";
  EXPECT_TRUE(round_trip(port, "127.0.0.2", std::make_shared<TlsContext>("no host check", cs, TlsRole::kClient)));

  // A client whose certificate the listener does not trust fails to connect.
  cs.keystore_location = pki().pem_store("rogue");
  auto refused = round_trip(port, "localhost", std::make_shared<TlsContext>("rogue", cs, TlsRole::kClient));
  EXPECT_FALSE(refused);
  server.stop();
}


// --- back-pressure on a TLS connection -----------------------------------------------------------

// A blocking TLS client that writes `n` echo requests in one go (pipelined)
// and reads the answers; how many came back before the connection ended.
int pipelined_echoes(uint16_t port, int n) {
  BlockingClient c(port, "");
  if (SSL_connect(c.ssl) != 1) return -1;
  Bytes all;
  for (int i = 0; i < n; ++i) {
    const uint8_t request[] = {0, 0, 0, 8, 0, 1, 0, 4, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    all.insert(all.end(), request, request + sizeof request);
  }
  if (SSL_write(c.ssl, all.data(), static_cast<int>(all.size())) != static_cast<int>(all.size())) return -1;
  int answered = 0;
  for (; answered < n; ++answered) {
    uint8_t response[12];
    size_t done = 0;
    while (done < sizeof response) {
      const int got = SSL_read(c.ssl, response + done, static_cast<int>(sizeof response - done));
      if (got <= 0) return answered;
      done += static_cast<size_t>(got);
    }
    // The echo of request `answered`, in order.
    if (response[10] != static_cast<uint8_t>(answered >> 8) || response[11] != static_cast<uint8_t>(answered)) {
      return answered;
    }
  }
  return answered;
}

// With one request in flight per connection, every pipelined request makes
// the reader wait for the previous answer (back-pressure), and that wait ends
// with operation_aborted in the reader's error_code. The TLS read after it
// once took that stale value for its own failure and the server closed the
// connection after the second answer: under load, produce over TLS collapsed
// into reconnects. Not timed: the count of answers decides.
TEST(TlsServer, ARequestReadAfterABackPressurePauseIsServedOnTheSameConnection) {
  Echo echo;
  ServerOptions o = one_thread();
  o.max_in_flight = 1;
  Server server(o, echo);
  ListenerSpec spec = ssl_spec();
  spec.tls = std::make_shared<TlsContext>("listener SSL", server_settings(), TlsRole::kServer);
  const uint16_t port = server.listen({spec})[0];
  server.start();
  EXPECT_EQ(pipelined_echoes(port, 200), 200);
  server.stop();
}

// The server side of AStaleErrorCodeDoesNotFailAReadOrAWrite: a read and a
// write, each handed an error_code that still holds operation_aborted (what
// a cancelled timer wait leaves behind).
struct StaleErrorRun {
  std::string handshake_failure = "not run";
  std::string read_text;
  boost::system::error_code read_ec, write_ec;
};

boost::asio::awaitable<void> stale_error_exchange(boost::asio::ip::tcp::socket& socket, const TlsContext& ctx,
                                                  StaleErrorRun& run) {
  TlsStream stream(socket, std::make_unique<TlsSession>(ctx, socket.native_handle()));
  run.handshake_failure = co_await stream.handshake();
  run.read_text.assign(10, '\0');
  run.read_ec = boost::asio::error::operation_aborted;
  co_await stream.read(run.read_text.data(), run.read_text.size(), run.read_ec);
  const std::vector<boost::asio::const_buffer> reply{boost::asio::buffer(run.read_text.data(), 5)};
  run.write_ec = boost::asio::error::operation_aborted;
  co_await stream.write(reply, run.write_ec);
}

// The same rule at the TlsStream level: an error_code that still holds an
// earlier wait's result is cleared by a read or write that succeeds.
TEST(TlsStream, AStaleErrorCodeDoesNotFailAReadOrAWrite) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  TlsContext ctx("listener SSL", server_settings(), TlsRole::kServer);

  std::thread peer([port] {
    BlockingClient c(port, "");
    ASSERT_EQ(SSL_connect(c.ssl), 1);
    ASSERT_EQ(SSL_write(c.ssl, "hello, tls", 10), 10);
    char back[5] = {};
    int done = 0;
    while (done < 5) {
      const int got = SSL_read(c.ssl, back + done, 5 - done);
      ASSERT_GT(got, 0);
      done += got;
    }
    EXPECT_EQ(std::string(back, 5), "hello");
  });

  asio::ip::tcp::socket socket = acceptor.accept();
  StaleErrorRun run;
  asio::co_spawn(io, stale_error_exchange(socket, ctx, run), asio::detached);
  io.run();
  peer.join();
  EXPECT_EQ(run.handshake_failure, "");
  EXPECT_FALSE(run.read_ec) << run.read_ec.message();
  EXPECT_EQ(run.read_text, "hello, tls");
  EXPECT_FALSE(run.write_ec) << run.write_ec.message();
}

// A long read waits with a low-water mark of the ciphertext still to come,
// never of more. Here the body's TLS records (16 KiB of plaintext each, the
// most one carries) reach the server in two pieces, the first ending in the
// middle of a record, and the server starts reading once the first is there:
// it then holds half a record and still misses that record's whole
// plaintext. A mark of the plaintext missing would ask for more bytes than
// the second piece holds and the read would never wake; the mark's allowance
// of one record is what lets it finish. Not timed: the peer sends the second
// piece once it sees the mark set.
TEST(TlsStream, ALongReadWaitsWithALowWaterMarkNoLargerThanWhatIsStillComing) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  // Room for the first piece while nobody reads it.
  acceptor.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  const uint16_t port = acceptor.local_endpoint().port();
  TlsContext ctx("listener SSL", server_settings(), TlsRole::kServer);
  constexpr size_t kRecord = 16 << 10;
  constexpr size_t kRecords = 40;
  std::string body(kRecord * kRecords, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7) % 26);

  std::atomic<int> server_fd{-1};
  std::atomic<bool> first_sent{false};
  std::atomic<int> mark_seen{0};
  std::atomic<size_t> second_piece{0};
  std::thread peer([&] {
    BlockingClient c(port, "");
    ASSERT_EQ(SSL_connect(c.ssl), 1);
    // The records go to memory first, so that the peer decides where the
    // bytes are cut.
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set0_wbio(c.ssl, out);
    for (size_t i = 0; i < kRecords; ++i) ASSERT_EQ(SSL_write(c.ssl, body.data() + i * kRecord, kRecord), int(kRecord));
    char* wire = nullptr;
    const size_t total = static_cast<size_t>(BIO_get_mem_data(out, &wire));
    const size_t record = total / kRecords;
    const size_t first = record * (kRecords / 2) + record / 2;  // the middle of record 21
    second_piece = total - first;
    auto send_all = [&](const char* p, size_t n) {
      while (n > 0) {
        const ssize_t put = ::send(c.sock, p, n, MSG_NOSIGNAL);
        ASSERT_GT(put, 0);
        p += put;
        n -= static_cast<size_t>(put);
      }
    };
    send_all(wire, first);
    first_sent = true;
    // 10 s without a mark that the second piece satisfies, and it goes
    // anyway, to a read that a wrong mark keeps asleep.
    auto waiting = [&] { return mark_seen.load() > 1 && static_cast<size_t>(mark_seen.load()) <= second_piece; };
    for (int i = 0; i < 10000 && !waiting(); ++i) {
      int mark = 0;
      socklen_t len = sizeof mark;
      if (::getsockopt(server_fd.load(), SOL_SOCKET, SO_RCVLOWAT, &mark, &len) == 0) mark_seen = mark;
      if (!waiting()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    send_all(wire + first, second_piece);
  });

  asio::ip::tcp::socket socket = acceptor.accept();
  server_fd = socket.native_handle();
  std::string got(body.size(), '\0');
  std::string failure = "not run";
  boost::system::error_code ec;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        TlsStream stream(socket, std::make_unique<TlsSession>(ctx, socket.native_handle()));
        failure = co_await stream.handshake();
        asio::steady_timer pause(io);
        while (!first_sent.load()) {
          pause.expires_after(std::chrono::milliseconds(1));
          co_await pause.async_wait(asio::use_awaitable);
        }
        co_await stream.read(got.data(), got.size(), ec);
        done = true;
      },
      asio::detached);
  io.run_for(std::chrono::seconds(20));
  if (!done) ::shutdown(socket.native_handle(), SHUT_RDWR);  // lets a stuck peer's send end
  peer.join();
  ASSERT_TRUE(done) << "the read never woke for the last " << second_piece << " bytes (low-water mark "
                    << mark_seen.load() << ")";
  EXPECT_EQ(failure, "");
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(got == body);
  // The mark was in use while the server waited, and asked for no more than came after.
  EXPECT_GT(mark_seen.load(), 1);
  EXPECT_LE(static_cast<size_t>(mark_seen.load()), second_piece.load());
  // Back at 1 for what follows (the next request's size prefix).
  int mark = 0;
  socklen_t len = sizeof mark;
  ASSERT_EQ(::getsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &mark, &len), 0);
  EXPECT_EQ(mark, 1);
}

// --- TlsSession reads: many records a call, ahead of OpenSSL in user space -----------------------

// A server TlsSession on a TCP connection whose peer is a blocking OpenSSL
// client. The peer's records go to memory first and reach the socket only once
// the server finished its handshake, all at once: so each test knows exactly
// what the server's socket holds when it reads.
struct SessionReadRun {
  size_t records = 8;
  size_t record_bytes = 1024;
  bool corrupt_last = false;  // flip a ciphertext byte of the last data record
  bool close_notify = true;   // end with close_notify (else with the TCP FIN alone)

  std::string sent;           // the plaintext the peer wrote
  std::atomic<size_t> wire_bytes{0};  // its ciphertext
  size_t queued_at_read = 0;  // what the socket held when read() was called
  size_t queued_after = 0;    // and after the first read()
  bool ktls_recv = false;
  int rbio_type = 0;
  TlsIo first = TlsIo::kError, second = TlsIo::kError;
  std::string got;
  std::string second_error;

  void run(const TlsContext& ctx) {
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 1), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    for (size_t i = 0; i < records * record_bytes; ++i) sent.push_back(static_cast<char>('a' + (i * 13) % 26));

    std::atomic<bool> server_ready{false};
    std::thread peer([&] {
      BlockingClient c(ntohs(addr.sin_port), "");
      ASSERT_EQ(SSL_connect(c.ssl), 1);
      BIO* out = BIO_new(BIO_s_mem());
      SSL_set0_wbio(c.ssl, out);
      for (size_t i = 0; i < records; ++i)
        ASSERT_EQ(SSL_write(c.ssl, sent.data() + i * record_bytes, int(record_bytes)), int(record_bytes));
      const size_t data_end = static_cast<size_t>(BIO_pending(out));
      if (close_notify) SSL_shutdown(c.ssl);
      char* wire = nullptr;
      const size_t total = static_cast<size_t>(BIO_get_mem_data(out, &wire));
      std::string bytes(wire, total);
      if (corrupt_last) bytes[data_end - 20] ^= 0x5a;  // inside the last record's ciphertext
      wire_bytes = total;
      while (!server_ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ASSERT_EQ(::send(c.sock, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
      ::shutdown(c.sock, SHUT_WR);
      // Stay connected until the server is done reading.
      char sink[64];
      while (::recv(c.sock, sink, sizeof sink, 0) > 0) {
      }
    });

    const int fd = ::accept(listener, nullptr, nullptr);
    ::close(listener);
    ASSERT_GE(fd, 0);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    {
      TlsSession session(ctx, fd);
      auto wait_for = [&](TlsIo io) {
        pollfd p{fd, static_cast<short>(io == TlsIo::kWantWrite ? POLLOUT : POLLIN), 0};
        return ::poll(&p, 1, 10000) == 1;
      };
      TlsIo io;
      while ((io = session.handshake()) == TlsIo::kWantRead || io == TlsIo::kWantWrite) ASSERT_TRUE(wait_for(io));
      ASSERT_EQ(io, TlsIo::kOk) << session.error();
      ktls_recv = session.ktls_recv();
      rbio_type = BIO_method_type(SSL_get_rbio(session.native()));
      server_ready = true;
      // Everything is in the socket (and the FIN after it) before the server reads.
      int queued = 0;
      for (int i = 0; i < 10000; ++i) {
        ::ioctl(fd, FIONREAD, &queued);
        if (wire_bytes.load() > 0 && static_cast<size_t>(queued) == wire_bytes.load()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      queued_at_read = static_cast<size_t>(queued);
      // And the FIN: the client's shutdown() is a call after its send(), and
      // on a loaded machine the bytes can all be here before it runs (FIONREAD
      // does not count the FIN). POLLRDHUP: the peer has shut down writing.
      {
        pollfd p{fd, static_cast<short>(POLLRDHUP), 0};
        (void)::poll(&p, 1, 10000);
      }
      std::string buf(sent.size() + 100, '\0');
      size_t n = 0;
      first = session.read(buf.data(), buf.size(), &n);
      got.assign(buf.data(), n);
      ::ioctl(fd, FIONREAD, &queued);
      queued_after = static_cast<size_t>(queued);
      second = session.read(buf.data(), buf.size(), &n);
      second_error = session.error();
    }
    ::shutdown(fd, SHUT_RDWR);
    peer.join();
    ::close(fd);
  }
};

// A producer may send each 1 KiB record as its own TLS record: one read takes
// all those already received, from one recv(2) of the socket, and the end
// that follows them is the next read's answer.
TEST(TlsSession, OneReadTakesEveryRecordAlreadyReceivedAndTheEndComesNext) {
  TlsContext ctx("listener SSL", server_settings(), TlsRole::kServer);
  for (const bool close_notify : {true, false}) {
    SCOPED_TRACE(close_notify ? "close_notify" : "FIN only");
    SessionReadRun r;
    r.records = 64;
    r.close_notify = close_notify;
    r.run(ctx);
    EXPECT_FALSE(r.ktls_recv) << "this kernel has no TLS ULP";
    EXPECT_NE(r.rbio_type, BIO_TYPE_SOCKET) << "reads go through the session's own read ahead";
    ASSERT_EQ(r.queued_at_read, r.wire_bytes.load());
    EXPECT_EQ(r.first, TlsIo::kOk);
    EXPECT_EQ(r.got.size(), r.sent.size()) << "one call, all 64 records";
    EXPECT_TRUE(r.got == r.sent);
    EXPECT_EQ(r.queued_after, 0u) << "the socket was read in large reads";
    EXPECT_EQ(r.second, TlsIo::kClosed) << r.second_error;
  }
}

// A record that fails to decrypt after good ones: the good ones' bytes come
// first, and the failure (with OpenSSL's reason) on the next call.
TEST(TlsSession, ABadRecordAfterGoodOnesFailsTheReadAfterTheirBytes) {
  TlsContext ctx("listener SSL", server_settings(), TlsRole::kServer);
  SessionReadRun r;
  r.records = 8;
  r.corrupt_last = true;
  r.run(ctx);
  EXPECT_EQ(r.first, TlsIo::kOk);
  EXPECT_EQ(r.got.size(), 7 * r.record_bytes);
  EXPECT_TRUE(r.got == r.sent.substr(0, 7 * r.record_bytes));
  EXPECT_EQ(r.second, TlsIo::kError);
  EXPECT_NE(r.second_error.find("TLS read failed: "), std::string::npos) << r.second_error;
}

// Where the kernel decrypts (kTLS receive, which OpenSSL sets up during the
// handshake), the session keeps OpenSSL's socket BIO: the read ahead of its
// own is only for sessions the kernel does not serve. A stand-in says "the
// kernel has the keys"; OpenSSL, which knows better, goes on reading
// ciphertext through the socket BIO, and the bytes still arrive.
TEST(TlsSession, WithKernelTlsReceiveTheSocketBioStays) {
  static const KtlsOps kFake{[](SSL*) { return false; }, [](SSL*, int, off_t, size_t) -> ssize_t { return -1; },
                             [](SSL*) { return true; }};
  set_ktls_ops_for_testing(&kFake);
  TlsContext ctx("listener SSL", server_settings(), TlsRole::kServer);
  SessionReadRun r;
  r.records = 16;
  r.run(ctx);
  set_ktls_ops_for_testing(nullptr);
  EXPECT_TRUE(r.ktls_recv);
  EXPECT_EQ(r.rbio_type, BIO_TYPE_SOCKET);
  EXPECT_EQ(r.first, TlsIo::kOk);
  EXPECT_TRUE(r.got == r.sent);
  EXPECT_EQ(r.second, TlsIo::kClosed) << r.second_error;
}

}  // namespace
}  // namespace keel::net
