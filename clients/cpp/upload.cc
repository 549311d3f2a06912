// Client::PutFile and Client::PutStream: uploads that never leave a
// half-written target (see client.h), with resume and retries.
#include <fcntl.h>

#include <cerrno>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/cpp/chunk_uploader.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/local_file.h"
#include "clients/cpp/resume_state.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace internal {
namespace {

uint64_t RandomU64() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// `status` with `note` appended to its message.
absl::Status WithNote(const absl::Status& status, absl::string_view note) {
  return absl::Status(status.code(), absl::StrCat(status.message(), "; ", note));
}

}  // namespace

// One PutFile or PutStream. Where the bytes go: straight into the target
// (in_place), in one REPLACE_ATOMIC op (small files), or into a temp file
// that Publish renames over the target.
class Uploader {
 public:
  Uploader(Client& client, const PutOptions& options, const ProgressFn& progress)
      : client_(client), options_(options), progress_(progress) {}

  absl::StatusOr<TransferResult> PutFile(const std::string& local,
                                         const std::string& remote);
  absl::StatusOr<TransferResult> PutStream(int fd, const std::string& remote);

 private:
  absl::Status Prepare();
  absl::Status PutSmall(int fd, uint64_t size, const std::string& remote);
  absl::StatusOr<std::string> NewTemp(const std::string& remote);
  absl::Status ReuseTemp(int fd, const ChunkPlan& plan, const std::string& temp,
                         std::vector<bool>* need);
  absl::Status SendFile(int fd, const ChunkPlan& plan, const std::string& path,
                        bool truncate_first, std::vector<bool>* need,
                        const v1::Batch* tail = nullptr,
                        ChunkUploader::Options::TailState* tail_state = nullptr);
  // `maybe_renamed`: a rename was sent before and its outcome is unknown.
  absl::Status Publish(const std::string& temp, const std::string& remote,
                       uint64_t size, bool maybe_renamed = false);
  v1::Batch PublishBatch(const std::string& temp, const std::string& remote) const;
  absl::Status SyncInPlace(const std::string& remote);
  absl::Status Failed(const absl::Status& status, const std::string& remote,
                      const std::string& temp, bool keep_temp);
  void Acked(uint64_t bytes, uint64_t total);

  Client& client_;
  const PutOptions& options_;
  const ProgressFn& progress_;
  std::unique_ptr<v1::Capabilities> caps_;
  uint64_t chunk_bytes_ = 0;
  uint32_t inflight_ = 0;
  TransferResult result_;
  uint64_t done_ = 0;  // bytes at the destination so far, for progress
};

absl::Status Uploader::Prepare() {
  absl::Status status = Retry(options_.retry, options_.on_retry, [&](int) {
    absl::StatusOr<std::unique_ptr<v1::Capabilities>> caps =
        client_.OptionalCapabilities();
    if (caps.ok()) caps_ = *std::move(caps);
    return caps.status();
  }, [&] { return client_.cancelled(); });
  chunk_bytes_ = EffectiveChunkBytes(options_.chunk_bytes, caps_.get());
  inflight_ = EffectiveInflight(options_.inflight, caps_.get());
  return status;
}

void Uploader::Acked(uint64_t bytes, uint64_t total) {
  result_.sent += bytes;
  done_ += bytes;
  if (progress_) progress_(done_, total);
}

