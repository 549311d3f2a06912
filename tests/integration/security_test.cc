// TLS, mutual TLS and bearer tokens, end to end: a real overlapd with
// certificates made by openssl for this test, and the C++ client and the
// `overlap` CLI connecting with and without the right credentials.
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "clients/cpp/client.h"
#include "tests/integration/server_test.h"
#include "tests/integration/test_util.h"

namespace overlapd::itest {
namespace {

constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kWriteToken[] = "write-token-0123456789abcdef";
constexpr char kTeamToken[] = "team-token-0123456789abcdef";

// A CA, a server certificate for 127.0.0.1 signed by it, a client
// certificate signed by it, and a self-signed client certificate.
class Certificates {
 public:
  Certificates() {
    ok_ = Run({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
               "/CN=overlapd test CA", "-keyout", Path("ca.key"), "-out", Path("ca.pem")}) &&
          Signed("server", "IP:127.0.0.1,DNS:localhost") && Signed("client", "") &&
          Run({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
               "/CN=rogue", "-keyout", Path("rogue.key"), "-out", Path("rogue.pem")});
  }
  bool ok() const { return ok_; }
  const std::string& log() const { return log_; }
  std::string Path(const std::string& name) const { return dir_.Join(name); }

 private:
  bool Run(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    CommandResult r = RunCommand(args, std::chrono::seconds(60));
    if (r.exit_code != 0) absl::StrAppend(&log_, r.err);
    return r.exit_code == 0;
  }
  bool Signed(const std::string& name, const std::string& san) {
    if (!Run({"req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-keyout",
              Path(name + ".key"), "-out", Path(name + ".csr")})) {
      return false;
    }
    std::vector<std::string> sign = {"x509", "-req", "-in", Path(name + ".csr"), "-CA",
                                     Path("ca.pem"), "-CAkey", Path("ca.key"),
                                     "-CAcreateserial", "-days", "2", "-out",
                                     Path(name + ".pem")};
    if (!san.empty()) {
      WriteFileOrDie(Path(name + ".ext"), "subjectAltName=" + san + "\n");
      sign.push_back("-extfile");
      sign.push_back(Path(name + ".ext"));
    }
    return Run(sign);
  }

  TempDir dir_{"overlapd-certs-"};
  std::string log_;
  bool ok_ = false;
};

using SessionStream = grpc::ClientReaderWriter<v1::Batch, v1::EventBatch>;

// Reads a Session's BATCH_COMPLETE events into `completes` (by batch tag)
// until it holds `want` of them, or to the end of the stream (want 0).
void ReadCompletes(SessionStream& stream, std::map<uint64_t, v1::Event>* completes,
                   size_t want = 0) {
  v1::EventBatch events;
  while ((want == 0 || completes->size() < want) && stream.Read(&events)) {
    for (const v1::Event& e : events.events()) {
      if (e.type() == v1::BATCH_COMPLETE) (*completes)[e.tag()] = e;
    }
  }
}

// Half-closes a Session, reads it to the end and returns its BATCH_COMPLETE
// events by batch tag; the call must end OK.
std::map<uint64_t, v1::Event> CloseSession(SessionStream& stream) {
  stream.WritesDone();
  std::map<uint64_t, v1::Event> completes;
  ReadCompletes(stream, &completes);
  grpc::Status status = stream.Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return completes;
}

class SecurityTest : public ServerTest {
 protected:
  // Starts overlapd with --tokens holding `contents` (the file is
  // tokens_file()), and a hello.txt in its root.
  void StartWithTokens(const std::string& contents) {
    WriteFileOrDie(tokens_file(), contents);
    ASSERT_NO_FATAL_FAILURE(StartServer({"--tokens", tokens_file()}));
    WriteFileOrDie(server_->RootPath("hello.txt"), "hello");
  }
  std::string tokens_file() const { return dir_.Join("tokens"); }

  // A Session call carrying `token`, and the context it lives in.
  struct TokenSession {
    grpc::ClientContext context;
    std::unique_ptr<v1::IoService::Stub> stub;
    std::unique_ptr<SessionStream> stream;
  };
  std::unique_ptr<TokenSession> OpenSession(const char* token) {
    auto session = std::make_unique<TokenSession>();
    session->context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    session->stub = server_->NewStub();
    session->stream = session->stub->Session(&session->context);
    return session;
  }

