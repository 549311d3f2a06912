// The `overlap` CLI's conventions, as a user meets them: stdin/stdout as
// '-', "into the directory" targets, flags anywhere, --version, hints for
// typos, --json with 64-bit integers as strings and errors as objects,
// escaped names, trees (put/get -r, ls -R, du, rm -r) and sync.
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

using std::chrono::seconds;

nlohmann::json OneJsonLine(const std::string& out) {
  const std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u) << out;
  if (lines.empty()) return nullptr;
  return nlohmann::json::parse(lines.back(), nullptr, /*allow_exceptions=*/false);
}

std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> objects;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    objects.push_back(nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  return objects;
}

class CliParityTest : public ServerTest {
 protected:
  // Runs `overlap --server ADDR ARGS` through the shell, for redirections.
  CommandResult Shell(const std::string& args) {
    return RunCommand({"/bin/sh", "-c",
                       absl::StrCat(BinDir(), "/overlap --server ", server_->address(), " ",
                                    args)},
                      seconds(120));
  }
  std::string Scratch(const std::string& name) const { return server_->ScratchPath(name); }
};

TEST_F(CliParityTest, DashIsStdinOrStdoutAndASlashMeansIntoTheDirectory) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(Scratch("in.txt"), "through a pipe\n");
  CommandResult put = Shell(absl::StrCat("put - piped.txt < ", Scratch("in.txt")));
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("piped.txt")), "through a pipe\n");
  CommandResult get = server_->RunCli({"get", "piped.txt", "-"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "through a pipe\n");
  EXPECT_FALSE(PathExists("-"));

  ASSERT_EQ(server_->RunCli({"mkdir", "dir"}).exit_code, 0);
  EXPECT_EQ(server_->RunCli({"put", Scratch("in.txt"), "dir/"}).exit_code, 0);
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("dir/in.txt")), "through a pipe\n");
  // An existing directory without the slash: into it as well, as cp(1).
  EXPECT_EQ(server_->RunCli({"cp", "piped.txt", "dir"}).exit_code, 0);
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("dir/piped.txt")), "through a pipe\n");
  ASSERT_EQ(::mkdir(Scratch("out").c_str(), 0755), 0);
  EXPECT_EQ(server_->RunCli({"get", "dir/in.txt", Scratch("out")}).exit_code, 0);
  EXPECT_EQ(ReadFileOrDie(Scratch("out/in.txt")), "through a pipe\n");
  EXPECT_EQ(server_->RunCli({"mv", "piped.txt", "dir/"}).exit_code, 0);
  EXPECT_FALSE(PathExists(server_->RootPath("piped.txt")));
}

