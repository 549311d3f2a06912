#include "clients/cpp/commands_health.h"

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/cpp/client.h"

namespace overlapd {
namespace cli {
namespace {

constexpr const char* kStatusNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"};

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

std::string EncodeHealthRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;  // the default value is not written
  out.push_back('\x0a');            // field 1, length-delimited
  AppendVarint(service.size(), &out);
  out += service;
  return out;
}

absl::StatusOr<std::string> DecodeHealthStatus(const std::string& response) {
  uint64_t status = 0;  // absent: UNKNOWN
  for (size_t i = 0; i < response.size();) {
    const uint8_t key = static_cast<uint8_t>(response[i++]);
    if ((key & 7) != 0) return absl::DataLossError("health response: unexpected field type");
    uint64_t v = 0;
    int shift = 0;
    while (i < response.size() && shift < 64) {
      const uint8_t b = static_cast<uint8_t>(response[i++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    if ((key >> 3) == 1) status = v;
  }
  if (status >= 4) return absl::StrCat("STATUS_", status);
  return std::string(kStatusNames[status]);
}

HealthCommand::HealthCommand(CLI::App& app, const GlobalOptions& global) : global_(global) {
  command_ = AddCommand(
      app, "health", "Ask the server's health service whether it serves",
      "Calls grpc.health.v1.Health/Check (open to every caller, also with --tokens)\n"
      "and prints SERVING, NOT_SERVING or SERVICE_UNKNOWN; --json: one object\n"
      "with service and status. Exit status 0 only for SERVING.");
  command_->add_option("--service", service_,
                       "Service to ask about (\"\": the whole server; "
                       "overlapd.v1.IoService: the file service)");
  command_->add_option("--timeout", timeout_s_, "Seconds to wait for the answer")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
}

std::optional<absl::Status> HealthCommand::Run() {
  if (!command_->parsed()) return std::nullopt;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      CreateChannel(global_.server, global_.connect, grpc::ChannelArguments());
  if (!channel.ok()) return channel.status();
  grpc::GenericStub stub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(timeout_s_ * 1000)));
  grpc::Slice slice(EncodeHealthRequest(service_));
  const grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status status = done.get_future().get();  // the deadline bounds it
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        status.error_message());
  }
  absl::StatusOr<std::string> name = DecodeHealthStatus(Flatten(response));
  if (!name.ok()) return name.status();
  if (global_.json) {
    PrintJson({{"service", service_}, {"status", *name}});
  } else {
    std::printf("%s\n", name->c_str());
  }
  if (*name == "SERVING") return absl::OkStatus();
  return Reported(absl::UnavailableError(*name));
}

}  // namespace cli
}  // namespace overlapd
