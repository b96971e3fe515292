// Watchers that misbehave, over real gRPC on a loopback socket against the real service: one
// opens a stream and never reads, one disconnects mid-stream, while a third receives every
// step exactly once and the job trains to its end at full speed. The bound on what the server
// holds for a watcher is one update (live_tail.h, JobWatch): nothing here can make it buffer
// more, so nothing here can hold back training.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"
#include "server/service/wire.h"
#include "server/rpc/grpc_service.h"
#include "server/service/service.h"
#include "tests/support/job_specs.h"
#include "tests/support/service_stack.h"

namespace ablate::rpc {
namespace {

using namespace std::chrono_literals;

// A tiny model trained for many steps: far more updates than a stalled stream's window holds.
v1::JobSpec ManyStepsJob(int steps) { return test_support::ManyStepsSpec(steps, "watched"); }

// A service's gRPC front door in process, on 127.0.0.1 and a free port, and channels to it.
// A fixture calls Serve from SetUp with its own stack, and StopServing from TearDown.
class ServedTest : public testing::Test {
 protected:
  void Serve(test_support::ServiceStack& stack,
             std::chrono::milliseconds download_write_timeout = 30s) {
    grpc_service_ =
        std::make_unique<GrpcService>(*stack.service, stack.pool, download_write_timeout);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(grpc_service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    address_ = "127.0.0.1:" + std::to_string(port);
  }
  void StopServing() {
    grpc_service_->EndStreams();
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
    server_.reset();
    grpc_service_.reset();
  }

  // A channel of its own per caller. `window` > 0 pins the HTTP/2 receive window to that many
  // bytes (no BDP probing to grow it), so a reader that stops reading stalls the stream soon.
  std::unique_ptr<v1::Ablation::Stub> Stub(int window = 0) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", ++channels_);  // a separate connection per caller
    if (window > 0) {
      args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
      args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, window);
    }
    return v1::Ablation::NewStub(
        grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args));
  }

  std::unique_ptr<GrpcService> grpc_service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  int channels_ = 0;
};

class WatchersTest : public ServedTest {
 protected:
  void SetUp() override { Serve(stack_); }
  void TearDown() override {
    jobs_->Shutdown();
    StopServing();
    stack_.training.executor.reset();
  }

