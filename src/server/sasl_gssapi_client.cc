#include "server/sasl_gssapi_client.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include <array>
#include <utility>

namespace keel::server {
namespace {

// RFC 4752 section 3.3: bit 1 of the first octet of the security-layer
// message is "no security layer".
constexpr uint8_t kNoSecurityLayer = 0x01;

// GSS-API's status codes in words: the major (routine) code's, then the
// mechanism's minor code's, e.g. "Unspecified GSS failure.  Minor code may
// provide more information: Keytab FILE:/x contains no suitable keys for ...".
std::string status_text(OM_uint32 major, OM_uint32 minor) {
  std::string out;
  auto append = [&out](OM_uint32 code, int type) {
    OM_uint32 more = 0;
    do {
      OM_uint32 ignored = 0;
      gss_buffer_desc text = GSS_C_EMPTY_BUFFER;
      if (GSS_ERROR(gss_display_status(&ignored, code, type, gss_mech_krb5, &more, &text))) break;
      if (!out.empty()) out += ": ";
      out.append(static_cast<const char*>(text.value), text.length);
      gss_release_buffer(&ignored, &text);
    } while (more != 0);
  };
  append(major, GSS_C_GSS_CODE);
  if (minor != 0) append(minor, GSS_C_MECH_CODE);
  return out;
}

Bytes take(gss_buffer_desc& buffer) {
  const auto* p = static_cast<const uint8_t*>(buffer.value);
  Bytes out(p, p + buffer.length);
  OM_uint32 ignored = 0;
  gss_release_buffer(&ignored, &buffer);
  return out;
}

gss_buffer_desc view(ByteView bytes) {
  gss_buffer_desc b;
  b.length = bytes.size();
  b.value = const_cast<uint8_t*>(bytes.data());  // GSS-API's input buffers are read only
  return b;
}

class GssapiClient final : public security::SaslClientMechanism {
 public:
  explicit GssapiClient(GssapiClientLogin login) : login_(std::move(login)) {}

  ~GssapiClient() override {
    OM_uint32 ignored = 0;
    if (context_ != GSS_C_NO_CONTEXT) gss_delete_sec_context(&ignored, &context_, GSS_C_NO_BUFFER);
    if (credential_ != GSS_C_NO_CREDENTIAL) gss_release_cred(&ignored, &credential_);
    if (target_ != GSS_C_NO_NAME) gss_release_name(&ignored, &target_);
  }

  GssapiClient(const GssapiClient&) = delete;
  GssapiClient& operator=(const GssapiClient&) = delete;

  std::string_view name() const override { return "GSSAPI"; }
  void set_server_host(std::string_view host) override { host_ = std::string(host); }

  Result<Bytes> respond(ByteView server_token) override {
    switch (state_) {
      case State::kInitial:
        if (!acquire()) return GssapiClientErrc::kKerberos;
        return init_context(nullptr);
      case State::kContext: {
        gss_buffer_desc in = view(server_token);
        return init_context(&in);
      }
      case State::kSecurityLayer:
        return choose_security_layer(server_token);
      case State::kAwaitOutcome:
        // The server accepted the last token and has nothing more to say.
        if (!server_token.empty()) return unexpected("a token after the security layer was chosen");
        state_ = State::kComplete;
        return Bytes{};
      case State::kComplete:
      case State::kFailed:
        break;
    }
    return unexpected("a token after the exchange ended");
  }

  bool complete() const override { return state_ == State::kComplete; }
  std::string detail() const override { return detail_; }
  // The first token needs the TGT and a service ticket: the KDC, unless
  // both are in the MEMORY cache already. The later steps are local.
  bool may_block() const override { return state_ == State::kInitial; }

 private:
  enum class State { kInitial, kContext, kSecurityLayer, kAwaitOutcome, kComplete, kFailed };

  bool failed(std::string what, OM_uint32 major, OM_uint32 minor) {
    state_ = State::kFailed;
    detail_ = std::move(what) + ": " + status_text(major, minor);
    return false;
  }

  bool failed_plain(std::string what) {
    state_ = State::kFailed;
    detail_ = std::move(what);
    return false;
  }

  Result<Bytes> unexpected(std::string what) {
    state_ = State::kFailed;
    detail_ = std::move(what);
    return security::SaslClientErrc::kUnexpectedToken;
  }

