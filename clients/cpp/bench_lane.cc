#include "clients/cpp/bench_lane.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace overlapd {

absl::StatusOr<std::unique_ptr<BenchLane>> BenchLane::Create(
    const std::vector<uint64_t>& ops_in_flight, uint64_t slot_bytes, uint64_t max_buffer_bytes,
    const std::string& socket, const std::string& token) {
  auto lane = std::make_unique<BenchLane>();
  // Page-aligned slots: each file starts on its own page.
  lane->slot_bytes_ = std::max<uint64_t>((slot_bytes + 4095) / 4096 * 4096, 4096);
  lane->streams_.resize(ops_in_flight.size());
  for (size_t s = 0; s < ops_in_flight.size(); ++s) {
    const uint64_t slots = ops_in_flight[s];
    if (slots == 0) continue;
    const uint64_t bytes = slots * lane->slot_bytes_;
    if (bytes > max_buffer_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "bench read: ", slots, " ops in flight x ", lane->slot_bytes_,
          " bytes need a shared buffer over the server's max_buffer_bytes (", max_buffer_bytes,
          "); lower --batch or --inflight"));
    }
    Stream& st = lane->streams_[s];
    auto buffer = SharedBuffer::Create(bytes);
    if (!buffer.ok()) return buffer.status();
    st.buffer = *std::move(buffer);
    if (absl::Status r = st.buffer->Register(socket, token); !r.ok()) return r;
    for (uint64_t i = slots; i > 0; --i) st.free.push_back(static_cast<uint32_t>(i - 1));
  }
  return lane;
}

absl::StatusOr<std::unique_ptr<BenchLane>> BenchLane::ForRead(
    Client& client, const v1::Capabilities& caps, const std::vector<std::string>& files,
    const std::vector<uint64_t>& ops_in_flight, bool off, bool require, const std::string& token) {
  if (off) return nullptr;
  absl::StatusOr<std::unique_ptr<BenchLane>> lane = [&]() -> absl::StatusOr<std::unique_ptr<BenchLane>> {
    if (absl::Status reachable = LaneReachable(caps.buffer_lane(), caps.buffer_socket());
        !reachable.ok()) {
      return reachable;
    }
    // A slot holds the largest file; Stat in batches the server accepts.
    uint64_t largest = 0;
    const size_t per_batch = caps.max_ops_per_batch() > 0 ? caps.max_ops_per_batch() : 1024;
    for (size_t i = 0; i < files.size(); i += per_batch) {
      std::vector<std::string> part(files.begin() + i,
                                    files.begin() + std::min(files.size(), i + per_batch));
      auto stats = client.Stat(part);
      if (!stats.ok()) return stats.status();
      for (const auto& info : *stats) {
        if (!info.ok()) return info.status();
        largest = std::max<uint64_t>(largest, info->size());
      }
    }
    return Create(ops_in_flight, largest, caps.max_buffer_bytes(), caps.buffer_socket(), token);
  }();
  if (lane.ok() || require) return lane;
  std::fprintf(stderr, "overlap: bench read over gRPC: %s\n",
               std::string(lane.status().message()).c_str());
  return nullptr;
}

void BenchLane::Assign(int stream, uint64_t seq, v1::Batch& batch) {
  Stream& st = streams_[static_cast<size_t>(stream)];
  auto& taken = st.of_batch[seq];
  for (v1::Op& op : *batch.mutable_ops()) {
    // Never empty: a stream's ops in flight are bounded by its slots.
    const uint32_t slot = st.free.back();
    st.free.pop_back();
    taken.emplace_back(op.tag(), slot);
    st.of_tag[op.tag()] = slot;
    v1::BufferRef* into = op.mutable_read()->mutable_into();
    into->set_handle(st.buffer->handle());
    into->set_offset(slot * slot_bytes_);
  }
}

void BenchLane::Release(int stream, uint64_t seq) {
  Stream& st = streams_[static_cast<size_t>(stream)];
  auto it = st.of_batch.find(seq);
  if (it == st.of_batch.end()) return;
  for (const auto& [tag, slot] : it->second) {
    st.free.push_back(slot);
    st.of_tag.erase(tag);
  }
  st.of_batch.erase(it);
}

absl::string_view BenchLane::Chunk(int stream, const v1::Event& event) const {
  const Stream& st = streams_[static_cast<size_t>(stream)];
  auto it = st.of_tag.find(event.tag());
  if (it == st.of_tag.end() || event.offset() + event.bytes() > slot_bytes_) return {};
  return absl::string_view(st.buffer->data() + it->second * slot_bytes_ + event.offset(),
                           event.bytes());
}

}  // namespace overlapd
