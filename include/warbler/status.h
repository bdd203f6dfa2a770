// Status and Result<T>: how every Warbler call reports success or failure.
//
// Errors are values, never exceptions across module boundaries. A Status is a
// code plus a human-readable message; Result<T> is either a T or a non-OK
// Status. Both are [[nodiscard]]: ignoring an error is a compile error.
//
// Retry guide for callers (Status::IsRetryable()):
//   retryable:     Unavailable, ResourceExhausted (backpressure), NotLeader,
//                  Busy, NoSpace (once space is freed), Timeout
//   not retryable: everything else; InvalidArgument will fail the same way,
//                  Corruption / DataLoss need an operator.
// Thread-safety: values; copy freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace warbler {

enum class StatusCode : uint8_t {
  kOk = 0,
  kNotFound = 1,
  kInvalidArgument = 2,
  kCorruption = 3,
  kIOError = 4,
  kNoSpace = 5,
  kPermissionDenied = 6,
  kUnauthenticated = 7,
  kUnavailable = 8,
  kNotLeader = 9,
  kResourceExhausted = 10,
  kDataLoss = 11,
  kAlreadyExists = 12,
  kBusy = 13,
  kFailedPrecondition = 14,
  kTimeout = 15,
  kNotSupported = 16,
  kAborted = 17,
  kInternal = 18,  // a bug or an unexpected library failure
  // The operation failed and may still have taken effect: a failed write
  // whose bytes could not be erased may reappear after a restart. Retry with
  // the same client message id (the retry is then answered idempotently).
  kIndeterminate = 19,
  // A new code goes above this line, and kStatusCodeCount follows it.
};
// One past the highest code: the size of an array indexed by StatusCode.
inline constexpr size_t kStatusCodeCount = static_cast<size_t>(StatusCode::kIndeterminate) + 1;

// Stable lower-case name of a code ("not_found"), used in logs and metrics.
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status NoSpace(std::string msg) { return {StatusCode::kNoSpace, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {StatusCode::kPermissionDenied, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {StatusCode::kUnauthenticated, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status NotLeader(std::string msg) { return {StatusCode::kNotLeader, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status DataLoss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status Busy(std::string msg) { return {StatusCode::kBusy, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status Timeout(std::string msg) { return {StatusCode::kTimeout, std::move(msg)}; }
  static Status NotSupported(std::string msg) {
    return {StatusCode::kNotSupported, std::move(msg)};
  }
  static Status Aborted(std::string msg) { return {StatusCode::kAborted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  static Status Indeterminate(std::string msg) { return {StatusCode::kIndeterminate, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsRetryable() const;
  // "ok" or "<code name>: <message>".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or an error. REQUIRES: constructed from a non-OK Status only.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = Status(StatusCode::kAborted, "Result built from OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace warbler

#define WB_STATUS_CONCAT_INNER(a, b) a##b
#define WB_STATUS_CONCAT(a, b) WB_STATUS_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function if it is not OK.
#define WB_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::warbler::Status wb_status_ = (expr);    \
    if (!wb_status_.ok()) return wb_status_;  \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define WB_ASSIGN_OR_RETURN(lhs, expr) \
  WB_ASSIGN_OR_RETURN_IMPL(WB_STATUS_CONCAT(wb_result_, __LINE__), lhs, expr)
#define WB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return std::move(tmp).status(); \
  lhs = std::move(*tmp)
