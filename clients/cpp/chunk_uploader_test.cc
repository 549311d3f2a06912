// The uploader's side of the Session contract, against an in-process
// stand-in server that misbehaves on purpose: the real server cannot be made
// to drop a WRITE_COMPLETE or to short-write on demand. (Its real refusals,
// a BATCH_COMPLETE carrying the error, are covered end to end in
// tests/integration/cli_trust_test.cc.)
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "clients/cpp/client.h"

namespace overlapd {
namespace {

enum class Misbehaviour { kRefuseBatch, kNoWriteComplete, kShortWrite };

class StandInSession final : public v1::IoService::Service {
 public:
  explicit StandInSession(Misbehaviour how) : how_(how) {}

  grpc::Status Session(grpc::ServerContext*,
                       grpc::ServerReaderWriter<v1::EventBatch, v1::Batch>* stream) override {
    v1::Batch batch;
    while (stream->Read(&batch)) {
      v1::EventBatch events;
      const v1::Op& op = batch.ops(0);
      if (how_ == Misbehaviour::kShortWrite) {
        v1::Event* written = events.add_events();
        written->set_type(v1::WRITE_COMPLETE);
        written->set_tag(op.tag());
        written->set_bytes(op.write().data().size() - 1);
      }
      v1::Event* done = events.add_events();
      done->set_type(v1::BATCH_COMPLETE);
      done->set_tag(batch.tag());
      if (how_ == Misbehaviour::kRefuseBatch) {
        done->mutable_error()->set_code(grpc::StatusCode::INVALID_ARGUMENT);
        done->mutable_error()->set_message("ops[0].write.path: refused");
      }
      if (!stream->Write(events)) break;
    }
    return grpc::Status::OK;
  }

 private:
  const Misbehaviour how_;
};

class ChunkUploaderTest : public ::testing::TestWithParam<Misbehaviour> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto client = Client::Connect(absl::StrCat("127.0.0.1:", port));
    ASSERT_TRUE(client.ok());
    client_ = *std::move(client);
    const char* dir = std::getenv("TEST_TMPDIR");
    local_ = std::string(dir != nullptr ? dir : "/tmp") + "/overlap-uploader-test";
    std::ofstream(local_) << std::string(10000, 'x');
  }
  void TearDown() override {
    std::remove(local_.c_str());
    client_.reset();
    if (server_) server_->Shutdown();
  }

  StandInSession service_{GetParam()};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
  std::string local_;
};

TEST_P(ChunkUploaderTest, NeverReportsSuccessForWhatWasNotWritten) {
  for (bool in_place : {true, false}) {
    // Small chunks: the upload takes several batches.
    const absl::StatusOr<TransferResult> put = client_->PutFile(
        local_, "target", {.in_place = in_place, .chunk_bytes = 4096});
    EXPECT_FALSE(put.ok()) << "in_place=" << in_place;
    if (GetParam() == Misbehaviour::kRefuseBatch) {
      EXPECT_EQ(put.status().code(), absl::StatusCode::kInvalidArgument) << put.status();
      EXPECT_NE(put.status().message().find("refused"), absl::string_view::npos);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Misbehaviours, ChunkUploaderTest,
                         ::testing::Values(Misbehaviour::kRefuseBatch,
                                           Misbehaviour::kNoWriteComplete,
                                           Misbehaviour::kShortWrite));

}  // namespace
}  // namespace overlapd
