// overlap: the command-line client of overlapd.
//
//   overlap [GLOBAL FLAGS] COMMAND [ARGS] [FLAGS]   (flags before or after COMMAND)
//
// Exit status: 0 on success, 1 when the command failed (each failure is one
// stderr line "overlap: <CODE_NAME>: <message>", and with --json also one
// {"command", "error"} object on stdout), 2 on a usage error, 130 when
// Ctrl-C interrupted a transfer (which then left the old files intact).
// Results go to stdout: plain columns, or with --json one JSON object per
// line per result or event (conventions in cli_common.h).
//
// The commands live in groups, one file each: commands_files.cc (cat, stat,
// ls, du, read, caps, cp, mv, rm, mkdir), commands_transfer.cc (put, get),
// commands_sync.cc (sync), commands_jobs.cc (backup, submit, jobs, job,
// cancel, watch) and bench.cc (bench read, bench write).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/cpp/bench.h"
#include "clients/cpp/cli_common.h"
#include "clients/cpp/client.h"
#include "clients/cpp/commands_files.h"
#include "clients/cpp/commands_cluster.h"
#include "clients/cpp/commands_health.h"
#include "clients/cpp/commands_jobs.h"
#include "clients/cpp/commands_sync.h"
#include "clients/cpp/commands_transfer.h"
#include "clients/cpp/interrupt.h"
#include "ioengine/flag_file.h"
#include "ioengine/mutex_mode.h"
#include "overlapd/v1/status_detail.h"

#ifndef OVERLAP_VERSION
#define OVERLAP_VERSION "unknown"
#endif

namespace overlapd {
namespace cli {
namespace {

// The bearer token: the first line of `file`, else $OVERLAPD_TOKEN, else none.
absl::StatusOr<std::string> ReadToken(const std::string& file) {
  if (file.empty()) {
    const char* env = std::getenv("OVERLAPD_TOKEN");
    return std::string(env != nullptr ? env : "");
  }
  absl::StatusOr<std::string> text = ReadFlagFile("--token-file", file);
  if (!text.ok()) return text.status();
  const absl::string_view token =
      absl::StripAsciiWhitespace(absl::string_view(*text).substr(0, text->find('\n')));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--token-file ", file, ": empty first line"));
  }
  return std::string(token);
}

std::string FromEnv(const char* name) {
  const char* env = std::getenv(name);
  return env != nullptr ? env : "";
}

std::string DefaultServer() {
  const char* env = std::getenv("OVERLAPD_SERVER");
  return env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
}

void AddGlobalFlags(CLI::App& app, GlobalOptions& opt, std::string& token_file) {
  app.add_option("--server", opt.server,
                 "Server address HOST:PORT (default: $OVERLAPD_SERVER, else 127.0.0.1:50051)")
      ->capture_default_str();
  app.add_option("--cluster", opt.cluster,
                 "Nodes of a cluster, ADDR[,ADDR...] (default: $OVERLAPD_CLUSTER): each command "
                 "goes to the node the placement map says owns its path");
  app.add_flag("--json", opt.json, "Print one JSON object per line per result or event");
  app.add_flag("--progress", opt.progress,
               "Show transfer progress on stderr even when it is not a terminal");
  app.add_flag("-q,--quiet", opt.quiet, "No progress and no retry notes on stderr");
  app.add_option("--retries", opt.retries,
                 "Retry transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, "
                 "RESOURCE_EXHAUSTED) this often, with exponential backoff")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
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
  auto* no_lane = app.add_flag("--no-lane", opt.no_lane,
                               "Always carry data over gRPC, never the same-host buffer lane");
  app.add_flag("--lane", opt.lane,
               "Require the buffer lane (shared memory with a server on this host) for get, "
               "cat and bench read; fail saying why when it cannot be used")
      ->excludes(no_lane);
}

// The first argument that is neither a flag nor a global option's value:
// the command the user meant, when CLI11 found no command in argv.
std::string FirstWord(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!absl::StartsWith(arg, "-")) return arg;
    if (arg.find('=') != std::string::npos) continue;
    const CLI::Option* option = app.get_option_no_throw(arg);
    if (option != nullptr && option->get_type_size() > 0) ++i;  // skip its value
  }
  return "";
}

// "; did you mean 'put'?" for the first word CLI11 did not expect, when it
// is close to a command name (or, for a flag, to a flag of the app or of the
// command given).
std::string DidYouMean(const CLI::App& app, const std::string& message, int argc,
                       char** argv) {
  std::string word;
  const size_t colon = message.rfind(": ");
  if (app.get_subcommands().empty()) {
    word = FirstWord(app, argc, argv);
  } else if (colon != std::string::npos && absl::StrContains(message, "not expected")) {
    const std::vector<std::string> extras =
        absl::StrSplit(message.substr(colon + 2), ' ', absl::SkipEmpty());
    if (!extras.empty()) word = extras[0];
  }
  if (word.empty()) return "";
  std::vector<std::string> candidates;
  auto add_flags = [&](const CLI::App* from) {
    for (const CLI::Option* option : from->get_options()) {
      for (const std::string& name : option->get_lnames()) candidates.push_back("--" + name);
    }
  };
  if (absl::StartsWith(word, "-")) {
    add_flags(&app);
    for (const CLI::App* sub : app.get_subcommands()) add_flags(sub);
  } else {
    for (const CLI::App* sub : app.get_subcommands({})) candidates.push_back(sub->get_name());
  }
  const std::string match = ClosestMatch(word, candidates);
  return match.empty() ? "" : absl::StrCat("; did you mean '", match, "'?");
}

