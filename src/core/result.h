// Result<T> and Error: how the control plane reports failure.
//
// The codes are Abseil's canonical set, so a caller can tell from the code
// alone whether a retry makes sense: Unavailable (retry), Aborted (retry the
// transaction), FailedPrecondition (do not).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace aureo::core {

enum class Code {
  kOk = 0,
  kCancelled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kDataLoss,
  kUnauthenticated,
};

// Stable lower_snake_case name, used in JSON error bodies and logs.
std::string_view codeName(Code code);

// The one mapping from codes to HTTP statuses.
int httpStatus(Code code);

struct Error {
  Code code = Code::kUnknown;
  std::string message;

  // Optional: the field a validation error is about (JSON pointer-ish name).
  std::string field;

  [[nodiscard]] bool retryable() const {
    return code == Code::kUnavailable || code == Code::kAborted || code == Code::kDeadlineExceeded;
  }
  [[nodiscard]] std::string toString() const;
};

inline Error invalidArgument(std::string msg, std::string field = {}) {
  return {Code::kInvalidArgument, std::move(msg), std::move(field)};
}
inline Error notFound(std::string msg) {
  return {Code::kNotFound, std::move(msg), {}};
}
inline Error alreadyExists(std::string msg) {
  return {Code::kAlreadyExists, std::move(msg), {}};
}
inline Error permissionDenied(std::string msg) {
  return {Code::kPermissionDenied, std::move(msg), {}};
}
inline Error unauthenticated(std::string msg) {
  return {Code::kUnauthenticated, std::move(msg), {}};
}
inline Error failedPrecondition(std::string msg) {
  return {Code::kFailedPrecondition, std::move(msg), {}};
}
inline Error unavailable(std::string msg) {
  return {Code::kUnavailable, std::move(msg), {}};
}
inline Error internalError(std::string msg) {
  return {Code::kInternal, std::move(msg), {}};
}
inline Error resourceExhausted(std::string msg) {
  return {Code::kResourceExhausted, std::move(msg), {}};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

  template <typename U>
  T valueOr(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    assert(!ok_);
    return error_;
  }
  Error&& error() && {
    assert(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() {
  return {};
}

}  // namespace aureo::core

// Propagates an error from an expression returning Result<T> or Status.
#define AUREO_RETURN_IF_ERROR(expr)            \
  do {                                         \
    auto aureo_status_ = (expr);               \
    if (!aureo_status_.ok()) {                 \
      return std::move(aureo_status_).error(); \
    }                                          \
  } while (false)

#define AUREO_CONCAT_INNER_(a, b) a##b
#define AUREO_CONCAT_(a, b) AUREO_CONCAT_INNER_(a, b)

// AUREO_ASSIGN_OR_RETURN(auto x, expr): binds the value or returns the error.
#define AUREO_ASSIGN_OR_RETURN(lhs, expr) \
  AUREO_ASSIGN_OR_RETURN_IMPL_(AUREO_CONCAT_(aureo_result_, __LINE__), lhs, expr)
#define AUREO_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) {                                   \
    return std::move(tmp).error();                   \
  }                                                  \
  lhs = std::move(tmp).value()
