// Names of the temp files overlapd creates inside the root, and the proof
// that it created them.
//
// Two kinds live beside their targets as hidden siblings:
//   ".NAME.overlapd-tmp-RRRRRRRRRRRRRRRRTTTTTTTTTTTTTTTT"  atomic replaces
//   ".NAME.overlapd-up-RRRRRRRRRRRRRRRRTTTTTTTTTTTTTTTT"   client uploads
// R is 64 random bits and T a tag: the first 64 bits of
// HMAC-SHA256(key, the name without its tag). The key is 32 random bytes
// kept in the state directory, outside the root, so no client can mint a
// name that carries a valid tag. The start-up sweep removes a file only when
// its name's tag verifies: a user file that merely looks like a temp file
// (".notes.overlapd-tmp-keepme") is never touched.
//
// Example:
//
//   auto namer = TempNamer::LoadOrCreate("/var/lib/overlapd");
//   std::string temp = namer->Mint("report.csv", TempKind::kAtomic);
//   namer->Proves(temp, TempKind::kAtomic);              // true
//   namer->Proves(".report.csv.overlapd-tmp-0", TempKind::kAtomic);  // false
#ifndef OVERLAPD_IOENGINE_TEMP_NAMES_H_
#define OVERLAPD_IOENGINE_TEMP_NAMES_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace overlapd::io {

enum class TempKind : uint8_t { kAtomic, kUpload };

class TempNamer {
 public:
  static constexpr size_t kKeyBytes = 32;
  // Bytes of the target's name kept in a temp name, so that the temp name
  // stays within NAME_MAX; a longer name is cut at a UTF-8 character
  // boundary.
  static constexpr size_t kMaxLeafBytes = 200;

  // Reads the key from DIR/temp-name.key, creating DIR (0700) and the key
  // (0600, fsynced) when missing. FAILED_PRECONDITION naming the file when
  // it exists but is not a key (wrong size), errno-based errors otherwise.
  static absl::StatusOr<TempNamer> LoadOrCreate(const std::string& dir);
  // A namer whose key lives only in this process: names it mints are never
  // proven after a restart (nothing is swept), for servers without a state
  // directory and for tests.
  static TempNamer Ephemeral();

  // A fresh temp name for the file named `leaf` (a single component).
  std::string Mint(std::string_view leaf, TempKind kind) const;
  // Whether `name` (a single component) was minted with this key.
  bool Proves(std::string_view name, TempKind kind) const;

 private:
  explicit TempNamer(const std::array<uint8_t, kKeyBytes>& key) : key_(key) {}
  uint64_t Tag(std::string_view body) const;

  std::array<uint8_t, kKeyBytes> key_;
};

// The marker of each kind (".overlapd-tmp-", ".overlapd-up-").
std::string_view TempMarker(TempKind kind);

// `leaf` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view leaf, size_t max);

}  // namespace overlapd::io

#endif  // OVERLAPD_IOENGINE_TEMP_NAMES_H_
