#include "tests/integration/test_util.h"

#include <cctype>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace overlapd::itest {

namespace {

using Tables = std::array<std::array<uint32_t, 256>, 8>;

Tables MakeCrcTables() {
  constexpr uint32_t kPoly = 0x82F63B78;  // Castagnoli, reflected
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? kPoly : 0);
    t[0][i] = c;
  }
  for (int k = 1; k < 8; ++k) {
    for (int i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
  }
  return t;
}

bool IsTerminal(v1::EventType type) {
  return type != v1::READ_CHUNK && type != v1::BATCH_COMPLETE &&
         type != v1::EVENTS_LOST && type != v1::EVENT_TYPE_UNSPECIFIED;
}

}  // namespace

uint32_t SoftCrc32c(absl::string_view data, uint32_t crc) {
  static const Tables t = MakeCrcTables();
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "slicing-by-8 below is little-endian");
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  crc = ~crc;
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    v ^= crc;
    crc = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^
          t[4][(v >> 24) & 0xff] ^ t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^
          t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string RandomBytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t state = seed;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    // splitmix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(&out[i], &z, 8);
  }
  for (; i < size; ++i) out[i] = static_cast<char>((state += 0x9E3779B97F4A7C15ull) >> 56);
  return out;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return "";
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFileOrDie(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    names.push_back(entry.path().filename().string());
  }
  if (ec) ADD_FAILURE() << "cannot list " << path << ": " << ec.message();
  std::sort(names.begin(), names.end());
  return names;
}

std::map<std::string, uint64_t> TreeSnapshot(const std::string& dir) {
  std::map<std::string, uint64_t> tree;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    const std::string rel = std::filesystem::relative(entry.path(), dir, ec).string();
    tree[rel] = entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
  }
  if (ec) ADD_FAILURE() << "cannot walk " << dir << ": " << ec.message();
  return tree;
}

namespace {
constexpr size_t kBlock = 4u << 20;
}  // namespace

void WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path << ": " << std::strerror(errno);
  for (uint64_t done = 0, i = 0; done < size; ++i) {
    const std::string block = RandomBytes(std::min<uint64_t>(kBlock, size - done), seed + i);
    ASSERT_EQ(::write(fd, block.data(), block.size()), static_cast<ssize_t>(block.size()));
    done += block.size();
  }
  ASSERT_EQ(::close(fd), 0);
}

std::string CompareFiles(const std::string& a, const std::string& b) {
  const int fa = ::open(a.c_str(), O_RDONLY | O_CLOEXEC);
  const int fb = ::open(b.c_str(), O_RDONLY | O_CLOEXEC);
  std::string result;
  std::string ba(kBlock, '\0'), bb(kBlock, '\0');
  for (uint64_t offset = 0; result.empty();) {
    if (fa < 0 || fb < 0) {
      result = "cannot open " + (fa < 0 ? a : b);
      break;
    }
    const ssize_t na = ::pread(fa, ba.data(), kBlock, static_cast<off_t>(offset));
    const ssize_t nb = ::pread(fb, bb.data(), kBlock, static_cast<off_t>(offset));
    if (na != nb) {
      result = "sizes differ near offset " + std::to_string(offset);
    } else if (na <= 0) {
      break;  // both at EOF (or both failing, which the sizes check catches)
    } else if (std::memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) != 0) {
      result = "bytes differ in the block at offset " + std::to_string(offset);
    }
    offset += static_cast<uint64_t>(std::max<ssize_t>(na, 0));
  }
  if (fa >= 0) ::close(fa);
  if (fb >= 0) ::close(fb);
  return result;
}

v1::Op ReadOp(uint64_t tag, const std::string& path, uint64_t offset,
              uint64_t length) {
  v1::Op op;
  op.set_tag(tag);
  op.mutable_read()->set_path(path);
  op.mutable_read()->set_offset(offset);
  op.mutable_read()->set_length(length);
  return op;
}

v1::Op WriteOp(uint64_t tag, const std::string& path, std::string data,
               v1::WriteMode mode, v1::Durability durability) {
  v1::Op op;
  op.set_tag(tag);
  v1::Write* w = op.mutable_write();
  w->set_path(path);
  w->set_data(std::move(data));
  w->set_mode(mode);
  w->set_durability(durability);
  return op;
}

CallResult RunExecute(v1::IoService::Stub& stub, const v1::Batch& batch,
                      std::chrono::milliseconds deadline) {
  CallResult result;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  std::unique_ptr<grpc::ClientReader<v1::EventBatch>> reader =
      stub.Execute(&context, batch);
  v1::EventBatch message;
  while (reader->Read(&message)) {
    ++result.messages;
    for (v1::Event& e : *message.mutable_events()) result.events.push_back(std::move(e));
  }
  result.status = reader->Finish();
  return result;
}

