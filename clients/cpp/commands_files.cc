#include "clients/cpp/commands_files.h"

#include <cerrno>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "clients/cpp/client_internal.h"
#include "clients/cpp/remote_tree.h"
#include "ioengine/status_macros.h"

namespace overlapd {
namespace cli {

using nlohmann::json;

namespace {

// rm and mkdir: one op per path, in order; a failed path is reported at once
// and the others still run, like rm(1) and mkdir(1).
absl::Status ForEachPath(const GlobalOptions& global, const std::vector<std::string>& paths,
                         const char* command,
                         const std::function<absl::Status(const std::string&)>& run) {
  absl::Status first_error;
  for (const std::string& path : paths) {
    const absl::Status status = run(path);
    if (!status.ok()) {
      if (global.json) PrintJson({{"command", command}, {"path", path}, {"error", ErrorJson(status)}});
      PrintError(status);
      first_error.Update(status);
      // Every path would fail the same way on these; stop repeating it.
      if (status.code() == absl::StatusCode::kUnavailable ||
          status.code() == absl::StatusCode::kUnimplemented ||
          status.code() == absl::StatusCode::kUnauthenticated) {
        break;
      }
    } else if (global.json) {
      PrintJson({{"command", command}, {"path", path}});
    }
  }
  return first_error.ok() ? first_error : Reported(first_error);
}

std::string LongLine(const v1::FileInfo& info, const std::string& name) {
  return absl::StrFormat("%-7s %04o %12d %s %s", FileTypeName(info.type()), info.mode(),
                         info.size(), FormatTimeNs(info.mtime_ns()), EscapeName(name));
}

}  // namespace

FileCommands::FileCommands(CLI::App& app, const GlobalOptions& global) : global_(global) {
  AddReadCommands(app);
  AddListCommands(app);
  AddChangeCommands(app);
  AddRemove(app);
}

std::optional<absl::Status> FileCommands::Run(Client& client) {
  for (const auto& [command, run] : commands_) {
    if (command->parsed()) return (this->*run)(client);
  }
  return std::nullopt;
}

void FileCommands::AddReadCommands(CLI::App& app) {
  CLI::App* cat = AddCommand(app, "cat", "Write remote files to stdout, in order",
                             "Raw bytes, in file order; --json does not apply.");
  cat->add_option("REMOTE", paths_, "Remote files")->required();
  Add(cat, &FileCommands::RunCat);

  CLI::App* stat = AddCommand(
      app, "stat", "Show path, type, size, mode and mtime of remote paths",
      "One line per path: PATH TYPE SIZE MODE MTIME (control characters in\n"
      "PATH escaped); --json: one object per path. A failed path is reported\n"
      "on stderr (and as {\"path\", \"error\"} with --json); exit 1 if any failed.");
  stat->add_option("REMOTE", paths_, "Remote paths")->required();
  Add(stat, &FileCommands::RunStat);

  CLI::App* read = AddCommand(
      app, "read", "Read remote files in one batch, one line per event",
      "Prints tag type path offset bytes crc32c latency_us per event (data is\n"
      "not printed); --json: one event object per line.");
  read->add_option("REMOTE", paths_, "Remote files")->required();
  read->add_option("--offset", offset_, "Byte offset to start at");
  read->add_option("--length", length_, "Bytes to read (0: to end of file)");
  Add(read, &FileCommands::RunRead);

  CLI::App* caps = AddCommand(app, "caps", "Show the server's capabilities",
                              "One 'name: value' line per limit; --json: one object.");
  Add(caps, &FileCommands::RunCaps);
}

void FileCommands::AddListCommands(CLI::App& app) {
  CLI::App* ls = AddCommand(
      app, "ls", "List a remote directory",
      "Names, one per line, directories with a trailing '/'; -l: TYPE MODE SIZE\n"
      "MTIME NAME; -R: the whole tree, as paths relative to REMOTE_DIR.\n"
      "Control characters in names are escaped (\\n, \\x1b). --json: one\n"
      "object per entry (name, type, size, mode, mtime_ns, mtime).");
  ls->add_option("REMOTE_DIR", dir_, "Remote directory (default: the root)");
  ls->add_flag("-l,--long", long_, "Long format: type, mode, size, mtime, name");
  ls->add_flag("-R,--recursive", recursive_, "List subdirectories too");
  Add(ls, &FileCommands::RunList);

  CLI::App* du = AddCommand(
      app, "du", "Sum the sizes of remote trees",
      "One line per PATH: BYTES FILES PATH (-h: human-readable bytes);\n"
      "--json: {\"path\", \"bytes\", \"files\", \"dirs\"} per path.");
  du->add_option("PATH", paths_, "Remote files or directories (default: the root)");
  du->add_flag("-H,--human-readable", human_, "Sizes like 1.5 GiB");
  Add(du, &FileCommands::RunDu);
}

void FileCommands::AddChangeCommands(CLI::App& app) {
  CLI::App* cp = AddCommand(
      app, "cp", "Copy a remote file on the server",
      "Copies SRC to DST on the server (the bytes never cross the network);\n"
      "DST is created or truncated; a DST that ends with '/' or is a directory\n"
      "gets SRC's name inside it. Prints nothing; --json: one object with src,\n"
      "dst, bytes, durable.");
  cp->add_option("SRC", src_, "Remote file to copy")->required();
  cp->add_option("DST", dst_, "Remote file or directory")->required();
  cp->add_flag("--durable", durable_,
               "Return only once the copy and its directory entry are on stable storage");
  Add(cp, &FileCommands::RunCopy);

  CLI::App* mv = AddCommand(
      app, "mv", "Rename a remote file or directory",
      "Renames SRC to DST atomically (rename(2)), replacing an existing DST\n"
      "file unless -n; a DST that ends with '/' or is a directory gets SRC's\n"
      "name inside it. Prints nothing; --json: one object with src, dst.");
  mv->add_option("SRC", src_, "Remote path to rename")->required();
  mv->add_option("DST", dst_, "New remote path, or a directory")->required();
  mv->add_flag("-n,--no-clobber", no_replace_, "Fail with ALREADY_EXISTS instead of replacing DST");
  Add(mv, &FileCommands::RunMove);

  CLI::App* mkdir = AddCommand(
      app, "mkdir", "Create remote directories",
      "Creates each PATH in turn; a failed one is reported on stderr and the\n"
      "rest still run (exit 1 if any failed). Prints nothing; --json: one\n"
      "object per path, as for rm.");
  mkdir->add_option("PATH", paths_, "Remote directories")->required();
  mkdir->add_flag("-p,--parents", parents_,
                  "Create missing parents; an existing directory is not an error");
  Add(mkdir, &FileCommands::RunMkdir);
}

void FileCommands::AddRemove(CLI::App& app) {
  CLI::App* rm = AddCommand(
      app, "rm", "Delete remote files and directories",
      "Deletes each PATH in turn; a failed one is reported on stderr and the\n"
      "rest still run (exit 1 if any failed). -d deletes an empty directory,\n"
      "-r a directory and everything in it. Prints nothing; --json: one object\n"
      "per path ({\"command\", \"path\"}, plus \"error\" when it failed).");
  rm->add_option("PATH", paths_, "Remote paths")->required();
  rm->add_flag("-r,--recursive", recursive_, "Delete directories and their contents");
  rm->add_flag("-d,--dir", directory_, "PATH may be an empty directory");
  rm->add_flag("-f,--force", force_, "A missing PATH is not an error");
  Add(rm, &FileCommands::RunRemove);
}

absl::Status FileCommands::RunCat(Client& client) {
  auto sink = [](absl::string_view data) -> absl::Status {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
      return absl::ErrnoToStatus(errno, "write stdout");
    }
    return absl::OkStatus();
  };
  for (const std::string& path : paths_) {
    OVERLAPD_RETURN_IF_ERROR(client.Cat(path, sink).status());
  }
  if (std::fflush(stdout) != 0) return absl::ErrnoToStatus(errno, "write stdout");
  return absl::OkStatus();
}

absl::Status FileCommands::RunStat(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(auto results, client.Stat(paths_));
  absl::Status first_error;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      if (global_.json) {
        PrintJson({{"command", "stat"}, {"path", paths_[i]},
                   {"error", ErrorJson(results[i].status())}});
      }
      PrintError(results[i].status());
      first_error.Update(results[i].status());
      continue;
    }
    const v1::FileInfo& info = *results[i];
    if (global_.json) {
      json object = FileInfoJson(info);
      object.erase("name");
      object["path"] = paths_[i];
      PrintJson(object);
    } else {
      std::cout << absl::StrFormat("%s %s %d %04o %s\n", EscapeName(paths_[i]),
                                   FileTypeName(info.type()), info.size(), info.mode(),
                                   FormatTimeNs(info.mtime_ns()));
    }
  }
  return first_error.ok() ? first_error : Reported(first_error);
}

