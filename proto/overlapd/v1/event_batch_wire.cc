#include "overlapd/v1/event_batch_wire.h"

#include <google/protobuf/io/coded_stream.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace overlapd::v1 {
namespace {

using GiveBackFn = std::function<void(std::string)>;

struct Loans {
  absl::Mutex mu;
  absl::flat_hash_map<const EventBatch*, std::shared_ptr<const GiveBackFn>> by_batch
      ABSL_GUARDED_BY(mu);
};

Loans& loans() {
  static auto* l = new Loans;  // never destroyed: slices may outlive main
  return *l;
}

// A chunk's buffer while a slice points into it.
struct LentChunk {
  std::string bytes;
  std::shared_ptr<const GiveBackFn> give_back;
};

void GiveBack(void* p) {
  std::unique_ptr<LentChunk> chunk(static_cast<LentChunk*>(p));
  (*chunk->give_back)(std::move(chunk->bytes));
}

void AppendVarint(std::string* out, uint64_t v) {
  uint8_t buf[10];
  const uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

// A length-delimited field's key and length.
void AppendLengthKey(std::string* out, int field, uint64_t length) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  AppendVarint(out, length);
}

size_t LengthKeySize(int field, uint64_t length) {
  using google::protobuf::io::CodedOutputStream;
  return CodedOutputStream::VarintSize64((static_cast<uint64_t>(field) << 3) | 2) +
         CodedOutputStream::VarintSize64(length);
}

}  // namespace

void LendChunks(const EventBatch* batch, GiveBackFn give_back) {
  Loans& l = loans();
  absl::MutexLock lock(&l.mu);
  l.by_batch[batch] = std::make_shared<const GiveBackFn>(std::move(give_back));
}

void EndChunkLoan(const EventBatch* batch) {
  Loans& l = loans();
  absl::MutexLock lock(&l.mu);
  l.by_batch.erase(batch);
}

grpc::Status SerializeEventBatch(const EventBatch& batch, grpc::ByteBuffer* buffer,
                                 bool* own_buffer) {
  const bool has_chunk =
      std::any_of(batch.events().begin(), batch.events().end(),
                  [](const Event& e) { return e.data().size() >= kLentChunkMinBytes; });
  std::shared_ptr<const GiveBackFn> give_back;
  if (has_chunk) {  // the lock only for messages worth it
    Loans& l = loans();
    absl::MutexLock lock(&l.mu);
    auto it = l.by_batch.find(&batch);
    if (it != l.by_batch.end()) give_back = it->second;
  }
  if (give_back == nullptr) {
    return grpc::GenericSerialize<grpc::ProtoBufferWriter, EventBatch>(batch, buffer, own_buffer);
  }
  // A lent batch is its stream's own (non-const) message, written once:
  // its chunks move out into the slices.
  auto& events = *const_cast<EventBatch&>(batch).mutable_events();
  std::vector<grpc::Slice> slices;
  std::string head;  // the bytes up to the next chunk
  for (Event& e : events) {
    if (e.data().size() < kLentChunkMinBytes) {
      AppendLengthKey(&head, EventBatch::kEventsFieldNumber, e.ByteSizeLong());
      e.AppendToString(&head);
      continue;
    }
    auto chunk = std::make_unique<LentChunk>(LentChunk{std::move(*e.mutable_data()), give_back});
    e.clear_data();
    const size_t n = chunk->bytes.size();
    AppendLengthKey(&head, EventBatch::kEventsFieldNumber,
                    e.ByteSizeLong() + LengthKeySize(Event::kDataFieldNumber, n) + n);
    e.AppendToString(&head);
    AppendLengthKey(&head, Event::kDataFieldNumber, n);  // `data` last
    slices.emplace_back(head);
    head.clear();
    void* bytes = chunk->bytes.data();
    slices.emplace_back(bytes, n, &GiveBack, chunk.release());
  }
  if (!head.empty()) slices.emplace_back(head);
  grpc::ByteBuffer out(slices.data(), slices.size());
  buffer->Swap(&out);
  *own_buffer = true;
  return grpc::Status::OK;
}

}  // namespace overlapd::v1
