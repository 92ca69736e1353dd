// Status: the error type used inside edgelm (no exceptions cross module boundaries).
#pragma once

#include <string>
#include <utility>

namespace edgelm {

// The values of edgelm_status in include/edgelm/edgelm.h (src/api/edgelm.cc asserts each pair).
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kIoError = 3,
  kCorruptModel = 4,
  kUnsupported = 5,
  kOutOfMemory = 6,
  kOutOfRange = 7,
  kCancelled = 8,
  kContextFull = 9,
  kInternal = 10,
  kBufferTooSmall = 11,
  kInvalidOutput = 12,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status IoError(std::string m) { return Status(StatusCode::kIoError, std::move(m)); }
inline Status CorruptModel(std::string m) { return Status(StatusCode::kCorruptModel, std::move(m)); }
inline Status Unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status OutOfRange(std::string m) { return Status(StatusCode::kOutOfRange, std::move(m)); }

}  // namespace edgelm

// Returns early from the enclosing function when `expr` yields a non-ok Status.
#define EDGELM_RETURN_IF_ERROR(expr)               \
  do {                                             \
    ::edgelm::Status edgelm_status_ = (expr);      \
    if (!edgelm_status_.ok()) return edgelm_status_; \
  } while (0)
