#include "clients/cpp/channel.h"

#include <utility>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>

#include "absl/strings/str_cat.h"
#include "ioengine/flag_file.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace {

// Adds the bearer token to every call's initial metadata. (gRPC's call
// credentials are refused on plaintext channels, and a token on loopback
// without TLS is a supported setup.)
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class TokenInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new TokenInterceptor(&header_);
  }

 private:
  const std::string header_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    const std::string& target, const ConnectOptions& options,
    const grpc::ChannelArguments& args) {
  if (target.empty()) return absl::InvalidArgumentError("empty server address");
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  const bool client_cert = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (!options.tls_ca_file.empty() || client_cert) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_ca_file.empty()) {
      OVERLAPD_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                                ReadFlagFile("--tls-ca", options.tls_ca_file, FlagFile::kNonEmpty));
    }
    if (client_cert) {
      if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
        return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
      }
      OVERLAPD_ASSIGN_OR_RETURN(
          ssl.pem_cert_chain,
          ReadFlagFile("--tls-cert", options.tls_cert_file, FlagFile::kNonEmpty));
      OVERLAPD_ASSIGN_OR_RETURN(
          ssl.pem_private_key,
          ReadFlagFile("--tls-key", options.tls_key_file, FlagFile::kNonEmpty));
    }
    credentials = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel;
  if (options.token.empty()) {
    channel = grpc::CreateCustomChannel(target, credentials, args);
  } else {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> chain;
    chain.push_back(std::make_unique<TokenInterceptorFactory>(options.token));
    channel = grpc::experimental::CreateCustomChannelWithInterceptors(target, credentials, args,
                                                                      std::move(chain));
  }
  if (channel == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create channel to ", target));
  }
  return channel;
}

}  // namespace overlapd
