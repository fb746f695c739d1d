// vrseg/status.h — errors as values.
//
// Every fallible vrseg function returns a Status or a Result<T>. A Status costs one pointer on
// success; an error carries a code and a message that names the file, frame, stage or key that
// failed. No exception leaves the library. The CLI maps codes to documented exit codes
// (see ExitCodeFor and `vrseg --help`).
//
// Thread safety: Status and Result are values; distinct objects may be used from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vrseg {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,   // bad option, flag or config value (names the key)
  kNotFound,          // a file or model that does not exist
  kIoError,           // a file that exists but cannot be read or written
  kDataLoss,          // corrupt or truncated input (names the file and frame)
  kInvalidModel,      // a model file that is not a model we can run
  kUnsupported,       // a valid input we do not handle (op, codec, pixel format)
  kOutOfMemory,       // host or device memory exhausted
  kDeadlineExceeded,  // a frame missed its deadline
  kCancelled,         // stopped on request (Ctrl-C)
  kUnavailable,       // a resource (GPU, queue) is not available now
  kInternal,          // a bug: an invariant did not hold
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status DataLoss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
  static Status InvalidModel(std::string msg) { return {StatusCode::kInvalidModel, std::move(msg)}; }
  static Status Unsupported(std::string msg) { return {StatusCode::kUnsupported, std::move(msg)}; }
  static Status OutOfMemory(std::string msg) { return {StatusCode::kOutOfMemory, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
  static Status Cancelled(std::string msg) { return {StatusCode::kCancelled, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // The message alone ("" when OK).
  const std::string& message() const;
  // "CODE: message", or "OK".
  std::string ToString() const;
  // A copy whose message is "context: message" (same code). OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

// A value or the Status that explains its absence. Never holds an OK status without a value.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // Precondition: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

// The documented exit code of the `vrseg` command for a status (0 for OK).
int ExitCodeFor(StatusCode code);

}  // namespace vrseg

#define VRSEG_CONCAT_INNER_(a, b) a##b
#define VRSEG_CONCAT_(a, b) VRSEG_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the enclosing function if it is not OK.
#define VRSEG_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::vrseg::Status vrseg_status_ = (expr);          \
    if (!vrseg_status_.ok()) return vrseg_status_;   \
  } while (0)

// `lhs = value of expr`, or return its status from the enclosing function.
#define VRSEG_ASSIGN_OR_RETURN(lhs, expr) \
  VRSEG_ASSIGN_OR_RETURN_IMPL_(VRSEG_CONCAT_(vrseg_result_, __LINE__), lhs, expr)
#define VRSEG_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
