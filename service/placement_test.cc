#include "service/placement.h"

#include <gtest/gtest.h>

#include <string>

#include "overlapd/v1/status_detail.h"
#include "service/op_table.h"
#include "service/placement_check.h"

namespace overlapd {
namespace {

constexpr char kMap[] = R"({"version": 3, "comment": "extra fields are fine",
  "nodes": [{"name": "a", "address": "a:1", "prefixes": ["alpha", "shared/x"]},
            {"name": "b", "address": "b:1", "prefixes": ["beta", "shared/x/deep"]},
            {"name": "c", "address": "c:1"}]})";

PlacementMap MapOrDie(const char* json = kMap) {
  absl::StatusOr<PlacementMap> map = ParsePlacement(json, "test");
  EXPECT_TRUE(map.ok()) << map.status();
  return *std::move(map);
}

std::string OwnerName(const PlacementMap& map, absl::string_view path) {
  const v1::PlacementNode* owner = map.OwnerOf(path);
  return owner == nullptr ? "-" : owner->name();
}

TEST(PlacementMap, MatchesWholeComponentsAfterNormalisation) {
  PlacementMap map = MapOrDie();
  EXPECT_EQ(map.version(), 3u);
  EXPECT_EQ(OwnerName(map, "alpha"), "a");
  EXPECT_EQ(OwnerName(map, "alpha/x/y"), "a");
  EXPECT_EQ(OwnerName(map, "./alpha"), "a");
  EXPECT_EQ(OwnerName(map, "alpha//x"), "a");
  EXPECT_EQ(OwnerName(map, "alpha/../beta/x"), "b");  // a second spelling of beta/x
  EXPECT_EQ(OwnerName(map, "beta/../alpha"), "a");
  EXPECT_EQ(OwnerName(map, "alphabet/x"), "-");  // not under "alpha"
  EXPECT_EQ(OwnerName(map, "shared/x/file"), "a");
  EXPECT_EQ(OwnerName(map, "shared/x/deep/file"), "b");  // the longest prefix wins
  EXPECT_EQ(OwnerName(map, "shared/y"), "-");
  EXPECT_EQ(OwnerName(map, ""), "-");
  EXPECT_EQ(OwnerName(map, "../alpha/x"), "-");  // climbs above the root
  EXPECT_EQ(OwnerName(map, "/alpha/x"), "-");
}

TEST(PlacementMap, EmptyPrefixOwnsTheRest) {
  PlacementMap map = MapOrDie(R"({"version": 1, "nodes": [
      {"name": "a", "address": "a:1", "prefixes": [""]},
      {"name": "b", "address": "b:1", "prefixes": ["beta"]}]})");
  EXPECT_EQ(OwnerName(map, "anything/x"), "a");
  EXPECT_EQ(OwnerName(map, ""), "a");
  EXPECT_EQ(OwnerName(map, "beta/x"), "b");
}

TEST(PlacementMap, RefusesBadMapsNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"[]", "not a JSON object"},
      {"{", "not a JSON object"},
      {R"({"nodes": []})", "version"},
      {R"({"version": 0, "nodes": [{"name": "a", "address": "a:1"}]})", "version"},
      {R"({"version": 1})", "nodes"},
      {R"({"version": 1, "nodes": []})", "nodes"},
      {R"({"version": 1, "nodes": [{"address": "a:1"}]})", "nodes[0].name"},
      {R"({"version": 1, "nodes": [{"name": "a"}]})", "nodes[0].address"},
      {R"({"version": 1, "nodes": [{"name": "a", "address": "x", "prefixes": "p"}]})",
       "nodes[0].prefixes"},
      {R"({"version": 1, "nodes": [{"name": "a", "address": "x"},
          {"name": "a", "address": "y"}]})", "nodes[1].name"},
      {R"({"version": 1, "nodes": [{"name": "a", "address": "x", "prefixes": ["../up"]}]})",
       "\"../up\" is not a path relative to the root"},
      {R"({"version": 1, "nodes": [{"name": "a", "address": "x", "prefixes": ["/abs"]}]})",
       "\"/abs\""},
      {R"({"version": 1, "nodes": [{"name": "a", "address": "x", "prefixes": ["p"]},
          {"name": "b", "address": "y", "prefixes": ["./p/"]}]})", "claimed by node a and by node b"},
  };
  for (const auto& [json, want] : cases) {
    absl::StatusOr<PlacementMap> map = ParsePlacement(json, "map.json");
    ASSERT_FALSE(map.ok()) << json;
    EXPECT_EQ(map.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_NE(map.status().message().find(want), std::string::npos) << map.status();
    EXPECT_NE(map.status().message().find("map.json"), std::string::npos) << map.status();
  }
}

TEST(PlacementStore, RefusesAMapWithoutThisNode) {
  PlacementStore store("zz");
  absl::Status s = store.Set(std::make_shared<const PlacementMap>(MapOrDie()));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("no node \"zz\""), std::string::npos) << s;
  EXPECT_EQ(store.Get(), nullptr);
}

class PlacementCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Set(std::make_shared<const PlacementMap>(MapOrDie())).ok());
  }
  absl::Status Check(const v1::Op& op) {
    v1::Batch batch;
    batch.add_ops()->mutable_stat()->set_path("alpha/ok");  // ops[0] is fine
    *batch.add_ops() = op;
    return CheckPlacement(batch, &store_, nullptr);
  }
  PlacementStore store_{"a"};
};

// Every path field of every op kind: set to `path`, the others to "alpha/o".
v1::Op OpWith(v1::Op::KindCase kind, int field, const std::string& path) {
  v1::Op op;
  const google::protobuf::FieldDescriptor* kind_field = op.GetDescriptor()->FindFieldByNumber(kind);
  google::protobuf::Message* m = op.GetReflection()->MutableMessage(&op, kind_field);
  const ProtoOp& row = *ProtoOpOf(kind);
  for (int f = 0; f < 2 && row.paths[f].get != nullptr; ++f) {
    const std::string name = std::string(row.paths[f].name);
    const auto* fd = m->GetDescriptor()->FindFieldByName(name.substr(name.find('.') + 1));
    m->GetReflection()->SetString(m, fd, f == field ? path : "alpha/o");
  }
  return op;
}

TEST_F(PlacementCheck, EveryPathFieldOfEveryKindIsChecked) {
  int fields = 0;
  for (int k = v1::Op::kRead; k <= v1::Op::kMkdir; ++k) {
    const auto kind = static_cast<v1::Op::KindCase>(k);
    const ProtoOp* row = ProtoOpOf(kind);
    ASSERT_NE(row, nullptr) << k;
    for (int f = 0; f < 2 && row->paths[f].get != nullptr; ++f, ++fields) {
      EXPECT_TRUE(Check(OpWith(kind, f, "./alpha//p")).ok()) << row->paths[f].name;
      for (const char* elsewhere : {"gamma/p", "alpha/../gamma/p", "alphabet"}) {
        absl::Status s = Check(OpWith(kind, f, elsewhere));
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << row->paths[f].name;
        EXPECT_NE(s.message().find(std::string("ops[1].") + row->paths[f].name),
                  std::string::npos) << s;
        std::optional<v1::Redirect> r = RedirectOf(s);
        ASSERT_TRUE(r.has_value()) << s;
        EXPECT_EQ(r->reason(), "unowned");
        EXPECT_EQ(r->placement_version(), 3u);
      }
    }
  }
  EXPECT_EQ(fields, 11);  // nine kinds, Copy and Rename with two paths
}

TEST_F(PlacementCheck, AnotherNodesPathNamesTheOwner) {
  for (const char* path : {"beta/x", "./beta/x", "beta//x", "alpha/../beta/x"}) {
    v1::Op op;
    op.mutable_write()->set_path(path);
    absl::Status s = Check(op);
    ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << path;
    EXPECT_NE(s.message().find("belongs to node b at b:1 (placement map version 3)"),
              std::string::npos) << s;
    std::optional<v1::Redirect> r = RedirectOf(s);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->reason(), "other_node");
    EXPECT_EQ(r->owner(), "b");
    EXPECT_EQ(r->address(), "b:1");
    EXPECT_EQ(r->field(), "ops[1].write.path");
    EXPECT_EQ(r->path(), path);
  }
}

TEST_F(PlacementCheck, CopyOrRenameAcrossNodesIsRefused) {
  v1::Op copy;
  copy.mutable_copy()->set_src("alpha/x");
  copy.mutable_copy()->set_dst("beta/x");
  absl::Status s = Check(copy);
  ASSERT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("never crosses nodes"), std::string::npos) << s;
  EXPECT_EQ(RedirectOf(s)->reason(), "cross_node");
  v1::Op rename;
  rename.mutable_rename()->set_src("beta/x");
  rename.mutable_rename()->set_dst("beta/y");
  s = Check(rename);  // both on b: a redirect, not a cross-node refusal
  EXPECT_EQ(RedirectOf(s)->reason(), "other_node");
}

TEST(PlacementCheckOff, WithoutAMapEverythingPasses) {
  v1::Batch batch;
  batch.add_ops()->mutable_read()->set_path("anything");
  EXPECT_TRUE(CheckPlacement(batch, nullptr, nullptr).ok());
  EXPECT_TRUE(CheckPathPlacement("x", "path", nullptr, nullptr).ok());
}

TEST(StatusDetail, RedirectSurvivesTheWire) {
  v1::Redirect r;
  r.set_owner("b");
  r.set_address("b:1");
  r.set_placement_version(7);
  absl::Status s = WithRedirect(absl::FailedPreconditionError("moved"), r);
  grpc::Status wire = ToGrpcWithDetails(s);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_FALSE(wire.error_details().empty());
  absl::Status back = FromGrpcWithDetails(wire);
  EXPECT_EQ(back.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(back.message(), "moved");
  ASSERT_TRUE(RedirectOf(back).has_value());
  EXPECT_EQ(RedirectOf(back)->address(), "b:1");
  EXPECT_EQ(RedirectOf(back)->placement_version(), 7u);
  EXPECT_TRUE(ToGrpcWithDetails(absl::NotFoundError("x")).error_details().empty());
}

}  // namespace
}  // namespace overlapd
