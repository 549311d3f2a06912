#include "clients/cpp/cancel.h"

namespace overlapd {

void CancelToken::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  // TryCancel only flags the call (gRPC takes its own lock); a context
  // leaves the set under mu_ before it dies.
  for (grpc::ClientContext* context : contexts_) context->TryCancel();
}

bool CancelToken::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool CancelToken::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  contexts_.insert(context);
  return true;
}

void CancelToken::Detach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  contexts_.erase(context);
}

}  // namespace overlapd