  // The broker's credential (the JAAS line's principal, keys from its
  // keytab, tickets in a MEMORY cache) and the other broker's name.
  bool acquire() {
    if (host_.empty()) return failed_plain("no broker host to ask a ticket for");
    OM_uint32 minor = 0;
    gss_name_t principal = GSS_C_NO_NAME;
    gss_buffer_desc text = view(ByteView(reinterpret_cast<const uint8_t*>(login_.principal.data()),
                                         login_.principal.size()));
    OM_uint32 major = gss_import_name(&minor, &text, GSS_KRB5_NT_PRINCIPAL_NAME, &principal);
    if (GSS_ERROR(major)) return failed("principal " + login_.principal, major, minor);

    // One MEMORY cache per principal and process: every exchange of this
    // broker shares its TGT and service tickets, nothing touches a file.
    // With a keeper's cache, only the cache: no login, no refresh in line.
    const bool kept = !login_.ccache.empty();
    const std::string ccache = kept ? login_.ccache : "MEMORY:keel-interbroker-" + login_.principal;
    const std::string keytab = "FILE:" + login_.keytab;
    std::array<gss_key_value_element_desc, 2> elements{{{"ccache", ccache.c_str()}, {"client_keytab", keytab.c_str()}}};
    gss_key_value_set_desc store{kept ? 1u : 2u, elements.data()};
    gss_OID_set_desc mechs{1, gss_mech_krb5};
    major = gss_acquire_cred_from(&minor, principal, GSS_C_INDEFINITE, &mechs, GSS_C_INITIATE, &store, &credential_,
                                  nullptr, nullptr);
    OM_uint32 ignored = 0;
    gss_release_name(&ignored, &principal);
    if (GSS_ERROR(major)) {
      if (kept) {
        return failed("no Kerberos ticket for " + login_.principal + " in " + ccache +
                          " (the broker's login from keytab " + login_.keytab + " has not succeeded yet or lapsed)",
                      major, minor);
      }
      return failed("no Kerberos credential for " + login_.principal + " from keytab " + login_.keytab, major, minor);
    }

    // <service>@<host> is what Kerberos turns into <service>/<host>@<realm of host>.
    const std::string service = login_.service + "@" + host_;
    text = view(ByteView(reinterpret_cast<const uint8_t*>(service.data()), service.size()));
    major = gss_import_name(&minor, &text, GSS_C_NT_HOSTBASED_SERVICE, &target_);
    if (GSS_ERROR(major)) return failed("service name " + service, major, minor);
    state_ = State::kContext;
    return true;
  }

  Result<Bytes> init_context(gss_buffer_t in) {
    OM_uint32 minor = 0;
    gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
    const OM_uint32 major =
        gss_init_sec_context(&minor, credential_, &context_, target_, gss_mech_krb5,
                             GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG, 0, GSS_C_NO_CHANNEL_BINDINGS,
                             in ? in : GSS_C_NO_BUFFER, nullptr, &out, nullptr, nullptr);
    if (GSS_ERROR(major)) {
      OM_uint32 ignored = 0;
      gss_release_buffer(&ignored, &out);
      failed("Kerberos refused a ticket to " + login_.service + "/" + host_ + " for " + login_.principal +
                 " (keytab " + login_.keytab + ")",
             major, minor);
      return GssapiClientErrc::kKerberos;
    }
    if (major == GSS_S_COMPLETE) state_ = State::kSecurityLayer;
    return take(out);
  }

  // The server's offer (wrapped: layers it allows, its maximum buffer) gets
  // the answer "no security layer, no buffer, no authorization id".
  Result<Bytes> choose_security_layer(ByteView server_token) {
    OM_uint32 minor = 0;
    gss_buffer_desc in = view(server_token);
    gss_buffer_desc offer = GSS_C_EMPTY_BUFFER;
    OM_uint32 major = gss_unwrap(&minor, context_, &in, &offer, nullptr, nullptr);
    if (GSS_ERROR(major)) {
      failed("the broker's security-layer message does not unwrap", major, minor);
      return GssapiClientErrc::kKerberos;
    }
    const Bytes plain = take(offer);
    if (plain.size() != 4) return unexpected("a security-layer offer of " + std::to_string(plain.size()) + " bytes, not 4");
    if ((plain[0] & kNoSecurityLayer) == 0) return unexpected("the broker insists on a security layer, which Kafka never uses");

    std::array<uint8_t, 4> choice{kNoSecurityLayer, 0, 0, 0};
    gss_buffer_desc choice_buffer = view(ByteView(choice.data(), choice.size()));
    gss_buffer_desc wrapped = GSS_C_EMPTY_BUFFER;
    major = gss_wrap(&minor, context_, 0, GSS_C_QOP_DEFAULT, &choice_buffer, nullptr, &wrapped);
    if (GSS_ERROR(major)) {
      failed("cannot wrap the security-layer choice", major, minor);
      return GssapiClientErrc::kKerberos;
    }
    state_ = State::kAwaitOutcome;
    return take(wrapped);
  }

  GssapiClientLogin login_;
  std::string host_;
  State state_ = State::kInitial;
  std::string detail_;
  gss_cred_id_t credential_ = GSS_C_NO_CREDENTIAL;
  gss_ctx_id_t context_ = GSS_C_NO_CONTEXT;
  gss_name_t target_ = GSS_C_NO_NAME;
};

class GssapiClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gssapi client"; }
  std::string message(int c) const override {
    switch (static_cast<GssapiClientErrc>(c)) {
      case GssapiClientErrc::kKerberos: return "Kerberos failed on this broker's side";
    }
    return "unknown GSSAPI client error";
  }
};

}  // namespace

const std::error_category& gssapi_client_category() {
  static const GssapiClientCategory category;
  return category;
}

std::unique_ptr<security::SaslClientMechanism> make_gssapi_client(GssapiClientLogin login) {
  return std::make_unique<GssapiClient>(std::move(login));
}

}  // namespace keel::server
