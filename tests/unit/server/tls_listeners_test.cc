// The ssl.* settings each TLS listener gets (its listener.name.<l>.ssl.*
// overrides over the broker-wide keys) and which of them AlterConfigs may
// change at run time (server/tls_listeners.h).

#include "server/tls_listeners.h"

#include <gtest/gtest.h>

#include "server/dynamic_config.h"

namespace keel::server {
namespace {

TEST(TlsSettings, AListenersOwnValuesWinOverTheBrokerWideOnes) {
  config::BrokerConfig c;
  c.ssl_keystore_location = "/etc/keel/broker.p12";
  c.ssl_keystore_type = "PKCS12";
  c.ssl_client_auth = "none";
  c.listener_overrides["MTLS"]["ssl.client.auth"] = "required";
  c.listener_overrides["MTLS"]["ssl.enabled.protocols"] = "TLSv1.3, TLSv1.2";
  c.listener_overrides["MTLS"]["ssl.endpoint.identification.algorithm"] = "";
  const net::TlsSettings mtls = tls_settings(c, "MTLS");
  EXPECT_EQ(mtls.client_auth, "required");
  EXPECT_EQ(mtls.enabled_protocols, (std::vector<std::string>{"TLSv1.3", "TLSv1.2"}));
  EXPECT_EQ(mtls.endpoint_identification_algorithm, "") << "an empty override is a value";
  EXPECT_EQ(mtls.keystore_location, "/etc/keel/broker.p12") << "not overridden: the broker-wide value";
  const net::TlsSettings ssl = tls_settings(c, "SSL");
  EXPECT_EQ(ssl.client_auth, "none");
  EXPECT_EQ(ssl.endpoint_identification_algorithm, "https");
  EXPECT_EQ(ssl.keystore_type, "PKCS12");
}

TEST(TlsListeners, OnlyAListenersKeyAndTrustStoresChangeAtRunTime) {
  EXPECT_TRUE(TlsListeners::is_dynamic_key("listener.name.ssl.ssl.keystore.location"));
  EXPECT_TRUE(TlsListeners::is_dynamic_key("listener.name.internal.ssl.truststore.location"));
  EXPECT_TRUE(TlsListeners::is_dynamic_key("listener.name.ssl.ssl.keystore.password"));
  EXPECT_FALSE(TlsListeners::is_dynamic_key("listener.name.ssl.ssl.client.auth"));
  EXPECT_FALSE(TlsListeners::is_dynamic_key("ssl.keystore.location"));
  EXPECT_FALSE(TlsListeners::is_dynamic_key("listener.name..ssl.keystore.location"));
  bool not_dynamic = true;
  EXPECT_EQ(DynamicBrokerConfig::check("listener.name.ssl.ssl.keystore.location", "/new.pem", &not_dynamic), "");
  EXPECT_FALSE(not_dynamic);
  EXPECT_TRUE(DynamicBrokerConfig::is_dynamic("listener.name.ssl.ssl.keystore.location"));
  EXPECT_NE(DynamicBrokerConfig::check("listener.name.ssl.ssl.client.auth", "required", &not_dynamic), "");
  EXPECT_TRUE(not_dynamic);
}

TEST(TlsListeners, ABadKeyStoreStopsTheStartNamingTheListenerAndKey) {
  config::BrokerConfig c;
  c.listeners = {{"SSL", "127.0.0.1", 0, "SSL"}};
  c.ssl_keystore_type = "PEM";
  c.ssl_keystore_location = "/nonexistent/keel-store.pem";
  try {
    TlsListeners tls(c);
    FAIL() << "a missing key store was accepted";
  } catch (const net::TlsConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("listener SSL"), std::string::npos) << what;
    EXPECT_NE(what.find("ssl.keystore.location /nonexistent/keel-store.pem"), std::string::npos) << what;
  }
  c.listeners = {{"PLAINTEXT", "127.0.0.1", 0, "PLAINTEXT"}};
  TlsListeners none(c);
  EXPECT_EQ(none.listener("PLAINTEXT"), nullptr);
  EXPECT_EQ(none.client(), nullptr);
}

}  // namespace
}  // namespace keel::server