CallResult RunSession(v1::IoService::Stub& stub, const std::vector<v1::Batch>& batches,
                      std::chrono::milliseconds deadline) {
  CallResult result;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  auto stream = stub.Session(&context);
  for (const v1::Batch& batch : batches) {
    if (!stream->Write(batch)) break;
  }
  stream->WritesDone();
  v1::EventBatch message;
  while (stream->Read(&message)) {
    ++result.messages;
    for (v1::Event& e : *message.mutable_events()) result.events.push_back(std::move(e));
  }
  result.status = stream->Finish();
  return result;
}

std::map<uint64_t, OpOutcome> GroupByTag(const std::vector<v1::Event>& events) {
  std::map<uint64_t, OpOutcome> ops;
  // Chunks by tag: offset -> size, to find overlaps.
  std::map<uint64_t, std::map<uint64_t, uint64_t>> chunks;
  std::map<uint64_t, std::map<uint64_t, std::string>> chunk_data;
  for (const v1::Event& e : events) {
    if (e.type() == v1::BATCH_COMPLETE) continue;
    OpOutcome& op = ops[e.tag()];
    op.events.push_back(e);
    if (e.type() == v1::READ_CHUNK) {
      if (op.terminal_events > 0) {
        op.problems.push_back(absl::StrCat("READ_CHUNK after the terminal event: ", Describe(e)));
      }
      if (e.bytes() != e.data().size()) {
        op.problems.push_back(absl::StrCat("chunk bytes ", e.bytes(), " != data size ",
                                           e.data().size(), ": ", Describe(e)));
      }
      const uint32_t crc = SoftCrc32c(e.data());
      if (crc != e.crc32c()) {
        op.problems.push_back(absl::StrCat("chunk crc32c ", absl::Hex(e.crc32c()),
                                           " but data has ", absl::Hex(crc), ": ", Describe(e)));
      }
      auto& spans = chunks[e.tag()];
      auto next = spans.lower_bound(e.offset());
      if ((next != spans.end() && next->first < e.offset() + e.data().size()) ||
          (next != spans.begin() && std::prev(next)->first + std::prev(next)->second > e.offset())) {
        op.problems.push_back(absl::StrCat("overlapping chunk: ", Describe(e)));
      }
      spans[e.offset()] = e.data().size();
      chunk_data[e.tag()][e.offset()] = e.data();
    } else if (IsTerminal(e.type())) {
      ++op.terminal_events;
    }
  }
  for (auto& [tag, op] : ops) {
    for (size_t i = 0; i < op.events.size(); ++i) {
      if (IsTerminal(op.events[i].type())) op.terminal_index = static_cast<int>(i);
    }
    // The data, from the first chunk's offset on (the read's start).
    const auto& pieces = chunk_data[tag];
    op.data_offset = pieces.empty() ? 0 : pieces.begin()->first;
    for (const auto& [offset, data] : pieces) {
      if (offset != op.data_offset + op.data.size()) {
        op.problems.push_back(absl::StrCat("gap in chunks at offset ",
                                           op.data_offset + op.data.size()));
        break;
      }
      op.data += data;
    }
    const v1::Event* terminal = op.terminal();
    if (terminal == nullptr || terminal->type() != v1::READ_COMPLETE) continue;
    if (terminal->bytes() != op.data.size()) {
      op.problems.push_back(absl::StrCat("READ_COMPLETE bytes ", terminal->bytes(),
                                         " but chunks hold ", op.data.size()));
    }
    const uint32_t crc = SoftCrc32c(op.data);
    if (terminal->crc32c() != crc) {
      op.problems.push_back(absl::StrCat("READ_COMPLETE crc32c ", absl::Hex(terminal->crc32c()),
                                         " but the data has ", absl::Hex(crc)));
    }
  }
  return ops;
}

std::string SeqViolation(const std::vector<v1::Event>& events) {
  for (size_t i = 1; i < events.size(); ++i) {
    if (events[i].seq() <= events[i - 1].seq()) {
      return absl::StrCat("event #", i, " has seq ", events[i].seq(), " after seq ",
                          events[i - 1].seq(), " (", Describe(events[i - 1]), " then ",
                          Describe(events[i]), ")");
    }
  }
  return "";
}

std::string Describe(const v1::Event& e) {
  std::string s = absl::StrCat(v1::EventType_Name(e.type()), " seq=", e.seq(), " tag=", e.tag(),
                               " op_index=", e.op_index(), " path=\"",
                               absl::CHexEscape(e.path()), "\" offset=", e.offset(),
                               " bytes=", e.bytes());
  if (e.has_error()) {
    absl::StrAppend(&s, " error={code=", e.error().code(), " errno=", e.error().errno_value(),
                    " \"", e.error().message(), "\"}");
  }
  return s;
}

std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

}  // namespace overlapd::itest
