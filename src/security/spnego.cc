#include "security/spnego.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace keel::security {
namespace {

// 1.3.6.1.5.5.2 (SPNEGO) and 1.2.840.113554.1.2.2 (Kerberos 5), DER contents.
gss_OID_desc kSpnegoOid = {6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};
gss_OID_desc kKrb5Oid = {9, const_cast<char*>("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02")};

// --- small owners of GSS-API objects --------------------------------------------------------------

struct GssName {
  gss_name_t name = GSS_C_NO_NAME;
  ~GssName() {
    OM_uint32 minor = 0;
    if (name != GSS_C_NO_NAME) gss_release_name(&minor, &name);
  }
};

struct GssCred {
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  ~GssCred() {
    OM_uint32 minor = 0;
    if (cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &cred);
  }
};

struct GssContext {
  gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
  ~GssContext() {
    OM_uint32 minor = 0;
    if (ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
  }
};

struct GssBuffer {
  gss_buffer_desc buf = GSS_C_EMPTY_BUFFER;
  ~GssBuffer() {
    OM_uint32 minor = 0;
    if (buf.value) gss_release_buffer(&minor, &buf);
  }
  std::string text() const { return buf.value ? std::string(static_cast<const char*>(buf.value), buf.length) : ""; }
};

// Every message GSS-API has for one status code, joined.
std::string status_text(OM_uint32 code, int type, gss_OID mech) {
  std::string out;
  OM_uint32 more = 0;
  do {
    OM_uint32 minor = 0;
    GssBuffer b;
    if (GSS_ERROR(gss_display_status(&minor, code, type, mech, &more, &b.buf))) break;
    if (!out.empty()) out += "; ";
    out += b.text();
  } while (more != 0);
  return out;
}

std::string gss_error(OM_uint32 major, OM_uint32 minor) {
  std::string text = status_text(major, GSS_C_GSS_CODE, GSS_C_NO_OID);
  if (minor != 0) {
    const std::string mech = status_text(minor, GSS_C_MECH_CODE, &kKrb5Oid);
    if (!mech.empty()) text += " (" + mech + ")";
  }
  return text;
}

std::string display(gss_name_t name) {
  OM_uint32 minor = 0;
  GssBuffer b;
  if (GSS_ERROR(gss_display_name(&minor, name, &b.buf, nullptr))) return {};
  return b.text();
}

// "HTTP/host@REALM": exactly two components, the first HTTP.
bool is_http_service(std::string_view principal) {
  if (!principal.starts_with("HTTP/")) return false;
  const size_t at = principal.find('@');
  const std::string_view host = principal.substr(5, at == std::string_view::npos ? at : at - 5);
  return !host.empty() && host.find('/') == std::string_view::npos;
}

class Krb5 {
 public:
  Krb5() {
    if (const krb5_error_code rc = krb5_init_context(&ctx_); rc != 0)
      throw std::runtime_error(std::string("SPNEGO: cannot read the Kerberos configuration: ") + std::strerror(rc));
  }
  ~Krb5() { krb5_free_context(ctx_); }
  Krb5(const Krb5&) = delete;
  Krb5& operator=(const Krb5&) = delete;
  krb5_context get() const { return ctx_; }

  std::string message(krb5_error_code rc) const {
    const char* m = krb5_get_error_message(ctx_, rc);
    std::string out = m ? m : "error " + std::to_string(rc);
    krb5_free_error_message(ctx_, m);
    return out;
  }

  std::string default_realm() const {
    char* realm = nullptr;
    if (krb5_get_default_realm(ctx_, &realm) != 0 || realm == nullptr) return {};
    std::string out = realm;
    krb5_free_default_realm(ctx_, realm);
    return out;
  }

