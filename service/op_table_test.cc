#include "service/op_table.h"

#include <set>

#include "gtest/gtest.h"

namespace overlapd {
namespace {

// Every kind in the proto's `Op.kind` oneof has exactly one row, every
// engine op type has one, and the two agree.
TEST(OpTableTest, EveryProtoKindAndEngineTypeHasItsRow) {
  const auto* oneof = v1::Op::descriptor()->FindOneofByName("kind");
  ASSERT_NE(oneof, nullptr);
  std::set<io::OpType> types;
  for (int i = 0; i < oneof->field_count(); ++i) {
    const auto kind = static_cast<v1::Op::KindCase>(oneof->field(i)->number());
    const ProtoOp* row = ProtoOpOf(kind);
    ASSERT_NE(row, nullptr) << oneof->field(i)->name() << " has no row";
    EXPECT_EQ(io::TypeInfo(row->type).name, oneof->field(i)->name());
    EXPECT_EQ(ProtoOpOf(row->type).kind, kind);
    EXPECT_NE(row->paths[0].get, nullptr) << "every op names a path";
    EXPECT_TRUE(types.insert(row->type).second);
  }
  EXPECT_EQ(types.size(), io::kOpTypeCount);
  EXPECT_EQ(ProtoOpOf(v1::Op::KIND_NOT_SET), nullptr);
}

TEST(OpTableTest, PathFieldsNameTheirRequestFieldAndScope) {
  v1::Op copy;
  copy.mutable_copy()->set_src("a");
  copy.mutable_copy()->set_dst("b");
  const ProtoOp* row = ProtoOpOf(copy.kind_case());
  ASSERT_NE(row, nullptr);
  EXPECT_STREQ(row->paths[0].name, "copy.src");
  EXPECT_EQ(row->paths[0].get(copy), "a");
  EXPECT_EQ(row->paths[0].scope, kScopeRead);
  EXPECT_STREQ(row->paths[1].name, "copy.dst");
  EXPECT_EQ(row->paths[1].get(copy), "b");
  EXPECT_EQ(row->paths[1].scope, kScopeWrite);
  EXPECT_TRUE(row->paths[1].entry);
}

}  // namespace
}  // namespace overlapd
