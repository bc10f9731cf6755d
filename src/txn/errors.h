#pragma once
// Errors of the transaction coordinator's own logic (not Kafka error codes:
// those are decided by the coordinator, see coordinator.h). They name a
// refused state transition or a record of __transaction_state that cannot be
// taken in.

#include <system_error>

namespace keel::txn {

enum class TxnErrc {
  kIllegalTransition = 1,  // the target state may not follow the current one (Kafka's
                           // IllegalStateException in prepareTransitionTo / completeTransitionTo)
  kTransitionPending,      // another transition is already in flight
  kProducerFenced,         // InitProducerId's expected epoch is neither the current nor the last one
  kEpochExhausted,         // no epoch left to bump to on this producer id
  kUnknownState,           // a TransactionStatus byte outside 0..7, or a state never stored (Dead,
                           // PrepareEpochFence) read from the log
};

const std::error_category& txn_category();
inline std::error_code make_error_code(TxnErrc e) { return {static_cast<int>(e), txn_category()}; }

}  // namespace keel::txn

template <>
struct std::is_error_code_enum<keel::txn::TxnErrc> : std::true_type {};
