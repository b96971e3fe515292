// Live streams through both front doors at once, against the real service in process: gRPC
// WatchJob and SSE share the per-user cap, a cursor past the job's end is refused by both, and
// a revoked token's open streams end (the re-check runs every 100 ms here).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "server/auth/token.h"
#include "server/http/gateway.h"
#include "server/rpc/grpc_service.h"
#include "server/service/service.h"
#include "tests/support/job_specs.h"
#include "tests/support/service_stack.h"
// Last: its <resolv.h> defines the macro `_res`, which breaks headers (Eigen's) included after it.
#include "httplib.h"

namespace ablate {
namespace {

using namespace std::chrono_literals;

class StreamsTest : public testing::Test {
 protected:
  void Start(service::ServiceOptions options) {
    stack_ = std::make_unique<test_support::ServiceStack>(/*workers=*/1, options, ":memory:",
                                                          nullptr, /*watch_threads=*/4);
    store::Store& store = *stack_->store;
    ASSERT_TRUE(store.CreateClass("cs101", absl::Now()).ok());
    ada_ = AddUser("ada");
    bob_ = AddUser("bob");

    grpc_ = std::make_unique<rpc::GrpcService>(*stack_->service, stack_->pool);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(grpc_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    address_ = absl::StrCat("127.0.0.1:", port);

    gateway_ = std::make_unique<http::HttpGateway>(*stack_->service, stack_->pool,
                                                   http::GatewayOptions{});
    absl::StatusOr<int> http_port = gateway_->Start("127.0.0.1", 0);
    ASSERT_TRUE(http_port.ok()) << http_port.status();
    http_port_ = *http_port;
  }

  void TearDown() override {
    if (stack_ == nullptr) return;
    stack_->training.jobs->Shutdown();
    stack_->service->Streams().Stop();
    gateway_->Stop();
    grpc_->EndStreams();
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
    stack_->training.executor.reset();
  }

  std::string AddUser(const std::string& name) {
    EXPECT_TRUE(stack_->store->CreateUser("cs101", name, store::Role::kStudent, absl::Now()).ok());
    const std::string token = *auth::NewToken();
    EXPECT_TRUE(stack_->store
                    ->AddToken(name, auth::TokenHash(token), auth::VisiblePrefix(token),
                               absl::Now())
                    .ok());
    return token;
  }

  v1::Job Submit(const std::string& token, const v1::JobSpec& spec) {
    absl::StatusOr<auth::Caller> caller = stack_->service->Authenticate(token);
    EXPECT_TRUE(caller.ok());
    v1::SubmitJobRequest request;
    *request.mutable_spec() = spec;
    absl::StatusOr<v1::Job> job = stack_->service->SubmitJob(*caller, request);
    EXPECT_TRUE(job.ok()) << job.status();
    return job.ok() ? *job : v1::Job();
  }

  // A gRPC watch as `token`'s user.
  struct GrpcWatch {
    std::unique_ptr<v1::Ablation::Stub> stub;
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::JobUpdate>> reader;
  };
  std::unique_ptr<GrpcWatch> WatchGrpc(const std::string& token, int64_t job_id,
                                       uint64_t cursor = 0) {
    auto watch = std::make_unique<GrpcWatch>();
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", ++channels_);  // a connection of its own
    watch->stub = v1::Ablation::NewStub(
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
    watch->context.AddMetadata("authorization", "Bearer " + token);
    watch->context.set_deadline(std::chrono::system_clock::now() + 30s);
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    request.set_cursor(cursor);
    watch->reader = watch->stub->WatchJob(&watch->context, request);
    return watch;
  }
  // Reads until the stream ends; its status.
  static grpc::Status Drain(GrpcWatch& watch) {
    v1::JobUpdate update;
    while (watch.reader->Read(&update)) {
    }
    return watch.reader->Finish();
  }

  // An SSE stream read on a thread of its own until the server ends it.
  struct SseWatch {
    std::thread reader;
    std::atomic<bool> got_data{false};
    std::atomic<bool> done{false};
    std::mutex mutex;
    std::string text;  // guarded by mutex
    int status = 0;    // set before done
    std::string Text() {
      std::lock_guard lock(mutex);
      return text;
    }
    ~SseWatch() {
      if (reader.joinable()) reader.join();
    }
  };
  std::unique_ptr<SseWatch> WatchSse(const std::string& token, int64_t job_id,
                                     const std::string& last_event_id = "") {
    auto watch = std::make_unique<SseWatch>();
    SseWatch* w = watch.get();
    const int port = http_port_;
    watch->reader = std::thread([w, port, token, job_id, last_event_id] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(30, 0);
      httplib::Headers headers{{"Authorization", "Bearer " + token}};
      if (!last_event_id.empty()) headers.emplace("Last-Event-ID", last_event_id);
      httplib::Result result = client.Get(
          absl::StrCat("/api/v1/jobs/", job_id, "/events"), headers,
          [&](const char* data, size_t length) {
            std::lock_guard lock(w->mutex);
            w->text.append(data, length);
            if (w->text.find("data: ") != std::string::npos) w->got_data = true;
            return true;
          });
      w->status = result ? result->status : -1;
      if (result && result->status != 200) {
        std::lock_guard lock(w->mutex);
        w->text += result->body;
      }
      w->done = true;
    });
    return watch;
  }

  template <typename Done>
  static bool WaitFor(Done done, std::chrono::milliseconds limit = 10s) {
    for (auto until = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(10ms)) {
      if (done()) return true;
    }
    return done();
  }

  std::unique_ptr<test_support::ServiceStack> stack_;
  std::unique_ptr<rpc::GrpcService> grpc_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<http::HttpGateway> gateway_;
  std::string address_;
  int http_port_ = 0;
  int channels_ = 0;
  std::string ada_;
  std::string bob_;
};

TEST_F(StreamsTest, ThePerUserCapCountsGrpcAndSseTogether) {
  service::ServiceOptions options;
  options.streams.max_streams_per_user = 2;
  Start(options);
  const v1::Job job = Submit(ada_, test_support::ManyStepsSpec(100000, "long"));

  std::unique_ptr<GrpcWatch> first = WatchGrpc(ada_, job.id());
  v1::JobUpdate update;
  ASSERT_TRUE(first->reader->Read(&update));
  std::unique_ptr<SseWatch> second = WatchSse(ada_, job.id());
  ASSERT_TRUE(WaitFor([&] { return second->got_data.load(); })) << second->Text();

  // A third, by either door, is refused with the limit named.
  std::unique_ptr<GrpcWatch> third = WatchGrpc(ada_, job.id());
  const grpc::Status refused = Drain(*third);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "ada already has 2 live streams open (watches, in the CLI or a browser tab), the "
            "limit per user is 2 (--max-streams-per-user); close one and try again.");
  std::unique_ptr<SseWatch> fourth = WatchSse(ada_, job.id());
  ASSERT_TRUE(WaitFor([&] { return fourth->done.load(); }));
  EXPECT_EQ(fourth->status, 429);
  EXPECT_NE(fourth->Text().find("(--max-streams-per-user)"), std::string::npos) << fourth->Text();

