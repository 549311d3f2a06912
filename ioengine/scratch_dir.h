// For tests: a fresh directory under /tmp, removed with everything in it
// when the object goes.
//
// Example:
//
//   class FooTest : public ::testing::Test {
//    protected:
//     ScratchDir dir_{"overlapd-foo"};   // dir_.path() / "file"
//   };
#ifndef OVERLAPD_IOENGINE_SCRATCH_DIR_H_
#define OVERLAPD_IOENGINE_SCRATCH_DIR_H_

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace overlapd {

class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror(tmpl.c_str());
      std::abort();  // no test can go on without its directory
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& rel) const { return path_ / rel; }
  std::string string() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace overlapd

#endif  // OVERLAPD_IOENGINE_SCRATCH_DIR_H_
