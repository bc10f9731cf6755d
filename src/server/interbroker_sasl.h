#pragma once
// SASL on the broker's own connections to other brokers (inter-broker SASL),
// set up as Kafka's brokers set it up: when the inter-broker listener
// (inter.broker.listener.name) is SASL_PLAINTEXT or SASL_SSL, the mechanism is
// sasl.mechanism.inter.broker.protocol (default GSSAPI) and the credentials
// are the username= and password= of that listener's JAAS line, looked up
// in Kafka's order: listener.name.<l>.<mechanism>.sasl.jaas.config, then
// listener.name.<l>.sasl.jaas.config, then sasl.jaas.config.
//
// PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and GSSAPI (Kerberos: the keytab= and
// principal= of the listener's Krb5LoginModule line, tickets to
// <sasl.kerberos.service.name>/<the other broker's host>,
// server/sasl_gssapi_client.h). The result goes to net::set_default_client_sasl, so every user of
// net::Client (replica fetchers, the controller channel, AlterPartition,
// controlled shutdown, the transaction broker link) authenticates.

#include <memory>

#include "config/config.h"
#include "net/client.h"

namespace keel::server {

// The SASL of the broker's outgoing connections; nullptr when the
// inter-broker listener does not use SASL. Throws std::runtime_error saying
// what to change (with the file and line where there is one): a
// mechanism the inter-broker listener does not enable, no JAAS line, a line
// that cannot be read or is not the mechanism's login module
// (PlainLoginModule / ScramLoginModule with username and password,
// Krb5LoginModule), GSSAPI without a service name. Never puts the password
// in a message.
std::shared_ptr<const net::ClientSasl> interbroker_sasl(const config::BrokerConfig& config);

}  // namespace keel::server