  // A client of the server under test with `options`.
  std::unique_ptr<Client> Connect(const ConnectOptions& options) {
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Connect(server_->address(), options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  // Stats "hello.txt": the call's status.
  absl::Status StatHello(Client& client) {
    auto stat = client.Stat({"hello.txt"});
    if (!stat.ok()) return stat.status();
    return (*stat)[0].status();
  }
  absl::Status WriteOne(Client& client, const std::string& path) {
    v1::Batch batch;
    *batch.add_ops() = WriteOp(1, path, "written");
    return client.Execute(batch, [](const v1::Event&) {});
  }

  TempDir dir_{"overlapd-tokens-"};
};

TEST_F(SecurityTest, TlsServesOnlyClientsThatTrustItsCertificate) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << certs.log();
  ASSERT_NO_FATAL_FAILURE(StartServer(
      {"--tls-cert", certs.Path("server.pem"), "--tls-key", certs.Path("server.key")}));
  WriteFileOrDie(server_->RootPath("hello.txt"), "hello");

  auto tls = Connect({.tls_ca_file = certs.Path("ca.pem")});
  ASSERT_NE(tls, nullptr);
  EXPECT_TRUE(StatHello(*tls).ok()) << StatHello(*tls);

  auto plaintext = Connect({});
  ASSERT_NE(plaintext, nullptr);
  EXPECT_EQ(StatHello(*plaintext).code(), absl::StatusCode::kUnavailable);

  auto wrong_ca = Connect({.tls_ca_file = certs.Path("rogue.pem")});
  ASSERT_NE(wrong_ca, nullptr);
  EXPECT_EQ(StatHello(*wrong_ca).code(), absl::StatusCode::kUnavailable);

  // The CLI, with --tls-ca before the command.
  CommandResult get = server_->RunCli({"--tls-ca", certs.Path("ca.pem"), "cat", "hello.txt"});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "hello");
}

TEST_F(SecurityTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  Certificates certs;
  ASSERT_TRUE(certs.ok()) << certs.log();
  ASSERT_NO_FATAL_FAILURE(StartServer({"--tls-cert", certs.Path("server.pem"), "--tls-key",
                                       certs.Path("server.key"), "--tls-client-ca",
                                       certs.Path("ca.pem")}));
  WriteFileOrDie(server_->RootPath("hello.txt"), "hello");

  auto signed_client = Connect({.tls_ca_file = certs.Path("ca.pem"),
                                .tls_cert_file = certs.Path("client.pem"),
                                .tls_key_file = certs.Path("client.key")});
  ASSERT_NE(signed_client, nullptr);
  EXPECT_TRUE(StatHello(*signed_client).ok()) << StatHello(*signed_client);

  auto no_cert = Connect({.tls_ca_file = certs.Path("ca.pem")});
  ASSERT_NE(no_cert, nullptr);
  EXPECT_FALSE(StatHello(*no_cert).ok()) << "served a client without a certificate";

  auto rogue = Connect({.tls_ca_file = certs.Path("ca.pem"),
                        .tls_cert_file = certs.Path("rogue.pem"),
                        .tls_key_file = certs.Path("rogue.key")});
  ASSERT_NE(rogue, nullptr);
  EXPECT_FALSE(StatHello(*rogue).ok()) << "served a certificate the CA did not sign";
}

TEST_F(SecurityTest, BearerTokensAuthenticateAndScopeEveryCall) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens(absl::StrCat("# token scopes [prefix]\n", kReadToken,
                                                       " read\n", kWriteToken, "  read,write\n",
                                                       kTeamToken, " read,write team/\n")));

