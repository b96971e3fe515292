// Hostile input against a real ablate-server (the binary, with its own limits and flags), over
// gRPC and over its HTTP gateway: oversized messages, deeply wrong specs, huge page sizes and
// bad page tokens, malformed JSON, names with unicode and with control characters. Each must get
// its own error, one sentence naming the field or the problem, and nothing else may happen: no
// job is created, the server still answers, and no client text reaches the log unescaped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/http/mapping.h"
#include "server/jobs/text.h"
#include "tests/support/server_process.h"
// Last: its <resolv.h> defines the macro `_res`, which breaks headers (Eigen's) included after it.
#include "httplib.h"

namespace ablate {
namespace {

using namespace std::string_literals;
using jobs::IsUtf8;

// As server/main.cc: the largest gRPC message it receives.
constexpr int kMaxReceiveBytes = 1 << 20;
// As http::GatewayOptions::max_body_bytes.
constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr char kUnicodeName[] = "Ünïcødé 名前 🚀";

class HostileInputTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new test_support::ServerProcess();
    // At debug level the server logs every HTTP request line, with the client's target in it:
    // what a forged line would ride on.
    const std::string error = server_->Start({.binary = ABLATE_SERVER_BINARY,
                                              .workers = 1,
                                              .http = true,
                                              .extra_args = {"--log-level", "debug"}});
    ASSERT_EQ(error, "");
    stub_ = v1::Ablation::NewStub(
        grpc::CreateChannel(server_->GrpcAddress(), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    stub_.reset();
    const std::optional<int> status = server_->Stop(std::chrono::seconds(30));
    EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "ablate-server did not exit cleanly on SIGTERM";
    delete server_;
  }

  void SetUp() override {
    ASSERT_TRUE(server_->Running());
    jobs_before_ = JobCount();
  }

  // Nothing else happened: no job was created, both front doors still answer, and the server
  // has not logged a line that starts with text a client sent.
  void TearDown() override {
    EXPECT_EQ(JobCount(), jobs_before_) << "a refused request created a job";
    httplib::Client http("127.0.0.1", server_->http_port());
    httplib::Result health = http.Get("/healthz");
    ASSERT_TRUE(health) << "the HTTP gateway stopped answering";
    EXPECT_EQ(health->status, 200);
    EXPECT_TRUE(server_->Running());
    const std::string log = server_->Log();
    EXPECT_EQ(log.find("\nforged"), std::string::npos) << log;
    EXPECT_EQ(log.find("\rforged"), std::string::npos) << log;
    EXPECT_EQ(log.find('\x1b'), std::string::npos) << log;
  }

  static grpc::ClientContext* Context(grpc::ClientContext& context) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return &context;
  }

  // Jobs in the store, counted over ListJobs' pages.
  static int JobCount() {
    int count = 0;
    v1::ListJobsRequest request;
    request.set_page_size(1000);
    for (;;) {
      grpc::ClientContext context;
      v1::ListJobsResponse response;
      const grpc::Status status = stub_->ListJobs(Context(context), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) return -1;
      count += response.jobs_size();
      if (response.next_page_token().empty()) return count;
      request.set_page_token(response.next_page_token());
    }
  }

  static grpc::Status Submit(const v1::JobSpec& spec, const std::string& owner = "tester",
                             v1::Job* job = nullptr) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    request.set_owner(owner);
    grpc::ClientContext context;
    v1::SubmitJobResponse response;
    const grpc::Status status = stub_->SubmitJob(Context(context), request, &response);
    if (job != nullptr) *job = response.job();
    return status;
  }

  static grpc::Status List(const v1::ListJobsRequest& request) {
    grpc::ClientContext context;
    v1::ListJobsResponse response;
    return stub_->ListJobs(Context(context), request, &response);
  }

  static void Cancel(int64_t job_id) {
    grpc::ClientContext context;
    v1::CancelJobRequest request;
    request.set_job_id(job_id);
    v1::CancelJobResponse response;
    (void)stub_->CancelJob(Context(context), request, &response);
  }

  static httplib::Result Post(const std::string& path, const std::string& body) {
    httplib::Client http("127.0.0.1", server_->http_port());
    http.set_read_timeout(20, 0);
    return http.Post(path, body, "application/json");
  }
  static httplib::Result Get(const std::string& path) {
    httplib::Client http("127.0.0.1", server_->http_port());
    http.set_read_timeout(20, 0);
    return http.Get(path);
  }

