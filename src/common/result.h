#pragma once
// Result<T>: a value or a std::error_code. Errors are values in Keel (see
// STYLE.md); exceptions are kept for configuration and start-up failures.

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "common/assert.h"

namespace keel {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(std::error_code ec) : v_(std::in_place_index<1>, ec) {}     // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : v_(std::in_place_index<1>, make_error_code(e)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    KEEL_ASSERT(ok(), "Result::value() on an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    KEEL_ASSERT(ok(), "Result::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    KEEL_ASSERT(ok(), "Result::value() on an error");
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  std::error_code error() const { return ok() ? std::error_code{} : std::get<1>(v_); }

 private:
  std::variant<T, std::error_code> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(std::error_code ec) : ec_(ec) {}  // NOLINT
  template <typename E, typename = std::enable_if_t<std::is_error_code_enum_v<E>>>
  Result(E e) : ec_(make_error_code(e)) {}  // NOLINT

  bool ok() const { return !ec_; }
  explicit operator bool() const { return ok(); }
  std::error_code error() const { return ec_; }

 private:
  std::error_code ec_;
};

}  // namespace keel
