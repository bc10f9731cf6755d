#include "security/scram.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>

#include "common/assert.h"

namespace keel::security {
namespace {


// Largest message or field we hand to OpenSSL's int-sized lengths; SASL
// tokens are far smaller (the broker bounds frames long before this).
constexpr size_t kMaxLength = size_t{1} << 28;
// More comma-separated fields than any real client sends; bounds the work a
// hostile message can cause.
constexpr size_t kMaxFields = 64;

constexpr uint8_t kEmpty[1] = {0};
const uint8_t* data_or_empty(ByteView b) { return b.empty() ? kEmpty : b.data(); }

const EVP_MD* digest_of(ScramMechanism m) {
  return m == ScramMechanism::kSha256 ? EVP_sha256() : EVP_sha512();
}

Bytes hmac(ScramMechanism m, ByteView key, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  const uint8_t* done = HMAC(digest_of(m), data_or_empty(key), static_cast<int>(key.size()),
                             data_or_empty(data), data.size(), out.data(), &len);
  KEEL_ASSERT(done != nullptr, "HMAC failed");
  out.resize(len);
  return out;
}

Bytes hash(ScramMechanism m, ByteView data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  KEEL_ASSERT(EVP_Digest(data_or_empty(data), data.size(), out.data(), &len, digest_of(m), nullptr) == 1,
              "EVP_Digest failed");
  out.resize(len);
  return out;
}

Bytes xor_bytes(ByteView a, ByteView b) {
  KEEL_ASSERT(a.size() == b.size(), "xor of unequal lengths");
  Bytes out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] ^ b[i];
  return out;
}

bool equal_secret(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(data_or_empty(a), data_or_empty(b), a.size()) == 0;
}

void cleanse(Bytes& b) {
  if (!b.empty()) OPENSSL_cleanse(b.data(), b.size());
}

void random_bytes(uint8_t* out, size_t n) {
  KEEL_ASSERT(RAND_bytes(out, static_cast<int>(n)) == 1, "RAND_bytes failed");
}

// Kafka's salts are base-36 text; each byte picks a digit (the slight modulo
// bias does not matter for a salt).
Bytes base36_text(ByteView entropy, size_t length) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  KEEL_ASSERT(entropy.size() >= length, "not enough entropy for the salt");
  Bytes out(length);
  for (size_t i = 0; i < length; ++i) out[i] = static_cast<uint8_t>(kDigits[entropy[i] % 36]);
  return out;
}
constexpr size_t kSaltLength = 26;  // base 36 digits of a 130-bit number, as Kafka prints it

// A per-process secret for unknown users' stand-in credentials: the same name
// gets the same salt on every attempt, as a real user does, and nobody outside
// can compute it.
const Bytes& process_secret() {
  static const Bytes secret = [] {
    Bytes s(32);
    random_bytes(s.data(), s.size());
    return s;
  }();
  return secret;
}

ScramCredential stand_in_credential(ScramMechanism m, std::string_view username) {
  auto derived = [&](std::string_view purpose) {
    std::string input(purpose);
    input += '\0';
    input += mechanism_name(m);
    input += '\0';
    input += username;
    return hmac(m, process_secret(), as_bytes(input));
  };
  ScramCredential c;
  c.salt = base36_text(derived("salt"), kSaltLength);
  c.stored_key = derived("stored key");
  c.server_key = derived("server key");
  c.iterations = kScramMinIterations;  // Kafka tools' default, so the most common value
  return c;
}

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (fields.size() <= kMaxFields) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(s.substr(start));
      break;
    }
    fields.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return fields;
}

// "x=value" with x the attribute letter; value may be empty here.
std::optional<std::string_view> attribute(std::string_view field, char name) {
  if (field.size() < 2 || field[0] != name || field[1] != '=') return std::nullopt;
  return field.substr(2);
}

// RFC 5802 "printable": %x21-2B / %x2D-7E.
bool is_printable_nonce(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && c != ',';
  });
}

