// overlap: the command-line client of overlapd.
//
//   overlap [--server HOST:PORT] [--json] COMMAND ...
//
// Exit status: 0 on success, 1 when the command failed (each failure is one
// stderr line "overlap: <CODE_NAME>: <message>"), 2 on a usage error.
// Results go to stdout: plain columns, or with --json one JSON object per
// line per result or event (conventions in cli_common.h). Progress of
// put/get goes to stderr, only when stderr is a terminal.
//
// File commands (put, get, cat, stat, ls, read, caps, cp, mv, rm, mkdir) live
// here; the job and event commands (backup, submit, jobs, job, cancel, watch)
// in commands_jobs.cc.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/bench.h"
#include "clients/cpp/commands_health.h"
#include "clients/cpp/commands_jobs.h"
#include "clients/cpp/status_macros.h"

namespace overlapd {
namespace {

using nlohmann::json;
using cli::AddCommand;
using cli::ErrorJson;
using cli::EventJson;
using cli::FileInfoJson;
using cli::FileTypeName;
using cli::FormatTimeNs;
using cli::GlobalOptions;
using cli::HumanBytes;
using cli::IsReported;
using cli::JobCommands;
using cli::kExitFailure;
using cli::kExitUsage;
using cli::LatencyMicros;
using cli::PrintError;
using cli::PrintJson;
using cli::Reported;

// Progress line on stderr for put/get, redrawn at most ten times a second;
// silent unless stderr is a terminal (scripts and logs get no \r noise).
class TtyProgress {
 public:
  explicit TtyProgress(std::string label)
      : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {}

  ProgressFn Callback() {
    if (!enabled_) return nullptr;
    return [this](uint64_t done, uint64_t total) { Draw(done, total); };
  }

  // Ends the progress line so later output starts on a fresh line.
  void Done() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  void Draw(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && done != total && now - last_ < std::chrono::milliseconds(100)) {
      return;
    }
    last_ = now;
    drawn_ = true;
    if (total > 0) {
      std::fprintf(stderr, "\r%s: %s / %s (%d%%)\x1b[K", label_.c_str(),
                   HumanBytes(done).c_str(), HumanBytes(total).c_str(),
                   static_cast<int>(done * 100 / total));
    } else {
      std::fprintf(stderr, "\r%s: %s\x1b[K", label_.c_str(),
                   HumanBytes(done).c_str());
    }
    std::fflush(stderr);
  }

  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

// ---------------------------------------------------------------------------
// Commands. Each returns the status main reports.
// ---------------------------------------------------------------------------

// The flags of the commands in this file; GlobalOptions holds --server and
// --json, and commands_jobs.cc keeps its own.
struct Options : GlobalOptions {
  // put / get
  std::string local;
  std::string remote;
  bool durable = false;
  bool atomic = false;
  // cat / stat / read / ls / rm / mkdir
  std::vector<std::string> paths;
  std::string dir = ".";
  uint64_t offset = 0;
  uint64_t length = 0;
  // cp / mv
  std::string src;
  std::string dst;
  bool no_replace = false;
  // rm / mkdir
  bool directory = false;
  bool parents = false;
};

absl::Status RunPut(Client& client, const Options& opt) {
  PutOptions put;
  put.durable = opt.durable;
  put.atomic = opt.atomic;
  TtyProgress progress("put " + opt.remote);
  absl::StatusOr<uint64_t> bytes =
      client.PutFile(opt.local, opt.remote, put, progress.Callback());
  progress.Done();
  OVERLAP_RETURN_IF_ERROR(bytes.status());
  if (opt.json) {
    PrintJson({{"command", "put"}, {"local", opt.local}, {"remote", opt.remote},
               {"bytes", *bytes}, {"durable", opt.durable},
               {"atomic", opt.atomic}});
  }
  return absl::OkStatus();
}

absl::Status RunGet(Client& client, const Options& opt) {
  TtyProgress progress("get " + opt.remote);
  absl::StatusOr<uint64_t> bytes =
      client.GetFile(opt.remote, opt.local, progress.Callback());
  progress.Done();
  OVERLAP_RETURN_IF_ERROR(bytes.status());
  if (opt.json) {
    PrintJson({{"command", "get"}, {"remote", opt.remote}, {"local", opt.local},
               {"bytes", *bytes}});
  }
  return absl::OkStatus();
}

absl::Status RunCat(Client& client, const Options& opt) {
  // Raw bytes to stdout; --json does not apply to file contents.
  auto sink = [](absl::string_view data) -> absl::Status {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
      return absl::ErrnoToStatus(errno, "write stdout");
    }
    return absl::OkStatus();
  };
  for (const std::string& path : opt.paths) {
    OVERLAP_RETURN_IF_ERROR(client.Cat(path, sink).status());
  }
  if (std::fflush(stdout) != 0) return absl::ErrnoToStatus(errno, "write stdout");
  return absl::OkStatus();
}

absl::Status RunStat(Client& client, const Options& opt) {
  OVERLAP_ASSIGN_OR_RETURN(auto results, client.Stat(opt.paths));
  absl::Status first_error;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      if (opt.json) {
        PrintJson({{"path", opt.paths[i]}, {"error", ErrorJson(results[i].status())}});
      }
      PrintError(results[i].status());
      first_error.Update(results[i].status());
      continue;
    }
    const v1::FileInfo& info = *results[i];
    if (opt.json) {
      json object = FileInfoJson(info);
      object.erase("name");
      object["path"] = opt.paths[i];
      PrintJson(object);
    } else {
      std::cout << absl::StrFormat("%s %s %d %04o %s\n", opt.paths[i],
                                   FileTypeName(info.type()), info.size(),
                                   info.mode(), FormatTimeNs(info.mtime_ns()));
    }
  }
  return first_error.ok() ? first_error : Reported(first_error);
}

