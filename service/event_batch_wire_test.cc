// The EventBatch serialiser, through grpc::SerializationTraits as gRPC calls
// it: a lent batch's chunks travel as slices of their own buffers and come
// back once the ByteBuffer is gone; the bytes parse to the same message.
#include "overlapd/v1/event_batch_wire.h"

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/support/slice.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd {
namespace {

using Traits = grpc::SerializationTraits<v1::EventBatch>;

v1::EventBatch Sample() {
  v1::EventBatch batch;
  auto* small = batch.add_events();
  small->set_seq(1);
  small->set_type(v1::READ_CHUNK);
  small->set_data("tiny");
  for (int i = 0; i < 2; ++i) {
    auto* chunk = batch.add_events();
    chunk->set_seq(2 + i);
    chunk->set_tag(7);
    chunk->set_type(v1::READ_CHUNK);
    chunk->set_offset(uint64_t{1} << (20 + i));
    chunk->set_crc32c(0xdeadbeef + i);
    std::string bytes(v1::kLentChunkMinBytes + 1000 * i, '\0');
    for (size_t j = 0; j < bytes.size(); ++j) bytes[j] = static_cast<char>(j * 31 + i);
    chunk->set_data(std::move(bytes));
  }
  batch.add_events()->set_type(v1::READ_COMPLETE);
  return batch;
}

v1::EventBatch Parse(grpc::ByteBuffer* buffer) {
  v1::EventBatch back;
  EXPECT_TRUE(Traits::Deserialize(buffer, &back).ok());
  return back;
}

bool Same(const v1::EventBatch& a, const v1::EventBatch& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

TEST(EventBatchWireTest, ALentBatchsChunksTravelAsTheirOwnSlicesAndComeBack) {
  const v1::EventBatch want = Sample();
  v1::EventBatch batch = want;
  const char* chunk0 = batch.events(1).data().data();
  std::vector<std::string> returned;
  v1::LendChunks(&batch, [&](std::string b) { returned.push_back(std::move(b)); });
  {
    grpc::ByteBuffer buffer;
    bool own = false;
    ASSERT_TRUE(Traits::Serialize(batch, &buffer, &own).ok());
    EXPECT_TRUE(own);
    EXPECT_EQ(buffer.Length(), want.ByteSizeLong());
    // The chunks moved into the slices: the first chunk's slice is its buffer.
    EXPECT_TRUE(batch.events(1).data().empty());
    EXPECT_TRUE(batch.events(2).data().empty());
    EXPECT_EQ(batch.events(0).data(), "tiny");
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(buffer.Dump(&slices).ok());
    bool aliased = false;
    for (const grpc::Slice& s : slices) aliased = aliased || s.begin() == reinterpret_cast<const uint8_t*>(chunk0);
    EXPECT_TRUE(aliased) << "the chunk was copied, not lent";
    EXPECT_TRUE(returned.empty()) << "given back while gRPC still holds it";
    grpc::ByteBuffer copy(buffer);
    EXPECT_TRUE(Same(Parse(&copy), want));
    slices.clear();
  }
  // The ByteBuffer is gone: both chunks are back, with their bytes.
  ASSERT_EQ(returned.size(), 2u);
  EXPECT_EQ(returned[0], want.events(1).data());
  EXPECT_EQ(returned[1], want.events(2).data());
  v1::EndChunkLoan(&batch);
}

TEST(EventBatchWireTest, ABatchNotLentIsSerialisedWhole) {
  const v1::EventBatch want = Sample();
  v1::EventBatch batch = want;
  grpc::ByteBuffer buffer;
  bool own = false;
  ASSERT_TRUE(Traits::Serialize(batch, &buffer, &own).ok());
  EXPECT_TRUE(Same(batch, want));  // untouched
  EXPECT_TRUE(Same(Parse(&buffer), want));
  // And once a loan has ended, too.
  v1::LendChunks(&batch, [](std::string) {});
  v1::EndChunkLoan(&batch);
  grpc::ByteBuffer again;
  ASSERT_TRUE(Traits::Serialize(batch, &again, &own).ok());
  EXPECT_TRUE(Same(batch, want));
}

TEST(EventBatchWireTest, ALentBatchWithoutChunksIsSerialisedWhole) {
  v1::EventBatch batch;
  batch.add_events()->set_data("small");
  batch.add_events()->set_type(v1::BATCH_COMPLETE);
  const v1::EventBatch want = batch;
  v1::LendChunks(&batch, [](std::string) { ADD_FAILURE() << "nothing to give back"; });
  grpc::ByteBuffer buffer;
  bool own = false;
  ASSERT_TRUE(Traits::Serialize(batch, &buffer, &own).ok());
  EXPECT_TRUE(Same(batch, want));
  EXPECT_TRUE(Same(Parse(&buffer), want));
  v1::EndChunkLoan(&batch);
}

}  // namespace
}  // namespace overlapd