 private:
  krb5_context ctx_ = nullptr;
};

// A credential for accepting SPNEGO with `options`' key, limited to Kerberos
// inside SPNEGO (never NTLM, should a plugin offer it).
OM_uint32 acquire(const SpnegoOptions& options, GssCred* out, OM_uint32* minor) {
  GssName name;
  if (!options.principal.empty()) {
    gss_buffer_desc text{options.principal.size(), const_cast<char*>(options.principal.data())};
    const OM_uint32 major = gss_import_name(minor, &text, GSS_KRB5_NT_PRINCIPAL_NAME, &name.name);
    if (GSS_ERROR(major)) return major;
  }
  const std::string keytab = "FILE:" + options.keytab;
  gss_key_value_element_desc element{"keytab", keytab.c_str()};
  gss_key_value_set_desc store{1, &element};
  gss_OID_set_desc mechs{1, &kSpnegoOid};
  const OM_uint32 major = gss_acquire_cred_from(minor, name.name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store,
                                                &out->cred, nullptr, nullptr);
  if (GSS_ERROR(major)) return major;
  gss_OID_set_desc krb5_only{1, &kKrb5Oid};
  OM_uint32 ignored = 0;
  gss_set_neg_mechs(&ignored, out->cred, &krb5_only);
  return major;
}

}  // namespace

std::vector<std::string> keytab_http_keys(const std::string& keytab) {
  Krb5 krb5;
  krb5_keytab kt = nullptr;
  if (krb5_error_code rc = krb5_kt_resolve(krb5.get(), ("FILE:" + keytab).c_str(), &kt); rc != 0)
    throw std::runtime_error("SPNEGO: cannot open keytab " + keytab + ": " + krb5.message(rc));
  std::vector<std::string> out;
  krb5_kt_cursor cursor{};
  krb5_error_code rc = krb5_kt_start_seq_get(krb5.get(), kt, &cursor);
  if (rc != 0) {
    krb5_kt_close(krb5.get(), kt);
    throw std::runtime_error("SPNEGO: cannot read keytab " + keytab + ": " + krb5.message(rc));
  }
  krb5_keytab_entry entry{};
  while ((rc = krb5_kt_next_entry(krb5.get(), kt, &entry, &cursor)) == 0) {
    char* name = nullptr;
    if (krb5_unparse_name(krb5.get(), entry.principal, &name) == 0) {
      if (is_http_service(name) && std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
      krb5_free_unparsed_name(krb5.get(), name);
    }
    krb5_free_keytab_entry_contents(krb5.get(), &entry);
  }
  krb5_kt_end_seq_get(krb5.get(), kt, &cursor);
  krb5_kt_close(krb5.get(), kt);
  if (rc != KRB5_KT_END) throw std::runtime_error("SPNEGO: cannot read keytab " + keytab + ": " + krb5.message(rc));
  return out;
}

SpnegoAcceptor::SpnegoAcceptor(SpnegoOptions options, KerberosShortNamer rules)
    : options_(std::move(options)), rules_(std::move(rules)) {}

SpnegoAcceptor::~SpnegoAcceptor() = default;

std::shared_ptr<const SpnegoAcceptor> SpnegoAcceptor::create(SpnegoOptions options) {
  if (options.keytab.empty()) throw std::runtime_error("SPNEGO: no keytab named (http.spnego.keytab)");
  if (access(options.keytab.c_str(), R_OK) != 0)
    throw std::runtime_error("SPNEGO: cannot read keytab " + options.keytab + " as this user: " +
                             std::strerror(errno));
  std::string realm;
  {
    Krb5 krb5;
    realm = krb5.default_realm();
  }
  if (realm.empty())
    throw std::runtime_error("SPNEGO: the Kerberos configuration (KRB5_CONFIG, else /etc/krb5.conf) names no "
                             "default_realm, which sasl.kerberos.principal.to.local.rules needs");
  std::string why;
  auto rules = KerberosShortNamer::parse(realm, options.to_local_rules, &why);
  if (!rules) throw std::runtime_error("sasl.kerberos.principal.to.local.rules: " + why);
  std::vector<std::string> keys = keytab_http_keys(options.keytab);
  if (!options.principal.empty()) {
    if (options.principal.find('@') == std::string::npos) options.principal += "@" + realm;
    if (!is_http_service(options.principal))
      throw std::runtime_error("http.spnego.principal: '" + options.principal +
                               "' is not HTTP/<host>@REALM, the name browsers and curl ask a ticket for");
    if (std::find(keys.begin(), keys.end(), options.principal) == keys.end())
      throw std::runtime_error("SPNEGO: keytab " + options.keytab + " has no key for http.spnego.principal " +
                               options.principal + " (kadmin: ktadd -k " + options.keytab + " " +
                               options.principal + ")");
    keys = {options.principal};
  } else if (keys.empty()) {
    throw std::runtime_error("SPNEGO: keytab " + options.keytab + " holds no HTTP/<host>@REALM key; add the one "
                             "clients ask for (kadmin: ktadd -k " + options.keytab + " HTTP/<broker host>@" +
                             realm + ")");
  }
  GssCred probe;
  OM_uint32 minor = 0;
  if (const OM_uint32 major = acquire(options, &probe, &minor); GSS_ERROR(major))
    throw std::runtime_error("SPNEGO: GSS-API cannot use keytab " + options.keytab + ": " + gss_error(major, minor));
  std::shared_ptr<SpnegoAcceptor> out(new SpnegoAcceptor(std::move(options), std::move(*rules)));
  out->http_keys_ = std::move(keys);
  return out;
}

SpnegoAcceptor::Outcome SpnegoAcceptor::accept(ByteView token) const {
  Outcome out;
  GssCred cred;
  OM_uint32 minor = 0;
  if (const OM_uint32 major = acquire(options_, &cred, &minor); GSS_ERROR(major)) {
    out.error = "the broker cannot use its HTTP service key";
    out.detail = "keytab " + options_.keytab + ": " + gss_error(major, minor);
    return out;
  }
  GssContext context;
  GssName client;
  GssBuffer reply;
  gss_buffer_desc input{token.size(), const_cast<uint8_t*>(token.data())};
  const OM_uint32 major = gss_accept_sec_context(&minor, &context.ctx, cred.cred, &input, GSS_C_NO_CHANNEL_BINDINGS,
                                                 &client.name, nullptr, &reply.buf, nullptr, nullptr, nullptr);
  if (GSS_ERROR(major)) {
    out.detail = gss_error(major, minor);
    out.error = "Kerberos authentication failed: " + out.detail;
    return out;
  }
  if (major & GSS_S_CONTINUE_NEEDED) {
    out.error = "SPNEGO needs another round trip (the first token carries no Kerberos ticket); Keel accepts the "
                "one-round-trip exchange browsers and curl use";
    out.detail = out.error;
    return out;
  }
  out.kerberos_name = display(client.name);
  if (out.kerberos_name.empty()) {
    out.error = out.detail = "GSS-API gave no client name";
    return out;
  }
  if (options_.principal.empty()) {
    // Any key of the keytab was acceptable to GSS-API: only HTTP/ ones are to Keel.
    GssName target;
    if (GSS_ERROR(gss_inquire_context(&minor, context.ctx, nullptr, &target.name, nullptr, nullptr, nullptr, nullptr,
                                      nullptr))) {
      out.error = out.detail = "GSS-API does not say which service the ticket is for";
      return out;
    }
    const std::string service = display(target.name);
    if (!is_http_service(service)) {
      out.error = "the ticket is for " + service + ", not for an HTTP/<host> service";
      out.detail = out.error + " (client " + out.kerberos_name + ")";
      return out;
    }
  }
  std::string why;
  auto name = rules_.short_name(out.kerberos_name, &why);
  if (!name) {
    out.error = "no sasl.kerberos.principal.to.local.rules rule maps " + out.kerberos_name;
    out.detail = out.error + (why.empty() ? "" : ": " + why);
    return out;
  }
  out.ok = true;
  out.short_name = std::move(*name);
  const auto* bytes = static_cast<const uint8_t*>(reply.buf.value);
  if (bytes) out.reply.assign(bytes, bytes + reply.buf.length);
  return out;
}

std::string SpnegoAcceptor::describe() const {
  std::string keys;
  for (const auto& k : http_keys_) keys += (keys.empty() ? "" : ", ") + k;
  return (options_.principal.empty() ? "tickets to any HTTP/ key of keytab " : "tickets to " + options_.principal +
                                                                                    " from keytab ") +
         options_.keytab + " (" + keys + ")";
}

}  // namespace keel::security