absl::Status RunList(Client& client, const Options& opt) {
  OVERLAP_ASSIGN_OR_RETURN(std::vector<v1::FileInfo> entries,
                           client.List(opt.dir));
  for (const v1::FileInfo& entry : entries) {
    if (opt.json) {
      PrintJson(FileInfoJson(entry));
    } else {
      std::cout << absl::StrFormat("%-7s %12d %s %s\n", FileTypeName(entry.type()),
                                   entry.size(), FormatTimeNs(entry.mtime_ns()),
                                   entry.name());
    }
  }
  return absl::OkStatus();
}

absl::Status RunRead(Client& client, const Options& opt) {
  v1::Batch batch;
  for (size_t i = 0; i < opt.paths.size(); ++i) {
    v1::Op* op = batch.add_ops();
    op->set_tag(i);
    v1::Read* read = op->mutable_read();
    read->set_path(opt.paths[i]);
    read->set_offset(opt.offset);
    read->set_length(opt.length);
  }
  absl::Status first_error;
  OVERLAP_RETURN_IF_ERROR(client.Execute(batch, [&](const v1::Event& event) {
    absl::Status event_status;
    if (event.type() == v1::OP_FAILED || event.type() == v1::OP_CANCELLED) {
      event_status = internal::EventStatus(event);
    } else if (event.type() == v1::READ_CHUNK &&
               internal::Crc32c(event.data()) != event.crc32c()) {
      event_status = absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d: crc32c mismatch", event.path(), event.offset()));
    }
    const uint64_t latency_us = LatencyMicros(event);
    const std::string type = v1::EventType_Name(event.type());
    if (opt.json) {
      PrintJson(EventJson(event, event_status));
    } else {
      std::cout << absl::StrFormat(
          "%d %s %s %d %d %08x %d\n", event.tag(), type,
          event.path().empty() ? "-" : event.path(), event.offset(),
          event.bytes(), event.crc32c(), latency_us);
    }
    if (!event_status.ok()) {
      PrintError(event_status);
      first_error.Update(event_status);
    }
  }));
  return first_error.ok() ? first_error : Reported(first_error);
}

