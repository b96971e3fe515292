// How far one server coordinates workers: N fake workers (a child process, one thread each)
// stream steps at a given rate into the server's side of ablate.worker.v1 on loopback: the Slurm
// executor, the job manager, the event writer and SQLite, exactly as with --executor slurm,
// with Slurm replaced by a launcher that starts a fake worker for each submission. Prints the
// steps/s ingested, the server process's CPU per 1,000 steps/s, and the step -> watcher latency
// (from the worker's send to a watcher woken by the cursor hub having read the step from the
// store).
//
//   bench_worker_ingest [--workers N] [--rate STEPS_PER_S] [--seconds S] [--data DIR]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ablate/worker/v1/worker.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "core/fingerprint.h"
#include "server/service/wire.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/spec.h"
#include "server/store/store.h"
#include "server/worker/launcher.h"
#include "server/worker/slurm_executor.h"
#include "spdlog/spdlog.h"

namespace {

using namespace ablate;
using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC: the same in both processes

// Seconds since the benchmark started (before the fork: the same origin in both processes), so
// that a step's send time fits the store's float seconds to a few microseconds.
const Clock::time_point kOrigin = Clock::now();
double Now() { return std::chrono::duration<double>(Clock::now() - kOrigin).count(); }

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// One fake worker: the real protocol, steps at `rate` per second sent every 20 ms (as
// ablate-worker batches them), each step's `seconds` field carrying its send time.
void FakeWorker(const std::string& address, int64_t run_id, const std::string& secret, int steps,
                double rate) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = worker::v1::RunWorker::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->Connect(&context);
  worker::v1::WorkerMessage hello;
  hello.mutable_hello()->set_run_id(run_id);
  hello.mutable_hello()->set_secret(secret);
  hello.mutable_hello()->set_fingerprint(core::ThisBuildFingerprint().id);
  worker::v1::ServerMessage assignment;
  if (!stream->Write(hello) || !stream->Read(&assignment)) {
    std::fprintf(stderr, "fake worker %ld: refused: %s\n", static_cast<long>(run_id),
                 stream->Finish().error_message().c_str());
    return;
  }
  const double start = Now();
  int sent = 0;
  while (sent < steps) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const int due = std::min(steps, static_cast<int>((Now() - start) * rate));
    if (due <= sent) continue;
    worker::v1::WorkerMessage progress;
    const double at = Now();
    for (; sent < due; ++sent) {
      worker::v1::Step& s = *progress.mutable_progress()->add_events()->mutable_step();
      s.set_step(sent);
      s.set_loss(1.0f / (1 + sent));
      s.set_weight_grad_norm(0.5f);
      s.set_seconds(at);
    }
    if (!stream->Write(progress)) return;
  }
  worker::v1::WorkerMessage outcome;
  outcome.mutable_outcome()->set_steps_run(steps);
  outcome.mutable_outcome()->set_final_loss(1.0f / steps);
  stream->Write(outcome);
  stream->WritesDone();
  stream->Finish();
}

// The child, forked before the parent starts gRPC (gRPC does not survive a fork): reads the
// server's address, then "RUN SECRET" lines, and starts a fake worker for each.
[[noreturn]] void WorkerProcess(int from_server, int steps, double rate) {
  FILE* in = fdopen(from_server, "r");
  char address_text[256];
  if (std::fscanf(in, "%255s", address_text) != 1) std::_Exit(1);
  const std::string address = address_text;
  std::vector<std::thread> threads;
  long run = 0;
  char secret[256];
  while (std::fscanf(in, "%ld %255s", &run, secret) == 2) {
    threads.emplace_back(FakeWorker, address, run, std::string(secret), steps, rate);
  }
  for (std::thread& t : threads) t.join();
  std::_Exit(0);
}

class PipeLauncher final : public worker::Launcher {
 public:
  explicit PipeLauncher(int to_workers) : out_(fdopen(to_workers, "w")) {}
  void SendAddress(const std::string& address) {
    std::fprintf(out_, "%s\n", address.c_str());
    std::fflush(out_);
  }
  absl::StatusOr<slurm::JobId> Submit(int64_t run_id, const std::string& secret) override {
    std::lock_guard lock(mutex_);
    std::fprintf(out_, "%ld %s\n", static_cast<long>(run_id), secret.c_str());
    std::fflush(out_);
    return ++jobs_;
  }
  absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> Poll(
      absl::Span<const slurm::JobId> ids) override {
    absl::flat_hash_map<slurm::JobId, slurm::JobStatus> running;
    for (slurm::JobId id : ids) running[id] = {slurm::JobState::kRunning, "RUNNING"};
    return running;
  }
  absl::StatusOr<slurm::JobOutcome> Outcome(slurm::JobId) override {
    return absl::NotFoundError("fake");
  }
  absl::Status Cancel(slurm::JobId) override { return absl::OkStatus(); }
  std::string Program() const override { return "fake"; }
  void Close() { std::fclose(out_); }

 private:
  std::mutex mutex_;
  FILE* out_;
  slurm::JobId jobs_ = 0;
};

