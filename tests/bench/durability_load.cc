// overlapd_durability_bench: the two loads the durable store is measured on
// (tests/bench/durability.sh runs them against a server journaling to
// --state-dir and one with --in-memory-state, side by side).
//
//   overlapd_durability_bench --server ADDR copy     # one job of 1,000 copies
//   overlapd_durability_bench --server ADDR events   # 100k job events to a subscriber
//
// copy: subscribes, submits one job of 1,000 Copy ops
// (src/N -> out/N, N < 1000, files the script made), and times Submit to the
// job's BATCH_COMPLETE as the subscriber gets it (so the time includes what
// the journal adds before a subscriber may see an event).
// events: subscribes, submits 25 jobs of 4,000 Stat ops at once and times
// until the subscriber has all 100,025 events (ops and BATCH_COMPLETEs).
// Prints one line: seconds=S events=N. Exit status 1 on any failure. A
// benchmark, not a test.
#include <grpcpp/create_channel.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "ioengine/mutex_mode.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace {

namespace v1 = ::overlapd::v1;
using Clock = std::chrono::steady_clock;

bool Submit(v1::IoService::Stub& stub, const v1::Batch& batch) {
  grpc::ClientContext ctx;
  v1::Job job;
  grpc::Status s = stub.Submit(&ctx, batch, &job);
  if (!s.ok()) std::fprintf(stderr, "Submit: %s\n", s.error_message().c_str());
  return s.ok();
}

}  // namespace

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  if (argc != 4 || std::string(argv[1]) != "--server") {
    std::fprintf(stderr, "usage: overlapd_durability_bench --server ADDR copy|events\n");
    return 2;
  }
  const std::string load = argv[3];
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(128 << 20);
  auto channel = grpc::CreateCustomChannel(argv[2], grpc::InsecureChannelCredentials(), args);
  auto stub = v1::IoService::NewStub(channel);
  std::vector<v1::Batch> batches;
  if (load == "copy") {
    v1::Batch b;
    for (int i = 0; i < 1000; ++i) {
      v1::Copy* c = b.add_ops()->mutable_copy();
      c->set_src("src/" + std::to_string(i));
      c->set_dst("out/" + std::to_string(i));
    }
    batches.push_back(b);
  } else {
    for (int j = 0; j < 25; ++j) {
      v1::Batch b;
      for (int i = 0; i < 4000; ++i) b.add_ops()->mutable_stat()->set_path("src/0");
      batches.push_back(b);
    }
  }
  uint64_t want = 0;
  for (const auto& b : batches) want += b.ops_size() + 1;

  grpc::ClientContext sub_ctx;
  sub_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  // From the start of the log: the script gives every run a fresh server
  // and store, so the log holds exactly this run's events.
  v1::SubscribeRequest req;
  req.set_from_seq(0);
  auto reader = stub->Subscribe(&sub_ctx, req);
  const auto t0 = Clock::now();
  for (const auto& b : batches) {
    if (!Submit(*stub, b)) return 1;
  }
  uint64_t got = 0, completes = 0;
  v1::EventBatch msg;
  while (completes < batches.size() && reader->Read(&msg)) {
    for (const auto& e : msg.events()) {
      if (e.type() == v1::PROGRESS) continue;
      ++got;
      if (e.type() == v1::BATCH_COMPLETE) ++completes;
    }
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  sub_ctx.TryCancel();
  reader->Finish();
  if (got != want) {
    std::fprintf(stderr, "got %llu events of %llu\n", static_cast<unsigned long long>(got),
                 static_cast<unsigned long long>(want));
    return 1;
  }
  std::printf("seconds=%.4f events=%llu\n", s, static_cast<unsigned long long>(got));
  return 0;
}
