// bench_service: how long a step's loss takes to reach the clients watching its job, and what
// the service adds to a job's wall time, measured on the real server stack in one process.
//
// A benchmark, not a test: it prints numbers and asserts nothing. It wires the stack exactly
// as server/main.cc does (SQLite store in a temporary directory, CursorHub, EventWriter,
// LocalExecutor, JobManager with the artifacts hook, service pool, AblationService,
// GrpcService on a real gRPC server at 127.0.0.1:<free port>), with two decorators of its own
// that only read clocks:
//
//   TimingExecutor  wraps each RunRequest's listener: the steady_clock time OnStep is called is
//                   the moment the step's loss is known (before the supervisor posts it);
//   TimingStore     wraps the store: the time each step's transaction committed, so the
//                   latency splits into "loss -> committed" and "committed -> client".
//
// It submits lab 1's default job (an empty JobSpec) through a gRPC client, opens `--watchers`
// WatchJob streams from cursor 0 right after the submit returns (each on its own thread and
// its own channel and TCP connection, as separate `ablate watch` processes would be), and
// stamps each StepLosses' arrival. Then it prints the percentiles of (arrival - OnStep) over
// every step x watcher, checks that every watcher received every recorded step exactly once
// and with the recorded loss, and breaks the job's wall time into its phases.
//
//   bench_service [--watchers N] [--steps N] [--workers N] [--keep]
//
// Because OnStep and the arrival are read from one steady_clock in one process, the latency is
// exact; run it on an idle machine (the load average is printed) since training and the
// service share the cores.

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "CLI/CLI.hpp"
#include "ablate/v1/ablate.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/artifacts/artifacts.h"
#include "server/jobs/cursor_hub.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/executor.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/local_executor.h"
#include "server/rpc/grpc_service.h"
#include "server/service/service.h"
#include "server/service/thread_pool.h"
#include "server/store/store.h"
#include "spdlog/spdlog.h"
#include "tests/support/forwarding_store.h"
#include "tests/support/stats.h"

namespace {

using namespace ablate;
using ablate::test_support::LoadAverage;
using ablate::test_support::Summary;
using Clock = std::chrono::steady_clock;

// As in server/main.cc.
constexpr int kServiceThreads = 4;
constexpr char kDatabaseFile[] = "ablate.db";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Which thread does what, for the CPU-time breakdown: the first role a thread is seen in wins
// (a training thread also reads the store when it builds the artifacts).
class ThreadRoles {
 public:
  void Note(const char* role) {
    const pid_t tid = gettid();
    std::lock_guard lock(mutex_);
    roles_.emplace(tid, role);
  }
  std::map<pid_t, std::string> Roles() {
    std::lock_guard lock(mutex_);
    return roles_;
  }

 private:
  std::mutex mutex_;
  std::map<pid_t, std::string> roles_;  // guarded by mutex_
};
ThreadRoles g_roles;

// CPU seconds (user + system) each thread of this process has used, by thread id.
std::map<pid_t, double> ThreadCpuSeconds() {
  std::map<pid_t, double> cpu;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(entry.path() / "stat");
    std::string line;
    std::getline(in, line);
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    cpu[std::stoi(entry.path().filename().string())] = (utime + stime) / ticks;
  }
  return cpu;
}

double ThreadCpuNow() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// ---------------------------------------------------------------------------------------------
// The decorators.

struct StepStamp {
  float loss = 0;
  Clock::time_point at;  // when OnStep was called
};

// Forwards every callback to the job manager's listener, stamping OnStep first.
class TimingListener final : public jobs::RunListener {
 public:
  explicit TimingListener(jobs::RunListener* inner) : inner_(inner) {}

  void OnStarted() override {
    g_roles.Note("training (LocalExecutor workers)");
    Stamp(started_);
    inner_->OnStarted();
  }
  std::string OnStarting(const std::string& fingerprint) override {
    return inner_->OnStarting(fingerprint);
  }
  void OnCheckpoint(int step, std::string_view checkpoint) override {
    inner_->OnCheckpoint(step, checkpoint);
  }
  void OnStep(const core::StepRecord& step) override {
    const Clock::time_point at = Clock::now();
    {
      std::lock_guard lock(mutex_);
      if (step.step >= static_cast<int>(steps_.size())) steps_.resize(step.step + 1);
      steps_[step.step] = StepStamp{step.loss, at};
    }
    inner_->OnStep(step);
  }
  void OnEval(const core::EvalRecord& eval) override { inner_->OnEval(eval); }
  // The inner listener may be destroyed inside these two: nothing may follow them.
  void OnFinished(const core::RunResult& result) override {
    Stamp(finished_);
    inner_->OnFinished(result);
  }
  void OnFailed(const std::string& error) override {
    Stamp(finished_);
    inner_->OnFailed(error);
  }