// Follows a job as a watcher does: woken by the hub, reads what is new from the store.
class Watcher {
 public:
  Watcher(store::Store& store, jobs::CursorHub& hub, int64_t job_id)
      : store_(store), hub_(hub), job_(job_id) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Watcher() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    woken_.notify_all();
    thread_.join();
  }
  std::vector<double> latencies() {
    std::lock_guard lock(mutex_);
    return latencies_;
  }

 private:
  void Loop() {
    uint64_t cursor = 0;
    for (;;) {
      uint64_t ticket = hub_.WaitAfter(job_, cursor, [this](jobs::CursorHub::Time) {
        {
          std::lock_guard lock(mutex_);
          wake_ = true;
        }
        woken_.notify_all();
      });
      {
        std::unique_lock lock(mutex_);
        woken_.wait(lock, [this] { return wake_ || stop_; });
        if (stop_) {
          lock.unlock();
          hub_.Cancel(ticket);
          return;
        }
        wake_ = false;
      }
      absl::StatusOr<ablate::v1::JobUpdate> update = wire::ReadUpdate(store_, job_, cursor, 100000);
      if (!update.ok()) continue;
      const double now = Now();
      std::lock_guard lock(mutex_);
      for (const ablate::v1::StepLosses& steps : update->steps()) {
        for (float sent_at : steps.seconds()) latencies_.push_back(now - sent_at);
      }
      cursor = update->cursor();
    }
  }
  store::Store& store_;
  jobs::CursorHub& hub_;
  const int64_t job_;
  std::mutex mutex_;
  std::condition_variable woken_;
  bool wake_ = false;
  bool stop_ = false;
  std::vector<double> latencies_;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  int workers = 64;
  double rate = 100;
  double seconds = 10;
  std::string data = "/tmp/ablate-bench-ingest";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--workers") workers = std::atoi(argv[i + 1]);
    if (flag == "--rate") rate = std::atof(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--data") data = argv[i + 1];
  }
  const int steps = static_cast<int>(rate * seconds);
  spdlog::set_level(spdlog::level::warn);  // a line per dispatch would drown the numbers
  std::filesystem::remove_all(data);
  std::filesystem::create_directories(data);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  const pid_t child = fork();
  if (child == 0) {
    close(pipe_fds[1]);
    WorkerProcess(pipe_fds[0], steps, rate);
  }
  close(pipe_fds[0]);

  // The server's side.
  auto store = *store::Store::Open(data + "/ablate.db");
  jobs::CursorHub hub;
  jobs::EventWriter writer(*store, hub);
  PipeLauncher launcher(pipe_fds[1]);
  worker::SlurmExecutorOptions options;
  options.max_running = workers;
  auto executor = std::make_unique<worker::SlurmExecutor>(*store, launcher, options);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&executor->service());
  builder.SetMaxReceiveMessageSize(1 << 20);
  auto server = builder.BuildAndStart();
  launcher.SendAddress(absl::StrCat("127.0.0.1:", port));

  jobs::JobManager manager(*store, writer, *executor, nullptr);
  std::vector<int64_t> job_ids;
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int left = workers; left > 0; left -= jobs::kMaxRuns) {
    ablate::v1::JobSpec spec;
    spec.mutable_training()->set_steps(steps);
    for (int r = 0; r < std::min(left, jobs::kMaxRuns); ++r) spec.add_runs()->set_init("kaiming");
    auto job = manager.Submit(*jobs::ResolveSpec(spec), "bench");
    if (!job.ok()) {
      std::fprintf(stderr, "submit: %s\n", std::string(job.status().message()).c_str());
      return 1;
    }
    job_ids.push_back(job->id());
    watchers.push_back(std::make_unique<Watcher>(*store, hub, job->id()));
  }
  const double cpu0 = CpuSeconds();
  const double t0 = Now();
  const uint64_t steps0 = writer.StepsRecorded();
  while (manager.ActiveJobs() > 0 && Now() - t0 < seconds * 5 + 60) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double wall = Now() - t0;
  const double cpu = CpuSeconds() - cpu0;
  const uint64_t ingested = writer.StepsRecorded() - steps0;
  std::vector<double> latencies;
  for (auto& w : watchers) {
    auto l = w->latencies();
    latencies.insert(latencies.end(), l.begin(), l.end());
  }
  watchers.clear();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))];
  };
  const double per_second = ingested / wall;
  std::printf("workers %d at %.0f steps/s each (offered %.0f steps/s) for %.1f s\n", workers, rate,
              workers * rate, seconds);
  std::printf("  ingested %lu steps in %.2f s: %.0f steps/s\n",
              static_cast<unsigned long>(ingested), wall, per_second);
  std::printf("  server CPU %.2f s = %.1f%% of one core; %.3f core-seconds per 1,000 steps/s\n",
              cpu, 100 * cpu / wall, (cpu / wall) / (per_second / 1000));
  std::printf("  step -> watcher latency (%zu steps): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max "
              "%.1f ms\n",
              latencies.size(), 1000 * pct(0.5), 1000 * pct(0.9), 1000 * pct(0.99),
              1000 * pct(1.0));
  launcher.Close();
  int status = 0;
  waitpid(child, &status, 0);
  manager.Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  executor.reset();
  return 0;
}
