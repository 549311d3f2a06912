#include "service/address.h"

#include <arpa/inet.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace overlapd {
namespace {

bool IsHostName(absl::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.') {
    return false;
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(absl::string_view flag, absl::string_view address) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, flag.empty() ? "" : " ", address, ": ", why));
  };
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad("expected HOST:PORT or [IPV6]:PORT");
  absl::string_view host = address.substr(0, colon);
  const absl::string_view port = address.substr(colon + 1);
  HostPort out;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port, &out.port)) {
    return bad(absl::StrCat("port \"", port, "\" is not a number from 0 to 65535"));
  }
  if (out.port > 65535) return bad(absl::StrCat("port ", port, " is not in 0..65535"));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    struct in6_addr v6;
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return bad(absl::StrCat("\"", host, "\" is not an IPv6 address"));
    }
    out.ipv6 = true;
  } else if (host.find(':') != absl::string_view::npos) {
    return bad("an IPv6 address goes in brackets: [::1]:PORT");
  } else if (!IsHostName(host)) {
    return bad(absl::StrCat("\"", host, "\" is not a host name or an IP address"));
  }
  out.host = std::string(host);
  return out;
}

absl::Status CheckGrpcListen(absl::string_view address, absl::string_view flag) {
  for (absl::string_view scheme : {"unix:", "unix-abstract:"}) {
    if (absl::StartsWith(address, scheme)) {
      if (address.size() == scheme.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(flag, flag.empty() ? "" : " ", address, ": the socket path is missing"));
      }
      return absl::OkStatus();
    }
  }
  return ParseHostPort(flag, address).status();
}

}  // namespace overlapd
