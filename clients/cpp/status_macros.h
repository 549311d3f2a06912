// Private to clients/cpp: Abseil 20220623 ships no RETURN_IF_ERROR /
// ASSIGN_OR_RETURN, so the client defines its own, prefixed to avoid clashing
// with any other folder's copy.
#ifndef OVERLAPD_CLIENTS_CPP_STATUS_MACROS_H_
#define OVERLAPD_CLIENTS_CPP_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function when it is not OK.
//
//   OVERLAP_RETURN_IF_ERROR(WriteAll(fd, data));
#define OVERLAP_RETURN_IF_ERROR(expr)              \
  do {                                             \
    ::absl::Status overlap_status_ = (expr);       \
    if (!overlap_status_.ok()) return overlap_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status when it is not
// OK, otherwise moves its value into `lhs` (which may be a declaration).
//
//   OVERLAP_ASSIGN_OR_RETURN(auto caps, client.Capabilities());
#define OVERLAP_ASSIGN_OR_RETURN(lhs, rexpr) \
  OVERLAP_ASSIGN_OR_RETURN_IMPL_(            \
      OVERLAP_STATUS_CONCAT_(overlap_statusor_, __LINE__), lhs, rexpr)

#define OVERLAP_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = *std::move(statusor)

#define OVERLAP_STATUS_CONCAT_(a, b) OVERLAP_STATUS_CONCAT_INNER_(a, b)
#define OVERLAP_STATUS_CONCAT_INNER_(a, b) a##b

#endif  // OVERLAPD_CLIENTS_CPP_STATUS_MACROS_H_