  // Another user is not held back.
  std::unique_ptr<GrpcWatch> bobs = WatchGrpc(bob_, job.id());
  EXPECT_TRUE(bobs->reader->Read(&update));

  // Closing one of ada's frees its place.
  first->context.TryCancel();
  Drain(*first);
  ASSERT_TRUE(WaitFor([&] { return stack_->service->Streams().Open() == 2; }));
  std::unique_ptr<GrpcWatch> again = WatchGrpc(ada_, job.id());
  EXPECT_TRUE(again->reader->Read(&update));

  bobs->context.TryCancel();
  again->context.TryCancel();
  Drain(*bobs);
  Drain(*again);
  gateway_->EndStreams([](const http::StreamInfo&) { return true; });
}

TEST_F(StreamsTest, ACursorPastTheJobsEndIsRefusedByBothDoors) {
  Start({});
  const v1::Job running = Submit(ada_, test_support::ManyStepsSpec(100000, "long"));
  std::unique_ptr<GrpcWatch> past = WatchGrpc(ada_, running.id(), 1'000'000'000);
  const grpc::Status refused = Drain(*past);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::OUT_OF_RANGE) << refused.error_message();
  EXPECT_NE(refused.error_message().find("cursor 1000000000 is past job"), std::string::npos)
      << refused.error_message();
  std::unique_ptr<SseWatch> sse = WatchSse(ada_, running.id(), "1000000000");
  ASSERT_TRUE(WaitFor([&] { return sse->done.load(); }));
  EXPECT_EQ(sse->status, 400);
  EXPECT_NE(sse->Text().find("is past job"), std::string::npos) << sse->Text();

  // A finished job: its end is its last event; one past it is refused, and at it the stream
  // says the job ended and closes.
  const v1::Job done = Submit(ada_, test_support::TinySpec(5));
  ASSERT_TRUE(test_support::WaitUntilEnded(*stack_->store, done.id()));
  const uint64_t last = *stack_->store->Cursor(done.id());
  std::unique_ptr<GrpcWatch> one_past = WatchGrpc(ada_, done.id(), last + 1);
  EXPECT_EQ(Drain(*one_past).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  std::unique_ptr<GrpcWatch> at_end = WatchGrpc(ada_, done.id(), last);
  v1::JobUpdate update;
  ASSERT_TRUE(at_end->reader->Read(&update));
  EXPECT_TRUE(update.has_job_finished());
  EXPECT_TRUE(Drain(*at_end).ok());
  std::unique_ptr<SseWatch> sse_past = WatchSse(ada_, done.id(), absl::StrCat(last + 1));
  ASSERT_TRUE(WaitFor([&] { return sse_past->done.load(); }));
  EXPECT_EQ(sse_past->status, 400);
}

TEST_F(StreamsTest, ARevokedTokensOpenStreamsEnd) {
  service::ServiceOptions options;
  options.streams.recheck_interval = 100ms;
  Start(options);
  const v1::Job job = Submit(ada_, test_support::ManyStepsSpec(100000, "long"));
  std::unique_ptr<GrpcWatch> grpc_watch = WatchGrpc(ada_, job.id());
  v1::JobUpdate update;
  ASSERT_TRUE(grpc_watch->reader->Read(&update));
  std::unique_ptr<SseWatch> sse = WatchSse(ada_, job.id());
  ASSERT_TRUE(WaitFor([&] { return sse->got_data.load(); }));
  std::unique_ptr<GrpcWatch> bobs = WatchGrpc(bob_, job.id());
  ASSERT_TRUE(bobs->reader->Read(&update));

  ASSERT_EQ(*stack_->store->RevokeTokens("ada", "", absl::Now()), 1);
  const grpc::Status ended = Drain(*grpc_watch);  // the job trains on: only revocation ends it
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED) << ended.error_message();
  EXPECT_NE(ended.error_message().find("no longer valid"), std::string::npos);
  ASSERT_TRUE(WaitFor([&] { return sse->done.load(); })) << "the SSE stream is still open";
  EXPECT_NE(sse->Text().find("event: error"), std::string::npos);
  EXPECT_NE(sse->Text().find("no longer valid"), std::string::npos);

  // Bob's stream goes on.
  ASSERT_TRUE(bobs->reader->Read(&update));
  bobs->context.TryCancel();
  Drain(*bobs);
}

}  // namespace
}  // namespace ablate
