#include "service/address.h"

#include "gtest/gtest.h"

namespace overlapd {
namespace {

TEST(AddressTest, ParsesHostsAndPorts) {
  absl::StatusOr<HostPort> a = ParseHostPort("--listen", "127.0.0.1:50051");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 50051);
  a = ParseHostPort("--listen", "[::1]:0");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "::1");
  EXPECT_TRUE(a->ipv6);
  EXPECT_TRUE(ParseHostPort("--listen", "localhost:65535").ok());
  EXPECT_TRUE(ParseHostPort("--listen", "0.0.0.0:9464").ok());
  EXPECT_TRUE(CheckGrpcListen("unix:/run/overlapd.sock").ok());
}

TEST(AddressTest, RefusesWhatWouldListenSomewhereElse) {
  struct Case {
    const char* address;
    const char* error;
  };
  const Case cases[] = {
      {"127.0.0.1:99999", "--listen 127.0.0.1:99999: port 99999 is not in 0..65535"},
      {"127.0.0.1:65536", "not in 0..65535"},
      {"127.0.0.1:123456", "is not a number from 0 to 65535"},
      {"127.0.0.1:", "is not a number"},
      {"127.0.0.1:-1", "is not a number"},
      {"127.0.0.1", "expected HOST:PORT"},
      {":50051", "is not a host name"},
      {"::1:50051", "an IPv6 address goes in brackets"},
      {"[zz]:1", "is not an IPv6 address"},
      {"a b:1", "is not a host name"},
      {"unix:", "the socket path is missing"},
  };
  for (const Case& c : cases) {
    absl::Status s = CheckGrpcListen(c.address);
    EXPECT_FALSE(s.ok()) << c.address;
    EXPECT_NE(s.message().find(c.error), absl::string_view::npos) << c.address << " -> " << s;
  }
}

}  // namespace
}  // namespace overlapd