absl::Status RunCopy(Client& client, const Options& opt) {
  OVERLAP_ASSIGN_OR_RETURN(
      const uint64_t bytes,
      client.Copy(opt.src, opt.dst,
                  opt.durable ? v1::DURABILITY_FULL : v1::DURABILITY_NONE));
  if (opt.json) {
    PrintJson({{"command", "cp"}, {"src", opt.src}, {"dst", opt.dst},
               {"bytes", bytes}, {"durable", opt.durable}});
  }
  return absl::OkStatus();
}

absl::Status RunMove(Client& client, const Options& opt) {
  OVERLAP_RETURN_IF_ERROR(client.Rename(opt.src, opt.dst, opt.no_replace));
  if (opt.json) {
    PrintJson({{"command", "mv"}, {"src", opt.src}, {"dst", opt.dst}});
  }
  return absl::OkStatus();
}

// rm and mkdir: one op per path, in order; a failed path is reported at once
// and the others still run, like rm(1) and mkdir(1).
absl::Status ForEachPath(
    const Options& opt, const char* command,
    const std::function<absl::Status(const std::string&)>& run) {
  absl::Status first_error;
  for (const std::string& path : opt.paths) {
    const absl::Status status = run(path);
    if (!status.ok()) {
      if (opt.json) PrintJson({{"path", path}, {"error", ErrorJson(status)}});
      PrintError(status);
      first_error.Update(status);
      // Every path would fail the same way on these; stop repeating it.
      if (status.code() == absl::StatusCode::kUnavailable ||
          status.code() == absl::StatusCode::kUnimplemented ||
          status.code() == absl::StatusCode::kUnauthenticated) {
        break;
      }
    } else if (opt.json) {
      PrintJson({{"command", command}, {"path", path}});
    }
  }
  return first_error.ok() ? first_error : Reported(first_error);
}

absl::Status RunRemove(Client& client, const Options& opt) {
  return ForEachPath(opt, "rm", [&](const std::string& path) {
    return client.Delete(path, opt.directory);
  });
}

absl::Status RunMkdir(Client& client, const Options& opt) {
  return ForEachPath(opt, "mkdir", [&](const std::string& path) {
    return client.Mkdir(path, opt.parents);
  });
}

absl::Status RunCaps(Client& client, const Options& opt) {
  OVERLAP_ASSIGN_OR_RETURN(v1::Capabilities caps, client.Capabilities());
  const std::vector<std::string> features(caps.engine_features().begin(),
                                          caps.engine_features().end());
  const json object = {
      {"server_version", caps.server_version()},
      {"engine", caps.engine()},
      {"workers", caps.workers()},
      {"chunk_bytes", caps.chunk_bytes()},
      {"max_ops_per_batch", caps.max_ops_per_batch()},
      {"max_op_bytes", caps.max_op_bytes()},
      {"max_read_bytes", caps.max_read_bytes()},
      {"max_message_bytes", caps.max_message_bytes()},
      {"max_inflight_ops_per_stream", caps.max_inflight_ops_per_stream()},
      {"max_inflight_read_bytes_per_stream",
       caps.max_inflight_read_bytes_per_stream()},
      {"max_list_entries", caps.max_list_entries()},
      {"max_events_per_message", caps.max_events_per_message()},
      {"engine_features", features}};
  if (opt.json) {
    PrintJson(object);
    return absl::OkStatus();
  }
  // nlohmann's json keeps keys sorted; print in proto order instead.
  for (const char* key :
       {"server_version", "engine", "workers", "chunk_bytes",
        "max_ops_per_batch", "max_op_bytes", "max_read_bytes",
        "max_message_bytes", "max_inflight_ops_per_stream",
        "max_inflight_read_bytes_per_stream", "max_list_entries",
        "max_events_per_message"}) {
    const json& value = object[key];
    std::cout << key << ": "
              << (value.is_string() ? value.get<std::string>() : value.dump())
              << '\n';
  }
  std::cout << "engine_features:";
  for (const std::string& feature : features) std::cout << ' ' << feature;
  std::cout << '\n';
  return absl::OkStatus();
}

