#include "service/buffer_registry.h"

#include <sys/random.h>

#include <limits>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "service/op_table.h"

namespace overlapd {

namespace {

// 128 bits from the kernel's CSPRNG: a handle cannot be guessed, so only a
// client that registered a buffer (or was told its handle) can name it.
std::string NewHandle() {
  std::string h(kBufferHandleBytes, '\0');
  size_t got = 0;
  while (got < h.size()) {
    ssize_t n = getrandom(h.data() + got, h.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  return h;
}

}  // namespace

std::string BufferOwnerOf(const Grant* grant) { return grant == nullptr ? "" : grant->id; }

BufferRegistry::BufferRegistry(BufferBudget budget, prometheus::Registry* metrics)
    : budget_(budget) {
  if (metrics == nullptr) return;
  auto& buffers = prometheus::BuildGauge()
                      .Name("overlapd_buffers")
                      .Help("Shared buffers of the buffer lane: registered, or released by "
                            "their connection and still in use by ops")
                      .Register(*metrics);
  auto& bytes = prometheus::BuildGauge()
                    .Name("overlapd_buffer_bytes")
                    .Help("Bytes of the shared buffers of the buffer lane, by state")
                    .Register(*metrics);
  const char* states[2] = {"registered", "released"};
  for (int i = 0; i < 2; ++i) {
    buffers_[i] = &buffers.Add({{"state", states[i]}});
    bytes_[i] = &bytes.Add({{"state", states[i]}});
  }
}

void BufferRegistry::Gauges(int64_t buffers, int64_t bytes, bool registered) {
  const int i = registered ? 0 : 1;
  if (buffers_[i] == nullptr) return;
  buffers_[i]->Increment(static_cast<double>(buffers));
  bytes_[i]->Increment(static_cast<double>(bytes));
}

uint64_t BufferRegistry::Open() {
  absl::MutexLock lock(&mu_);
  const uint64_t conn = next_conn_++;
  conn_bytes_[conn] = 0;
  return conn;
}

absl::StatusOr<BufferRegistry::Registration> BufferRegistry::Register(uint64_t conn, int fd,
                                                     const std::string& owner) {
  uint64_t room = 0;
  {
    absl::MutexLock lock(&mu_);
    room = budget_.per_connection - conn_bytes_[conn];
  }
  // Mapped outside the lock; only the lane's one thread adds to a
  // connection's bytes.
  absl::StatusOr<std::unique_ptr<io::MappedBuffer>> mapped = io::MappedBuffer::Map(fd, room);
  if (!mapped.ok()) return mapped.status();
  const auto size = static_cast<int64_t>((*mapped)->size());
  // The last owner (the registry, or the last op pinning it after its
  // connection closed) unmaps it; a released one leaves the gauges then.
  auto released = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<io::MappedBuffer> buffer(
      mapped->release(), [this, released, size](io::MappedBuffer* b) {
        delete b;
        {
          absl::MutexLock lock(&mu_);
          mapped_bytes_ -= static_cast<uint64_t>(size);
        }
        if (released->load()) Gauges(-1, -size, false);
      });
  std::string handle = NewHandle();
  std::optional<uint64_t> over_budget;  // the bytes that were left
  {
    absl::MutexLock lock(&mu_);
    // Counted before the check, so the deleter's subtraction always matches.
    mapped_bytes_ += static_cast<uint64_t>(size);
    if (mapped_bytes_ > budget_.total) {
      over_budget = budget_.total - (mapped_bytes_ - static_cast<uint64_t>(size));
    } else {
      conn_bytes_[conn] += static_cast<uint64_t>(size);
      by_handle_[handle] = Entry{std::move(buffer), conn, owner, std::move(released)};
    }
  }
  if (over_budget.has_value()) {
    buffer.reset();  // unmapped outside the lock its deleter takes, and uncounted there
    return absl::ResourceExhaustedError(absl::StrCat(
        "the buffer is ", size, " bytes; the server's buffers may take ", *over_budget,
        " more over all connections (--max-buffer-total-bytes)"));
  }
  Gauges(1, size, true);
  return Registration{std::move(handle), static_cast<uint64_t>(size)};
}

void BufferRegistry::Close(uint64_t conn) {
  std::vector<Entry> closed;
  {
    absl::MutexLock lock(&mu_);
    conn_bytes_.erase(conn);
    for (auto it = by_handle_.begin(); it != by_handle_.end();) {
      if (it->second.conn == conn) {
        closed.push_back(std::move(it->second));
        it = by_handle_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Entry& e : closed) {
    const auto size = static_cast<int64_t>(e.buffer->size());
    Gauges(-1, -size, true);
    Gauges(1, size, false);
    e.released->store(true);
    e.buffer.reset();  // unmapped here unless an op still pins it
  }
}

size_t BufferRegistry::registered() const {
  absl::MutexLock lock(&mu_);
  return by_handle_.size();
}

absl::StatusOr<BufferPin> BufferRegistry::Pin(const v1::BufferRef& ref, bool read,
                                              uint64_t read_length, const std::string& owner,
                                              const std::string& field) const {
  BufferPin pin;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_handle_.find(ref.handle());
    if (it == by_handle_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".handle: no buffer has this handle (never registered, or the connection "
                 "to the buffer socket that registered it has closed)"));
    }
    if (it->second.owner != owner) {
      return absl::PermissionDeniedError(
          absl::StrCat(field, ".handle: the buffer was registered with another token"));
    }
    pin.buffer = it->second.buffer;
  }
  const uint64_t size = pin.buffer->size();
  // A read of fixed length needs that much room; a read to EOF whatever
  // is left (the engine fails it if the file has more); a write its length.
  const uint64_t want = read ? read_length : ref.length();
  if (ref.offset() > size || want > size - ref.offset()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": bytes [", ref.offset(), ", ", ref.offset(), " + ", want,
        ") are outside the buffer of ", size, " bytes"));
  }
  pin.data = pin.buffer->data() + ref.offset();
  pin.bytes = read && read_length == 0 ? size - ref.offset() : want;
  return pin;
}

absl::StatusOr<BufferPins> BufferRegistry::Resolve(const v1::Batch& batch,
                                                   const Grant* grant) const {
  BufferPins pins;
  const std::string owner = BufferOwnerOf(grant);
  for (int i = 0; i < batch.ops_size(); ++i) {
    const v1::Op& op = batch.ops(i);
    const bool read = op.has_read() && op.read().has_into();
    const bool write = op.has_write() && op.write().has_from();
    if (!read && !write) continue;
    if (pins.empty()) pins.resize(static_cast<size_t>(batch.ops_size()));
    absl::StatusOr<BufferPin> pin =
        read ? Pin(op.read().into(), true, op.read().length(), owner,
                   absl::StrCat("ops[", i, "].read.into"))
             : Pin(op.write().from(), false, 0, owner, absl::StrCat("ops[", i, "].write.from"));
    if (!pin.ok()) return pin.status();
    pins[static_cast<size_t>(i)] = *std::move(pin);
  }
  return pins;
}

absl::StatusOr<BufferPins> ResolveBuffers(const BufferRegistry* registry, const v1::Batch& batch,
                                          const Grant* grant) {
  if (registry != nullptr) return registry->Resolve(batch, grant);
  for (int i = 0; i < batch.ops_size(); ++i) {
    const v1::Op& op = batch.ops(i);
    if ((op.has_read() && op.read().has_into()) || (op.has_write() && op.write().has_from())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ops[", i, "]: names a shared buffer, but the buffer lane is off on this server "
          "(--buffer-socket)"));
    }
  }
  return BufferPins();
}

}  // namespace overlapd