// The value of attribute `name` if it is a valid nonce.
std::optional<std::string> nonce_attribute(std::string_view field, char name) {
  auto value = attribute(field, name);
  if (!value || !is_printable_nonce(*value)) return std::nullopt;
  return std::string(*value);
}

bool is_extension_key(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

// Single letters SCRAM gives a meaning; reused as an extension they would let
// a message say two things at once.
bool is_scram_attribute(std::string_view key) {
  return key.size() == 1 && std::string_view("aceimnprsv").find(key[0]) != std::string_view::npos;
}

// Extensions after the fixed attributes: key=value, Kafka's multi-letter keys
// included; none twice, no NUL.
Result<ScramExtensions> parse_extensions(std::span<const std::string_view> fields) {
  ScramExtensions out;
  for (std::string_view f : fields) {
    size_t eq = f.find('=');
    if (eq == std::string_view::npos) return ScramErrc::kMalformedMessage;
    std::string_view key = f.substr(0, eq);
    std::string_view value = f.substr(eq + 1);
    if (key == "m") return ScramErrc::kUnsupportedExtension;
    if (!is_extension_key(key) || is_scram_attribute(key) || value.empty() ||
        value.find('\0') != std::string_view::npos)
      return ScramErrc::kMalformedMessage;
    for (const auto& [k, v] : out)
      if (k == key) return ScramErrc::kMalformedMessage;
    out.emplace_back(key, value);
  }
  return out;
}

void append_extensions(std::string& out, const ScramExtensions& extensions) {
  for (const auto& [key, value] : extensions) {
    KEEL_ASSERT(is_extension_key(key) && !is_scram_attribute(key), "invalid SCRAM extension key");
    KEEL_ASSERT(!value.empty() && value.find(',') == std::string::npos, "invalid SCRAM extension value");
    out += ',';
    out += key;
    out += '=';
    out += value;
  }
}

// A plain decimal in 1..INT32_MAX.
std::optional<int32_t> parse_positive_int32(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0 || v > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(v);
}

bool iterations_in_range(int32_t iterations) {
  return iterations >= kScramMinIterations && iterations <= kScramMaxIterations;
}

std::string client_final_without_proof(ByteView channel_binding, std::string_view nonce) {
  std::string out = "c=";
  out += base64_encode(channel_binding);
  out += ",r=";
  out += nonce;
  return out;
}

std::string auth_message(std::string_view client_first_bare, std::string_view server_first,
                         std::string_view client_final_without_proof) {
  std::string out;
  out.reserve(client_first_bare.size() + server_first.size() + client_final_without_proof.size() + 2);
  out += client_first_bare;
  out += ',';
  out += server_first;
  out += ',';
  out += client_final_without_proof;
  return out;
}

// The decoded value of attribute `name` if it is canonical base64 and, when
// asked, not empty.
std::optional<Bytes> base64_attribute(std::string_view field, char name, bool allow_empty) {
  auto value = attribute(field, name);
  if (!value) return std::nullopt;
  auto bytes = base64_decode(*value);
  if (!bytes || (!allow_empty && bytes->empty())) return std::nullopt;
  return bytes;
}

// A message split at its commas; kMalformedMessage when it is longer or has
// more fields than any SCRAM message has.
Result<std::vector<std::string_view>> split_message(std::string_view message) {
  if (message.size() > kMaxLength) return ScramErrc::kMalformedMessage;
  std::vector<std::string_view> fields = split_fields(message);
  if (fields.size() > kMaxFields) return ScramErrc::kMalformedMessage;
  return fields;
}

bool valid_name(std::string_view name) { return !name.empty() && name.find('\0') == std::string_view::npos; }

}  // namespace


std::string_view mechanism_name(ScramMechanism m) {
  return m == ScramMechanism::kSha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
}

std::optional<ScramMechanism> parse_mechanism(std::string_view name) {
  if (name == "SCRAM-SHA-256") return ScramMechanism::kSha256;
  if (name == "SCRAM-SHA-512") return ScramMechanism::kSha512;
  return std::nullopt;
}