  // The error body's code and message; empty strings when the body is not one.
  static std::pair<std::string, std::string> ErrorOf(const httplib::Response& res) {
    google::protobuf::Struct body;
    if (!http::JsonToMessage(res.body, body).ok() || !body.fields().contains("error")) return {};
    const auto& error = body.fields().at("error").struct_value().fields();
    if (!error.contains("code") || !error.contains("message")) return {};
    return {error.at("code").string_value(), error.at("message").string_value()};
  }

  // A job that trains for a moment only: accepted specs are cancelled right away.
  static v1::JobSpec Tiny() {
    v1::JobSpec spec;
    spec.mutable_model()->set_depth(1);
    spec.mutable_model()->set_width(4);
    spec.mutable_model()->set_input_dim(4);
    spec.mutable_data()->set_label_dims(2);
    spec.mutable_training()->set_steps(5);
    spec.mutable_training()->set_eval_every(5);
    spec.add_runs()->set_init("kaiming");
    return spec;
  }

  static inline test_support::ServerProcess* server_ = nullptr;
  static inline std::unique_ptr<v1::Ablation::Stub> stub_;
  int jobs_before_ = 0;
};

// --- gRPC ---

TEST_F(HostileInputTest, GrpcMessageOverTheReceiveLimitIsResourceExhausted) {
  v1::JobSpec spec = Tiny();
  spec.set_name(std::string(kMaxReceiveBytes + 1, 'x'));
  const grpc::Status status = Submit(spec);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  // Just under the limit, the message arrives and the spec is refused for its name.
  spec.set_name(std::string(kMaxReceiveBytes - 1000, 'x'));
  const grpc::Status under = Submit(spec);
  EXPECT_EQ(under.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(under.error_message().find("name must be 1 to 200 bytes"), std::string::npos)
      << under.error_message();
}

struct BadSpec {
  const char* what;
  std::function<void(v1::JobSpec&)> break_it;
  const char* field;  // must appear in the message
};

TEST_F(HostileInputTest, GrpcDeeplyWrongSpecsAreInvalidArgumentNamingTheField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const int int_max = std::numeric_limits<int>::max();
  const std::vector<BadSpec> cases = {
      {"negative depth", [](v1::JobSpec& s) { s.mutable_model()->set_depth(-3); }, "model.depth"},
      {"zero width", [](v1::JobSpec& s) { s.mutable_model()->set_width(0); }, "model.width"},
      {"absurd depth", [&](v1::JobSpec& s) { s.mutable_model()->set_depth(int_max); },
       "model.depth"},
      {"absurd width", [&](v1::JobSpec& s) { s.mutable_model()->set_width(int_max); },
       "model.width"},
      {"model too big",
       [](v1::JobSpec& s) {
         s.mutable_model()->set_depth(64);
         s.mutable_model()->set_width(4096);
         s.mutable_model()->set_input_dim(4096);
       },
       "model.width"},
      {"negative steps", [](v1::JobSpec& s) { s.mutable_training()->set_steps(-1); },
       "training.steps"},
      {"huge steps", [&](v1::JobSpec& s) { s.mutable_training()->set_steps(int_max); },
       "training.steps"},
      {"zero batch", [](v1::JobSpec& s) { s.mutable_training()->set_batch(0); }, "training.batch"},
      {"negative eval_every", [](v1::JobSpec& s) { s.mutable_training()->set_eval_every(-7); },
       "training.eval_every"},
      {"NaN lr", [&](v1::JobSpec& s) { s.mutable_training()->set_lr(nan); }, "training.lr"},
      {"infinite lr", [&](v1::JobSpec& s) { s.mutable_training()->set_lr(inf); }, "training.lr"},
      {"negative lr", [](v1::JobSpec& s) { s.mutable_training()->set_lr(-0.1); }, "training.lr"},
      {"-inf momentum", [&](v1::JobSpec& s) { s.mutable_training()->set_momentum(-inf); },
       "training.momentum"},
      {"NaN momentum", [&](v1::JobSpec& s) { s.mutable_training()->set_momentum(nan); },
       "training.momentum"},
      {"zero train size", [](v1::JobSpec& s) { s.mutable_data()->set_train_size(0); },
       "data.train_size"},
      {"huge val size", [&](v1::JobSpec& s) { s.mutable_data()->set_val_size(int_max); },
       "data.val_size"},
      {"negative label dims", [](v1::JobSpec& s) { s.mutable_data()->set_label_dims(-1); },
       "data.label_dims"},
      {"classes 1", [](v1::JobSpec& s) { s.mutable_model()->set_classes(1); }, "model.classes"},
      {"17 runs",
       [](v1::JobSpec& s) {
         for (int i = 0; i < 17; ++i) s.add_runs()->set_init("xavier");
       },
       "runs must hold 1 to 16"},
      {"100000 runs",
       [](v1::JobSpec& s) {
         for (int i = 0; i < 100000; ++i) s.add_runs();
       },
       "runs must hold 1 to 16"},
      {"unknown init", [](v1::JobSpec& s) { s.mutable_runs(0)->set_init("he-normal"); },
       "runs[0].init must be one of"},
      {"empty init", [](v1::JobSpec& s) { s.mutable_runs(0)->set_init(""); }, "runs[0].init"},
      {"NaN uniform bound",
       [&](v1::JobSpec& s) {
         s.mutable_runs(0)->set_init("uniform");
         s.mutable_runs(0)->set_uniform_low(nan);
       },
       "runs[0].uniform_low"},
      {"infinite uniform bound",
       [&](v1::JobSpec& s) {
         s.mutable_runs(0)->set_init("uniform");
         s.mutable_runs(0)->set_uniform_high(inf);
       },
       "runs[0].uniform_high"},
      {"huge name", [](v1::JobSpec& s) { s.set_name(std::string(100000, 'n')); },
       "name must be 1 to 200 bytes"},
  };
  for (const BadSpec& c : cases) {
    v1::JobSpec spec = Tiny();
    c.break_it(spec);
    const grpc::Status status = Submit(spec);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(status.error_message().find(c.field), std::string::npos)
        << c.what << ": " << status.error_message();
  }
  const grpc::Status owner = Submit(Tiny(), std::string(65, 'o'));
  EXPECT_EQ(owner.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(owner.error_message().find("owner must be 1 to 64 bytes"), std::string::npos)
      << owner.error_message();
}

TEST_F(HostileInputTest, GrpcHugePageSizesAndBadPageTokensAreInvalidArgument) {
  for (int page_size :
       {-1, 1001, std::numeric_limits<int>::max(), std::numeric_limits<int>::min()}) {
    v1::ListJobsRequest request;
    request.set_page_size(page_size);
    const grpc::Status status = List(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << page_size;
    EXPECT_NE(status.error_message().find("page_size must be between 1 and 1000"),
              std::string::npos)
        << status.error_message();
  }
  for (const std::string& token :
       {"garbage"s, "j"s, "j0"s, "j-1"s, "j12x"s, "j99999999999999999999999"s,
        std::string(100000, 'j'), "j1\n"s, "j\xff"s, "\0j1"s}) {
    v1::ListJobsRequest request;
    request.set_page_token(token);
    const grpc::Status status = List(request);
    // A token that is not UTF-8 fails protobuf's parsing of the request before the service sees
    // it (see GrpcStringsThatAreNotUtf8AreRefusedBeforeTheService).
    EXPECT_FALSE(status.ok()) << token.size();
    if (IsUtf8(token)) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << token.size();
      EXPECT_NE(status.error_message().find("page_token"), std::string::npos)
          << status.error_message();
    }
  }
}

TEST_F(HostileInputTest, GrpcNamesWithControlCharactersAreRefusedNamingTheField) {
  const std::vector<std::string> bad = {"a\nforged line",
                                        "a\rforged",
                                        "tab\there",
                                        "nul\0x"s,
                                        "\x1b[2Jclear",
                                        "del\x7f",
                                        "nel\xc2\x85x",
                                        "csi\xc2\x9b"
                                        "31m",
                                        "\nforged",
                                        "\rforged"};
  for (const std::string& name : bad) {
    v1::JobSpec spec = Tiny();
    spec.set_name(name);
    grpc::Status status = Submit(spec);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << name.size();
    EXPECT_NE(status.error_message().find("name must be UTF-8 text without control characters"),
              std::string::npos)
        << status.error_message();
    status = Submit(Tiny(), name);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("owner must be UTF-8 text without control characters"),
              std::string::npos)
        << status.error_message();
  }
}

TEST_F(HostileInputTest, GrpcStringsThatAreNotUtf8AreRefusedBeforeTheService) {
  // proto3 strings must be UTF-8, so protobuf's parser refuses the request before the service
  // sees it. gRPC 1.51's callback API then answers UNIMPLEMENTED with no message
  // (server_callback_handlers.h: a failed deserialization becomes an UnimplementedUnaryReactor):
  // a poor error, but the request has no effect, which is what is asserted. The text checks in
  // jobs/text.h cover the same bytes arriving over HTTP.
  v1::JobSpec spec = Tiny();
  spec.set_name("bad \xff\xfe bytes");
  grpc::Status status = Submit(spec);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED) << status.error_message();
  status = Submit(Tiny(), "\xc3");
  EXPECT_FALSE(status.ok());
}

