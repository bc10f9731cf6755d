// JAAS lines come from the configuration file, and a broker must refuse a bad
// one with a message, never crash or read past the text, whatever bytes it
// holds (broken UTF-8, unclosed quotes and comments, stray escapes). What
// parses must write back (write_jaas_entry, everything quoted and escaped) and
// parse again to the same entries; parse_jaas_config must agree with
// parse_jaas_entries about the grammar.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "security/jaas.h"

namespace {

using namespace keel::security;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto entries = parse_jaas_entries(text, &why);
  if (!entries) check(!why.empty() && entries.error() == JaasErrc::kSyntax);
  if (entries) {
    check(!entries->empty());
    std::string written;
    for (const JaasEntry& e : *entries) {
      check(!e.login_module.empty());
      written += write_jaas_entry(e) + "\n";
      (void)write_jaas_entry(e, /*hide_passwords=*/true);
    }
    auto again = parse_jaas_entries(written);
    check(again.ok() && *again == *entries);
  }
  std::string config_why;
  auto login = parse_jaas_config(text, &config_why);
  if (!entries) check(!login.ok() && login.error() == JaasErrc::kSyntax);
  if (!login) check(!config_why.empty());
  return 0;
}