size_t digest_size(ScramMechanism m) { return m == ScramMechanism::kSha256 ? 32 : 64; }

// --- base64 ----------------------------------------------------------------

std::string base64_encode(ByteView bytes) {
  KEEL_ASSERT(bytes.size() <= kMaxLength, "base64 input too large");
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  int n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()), data_or_empty(bytes),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<Bytes> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > kMaxLength) return std::nullopt;
  if (text.empty()) return Bytes{};
  // EVP_DecodeBlock skips surrounding whitespace and accepts '=' anywhere, so
  // the alphabet and padding are checked first, canonical form after.
  size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    char c = text[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/';
    if (!ok) return std::nullopt;
  }
  Bytes out(text.size() / 4 * 3);
  int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const uint8_t*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  // Non-zero bits under the padding would decode to the same bytes; only the
  // canonical text is accepted so one value has one spelling.
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

// --- credentials -------------------------------------------------------------

Bytes salted_password(ScramMechanism m, std::string_view password, ByteView salt, int32_t iterations) {
  KEEL_ASSERT(iterations > 0, "PBKDF2 needs at least one iteration");
  KEEL_ASSERT(password.size() <= kMaxLength && salt.size() <= kMaxLength, "PBKDF2 input too large");
  Bytes out(digest_size(m));
  int ok = PKCS5_PBKDF2_HMAC(password.empty() ? "" : password.data(), static_cast<int>(password.size()),
                             data_or_empty(salt), static_cast<int>(salt.size()), iterations, digest_of(m),
                             static_cast<int>(out.size()), out.data());
  KEEL_ASSERT(ok == 1, "PKCS5_PBKDF2_HMAC failed");
  return out;
}

Result<ScramCredential> derive_from_salted_password(ScramMechanism m, ByteView salted, ByteView salt,
                                                    int32_t iterations) {
  if (!iterations_in_range(iterations)) return ScramErrc::kIterationsOutOfRange;
  if (salted.size() != digest_size(m)) return ScramErrc::kBadCredential;
  Bytes client_key = hmac(m, salted, as_bytes("Client Key"));
  ScramCredential c;
  c.salt.assign(salt.begin(), salt.end());
  c.stored_key = hash(m, client_key);
  c.server_key = hmac(m, salted, as_bytes("Server Key"));
  c.iterations = iterations;
  cleanse(client_key);
  return c;
}

Result<ScramCredential> derive(ScramMechanism m, std::string_view password, ByteView salt,
                               int32_t iterations) {
  if (!iterations_in_range(iterations)) return ScramErrc::kIterationsOutOfRange;
  Bytes salted = salted_password(m, password, salt, iterations);
  auto c = derive_from_salted_password(m, salted, salt, iterations);
  cleanse(salted);
  return c;
}

bool password_matches(ScramMechanism m, const ScramCredential& credential, std::string_view password) {
  auto attempt = derive(m, password, credential.salt, credential.iterations);
  return attempt && equal_secret(attempt->stored_key, credential.stored_key);
}

Bytes random_salt() {
  uint8_t entropy[kSaltLength];
  random_bytes(entropy, sizeof entropy);
  return base36_text(ByteView(entropy, sizeof entropy), kSaltLength);
}

std::string encode_credential(const ScramCredential& c) {
  std::string out = "salt=";
  out += base64_encode(c.salt);
  out += ",stored_key=";
  out += base64_encode(c.stored_key);
  out += ",server_key=";
  out += base64_encode(c.server_key);
  out += ",iterations=";
  out += std::to_string(c.iterations);
  return out;
}

