// ablate_load: many submitting clients and many watchers against one real ablate-server, on
// 127.0.0.1, bounded in count and time. It checks that every watcher receives every step of
// its job exactly once and in order, and prints what the server sustained.
//
// It starts `--server` itself (127.0.0.1, port 0, a temporary data directory, --workers =
// cores unless told), then at once:
//   --submitters threads, each on its own channel, submit --jobs small jobs each
//     (--steps steps, depth --depth, width --width, 1 to 3 runs by turns), one deadline per call;
//   --watchers threads, each on its own channel, watch job (w mod jobs) from cursor 0 as soon
//     as it exists, until its job_finished update. A stream that fails UNAVAILABLE (or
//     CANCELLED: a call reaching a server that shuts down) is resumed from the last cursor
//     received (the API's promise: nothing missed, nothing repeated).
// Then it stops the server with SIGTERM and prints:
//   jobs submitted, accepted, jobs/s accepted (accepted / wall time of the submitting phase);
//   steps delivered to watchers; lost, duplicated and out-of-order steps (each must be 0);
//   step-event latency (below); the server's peak RSS (VmHWM) and its exit status.
// Exit status 0 when every check passed, 1 otherwise (2 for bad flags).
//
// Step-event latency. A step carries no timestamp of its own (a live update carries posted_at,
// its oldest step's, which ablate_lab_watch measures with), and this job evaluates only after
// its last step, so a step's end is estimated from what the API carries, on the same clock:
//   end(step s) = run.started_at + sum of StepLosses.seconds of steps 0..s
// (started_at is stored in milliseconds, taken just before the run's trainer is built; the
// seconds are each step's own training time). The latency of a step at a watcher is its
// arrival time (system_clock) minus that end. It excludes the time between steps that is not a
// step (building the trainer, evaluations, a preempted training thread), so it over-estimates
// the true latency a little; it can come out slightly negative by started_at's millisecond
// rounding. Steps that ended before the watcher's stream was opened (backlog read from cursor
// 0) are not counted: they measure the queue, not delivery.
//
// With --restart-after-steps N it also stops the server (SIGTERM) once the watchers have
// received N steps and starts it again on the same port and data directory: running jobs resume,
// every open stream ends UNAVAILABLE, and each watcher must resume from its cursor losing and
// repeating nothing (the run then fails unless some stream was resumed).
//
//   ablate_load --server PATH [--submitters 20] [--jobs 5] [--watchers 100] [--steps 200]
//               [--depth 4] [--width 32] [--workers N] [--timeout 600]
//               [--restart-after-steps N]

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "ablate/v1/ablate.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/server_process.h"
#include "tests/support/stats.h"

namespace {

using namespace ablate;
using Clock = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

struct Options {
  std::string server;
  int submitters = 20;
  int jobs = 5;  // per submitter
  int watchers = 100;
  int steps = 200;
  int depth = 4;
  int width = 32;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int timeout_seconds = 600;     // the whole run; every stream's deadline
  long restart_after_steps = 0;  // restart the server once watchers received this many; 0: no
};

constexpr auto kCallDeadline = std::chrono::seconds(20);
// Pause before a call is retried after UNAVAILABLE (the server restarting).
constexpr auto kRetryPause = std::chrono::milliseconds(50);
constexpr int kSubmitAttempts = 200;

// "The server is away, try again": UNAVAILABLE, or CANCELLED for calls that reach a server while
// it shuts down (as client/watch.cc treats them; this program never cancels its own calls).
bool ServerAway(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::CANCELLED;
}

// Steps received by all watchers so far (drives --restart-after-steps).
std::atomic<long> g_delivered{0};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// A grpc channel of its own (its own TCP connection), as separate client processes would have.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt("ablate.load.channel", index);  // distinct arguments: no subchannel sharing
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

v1::JobSpec SmallJob(const Options& o, int submitter, int index) {
  v1::JobSpec spec;
  spec.set_name("load " + std::to_string(submitter) + "/" + std::to_string(index));
  spec.mutable_model()->set_depth(o.depth);
  spec.mutable_model()->set_width(o.width);
  spec.mutable_model()->set_input_dim(o.width);
  spec.mutable_data()->set_label_dims(std::min(10, o.width));
  spec.mutable_training()->set_steps(o.steps);
  // One evaluation, after the last step: keeps the gaps between steps (which the latency
  // estimate does not see) small.
  spec.mutable_training()->set_eval_every(o.steps);
  static const char* const kInits[] = {"kaiming", "xavier", "uniform"};
  const int runs = 1 + (submitter + index) % 3;
  for (int r = 0; r < runs; ++r) spec.add_runs()->set_init(kInits[r]);
  return spec;
}

// The jobs submitted so far, in submission order, for the watchers to pick from.
class JobBoard {
 public:
  explicit JobBoard(int expected) : expected_(expected) {}

