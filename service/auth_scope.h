// The scopes a bearer token may hold (see auth.h).
#ifndef OVERLAPD_SERVICE_AUTH_SCOPE_H_
#define OVERLAPD_SERVICE_AUTH_SCOPE_H_

#include <cstdint>

namespace overlapd {

enum Scope : uint8_t {
  kScopeRead = 1,
  kScopeWrite = 2,
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_AUTH_SCOPE_H_
