#include "ioengine/temp_names.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "ioengine/scratch_dir.h"
#include "ioengine/recovery.h"

namespace overlapd::io {
namespace {

namespace fs = std::filesystem;

class TempNamesTest : public ::testing::Test {
 protected:
  void Touch(const fs::path& p, const std::string& text = "x") {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  ScratchDir scratch_{"overlapd-temp-names"};
  const fs::path dir_ = scratch_.path();
};

TEST_F(TempNamesTest, MintedNamesProveThemselvesAndNothingElseDoes) {
  TempNamer namer = TempNamer::Ephemeral();
  std::string atomic = namer.Mint("report.csv", TempKind::kAtomic);
  std::string upload = namer.Mint("report.csv", TempKind::kUpload);
  EXPECT_EQ(atomic.rfind(".report.csv.overlapd-tmp-", 0), 0u) << atomic;
  EXPECT_EQ(upload.rfind(".report.csv.overlapd-up-", 0), 0u) << upload;
  EXPECT_TRUE(namer.Proves(atomic, TempKind::kAtomic));
  EXPECT_TRUE(namer.Proves(upload, TempKind::kUpload));
  EXPECT_FALSE(namer.Proves(atomic, TempKind::kUpload));
  EXPECT_FALSE(namer.Proves(upload, TempKind::kAtomic));
  // Look-alikes: a user's own names, a tag flipped, another key's names.
  EXPECT_FALSE(namer.Proves(".notes.overlapd-tmp-keepme", TempKind::kAtomic));
  EXPECT_FALSE(namer.Proves(".x.overlapd-tmp-0000", TempKind::kAtomic));
  std::string flipped = atomic;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_FALSE(namer.Proves(flipped, TempKind::kAtomic));
  EXPECT_FALSE(TempNamer::Ephemeral().Proves(atomic, TempKind::kAtomic));
  EXPECT_NE(namer.Mint("a", TempKind::kAtomic), namer.Mint("a", TempKind::kAtomic));
}

TEST_F(TempNamesTest, LongNamesAreCutAtACharacterBoundary) {
  TempNamer namer = TempNamer::Ephemeral();
  // 126 two-byte characters (252 bytes): a cut at byte 200 would split one.
  std::string leaf;
  for (int i = 0; i < 126; ++i) leaf += "\xc3\xa9";
  leaf = "x" + leaf;  // shifts the characters to odd offsets
  std::string name = namer.Mint(leaf, TempKind::kAtomic);
  EXPECT_LE(name.size(), 255u);
  std::string kept = name.substr(1, name.find(".overlapd-tmp-") - 1);
  EXPECT_EQ(kept.size(), 199u);
  EXPECT_EQ(leaf.compare(0, kept.size(), kept), 0);
  EXPECT_EQ(CutUtf8("abc", 10), "abc");
  EXPECT_EQ(CutUtf8("a\xc3\xa9", 2), "a");
}

TEST_F(TempNamesTest, KeyPersistsAcrossLoadsAndABrokenKeyIsRefused) {
  auto first = TempNamer::LoadOrCreate((dir_ / "state").string());
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat sb;
  ASSERT_EQ(stat((dir_ / "state/temp-name.key").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  std::string name = first->Mint("f", TempKind::kAtomic);
  auto second = TempNamer::LoadOrCreate((dir_ / "state").string());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->Proves(name, TempKind::kAtomic));

  std::ofstream(dir_ / "state/temp-name.key", std::ios::trunc) << "short";
  auto broken = TempNamer::LoadOrCreate((dir_ / "state").string());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(broken.status().message().find("temp-name.key"), std::string::npos);
}

TEST_F(TempNamesTest, SweepRemovesOnlyProvenNamesAndSparesLiveUploads) {
  TempNamer namer = TempNamer::Ephemeral();
  const fs::path root = dir_ / "root";
  const std::string atomic = namer.Mint("f", TempKind::kAtomic);
  const std::string old_upload = namer.Mint("g", TempKind::kUpload);
  const std::string live_upload = namer.Mint("h", TempKind::kUpload);
  Touch(root / "d" / atomic);
  Touch(root / old_upload);
  Touch(root / live_upload);
  // An hour old: past a 60 s grace.
  struct timespec times[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (root / old_upload).c_str(), times, 0), 0);
  // Look-alikes that are the user's.
  Touch(root / ".notes.overlapd-tmp-keepme");
  Touch(root / "dir" / ".x.overlapd-tmp-0000");
  Touch(root / TempNamer::Ephemeral().Mint("k", TempKind::kAtomic));

  SweepResult r = SweepTempFiles(root.string(), namer, 60, /*atomic_too=*/true);
  EXPECT_EQ(r.atomic_removed, 1u);
  EXPECT_EQ(r.uploads_removed, 1u);
  EXPECT_FALSE(fs::exists(root / "d" / atomic));
  EXPECT_FALSE(fs::exists(root / old_upload));
  EXPECT_TRUE(fs::exists(root / live_upload));
  EXPECT_TRUE(fs::exists(root / ".notes.overlapd-tmp-keepme"));
  EXPECT_TRUE(fs::exists(root / "dir" / ".x.overlapd-tmp-0000"));
}

}  // namespace
}  // namespace overlapd::io
