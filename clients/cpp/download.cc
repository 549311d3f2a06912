// Client::GetFile, Client::Cat and the read path under them: downloads that
// never replace the local file with a partial one (see client.h), with
// resume and retries.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/local_file.h"
#include "clients/cpp/resume_state.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace internal {
namespace {

// Bytes per Read op of a download: the unit a retry or a resume refetches.
constexpr uint64_t kRangeBytes = 4u << 20;

absl::Status WithNote(const absl::Status& status, absl::string_view note) {
  return absl::Status(status.code(), absl::StrCat(status.message(), "; ", note));
}

}  // namespace

// One GetFile: LOCAL.partial is filled range by range, then renamed over
// LOCAL.
class Downloader {
 public:
  Downloader(Client& client, const GetOptions& options, const ProgressFn& progress)
      : client_(client), options_(options), progress_(progress) {}

  absl::StatusOr<TransferResult> Run(const std::string& remote, const std::string& local);

 private:
  absl::StatusOr<v1::FileInfo> StatRemote(const std::string& remote);
  absl::Status OpenPartial(const std::string& remote, const v1::FileInfo& info,
                           const ChunkPlan& plan, std::vector<bool>* need);
  absl::Status ReusePartial(const std::string& remote, const ChunkPlan& plan,
                            std::vector<bool>* need);
  absl::Status FetchAll(const std::string& remote, const ChunkPlan& plan,
                        std::vector<bool>* need);
  absl::Status FetchBatch(const std::string& remote, const ChunkPlan& plan,
                          const std::vector<uint64_t>& indexes, std::vector<bool>* need);
  absl::Status Finish(const std::string& remote, const v1::FileInfo& info);
  absl::Status Failed(const absl::Status& status);

  // The buffer lane's window: ranges land there (at slot_[tag]) instead of
  // in events; null on the gRPC path. One batch fills it at most, and its
  // ranges read at once: a smaller window makes ranges complete in turn, so
  // that an interrupted get leaves whole ranges for --resume (and the
  // shared buffer small), at the cost of a round trip per 32 MiB.
  static constexpr uint64_t kLaneWindow = 32u << 20;
  SharedBuffer* lane_ = nullptr;
  std::vector<uint64_t> slot_;

  Client& client_;
  const GetOptions& options_;
  const ProgressFn& progress_;
  std::string local_;
  std::string partial_;
  std::string state_file_;
  ScopedFd fd_;
  TransferResult result_;
  uint64_t done_ = 0;
};

absl::StatusOr<TransferResult> Downloader::Run(const std::string& remote,
                                               const std::string& local) {
  local_ = local;
  partial_ = PartialFileFor(local);
  state_file_ = ResumeFileFor(local);
  // Nothing local is created before the remote file is known to exist.
  OVERLAPD_ASSIGN_OR_RETURN(const v1::FileInfo info, StatRemote(remote));
  if (info.type() != v1::FILE_TYPE_REGULAR) {
    return absl::InvalidArgumentError(absl::StrCat(remote, ": not a regular file"));
  }
  const ChunkPlan plan{info.size(), kRangeBytes};
  // An empty file has one empty chunk, and a Read of length 0 means "to EOF".
  std::vector<bool> need(plan.chunk_count(), info.size() > 0);
  result_.bytes = info.size();
  absl::Status status = OpenPartial(remote, info, plan, &need);
  if (status.ok()) status = FetchAll(remote, plan, &need);
  if (status.ok()) status = Finish(remote, info);
  if (!status.ok()) return Failed(status);
  return result_;
}

absl::StatusOr<v1::FileInfo> Downloader::StatRemote(const std::string& remote) {
  absl::StatusOr<v1::FileInfo> info;
  OVERLAPD_RETURN_IF_ERROR(Retry(options_.retry, options_.on_retry, [&](int attempt) {
    if (attempt > 0) ++result_.retries;
    absl::StatusOr<std::vector<absl::StatusOr<v1::FileInfo>>> stat = client_.Stat({remote});
    if (!stat.ok()) return stat.status();
    info = std::move((*stat)[0]);
    return info.status();
  }, [&] { return client_.cancelled(); }));
  return info;
}