Result<ScramCredential> parse_credential(ScramMechanism m, std::string_view text) {
  std::optional<Bytes> salt, stored_key, server_key;
  std::optional<int32_t> iterations;
  std::vector<std::string_view> fields = split_fields(text);
  if (fields.size() != 4) return ScramErrc::kBadCredential;
  for (std::string_view f : fields) {
    size_t eq = f.find('=');
    if (eq == std::string_view::npos) return ScramErrc::kBadCredential;
    std::string_view key = f.substr(0, eq);
    std::string_view value = f.substr(eq + 1);
    if (key == "iterations") {
      if (iterations) return ScramErrc::kBadCredential;
      iterations = parse_positive_int32(value);
      if (!iterations) return ScramErrc::kBadCredential;
      continue;
    }
    std::optional<Bytes>* slot = key == "salt"         ? &salt
                                 : key == "stored_key" ? &stored_key
                                 : key == "server_key" ? &server_key
                                                       : nullptr;
    if (slot == nullptr || slot->has_value()) return ScramErrc::kBadCredential;
    *slot = base64_decode(value);
    if (!slot->has_value()) return ScramErrc::kBadCredential;
  }
  if (!salt || !stored_key || !server_key || !iterations) return ScramErrc::kBadCredential;
  if (salt->empty() || stored_key->size() != digest_size(m) || server_key->size() != digest_size(m))
    return ScramErrc::kBadCredential;
  if (*iterations < kScramMinIterations) return ScramErrc::kIterationsOutOfRange;
  return ScramCredential{std::move(*salt), std::move(*stored_key), std::move(*server_key), *iterations};
}

// --- names and nonces --------------------------------------------------------

std::string escape_saslname(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == ',') out += "=2C";
    else if (c == '=') out += "=3D";
    else out += c;
  }
  return out;
}

std::optional<std::string> unescape_saslname(std::string_view saslname) {
  if (saslname.empty()) return std::nullopt;
  std::string out;
  out.reserve(saslname.size());
  for (size_t i = 0; i < saslname.size(); ++i) {
    char c = saslname[i];
    if (c == '\0' || c == ',') return std::nullopt;
    if (c != '=') {
      out += c;
      continue;
    }
    std::string_view code = saslname.substr(i + 1, 2);
    if (code == "2C") out += ',';
    else if (code == "3D") out += '=';
    else return std::nullopt;
    i += 2;
  }
  return out;
}

std::string random_nonce() {
  uint8_t entropy[18];
  random_bytes(entropy, sizeof entropy);
  return base64_encode(ByteView(entropy, sizeof entropy));
}

// --- messages ----------------------------------------------------------------

bool ScramClientFirst::token_auth() const {
  for (const auto& [key, value] : extensions) {
    if (key != "tokenauth") continue;
    return value.size() == 4 && std::equal(value.begin(), value.end(), "true",
                                            [](char a, char b) { return (a | 0x20) == b; });
  }
  return false;
}

Result<ScramClientFirst> parse_client_first(std::string_view message) {
  auto split = split_message(message);
  if (!split) return split.error();
  const std::vector<std::string_view>& fields = *split;
  // gs2-cbind-flag: "p=<name>" and "y" both speak of channel binding, which
  // Kafka never does; anything else but "n" (e.g. the "F" non-standard
  // prefix) is not SCRAM as Kafka's clients send it.
  if (fields[0] == "y" || fields[0].starts_with("p=")) return ScramErrc::kChannelBindingUnsupported;
  if (fields[0] != "n" || fields.size() < 4) return ScramErrc::kMalformedMessage;

  ScramClientFirst out;
  if (!fields[1].empty()) {
    auto authzid = attribute(fields[1], 'a');
    if (!authzid) return ScramErrc::kMalformedMessage;
    auto decoded = unescape_saslname(*authzid);
    if (!decoded) return ScramErrc::kInvalidUsername;
    out.authzid = std::move(*decoded);
  }
  size_t header_size = fields[0].size() + 1 + fields[1].size() + 1;
  out.gs2_header = std::string(message.substr(0, header_size));
  out.bare = std::string(message.substr(header_size));

  if (attribute(fields[2], 'm')) return ScramErrc::kUnsupportedExtension;
  auto username = attribute(fields[2], 'n');
  if (!username) return ScramErrc::kMalformedMessage;
  auto decoded = unescape_saslname(*username);
  if (!decoded) return ScramErrc::kInvalidUsername;
  out.username = std::move(*decoded);

  auto nonce = nonce_attribute(fields[3], 'r');
  if (!nonce) return ScramErrc::kMalformedMessage;
  out.nonce = std::move(*nonce);

  auto extensions = parse_extensions(std::span(fields).subspan(4));
  if (!extensions) return extensions.error();
  out.extensions = std::move(*extensions);
  return out;
}

