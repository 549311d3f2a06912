#include "service/placement_check.h"

#include "absl/strings/str_cat.h"
#include "overlapd/v1/status_detail.h"
#include "service/metrics.h"
#include "service/op_table.h"

namespace overlapd {
namespace {

// One path field of a request and its value; the field's name
// ("ops[2].copy.dst") is spelled out only for a refusal, not per op.
struct Named {
  int op = -1;              // ops[op]; -1: a field of the request itself
  const char* name = "";   // "copy.dst", or the request's field
  const std::string* path = nullptr;

  std::string field() const {
    return op < 0 ? std::string(name) : absl::StrCat("ops[", op, "].", name);
  }
};

absl::Status Refuse(RedirectReason reason, const std::string& message, const Named& at,
                    const v1::PlacementNode* owner, uint64_t version, Metrics* metrics) {
  if (metrics != nullptr) metrics->redirects(reason).Increment();
  v1::Redirect redirect;
  redirect.set_reason(RedirectReasonName(reason));
  redirect.set_field(at.field());
  redirect.set_path(*at.path);
  if (owner != nullptr) {
    redirect.set_owner(owner->name());
    redirect.set_address(owner->address());
  }
  redirect.set_placement_version(version);
  return WithRedirect(absl::FailedPreconditionError(message), redirect);
}

// The owner of one path, or the refusal of a path no prefix matches.
absl::StatusOr<const v1::PlacementNode*> OwnerOf(const PlacementMap& map, const Named& at,
                                                 Metrics* metrics) {
  const v1::PlacementNode* owner = map.OwnerOf(*at.path);
  if (owner != nullptr) return owner;
  return Refuse(RedirectReason::kUnowned,
                absl::StrCat(at.field(), ": \"", *at.path,
                             "\" lies under no prefix of the placement map (version ",
                             map.version(), "): no node of the cluster serves it"),
                at, nullptr, map.version(), metrics);
}

absl::Status CheckOwner(const PlacementMap& map, const std::string& self, const Named& at,
                        const v1::PlacementNode* owner, Metrics* metrics) {
  if (owner->name() == self) return absl::OkStatus();
  return Refuse(RedirectReason::kOtherNode,
                absl::StrCat(at.field(), ": \"", *at.path, "\" belongs to node ", owner->name(),
                             " at ", owner->address(), " (placement map version ",
                             map.version(), "), not to this node ", self, "; send it there"),
                at, owner, map.version(), metrics);
}

absl::Status CheckOp(const v1::Op& op, int i, const PlacementMap& map, const std::string& self,
                     Metrics* metrics) {
  const ProtoOp* row = ProtoOpOf(op.kind_case());
  if (row == nullptr) return absl::OkStatus();  // ValidateBatch refuses it
  const v1::PlacementNode* first_owner = nullptr;
  Named first;
  for (const PathField& field : row->paths) {
    if (field.get == nullptr) continue;
    const Named at{i, field.name, &field.get(op)};
    absl::StatusOr<const v1::PlacementNode*> owner = OwnerOf(map, at, metrics);
    if (!owner.ok()) return owner.status();
    if (first_owner == nullptr) {
      first_owner = *owner;
      first = at;
    } else if (*owner != first_owner) {
      return Refuse(RedirectReason::kCrossNode,
                    absl::StrCat(first.field(), " \"", *first.path, "\" is on node ",
                                 first_owner->name(), " and ", at.field(), " \"", *at.path,
                                 "\" on node ", (*owner)->name(), " (placement map version ",
                                 map.version(), "): a copy or rename never crosses nodes; "
                                 "read it from one node and write it to the other"),
                    at, *owner, map.version(), metrics);
    }
  }
  if (first_owner == nullptr) return absl::OkStatus();
  return CheckOwner(map, self, first, first_owner, metrics);
}

}  // namespace

absl::Status CheckPlacement(const v1::Batch& batch, const PlacementStore* store,
                            Metrics* metrics) {
  if (store == nullptr) return absl::OkStatus();
  std::shared_ptr<const PlacementMap> map = store->Get();
  for (int i = 0; i < batch.ops_size(); ++i) {
    absl::Status s = CheckOp(batch.ops(i), i, *map, store->node(), metrics);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckPathPlacement(const std::string& path, const std::string& field,
                                const PlacementStore* store, Metrics* metrics) {
  if (store == nullptr) return absl::OkStatus();
  std::shared_ptr<const PlacementMap> map = store->Get();
  const Named at{-1, field.c_str(), &path};
  absl::StatusOr<const v1::PlacementNode*> owner = OwnerOf(*map, at, metrics);
  if (!owner.ok()) return owner.status();
  return CheckOwner(*map, store->node(), at, *owner, metrics);
}

}  // namespace overlapd