// The bearer token: the first line of `file`, else $OVERLAPD_TOKEN, else none.
absl::StatusOr<std::string> ReadToken(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("OVERLAPD_TOKEN");
    return std::string(env != nullptr ? env : "");
  }
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file ", file, ": cannot be read"));
  }
  absl::string_view token = absl::StripAsciiWhitespace(line);
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file ", file, ": empty first line"));
  }
  return std::string(token);
}

std::string DefaultServer() {
  const char* env = std::getenv("OVERLAPD_SERVER");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
}

int Main(int argc, char** argv) {
  Options opt;
  opt.server = DefaultServer();

  CLI::App app{"overlap: command-line client of the overlapd file-IO service.\n"
               "Remote paths are relative to the server's --root."};
  app.add_option("--server", opt.server,
                 "Server address HOST:PORT (default: $OVERLAPD_SERVER, "
                 "else 127.0.0.1:50051)")
      ->capture_default_str();
  app.add_flag("--json", opt.json,
               "Print one JSON object per line per result or event");
  std::string token_file;
  app.add_option("--tls-ca", opt.connect.tls_ca_file,
                 "TLS: CA certificate (PEM) that signed the server's certificate")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", opt.connect.tls_cert_file,
                 "Mutual TLS: this client's certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", opt.connect.tls_key_file,
                 "Mutual TLS: this client's private key (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--token-file", token_file,
                 "File whose first line is the bearer token for a server with --tokens "
                 "(default: $OVERLAPD_TOKEN)")
      ->check(CLI::ExistingFile);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success, 1 failure (stderr: 'overlap: CODE: message'), "
      "2 usage error.\nRun 'overlap COMMAND --help' for a command's options.");

  CLI::App* put = app.add_subcommand("put", "Upload a local file");
  put->add_option("LOCAL", opt.local, "Local file to read")->required();
  put->add_option("REMOTE", opt.remote, "Remote path to write")->required();
  put->add_flag("--durable", opt.durable,
                "Return only once the file and its directory entry are on "
                "stable storage (fsync)");
  put->add_flag("--atomic", opt.atomic,
                "Replace the remote file atomically: readers see the old or "
                "the new content, never a mix (one REPLACE_ATOMIC write up to "
                "the server's max_op_bytes; larger files: a temporary file "
                "renamed over REMOTE)");

  CLI::App* get = app.add_subcommand("get", "Download a remote file");
  get->add_option("REMOTE", opt.remote, "Remote path to read")->required();
  get->add_option("LOCAL", opt.local, "Local file to create or overwrite")
      ->required();

  CLI::App* cat = app.add_subcommand(
      "cat", "Write the contents of remote files to stdout, in order");
  cat->add_option("REMOTE", opt.paths, "Remote files")->required();

  CLI::App* stat = app.add_subcommand(
      "stat", "Show path, type, size, mode and mtime of remote paths");
  stat->add_option("REMOTE", opt.paths, "Remote paths")->required();

  CLI::App* ls = app.add_subcommand(
      "ls", "List a remote directory: type, size, mtime, name");
  ls->add_option("REMOTE_DIR", opt.dir, "Remote directory (default: the root)");

  CLI::App* read = app.add_subcommand(
      "read",
      "Read remote files in one batch and print one line per event:\n"
      "tag type path offset bytes crc32c latency_us (data is not printed)");
  read->add_option("REMOTE", opt.paths, "Remote files")->required();
  read->add_option("--offset", opt.offset, "Byte offset to start at");
  read->add_option("--length", opt.length, "Bytes to read (0: to end of file)");

  CLI::App* caps = app.add_subcommand("caps", "Show the server's capabilities");

  CLI::App* cp = AddCommand(
      app, "cp", "Copy a remote file on the server",
      "Copies SRC to DST on the server (the bytes never cross the network);\n"
      "DST is created or truncated. Prints nothing; --json: one object with\n"
      "src, dst, bytes, durable.");
  cp->add_option("SRC", opt.src, "Remote file to copy")->required();
  cp->add_option("DST", opt.dst, "Remote file to create or overwrite")
      ->required();
  cp->add_flag("--durable", opt.durable,
               "Return only once the copy and its directory entry are on "
               "stable storage (fsync)");

  CLI::App* mv = AddCommand(
      app, "mv", "Rename a remote file or directory",
      "Renames SRC to DST atomically (rename(2)), replacing an existing DST\n"
      "file unless -n. Prints nothing; --json: one object with src, dst.");
  mv->add_option("SRC", opt.src, "Remote path to rename")->required();
  mv->add_option("DST", opt.dst, "New remote path")->required();
  mv->add_flag("-n,--no-clobber", opt.no_replace,
               "Fail with ALREADY_EXISTS instead of replacing DST");

  CLI::App* rm = AddCommand(
      app, "rm", "Delete remote files or empty directories",
      "Deletes each PATH in turn; a failed one is reported on stderr and the\n"
      "rest still run (exit 1 if any failed). Directories need -r/--dir and\n"
      "must be empty: rm is never recursive. Prints nothing; --json: one\n"
      "object per path ({\"command\", \"path\"} or {\"path\", \"error\"}).");
  rm->add_option("PATH", opt.paths, "Remote paths")->required();
  rm->add_flag("-r,--dir", opt.directory,
               "PATH is an empty directory (NOT recursive: a non-empty one "
               "fails with FAILED_PRECONDITION)");

  CLI::App* mkdir = AddCommand(
      app, "mkdir", "Create remote directories",
      "Creates each PATH in turn; a failed one is reported on stderr and the\n"
      "rest still run (exit 1 if any failed). Prints nothing; --json: one\n"
      "object per path, as for rm.");
  mkdir->add_option("PATH", opt.paths, "Remote directories")->required();
  mkdir->add_flag("-p,--parents", opt.parents,
                  "Create missing parents; an existing directory is not an "
                  "error");

  // backup, submit, jobs, job, cancel, watch.
  JobCommands job_commands(app, opt);
  // bench read, bench write.
  cli::BenchCommands bench_commands(app, opt);
  cli::HealthCommand health_command(app, opt);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and friends are "errors" with exit code 0: print the
    // (sub)command's help.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "overlap: INVALID_ARGUMENT: %s\n", e.what());
    std::fprintf(stderr, "Run 'overlap --help' for usage.\n");
    return kExitUsage;
  }

  absl::StatusOr<std::string> token = ReadToken(token_file);
  if (!token.ok()) {
    PrintError(token.status());
    return kExitFailure;
  }
  opt.connect.token = *std::move(token);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(opt.server, opt.connect);
  absl::Status status = client.status();
  if (status.ok()) {
    Client& c = **client;
    if (put->parsed()) status = RunPut(c, opt);
    else if (get->parsed()) status = RunGet(c, opt);
    else if (cat->parsed()) status = RunCat(c, opt);
    else if (stat->parsed()) status = RunStat(c, opt);
    else if (ls->parsed()) status = RunList(c, opt);
    else if (read->parsed()) status = RunRead(c, opt);
    else if (caps->parsed()) status = RunCaps(c, opt);
    else if (cp->parsed()) status = RunCopy(c, opt);
    else if (mv->parsed()) status = RunMove(c, opt);
    else if (rm->parsed()) status = RunRemove(c, opt);
    else if (mkdir->parsed()) status = RunMkdir(c, opt);
    else if (std::optional<absl::Status> job_status = job_commands.Run(c)) {
      status = *std::move(job_status);
    } else if (std::optional<absl::Status> bench_status = bench_commands.Run(c)) {
      status = *std::move(bench_status);
    } else if (std::optional<absl::Status> health_status = health_command.Run()) {
      status = *std::move(health_status);
    }
  }
  std::cout.flush();
  if (status.ok()) return 0;
  if (!IsReported(status)) PrintError(status);
  return kExitFailure;
}

}  // namespace
}  // namespace overlapd

int main(int argc, char** argv) {
  return overlapd::Main(argc, argv);
}
