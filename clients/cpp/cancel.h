// CancelToken: stops a Client's calls from another thread, e.g. the CLI's
// signal-watching thread on Ctrl-C.
//
// A Client given a token (Client::set_cancel) registers the context of each
// call it starts; Cancel() cancels the calls running then
// (grpc::ClientContext::TryCancel) and makes every later call fail with
// CANCELLED before it starts. Transfers check the token between steps and,
// once cancelled, clean up what they created (with calls that ignore the
// token) and return CANCELLED.
//
//   CancelToken cancel;
//   client->set_cancel(&cancel);
//   std::thread watcher([&] { WaitForSigint(); cancel.Cancel(); });
//   absl::StatusOr<TransferResult> put = client->PutFile("big", "big", {});
//   // put.status().code() == kCancelled after Ctrl-C; the target is unchanged.
//
// Threads: every method is thread-safe. Lifetime: a token must outlive the
// calls registered with it (the Client detaches each call when it ends).
// One-shot: a cancelled token stays cancelled.
#ifndef OVERLAPD_CLIENTS_CPP_CANCEL_H_
#define OVERLAPD_CLIENTS_CPP_CANCEL_H_

#include <set>

#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace overlapd {

class CancelToken {
 public:
  CancelToken() = default;
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  // Cancels the registered calls and every later one.
  void Cancel();
  bool cancelled() const;

  // Registers the context of a starting call; false (and nothing
  // registered) when the token is already cancelled.
  bool Attach(grpc::ClientContext* context);
  // Unregisters it; call before the context dies.
  void Detach(grpc::ClientContext* context);

 private:
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace overlapd

#endif  // OVERLAPD_CLIENTS_CPP_CANCEL_H_