absl::Status FileCommands::RunList(Client& client) {
  std::vector<TreeEntry> entries;
  if (recursive_) {
    OVERLAPD_ASSIGN_OR_RETURN(entries, ListTree(client, dir_));
  } else {
    OVERLAPD_ASSIGN_OR_RETURN(std::vector<v1::FileInfo> listed, client.List(dir_));
    for (v1::FileInfo& info : listed) entries.push_back({info.name(), std::move(info)});
  }
  for (const TreeEntry& entry : entries) {
    if (global_.json) {
      json object = FileInfoJson(entry.info);
      object["name"] = entry.path;
      PrintJson(object);
    } else if (long_) {
      std::cout << LongLine(entry.info, entry.path) << '\n';
    } else {
      const bool dir = entry.info.type() == v1::FILE_TYPE_DIRECTORY;
      std::cout << EscapeName(entry.path) << (dir ? "/" : "") << '\n';
    }
  }
  return absl::OkStatus();
}

absl::Status FileCommands::RunDu(Client& client) {
  if (paths_.empty()) paths_.push_back(".");
  for (const std::string& path : paths_) {
    uint64_t bytes = 0, files = 0, dirs = 0;
    OVERLAPD_ASSIGN_OR_RETURN(auto stat, client.Stat({path}));
    OVERLAPD_RETURN_IF_ERROR(stat[0].status());
    if (stat[0]->type() == v1::FILE_TYPE_DIRECTORY) {
      OVERLAPD_ASSIGN_OR_RETURN(std::vector<TreeEntry> tree, ListTree(client, path));
      for (const TreeEntry& entry : tree) {
        const bool dir = entry.info.type() == v1::FILE_TYPE_DIRECTORY;
        dirs += dir;
        files += !dir;
        if (!dir) bytes += entry.info.size();
      }
    } else {
      bytes = stat[0]->size();
      files = 1;
    }
    if (global_.json) {
      PrintJson({{"command", "du"}, {"path", path}, {"bytes", U64(bytes)},
                 {"files", U64(files)}, {"dirs", U64(dirs)}});
    } else {
      std::cout << (human_ ? HumanBytes(bytes) : std::to_string(bytes)) << '\t' << files
                << '\t' << EscapeName(path) << '\n';
    }
  }
  return absl::OkStatus();
}