  void Add(int64_t id) {
    std::lock_guard lock(mutex_);
    ids_.push_back(id);
    changed_.notify_all();
  }
  // A submission failed: one fewer job will come.
  void Failed() {
    std::lock_guard lock(mutex_);
    --expected_;
    changed_.notify_all();
  }
  // Job number `index mod (all the jobs)`, once enough have been submitted; 0 if none will.
  int64_t Pick(int index, Clock::time_point give_up) {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (expected_ <= 0) return 0;
      const int wanted = index % expected_;
      if (wanted < static_cast<int>(ids_.size())) return ids_[wanted];
      if (changed_.wait_until(lock, give_up) == std::cv_status::timeout) return 0;
    }
  }
  std::vector<int64_t> Ids() {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int expected_;              // guarded by mutex_
  std::vector<int64_t> ids_;  // guarded by mutex_
};

struct StepArrival {
  float seconds = 0;         // the step's training time, from StepLosses
  Wall::time_point arrived;  // when the watcher read it
};

struct RunSeen {
  std::vector<int> count;             // deliveries of each step
  std::vector<StepArrival> arrivals;  // the first delivery of each step
  int next = 0;                       // the step expected next
  int out_of_order = 0;
  int64_t started_ms = -1;  // run.started_at, from RunFinished
  int steps_done = -1;      // from RunFinished
};

struct WatcherResult {
  int64_t job_id = 0;
  std::map<int64_t, RunSeen> runs;
  Wall::time_point opened;  // the first WatchJob call
  int streams = 0;          // WatchJob calls (1 + resumptions)
  bool finished = false;    // job_finished received
  v1::Job final_job;
  std::string error;
  size_t delivered = 0;
};

void Watch(const std::string& address, int index, JobBoard& board, Clock::time_point give_up,
           WatcherResult& out) {
  auto stub = v1::Ablation::NewStub(OwnChannel(address, 100000 + index));
  out.job_id = board.Pick(index, give_up);
  if (out.job_id == 0) {
    out.error = "no job to watch";
    return;
  }
  out.opened = Wall::now();
  uint64_t cursor = 0;
  while (!out.finished) {
    if (Clock::now() >= give_up) {
      out.error = "the job did not finish within --timeout";
      return;
    }
    grpc::ClientContext context;
    context.set_deadline(Wall::now() + (give_up - Clock::now()));
    context.set_wait_for_ready(true);  // across a restart: wait for the server to be back
    v1::WatchJobRequest request;
    request.set_job_id(out.job_id);
    request.set_cursor(cursor);
    ++out.streams;
    auto reader = stub->WatchJob(&context, request);
    v1::JobUpdate update;
    while (reader->Read(&update)) {
      const Wall::time_point now = Wall::now();
      cursor = update.cursor();
      for (const v1::StepLosses& steps : update.steps()) {
        RunSeen& run = out.runs[steps.run_id()];
        for (int i = 0; i < steps.losses_size(); ++i) {
          const int step = steps.first_step() + i;
          if (step < 0) {
            ++run.out_of_order;
            continue;
          }
          if (step >= static_cast<int>(run.count.size())) {
            run.count.resize(step + 1, 0);
            run.arrivals.resize(step + 1);
          }
          if (step != run.next) ++run.out_of_order;
          run.next = step + 1;
          if (run.count[step]++ == 0) {
            run.arrivals[step] =
                StepArrival{i < steps.seconds_size() ? steps.seconds(i) : 0.0f, now};
          }
          ++out.delivered;
          g_delivered.fetch_add(1, std::memory_order_relaxed);
        }
      }
      for (const v1::RunFinished& finished : update.runs_finished()) {
        RunSeen& run = out.runs[finished.run().id()];
        run.steps_done = finished.run().steps_done();
        if (finished.run().has_started_at()) {
          const auto& t = finished.run().started_at();
          run.started_ms = t.seconds() * 1000 + t.nanos() / 1000000;
        }
      }
      if (update.has_job_finished()) {
        out.finished = true;
        out.final_job = update.job_finished().job();
      }
    }
    const grpc::Status status = reader->Finish();
    if (out.finished) break;
    if (ServerAway(status)) {  // resume at the cursor
      std::this_thread::sleep_for(kRetryPause);
      continue;
    }
    out.error = "WatchJob ended without job_finished: " + std::to_string(status.error_code()) +
                " " + status.error_message();
    return;
  }
}

struct SubmitterResult {
  int accepted = 0;
  int refused = 0;
  int retries = 0;  // calls repeated after UNAVAILABLE or CANCELLED
  std::string first_error;
  std::vector<double> call_ms;
};

void Submit(const std::string& address, const Options& o, int index, JobBoard& board,
            SubmitterResult& out) {
  auto stub = v1::Ablation::NewStub(OwnChannel(address, index));
  for (int j = 0; j < o.jobs; ++j) {
    v1::SubmitJobRequest request;
    *request.mutable_spec() = SmallJob(o, index, j);
    request.set_owner("load-" + std::to_string(index));
    v1::SubmitJobResponse response;
    grpc::Status status;
    // The server is away only while it restarts (--restart-after-steps): submit again. A job
    // the stopping server created but did not confirm is then submitted twice; harmless here.
    for (int attempt = 0; attempt < kSubmitAttempts; ++attempt) {
      grpc::ClientContext context;
      context.set_deadline(Wall::now() + kCallDeadline);
      context.set_wait_for_ready(true);
      const Clock::time_point start = Clock::now();
      status = stub->SubmitJob(&context, request, &response);
      out.call_ms.push_back(1000 * Seconds(Clock::now() - start));
      if (!ServerAway(status)) break;
      ++out.retries;
      std::this_thread::sleep_for(kRetryPause);
    }
    if (status.ok()) {
      ++out.accepted;
      board.Add(response.job().id());
    } else {
      ++out.refused;
      if (out.first_error.empty()) out.first_error = status.error_message();
      board.Failed();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"ablate_load: submitters and watchers against one ablate-server on 127.0.0.1"};
  // A flag given twice takes its last value, so run-load.sh's defaults can be overridden.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--server", o.server, "Path of ablate-server")->required();
  app.add_option("--submitters", o.submitters, "Submitting clients")->check(CLI::Range(1, 1000));
  app.add_option("--jobs", o.jobs, "Jobs each submitter submits")->check(CLI::Range(1, 10000));
  app.add_option("--watchers", o.watchers, "Watching clients")->check(CLI::Range(0, 10000));
  app.add_option("--steps", o.steps, "Steps of each job")->check(CLI::Range(1, 100000));
  app.add_option("--depth", o.depth, "Layers of each job's model")->check(CLI::Range(1, 64));
  app.add_option("--width", o.width, "Width of each job's model")->check(CLI::Range(1, 4096));
  app.add_option("--workers", o.workers, "The server's --workers")->check(CLI::Range(1, 256));
  app.add_option("--timeout", o.timeout_seconds, "Seconds the whole run may take")
      ->check(CLI::Range(1, 86400));
  app.add_option("--restart-after-steps", o.restart_after_steps,
                 "Restart the server (SIGTERM, then start it again on the same port and data) "
                 "once the watchers have received this many steps; 0: never")
      ->check(CLI::Range(0L, 1000000000L));
  CLI11_PARSE(app, argc, argv);

  std::printf(
      "ablate_load: %d submitters x %d jobs (%d steps, depth %d, width %d, 1-3 runs), "
      "%d watchers, server --workers %d, %u cores, load average %s\n",
      o.submitters, o.jobs, o.steps, o.depth, o.width, o.watchers, o.workers,
      std::thread::hardware_concurrency(), test_support::LoadAverage().c_str());

  test_support::ServerProcess server;
  const test_support::ServerOptions server_options{
      .binary = o.server, .workers = o.workers, .http = false, .extra_args = {}};
  if (std::string error = server.Start(server_options); !error.empty()) {
    std::fprintf(stderr, "ablate_load: %s\n", error.c_str());
    return 1;
  }
  const std::string address = server.GrpcAddress();
  const Clock::time_point start = Clock::now();
  const Clock::time_point give_up = start + std::chrono::seconds(o.timeout_seconds);

  JobBoard board(o.submitters * o.jobs);
  std::vector<WatcherResult> watched(o.watchers);
  std::vector<SubmitterResult> submitted(o.submitters);
  std::vector<std::thread> threads;
  for (int w = 0; w < o.watchers; ++w) {
    threads.emplace_back(Watch, std::cref(address), w, std::ref(board), give_up,
                         std::ref(watched[w]));
  }
  std::atomic<int> submitters_left{o.submitters};
  Clock::time_point submit_end;
  std::mutex submit_end_mutex;
  for (int s = 0; s < o.submitters; ++s) {
    threads.emplace_back([&, s] {
      Submit(address, o, s, board, submitted[s]);
      if (submitters_left.fetch_sub(1) == 1) {
        std::lock_guard lock(submit_end_mutex);
        submit_end = Clock::now();
      }
    });
  }
  // The peak RSS is read at the end (VmHWM keeps the maximum); VmRSS is sampled meanwhile to
  // show the resident set under load.
  std::atomic<bool> done{false};
  std::mutex server_mutex;  // the sampler and the restarter share `server`
  long max_rss_kb = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      {
        std::lock_guard lock(server_mutex);
        max_rss_kb = std::max(max_rss_kb, server.StatusKb("VmRSS"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // --restart-after-steps: stop the server in the middle of the jobs and start it again; every
  // open stream ends UNAVAILABLE and its watcher resumes from its cursor.
  std::optional<int> restart_exit_status;
  std::optional<Wall::time_point> restarted_at;
  std::string restart_error;
  long delivered_at_restart = 0;
  std::atomic<bool> watchers_done{false};
  std::thread restarter([&] {
    if (o.restart_after_steps <= 0) return;
    while (!watchers_done.load() && g_delivered.load() < o.restart_after_steps) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (watchers_done.load()) return;
    std::lock_guard lock(server_mutex);
    delivered_at_restart = g_delivered.load();
    restarted_at = Wall::now();
    restart_error = server.Restart(restart_exit_status);
  });
  for (std::thread& t : threads) t.join();
  watchers_done = true;
  restarter.join();
  const Clock::time_point watch_end = Clock::now();

  // Jobs nobody watched must still end before the server is stopped, or their steps would be
  // cut off by the shutdown (they would resume at the next start): wait for all of them.
  auto stub = v1::Ablation::NewStub(OwnChannel(address, -1));
  std::map<v1::JobState, int> states;
  int not_ended = 0;  // jobs still queued or running at --timeout, or not readable
  for (int64_t id : board.Ids()) {
    for (;;) {
      grpc::ClientContext context;
      context.set_deadline(Wall::now() + kCallDeadline);
      v1::GetJobRequest request;
      request.set_job_id(id);
      v1::Job job;
      const grpc::Status status = stub->GetJob(&context, request, &job);
      const bool ended = status.ok() && job.state() != v1::JOB_STATE_QUEUED &&
                         job.state() != v1::JOB_STATE_RUNNING;
      if (ended || Clock::now() >= give_up) {
        ++states[status.ok() ? job.state() : v1::JOB_STATE_UNSPECIFIED];
        if (!ended) ++not_ended;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  stub.reset();  // closes its channel: the server is stopped with no client connected
  const long hwm_kb = server.StatusKb("VmHWM");
  done = true;
  sampler.join();
  const Clock::time_point stop_start = Clock::now();
  const std::optional<int> exit_status = server.Stop(std::chrono::seconds(30));
  const double stop_seconds = Seconds(Clock::now() - stop_start);

  // --- Figures and checks. ---
  int accepted = 0, refused = 0, submit_retries = 0;
  std::vector<double> call_ms;
  std::string submit_error;
  for (const SubmitterResult& r : submitted) {
    accepted += r.accepted;
    refused += r.refused;
    submit_retries += r.retries;
    call_ms.insert(call_ms.end(), r.call_ms.begin(), r.call_ms.end());
    if (submit_error.empty()) submit_error = r.first_error;
  }
  const double submit_seconds = Seconds(submit_end - start);

  size_t delivered = 0, lost = 0, duplicated = 0, out_of_order = 0, beyond_end = 0;
  int unfinished = 0, resumed = 0, watcher_errors = 0, runs_without_start = 0;
  std::vector<double> latency_ms;
  std::string first_watch_error;
  for (const WatcherResult& w : watched) {
    delivered += w.delivered;
    resumed += std::max(0, w.streams - 1);
    if (!w.error.empty()) {
      ++watcher_errors;
      if (first_watch_error.empty()) first_watch_error = w.error;
    }
    if (!w.finished) {
      ++unfinished;
      continue;
    }
    // Every run of the job must have been seen finishing, with all its steps once each.
    std::map<int64_t, int> expected;  // run id -> steps done, from the final job
    for (const v1::Run& run : w.final_job.runs()) expected[run.id()] = run.steps_done();
    for (const auto& [run_id, seen] : w.runs) {
      if (!expected.contains(run_id)) beyond_end += seen.count.size();
    }
    for (const auto& [run_id, steps_done] : expected) {
      auto it = w.runs.find(run_id);
      if (it == w.runs.end()) {
        lost += steps_done;
        continue;
      }
      const RunSeen& seen = it->second;
      out_of_order += seen.out_of_order;
      for (int s = 0; s < static_cast<int>(seen.count.size()); ++s) {
        const int c = seen.count[s];
        if (s >= steps_done) {
          beyond_end += c;
        } else if (c == 0) {
          ++lost;
        } else {
          duplicated += c - 1;
        }
      }
      if (static_cast<int>(seen.count.size()) < steps_done) {
        lost += steps_done - seen.count.size();
      }
      if (seen.started_ms < 0) {
        ++runs_without_start;
        continue;
      }
      double end_ms = static_cast<double>(seen.started_ms);
      const double opened_ms =
          std::chrono::duration<double, std::milli>(w.opened.time_since_epoch()).count();
      for (size_t s = 0; s < seen.arrivals.size() && static_cast<int>(s) < steps_done; ++s) {
        end_ms += 1000.0 * seen.arrivals[s].seconds;
        if (seen.count[s] == 0 || end_ms < opened_ms) continue;
        // A resumed run replays its recorded steps without timing them again: the estimate
        // holds only before a restart.
        if (restarted_at && seen.arrivals[s].arrived >= *restarted_at) continue;
        const double arrived_ms =
            std::chrono::duration<double, std::milli>(seen.arrivals[s].arrived.time_since_epoch())
                .count();
        latency_ms.push_back(arrived_ms - end_ms);
      }
    }
  }

  std::printf(
      "\njobs submitted      %d (accepted %d, refused %d, calls retried after "
      "UNAVAILABLE/CANCELLED %d%s%s)\n",
      accepted + refused, accepted, refused, submit_retries,
      submit_error.empty() ? "" : "; first refusal: ", submit_error.c_str());
  std::printf(
      "jobs/s accepted     %.1f  (%d in %.3f s, from the start to the last submitter's "
      "end)\n",
      submit_seconds > 0 ? accepted / submit_seconds : 0.0, accepted, submit_seconds);
  std::printf("SubmitJob call      %s\n", test_support::Summary(call_ms).c_str());
  std::printf("job final states   ");
  for (const auto& [state, count] : states) {
    std::printf(" %s %d", v1::JobState_Name(state).c_str(), count);
  }
  std::printf("\nsteps delivered     %zu to %d watchers (%d resumed streams)\n", delivered,
              o.watchers, resumed);
  std::printf("step-event latency  %s\n",
              latency_ms.empty() ? "(no samples)" : test_support::Summary(latency_ms).c_str());
  std::printf(
      "                    (arrival at a watcher - the step's estimated end: see the "
      "header of tests/load/load.cc)\n");
  std::printf("server peak RSS     %.1f MiB (VmHWM%s; largest VmRSS sampled %.1f MiB)\n",
              hwm_kb / 1024.0, restarted_at ? " of the restarted process" : "",
              max_rss_kb / 1024.0);
  const bool restart_clean =
      !restarted_at || (restart_error.empty() && restart_exit_status &&
                        WIFEXITED(*restart_exit_status) && WEXITSTATUS(*restart_exit_status) == 0);
  if (o.restart_after_steps > 0) {
    if (restarted_at) {
      std::printf("restart             after %ld steps delivered: SIGTERM exit %s%s%s\n",
                  delivered_at_restart, restart_clean ? "clean" : "NOT clean",
                  restart_error.empty() ? "" : "; ", restart_error.c_str());
    } else {
      std::printf("restart             none: every watcher was done before %ld steps\n",
                  o.restart_after_steps);
    }
  }
  std::printf(
      "wall time           %.2f s watching, %.2f s in all; SIGTERM -> exit %.2f s, "
      "status %s\n",
      Seconds(watch_end - start), Seconds(stop_start - start), stop_seconds,
      !exit_status              ? "killed (no exit within 30 s)"
      : WIFEXITED(*exit_status) ? std::to_string(WEXITSTATUS(*exit_status)).c_str()
                                : "signalled");
  std::printf(
      "lost %zu  duplicated %zu  out-of-order %zu  after the run's end %zu  "
      "unfinished watchers %d  watcher errors %d%s%s\n",
      lost, duplicated, out_of_order, beyond_end, unfinished, watcher_errors,
      first_watch_error.empty() ? "" : " (first: ",
      first_watch_error.empty() ? "" : (first_watch_error + ")").c_str());
  std::printf("load average at end %s\n", test_support::LoadAverage().c_str());

  const bool ok = refused == 0 && lost == 0 && duplicated == 0 && out_of_order == 0 &&
                  beyond_end == 0 && unfinished == 0 && watcher_errors == 0 &&
                  runs_without_start == 0 && restart_clean && not_ended == 0 &&
                  (o.restart_after_steps == 0 || (restarted_at && resumed > 0)) && exit_status &&
                  WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0 &&
                  static_cast<int>(board.Ids().size()) == accepted;
  if (!ok) {
    std::printf("FAILED\n--- server log (tail) ---\n");
    const std::string log = server.Log();
    std::printf("%s\n", log.substr(log.size() > 4000 ? log.size() - 4000 : 0).c_str());
    return 1;
  }
  std::printf("OK: every watcher received every step of its job exactly once, in order\n");
  return 0;
}
