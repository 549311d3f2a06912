// Channels to an overlapd server: plaintext, TLS or mutual TLS, with an
// optional bearer token on every call. Used by Client::Connect; public for
// callers that build their own channel (tests, sharing one channel).
//
// Example:
//
//   grpc::ChannelArguments args;
//   absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = overlapd::CreateChannel(
//       "db1:50051", {.tls_ca_file = "ca.pem", .token = "s3cret"}, args);
//   if (!channel.ok()) return channel.status();
//   overlapd::Client client(*channel);
#ifndef OVERLAPD_CLIENTS_CPP_CHANNEL_H_
#define OVERLAPD_CLIENTS_CPP_CHANNEL_H_

#include <memory>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/status/statusor.h"

namespace overlapd {

// How to reach a server that has TLS (--tls-cert), mutual TLS
// (--tls-client-ca) or bearer tokens (--tokens). Empty fields: plaintext, no
// client certificate, no token.
struct ConnectOptions {
  std::string tls_ca_file{};    // PEM of the CA that signed the server's certificate
  std::string tls_cert_file{};  // mutual TLS: this client's certificate chain (PEM)
  std::string tls_key_file{};   // mutual TLS: this client's private key (PEM)
  std::string token{};          // sent as "authorization: Bearer TOKEN" on every call
};

// A channel to `target` with `options` (credentials, and the token added to
// every call). Errors: unreadable PEM files, a certificate without its key.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const ConnectOptions& options,
    const grpc::ChannelArguments& args);

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CHANNEL_H_
