#pragma once
// StrongInt<T, Tag>: an integer that does not mix with other integers of a
// different meaning (an Offset is not a LeaderEpoch).

#include <compare>
#include <cstdint>
#include <functional>

namespace keel {

template <typename T, typename Tag>
class StrongInt {
 public:
  using value_type = T;
  constexpr StrongInt() = default;
  constexpr explicit StrongInt(T v) : v_(v) {}
  constexpr T value() const { return v_; }
  constexpr auto operator<=>(const StrongInt&) const = default;
  constexpr StrongInt operator+(T d) const { return StrongInt(v_ + d); }
  constexpr StrongInt operator-(T d) const { return StrongInt(v_ - d); }
  constexpr T operator-(StrongInt o) const { return v_ - o.v_; }
  constexpr StrongInt& operator+=(T d) { v_ += d; return *this; }
  constexpr StrongInt& operator++() { ++v_; return *this; }

 private:
  T v_{};
};

using Offset = StrongInt<int64_t, struct OffsetTag>;
using LeaderEpoch = StrongInt<int32_t, struct LeaderEpochTag>;
using BrokerId = StrongInt<int32_t, struct BrokerIdTag>;

}  // namespace keel

template <typename T, typename Tag>
struct std::hash<keel::StrongInt<T, Tag>> {
  size_t operator()(keel::StrongInt<T, Tag> v) const noexcept { return std::hash<T>{}(v.value()); }
};
