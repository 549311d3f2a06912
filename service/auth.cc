#include "service/auth.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <openssl/sha.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "ioengine/flag_file.h"
#include "ioengine/path_parts.h"
#include "service/op_table.h"

namespace overlapd {
namespace {

constexpr absl::string_view kBearer = "Bearer ";
// The messages of refusals, matched again by AuthFailureReason.
constexpr absl::string_view kMissingToken =
    "missing \"authorization: Bearer TOKEN\" metadata (the server has --tokens)";
constexpr absl::string_view kMalformedToken = "authorization metadata is not \"Bearer TOKEN\"";
constexpr absl::string_view kUnknownToken = "unknown bearer token";
constexpr absl::string_view kNoScope = " scope, which the token does not have";
constexpr absl::string_view kOutsidePrefix = "\" is outside the token's prefix \"";
constexpr size_t kMaxNameLength = 64;
// Shorter tokens are guessable; the file is refused.
constexpr size_t kMinTokenLength = 16;

absl::string_view StripSlashes(absl::string_view p) {
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return p;
}

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
           c == '-' || c == '@';
  });
}

// "sha256:" and the first 8 hex digits of the token's SHA-256: enough to
// tell tokens apart in a log, useless to guess one.
std::string Sha256Hex(absl::string_view token, size_t bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), bytes));
}

std::string Fingerprint(absl::string_view token) { return "sha256:" + Sha256Hex(token, 4); }

std::string TokenId(absl::string_view token) { return Sha256Hex(token, SHA256_DIGEST_LENGTH); }

bool HasDotDot(absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return true;
  }
  return false;
}

}  // namespace

bool UnderPrefix(absl::string_view path, absl::string_view prefix) {
  return prefix.empty() || path == prefix ||
         (absl::StartsWith(path, prefix) && path[prefix.size()] == '/');
}

bool PathUnderPrefix(absl::string_view path, absl::string_view prefix) {
  std::vector<absl::string_view> p, want;
  if (!NormalisePath(prefix, &want)) return false;
  if (want.empty()) return true;
  if (!NormalisePath(path, &p) || p.size() < want.size()) return false;
  return std::equal(want.begin(), want.end(), p.begin());
}

const std::string& PathPrefixOf(const Grant* grant) {
  static const std::string kWholeRoot;
  return grant == nullptr ? kWholeRoot : grant->path_prefix;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const std::string& cert, const std::string& key, const std::string& client_ca) {
  if (cert.empty() && key.empty()) {
    if (!client_ca.empty()) {
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key");
    }
    return grpc::InsecureServerCredentials();
  }
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  absl::StatusOr<std::string> cert_pem = ReadFlagFile("--tls-cert", cert, FlagFile::kNonEmpty);
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadFlagFile("--tls-key", key, FlagFile::kNonEmpty);
  if (!key_pem.ok()) return key_pem.status();
  grpc::SslServerCredentialsOptions options(
      client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                        : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_key_cert_pairs.push_back({*key_pem, *cert_pem});
  if (!client_ca.empty()) {
    absl::StatusOr<std::string> ca_pem =
        ReadFlagFile("--tls-client-ca", client_ca, FlagFile::kNonEmpty);
    if (!ca_pem.ok()) return ca_pem.status();
    options.pem_root_certs = *ca_pem;
  }
  return grpc::SslServerCredentials(options);
}

absl::Status Grant::CheckPath(absl::string_view path, absl::string_view field) const {
  if (path_prefix.empty()) return absl::OkStatus();
  absl::string_view p = StripSlashes(path);
  // "." components do not move; ".." ones could leave the prefix.
  while (absl::ConsumePrefix(&p, "./")) {
  }
  if (!UnderPrefix(p, path_prefix) || HasDotDot(p)) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": \"", path, kOutsidePrefix, path_prefix, "/\""));
  }
  return absl::OkStatus();
}

absl::Status Grant::CheckScope(Scope scope, absl::string_view what) const {
  if ((scopes & scope) != 0) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat(what, " needs the ", scope == kScopeRead ? "read" : "write", kNoScope));
}

