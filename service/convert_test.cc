#include "service/convert.h"

#include <errno.h>

#include "gtest/gtest.h"

namespace overlapd {
namespace {

v1::Batch ReadBatch(std::initializer_list<std::string> paths) {
  v1::Batch b;
  for (const auto& p : paths) b.add_ops()->mutable_read()->set_path(p);
  return b;
}

TEST(ValidateBatchTest, AcceptsAGoodBatch) {
  EXPECT_TRUE(ValidateBatch(ReadBatch({"a", "b/c", ""}), Limits{}).ok());
}

TEST(ValidateBatchTest, NamesTheOpAndFieldOfABadPath) {
  absl::Status s = ValidateBatch(ReadBatch({"ok", "/etc/passwd"}), Limits{});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ops[1].read.path"), absl::string_view::npos) << s;
}

TEST(ValidateBatchTest, LimitsAreResourceExhausted) {
  Limits limits;
  limits.max_ops_per_batch = 2;
  limits.max_op_bytes = 10;
  EXPECT_EQ(ValidateBatch(ReadBatch({"a", "b", "c"}), limits).code(),
            absl::StatusCode::kResourceExhausted);
  v1::Batch big;
  auto* w = big.add_ops()->mutable_write();
  w->set_path("f");
  w->set_data(std::string(11, 'x'));
  absl::Status s = ValidateBatch(big, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("ops[0].write.data"), absl::string_view::npos) << s;
}

TEST(ValidateBatchTest, RefusesEmptyOpsAndDanglingLinks) {
  v1::Batch empty_op;
  empty_op.add_ops();
  EXPECT_EQ(ValidateBatch(empty_op, Limits{}).code(),
            absl::StatusCode::kInvalidArgument);
  v1::Batch dangling = ReadBatch({"a"});
  dangling.mutable_ops(0)->set_link_next(true);
  EXPECT_EQ(ValidateBatch(dangling, Limits{}).code(),
            absl::StatusCode::kInvalidArgument);
  v1::Batch append;
  auto* w = append.add_ops()->mutable_write();
  w->set_path("f");
  w->set_mode(v1::WRITE_MODE_APPEND);
  w->set_offset(3);
  EXPECT_EQ(ValidateBatch(append, Limits{}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FillCompletionTest, FailureCarriesCodeErrnoAndMessage) {
  io::Op op;
  op.type = io::OpType::kRead;
  op.path = "missing.txt";
  op.result = -ENOENT;
  v1::Event e;
  FillCompletion(op, &e);
  EXPECT_EQ(e.type(), v1::OP_FAILED);
  EXPECT_EQ(e.error().code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(e.error().errno_value(), ENOENT);
  EXPECT_NE(e.error().message().find("missing.txt"), std::string::npos);

  op.result = -ECANCELED;
  FillCompletion(op, &e);
  EXPECT_EQ(e.type(), v1::OP_CANCELLED);
}

}  // namespace
}  // namespace overlapd
