#include "service/http_server.h"

#include <CivetServer.h>

#include <exception>

#include "absl/strings/str_cat.h"

namespace overlapd {
namespace {

class FunctionHandler final : public CivetHandler {
 public:
  explicit FunctionHandler(std::function<HttpReply()> fn) : fn_(std::move(fn)) {}

  bool handleGet(CivetServer*, struct mg_connection* conn) override {
    HttpReply reply = fn_();
    const std::string head = absl::StrCat(
        "HTTP/1.1 ", reply.status, " ", mg_get_response_code_text(conn, reply.status),
        "\r\nContent-Type: ", reply.content_type, "\r\nContent-Length: ", reply.body.size(),
        "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        "Connection: close\r\n\r\n");
    mg_write(conn, head.data(), head.size());
    mg_write(conn, reply.body.data(), reply.body.size());
    return true;
  }

 private:
  const std::function<HttpReply()> fn_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen) {
  std::unique_ptr<HttpServer> http(new HttpServer());
  try {
    http->server_ = std::make_unique<CivetServer>(std::vector<std::string>{
        "listening_ports", listen, "num_threads", "8", "request_timeout_ms", "2000",
        "enable_keep_alive", "no"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("--metrics-listen ", listen, ": ", e.what()));
  }
  std::vector<int> ports = http->server_->getListeningPorts();
  http->port_ = ports.empty() ? 0 : ports.front();
  return http;
}

HttpServer::~HttpServer() {
  if (server_ != nullptr) server_->close();
}

void HttpServer::Handle(const std::string& uri, std::function<HttpReply()> handler) {
  handlers_.push_back(std::make_unique<FunctionHandler>(std::move(handler)));
  server_->addHandler(uri, handlers_.back().get());
}

}  // namespace overlapd
