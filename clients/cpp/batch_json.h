// A v1::Batch written as JSON: the input of `overlap submit FILE.json`, and a
// convenient way for programs to keep batches in files. The format is
// protobuf's JSON mapping of overlapd.v1.Batch; batch_json.cc documents it
// field by field (and clients/cpp/SUBMIT_FORMAT.md, for users).
//
// Example:
//
//   absl::StatusOr<v1::Batch> batch = overlapd::LoadBatchJsonFile("nightly.json");
//   if (!batch.ok()) return batch.status();  // "nightly.json: ..." names the problem
//   absl::StatusOr<v1::Job> job = client->Submit(*batch);
#ifndef OVERLAPD_CLIENTS_CPP_BATCH_JSON_H_
#define OVERLAPD_CLIENTS_CPP_BATCH_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "overlapd/v1/overlapd.pb.h"

namespace overlapd {

// Parses `text`, one JSON object in the format of batch_json.cc, into a
// Batch. Unknown fields, bad enum names, bad base64, a batch without ops and
// an op without a kind are INVALID_ARGUMENT; every message starts with
// "`source`: " (the file name) and then says what is wrong, e.g.
// "b.json: ops[1] has no operation: expected one of read, write, ...".
absl::StatusOr<v1::Batch> ParseBatchJson(absl::string_view text,
                                         absl::string_view source);

// Reads the file `path` ("-" reads stdin) and parses it with ParseBatchJson.
// A file that cannot be read fails with the errno's code, e.g. NOT_FOUND
// "open b.json: No such file or directory".
absl::StatusOr<v1::Batch> LoadBatchJsonFile(const std::string& path);

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_BATCH_JSON_H_
