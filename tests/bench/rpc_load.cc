// overlapd_rpc_bench: many small gRPC calls, for the cost of what overlapd
// does per call (the call observer and the access log: access_log.sh).
//
//   overlapd_rpc_bench --server 127.0.0.1:50051 --path small/f0 [--threads 16]
//                      [--seconds 5] [--warmup 1]
//
// Each of --threads threads makes Execute calls one after the other, each a
// batch of one Read of --path, on its own channel (its own connection), and
// reads the call to its end. Calls that end inside the window [start +
// warmup, start + warmup + seconds] count. Prints one line:
//   calls=N seconds=S calls_per_s=X errors=E calls_total=T
// (calls_total: every call made, warm-up and the tail past the window too,
// for per-call costs measured on the server over the whole run).
// Exit status 1 when more than one call in a thousand failed (a rare
// CANCELLED under load does not make the rate meaningless; the count is
// printed either way). A benchmark, not a test.
#include <grpcpp/create_channel.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ioengine/mutex_mode.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string path;
  int threads = 16;
  double seconds = 5;
  double warmup = 1;
};

bool Parse(int argc, char** argv, Flags* f) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--server") f->server = v;
    else if (k == "--path") f->path = v;
    else if (k == "--threads") f->threads = std::atoi(v.c_str());
    else if (k == "--seconds") f->seconds = std::atof(v.c_str());
    else if (k == "--warmup") f->warmup = std::atof(v.c_str());
    else return false;
  }
  return argc % 2 == 1 && !f->path.empty() && f->threads > 0 && f->seconds > 0;
}

// One thread's calls until `end`; counts those that end in [from, end].
void Worker(const Flags& f, Clock::time_point from, Clock::time_point end,
            std::atomic<uint64_t>* calls, std::atomic<uint64_t>* errors,
            std::atomic<uint64_t>* total) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  auto stub = overlapd::v1::IoService::NewStub(
      grpc::CreateCustomChannel(f.server, grpc::InsecureChannelCredentials(), args));
  overlapd::v1::Batch batch;
  batch.add_ops()->mutable_read()->set_path(f.path);
  overlapd::v1::EventBatch events;
  while (Clock::now() < end) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto reader = stub->Execute(&context, batch);
    while (reader->Read(&events)) {
    }
    const grpc::Status status = reader->Finish();
    total->fetch_add(1, std::memory_order_relaxed);
    const Clock::time_point now = Clock::now();
    if (now < from || now > end) continue;
    (status.ok() ? calls : errors)->fetch_add(1, std::memory_order_relaxed);
    // The first failure, for the report: a count alone says nothing of why.
    static std::once_flag reported;
    if (!status.ok()) {
      std::call_once(reported, [&] {
        std::fprintf(stderr, "first failed call: code %d: %s\n",
                     static_cast<int>(status.error_code()), status.error_message().c_str());
      });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  Flags f;
  if (!Parse(argc, argv, &f)) {
    std::fprintf(stderr,
                 "usage: overlapd_rpc_bench --server HOST:PORT --path FILE [--threads N] "
                 "[--seconds S] [--warmup S]\n");
    return 2;
  }
  const Clock::time_point start = Clock::now();
  const auto warmup = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f.warmup));
  const auto window = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(f.seconds));
  std::atomic<uint64_t> calls{0}, errors{0}, total{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < f.threads; ++i) {
    threads.emplace_back(Worker, std::cref(f), start + warmup, start + warmup + window, &calls,
                         &errors, &total);
  }
  for (auto& t : threads) t.join();
  std::printf("calls=%llu seconds=%.3f calls_per_s=%.1f errors=%llu calls_total=%llu\n",
              static_cast<unsigned long long>(calls.load()), f.seconds,
              static_cast<double>(calls.load()) / f.seconds,
              static_cast<unsigned long long>(errors.load()),
              static_cast<unsigned long long>(total.load()));
  return errors.load() * 1000 <= calls.load() ? 0 : 1;
}