std::string write_client_first(std::string_view username, std::string_view nonce, std::string_view authzid,
                               const ScramExtensions& extensions) {
  KEEL_ASSERT(is_printable_nonce(nonce), "SCRAM nonce must be printable without ','");
  std::string out = "n,";
  if (!authzid.empty()) {
    out += "a=";
    out += escape_saslname(authzid);
  }
  out += ",n=";
  out += escape_saslname(username);
  out += ",r=";
  out += nonce;
  append_extensions(out, extensions);
  return out;
}

Result<ScramServerFirst> parse_server_first(std::string_view message) {
  auto split = split_message(message);
  if (!split) return split.error();
  const std::vector<std::string_view>& fields = *split;
  if (attribute(fields[0], 'm')) return ScramErrc::kUnsupportedExtension;
  if (fields.size() < 3) return ScramErrc::kMalformedMessage;

  ScramServerFirst out;
  auto nonce = nonce_attribute(fields[0], 'r');
  auto salt = base64_attribute(fields[1], 's', /*allow_empty=*/true);
  if (!nonce || !salt) return ScramErrc::kMalformedMessage;
  out.nonce = std::move(*nonce);
  out.salt = std::move(*salt);

  auto iterations_text = attribute(fields[2], 'i');
  if (!iterations_text) return ScramErrc::kMalformedMessage;
  auto iterations = parse_positive_int32(*iterations_text);
  if (!iterations) return ScramErrc::kMalformedMessage;
  out.iterations = *iterations;

  auto extensions = parse_extensions(std::span(fields).subspan(3));
  if (!extensions) return extensions.error();
  return out;
}

std::string write_server_first(const ScramServerFirst& m) {
  KEEL_ASSERT(is_printable_nonce(m.nonce), "SCRAM nonce must be printable without ','");
  std::string out = "r=";
  out += m.nonce;
  out += ",s=";
  out += base64_encode(m.salt);
  out += ",i=";
  out += std::to_string(m.iterations);
  return out;
}

Result<ScramClientFinal> parse_client_final(std::string_view message) {
  auto split = split_message(message);
  if (!split) return split.error();
  const std::vector<std::string_view>& fields = *split;
  if (fields.size() < 3) return ScramErrc::kMalformedMessage;

  // The proof comes last (RFC 5802 §7); extensions sit between nonce and proof.
  std::string_view last = fields.back();
  auto binding = base64_attribute(fields[0], 'c', /*allow_empty=*/true);
  auto nonce = nonce_attribute(fields[1], 'r');
  auto proof = base64_attribute(last, 'p', /*allow_empty=*/false);
  if (!binding || !nonce || !proof) return ScramErrc::kMalformedMessage;
  ScramClientFinal out;
  out.channel_binding = std::move(*binding);
  out.nonce = std::move(*nonce);
  out.proof = std::move(*proof);

  auto extensions = parse_extensions(std::span(fields).subspan(2, fields.size() - 3));
  if (!extensions) return extensions.error();
  out.without_proof = std::string(message.substr(0, message.size() - last.size() - 1));
  return out;
}

std::string write_client_final(ByteView channel_binding, std::string_view nonce, ByteView proof) {
  KEEL_ASSERT(is_printable_nonce(nonce), "SCRAM nonce must be printable without ','");
  std::string out = client_final_without_proof(channel_binding, nonce);
  out += ",p=";
  out += base64_encode(proof);
  return out;
}

