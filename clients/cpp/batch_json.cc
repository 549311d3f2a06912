// The JSON batch format (`overlap submit FILE.json`, LoadBatchJsonFile).
//
// A file holds one JSON object: an overlapd.v1.Batch in protobuf's standard
// JSON mapping (https://protobuf.dev/programming-guides/proto3/#json), parsed
// by google::protobuf::util::JsonStringToMessage. clients/cpp/SUBMIT_FORMAT.md
// says the same for users; keep the two in step.
//
//   {
//     "label": "nightly",
//     "ops": [
//       {"tag": "1", "copy": {"src": "a.txt", "dst": "a.txt.bak"}},
//       {"tag": "2", "read": {"path": "b.bin"}},
//       {"write": {"path": "c.txt", "data": "aGVsbG8=",
//                  "mode": "WRITE_MODE_CREATE_NEW"}, "linkNext": true},
//       {"fsync": {"path": "c.txt"}}
//     ]
//   }
//
// Batch (top level):
//   "ops"    array of Op, at least one (at most the server's
//            max_ops_per_batch, see `overlap caps`).
//   "label"  string shown by `overlap jobs` / `overlap job`. Optional.
//   "tag"    uint64 echoed in the batch's BATCH_COMPLETE event. Optional.
//
// Op: optional "tag" (uint64, echoed in the op's events) and "linkNext"
// (bool: the next op runs only if this one succeeds, otherwise the rest of
// the chain ends OP_CANCELLED), plus exactly one of these keys, whose value
// is an object with the fields listed (all optional except the paths):
//   "read"    path, offset, length (0 = to end of file). A detached job does
//             not return the data; its events carry sizes and CRC32C only.
//   "write"   path, offset, data (the bytes, base64), mode, durability,
//             expectedCrc32c (uint32: the server checks data against it).
//   "copy"    src, dst, durability. Server-side; dst is created or truncated.
//   "fsync"   path, dataOnly (bool: fdatasync instead of fsync).
//   "stat"    path.
//   "list"    path, startAfter, limit.
//   "rename"  src, dst, noReplace (bool: fail if dst exists).
//   "delete"  path, directory (bool: required for an empty directory).
//   "mkdir"   path, parents (bool: mkdir -p).
//
// Value rules of the mapping:
//   - Field names: lowerCamelCase as above, or the .proto snake_case names
//     ("link_next", "expected_crc32c", "no_replace"); both are accepted.
//   - 64-bit integers (tag, offset, length) may be JSON numbers or decimal
//     strings ("1" or 1); negative values are refused.
//   - Enums by name or number: mode WRITE_MODE_AT (default),
//     WRITE_MODE_CREATE_NEW, WRITE_MODE_TRUNCATE, WRITE_MODE_APPEND,
//     WRITE_MODE_REPLACE_ATOMIC; durability DURABILITY_NONE (default),
//     DURABILITY_DATA, DURABILITY_FULL.
//   - bytes ("data") are base64, standard or URL-safe, padding optional.
//   - Paths are relative to the server's --root, as everywhere in the API.
//
// Refused with INVALID_ARGUMENT, naming the file and the problem: JSON syntax
// errors (with line, column and the text around the error), unknown fields (typos must not be
// dropped silently), bad enum names, bad base64, two kinds in one op, an op
// with no kind, and a batch with no ops. The server then checks the rest
// (limits, paths) and refuses a bad batch as a whole before any IO.
#include "clients/cpp/batch_json.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include <google/protobuf/util/json_util.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace overlapd {
namespace {

// JsonStringToMessage reports a syntax error as "MESSAGE\nCONTEXT\n   ^": a
// window of the input (which may span lines) and a caret under the error,
// counted in characters of that window. A CLI error is one line, so this
// finds the window in `text` to give a line and column, and shows the window
// on one line with ">>>" where the caret was:
//   line 3, column 7: Parsing terminated before end of input. At >>> in:
//   {"path": "a"}  }] } >>>garbage
// Other messages (field errors) are one line already and pass through.
std::string DescribeJsonError(absl::string_view message, absl::string_view text) {
  const size_t first_newline = message.find('\n');
  const size_t last_newline = message.rfind('\n');
  if (first_newline == absl::string_view::npos ||
      first_newline == last_newline) {
    return absl::StrReplaceAll(message, {{"\n", " "}});
  }
  const absl::string_view what = message.substr(0, first_newline);
  const absl::string_view context = message.substr(
      first_newline + 1, last_newline - first_newline - 1);
  const absl::string_view caret_line = message.substr(last_newline + 1);
  const size_t caret =
      std::min(caret_line.find('^'), context.size());  // npos -> end
  if (absl::StripAsciiWhitespace(context).empty()) {
    return absl::StrCat(what, " (at the end of the input)");
  }
  std::string where;
  const size_t window = text.find(context);
  if (window != absl::string_view::npos) {
    const absl::string_view before = text.substr(0, window + caret);
    const size_t line_start = before.rfind('\n');
    const size_t line = 1 + std::count(before.begin(), before.end(), '\n');
    const size_t column = line_start == absl::string_view::npos
                              ? before.size() + 1
                              : before.size() - line_start;
    where = absl::StrCat("line ", line, ", column ", column, ": ");
  }
  std::string shown = absl::StrCat(context.substr(0, caret), ">>>",
                                   context.substr(caret));
  absl::StrReplaceAll({{"\n", " "}}, &shown);
  absl::StripTrailingAsciiWhitespace(&shown);
  return absl::StrCat(where, what, " At >>> in: ", shown);
}

// "read, write, ...": the kinds an Op may hold, as the proto lists them.
std::string OpKinds() {
  const google::protobuf::OneofDescriptor* kind = v1::Op::descriptor()->FindOneofByName("kind");
  std::string kinds;
  for (int i = 0; i < kind->field_count(); ++i) {
    absl::StrAppend(&kinds, i == 0 ? "" : ", ", kind->field(i)->name());
  }
  return kinds;
}

// Far above any batch a server accepts (its messages are at most 64 MiB, and
// base64 adds a third); stops `overlap submit /dev/zero` from eating memory.
constexpr size_t kMaxFileBytes = 256u << 20;

}  // namespace

absl::StatusOr<v1::Batch> ParseBatchJson(absl::string_view text,
                                         absl::string_view source) {
  v1::Batch batch;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a typo must not vanish silently
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &batch,
      options);
  if (!status.ok()) {
    const auto message = status.message();
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": ",
        DescribeJsonError(absl::string_view(message.data(), message.size()),
                          text)));
  }
  if (batch.ops_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": the batch has no ops (expected {\"ops\": [...]})"));
  }
  for (int i = 0; i < batch.ops_size(); ++i) {
    if (batch.ops(i).kind_case() == v1::Op::KIND_NOT_SET) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ops[", i,
                       "] has no operation: expected one of ", OpKinds()));
    }
  }
  return batch;
}

absl::StatusOr<v1::Batch> LoadBatchJsonFile(const std::string& path) {
  const bool stdin_path = path == "-";
  const int fd =
      stdin_path ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  std::string text;
  char buf[64 << 10];
  absl::Status read_status;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      read_status = absl::ErrnoToStatus(errno, absl::StrCat("read ", path));
      break;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      read_status = absl::ResourceExhaustedError(absl::StrCat(
          path, ": larger than ", kMaxFileBytes >> 20, " MiB; not a batch"));
      break;
    }
  }
  if (!stdin_path) ::close(fd);
  if (!read_status.ok()) return read_status;
  return ParseBatchJson(text, stdin_path ? "<stdin>" : path);
}

}  // namespace overlapd