absl::StatusOr<TransferResult> Uploader::PutFile(const std::string& local,
                                                 const std::string& remote) {
  ScopedFd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, absl::StrCat("open ", local));
  OVERLAPD_ASSIGN_OR_RETURN(const LocalFileInfo info, StatRegularFile(fd.get(), local));
  OVERLAPD_RETURN_IF_ERROR(Prepare());
  result_.bytes = info.size;
  const ChunkPlan plan{info.size, chunk_bytes_};
  std::vector<bool> need(plan.chunk_count(), true);
  if (options_.in_place) {
    absl::Status status = SendFile(fd.get(), plan, remote, true, &need);
    if (status.ok()) status = SyncInPlace(remote);
    if (!status.ok()) return Failed(status, remote, "", false);
    return result_;
  }
  if (info.size <= SingleWriteOpBytes(caps_.get(), chunk_bytes_)) {
    OVERLAPD_RETURN_IF_ERROR(PutSmall(fd.get(), info.size, remote));
    return result_;
  }
  const ResumeState want{"put", remote, "", info.size, info.mtime_ns};
  const std::string state_file = ResumeFileFor(local);
  std::string temp;
  if (options_.resume) {
    std::optional<ResumeState> saved = LoadResumeState(state_file);
    if (saved.has_value() && saved->SameTransfer(want) && !saved->temp_path.empty()) {
      absl::Status reuse = ReuseTemp(fd.get(), plan, saved->temp_path, &need);
      if (reuse.ok()) {
        temp = saved->temp_path;
      } else if (reuse.code() != absl::StatusCode::kNotFound) {
        return reuse;  // the temp was there but could not be checked
      }
    }
  }
  if (temp.empty()) {
    OVERLAPD_ASSIGN_OR_RETURN(temp, NewTemp(remote));
  }
  if (options_.resume) {
    ResumeState state = want;
    state.temp_path = temp;
    OVERLAPD_RETURN_IF_ERROR(SaveResumeState(state_file, state));
  }
  // A temp file is fresh or checked: written at offsets only (no truncate,
  // which a late retry could replay over acknowledged chunks); Publish
  // checks its size.
  // The rename goes on the upload's own stream (see ChunkUploader::Options::
  // tail); Publish, over a call of its own, when that did not happen.
  // The temp is fresh, or each of its chunks was checked against the local
  // file of the same size: its size is the file's, which Publish would check.
  const v1::Batch publish = PublishBatch(temp, remote);
  ChunkUploader::Options::TailState tail;
  absl::Status status =
      SendFile(fd.get(), plan, temp, /*truncate_first=*/false, &need, &publish, &tail);
  if (status.ok() && !tail.done) status = Publish(temp, remote, info.size, tail.sent);
  if (!status.ok()) return Failed(status, remote, temp, options_.resume);
  if (options_.resume) RemoveQuietly(state_file);
  return result_;
}

absl::StatusOr<TransferResult> Uploader::PutStream(int fd, const std::string& remote) {
  OVERLAPD_RETURN_IF_ERROR(Prepare());
  std::string path = remote;
  if (!options_.in_place) {
    OVERLAPD_ASSIGN_OR_RETURN(path, NewTemp(remote));
  }
  StreamChunks source(fd, chunk_bytes_, "stdin");
  ChunkUploader uploader(client_.stub_.get(), client_.cancel_,
                         {path, /*truncate_first=*/options_.in_place, inflight_},
                         [&](uint64_t, uint64_t bytes) { Acked(bytes, 0); });
  // Input once read cannot be read again: no retries here.
  absl::Status status = uploader.Run(source);
  result_.bytes = source.size();
  if (status.ok()) {
    status = options_.in_place ? SyncInPlace(remote) : Publish(path, remote, source.size());
  }
  if (!status.ok()) {
    return Failed(status, remote, options_.in_place ? "" : path, false);
  }
  return result_;
}

