#include "security/errors.h"

#include <string>

namespace keel::security {
namespace {

class AclCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "keel.security.acl"; }
  std::string message(int ev) const override {
    switch (static_cast<AclErrc>(ev)) {
      case AclErrc::kMalformed: return "malformed ACL data";
    }
    return "unknown ACL error";
  }
};

class PrincipalCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "principal"; }
  std::string message(int c) const override {
    switch (static_cast<PrincipalErrc>(c)) {
      case PrincipalErrc::kInvalidRule: return "invalid principal mapping rule";
      case PrincipalErrc::kNoMatchingRule: return "no principal mapping rule applies";
      case PrincipalErrc::kMalformedName: return "malformed Kerberos principal";
      case PrincipalErrc::kNameTooLong: return "name too long to map";
    }
    return "unknown principal error";
  }
};

class ScramCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "scram"; }
  std::string message(int c) const override {
    switch (static_cast<ScramErrc>(c)) {
      case ScramErrc::kMalformedMessage: return "malformed SCRAM message";
      case ScramErrc::kChannelBindingUnsupported: return "SCRAM channel binding is not supported";
      case ScramErrc::kInvalidUsername: return "invalid SCRAM username (empty or bad =2C/=3D escape)";
      case ScramErrc::kUnsupportedExtension: return "unsupported mandatory SCRAM extension";
      case ScramErrc::kAuthzidMismatch:
        return "authorization id differs from the username";
      case ScramErrc::kIterationsOutOfRange: return "SCRAM iterations outside 4096..16384";
      case ScramErrc::kChannelBindingMismatch:
        return "client-final channel binding does not echo the gs2 header";
      case ScramErrc::kNonceMismatch: return "SCRAM nonce does not match the exchange";
      case ScramErrc::kAuthenticationFailed: return "authentication failed: invalid user credentials";
      case ScramErrc::kServerSignatureMismatch: return "SCRAM server signature does not verify";
      case ScramErrc::kServerError: return "SCRAM server sent an error";
      case ScramErrc::kBadCredential: return "invalid stored SCRAM credential";
      case ScramErrc::kUnexpectedMessage: return "SCRAM message after the exchange ended";
    }
    return "unknown SCRAM error";
  }
};

class JaasCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "jaas"; }
  std::string message(int c) const override {
    switch (static_cast<JaasErrc>(c)) {
      case JaasErrc::kSyntax: return "invalid JAAS configuration";
      case JaasErrc::kUnsupportedLoginModule: return "unsupported JAAS login module";
      case JaasErrc::kInvalidOption: return "invalid JAAS login module option";
    }
    return "unknown JAAS error";
  }
};

class SaslClientCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sasl client"; }
  std::string message(int c) const override {
    switch (static_cast<SaslClientErrc>(c)) {
      case SaslClientErrc::kUnknownMechanism: return "SASL mechanism not supported by Keel's client";
      case SaslClientErrc::kMissingCredentials: return "no username or password for the SASL mechanism";
      case SaslClientErrc::kUnexpectedToken: return "unexpected SASL token from the server";
    }
    return "unknown SASL client error";
  }
};

}  // namespace

const std::error_category& acl_category() {
  static const AclCategory category;
  return category;
}

const std::error_category& principal_category() {
  static const PrincipalCategory category;
  return category;
}

const std::error_category& scram_category() {
  static const ScramCategory category;
  return category;
}

const std::error_category& jaas_category() {
  static const JaasCategory category;
  return category;
}

const std::error_category& sasl_client_category() {
  static const SaslClientCategory category;
  return category;
}

}  // namespace keel::security
