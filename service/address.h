// Checks of the addresses overlapd listens on (--listen, --metrics-listen),
// before anything binds: a port past 65535 must not wrap to another port,
// and a typo must not become a listener somewhere unexpected.
#ifndef OVERLAPD_SERVICE_ADDRESS_H_
#define OVERLAPD_SERVICE_ADDRESS_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace overlapd {

// A TCP address split into its parts: host without brackets, port number.
struct HostPort {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0", "localhost"
  int port = 0;      // 0..65535; 0 picks a free port
  bool ipv6 = false;  // written "[V6]:PORT"
};

// Parses "HOST:PORT" or "[IPV6]:PORT". HOST is an IPv4 or bracketed IPv6
// literal or a host name (letters, digits, '-', '.'); PORT is a decimal
// number from 0 to 65535. INVALID_ARGUMENT naming `flag` (when not empty),
// the address and what is wrong otherwise:
//
//   ParseHostPort("--listen", "127.0.0.1:99999")
//     => INVALID_ARGUMENT "--listen 127.0.0.1:99999: port 99999 is not in 0..65535"
absl::StatusOr<HostPort> ParseHostPort(absl::string_view flag, absl::string_view address);

// --listen: "unix:PATH" (also "unix-abstract:NAME") or HOST:PORT as above.
absl::Status CheckGrpcListen(absl::string_view address, absl::string_view flag = "--listen");

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_ADDRESS_H_
