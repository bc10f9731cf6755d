#include "txn/errors.h"

#include <string>

namespace keel::txn {
namespace {

class TxnCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "txn"; }
  std::string message(int c) const override {
    switch (static_cast<TxnErrc>(c)) {
      case TxnErrc::kIllegalTransition: return "illegal transaction state transition";
      case TxnErrc::kTransitionPending: return "a transaction state transition is already pending";
      case TxnErrc::kProducerFenced: return "the producer epoch was fenced by a newer producer";
      case TxnErrc::kEpochExhausted: return "the producer id has no epoch left";
      case TxnErrc::kUnknownState: return "unknown or unstorable transaction state";
    }
    return "unknown txn error";
  }
};

}  // namespace

const std::error_category& txn_category() {
  static const TxnCategory category;
  return category;
}

}  // namespace keel::txn