TEST_F(HostileInputTest, UnicodeNamesAreStoredIntact) {
  v1::Job job;
  const grpc::Status status = Submit(
      [] {
        v1::JobSpec spec = Tiny();
        spec.set_name(kUnicodeName);
        return spec;
      }(),
      "zoë 🚀", &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ++jobs_before_;  // this one is meant to exist
  Cancel(job.id());

  grpc::ClientContext context;
  v1::GetJobRequest request;
  request.set_job_id(job.id());
  v1::Job stored;
  ASSERT_TRUE(stub_->GetJob(Context(context), request, &stored).ok());
  EXPECT_EQ(stored.name(), kUnicodeName);
  EXPECT_EQ(stored.owner(), "zoë 🚀");

  // The same bytes over HTTP, JSON-escaped or not, and back.
  httplib::Result res = Get(absl::StrCat("/api/v1/jobs/", job.id()));
  ASSERT_TRUE(res);
  v1::Job via_http;
  ASSERT_TRUE(http::JsonToMessage(res->body, via_http).ok()) << res->body;
  EXPECT_EQ(via_http.name(), kUnicodeName);
  res = Post("/api/v1/jobs",
             R"({"spec":{"name":"\u00dcn\u00efc\u00f8d\u00e9 \u540d\u524d \ud83d\ude80",)"
             R"("model":{"depth":1,"width":4,"inputDim":4},"data":{"labelDims":2},)"
             R"("training":{"steps":5},"runs":[{"init":"xavier"}]}})");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  ++jobs_before_;
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(http::JsonToMessage(res->body, submitted).ok());
  EXPECT_EQ(submitted.job().name(), kUnicodeName);
  Cancel(submitted.job().id());

  // The log names the job by its name, kept as it is.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->Log().find(kUnicodeName) == std::string::npos &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(server_->Log().find(kUnicodeName), std::string::npos);
}

// --- HTTP ---

TEST_F(HostileInputTest, HttpBodyOverTheLimitIs413) {
  const std::string body = R"({"spec":{"name":")" + std::string(kMaxBodyBytes, 'x') + R"("}})";
  httplib::Result res = Post("/api/v1/jobs", body);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(ErrorOf(*res).first, "RESOURCE_EXHAUSTED") << res->body;
}

TEST_F(HostileInputTest, HttpMalformedJsonIs400WithAMessage) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"unterminated object", "{"},
      {"unterminated string", R"({"spec":{"name":"abc)"},
      {"a list", "[]"},
      {"a string", R"("spec")"},
      {"a number", "42"},
      {"trailing garbage", R"({"spec":{}} x)"},
      {"depth a string", R"({"spec":{"model":{"depth":"deep"}}})"},
      {"depth a fraction", R"({"spec":{"model":{"depth":1.5}}})"},
      {"depth over int32", R"({"spec":{"model":{"depth":99999999999}}})"},
      {"lr a bool", R"({"spec":{"training":{"lr":true}}})"},
      {"runs an object", R"({"spec":{"runs":{"init":"xavier"}}})"},
      {"runs a string", R"({"spec":{"runs":"xavier"}})"},
      {"name a number", R"({"spec":{"name":7}})"},
      {"unknown field", R"({"spec":{"modle":{}}})"},
      {"unknown top-level field", R"({"spec":{},"admin":true})"},
      {"deeply nested lists", std::string(100000, '[') + std::string(100000, ']')},
      {"deeply nested objects",
       [] {
         std::string json;
         for (int i = 0; i < 20000; ++i) json += R"({"a":)";
         json += "1";
         json += std::string(20000, '}');
         return json;
       }()},
      {"nested under a known field", R"({"spec":{"name":{"a":{"b":{"c":[[[[[]]]]]}}}}})"},
      {"not UTF-8", "{\"spec\":{\"name\":\"bad \xff\xfe\"}}"},
      {"not UTF-8, quoted in the parser's message",  // found by gateway_json_fuzz
       "\xff\x01/\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xc1\x8a\xb2\x01``\0\0ze\xfd"
       "2"s},
      {"NUL byte", "{\"spec\":{\0}}"s},
      {"lone surrogate escape", R"({"spec":{"name":"\ud800"}})"},
  };
  for (const auto& [what, body] : cases) {
    httplib::Result res = Post("/api/v1/jobs", body);
    ASSERT_TRUE(res) << what << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 400) << what << ": " << res->body;
    const auto [code, message] = ErrorOf(*res);
    EXPECT_EQ(code, "INVALID_ARGUMENT") << what << ": " << res->body;
    EXPECT_FALSE(message.empty()) << what;
  }
}