TEST_F(CliParityTest, FlagsAfterTheCommandVersionAndDidYouMean) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(Scratch("f"), "f\n");
  CommandResult put = server_->RunCli({"put", Scratch("f"), "f", "--json", "--retries", "1"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(OneJsonLine(put.out)["command"], "put");

  CommandResult version = RunCommand({BinDir() + "/overlap", "--version"}, seconds(30));
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(absl::StartsWith(version.out, "overlap ")) << version.out;

  CommandResult typo = server_->RunCli({"pt", Scratch("f"), "g"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("did you mean 'put'?"), std::string::npos) << typo.err;
  CommandResult flag_typo = server_->RunCli({"put", "--resme", Scratch("f"), "g"});
  EXPECT_EQ(flag_typo.exit_code, 2);
  EXPECT_NE(flag_typo.err.find("did you mean '--resume'?"), std::string::npos) << flag_typo.err;
  EXPECT_FALSE(PathExists(server_->RootPath("g")));
}

TEST_F(CliParityTest, JsonHas64BitIntegersAsStringsAndErrorsAsObjects) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(server_->RootPath("a.txt"), "12345");
  CommandResult stat = server_->RunCli({"--json", "stat", "a.txt"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  const nlohmann::json info = OneJsonLine(stat.out);
  EXPECT_EQ(info["size"], "5");
  ASSERT_TRUE(info["mtime_ns"].is_string()) << info;
  EXPECT_GT(info["mtime_ns"].get<std::string>().size(), 18u) << "nanoseconds, in full";

  CommandResult missing = server_->RunCli({"--json", "cp", "missing.txt", "b.txt"});
  EXPECT_EQ(missing.exit_code, 1);
  const nlohmann::json error = OneJsonLine(missing.out);
  EXPECT_EQ(error["command"], "cp");
  EXPECT_EQ(error["error"]["code"], "NOT_FOUND");
  EXPECT_NE(missing.err.find("overlap: NOT_FOUND: "), std::string::npos) << missing.err;
}

TEST_F(CliParityTest, ControlCharactersInNamesAreEscapedInText) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  WriteFileOrDie(server_->RootPath("two\nlines"), "x");
  WriteFileOrDie(server_->RootPath("\x1b[31mred"), "x");
  CommandResult ls = server_->RunCli({"ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, "\\x1b[31mred\ntwo\\nlines\n");
  CommandResult stat = server_->RunCli({"stat", "two\nlines"});
  ASSERT_EQ(stat.exit_code, 0) << stat.err;
  EXPECT_TRUE(absl::StartsWith(stat.out, "two\\nlines file 1 ")) << stat.out;
  EXPECT_EQ(stat.out.find('\x1b'), std::string::npos);
  // --json keeps the name exact (JSON escapes it).
  CommandResult json = server_->RunCli({"--json", "ls"});
  const std::vector<nlohmann::json> entries = JsonLines(json.out);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1]["name"], "two\nlines");
}

TEST_F(CliParityTest, TreesGoUpAndDownAndAway) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string tree = Scratch("tree");
  ASSERT_EQ(::mkdir(tree.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree + "/sub").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((tree + "/empty").c_str(), 0755), 0);
  WriteFileOrDie(tree + "/a.txt", "aaa");
  WriteFileOrDie(tree + "/sub/b.txt", "bbbbb");
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(tree + "/sub/big.bin", 3 << 20, 9));

  CommandResult put = server_->RunCli({"put", "-r", tree, "up"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  CommandResult ls = server_->RunCli({"ls", "-R", "up"});
  EXPECT_EQ(ls.out, "a.txt\nempty/\nsub/\nsub/b.txt\nsub/big.bin\n");
  CommandResult du = server_->RunCli({"--json", "du", "up"});
  const nlohmann::json total = OneJsonLine(du.out);
  EXPECT_EQ(total["bytes"], std::to_string(3 + 5 + (3 << 20)));
  EXPECT_EQ(total["files"], "3");
  EXPECT_EQ(total["dirs"], "2");

  CommandResult get = server_->RunCli({"get", "-r", "up", Scratch("down")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(TreeSnapshot(Scratch("down")), TreeSnapshot(tree));
  EXPECT_EQ(CompareFiles(tree + "/sub/big.bin", Scratch("down/sub/big.bin")), "");

  CommandResult rm_plain = server_->RunCli({"rm", "up"});
  EXPECT_EQ(rm_plain.exit_code, 1) << "a directory needs -r or -d";
  CommandResult rm = server_->RunCli({"rm", "-r", "up"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_TRUE(ListDir(server_->root()).empty());
}

TEST_F(CliParityTest, SyncCopiesOnlyWhatDiffersAndDryRunChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string src = Scratch("src");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((src + "/sub").c_str(), 0755), 0);
  WriteFileOrDie(src + "/a.txt", "alpha");
  WriteFileOrDie(src + "/b.txt", "bravo");
  WriteFileOrDie(src + "/sub/c.txt", "charlie");
  CommandResult first = server_->RunCli({"--json", "sync", src, ":m"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(JsonLines(first.out).back()["copied"], "3");
  EXPECT_EQ(TreeSnapshot(server_->RootPath("m")), TreeSnapshot(src));

  // Same size, other bytes: only the CRC32C tells. Plus a new file here and
  // an extra one there.
  WriteFileOrDie(src + "/b.txt", "BRAVO");
  WriteFileOrDie(src + "/d.txt", "delta");
  WriteFileOrDie(server_->RootPath("m/extra.txt"), "extra");
  const auto before = TreeSnapshot(server_->root());
  CommandResult dry = server_->RunCli({"sync", "--dry-run", "--delete", src, ":m"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out,
            "would put b.txt\nwould put d.txt\nwould delete extra.txt\n"
            "sync (dry run): 2 copied (10 B), 2 unchanged, 1 deleted\n");
  EXPECT_EQ(TreeSnapshot(server_->root()), before);
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("m/b.txt")), "bravo");

  CommandResult real = server_->RunCli({"--json", "sync", "--delete", src, ":m"});
  ASSERT_EQ(real.exit_code, 0) << real.err;
  const nlohmann::json summary = JsonLines(real.out).back();
  EXPECT_EQ(summary["copied"], "2");
  EXPECT_EQ(summary["unchanged"], "2");
  EXPECT_EQ(summary["deleted"], "1");
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("m/b.txt")), "BRAVO");
  EXPECT_EQ(TreeSnapshot(server_->RootPath("m")), TreeSnapshot(src));

  // And back down into a fresh directory.
  CommandResult down = server_->RunCli({"sync", ":m", Scratch("copy")});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(TreeSnapshot(Scratch("copy")), TreeSnapshot(src));
  CommandResult both_local = server_->RunCli({"sync", src, Scratch("x")});
  EXPECT_EQ(both_local.exit_code, 1);
}

// A tree of 2,000 files synced twice: the second sync sends nothing.
TEST_F(CliParityTest, SecondSyncOfTwoThousandFilesSendsNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  const std::string src = Scratch("many");
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  for (int d = 0; d < 20; ++d) {
    const std::string dir = absl::StrCat(src, "/d", d);
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    for (int f = 0; f < 100; ++f) {
      WriteFileOrDie(absl::StrCat(dir, "/f", f), RandomBytes(100 + f, d * 100 + f));
    }
  }
  CommandResult first = server_->RunCli({"--json", "sync", src, ":many"}, std::chrono::seconds(300));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(JsonLines(first.out).back()["copied"], "2000");
  CommandResult second =
      server_->RunCli({"--json", "sync", src, ":many"}, std::chrono::seconds(300));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  const nlohmann::json summary = JsonLines(second.out).back();
  EXPECT_EQ(summary["copied"], "0") << second.out;
  EXPECT_EQ(summary["unchanged"], "2000") << second.out;
  EXPECT_EQ(TreeSnapshot(server_->RootPath("many")), TreeSnapshot(src));
}

// The bash completion script loads and registers itself for overlap.
TEST(CompletionTest, BashCompletionLoads) {
  std::string script = __FILE__;
  script = script.substr(0, script.rfind("/tests/")) + "/clients/cpp/completion/overlap.bash";
  ASSERT_TRUE(PathExists(script)) << script;
  CommandResult r = RunCommand({"/bin/bash", "-c", "source '" + script + "' && complete -p overlap"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("overlap"), std::string::npos) << r.out;
}

TEST_F(CliParityTest, ProgressShowsTheRate) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ASSERT_NO_FATAL_FAILURE(WriteRandomFile(Scratch("big"), 96 << 20, 3));
  CommandResult put = server_->RunCli({"--progress", "put", Scratch("big"), "big"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_NE(put.err.find("put big: 96.0 MiB / 96.0 MiB (100%)  "), std::string::npos) << put.err;
  EXPECT_NE(put.err.find("/s"), std::string::npos) << put.err;
  CommandResult quiet = server_->RunCli({"--quiet", "get", "big", Scratch("big2")});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

}  // namespace
}  // namespace overlapd::itest