Result<ScramServerFinal> parse_server_final(std::string_view message) {
  auto split = split_message(message);
  if (!split) return split.error();
  const std::vector<std::string_view>& fields = *split;

  ScramServerFinal out;
  if (auto error = attribute(fields[0], 'e')) {
    if (error->empty() || error->find('\0') != std::string_view::npos) return ScramErrc::kMalformedMessage;
    out.error = std::string(*error);
  } else if (attribute(fields[0], 'v')) {
    out.signature = base64_attribute(fields[0], 'v', /*allow_empty=*/false);
    if (!out.signature) return ScramErrc::kMalformedMessage;
  } else {
    return ScramErrc::kMalformedMessage;
  }
  auto extensions = parse_extensions(std::span(fields).subspan(1));
  if (!extensions) return extensions.error();
  return out;
}

std::string write_server_final(ByteView signature) { return "v=" + base64_encode(signature); }

std::string write_server_final_error(std::string_view error) {
  KEEL_ASSERT(!error.empty() && error.find(',') == std::string_view::npos, "invalid SCRAM server error");
  return "e=" + std::string(error);
}

// --- server ------------------------------------------------------------------

ScramServer::ScramServer(ScramMechanism mechanism, ScramCredentialLookup lookup, ScramNonceSource nonce_source)
    : mechanism_(mechanism), lookup_(std::move(lookup)), nonce_source_(std::move(nonce_source)) {}

Result<std::string> ScramServer::step(std::string_view client_message) {
  Result<std::string> reply = ScramErrc::kUnexpectedMessage;
  switch (state_) {
    case State::kExpectClientFirst:
      reply = on_client_first(client_message);
      if (reply) state_ = State::kExpectClientFinal;
      break;
    case State::kExpectClientFinal:
      reply = on_client_final(client_message);
      if (reply) state_ = State::kComplete;
      break;
    case State::kComplete:
    case State::kFailed:
      break;
  }
  if (!reply) {
    state_ = State::kFailed;
    cleanse(credential_.stored_key);
    cleanse(credential_.server_key);
  }
  return reply;
}

Result<std::string> ScramServer::on_client_first(std::string_view message) {
  auto parsed = parse_client_first(message);
  if (!parsed) return parsed.error();
  first_ = std::move(*parsed);
  // Kafka: a client may name only itself as the authorization id.
  if (!first_.authzid.empty() && first_.authzid != first_.username) return ScramErrc::kAuthzidMismatch;

  std::optional<ScramCredential> found;
  if (!first_.token_auth()) found = lookup_(first_.username);
  if (found) {
    if (found->iterations < kScramMinIterations) return ScramErrc::kIterationsOutOfRange;
    if (found->stored_key.size() != digest_size(mechanism_) ||
        found->server_key.size() != digest_size(mechanism_))
      return ScramErrc::kBadCredential;
    credential_ = std::move(*found);
    known_user_ = true;
  } else {
    credential_ = stand_in_credential(mechanism_, first_.username);
    known_user_ = false;
  }

  std::string server_nonce = nonce_source_();
  KEEL_ASSERT(is_printable_nonce(server_nonce), "server nonce must be printable without ','");
  full_nonce_ = first_.nonce + server_nonce;
  server_first_ = write_server_first({full_nonce_, credential_.salt, credential_.iterations});
  return server_first_;
}

Result<std::string> ScramServer::on_client_final(std::string_view message) {
  auto parsed = parse_client_final(message);
  if (!parsed) return parsed.error();
  const ScramClientFinal& final_message = *parsed;
  if (!std::ranges::equal(final_message.channel_binding, first_.gs2_header,
                          [](uint8_t b, char c) { return b == static_cast<uint8_t>(c); }))
    return ScramErrc::kChannelBindingMismatch;
  // RFC 5802 wants the whole server nonce; librdkafka < 2.6.1 puts its own
  // nonce in front of it once more (security-testbed.md §4).
  if (final_message.nonce != full_nonce_ && final_message.nonce != first_.nonce + full_nonce_)
    return ScramErrc::kNonceMismatch;
  const size_t size = digest_size(mechanism_);
  if (final_message.proof.size() != size) return ScramErrc::kMalformedMessage;

  // Known or not, the same computation runs, so the answer's timing does not
  // say which it was.
  std::string auth = auth_message(first_.bare, server_first_, final_message.without_proof);
  Bytes client_signature = hmac(mechanism_, credential_.stored_key, as_bytes(auth));
  Bytes client_key = xor_bytes(final_message.proof, client_signature);
  bool proof_ok = equal_secret(hash(mechanism_, client_key), credential_.stored_key);
  Bytes server_signature = hmac(mechanism_, credential_.server_key, as_bytes(auth));
  cleanse(client_key);
  if (!(proof_ok & known_user_)) return ScramErrc::kAuthenticationFailed;
  return write_server_final(server_signature);
}