// Opens LOCAL.partial: with resume and a state that matches the remote
// file, keeps it and marks the ranges that already match; otherwise starts
// it empty. With resume, records the remote file's size and mtime.
absl::Status Downloader::OpenPartial(const std::string& remote, const v1::FileInfo& info,
                                     const ChunkPlan& plan, std::vector<bool>* need) {
  const ResumeState want{"get", remote, "", info.size(), info.mtime_ns()};
  bool reuse = false;
  if (options_.resume) {
    std::optional<ResumeState> saved = LoadResumeState(state_file_);
    reuse = saved.has_value() && saved->SameTransfer(want);
  }
  const int flags = O_RDWR | O_CREAT | O_CLOEXEC | (reuse ? 0 : O_TRUNC);
  fd_.reset(::open(partial_.c_str(), flags, 0666));
  if (fd_.get() < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", partial_));
  if (options_.resume) OVERLAPD_RETURN_IF_ERROR(SaveResumeState(state_file_, want));
  if (reuse && info.size() > 0) return ReusePartial(remote, plan, need);
  return absl::OkStatus();
}

absl::Status Downloader::ReusePartial(const std::string& remote, const ChunkPlan& plan,
                                      std::vector<bool>* need) {
  std::vector<Client::Range> ranges;
  for (uint64_t i = 0; i < plan.chunk_count(); ++i) {
    ranges.emplace_back(plan.offset(i), plan.length(i));
  }
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<std::optional<uint32_t>> crcs,
                           client_.RemoteCrcs(remote, ranges));
  for (uint64_t i = 0; i < plan.chunk_count(); ++i) {
    if (!crcs[i].has_value()) continue;
    // A partial file shorter than this range (ABORTED) needs it fetched.
    absl::StatusOr<uint32_t> local =
        LocalRangeCrc(fd_.get(), plan.offset(i), plan.length(i), partial_);
    if (!local.ok() || *local != *crcs[i]) continue;
    (*need)[i] = false;
    result_.reused += plan.length(i);
  }
  done_ = result_.reused;
  return absl::OkStatus();
}

// Fetches every range `need` marks, in batches of at most max_ops_per_batch
// Read ops, retrying transient failures; a retry fetches only the ranges
// that have not completed.
absl::Status Downloader::FetchAll(const std::string& remote, const ChunkPlan& plan,
                                  std::vector<bool>* need) {
  OVERLAPD_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps,
                           client_.OptionalCapabilities());
  const size_t per_batch =
      caps != nullptr && caps->max_ops_per_batch() > 0 ? caps->max_ops_per_batch() : 1024;
  OVERLAPD_ASSIGN_OR_RETURN(lane_, client_.LaneBuffer(std::min(plan.size, kLaneWindow)));
  slot_.assign(plan.chunk_count(), 0);
  return Retry(options_.retry, options_.on_retry, [&](int attempt) {
    if (attempt > 0) ++result_.retries;
    std::vector<uint64_t> indexes;
    uint64_t bytes = 0;  // of the batch: on the lane, at most the window
    for (uint64_t i = 0; i < need->size(); ++i) {
      if (!(*need)[i]) continue;
      if (lane_ != nullptr && bytes + plan.length(i) > lane_->size() && !indexes.empty()) {
        OVERLAPD_RETURN_IF_ERROR(FetchBatch(remote, plan, indexes, need));
        indexes.clear();
        bytes = 0;
      }
      slot_[i] = bytes;
      bytes += plan.length(i);
      indexes.push_back(i);
      if (indexes.size() == per_batch) {
        OVERLAPD_RETURN_IF_ERROR(FetchBatch(remote, plan, indexes, need));
        indexes.clear();
        bytes = 0;
      }
    }
    if (indexes.empty()) return absl::OkStatus();
    return FetchBatch(remote, plan, indexes, need);
  }, [&] { return client_.cancelled(); });
}