  // Polls until the server has `n` open watch streams; false after 10 s.
  bool WaitForStreams(int n) {
    for (int i = 0; i < 1000; ++i) {
      if (grpc_service_->OpenStreams() == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  test_support::ServiceStack stack_{/*workers=*/1, {}, ":memory:", nullptr,
                                    /*watch_threads=*/4};
  store::Store* const store_ = stack_.store.get();
  jobs::JobManager* const jobs_ = stack_.training.jobs.get();
};

// Reads a stream to its end; checks that every step arrives once, in order, from step 0.
// Returns the bytes the stream carried.
size_t ExpectEveryStepOnce(grpc::ClientReaderInterface<v1::JobUpdate>& reader, int steps) {
  v1::JobUpdate update;
  int next = 0;
  bool finished = false;
  size_t bytes = 0;
  while (reader.Read(&update)) {
    bytes += update.ByteSizeLong();
    for (const v1::StepLosses& s : update.steps()) {
      EXPECT_EQ(s.first_step(), next);
      next += s.losses_size();
    }
    finished = update.has_job_finished();
  }
  EXPECT_EQ(next, steps);
  EXPECT_TRUE(finished);
  return bytes;
}

TEST_F(WatchersTest, StalledAndVanishingWatchersHoldBackNeitherTrainingNorOthers) {
  constexpr int kSteps = 60000;
  const v1::Job job = *jobs_->Submit(ManyStepsJob(kSteps), "tester");
  v1::WatchJobRequest request;
  request.set_job_id(job.id());

  // 1. Opens the stream and does not read until the job has ended.
  auto stalled_stub = Stub(/*window=*/4096);
  grpc::ClientContext stalled_context;
  auto stalled = stalled_stub->WatchJob(&stalled_context, request);

  // 2. Reads a few updates and hangs up.
  auto leaving_stub = Stub();
  grpc::ClientContext leaving_context;
  auto leaving = leaving_stub->WatchJob(&leaving_context, request);
  v1::JobUpdate update;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(leaving->Read(&update));
  leaving_context.TryCancel();

  // 3. Reads everything.
  auto reader_stub = Stub();
  grpc::ClientContext reader_context;
  auto reader = reader_stub->WatchJob(&reader_context, request);
  ExpectEveryStepOnce(*reader, kSteps);
  EXPECT_TRUE(reader->Finish().ok());

  // Training ended while the stalled watcher had read nothing.
  absl::StatusOr<v1::Job> ended = wire::GetJob(*store_, job.id());
  ASSERT_TRUE(ended.ok());
  EXPECT_EQ(ended->state(), v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(ended->runs(0).steps_done(), kSteps);
  EXPECT_EQ(leaving->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForStreams(1)) << grpc_service_->OpenStreams() << " streams open";

  // The stalled watcher, reading at last, misses nothing and repeats nothing; what it was sent
  // is far more than its window, so the server had to stop and wait for it.
  EXPECT_GT(ExpectEveryStepOnce(*stalled, kSteps), 100u * 4096);
  EXPECT_TRUE(stalled->Finish().ok());
  EXPECT_TRUE(WaitForStreams(0)) << grpc_service_->OpenStreams() << " streams open";
}

TEST_F(WatchersTest, AWatcherThatNeverReadsAndHangsUpIsForgotten) {
  // Half a second of training or so: the hang-up comes while the job trains (at 20,000 steps, a
  // tenth were done by then).
  const v1::Job job = *jobs_->Submit(ManyStepsJob(60000), "tester");
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  auto stub = Stub(/*window=*/4096);
  auto context = std::make_unique<grpc::ClientContext>();
  auto stalled = stub->WatchJob(context.get(), request);
  ASSERT_TRUE(WaitForStreams(1));
  const v1::JobState at_hang_up = wire::GetJob(*store_, job.id())->state();
  ASSERT_TRUE(at_hang_up == v1::JOB_STATE_QUEUED || at_hang_up == v1::JOB_STATE_RUNNING)
      << "the job had ended (" << v1::JobState_Name(at_hang_up)
      << ") before its watcher hung up: lengthen it";
  context->TryCancel();
  EXPECT_EQ(stalled->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForStreams(0)) << grpc_service_->OpenStreams() << " streams open";
  // The job trains on, unwatched, to its end.
  EXPECT_TRUE(test_support::WaitUntilEnded(*store_, job.id()));
  EXPECT_EQ(wire::GetJob(*store_, job.id())->state(), v1::JOB_STATE_SUCCEEDED);
}

// SIGTERM's order in main.cc: the jobs stop (submits refused), then open streams end with
// UNAVAILABLE telling the client to resume from its cursor.
TEST_F(WatchersTest, TheDrainRefusesSubmitsAndEndsStreamsAsUnavailable) {
  const v1::Job job = *jobs_->Submit(ManyStepsJob(100000), "tester");
  v1::WatchJobRequest request;
  request.set_job_id(job.id());
  auto stub = Stub();
  grpc::ClientContext watch_context;
  auto watch = stub->WatchJob(&watch_context, request);
  v1::JobUpdate update;
  ASSERT_TRUE(watch->Read(&update));

  jobs_->Shutdown();
  v1::SubmitJobRequest submit;
  *submit.mutable_spec() = ManyStepsJob(10);
  v1::SubmitJobResponse response;
  grpc::ClientContext submit_context;
  const grpc::Status refused = stub->SubmitJob(&submit_context, submit, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(refused.error_message().find("shutting down"), std::string::npos)
      << refused.error_message();

  grpc_service_->EndStreams();
  while (watch->Read(&update)) {
  }
  const grpc::Status ended = watch->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(ended.error_message().find("resume from your last cursor"), std::string::npos)
      << ended.error_message();
  EXPECT_TRUE(WaitForStreams(0));
}

// A file download whose client stops taking chunks is cancelled after the write timeout, so
// that it does not hold its file on the download shelf (download_shelf.h) for good.
class StalledDownloadTest : public ServedTest {
 protected:
  void SetUp() override { Serve(stack_, /*download_write_timeout=*/500ms); }
  void TearDown() override {
    stack_.training.jobs->Shutdown();
    StopServing();
    stack_.training.executor.reset();
  }

  // The finish hook: an 8 MiB losses.json, over the shelf's 1 MiB bound, and a small file.
  absl::Status PutFiles(int64_t job_id) {
    absl::Status s = stack_.store->PutArtifact(
        job_id, {"losses.json", "application/json", std::string(8 << 20, 'l'), ""});
    if (!s.ok()) return s;
    return stack_.store->PutArtifact(job_id, {"small.txt", "text/plain", "small", ""});
  }

  // Reads `name` of job `job_id` whole; the call's status, and the bytes in `data`.
  grpc::Status Download(int64_t job_id, const std::string& name, std::string& data) {
    v1::GetArtifactRequest request;
    request.set_job_id(job_id);
    request.set_name(name);
    grpc::ClientContext context;
    auto stub = Stub();
    auto reader = stub->GetArtifact(&context, request);
    v1::ArtifactChunk chunk;
    while (reader->Read(&chunk)) data += chunk.data();
    return reader->Finish();
  }

  test_support::ServiceStack stack_{/*workers=*/1,
                                    service::ServiceOptions{.max_download_memory_mib = 1},
                                    ":memory:", [this](int64_t id) { return PutFiles(id); }};
};

TEST_F(StalledDownloadTest, AStalledDownloadIsCancelledAndLetsItsFileGo) {
  const v1::Job job = *stack_.training.jobs->Submit(ManyStepsJob(100000), "tester");
  ASSERT_TRUE(stack_.training.jobs->Cancel(job.id()).ok());
  ASSERT_TRUE(test_support::WaitUntilEnded(*stack_.store, job.id()));

  // Takes the first chunk of the 8 MiB file, then stops reading.
  auto stalled_stub = Stub(/*window=*/4096);
  grpc::ClientContext stalled_context;
  v1::GetArtifactRequest request;
  request.set_job_id(job.id());
  request.set_name("losses.json");
  auto stalled = stalled_stub->GetArtifact(&stalled_context, request);
  v1::ArtifactChunk chunk;
  ASSERT_TRUE(stalled->Read(&chunk));
  // While it holds the file, another file is refused...
  std::string data;
  const grpc::Status refused = Download(job.id(), "small.txt", data);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  EXPECT_NE(refused.error_message().find("--max-download-memory"), std::string::npos);
  // ...until the server gives up on it (0.5 s without a finished write): then it is sent.
  grpc::Status sent = refused;
  for (int i = 0; i < 500 && !sent.ok(); ++i) {
    std::this_thread::sleep_for(10ms);
    data.clear();
    sent = Download(job.id(), "small.txt", data);
  }
  EXPECT_TRUE(sent.ok()) << sent.error_message();
  EXPECT_EQ(data, "small");
  // The stalled client, reading again, finds its download cancelled.
  while (stalled->Read(&chunk)) {
  }
  EXPECT_EQ(stalled->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace ablate::rpc
