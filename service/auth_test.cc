#include "service/auth.h"

#include "gtest/gtest.h"

namespace overlapd {
namespace {

TEST(TokenTableTest, ParsesScopesPrefixesAndComments) {
  auto table = TokenTable::Parse(
      "# comment line\n"
      "\n"
      "aaaaaaaaaaaaaaaa read            # trailing comment\n"
      "bbbbbbbbbbbbbbbb read,write /team/a/\n",
      "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_TRUE(table->enabled());
  EXPECT_EQ(table->size(), 2u);
}

TEST(TokenTableTest, RefusesBadLinesNamingThem) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"short read\n", "tokens:1: token shorter than 16"},
      {"aaaaaaaaaaaaaaaa\n", "tokens:1: expected: TOKEN SCOPES"},
      {"aaaaaaaaaaaaaaaa read x y\n", "tokens:1: expected: TOKEN SCOPES"},
      {"\naaaaaaaaaaaaaaaa read,admin\n", "tokens:2: unknown scope \"admin\""},
      {"aaaaaaaaaaaaaaaa read ../up\n", "tokens:1: bad path prefix"},
      {"aaaaaaaaaaaaaaaa read\naaaaaaaaaaaaaaaa write\n", "tokens:2: token listed twice"},
      {"# nothing\n", "tokens: no tokens"},
  };
  for (const Case& c : cases) {
    auto table = TokenTable::Parse(c.text, "tokens");
    ASSERT_FALSE(table.ok()) << c.text;
    EXPECT_NE(table.status().message().find(c.error), std::string::npos)
        << c.text << " -> " << table.status();
  }
}

TEST(GrantTest, PrefixHoldsLexically) {
  Grant grant;
  grant.scopes = kScopeRead;
  grant.path_prefix = "team";
  for (const char* inside : {"team", "team/", "team/a", "./team/a/b", "/team/x"}) {
    EXPECT_TRUE(grant.CheckPath(inside, "f").ok()) << inside;
  }
  for (const char* outside : {"", "teams", "teamx/a", "other/team", "team/../x", "team/a/../../x"}) {
    absl::Status s = grant.CheckPath(outside, "ops[0].read.path");
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << outside;
    EXPECT_NE(s.message().find("ops[0].read.path"), std::string::npos) << s;
  }
  EXPECT_EQ(grant.CheckScope(kScopeWrite, "CancelJob").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(grant.CheckScope(kScopeRead, "GetJob").ok());
}

TEST(AuthorizeBatchTest, EveryPathOfEveryOpCounts) {
  Grant grant;
  grant.scopes = kScopeRead | kScopeWrite;
  grant.path_prefix = "team";
  v1::Batch batch;
  batch.add_ops()->mutable_read()->set_path("team/a");
  v1::Copy* copy = batch.add_ops()->mutable_copy();
  copy->set_src("team/a");
  copy->set_dst("elsewhere/b");
  absl::Status s = AuthorizeBatch(batch, &grant);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("ops[1].copy.dst"), std::string::npos) << s;
  EXPECT_TRUE(AuthorizeBatch(batch, nullptr).ok()) << "no tokens: everything is allowed";
}

}  // namespace
}  // namespace overlapd

namespace overlapd {
namespace {

TEST(TokenTableTest, NamesTokensWithoutShowingThem) {
  auto table = TokenTable::Parse(
      "aaaaaaaaaaaaaaaa read pub name=loader\n"
      "bbbbbbbbbbbbbbbb read,write name=ops@example.org\n"
      "cccccccccccccccc read\n",
      "tokens");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_NE(table->Find("aaaaaaaaaaaaaaaa"), nullptr);
  EXPECT_EQ(table->Find("aaaaaaaaaaaaaaaa")->name, "loader");
  EXPECT_EQ(table->Find("aaaaaaaaaaaaaaaa")->path_prefix, "pub");
  EXPECT_EQ(table->Find("bbbbbbbbbbbbbbbb")->name, "ops@example.org");
  EXPECT_EQ(table->Find("bbbbbbbbbbbbbbbb")->path_prefix, "");
  // printf %s cccccccccccccccc | sha256sum | cut -c1-8
  EXPECT_EQ(table->Find("cccccccccccccccc")->name, "sha256:585cf66c");
  for (const char* bad : {"aaaaaaaaaaaaaaaa read name=\n", "aaaaaaaaaaaaaaaa read name=a/b\n",
                          "aaaaaaaaaaaaaaaa read pub x name=n\n"}) {
    EXPECT_FALSE(TokenTable::Parse(bad, "tokens").ok()) << bad;
  }
}

}  // namespace
}  // namespace overlapd
