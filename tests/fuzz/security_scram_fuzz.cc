// SCRAM messages come from an unauthenticated peer (server side) or from a
// broker we have not yet verified (client side): every parser must give a
// value or an error, never crash or read past the message. What parses must
// write and parse again to the same fields, and base64 and SASL names must
// round-trip exactly, because AuthMessage is built from those bytes.
//
// Input: one selector byte (bit 0: SHA-256 or SHA-512), then two messages
// separated by the first '\n'. Both go to every parser, then in order to a
// ScramServer (client-first, client-final) and to a ScramClient (server-first,
// server-final). Nonces are fixed ("S" for the server, "c" for the client) so
// the fuzzer can reach the proof check; user "user" has password "pencil".

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "security/scram.h"

namespace {

using namespace keel;
using namespace keel::security;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void parse_all(std::string_view text) {
  if (auto m = parse_client_first(text)) {
    check(m->gs2_header.size() + m->bare.size() == text.size());
    auto again = parse_client_first(write_client_first(m->username, m->nonce, m->authzid, m->extensions));
    check(again.ok() && again->username == m->username && again->authzid == m->authzid &&
          again->nonce == m->nonce && again->extensions == m->extensions);
  }
  if (auto m = parse_server_first(text)) {
    auto again = parse_server_first(write_server_first(*m));
    check(again.ok() && again->nonce == m->nonce && again->salt == m->salt && again->iterations == m->iterations);
  }
  if (auto m = parse_client_final(text)) {
    check(text.starts_with(m->without_proof));
    auto again = parse_client_final(write_client_final(m->channel_binding, m->nonce, m->proof));
    check(again.ok() && again->channel_binding == m->channel_binding && again->nonce == m->nonce &&
          again->proof == m->proof);
  }
  if (auto m = parse_server_final(text)) {
    check(m->signature.has_value() != !m->error.empty());
    if (m->signature) {
      auto again = parse_server_final(write_server_final(*m->signature));
      check(again.ok() && again->signature == m->signature);
    }
  }
  if (auto bytes = base64_decode(text)) check(base64_encode(*bytes) == text);
  if (auto name = unescape_saslname(text)) check(escape_saslname(*name) == text);
  for (ScramMechanism m : {ScramMechanism::kSha256, ScramMechanism::kSha512}) {
    if (auto c = parse_credential(m, text)) {
      auto again = parse_credential(m, encode_credential(*c));
      check(again.ok() && *again == *c);
    }
  }
}

const ScramCredential& user_credential(ScramMechanism m) {
  static const ScramCredential sha256 = *derive(ScramMechanism::kSha256, "pencil", as_bytes("salt"), 4096);
  static const ScramCredential sha512 = *derive(ScramMechanism::kSha512, "pencil", as_bytes("salt"), 4096);
  return m == ScramMechanism::kSha256 ? sha256 : sha512;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ScramMechanism mechanism = (data[0] & 1) ? ScramMechanism::kSha512 : ScramMechanism::kSha256;
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t newline = input.find('\n');
  const std::string_view first = input.substr(0, newline);
  const std::string_view second = newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);

  parse_all(first);
  parse_all(second);

  ScramServer server(
      mechanism,
      [mechanism](std::string_view name) -> std::optional<ScramCredential> {
        if (name == "user") return user_credential(mechanism);
        return std::nullopt;
      },
      [] { return std::string("S"); });
  if (auto reply = server.step(first)) {
    auto final_reply = server.step(second);
    check(final_reply.ok() == server.complete());
    if (final_reply) check(server.username() == "user");
  } else {
    check(!server.step(second).ok());
  }

  ScramClient client(mechanism, "user", "pencil", {}, {}, [] { return std::string("c"); });
  check(client.first_message().ok());
  if (client.handle_server_first(first)) (void)client.handle_server_final(second);
  return 0;
}
