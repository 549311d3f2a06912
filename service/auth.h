// Bearer tokens with scopes (--tokens FILE). Without a token file every
// call is allowed; with one, every call but the health check must carry
// `authorization: Bearer TOKEN` naming a token of the file.
//
// The file holds one token per line, then its scopes, then optionally a path
// prefix the token is limited to and a name for the logs; '#' starts a
// comment:
//
//   # token                            scopes       prefix     name
//   3f9c0c1e5e0b4a7d9d1f0e6b8a2c4d6e   read         datasets/  name=loader
//   b1e2d3c4a5f60718293a4b5c6d7e8f90   read,write
//
// The access log names the token of each call by its name, never by the
// token itself; a token without a name= is named "sha256:" and the first 8
// hex digits of its SHA-256 (`printf %s TOKEN | sha256sum | cut -c1-8`).
//
// read: Read, Stat, List, Subscribe, GetJob, ListJobs. write: Write, Copy's
// destination, Rename, Delete, Mkdir, Fsync, CancelJob (a Copy also needs
// read for its source). A prefix limits every path an op names; a path with
// a ".." component is refused for prefixed tokens, so a prefix cannot be
// left lexically (symbolic links inside --root are still followed: the
// sandbox is --root, a prefix divides it between clients).
#ifndef OVERLAPD_SERVICE_AUTH_H_
#define OVERLAPD_SERVICE_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "overlapd/v1/overlapd.pb.h"
#include "service/auth_scope.h"

namespace overlapd {



// Whether `path` (already stripped of surrounding slashes) is `prefix` or
// lies below it; every path is under "".
bool UnderPrefix(absl::string_view path, absl::string_view prefix);

// Whether `path`, read as a path relative to the root and normalised ("."
// and empty components dropped, ".." taking one back), lies under `prefix`
// (normalised the same way), component by component. A path whose ".."
// climbs above the root lies under nothing but the empty prefix.
//   PathUnderPrefix("pub/./a", "pub")        => true
//   PathUnderPrefix("public/x", "pub")       => false
//   PathUnderPrefix("pub/../secret/s", "pub") => false
bool PathUnderPrefix(absl::string_view path, absl::string_view prefix);

// What one token may do.
struct Grant {
  uint8_t scopes = 0;
  std::string path_prefix;  // empty: the whole root
  std::string name;         // for the logs; see above
  // The token's SHA-256 (hex): which token this is, the same across
  // reloads, without keeping the token (buffer lane owners).
  std::string id;

  // PERMISSION_DENIED naming `field` unless `path` lies under the prefix.
  absl::Status CheckPath(absl::string_view path, absl::string_view field) const;
  // PERMISSION_DENIED naming `what` unless the grant holds `scope`.
  absl::Status CheckScope(Scope scope, absl::string_view what) const;
};

class TokenTable {
 public:
  // An empty table: authentication is off.
  TokenTable() = default;
  // Parses a token file; errors name the file and line.
  static absl::StatusOr<TokenTable> Load(const std::string& path);
  static absl::StatusOr<TokenTable> Parse(absl::string_view text, absl::string_view origin);

  bool enabled() const { return !grants_.empty(); }
  size_t size() const { return grants_.size(); }

  // The grant for `token`, or null.
  const Grant* Find(absl::string_view token) const;

 private:
  std::unordered_map<std::string, Grant> grants_;
};

// The token table in force; SIGHUP swaps in a reloaded one while calls run.
// A grant handed out keeps its table alive, so a Session authenticated
// before a reload goes on with the grant it started with. Thread-safe.
class TokenStore {
 public:
  void Set(std::shared_ptr<const TokenTable> table);

  // The grant for the call's bearer token, or UNAUTHENTICATED when the
  // token is missing or unknown.
  absl::StatusOr<std::shared_ptr<const Grant>> Authenticate(
      const grpc::ServerContextBase& context) const;

  // The grant of `token` (no "Bearer " before it), or UNAUTHENTICATED: for
  // callers that get the token outside gRPC (the buffer lane's socket).
  absl::StatusOr<std::shared_ptr<const Grant>> Find(absl::string_view token) const;

  // The name of the call's token for the access log: its grant's name, or
  // "-" without an authorization header, "malformed" when it is not
  // "Bearer TOKEN", "unknown" for a token not in the table. Never the token.
  std::string NameOf(const grpc::ServerContextBase& context) const;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);  // null until the first Set
};

// Plaintext credentials when `cert` and `key` are empty, else TLS with that
// certificate chain and key (PEM files); a `client_ca` makes it mutual TLS.
// Errors name the flag (--tls-cert, --tls-key, --tls-client-ca) at fault.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const std::string& cert, const std::string& key, const std::string& client_ca);

// Why a call or a batch was refused for its token, from its status:
// "missing_token", "malformed_token", "unknown_token" (UNAUTHENTICATED),
// "scope" or "prefix" (PERMISSION_DENIED from Grant::CheckScope/CheckPath);
// "" when the status is not an authentication or authorization failure
// (e.g. PERMISSION_DENIED for a path that leaves --root).
absl::string_view AuthFailureReason(int code, absl::string_view message);

// The path prefix a call is limited to: its grant's, "" without one.
const std::string& PathPrefixOf(const Grant* grant);

// Checks every op of `batch` against `grant` (null: allowed):
// PERMISSION_DENIED naming ops[i] and the field.
absl::Status AuthorizeBatch(const v1::Batch& batch, const Grant* grant);

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_AUTH_H_