absl::Status FileCommands::RunRead(Client& client) {
  v1::Batch batch;
  for (size_t i = 0; i < paths_.size(); ++i) {
    v1::Op* op = batch.add_ops();
    op->set_tag(i);
    v1::Read* read = op->mutable_read();
    read->set_path(paths_[i]);
    read->set_offset(offset_);
    read->set_length(length_);
  }
  absl::Status first_error;
  OVERLAPD_RETURN_IF_ERROR(client.Execute(batch, [&](const v1::Event& event) {
    absl::Status event_status;
    if (internal::IsFailure(event)) {
      event_status = internal::EventStatus(event);
    } else if (event.type() == v1::READ_CHUNK &&
               internal::Crc32c(event.data()) != event.crc32c()) {
      event_status = absl::DataLossError(absl::StrFormat(
          "%s: chunk at offset %d: crc32c mismatch", event.path(), event.offset()));
    }
    if (global_.json) {
      PrintJson(EventJson(event, event_status));
    } else {
      std::cout << absl::StrFormat("%d %s %s %d %d %08x %d\n", event.tag(),
                                   v1::EventType_Name(event.type()),
                                   event.path().empty() ? "-" : EscapeName(event.path()),
                                   event.offset(), event.bytes(), event.crc32c(),
                                   LatencyMicros(event));
    }
    if (!event_status.ok()) {
      PrintError(event_status);
      first_error.Update(event_status);
    }
  }));
  return first_error.ok() ? first_error : Reported(first_error);
}

