#include "ioengine/temp_names.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace overlapd::io {
namespace {

constexpr char kKeyFile[] = "temp-name.key";
constexpr size_t kHexBytes = 16;  // one 64-bit number in hex

void AppendHex(uint64_t v, std::string* out) {
  char buf[kHexBytes + 1];
  snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  out->append(buf, kHexBytes);
}

uint64_t RandomU64() {
  uint64_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof(v)) != 1) {
    // OpenSSL's generator failing is a broken system: the names would stop
    // being unique, so stop rather than guess.
    perror("overlapd: RAND_bytes");
    abort();
  }
  return v;
}

absl::Status ErrnoError(int err, const std::string& what) {
  return absl::ErrnoToStatus(err, what);
}

}  // namespace

std::string_view TempMarker(TempKind kind) {
  return kind == TempKind::kAtomic ? ".overlapd-tmp-" : ".overlapd-up-";
}

std::string_view CutUtf8(std::string_view leaf, size_t max) {
  if (leaf.size() <= max) return leaf;
  size_t cut = max;
  // Back off over continuation bytes (10xxxxxx) to the start of a character.
  while (cut > 0 && (static_cast<unsigned char>(leaf[cut]) & 0xC0) == 0x80) --cut;
  return leaf.substr(0, cut);
}

absl::StatusOr<TempNamer> TempNamer::LoadOrCreate(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoError(ec.value(), absl::StrCat("--state-dir ", dir, ": cannot create"));
  const std::string path = absl::StrCat(dir, "/", kKeyFile);
  std::array<uint8_t, kKeyBytes> key{};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, key.data(), key.size() + 1);
    int err = errno;
    close(fd);
    if (n < 0) return ErrnoError(err, absl::StrCat(path, ": cannot read"));
    if (static_cast<size_t>(n) != key.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": ", n, " bytes, not a ", kKeyBytes,
          "-byte key; move it away to make a new one (temp files of the old key are then "
          "kept, never swept)"));
    }
    return TempNamer(key);
  }
  if (errno != ENOENT) return ErrnoError(errno, absl::StrCat(path, ": cannot open"));
  if (RAND_bytes(key.data(), key.size()) != 1) {
    return absl::InternalError("no random bytes for the temp-name key");
  }
  // Written under a temp name and renamed, so a crash never leaves a short key.
  const std::string tmp = path + ".new";
  fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(errno, absl::StrCat(tmp, ": cannot create"));
  bool ok = write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size()) &&
            fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    unlink(tmp.c_str());
    return ErrnoError(err, absl::StrCat(path, ": cannot write"));
  }
  int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return TempNamer(key);
}

TempNamer TempNamer::Ephemeral() {
  std::array<uint8_t, kKeyBytes> key{};
  for (size_t i = 0; i < key.size(); i += sizeof(uint64_t)) {
    uint64_t v = RandomU64();
    memcpy(key.data() + i, &v, sizeof(v));
  }
  return TempNamer(key);
}

uint64_t TempNamer::Tag(std::string_view body) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  uint64_t tag = 0;
  memcpy(&tag, mac, sizeof(tag));
  return tag;
}

std::string TempNamer::Mint(std::string_view leaf, TempKind kind) const {
  std::string name(".");
  name.append(CutUtf8(leaf, kMaxLeafBytes));
  name.append(TempMarker(kind));
  AppendHex(RandomU64(), &name);
  AppendHex(Tag(name), &name);
  return name;
}

bool TempNamer::Proves(std::string_view name, TempKind kind) const {
  const std::string_view marker = TempMarker(kind);
  if (name.size() < 1 + marker.size() + 2 * kHexBytes || name[0] != '.') return false;
  const std::string_view body = name.substr(0, name.size() - kHexBytes);
  if (body.substr(body.size() - kHexBytes - marker.size(), marker.size()) != marker) {
    return false;
  }
  std::string expected;
  AppendHex(Tag(body), &expected);
  // Constant time: the tag is a secret until it is on disk.
  return CRYPTO_memcmp(expected.data(), name.data() + body.size(), kHexBytes) == 0;
}

}  // namespace overlapd::io
