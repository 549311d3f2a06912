// Helpers shared by the integration tests: building batches, running them
// over the raw stub, checking the events, and an independent CRC32C.
#ifndef OVERLAPD_TESTS_INTEGRATION_TEST_UTIL_H_
#define OVERLAPD_TESTS_INTEGRATION_TEST_UTIL_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
#include "overlapd/v1/overlapd.grpc.pb.h"

namespace overlapd::itest {

// google.rpc.Code values as carried in Event.error.code.
inline constexpr int kCodeNotFound = 5;
inline constexpr int kCodeAlreadyExists = 6;
inline constexpr int kCodePermissionDenied = 7;
inline constexpr int kCodeResourceExhausted = 8;
inline constexpr int kCodeInvalidArgument = 3;

// CRC32C (Castagnoli), slicing-by-8 in plain C++: the tests' own oracle,
// independent of the ISA-L code the server and client use.
uint32_t SoftCrc32c(absl::string_view data, uint32_t crc = 0);

// `size` pseudo-random bytes from `seed` (splitmix64): fast, reproducible.
std::string RandomBytes(size_t size, uint64_t seed);

// Whole-file helpers; they fail the current test (ADD_FAILURE) on error.
std::string ReadFileOrDie(const std::string& path);
void WriteFileOrDie(const std::string& path, absl::string_view data);
bool PathExists(const std::string& path);  // lstat: a dangling link exists
// Names in a directory, sorted.
std::vector<std::string> ListDir(const std::string& path);
// Every file and directory under `dir` (hidden ones too), by path relative
// to it, with its size (directories: 0), for "nothing changed" checks.
std::map<std::string, uint64_t> TreeSnapshot(const std::string& dir);

// Writes `size` pseudo-random bytes to `path`, 4 MiB at a time (a different
// block each time, so a misplaced chunk is caught).
void WriteRandomFile(const std::string& path, uint64_t size, uint64_t seed);
// Byte-compares two files, like cmp(1): "" when identical, else where the
// first difference is.
std::string CompareFiles(const std::string& a, const std::string& b);

v1::Op ReadOp(uint64_t tag, const std::string& path, uint64_t offset = 0,
              uint64_t length = 0);
v1::Op WriteOp(uint64_t tag, const std::string& path, std::string data,
               v1::WriteMode mode = v1::WRITE_MODE_CREATE_NEW,
               v1::Durability durability = v1::DURABILITY_NONE);

// What one streaming call returned.
struct CallResult {
  grpc::Status status;
  std::vector<v1::Event> events;  // in arrival order
  size_t messages = 0;            // EventBatch messages received
};

// Runs `batch` with Execute and collects every event (bounded by `deadline`).
CallResult RunExecute(v1::IoService::Stub& stub, const v1::Batch& batch,
                      std::chrono::milliseconds deadline = std::chrono::seconds(60));

// Runs `batches` in one Session (all written, then the writes closed) and
// collects every event until the call ends (bounded by `deadline`).
CallResult RunSession(v1::IoService::Stub& stub, const std::vector<v1::Batch>& batches,
                      std::chrono::milliseconds deadline = std::chrono::seconds(60));

// The events of one op (by tag), with their payloads reassembled.
struct OpOutcome {
  std::vector<v1::Event> events;  // every event with this tag except BATCH_COMPLETE
  std::string data;               // READ_CHUNK data in offset order, without gaps
  uint64_t data_offset = 0;       // file offset of data[0] (the first chunk's)
  int terminal_events = 0;        // *_COMPLETE, OP_FAILED, OP_CANCELLED
  int terminal_index = -1;        // index in `events` of the last terminal event
  const v1::Event* terminal() const {
    return terminal_index < 0 ? nullptr : &events[terminal_index];
  }
  std::vector<std::string> problems;    // chunk CRC/offset/order errors
};

// Groups `events` by tag (ops of one batch must have distinct tags).
// BATCH_COMPLETE events are skipped. Each READ_CHUNK's crc32c is checked
// against SoftCrc32c of its data, chunks must not overlap, and none may
// arrive after its op's terminal event; a READ_COMPLETE must carry the byte
// count and CRC32C of the reassembled data. Violations go to `problems`.
std::map<uint64_t, OpOutcome> GroupByTag(const std::vector<v1::Event>& events);

// Checks that seq strictly increases over `events` in arrival order; returns
// a description of the first violation, or "" when there is none.
std::string SeqViolation(const std::vector<v1::Event>& events);

// `s` percent-encoded for a URL query (RFC 3986 unreserved characters kept):
// PromQL for Prometheus's HTTP API.
std::string UrlEncode(absl::string_view s);

// Short text of an event for failure messages.
std::string Describe(const v1::Event& event);

// Raw message bytes to and from a gRPC ByteBuffer: the generic calls of the
// standard services (health, reflection), whose protos are hand-encoded.
grpc::ByteBuffer ToByteBuffer(const std::string& bytes);
std::string FromByteBuffer(const grpc::ByteBuffer& buffer);

}  // namespace overlapd::itest

#endif  // OVERLAPD_TESTS_INTEGRATION_TEST_UTIL_H_