// --- client ------------------------------------------------------------------

ScramClient::ScramClient(ScramMechanism mechanism, std::string username, std::string password,
                         std::string authzid, ScramExtensions extensions, ScramNonceSource nonce_source)
    : mechanism_(mechanism),
      username_(std::move(username)),
      password_(std::move(password)),
      authzid_(std::move(authzid)),
      extensions_(std::move(extensions)),
      nonce_source_(std::move(nonce_source)) {}

Result<std::string> ScramClient::first_message() {
  if (state_ != State::kInitial) return ScramErrc::kUnexpectedMessage;
  if (!valid_name(username_) || (!authzid_.empty() && !valid_name(authzid_))) {
    state_ = State::kFailed;
    return ScramErrc::kInvalidUsername;
  }
  client_nonce_ = nonce_source_();
  std::string message = write_client_first(username_, client_nonce_, authzid_, extensions_);
  size_t bare_start = message.find(',', message.find(',') + 1) + 1;  // after "n,[a=..],"
  gs2_header_ = message.substr(0, bare_start);
  client_first_bare_ = message.substr(bare_start);
  state_ = State::kSentFirst;
  return message;
}

Result<std::string> ScramClient::handle_server_first(std::string_view message) {
  if (state_ != State::kSentFirst) return ScramErrc::kUnexpectedMessage;
  state_ = State::kFailed;
  auto parsed = parse_server_first(message);
  if (!parsed) return parsed.error();
  const ScramServerFirst& first = *parsed;
  if (first.nonce.size() <= client_nonce_.size() || !first.nonce.starts_with(client_nonce_))
    return ScramErrc::kNonceMismatch;
  if (!iterations_in_range(first.iterations)) return ScramErrc::kIterationsOutOfRange;

  Bytes salted = salted_password(mechanism_, password_, first.salt, first.iterations);
  Bytes client_key = hmac(mechanism_, salted, as_bytes("Client Key"));
  Bytes server_key = hmac(mechanism_, salted, as_bytes("Server Key"));
  std::string without_proof = client_final_without_proof(as_bytes(gs2_header_), first.nonce);
  std::string auth = auth_message(client_first_bare_, message, without_proof);
  Bytes client_signature = hmac(mechanism_, hash(mechanism_, client_key), as_bytes(auth));
  Bytes proof = xor_bytes(client_key, client_signature);
  expected_server_signature_ = hmac(mechanism_, server_key, as_bytes(auth));
  cleanse(salted);
  cleanse(client_key);
  cleanse(server_key);

  state_ = State::kSentFinal;
  return without_proof + ",p=" + base64_encode(proof);
}

Result<void> ScramClient::handle_server_final(std::string_view message) {
  if (state_ != State::kSentFinal) return ScramErrc::kUnexpectedMessage;
  state_ = State::kFailed;
  auto parsed = parse_server_final(message);
  if (!parsed) return parsed.error();
  if (!parsed->signature) {
    server_error_ = parsed->error;
    return ScramErrc::kServerError;
  }
  if (!equal_secret(*parsed->signature, expected_server_signature_)) return ScramErrc::kServerSignatureMismatch;
  state_ = State::kComplete;
  return {};
}

}  // namespace keel::security
