#include "clients/cpp/resume_state.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace overlapd {
namespace internal {

using nlohmann::json;

std::string ResumeFileFor(const std::string& local_path) {
  return local_path + ".overlap-resume";
}

std::string PartialFileFor(const std::string& local_path) {
  return local_path + ".partial";
}

std::optional<ResumeState> LoadResumeState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  const json object = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return std::nullopt;
  ResumeState state;
  auto text_field = [&](const char* key, std::string* out) {
    auto it = object.find(key);
    if (it == object.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  std::string size, mtime;
  if (!text_field("kind", &state.kind) || !text_field("remote", &state.remote) ||
      !text_field("size", &size) || !text_field("mtime_ns", &mtime) ||
      !absl::SimpleAtoi(size, &state.size) ||
      !absl::SimpleAtoi(mtime, &state.mtime_ns)) {
    return std::nullopt;
  }
  text_field("temp_path", &state.temp_path);
  return state;
}

absl::Status SaveResumeState(const std::string& path, const ResumeState& state) {
  json object = {{"kind", state.kind},
                 {"remote", state.remote},
                 {"size", std::to_string(state.size)},
                 {"mtime_ns", std::to_string(state.mtime_ns)}};
  if (!state.temp_path.empty()) object["temp_path"] = state.temp_path;
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << object.dump() << '\n';
    out.close();
    if (!out) {
      std::remove(temp.c_str());
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write the resume state ", temp));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write the resume state ", path));
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace overlapd