TEST_F(HostileInputTest, HttpNamesWithControlCharactersAre400NamingTheField) {
  for (const std::string escaped :
       {R"(a\nforged)", R"(\rforged)", R"(tab\there)", R"(nul\u0000x)", R"(\u001b[2J)",
        R"(del\u007f)", R"(csi\u009b31m)", R"(nel\u0085)"}) {
    httplib::Result res =
        Post("/api/v1/jobs", absl::StrCat(R"({"spec":{"name":")", escaped, R"("},"owner":"x"})"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << escaped;
    EXPECT_NE(ErrorOf(*res).second.find("name must be UTF-8 text without control characters"),
              std::string::npos)
        << res->body;
    res = Post("/api/v1/jobs", absl::StrCat(R"({"owner":")", escaped, R"("})"));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << escaped;
    EXPECT_NE(ErrorOf(*res).second.find("owner must be UTF-8"), std::string::npos) << res->body;
  }
}

TEST_F(HostileInputTest, HttpHugePageSizesAndBadQueriesAre400) {
  for (const std::string query :
       {"page_size=1001", "page_size=-1", "page_size=99999999999", "page_size=1e9", "pageSize=abc",
        "page_token=garbage", "page_token=j0", "page_token=%FF%FE", "page_token=%0Aforged",
        "states=bogus", "created_after=yesterday", "nope=1"}) {
    httplib::Result res = Get("/api/v1/jobs?" + query);
    ASSERT_TRUE(res) << query;
    EXPECT_EQ(res->status, 400) << query << ": " << res->body;
    const auto [code, message] = ErrorOf(*res);
    EXPECT_EQ(code, "INVALID_ARGUMENT") << query << ": " << res->body;
    EXPECT_FALSE(message.empty()) << query;
  }
}

// Sends `request` as is over a new connection to the HTTP port and returns the status line of
// the answer (empty when none came).
std::string RawHttpStatusLine(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{.tv_sec = 20, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n;
    while (answer.find("\r\n") == std::string::npos &&
           (n = recv(fd, buffer, sizeof buffer, 0)) > 0) {
      answer.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return answer.substr(0, answer.find("\r\n"));
}

TEST_F(HostileInputTest, HttpPathsCannotForgeLogLines) {
  // Percent-encoded: the decoded path holds the control characters.
  for (const std::string path : {"/api/v1/jobs/%0Aforged", "/api/v1/jobs/1%0D%0Aforged/events",
                                 "/%1B[2J", "/api/v1/jobs/%FF%FE", "/api/v1/runs/-1/trajectory"}) {
    httplib::Result res = Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_GE(res->status, 400) << path;
    EXPECT_LT(res->status, 500) << path << ": " << res->body;
  }
  // Raw: a carriage return and an escape sequence inside the request line itself, which HTTP
  // parsers take as part of the target, and the server's request log writes out.
  const std::string raw_targets[] = {"/api/v1/jobs/1\rforged", "/api/v1/\x1b[2Jforged-screen"};
  for (const std::string& target : raw_targets) {
    const std::string status =
        RawHttpStatusLine(server_->http_port(), "GET " + target +
                                                    " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                    "Connection: close\r\n\r\n");
    EXPECT_TRUE(status.starts_with("HTTP/1.1 4")) << jobs::EscapeForLog(target) << ": " << status;
  }
  // The request lines reached the log, escaped (TearDown checks that no raw forged line or
  // escape character did). Lines are written as requests end: wait for the last one.
  std::string log;
  for (int i = 0; i < 100; ++i) {
    log = server_->Log();
    if (log.find("\\x1b[2Jforged-screen") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(log.find("GET /api/v1/jobs/1\\x0dforged"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /api/v1/\\x1b[2Jforged-screen"), std::string::npos) << log;
  EXPECT_NE(log.find("GET /api/v1/jobs/%0Aforged"), std::string::npos) << log;
}

}  // namespace
}  // namespace ablate
