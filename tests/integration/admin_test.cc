// GetCapabilities reports the flags; the standard health and reflection
// services answer. Health and reflection go through grpc::GenericStub with
// hand-encoded protobuf bytes, so no extra proto library is needed.
#include <future>
#include <string>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>
#include <gtest/gtest.h>

#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::system_clock;

class AdminTest : public ServerTest {};

TEST_F(AdminTest, CapabilitiesReportTheFlags) {
  ASSERT_NO_FATAL_FAILURE(StartServer({"--workers", "3", "--chunk-bytes", "256K",
                                       "--max-ops-per-batch", "123", "--max-op-bytes", "2M",
                                       "--max-message-bytes", "16M", "--max-inflight-ops", "77",
                                       "--max-inflight-read-bytes", "8M"}));
  auto stub = server_->NewStub();
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + std::chrono::seconds(10));
  v1::Capabilities caps;
  grpc::Status status = stub->GetCapabilities(&context, {}, &caps);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(caps.workers(), 3u);
  EXPECT_EQ(caps.chunk_bytes(), 256u * 1024);
  EXPECT_EQ(caps.max_ops_per_batch(), 123u);
  EXPECT_EQ(caps.max_op_bytes(), 2u << 20);
  EXPECT_EQ(caps.max_message_bytes(), 16u << 20);
  EXPECT_EQ(caps.max_inflight_ops_per_stream(), 77u);
  EXPECT_EQ(caps.max_inflight_read_bytes_per_stream(), 8u << 20);
  EXPECT_TRUE(caps.engine() == "uring" || caps.engine() == "threads") << caps.engine();
  EXPECT_FALSE(caps.server_version().empty());

  // The engine really runs 3 workers: one queue-depth series each.
  absl::StatusOr<HttpResponse> metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->body.find("overlapd_engine_queue_depth{worker=\"2\"}"), std::string::npos);
  EXPECT_EQ(metrics->body.find("overlapd_engine_queue_depth{worker=\"3\"}"), std::string::npos);

  // The chunk size is applied, not only reported: a 1 MiB read arrives in
  // 256 KiB chunks.
  WriteFileOrDie(server_->RootPath("one-mib"), RandomBytes(1u << 20, 3));
  v1::Batch batch;
  *batch.add_ops() = ReadOp(1, "one-mib");
  CallResult r = RunExecute(*stub, batch);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  size_t chunks = 0;
  for (const v1::Event& e : r.events) {
    if (e.type() != v1::READ_CHUNK) continue;
    ++chunks;
    EXPECT_EQ(e.bytes(), 256u * 1024) << Describe(e);
  }
  EXPECT_EQ(chunks, 4u);

  // The CLI shows the same.
  CommandResult cli = server_->RunCli({"--json", "caps"}, std::chrono::seconds(30));
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("\"workers\":3"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("\"chunk_bytes\":\"262144\""), std::string::npos) << cli.out;  // 64-bit: a string
}

TEST_F(AdminTest, HealthCheckSaysServing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::GenericStub generic(server_->NewChannel());
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + std::chrono::seconds(10));
  // HealthCheckRequest{service: ""} encodes to zero bytes.
  const grpc::ByteBuffer request = ToByteBuffer("");
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) { done.set_value(std::move(s)); });
  std::future<grpc::Status> result = done.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(15)), std::future_status::ready);
  const grpc::Status status = result.get();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  // HealthCheckResponse{status: SERVING (1)}: field 1, varint 1.
  EXPECT_EQ(FromByteBuffer(response), std::string("\x08\x01", 2));
}

// ServerReflectionInfo is a bidi stream: send one list_services request,
// half-close, and collect every response until the server ends the call.
class ReflectionCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  ReflectionCall(grpc::GenericStub& stub, grpc::ClientContext* context, std::string request)
      : request_(ToByteBuffer(request)) {
    stub.PrepareBidiStreamingCall(
        context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        grpc::StubOptions(), this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }
  void OnWriteDone(bool ok) override {
    if (ok) StartWritesDone();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    responses_ += FromByteBuffer(response_);
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { done_.set_value(status); }

  std::future<grpc::Status> Done() { return done_.get_future(); }
  // Safe to read once Done() is ready.
  const std::string& responses() const { return responses_; }

 private:
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::string responses_;
  std::promise<grpc::Status> done_;
};

TEST_F(AdminTest, ReflectionListsTheServices) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  grpc::GenericStub generic(server_->NewChannel());
  grpc::ClientContext context;
  context.set_deadline(system_clock::now() + std::chrono::seconds(10));
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited,
  // length 0.
  ReflectionCall call(generic, &context, std::string("\x3a\x00", 2));
  std::future<grpc::Status> done = call.Done();
  ASSERT_EQ(done.wait_for(std::chrono::seconds(15)), std::future_status::ready);
  const grpc::Status status = done.get();
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  // ListServiceResponse holds the names as plain strings.
  EXPECT_NE(call.responses().find("overlapd.v1.IoService"), std::string::npos);
  EXPECT_NE(call.responses().find("grpc.health.v1.Health"), std::string::npos);
}

}  // namespace
}  // namespace overlapd::itest
