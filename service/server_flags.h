// overlapd's command line: every flag of the server, grouped by what it
// governs, and the checks that span more than one flag.
//
// Example (main.cc):
//
//   ServerFlags flags;
//   CLI::App app{"overlapd ..."};
//   AddServerFlags(app, flags);
//   CLI11_PARSE(app, argc, argv);
//   if (absl::Status s = FinishServerFlags(flags); !s.ok()) { ... exit 2 ... }
//   Run(flags.config, flags.ops);
#ifndef OVERLAPD_SERVICE_SERVER_FLAGS_H_
#define OVERLAPD_SERVICE_SERVER_FLAGS_H_

#include <CLI/CLI.hpp>
#include <string>

#include "absl/status/status.h"
#include "service/config.h"
#include "service/operations.h"

namespace overlapd {

struct ServerFlags {
  ServerConfig config;
  OperatorOptions ops;
  // --engine as typed; FinishServerFlags turns it into config.engine.
  std::string engine_name = "auto";
};

// Adds every overlapd flag to `app`, bound to the fields of `flags`, each
// with its default shown in --help.
void AddServerFlags(CLI::App& app, ServerFlags& flags);

// After parsing: derives what follows from the flags (the engine kind) and
// checks what no single flag's validator can. INVALID_ARGUMENT names the
// flags at fault.
absl::Status FinishServerFlags(ServerFlags& flags);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_SERVER_FLAGS_H_
