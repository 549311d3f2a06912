// The buffers registered over the buffer lane (buffer_lane.h), by handle,
// and their resolution when a batch names them (Read.into, Write.from).
#ifndef OVERLAPD_SERVICE_BUFFER_REGISTRY_H_
#define OVERLAPD_SERVICE_BUFFER_REGISTRY_H_

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ioengine/mapped_buffer.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/auth.h"

namespace overlapd {


// The range of a registered buffer one op uses. `buffer` keeps the mapping
// alive while the op runs, whatever becomes of the registration.
struct BufferPin {
  std::shared_ptr<io::MappedBuffer> buffer;  // null: the op names no buffer
  char* data = nullptr;
  uint64_t bytes = 0;
};
// By op index; empty when no op of the batch names a buffer.
using BufferPins = std::vector<BufferPin>;

// Registered buffers by handle, grouped by the Unix connection that
// registered them.
//
// Threads: the lane's thread registers and closes connections; gRPC threads
// resolve batches. Every field is under mu_, held only for map lookups.
//
// Lifetime: a registration lasts as long as its connection. Closing it
// drops the registry's references; each op that resolved a pin holds its
// own until its batch is freed, so the memory is unmapped once the last op
// using it has finished, never under one in flight.
// How many bytes of buffers may be mapped: per connection, and over the
// whole server (every connection's, and those released but still pinned by
// ops until they are unmapped). The server writes into these pages, so
// they count against its own memory.
struct BufferBudget {
  uint64_t per_connection = 4ull << 30;
  uint64_t total = 16ull << 30;
};

class BufferRegistry {
 public:
  // `budget`: see BufferBudget. The registry must outlive every pin it
  // hands out.
  // `metrics`, when given, gets overlapd_buffers{state} and
  // overlapd_buffer_bytes{state} (state: registered, or released: its
  // connection closed, still in use by ops).
  explicit BufferRegistry(BufferBudget budget, prometheus::Registry* metrics = nullptr);
  BufferRegistry(const BufferRegistry&) = delete;
  BufferRegistry& operator=(const BufferRegistry&) = delete;

  // A new connection's id.
  uint64_t Open();
  // Checks and maps the memfd `fd` (not taken) for connection `conn`, owned
  // by `owner` (the token's identity, "" without tokens), and returns its
  // handle (kBufferHandleBytes random bytes) and size. Errors:
  // MappedBuffer::Map's, and RESOURCE_EXHAUSTED past the connection's
  // max_bytes.
  struct Registration {
    std::string handle;
    uint64_t bytes = 0;
  };
  absl::StatusOr<Registration> Register(uint64_t conn, int fd, const std::string& owner);
  // Forgets every buffer of `conn` (see Lifetime).
  void Close(uint64_t conn);

  // Pins every buffer `batch` names, checking its handle, owner and range
  // before any IO: INVALID_ARGUMENT for an unknown handle or a range
  // outside the buffer, PERMISSION_DENIED for a buffer registered with
  // another token than `grant`'s (null: tokens are off). Errors name
  // ops[i] and the field.
  absl::StatusOr<BufferPins> Resolve(const v1::Batch& batch, const Grant* grant) const;

  uint64_t max_bytes() const { return budget_.per_connection; }
  size_t registered() const;

 private:
  struct Entry {
    std::shared_ptr<io::MappedBuffer> buffer;
    uint64_t conn = 0;
    std::string owner;
    std::shared_ptr<std::atomic<bool>> released;  // its connection has closed
  };
  absl::StatusOr<BufferPin> Pin(const v1::BufferRef& ref, bool read, uint64_t read_length,
                                const std::string& owner, const std::string& field) const;
  void Gauges(int64_t buffers, int64_t bytes, bool registered);

  const BufferBudget budget_;
  prometheus::Gauge* buffers_[2] = {nullptr, nullptr};  // registered, released
  prometheus::Gauge* bytes_[2] = {nullptr, nullptr};
  mutable absl::Mutex mu_;
  uint64_t next_conn_ ABSL_GUARDED_BY(mu_) = 1;
  std::unordered_map<std::string, Entry> by_handle_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<uint64_t, uint64_t> conn_bytes_ ABSL_GUARDED_BY(mu_);
  uint64_t mapped_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // over the server, until unmapped
};

// Resolve on `registry`; with none (the lane is off) a batch that names a
// buffer is refused with INVALID_ARGUMENT, and any other resolves to no pins.
absl::StatusOr<BufferPins> ResolveBuffers(const BufferRegistry* registry, const v1::Batch& batch,
                                          const Grant* grant);

// The identity a grant's buffers are registered under: "" without one.
std::string BufferOwnerOf(const Grant* grant);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_BUFFER_REGISTRY_H_
