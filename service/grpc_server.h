// Builds overlapd's gRPC server from its config: the listening port (for
// plaintext TCP overlapd's own listener, see listener.h), credentials,
// message and stream limits, keepalive, and the operators' hooks.
#ifndef OVERLAPD_SERVICE_GRPC_SERVER_H_
#define OVERLAPD_SERVICE_GRPC_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/config.h"
#include "service/listener.h"
#include "service/operations.h"

namespace overlapd {

struct GrpcServer {
  std::unique_ptr<grpc::Server> server;
  // Plaintext TCP only: the socket overlapd accepts on; the caller starts
  // it (Listener::Start) once it is ready for the first client.
  std::unique_ptr<Listener> listener;
  // "HOST:PORT" with the port actually bound (--listen may say port 0).
  std::string address;
};

// Builds and starts the server for `service` (gRPC's own ports accept at
// once; overlapd's plaintext listener waits for Listener::Start). INVALID_ARGUMENT for TLS
// files that do not load, UNAVAILABLE when the address cannot be bound.
absl::StatusOr<GrpcServer> BuildGrpcServer(const ServerConfig& config, grpc::Service& service,
                                           Operations& operations);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_GRPC_SERVER_H_