absl::StatusOr<TokenTable> TokenTable::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFlagFile("--tokens", path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text, absl::string_view origin) {
  TokenTable table;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = line.substr(0, line.find('#'));
    std::vector<absl::string_view> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (words.empty()) continue;
    auto error = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(origin, ":", line_no, ": ", why));
    };
    Grant grant;
    // name=NAME may stand anywhere after the scopes.
    for (auto w = words.begin() + 1; w != words.end(); ++w) {
      if (!absl::StartsWith(*w, "name=")) continue;
      grant.name = std::string(w->substr(5));
      if (!ValidName(grant.name)) {
        return error(absl::StrCat("bad name \"", grant.name, "\" (1 to ", kMaxNameLength,
                                  " letters, digits, '.', '_', '-', '@')"));
      }
      words.erase(w);
      break;
    }
    if (words.size() < 2 || words.size() > 3) {
      return error("expected: TOKEN SCOPES [PATH_PREFIX] [name=NAME]");
    }
    if (words[0].size() < kMinTokenLength) {
      return error(absl::StrCat("token shorter than ", kMinTokenLength, " characters"));
    }
    if (grant.name.empty()) grant.name = Fingerprint(words[0]);
    grant.id = TokenId(words[0]);
    for (absl::string_view scope : absl::StrSplit(words[1], ',')) {
      if (scope == "read") {
        grant.scopes |= kScopeRead;
      } else if (scope == "write") {
        grant.scopes |= kScopeWrite;
      } else {
        return error(absl::StrCat("unknown scope \"", scope, "\" (read, write)"));
      }
    }
    if (words.size() == 3) {
      grant.path_prefix = std::string(StripSlashes(words[2]));
      if (grant.path_prefix.empty() || HasDotDot(grant.path_prefix)) {
        return error(absl::StrCat("bad path prefix \"", words[2], "\""));
      }
    }
    if (!table.grants_.emplace(std::string(words[0]), std::move(grant)).second) {
      return error("token listed twice");
    }
  }
  if (table.grants_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": no tokens"));
  }
  return table;
}

const Grant* TokenTable::Find(absl::string_view token) const {
  auto it = grants_.find(std::string(token));
  return it == grants_.end() ? nullptr : &it->second;
}

void TokenStore::Set(std::shared_ptr<const TokenTable> table) {
  absl::MutexLock lock(&mu_);
  table_ = std::move(table);
}

absl::StatusOr<std::shared_ptr<const Grant>> TokenStore::Authenticate(
    const grpc::ServerContextBase& context) const {
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  if (table == nullptr) return absl::UnauthenticatedError("no bearer tokens loaded");
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return absl::UnauthenticatedError(kMissingToken);
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, kBearer)) return absl::UnauthenticatedError(kMalformedToken);
  return Find(value);
}

absl::StatusOr<std::shared_ptr<const Grant>> TokenStore::Find(absl::string_view token) const {
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  if (table == nullptr) return absl::UnauthenticatedError("no bearer tokens loaded");
  const Grant* grant = table->Find(token);
  if (grant == nullptr) return absl::UnauthenticatedError(kUnknownToken);
  // Shares ownership of the table the grant lives in.
  return std::shared_ptr<const Grant>(std::move(table), grant);
}

std::string TokenStore::NameOf(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "-";
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, kBearer)) return "malformed";
  std::shared_ptr<const TokenTable> table;
  {
    absl::MutexLock lock(&mu_);
    table = table_;
  }
  const Grant* grant = table == nullptr ? nullptr : table->Find(value);
  return grant == nullptr ? "unknown" : grant->name;
}

absl::string_view AuthFailureReason(int code, absl::string_view message) {
  if (code == static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    if (message == kMissingToken) return "missing_token";
    if (message == kMalformedToken) return "malformed_token";
    return "unknown_token";
  }
  if (code == static_cast<int>(absl::StatusCode::kPermissionDenied)) {
    if (absl::StrContains(message, kNoScope)) return "scope";
    if (absl::StrContains(message, kOutsidePrefix)) return "prefix";
  }
  return "";
}

absl::Status AuthorizeBatch(const v1::Batch& batch, const Grant* grant) {
  if (grant == nullptr) return absl::OkStatus();
  for (int i = 0; i < batch.ops_size(); ++i) {
    const v1::Op& op = batch.ops(i);
    const std::string at = absl::StrCat("ops[", i, "].");
    const ProtoOp* row = ProtoOpOf(op.kind_case());
    if (row == nullptr) continue;  // ValidateBatch refuses it
    for (const PathField& use : row->paths) {
      if (use.get == nullptr) continue;
      const std::string field = at + use.name;
      absl::Status s = grant->CheckScope(use.scope, field);
      if (s.ok()) s = grant->CheckPath(use.get(op), field);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace overlapd