  // No token, a wrong one: UNAUTHENTICATED, for unary and streaming calls.
  auto anonymous = Connect({});
  ASSERT_NE(anonymous, nullptr);
  EXPECT_EQ(StatHello(*anonymous).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous->Capabilities().status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(anonymous->ListJobs(10, "").status().code(), absl::StatusCode::kUnauthenticated);
  auto wrong = Connect({.token = "not-a-token-of-the-file"});
  ASSERT_NE(wrong, nullptr);
  EXPECT_EQ(StatHello(*wrong).code(), absl::StatusCode::kUnauthenticated);

  // read: reads and job listings; writes refused naming the field.
  auto reader = Connect({.token = kReadToken});
  ASSERT_NE(reader, nullptr);
  EXPECT_TRUE(StatHello(*reader).ok()) << StatHello(*reader);
  EXPECT_TRUE(reader->ListJobs(10, "").ok());
  absl::Status denied = WriteOne(*reader, "new.txt");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied) << denied;
  EXPECT_NE(denied.message().find("ops[0].write.path"), std::string::npos) << denied;
  EXPECT_FALSE(PathExists(server_->RootPath("new.txt")));
  EXPECT_EQ(reader->Copy("hello.txt", "copy.txt").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(reader->Submit(v1::Batch()).status().code(), absl::StatusCode::kInvalidArgument)
      << "an empty job is refused for what it is, the token allows reads";
  EXPECT_EQ(reader->CancelJob(1).status().code(), absl::StatusCode::kPermissionDenied);

  // read,write: everything.
  auto writer = Connect({.token = kWriteToken});
  ASSERT_NE(writer, nullptr);
  EXPECT_TRUE(WriteOne(*writer, "new.txt").ok());
  EXPECT_EQ(ReadFileOrDie(server_->RootPath("new.txt")), "written");

  // A prefix: only paths under team/, and no way out of it by "..".
  auto team = Connect({.token = kTeamToken});
  ASSERT_NE(team, nullptr);
  EXPECT_TRUE(team->Mkdir("team").ok());
  EXPECT_TRUE(WriteOne(*team, "team/a.txt").ok());
  EXPECT_TRUE(WriteOne(*team, "./team/b.txt").ok());
  for (const char* outside : {"hello.txt", "teammate/x", "team/../hello.txt"}) {
    SCOPED_TRACE(outside);
    absl::Status s = WriteOne(*team, outside);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  }
  EXPECT_EQ(StatHello(*team).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(team->Copy("hello.txt", "team/stolen.txt").status().code(),
            absl::StatusCode::kPermissionDenied)
      << "a copy's source counts too";
  v1::SubscribeRequest everything;
  absl::Status sub = team->Subscribe(everything, [](const v1::Event&) { return false; });
  EXPECT_EQ(sub.code(), absl::StatusCode::kPermissionDenied)
      << "a prefixed token subscribes only under its prefix: " << sub;

  // Jobs: a prefixed token sees only jobs submitted under its prefix.
  v1::Batch team_job;
  team_job.set_label("team job");
  team_job.add_ops()->mutable_stat()->set_path("team/a.txt");
  absl::StatusOr<v1::Job> mine = team->Submit(team_job);
  ASSERT_TRUE(mine.ok()) << mine.status();
  v1::Batch root_job;
  root_job.add_ops()->mutable_stat()->set_path("hello.txt");
  absl::StatusOr<v1::Job> theirs = writer->Submit(root_job);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_TRUE(team->GetJob(mine->id()).ok());
  EXPECT_EQ(team->GetJob(theirs->id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(team->CancelJob(theirs->id()).status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<v1::ListJobsResponse> listed = team->ListJobs(100, "");
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->jobs_size(), 1);
  EXPECT_EQ(listed->jobs(0).id(), mine->id());
  EXPECT_TRUE(writer->GetJob(mine->id()).ok()) << "an unprefixed token sees every job";

  // The CLI: --token-file, or $OVERLAPD_TOKEN.
  const std::string token_file = dir_.Join("my-token");
  WriteFileOrDie(token_file, absl::StrCat(kWriteToken, "\n"));
  CommandResult cat = server_->RunCli({"--token-file", token_file, "cat", "hello.txt"});
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_EQ(cat.out, "hello");
  CommandResult refused = server_->RunCli({"cat", "hello.txt"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("UNAUTHENTICATED"), std::string::npos) << refused.err;
}

TEST_F(SecurityTest, SessionRefusesAnUnauthorizedBatchAndGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens(absl::StrCat(kReadToken, " read\n")));

  std::unique_ptr<TokenSession> session = OpenSession(kReadToken);
  SessionStream* stream = session->stream.get();
  v1::Batch write;
  write.set_tag(1);
  *write.add_ops() = WriteOp(1, "nope.txt", "x");
  v1::Batch read;
  read.set_tag(2);
  *read.add_ops() = ReadOp(1, "hello.txt");
  ASSERT_TRUE(stream->Write(write));
  ASSERT_TRUE(stream->Write(read));
  std::map<uint64_t, v1::Event> completes = CloseSession(*stream);
  ASSERT_EQ(completes.size(), 2u);
  EXPECT_EQ(completes[1].error().code(), grpc::StatusCode::PERMISSION_DENIED)
      << completes[1].DebugString();
  EXPECT_EQ(completes[2].error().code(), 0) << completes[2].DebugString();
  EXPECT_FALSE(PathExists(server_->RootPath("nope.txt")));
}

// Polls `probe` until it returns `code` or 10 s pass.
bool EventuallyCode(const std::function<absl::Status()>& probe, absl::StatusCode code) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (probe().code() == code) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST_F(SecurityTest, SighupReloadsTheTokenFile) {
  ASSERT_NO_FATAL_FAILURE(StartWithTokens(absl::StrCat(kReadToken, " read\n")));
  auto old_token = Connect({.token = kReadToken});
  auto new_token = Connect({.token = kWriteToken});
  ASSERT_NE(old_token, nullptr);
  ASSERT_NE(new_token, nullptr);
  EXPECT_TRUE(StatHello(*old_token).ok());
  EXPECT_EQ(StatHello(*new_token).code(), absl::StatusCode::kUnauthenticated);

  // A Session authenticated now keeps its grant across the reload.
  std::unique_ptr<TokenSession> session = OpenSession(kReadToken);
  SessionStream* stream = session->stream.get();
  v1::Batch read;
  *read.add_ops() = ReadOp(1, "hello.txt");
  read.set_tag(1);
  ASSERT_TRUE(stream->Write(read));
  // Its first answer shows the call was authenticated: only then reload.
  std::map<uint64_t, v1::Event> completes;
  ReadCompletes(*stream, &completes, 1);

  WriteFileOrDie(tokens_file(), absl::StrCat(kWriteToken, " read,write\n"));
  server_->Signal(SIGHUP);
  EXPECT_TRUE(EventuallyCode([&] { return StatHello(*new_token); }, absl::StatusCode::kOk))
      << "the new token was not taken";
  EXPECT_EQ(StatHello(*old_token).code(), absl::StatusCode::kUnauthenticated);

  read.set_tag(2);
  ASSERT_TRUE(stream->Write(read));
  completes.merge(CloseSession(*stream));
  ASSERT_EQ(completes.size(), 2u);
  EXPECT_EQ(completes[2].error().code(), 0) << "the open Session lost its grant";

  // A broken file on reload: logged, and the tokens in force stay.
  WriteFileOrDie(tokens_file(), "broken\n");
  server_->Signal(SIGHUP);
  EXPECT_TRUE(server_->WaitForLog("the tokens in force stay", std::chrono::seconds(10)))
      << server_->Log();
  EXPECT_TRUE(StatHello(*new_token).ok());
}

TEST_F(SecurityTest, BadTokenFileOrTlsFlagsStopTheServerWithTheReason) {
  const std::string tokens = tokens_file();
  WriteFileOrDie(tokens, absl::StrCat(kReadToken, " read\nshort read\n"));
  auto server = ServerProcess::Start({"--tokens", tokens});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find(":2: token shorter than"), std::string::npos)
      << server.status();

  WriteFileOrDie(tokens, absl::StrCat(kReadToken, " read,admin\n"));
  server = ServerProcess::Start({"--tokens", tokens});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("unknown scope \"admin\""), std::string::npos)
      << server.status();

  server = ServerProcess::Start({"--tls-client-ca", tokens});
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("--tls-client-ca needs --tls-cert"),
            std::string::npos)
      << server.status();
}

}  // namespace
}  // namespace overlapd::itest