// The command that was run, e.g. "put" or "bench read", for error objects.
std::string CommandName(const CLI::App& app) {
  std::string name;
  for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
    sub = sub->get_subcommands()[0];
    absl::StrAppend(&name, name.empty() ? "" : " ", sub->get_name());
  }
  return name;
}

// Parses the command line. On a usage error prints it, with a suggestion
// when a word is close to a command or flag, and returns the exit code;
// --help and --version print and return 0.
std::optional<int> ParseOrExplain(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help, --version and friends are "errors" with exit code 0.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string message = e.what();
    if (app.get_subcommands().empty() && !FirstWord(app, argc, argv).empty()) {
      message = absl::StrCat("unknown command '", FirstWord(app, argc, argv), "'");
    }
    std::fprintf(stderr, "overlap: INVALID_ARGUMENT: %s%s\n", message.c_str(),
                 DidYouMean(app, e.what(), argc, argv).c_str());
    std::fprintf(stderr, "Run 'overlap --help' for usage.\n");
    return kExitUsage;
  }
  return std::nullopt;
}

// Connects to the server and runs the command group the user chose.
absl::Status ConnectAndRun(const GlobalOptions& opt,
                           const std::vector<std::unique_ptr<CommandGroup>>& groups,
                           Interrupts& interrupts) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Connect(opt.server, opt.connect);
  if (!client.ok()) return client.status();
  (*client)->set_cancel(&interrupts.token());
  (*client)->set_lane(opt.lane_mode(), opt.connect.token);
  // A server still starting (or restarting) is waited for under --retries;
  // the command then reports any error itself.
  (*client)->WaitUntilConnected(opt.retry_policy(), opt.on_retry()).IgnoreError();
  for (const std::unique_ptr<CommandGroup>& group : groups) {
    if (std::optional<absl::Status> ran = group->Run(**client)) return *std::move(ran);
  }
  return absl::OkStatus();
}

// With --cluster: runs the command on the node that owns its path. A node
// that answers with a redirect refused it before any IO; the command runs
// once more on the owner it names, after the map is fetched again.
absl::Status RouteAndRun(const CLI::App& app, GlobalOptions& opt,
                         const std::vector<std::unique_ptr<CommandGroup>>& groups,
                         Interrupts& interrupts) {
  absl::StatusOr<std::unique_ptr<ClusterClient>> cluster =
      ClusterClient::Connect(SplitAddresses(opt.cluster), opt.connect);
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<std::string> owner = RouteCommand(app, **cluster, SplitAddresses(opt.cluster)[0]);
  if (!owner.ok()) return owner.status();
  opt.server = *std::move(owner);
  absl::Status status = ConnectAndRun(opt, groups, interrupts);
  std::optional<v1::Redirect> redirect = RedirectOf(status);
  if (!redirect.has_value() || redirect->reason() != "other_node") return status;
  (*cluster)->Refresh(opt.server).IgnoreError();
  owner = RouteCommand(app, **cluster, redirect->address());
  if (!owner.ok()) return owner.status();
  opt.server = *std::move(owner);
  return ConnectAndRun(opt, groups, interrupts);
}

int Main(int argc, char** argv) {
  // Before any thread exists: every later thread inherits the blocked
  // signals, and one watcher handles them (interrupt.h).
  Interrupts& interrupts = Interrupts::Install();
  GlobalOptions opt;
  opt.server = DefaultServer();
  opt.cluster = FromEnv("OVERLAPD_CLUSTER");
  CLI::App app{"overlap: command-line client of the overlapd file-IO service.\n"
               "Remote paths are relative to the server's --root."};
  // Global flags are accepted after the command too ("overlap put a b --json").
  app.fallthrough();
  app.set_version_flag("--version", std::string("overlap ") + OVERLAP_VERSION);
  std::string token_file;
  AddGlobalFlags(app, opt, token_file);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 success, 1 failure (stderr: 'overlap: CODE: message'), 2 usage\n"
      "error, 130 interrupted. Run 'overlap COMMAND --help' for a command's options.");

  std::vector<std::unique_ptr<CommandGroup>> groups;
  groups.push_back(std::make_unique<TransferCommands>(app, opt, interrupts));
  groups.push_back(std::make_unique<SyncCommand>(app, opt, interrupts));
  groups.push_back(std::make_unique<FileCommands>(app, opt));
  groups.push_back(std::make_unique<JobCommands>(app, opt));
  groups.push_back(std::make_unique<BenchCommands>(app, opt));
  HealthCommand health_command(app, opt);  // its own channel: asks before any wait
  NodesCommand nodes_command(app, opt);     // its own ClusterClient

  if (std::optional<int> usage = ParseOrExplain(app, argc, argv)) return *usage;
  std::optional<absl::Status> ran = health_command.Run();  // needs no token
  absl::StatusOr<std::string> token = ReadToken(token_file);
  if (token.ok()) opt.connect.token = *token;
  if (!ran.has_value() && !token.ok()) ran = token.status();
  if (!ran.has_value()) ran = nodes_command.Run();
  if (!ran.has_value()) {
    ran = opt.cluster.empty() ? ConnectAndRun(opt, groups, interrupts)
                              : RouteAndRun(app, opt, groups, interrupts);
  }
  const absl::Status status = *std::move(ran);
  std::cout.flush();
  if (status.ok()) return 0;
  if (!IsReported(status)) {
    if (opt.json) PrintJson({{"command", CommandName(app)}, {"error", ErrorJson(status)}});
    PrintError(status);
  }
  return interrupts.interrupted() ? kExitInterrupted : kExitFailure;
}

}  // namespace
}  // namespace cli
}  // namespace overlapd

int main(int argc, char** argv) {
  overlapd::SkipMutexDeadlockDetection();
  return overlapd::cli::Main(argc, argv);
}
