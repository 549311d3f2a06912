#include "service/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "service/auth.h"
#include "service/startup.h"

namespace overlapd {
namespace {

void SetLimits(const ServerConfig& config, grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.limits.max_message_bytes));
  // Compressed requests are refused (UNIMPLEMENTED): a few MiB of gzip
  // inflate to gigabytes before any size check could see them.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(config.max_streams_per_connection));
  // Connections whose peer vanished are found and closed, with their calls.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20'000);
}

}  // namespace

absl::StatusOr<GrpcServer> BuildGrpcServer(const ServerConfig& config, grpc::Service& service,
                                           Operations& operations) {
  auto credentials = ServerCredentials(config.tls_cert, config.tls_key, config.tls_client_ca);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  GrpcServer built;
  int port = 0;
  if (config.tls_cert.empty() && config.listen.rfind("unix:", 0) != 0) {
    // Plaintext TCP: overlapd's own listening socket (listener.h says why).
    absl::StatusOr<std::unique_ptr<Listener>> opened = Listener::Open(config.listen);
    if (!opened.ok()) return opened.status();
    built.listener = *std::move(opened);
    port = built.listener->port();
  } else {
    builder.AddListeningPort(config.listen, *credentials, &port);
  }
  builder.RegisterService(&service);
  operations.AttachTo(builder, built.listener != nullptr ? &built.listener->peers() : nullptr);
  SetLimits(config, builder);
  built.server = builder.BuildAndStart();
  if (built.server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen, " (in use, or not an address)"));
  }
  built.address = absl::StrCat(HostOf(config.listen), ":", port);
  return built;
}

}  // namespace overlapd
