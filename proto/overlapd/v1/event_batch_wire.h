// How a v1::EventBatch goes on the wire: a read chunk's bytes are handed to
// gRPC by reference instead of being copied into the serialised message.
//
// gRPC serialises a message into a ByteBuffer, a list of slices. For most
// messages that is one copy into one slice; for an EventBatch whose stream
// has lent its chunks, each large `data` field becomes a slice of its own
// that owns the chunk's buffer (moved out of the message as it is
// serialised) and gives it back to `give_back` once gRPC has sent it. The
// bytes on the wire are the same: the `data` field is written last within
// its Event, which protobuf parsers accept in any order.
//
//   LendChunks(&out_, [pool](std::string b) { pool->Give(std::move(b)); });
//   ... StartWrite(&out_) ...  // out_'s large `data` fields are emptied
//   EndChunkLoan(&out_);       // before out_ goes away
//
// Included by overlapd.grpc.pb.h (the generator's additional_header_includes)
// so that every use of the message with gRPC sees the same serialiser.
#ifndef OVERLAPD_PROTO_OVERLAPD_V1_EVENT_BATCH_WIRE_H_
#define OVERLAPD_PROTO_OVERLAPD_V1_EVENT_BATCH_WIRE_H_

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <functional>
#include <string>

#include "overlapd/v1/overlapd.pb.h"

namespace overlapd::v1 {

// A `data` field at least this long travels as its own slice when lent.
inline constexpr size_t kLentChunkMinBytes = 64 << 10;

// From now until EndChunkLoan, serialising `*batch` moves its large `data`
// fields into slices that hand the bytes to `give_back` (from any thread)
// once gRPC is done with them. Thread-safe.
void LendChunks(const EventBatch* batch, std::function<void(std::string)> give_back);
void EndChunkLoan(const EventBatch* batch);

// The serialiser: SerializationTraits<EventBatch>::Serialize.
grpc::Status SerializeEventBatch(const EventBatch& batch, grpc::ByteBuffer* buffer,
                                 bool* own_buffer);

}  // namespace overlapd::v1

namespace grpc {

template <>
class SerializationTraits<overlapd::v1::EventBatch, void> {
 public:
  static Status Serialize(const overlapd::v1::EventBatch& batch, ByteBuffer* buffer,
                          bool* own_buffer) {
    return overlapd::v1::SerializeEventBatch(batch, buffer, own_buffer);
  }
  static Status Deserialize(ByteBuffer* buffer, overlapd::v1::EventBatch* batch) {
    return GenericDeserialize<ProtoBufferReader, overlapd::v1::EventBatch>(buffer, batch);
  }
};

}  // namespace grpc

#endif  // OVERLAPD_PROTO_OVERLAPD_V1_EVENT_BATCH_WIRE_H_