  std::vector<StepStamp> Steps() {
    std::lock_guard lock(mutex_);
    return steps_;
  }
  std::optional<Clock::time_point> Started() {
    std::lock_guard lock(mutex_);
    return started_;
  }
  std::optional<Clock::time_point> Finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

 private:
  void Stamp(std::optional<Clock::time_point>& field) {
    const Clock::time_point at = Clock::now();
    std::lock_guard lock(mutex_);
    field = at;
  }

  jobs::RunListener* const inner_;
  std::mutex mutex_;
  std::vector<StepStamp> steps_;                // by step; guarded by mutex_
  std::optional<Clock::time_point> started_;   // guarded by mutex_
  std::optional<Clock::time_point> finished_;  // guarded by mutex_
};

// The LocalExecutor, with a TimingListener between each run and its supervisor.
class TimingExecutor final : public jobs::Executor {
 public:
  explicit TimingExecutor(int workers)
      : inner_(std::make_unique<jobs::LocalExecutor>(workers)) {}
  // Joins the training threads before the listeners they call are destroyed.
  ~TimingExecutor() override { inner_.reset(); }

  void Execute(jobs::RunRequest request) override {
    auto listener = std::make_unique<TimingListener>(request.listener);
    request.listener = listener.get();
    {
      std::lock_guard lock(mutex_);
      listeners_.emplace(request.run_id, std::move(listener));
    }
    inner_->Execute(std::move(request));
  }
  int Workers() const override { return inner_->Workers(); }
  std::optional<int> RunsAhead(std::span<const int64_t> run_ids) override {
    return inner_->RunsAhead(run_ids);
  }

  // Stops the training threads (call after the job manager's Shutdown).
  void Stop() { inner_.reset(); }

  TimingListener* Listener(int64_t run_id) {
    std::lock_guard lock(mutex_);
    auto it = listeners_.find(run_id);
    return it == listeners_.end() ? nullptr : it->second.get();
  }

 private:
  std::mutex mutex_;
  std::map<int64_t, std::unique_ptr<TimingListener>> listeners_;  // guarded by mutex_
  std::unique_ptr<jobs::LocalExecutor> inner_;
};

// Forwards to the SQLite store, stamping when each step's transaction committed and how long
// each transaction and each watcher's read took.
class TimingStore final : public test_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  struct Commit {
    size_t events = 0;
    size_t steps = 0;
    Clock::time_point start;
    Clock::time_point end;
  };

  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    g_roles.Note("EventWriter");
    const Clock::time_point start = Clock::now();
    absl::StatusOr<std::vector<store::JobCursor>> result = inner().Append(events);
    const Clock::time_point end = Clock::now();
    if (result.ok()) {
      std::lock_guard lock(mutex_);
      size_t steps = 0;
      for (const store::Event& event : events) {
        if (const auto* step = std::get_if<store::StepEvent>(&event)) {
          std::vector<Clock::time_point>& run = committed_[step->run_id];
          if (step->step >= static_cast<int>(run.size())) run.resize(step->step + 1);
          run[step->step] = end;
          ++steps;
        } else if (std::holds_alternative<store::JobFinishedEvent>(event)) {
          job_finished_committed_ = end;
        }
      }
      commits_.push_back(Commit{events.size(), steps, start, end});
    }
    return result;
  }

  absl::StatusOr<store::StoredUpdate> ReadUpdate(int64_t job_id, uint64_t after,
                                                 int max_events) override {
    g_roles.Note("service pool (watch reads, unary calls)");
    const Clock::time_point start = Clock::now();
    absl::StatusOr<store::StoredUpdate> update = inner().ReadUpdate(job_id, after, max_events);
    const double ms = Ms(Clock::now() - start);
    std::lock_guard lock(mutex_);
    read_ms_.push_back(ms);
    return update;
  }

  absl::StatusOr<store::JobRecord> GetJob(int64_t job_id) override {
    g_roles.Note("service pool (watch reads, unary calls)");
    const Clock::time_point start = Clock::now();
    absl::StatusOr<store::JobRecord> job = inner().GetJob(job_id);
    const double ms = Ms(Clock::now() - start);
    std::lock_guard lock(mutex_);
    get_job_ms_.push_back(ms);
    return job;
  }

  std::optional<Clock::time_point> Committed(int64_t run_id, int step) {
    std::lock_guard lock(mutex_);
    auto it = committed_.find(run_id);
    if (it == committed_.end() || step >= static_cast<int>(it->second.size())) return {};
    return it->second[step];
  }
  std::vector<Commit> Commits() {
    std::lock_guard lock(mutex_);
    return commits_;
  }
  std::vector<double> ReadMs() {
    std::lock_guard lock(mutex_);
    return read_ms_;
  }
  std::vector<double> GetJobMs() {
    std::lock_guard lock(mutex_);
    return get_job_ms_;
  }
  std::optional<Clock::time_point> JobFinishedCommitted() {
    std::lock_guard lock(mutex_);
    return job_finished_committed_;
  }

 private:
  std::mutex mutex_;
  std::map<int64_t, std::vector<Clock::time_point>> committed_;  // guarded by mutex_
  std::vector<Commit> commits_;                                   // guarded by mutex_
  std::vector<double> read_ms_;                                   // guarded by mutex_
  std::vector<double> get_job_ms_;                                // guarded by mutex_
  std::optional<Clock::time_point> job_finished_committed_;       // guarded by mutex_
};

