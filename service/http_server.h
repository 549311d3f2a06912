// The HTTP listener of --metrics-listen: /metrics for Prometheus, and the
// status page (status_page.h) at /. civetweb (Debian libcivetweb-dev, the
// server prometheus-cpp's own Exposer is built on) serves it; overlapd
// drives it directly because the Exposer serves nothing but metrics.
//
// civetweb's defaults let two clients that send half a request hold both of
// its 2 threads for 30 s (request_timeout_ms): scrapes must not wait on a
// slow or hostile peer, so it runs 8 threads, a 2 s request timeout and no
// keep-alive.
//
// Example:
//
//   auto http = HttpServer::Start("127.0.0.1:9464");
//   (*http)->Handle("/metrics", [] { return HttpReply{200, "text/plain", "..."}; });
//   int port = (*http)->port();
#ifndef OVERLAPD_SERVICE_HTTP_SERVER_H_
#define OVERLAPD_SERVICE_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

class CivetServer;
class CivetHandler;

namespace overlapd {

struct HttpReply {
  int status = 200;
  std::string content_type;
  std::string body;
};

class HttpServer {
 public:
  // Listens on `listen` (HOST:PORT; port 0 picks one). UNAVAILABLE when it
  // cannot.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen);
  // Stops serving (waits for requests in progress) before the handlers go.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Answers GET requests for `uri` with what `handler` returns; `handler`
  // runs on civetweb's threads, several at once. civetweb's patterns: "/x"
  // also matches "/x/...", "/$" only "/". Call before traffic is expected;
  // a path without a handler answers 404.
  void Handle(const std::string& uri, std::function<HttpReply()> handler);
  int port() const { return port_; }

 private:
  HttpServer() = default;

  std::unique_ptr<CivetServer> server_;
  std::vector<std::unique_ptr<CivetHandler>> handlers_;
  int port_ = 0;
};

}  // namespace overlapd

#endif  // OVERLAPD_SERVICE_HTTP_SERVER_H_
