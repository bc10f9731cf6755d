#pragma once
// Java's String.hashCode of a string that arrives as UTF-8, and Kafka's
// key-to-partition rule built on it. Kafka places a consumer group in
// __consumer_offsets and a transactional id in __transaction_state by
// Utils.abs(key.hashCode()) % partitions, so Keel must hash exactly as the JVM
// does for a Keel broker and a Kafka broker to agree on a coordinator.
// Stateless and thread-safe.

#include <cstdint>
#include <string_view>

namespace keel {

// Java's String.hashCode (s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code
// units, int32 overflow) of the string `utf8` decodes to.
//
// The input is converted to UTF-16 first, so a character outside the BMP adds
// both of its surrogates to the hash. Invalid UTF-8 is converted the way
// Java's new String(bytes, UTF_8) converts it, because that is how Kafka reads
// ids from a request: each malformed sequence becomes one U+FFFD, decided byte
// by byte as the JDK decides it (a lead byte whose next byte does not fit is
// one U+FFFD and that next byte is read again; a UTF-8-encoded surrogate,
// ED A0..BF xx, is one U+FFFD for all three bytes; an incomplete sequence at
// the end is one U+FFFD). Checked against JDK 17's and JDK 25's hashCode on
// every string of one or two bytes and on ~250000 others biased towards
// malformed UTF-8.
int32_t java_string_hash(std::string_view utf8);

// Kafka's Utils.abs(java_string_hash(key)) % num_partitions, the rule of
// TransactionStateManager.partitionFor and GroupMetadataManager.partitionFor.
// Utils.abs is Math.abs except that Integer.MIN_VALUE gives 0 (Math.abs would
// leave it negative); it is not the sign-bit mask (Utils.toPositive, which the
// producer's partitioner uses): for a negative hash the two differ.
// num_partitions > 0.
int32_t kafka_partition_for_key(std::string_view key, int32_t num_partitions);

}  // namespace keel
