// The project's one pair of status macros: Abseil 20220623 ships no
// RETURN_IF_ERROR / ASSIGN_OR_RETURN (newer Abseil has
// absl/status/status_macros.h; switch to it when the build can).
#ifndef OVERLAPD_IOENGINE_STATUS_MACROS_H_
#define OVERLAPD_IOENGINE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
//
//   OVERLAPD_RETURN_IF_ERROR(WriteAll(fd, data));
#define OVERLAPD_RETURN_IF_ERROR(expr)                    \
  do {                                                    \
    ::absl::Status overlapd_status_ = (expr);             \
    if (!overlapd_status_.ok()) return overlapd_status_;  \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status when it is not
// OK, otherwise moves its value into `lhs` (which may be a declaration).
//
//   OVERLAPD_ASSIGN_OR_RETURN(auto caps, client.Capabilities());
#define OVERLAPD_ASSIGN_OR_RETURN(lhs, rexpr) \
  OVERLAPD_ASSIGN_OR_RETURN_IMPL_(OVERLAPD_STATUS_CONCAT_(overlapd_statusor_, __LINE__), lhs, rexpr)

#define OVERLAPD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = *std::move(statusor)

#define OVERLAPD_STATUS_CONCAT_(a, b) OVERLAPD_STATUS_CONCAT_INNER_(a, b)
#define OVERLAPD_STATUS_CONCAT_INNER_(a, b) a##b

#endif  // OVERLAPD_IOENGINE_STATUS_MACROS_H_