// ---------------------------------------------------------------------------------------------
// The watchers.

struct Arrival {
  int64_t run_id = 0;
  int step = 0;
  float loss = 0;
  Clock::time_point at;
};

struct WatcherResult {
  std::vector<Arrival> arrivals;
  int updates = 0;
  std::optional<Clock::time_point> opened;        // WatchJob called
  std::optional<Clock::time_point> job_finished;  // the update carrying job_finished arrived
  std::string error;                              // the stream's failure, if any
  double cpu_seconds = 0;                         // this watcher thread's, at its end
};

// Waits for the job id, then watches it from cursor 0 to its end on its own connection.
void Watch(const std::shared_ptr<grpc::Channel>& channel, const int64_t& job_id,
           std::mutex& mutex, std::condition_variable& go, WatcherResult& out) {
  auto stub = v1::Ablation::NewStub(channel);
  {
    std::unique_lock lock(mutex);
    go.wait(lock, [&] { return job_id != 0; });
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  request.set_cursor(0);
  out.opened = Clock::now();
  std::unique_ptr<grpc::ClientReader<v1::JobUpdate>> reader = stub->WatchJob(&context, request);
  v1::JobUpdate update;
  while (reader->Read(&update)) {
    const Clock::time_point at = Clock::now();
    ++out.updates;
    for (const v1::StepLosses& s : update.steps()) {
      for (int i = 0; i < s.losses_size(); ++i) {
        out.arrivals.push_back(Arrival{s.run_id(), s.first_step() + i, s.losses(i), at});
      }
    }
    if (update.has_job_finished()) {
      out.job_finished = at;
      context.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  if (!out.job_finished && !status.ok()) out.error = status.error_message();
  out.cpu_seconds = ThreadCpuNow();
}

struct Options {
  int watchers = 10;
  int steps = 1000;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  bool keep = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"bench_service: step latency to WatchJob clients and the job's wall time, "
               "on the real server stack in one process"};
  app.add_option("--watchers", o.watchers, "WatchJob streams, one thread and connection each")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--steps", o.steps, "Training steps per run (lab 1: 1000)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--workers", o.workers,
                 "Runs trained at once (ablate-server --workers; default: cores)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_flag("--keep", o.keep, "Keep the temporary data directory (its path is printed)");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::warn);  // the job's transitions would interleave the report
  std::printf("bench_service: lab 1 through gRPC, %d steps per run, %d workers, %d watchers\n",
              o.steps, o.workers, o.watchers);
  std::printf("cpu cores: %u; load average at start: %s\n", std::thread::hardware_concurrency(),
              LoadAverage().c_str());

  std::string dir_template =
      (std::filesystem::temp_directory_path() / "ablate-bench-service-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    std::fprintf(stderr, "cannot create a temporary directory under %s\n",
                 std::filesystem::temp_directory_path().c_str());
    return 1;
  }
  const std::filesystem::path data_dir = dir_template;
  {
    // --- The stack, as server/main.cc builds it. ---
    absl::StatusOr<std::unique_ptr<store::Store>> opened =
        store::Store::Open((data_dir / kDatabaseFile).string());
    if (!opened.ok()) {
      std::fprintf(stderr, "cannot open the store: %s\n",
                   std::string(opened.status().message()).c_str());
      return 1;
    }
    TimingStore timing_store(*std::move(opened));
    store::Store& db = timing_store;
    jobs::CursorHub hub;
    jobs::EventWriter writer(db, hub);
    auto executor = std::make_unique<TimingExecutor>(o.workers);
    const artifacts::BuildInfo build = artifacts::ThisBuild();
    std::optional<Clock::time_point> artifacts_start, artifacts_end;
    double artifacts_cpu = 0;
    jobs::JobManager jobs(db, writer, *executor, [&](int64_t job_id) {
      artifacts_start = Clock::now();
      const double cpu = ThreadCpuNow();
      absl::Status s = artifacts::BuildJobArtifacts(db, job_id, build);
      artifacts_cpu = ThreadCpuNow() - cpu;
      artifacts_end = Clock::now();
      return s;
    });
    service::ThreadPool service_pool(kServiceThreads);
    service::AblationService service(db, jobs, hub, service_pool);
    rpc::GrpcService grpc_service(service, service_pool);

    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&grpc_service);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (server == nullptr || port == 0) {
      std::fprintf(stderr, "cannot start a gRPC server on 127.0.0.1\n");
      return 1;
    }
    const std::string address = "127.0.0.1:" + std::to_string(port);

    // --- Watchers: connected before the submit, released with the job id. ---
    std::mutex mutex;
    std::condition_variable go;
    int64_t job_id = 0;  // guarded by mutex until the watchers are released
    std::vector<WatcherResult> results(o.watchers);
    std::vector<std::thread> watchers;
    for (int w = 0; w < o.watchers; ++w) {
      grpc::ChannelArguments args;
      // Channels with equal arguments share one connection; separate CLI processes do not.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
      watchers.emplace_back(Watch, channel, std::cref(job_id), std::ref(mutex), std::ref(go),
                            std::ref(results[w]));
    }

    // --- Submit lab 1's default job. ---
    auto client = v1::Ablation::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    v1::SubmitJobRequest submit;
    if (o.steps != 1000) submit.mutable_spec()->mutable_training()->set_steps(o.steps);
    submit.set_owner("bench");
    v1::SubmitJobResponse submitted;
    grpc::ClientContext submit_context;
    submit_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    const Clock::time_point submit_start = Clock::now();
    const grpc::Status submit_status = client->SubmitJob(&submit_context, submit, &submitted);
    const Clock::time_point submit_end = Clock::now();
    {
      std::lock_guard lock(mutex);
      job_id = submit_status.ok() ? submitted.job().id() : -1;  // -1: the watchers give up
    }
    go.notify_all();
    for (std::thread& t : watchers) t.join();
    if (!submit_status.ok()) {
      std::fprintf(stderr, "SubmitJob failed: %s\n", submit_status.error_message().c_str());
      return 1;
    }

    // The final state, before the stack goes.
    v1::Job final_job;
    {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::GetJobRequest request;
      request.set_job_id(job_id);
      (void)client->GetJob(&context, request, &final_job);
    }

    // --- The report. ---
    std::vector<int64_t> run_ids;
    for (const v1::Run& run : submitted.job().runs()) run_ids.push_back(run.id());
    std::map<int64_t, std::vector<StepStamp>> recorded;
    std::optional<Clock::time_point> first_started, last_finished, last_step;
    size_t recorded_steps = 0;
    for (int64_t id : run_ids) {
      TimingListener* listener = executor->Listener(id);
      if (listener == nullptr) continue;
      recorded[id] = listener->Steps();
      recorded_steps += recorded[id].size();
      if (auto t = listener->Started(); t && (!first_started || *t < *first_started)) {
        first_started = t;
      }
      if (auto t = listener->Finished(); t && (!last_finished || *t > *last_finished)) {
        last_finished = t;
      }
      if (!recorded[id].empty()) {
        const Clock::time_point t = recorded[id].back().at;
        if (!last_step || t > *last_step) last_step = t;
      }
    }

    std::printf("\njob %lld: %s, %zu runs, %zu steps recorded by OnStep (", 
                static_cast<long long>(job_id), v1::JobState_Name(final_job.state()).c_str(),
                run_ids.size(), recorded_steps);
    for (size_t i = 0; i < run_ids.size(); ++i) {
      std::printf("%srun %lld: %zu", i ? ", " : "", static_cast<long long>(run_ids[i]),
                  recorded[run_ids[i]].size());
    }
    std::printf(")\n");

    // Per watcher: every recorded step exactly once, with the recorded loss.
    std::vector<double> latency_ms, to_commit_ms, from_commit_ms;
    std::vector<std::tuple<double, int, int64_t, int>> worst;  // ms, watcher, run, step
    bool all_exact = true;
    std::optional<Clock::time_point> last_job_finished;
    for (int w = 0; w < o.watchers; ++w) {
      const WatcherResult& r = results[w];
      std::map<int64_t, std::vector<int>> seen;
      for (auto& [id, steps] : recorded) seen[id].assign(steps.size(), 0);
      size_t unexpected = 0, mismatched = 0, received = 0;
      for (const Arrival& a : r.arrivals) {
        ++received;
        auto it = seen.find(a.run_id);
        if (it == seen.end() || a.step < 0 || a.step >= static_cast<int>(it->second.size())) {
          ++unexpected;
          continue;
        }
        ++it->second[a.step];
        const StepStamp& stamp = recorded[a.run_id][a.step];
        // NaN payloads are not kept by the store (store.h): any NaN matches any NaN.
        const bool same = std::isnan(stamp.loss)
                              ? std::isnan(a.loss)
                              : std::bit_cast<uint32_t>(stamp.loss) ==
                                    std::bit_cast<uint32_t>(a.loss);
        if (!same) ++mismatched;
        const double ms = Ms(a.at - stamp.at);
        latency_ms.push_back(ms);
        worst.emplace_back(ms, w, a.run_id, a.step);
        if (auto committed = timing_store.Committed(a.run_id, a.step)) {
          to_commit_ms.push_back(Ms(*committed - stamp.at));
          from_commit_ms.push_back(Ms(a.at - *committed));
        }
      }
      size_t missing = 0, duplicated = 0;
      for (auto& [id, counts] : seen) {
        for (int c : counts) {
          if (c == 0) ++missing;
          if (c > 1) duplicated += c - 1;
        }
      }
      const bool exact = missing == 0 && duplicated == 0 && unexpected == 0 && mismatched == 0 &&
                         received == recorded_steps && r.job_finished && r.error.empty();
      all_exact = all_exact && exact;
      if (r.job_finished && (!last_job_finished || *r.job_finished > *last_job_finished)) {
        last_job_finished = r.job_finished;
      }
      std::printf(
          "watcher %2d: %zu steps received of %zu recorded, %zu missing, %zu duplicated, %zu not "
          "recorded, %zu loss mismatches, %d updates, job_finished %s%s%s\n",
          w, received, recorded_steps, missing, duplicated, unexpected, mismatched, r.updates,
          r.job_finished ? "received" : "NOT received", r.error.empty() ? "" : "; error: ",
          r.error.c_str());
    }
    std::printf("every watcher received every recorded step exactly once, with its loss: %s\n",
                all_exact ? "yes" : "NO");

    std::printf("\nlatency, OnStep (loss known) -> StepLosses read by the watching client,\n"
                "over %zu steps x %d watchers:\n  %s\n",
                recorded_steps, o.watchers, Summary(latency_ms).c_str());
    std::printf("  of which OnStep -> transaction committed (writer queue + SQLite commit):\n"
                "  %s\n", Summary(to_commit_ms).c_str());
    std::printf("  and committed -> client (hub wake, pool read, gRPC write, network):\n"
                "  %s\n", Summary(from_commit_ms).c_str());
    std::sort(worst.begin(), worst.end(), std::greater<>());
    std::printf("  slowest:");
    for (size_t i = 0; i < std::min<size_t>(5, worst.size()); ++i) {
      auto [ms, w, run, step] = worst[i];
      std::printf(" %.1f ms (watcher %d, run %lld, step %d)%s", ms, w,
                  static_cast<long long>(run), step, i + 1 < std::min<size_t>(5, worst.size()) ? ";" : "\n");
    }

    const std::vector<TimingStore::Commit> commits = timing_store.Commits();
    std::vector<double> commit_ms, batch_steps;
    for (const auto& c : commits) {
      commit_ms.push_back(Ms(c.end - c.start));
      if (c.steps > 0) batch_steps.push_back(static_cast<double>(c.steps));
    }
    std::printf("\nwriter: %zu transactions; duration %s\n", commits.size(),
                Summary(commit_ms).c_str());
    std::printf("  steps per transaction: %s\n", Summary(batch_steps, "steps").c_str());
    // The service's reads, mostly the watches': ReadUpdate after each cursor, and GetJob.
    std::printf("store reads: ReadUpdate %s\n", Summary(timing_store.ReadMs()).c_str());
    std::printf("             GetJob     %s\n", Summary(timing_store.GetJobMs()).c_str());

    std::printf("\nwall time of the job:\n");
    std::printf("  SubmitJob call                      %8.1f ms\n", Ms(submit_end - submit_start));
    if (first_started) {
      std::printf("  submit -> first run started         %8.1f ms\n",
                  Ms(*first_started - submit_start));
    }
    if (first_started && last_finished) {
      std::printf("  training (first start -> last end)  %8.3f s\n",
                  Seconds(*last_finished - *first_started));
    }
    if (last_finished && artifacts_start) {
      std::printf("  last run end -> artifacts start     %8.1f ms  (writer flush)\n",
                  Ms(*artifacts_start - *last_finished));
    }
    if (artifacts_start && artifacts_end) {
      std::printf("  artifacts (plots, manifest, zip)    %8.1f ms\n",
                  Ms(*artifacts_end - *artifacts_start));
    }
    if (auto committed = timing_store.JobFinishedCommitted(); committed && artifacts_end) {
      std::printf("  artifacts end -> JobFinished stored %8.1f ms\n",
                  Ms(*committed - *artifacts_end));
      if (last_job_finished) {
        std::printf("  JobFinished stored -> last watcher  %8.1f ms\n",
                    Ms(*last_job_finished - *committed));
      }
    }
    if (last_job_finished) {
      std::printf("  total: submit -> job_finished at every watcher %.3f s "
                  "(after the last step: %.1f ms)\n",
                  Seconds(*last_job_finished - submit_start),
                  last_step ? Ms(*last_job_finished - *last_step) : 0.0);
    }

    // Where the process's CPU time went, by thread role. The service's cost on a machine whose
    // cores the training already fills is all of it except training and the client threads.
    std::map<std::string, std::pair<double, int>> by_role;  // seconds, threads
    const std::map<pid_t, std::string> roles = g_roles.Roles();
    double total_cpu = 0;
    for (const auto& [tid, seconds] : ThreadCpuSeconds()) {
      auto it = roles.find(tid);
      // The job manager's own thread, named by it, whatever store calls it made first.
      std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
      std::string name;
      std::getline(comm, name);
      const std::string role = name == "ablate-finish" ? "job ends (the manager's finishing thread)"
                               : it == roles.end()     ? "other (gRPC, main, idle pool)"
                                                       : it->second;
      auto& [sum, count] = by_role[role];
      sum += seconds;
      ++count;
      total_cpu += seconds;
    }
    std::printf("\nCPU time by thread (user + sys, whole process, %.2f s in all):\n", total_cpu);
    for (const auto& [role, value] : by_role) {
      std::printf("  %-42s %7.2f s  (%d threads)\n", role.c_str(), value.first, value.second);
    }
    std::printf("  of the job ends': building the artifacts %.2f s\n", artifacts_cpu);
    double client_cpu = 0;
    for (const WatcherResult& r : results) client_cpu += r.cpu_seconds;
    std::printf("  the watchers' own threads (client side, ended): %.2f s in all\n", client_cpu);
    std::printf("load average at end: %s\n", LoadAverage().c_str());

    // --- Shutdown, in server/main.cc's order. ---
    jobs.Shutdown();
    grpc_service.EndStreams();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    executor->Stop();
    writer.Flush();
  }
  if (o.keep) {
    std::printf("data directory kept: %s\n", data_dir.c_str());
  } else {
    std::error_code ignored;
    std::filesystem::remove_all(data_dir, ignored);
  }
  return 0;
}
