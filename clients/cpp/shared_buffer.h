// overlapd::SharedBuffer: memory this process shares with an overlapd on the
// same host (the buffer lane). Reads land in it and writes are taken from it
// by the server's engine directly, on every worker at once, with no byte
// crossing gRPC: Client::ReadInto and Client::WriteFrom.
//
//   auto buf = overlapd::SharedBuffer::Create(1 << 30).value();
//   absl::Status s = buf->Register(caps.buffer_socket(), token);  // once
//   auto got = client->ReadInto("data/big.bin", *buf);            // 1 GiB, one op
//   std::span<char> bytes = buf->span().subspan(0, got->bytes);
//
// The buffer is a memfd (memfd_create), sealed against shrinking so that the
// server's mapping of it can never fault, mapped here and sent to the server
// over its Unix socket (SCM_RIGHTS). The registration lasts while this
// object lives (it holds the socket's connection); destroying it releases
// the server's mapping once the server's ops on it have finished.
#ifndef OVERLAPD_CLIENTS_CPP_SHARED_BUFFER_H_
#define OVERLAPD_CLIENTS_CPP_SHARED_BUFFER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace overlapd {

// One registration over the lane's socket, at the protocol's level (see
// service/buffer_lane.h): what SharedBuffer::Register does, for any fd.
struct LaneRegistration {
  int conn_fd = -1;    // the connection; closing it ends the registration
  std::string handle;  // 16 bytes: BufferRef.handle
  uint64_t bytes = 0;  // the size the server mapped
};
// Connects to `socket_path` and registers `fd` (sent, not taken) with
// `token` ("" without tokens). The server's refusal comes back as its code
// and message (UNAUTHENTICATED, FAILED_PRECONDITION, ...); UNAVAILABLE when
// the socket cannot be reached.
absl::StatusOr<LaneRegistration> RegisterLaneFd(const std::string& socket_path, int fd,
                                                const std::string& token = "");

class SharedBuffer {
 public:
  struct Options {
    // MFD_HUGETLB: 2 MiB pages (fewer faults and TLB misses); needs pages
    // reserved in /proc/sys/vm/nr_hugepages, and `size` a multiple of 2 MiB.
    bool huge_pages = false;
    // Touch every page now (MAP_POPULATE), so no read pays the first touch.
    bool populate = false;
  };

  // A buffer of `size` bytes, mapped and sealed; not yet registered.
  // INVALID_ARGUMENT for size 0; the errno's code when the kernel refuses.
  static absl::StatusOr<std::unique_ptr<SharedBuffer>> Create(uint64_t size,
                                                              const Options& options);
  static absl::StatusOr<std::unique_ptr<SharedBuffer>> Create(uint64_t size) {
    return Create(size, Options());
  }
  ~SharedBuffer();
  SharedBuffer(const SharedBuffer&) = delete;
  SharedBuffer& operator=(const SharedBuffer&) = delete;

  // Registers the buffer with the server listening on `socket_path`
  // (GetCapabilities.buffer_socket); see RegisterLaneFd.
  absl::Status Register(const std::string& socket_path, const std::string& token = "");
  // Ends the registration (closes the connection).
  void Unregister();
  bool registered() const { return conn_fd_ >= 0; }

  // BufferRef.handle; empty until registered.
  const std::string& handle() const { return handle_; }
  std::span<char> span() const { return {data_, size_}; }
  char* data() const { return data_; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_; }

 private:
  SharedBuffer(int fd, char* data, uint64_t size) : fd_(fd), data_(data), size_(size) {}

  const int fd_;
  char* const data_;
  const uint64_t size_;
  int conn_fd_ = -1;
  std::string handle_;
};

// Whether a server whose capabilities are `lane_on` and `socket_path` can
// be reached over the lane from here: OK, or why not (FAILED_PRECONDITION:
// the lane is off; UNAVAILABLE: no such socket here, e.g. another host).
absl::Status LaneReachable(bool lane_on, const std::string& socket_path);

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_SHARED_BUFFER_H_
