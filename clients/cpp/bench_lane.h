// `overlap bench read` on the buffer lane: each stream reads into a shared
// buffer of its own, cut into one slot per op it may have in flight (a slot
// holds the largest file read). Internal to clients/cpp; not a stable API.
#ifndef OVERLAPD_CLIENTS_CPP_BENCH_LANE_H_
#define OVERLAPD_CLIENTS_CPP_BENCH_LANE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/cpp/client.h"
#include "clients/cpp/shared_buffer.h"
#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {


// Threads: stream i touches only its own part (Assign, Release, Chunk with
// stream = i), so the streams need no lock.
class BenchLane {
 public:
  // A registered buffer for each stream s of ops_in_flight[s] slots of
  // `slot_bytes` (none for a stream with no ops). RESOURCE_EXHAUSTED when
  // one would be over `max_buffer_bytes`.
  static absl::StatusOr<std::unique_ptr<BenchLane>> Create(
      const std::vector<uint64_t>& ops_in_flight, uint64_t slot_bytes, uint64_t max_buffer_bytes,
      const std::string& socket, const std::string& token);

  // The lane for `bench read` of `files`, or null when it does not apply:
  // with `off`; or, unless `require`, when the server is not on this host
  // or a stream's buffer would be over its limit (a note on stderr says
  // so). `require` turns those into errors.
  static absl::StatusOr<std::unique_ptr<BenchLane>> ForRead(
      Client& client, const v1::Capabilities& caps, const std::vector<std::string>& files,
      const std::vector<uint64_t>& ops_in_flight, bool off, bool require,
      const std::string& token);

  // Points every Read of `batch` (sent as `seq`) into a free slot.
  void Assign(int stream, uint64_t seq, v1::Batch& batch);
  // BATCH_COMPLETE of `seq`: its slots are free again.
  void Release(int stream, uint64_t seq);
  // The bytes a READ_CHUNK of stream `stream` put in its slot (whole files
  // are read, so a chunk's file offset is its offset in the slot).
  absl::string_view Chunk(int stream, const v1::Event& event) const;

 private:
  struct Stream {
    std::unique_ptr<SharedBuffer> buffer;
    std::vector<uint32_t> free;
    // By seq: each op's tag and slot.
    std::unordered_map<uint64_t, std::vector<std::pair<uint64_t, uint32_t>>> of_batch;
    std::unordered_map<uint64_t, uint32_t> of_tag;  // by op tag, while in flight
  };
  uint64_t slot_bytes_ = 0;
  std::vector<Stream> streams_;
};

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_BENCH_LANE_H_
