#pragma once
// The authorized-operations bitfields of Kafka's describe answers (KIP-430):
// bit n set means AclOperation code n is allowed. A Kafka broker with no
// authorizer reports every operation the resource type supports; keel has no
// ACLs yet, so these are exactly those sets. A field the request did not ask
// for keeps the schema default, INT32_MIN.

#include <cstdint>
#include <initializer_list>

namespace keel::server {

// Kafka's AclOperation codes.
enum class AclOperation : int8_t {
  kRead = 3,
  kWrite = 4,
  kCreate = 5,
  kDelete = 6,
  kAlter = 7,
  kDescribe = 8,
  kClusterAction = 9,
  kDescribeConfigs = 10,
  kAlterConfigs = 11,
  kIdempotentWrite = 12,
};

constexpr int32_t operation_bits(std::initializer_list<AclOperation> ops) {
  int32_t bits = 0;
  for (AclOperation op : ops) bits |= int32_t{1} << static_cast<int>(op);
  return bits;
}

// AclEntry.supportedOperations(TOPIC).
inline constexpr int32_t kTopicOperations = operation_bits(
    {AclOperation::kRead, AclOperation::kWrite, AclOperation::kCreate, AclOperation::kDescribe,
     AclOperation::kDelete, AclOperation::kAlter, AclOperation::kDescribeConfigs, AclOperation::kAlterConfigs});
// AclEntry.supportedOperations(CLUSTER).
inline constexpr int32_t kClusterOperations = operation_bits(
    {AclOperation::kCreate, AclOperation::kClusterAction, AclOperation::kDescribeConfigs,
     AclOperation::kAlterConfigs, AclOperation::kIdempotentWrite, AclOperation::kAlter, AclOperation::kDescribe});

}  // namespace keel::server