// The whole file in one WRITE_MODE_REPLACE_ATOMIC op: the server writes a
// temp file, fsyncs it and renames it over the target.
absl::Status Uploader::PutSmall(int fd, uint64_t size, const std::string& remote) {
  v1::Batch batch;
  v1::Write* write = batch.add_ops()->mutable_write();
  write->set_path(remote);
  write->set_mode(v1::WRITE_MODE_REPLACE_ATOMIC);
  // FULL adds the directory fsync that makes the rename itself durable.
  write->set_durability(options_.durable ? v1::DURABILITY_FULL : v1::DURABILITY_NONE);
  std::string* data = write->mutable_data();
  data->resize(size);
  OVERLAPD_RETURN_IF_ERROR(PreadExact(fd, data->data(), size, 0, remote));
  write->set_expected_crc32c(Crc32c(*data));
  absl::Status status = Retry(options_.retry, options_.on_retry, [&](int attempt) {
    if (attempt > 0) ++result_.retries;
    OVERLAPD_ASSIGN_OR_RETURN(v1::Event done,
                             client_.RunSingleOp(batch.ops(0), v1::WRITE_COMPLETE));
    if (done.bytes() != size) {
      return absl::DataLossError(absl::StrFormat(
          "%s: server wrote %d of %d bytes", remote, done.bytes(), size));
    }
    return absl::OkStatus();
  }, [&] { return client_.cancelled(); });
  if (!status.ok()) return Failed(status, remote, "", false);
  result_.sent = size;
  if (progress_) progress_(size, size);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Uploader::NewTemp(const std::string& remote) {
  absl::StatusOr<v1::Upload> upload;
  absl::Status status = Retry(options_.retry, options_.on_retry, [&](int) {
    upload = client_.BeginUpload(remote);
    return upload.status();
  }, [&] { return client_.cancelled(); });
  // A server that predates BeginUpload: a name of our own, which its sweep
  // will not know to remove if this client dies before cleaning up.
  if (status.code() == absl::StatusCode::kUnimplemented) {
    return TempNameFor(remote, RandomU64());
  }
  OVERLAPD_RETURN_IF_ERROR(status);
  if (upload->temp_path().empty()) {
    return absl::InternalError("BeginUpload returned no temp_path");
  }
  return upload->temp_path();
}

// Resume: marks as not needed every chunk whose CRC32C in the remote temp
// file matches the local file's. NOT_FOUND: the temp is gone (e.g. swept).
absl::Status Uploader::ReuseTemp(int fd, const ChunkPlan& plan,
                                 const std::string& temp, std::vector<bool>* need) {
  std::vector<Client::Range> ranges;
  for (uint64_t i = 0; i < plan.chunk_count(); ++i) {
    ranges.emplace_back(plan.offset(i), plan.length(i));
  }
  OVERLAPD_ASSIGN_OR_RETURN(std::vector<std::optional<uint32_t>> remote,
                           client_.RemoteCrcs(temp, ranges));
  for (uint64_t i = 0; i < plan.chunk_count(); ++i) {
    if (!remote[i].has_value() || plan.length(i) == 0) continue;
    OVERLAPD_ASSIGN_OR_RETURN(const uint32_t local,
                             LocalRangeCrc(fd, plan.offset(i), plan.length(i), temp));
    if (local != *remote[i]) continue;
    (*need)[i] = false;
    result_.reused += plan.length(i);
  }
  done_ = result_.reused;
  return absl::OkStatus();
}

// Sends the chunks `need` marks, retrying transient failures; a retry sends
// only the chunks not yet acknowledged.
absl::Status Uploader::SendFile(int fd, const ChunkPlan& plan, const std::string& path,
                                bool truncate_first, std::vector<bool>* need,
                                const v1::Batch* tail,
                                ChunkUploader::Options::TailState* tail_state) {
  bool any_acked = false;
  return Retry(options_.retry, options_.on_retry, [&](int attempt) {
    if (attempt > 0) ++result_.retries;
    FileChunks source(fd, plan, *need, path);
    // Once a chunk is acknowledged a truncate would wipe it: a retry writes
    // at offsets only, and Publish checks the size.
    ChunkUploader uploader(client_.stub_.get(), client_.cancel_,
                           {path, truncate_first && !any_acked, inflight_,
                            // A tail whose outcome is unknown is not sent
                            // again: Publish finds out what happened.
                            tail_state != nullptr && tail_state->sent ? nullptr : tail,
                            tail_state},
                           [&](uint64_t offset, uint64_t bytes) {
                             (*need)[offset / plan.chunk_bytes] = false;
                             any_acked = true;
                             Acked(bytes, plan.size);
                           });
    return uploader.Run(source);
  }, [&] { return client_.cancelled(); });
}

// Renames the finished temp file over the target, after checking its size
// (a resumed or retried upload writes at offsets and never truncates).
// durable: fsync the temp file before and the directory after the rename,
// in one linked chain.
// The rename of the finished temp file over the target; durable: fsync the
// temp file before and the directory after, in one linked chain.
v1::Batch Uploader::PublishBatch(const std::string& temp, const std::string& remote) const {
  v1::Batch batch;
  if (options_.durable) {
    v1::Op* sync = batch.add_ops();
    sync->set_link_next(true);
    sync->mutable_fsync()->set_path(temp);
  }
  v1::Op* rename = batch.add_ops();
  rename->mutable_rename()->set_src(temp);
  rename->mutable_rename()->set_dst(remote);
  if (options_.durable) {
    rename->set_link_next(true);
    batch.add_ops()->mutable_fsync()->set_path(ParentDir(remote));
  }
  for (int i = 0; i < batch.ops_size(); ++i) batch.mutable_ops(i)->set_tag(i);
  return batch;
}

absl::Status Uploader::Publish(const std::string& temp, const std::string& remote,
                               uint64_t size, bool maybe_renamed) {
  bool renamed_before = maybe_renamed;
  return Retry(options_.retry, options_.on_retry, [&](int attempt) -> absl::Status {
    if (attempt > 0) ++result_.retries;
    OVERLAPD_ASSIGN_OR_RETURN(auto stat, client_.Stat({temp}));
    if (!stat[0].ok() && stat[0].status().code() == absl::StatusCode::kNotFound &&
        renamed_before) {
      // The last attempt's rename may have happened before its answer was
      // lost: the target then has the temp's size.
      OVERLAPD_ASSIGN_OR_RETURN(auto target, client_.Stat({remote}));
      if (target[0].ok() && target[0]->size() == size) return absl::OkStatus();
    }
    OVERLAPD_RETURN_IF_ERROR(stat[0].status());
    if (stat[0]->size() != size) {
      return absl::DataLossError(absl::StrFormat(
          "%s holds %d bytes, expected %d; %s was not replaced", temp,
          stat[0]->size(), size, remote));
    }
    const v1::Batch batch = PublishBatch(temp, remote);
    int completed = 0;
    renamed_before = true;
    absl::Status status = client_.ExecuteUntil(batch, [&](v1::Event& event) {
      if (IsFailure(event)) return EventStatus(event);
      if (event.type() == v1::RENAME_COMPLETE || event.type() == v1::FSYNC_COMPLETE) {
        ++completed;
      }
      return absl::OkStatus();
    });
    if (status.ok() && completed != batch.ops_size()) {
      return absl::InternalError(absl::StrFormat(
          "rename of %s: %d of %d ops reported completion", temp, completed,
          batch.ops_size()));
    }
    return status;
  }, [&] { return client_.cancelled(); });
}

absl::Status Uploader::SyncInPlace(const std::string& remote) {
  if (!options_.durable) return absl::OkStatus();
  v1::Batch batch;
  v1::Op* sync = batch.add_ops();
  sync->set_link_next(true);
  sync->mutable_fsync()->set_path(remote);
  v1::Op* dir = batch.add_ops();
  dir->set_tag(1);
  dir->mutable_fsync()->set_path(ParentDir(remote));
  int completed = 0;
  OVERLAPD_RETURN_IF_ERROR(client_.ExecuteUntil(batch, [&](v1::Event& event) {
    if (IsFailure(event)) return EventStatus(event);
    if (event.type() == v1::FSYNC_COMPLETE) ++completed;
    return absl::OkStatus();
  }));
  if (completed != 2) return absl::InternalError("fsync ended without FSYNC_COMPLETE");
  return absl::OkStatus();
}

// Cleans up after `status` and says what the target looks like now.
absl::Status Uploader::Failed(const absl::Status& status, const std::string& remote,
                              const std::string& temp, bool keep_temp) {
  const bool interrupted = client_.cancelled();
  absl::Status reported = status;
  if (interrupted) reported = absl::CancelledError("put interrupted");
  if (options_.in_place) {
    return WithNote(reported, absl::StrCat(remote, " may be partly written (--in-place)"));
  }
  if (!temp.empty() && !keep_temp) {
    Client::Uncancellable cleanup(client_);
    v1::Op remove;
    remove.mutable_delete_()->set_path(temp);
    // Best effort: the upload already failed with a more useful error.
    client_.RunSingleOp(remove, v1::DELETE_COMPLETE).status().IgnoreError();
  }
  std::string note = absl::StrCat(remote, " is unchanged");
  if (keep_temp) {
    absl::StrAppend(&note, "; ", result_.sent + result_.reused,
                    " bytes kept for the next put --resume");
  }
  return WithNote(reported, note);
}

}  // namespace internal

absl::StatusOr<TransferResult> Client::PutFile(const std::string& local_path,
                                               const std::string& remote_path,
                                               const PutOptions& options,
                                               const ProgressFn& progress) {
  return internal::Uploader(*this, options, progress).PutFile(local_path, remote_path);
}

absl::StatusOr<TransferResult> Client::PutStream(int fd, const std::string& remote_path,
                                                 const PutOptions& options,
                                                 const ProgressFn& progress) {
  return internal::Uploader(*this, options, progress).PutStream(fd, remote_path);
}

}  // namespace overlapd
