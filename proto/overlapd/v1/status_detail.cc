#include "overlapd/v1/status_detail.h"

#include <string>

#include "absl/strings/cord.h"

namespace overlapd {

absl::Status WithRedirect(absl::Status status, const v1::Redirect& redirect) {
  status.SetPayload(kRedirectTypeUrl, absl::Cord(redirect.SerializeAsString()));
  return status;
}

std::optional<v1::Redirect> RedirectOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRedirectTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  v1::Redirect redirect;
  if (!redirect.ParseFromString(std::string(*payload))) return std::nullopt;
  return redirect;
}

grpc::Status ToGrpcWithDetails(const absl::Status& status) {
  const auto code = static_cast<grpc::StatusCode>(status.code());
  std::string message(status.message());
  auto payload = status.GetPayload(kRedirectTypeUrl);
  if (!payload.has_value()) return grpc::Status(code, message);
  v1::RpcStatus rich;
  rich.set_code(static_cast<int>(status.code()));
  rich.set_message(message);
  v1::AnyDetail* detail = rich.add_details();
  detail->set_type_url(kRedirectTypeUrl);
  detail->set_value(std::string(*payload));
  return grpc::Status(code, message, rich.SerializeAsString());
}

absl::Status FromGrpcWithDetails(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) code = 2;
  absl::Status out(static_cast<absl::StatusCode>(code), status.error_message());
  v1::RpcStatus rich;
  if (status.error_details().empty() || !rich.ParseFromString(status.error_details())) return out;
  for (const v1::AnyDetail& detail : rich.details()) {
    if (detail.type_url() == kRedirectTypeUrl) {
      out.SetPayload(kRedirectTypeUrl, absl::Cord(detail.value()));
    }
  }
  return out;
}

}  // namespace overlapd