// One Execute of one Read op per range (tag = range index). A range is done
// when its READ_COMPLETE says it read the whole range and every one of its
// chunks arrived inside it with a matching CRC32C.
absl::Status Downloader::FetchBatch(const std::string& remote, const ChunkPlan& plan,
                                    const std::vector<uint64_t>& indexes,
                                    std::vector<bool>* need) {
  v1::Batch batch;
  for (uint64_t i : indexes) {
    v1::Op* op = batch.add_ops();
    op->set_tag(i);
    v1::Read* read = op->mutable_read();
    read->set_path(remote);
    read->set_offset(plan.offset(i));
    read->set_length(plan.length(i));
    if (lane_ != nullptr) {
      read->mutable_into()->set_handle(lane_->handle());
      read->mutable_into()->set_offset(slot_[i]);
    }
  }
  std::vector<uint64_t> received(plan.chunk_count(), 0);
  return client_.ExecuteUntil(batch, [&](v1::Event& event) -> absl::Status {
    if (IsFailure(event)) return EventStatus(event);
    if (event.type() == v1::BATCH_COMPLETE) return absl::OkStatus();
    if (event.tag() >= plan.chunk_count() || !(*need)[event.tag()]) {
      return absl::InternalError(absl::StrFormat("event for unexpected tag %d", event.tag()));
    }
    const uint64_t i = event.tag();
    if (event.type() == v1::READ_COMPLETE) {
      if (event.bytes() != plan.length(i) || received[i] != plan.length(i)) {
        return absl::AbortedError(absl::StrFormat(
            "%s: read %d of %d bytes at offset %d: the file changed during the download",
            remote, received[i], plan.length(i), plan.offset(i)));
      }
      (*need)[i] = false;
      return absl::OkStatus();
    }
    if (event.type() != v1::READ_CHUNK) return absl::OkStatus();
    // On the lane the chunk is in the window, at its range's slot.
    const uint64_t size = lane_ != nullptr ? event.bytes() : event.data().size();
    if (lane_ != nullptr && (event.offset() < plan.offset(i) ||
                             event.offset() + size > plan.offset(i) + plan.length(i))) {
      return absl::DataLossError(absl::StrFormat("%s: chunk at offset %d is outside its range",
                                                 remote, event.offset()));
    }
    const absl::string_view data =
        lane_ != nullptr
            ? absl::string_view(lane_->data() + slot_[i] + (event.offset() - plan.offset(i)), size)
            : absl::string_view(event.data());
    const uint32_t crc = Crc32c(data);
    if (crc != event.crc32c()) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d: crc32c %08x, server said %08x", remote,
          event.offset(), crc, event.crc32c()));
    }
    if (event.offset() < plan.offset(i) ||
        event.offset() + size > plan.offset(i) + plan.length(i)) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d (%d bytes) is outside the requested range",
          remote, event.offset(), size));
    }
    OVERLAPD_RETURN_IF_ERROR(PwriteAll(fd_.get(), data, event.offset(), partial_));
    received[i] += size;
    result_.sent += size;
    done_ += size;
    if (progress_) progress_(done_, plan.size);
    return absl::OkStatus();
  });
}

// Publishes LOCAL.partial as LOCAL, unless the remote file changed while it
// was read (then the parts may be of two versions).
absl::Status Downloader::Finish(const std::string& remote, const v1::FileInfo& info) {
  OVERLAPD_ASSIGN_OR_RETURN(const v1::FileInfo now, StatRemote(remote));
  if (now.size() != info.size() || now.mtime_ns() != info.mtime_ns()) {
    return absl::AbortedError(absl::StrCat(
        remote, ": the file changed during the download (size or mtime)"));
  }
  // A partial file from an earlier, longer version may extend past the end.
  if (::ftruncate(fd_.get(), static_cast<off_t>(info.size())) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("truncate ", partial_));
  }
  if (options_.durable) OVERLAPD_RETURN_IF_ERROR(SyncFileAndDir(fd_.get(), local_));
  OVERLAPD_RETURN_IF_ERROR(fd_.Close(partial_));
  if (std::rename(partial_.c_str(), local_.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("rename ", partial_, " to ", local_));
  }
  if (options_.durable) {
    ScopedFd dir(::open(ParentDir(local_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());
  }
  if (options_.resume) RemoveQuietly(state_file_);
  return absl::OkStatus();
}

absl::Status Downloader::Failed(const absl::Status& status) {
  absl::Status reported =
      client_.cancelled() ? absl::CancelledError("get interrupted") : status;
  fd_.Close(partial_).IgnoreError();
  if (options_.resume) {
    return WithNote(reported, absl::StrCat(local_, " is unchanged; ",
                                           result_.sent + result_.reused,
                                           " bytes kept in ", partial_,
                                           " for the next get --resume"));
  }
  RemoveQuietly(partial_);
  return WithNote(reported, absl::StrCat(local_, " is unchanged"));
}

}  // namespace internal