absl::Status FileCommands::RunCaps(Client& client) {
  OVERLAPD_ASSIGN_OR_RETURN(v1::Capabilities caps, client.Capabilities());
  const std::vector<std::string> features(caps.engine_features().begin(),
                                          caps.engine_features().end());
  // In proto order; 64-bit limits as strings in --json.
  const std::vector<std::pair<const char*, json>> fields = {
      {"server_version", caps.server_version()},
      {"engine", caps.engine()},
      {"workers", caps.workers()},
      {"chunk_bytes", U64(caps.chunk_bytes())},
      {"max_ops_per_batch", caps.max_ops_per_batch()},
      {"max_op_bytes", U64(caps.max_op_bytes())},
      {"max_read_bytes", U64(caps.max_read_bytes())},
      {"max_message_bytes", U64(caps.max_message_bytes())},
      {"max_inflight_ops_per_stream", caps.max_inflight_ops_per_stream()},
      {"max_inflight_read_bytes_per_stream", U64(caps.max_inflight_read_bytes_per_stream())},
      {"max_list_entries", caps.max_list_entries()},
      {"max_events_per_message", caps.max_events_per_message()},
      {"upload_grace_seconds", U64(caps.upload_grace_seconds())},
      {"buffer_lane", caps.buffer_lane()},
      {"buffer_socket", caps.buffer_socket()},
      {"max_buffer_bytes", U64(caps.max_buffer_bytes())}};
  if (global_.json) {
    json object = {{"engine_features", features}};
    for (const auto& [key, value] : fields) object[key] = value;
    PrintJson(object);
    return absl::OkStatus();
  }
  for (const auto& [key, value] : fields) {
    std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
              << '\n';
  }
  std::cout << "engine_features:";
  for (const std::string& feature : features) std::cout << ' ' << feature;
  std::cout << '\n';
  return absl::OkStatus();
}

absl::Status FileCommands::RunCopy(Client& client) {
  bool into = false;
  if (dst_.empty() || dst_.back() != '/') {
    OVERLAPD_ASSIGN_OR_RETURN(into, IsRemoteDir(client, dst_));
  }
  const std::string dst = TargetPath(src_, dst_, into);
  OVERLAPD_ASSIGN_OR_RETURN(
      const uint64_t bytes,
      client.Copy(src_, dst, durable_ ? v1::DURABILITY_FULL : v1::DURABILITY_NONE));
  if (global_.json) {
    PrintJson({{"command", "cp"}, {"src", src_}, {"dst", dst}, {"bytes", U64(bytes)},
               {"durable", durable_}});
  }
  return absl::OkStatus();
}

absl::Status FileCommands::RunMove(Client& client) {
  bool into = false;
  if (dst_.empty() || dst_.back() != '/') {
    OVERLAPD_ASSIGN_OR_RETURN(into, IsRemoteDir(client, dst_));
  }
  const std::string dst = TargetPath(src_, dst_, into);
  OVERLAPD_RETURN_IF_ERROR(client.Rename(src_, dst, no_replace_));
  if (global_.json) PrintJson({{"command", "mv"}, {"src", src_}, {"dst", dst}});
  return absl::OkStatus();
}

absl::Status FileCommands::RunRemove(Client& client) {
  return ForEachPath(global_, paths_, "rm", [&](const std::string& path) {
    absl::Status status = recursive_ ? DeleteTree(client, path)
                                     : client.Delete(path, directory_);
    if (force_ && status.code() == absl::StatusCode::kNotFound) return absl::OkStatus();
    return status;
  });
}

absl::Status FileCommands::RunMkdir(Client& client) {
  return ForEachPath(global_, paths_, "mkdir", [&](const std::string& path) {
    return client.Mkdir(path, parents_);
  });
}

}  // namespace cli
}  // namespace overlapd