absl::StatusOr<TransferResult> Client::GetFile(const std::string& remote_path,
                                               const std::string& local_path,
                                               const GetOptions& options,
                                               const ProgressFn& progress) {
  return internal::Downloader(*this, options, progress).Run(remote_path, local_path);
}

absl::StatusOr<uint64_t> Client::ReadRange(
    const std::string& path, uint64_t offset, uint64_t length,
    const std::function<absl::Status(v1::Event&)>& on_chunk) {
  v1::Batch batch;
  v1::Read* read = batch.add_ops()->mutable_read();
  read->set_path(path);
  read->set_offset(offset);
  read->set_length(length);
  uint64_t received = 0;
  uint64_t total = 0;
  bool complete = false;
  OVERLAPD_RETURN_IF_ERROR(ExecuteUntil(batch, [&](v1::Event& event) {
    if (internal::IsFailure(event)) return internal::EventStatus(event);
    if (event.type() == v1::READ_COMPLETE) {
      complete = true;
      total = event.bytes();
      return absl::OkStatus();
    }
    if (event.type() != v1::READ_CHUNK) return absl::OkStatus();
    const uint64_t size = event.data().size();
    const uint32_t crc = internal::Crc32c(event.data());
    if (crc != event.crc32c()) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d: crc32c %08x, server said %08x", path,
          event.offset(), crc, event.crc32c()));
    }
    // The chunk is written where it says; refuse one outside the request.
    if (event.offset() < offset ||
        (length != 0 && event.offset() + size > offset + length)) {
      return absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d (%d bytes) is outside the requested range",
          path, event.offset(), size));
    }
    received += size;
    return on_chunk(event);
  }));
  if (!complete) return absl::InternalError("read ended without READ_COMPLETE");
  if (received != total) {
    return absl::DataLossError(absl::StrFormat(
        "%s: received %d bytes in chunks, READ_COMPLETE says %d", path,
        received, total));
  }
  return total;
}

absl::StatusOr<uint64_t> Client::Cat(
    const std::string& remote_path,
    const std::function<absl::Status(absl::string_view)>& sink,
    uint64_t window_bytes) {
  OVERLAPD_ASSIGN_OR_RETURN(std::unique_ptr<v1::Capabilities> caps,
                           OptionalCapabilities());
  uint64_t window = window_bytes == 0 ? (16u << 20) : window_bytes;
  if (caps != nullptr && caps->max_read_bytes() > 0) {
    window = std::min(window, caps->max_read_bytes());
  }
  OVERLAPD_ASSIGN_OR_RETURN(SharedBuffer* lane, LaneBuffer(window));
  if (lane != nullptr) {
    // Each window lands whole in the shared buffer, in file order.
    for (uint64_t offset = 0;;) {
      OVERLAPD_ASSIGN_OR_RETURN(ReadIntoResult got,
                                ReadInto(remote_path, *lane, {.offset = offset, .length = window}));
      OVERLAPD_RETURN_IF_ERROR(sink(absl::string_view(lane->data(), got.bytes)));
      offset += got.bytes;
      if (got.bytes < window) return offset;
    }
  }
  internal::ReorderBuffer reorder(0, sink);
  uint64_t offset = 0;
  for (;;) {
    OVERLAPD_ASSIGN_OR_RETURN(
        const uint64_t got,
        ReadRange(remote_path, offset, window, [&](v1::Event& chunk) {
          return reorder.Add(chunk.offset(),
                             std::move(*chunk.mutable_data()));
        }));
    offset += got;
    if (reorder.next_offset() != offset) {
      return absl::DataLossError(absl::StrFormat(
          "%s: missing bytes at offset %d", remote_path, reorder.next_offset()));
    }
    if (got < window) break;
  }
  return offset;
}

}  // namespace overlapd
