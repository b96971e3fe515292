// ablate_lab_watch: a lecture hall watching one lab job. It starts `--server` itself
// (127.0.0.1, port 0, a temporary data directory), submits lab 1's job and, at once:
//   --sse browsers (raw HTTP/1.1 sockets on one epoll thread) and --grpc CLI watchers (a thread
//     and a channel each) watch it from cursor 0 to its job_finished update;
//   --submitters clients submit small jobs, each one every 0.5-1.5 s for as long as the lab job
//     runs (at most --jobs each when it is not 0).
// Every watcher must receive every step of every run exactly once and in order, and the end.
//
// With --compare it first runs the same lab job (and the same submitters) without watchers, for the
// training's steps/s without them; --repeats N alternates N phases of each kind and takes the
// slowdown from the medians. It prints, per phase (the last of each kind): the lab job's steps/s
// (its steps over the time from its first run's start to its last run's end), the server's CPU
// split into training (threads named ablate-train), job ends (ablate-finish: the deliverables) and
// serving (every other thread), its RSS before the watchers connected and at most during the phase;
// and for the watched phase the latency for each kind, measured: each live update's arrival minus
// its posted_at (when the training posted its oldest step, on the server's clock, which this
// client shares; updates of steps done before the watcher connected are left out), each step's
// arrival at a watcher minus its first arrival at any (what the number of watchers adds), and the
// server's own measure, ablate_watch_delay_seconds from /metrics, per update handed to a
// watcher's stream (percentiles as bucket bounds). (The estimate from the steps' own seconds
// that this printed before updates carried posted_at came out at 2.5-4 times the measured p99.)
// With --compare it ends with the kernel's share: as many messages as the watchers received,
// sent over as many bare loopback connections at the same pace, with nothing but write and
// epoll/read around them (the floor under the serving side's and this client's CPU).
// Exit status 0 when every watcher got everything exactly once, 1 otherwise.
//
//   ablate_lab_watch --server PATH [--sse 1000] [--grpc 100] [--submitters 20] [--jobs 0]
//                    [--steps 1000] [--workers 3] [--compare] [--repeats 1] [--timeout 600]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ablate/v1/ablate.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "tests/support/raw_http.h"
#include "tests/support/server_process.h"
#include "tests/support/stats.h"

namespace {

using namespace ablate;
using Clock = std::chrono::steady_clock;
using Wall = std::chrono::system_clock;

struct Options {
  std::string server;
  int sse = 1000;
  int grpc = 100;
  int submitters = 20;
  int jobs = 0;  // per submitter at most; 0: as many as fit while the lab job runs
  int steps = 1000;
  int workers = 3;
  bool compare = false;
  int repeats = 1;
  int timeout_s = 600;
  std::vector<std::string> server_args;  // passed on to the server
};

// What one update carried, parsed once however many watchers receive it.
struct Parsed {
  struct Steps {
    int64_t run_id;
    int first_step;
    std::vector<float> seconds;
  };
  std::vector<Steps> steps;
  std::map<int64_t, int64_t> run_started_ms;  // from RunFinished
  bool finished = false;
  bool ok = true;
  // The update's posted_at (a live update: when the training posted its oldest event, on the
  // server's clock, which this client shares), in ms since the epoch; -1 when unset.
  double posted_ms = -1;
};

// Updates by the slice of the job they say, (the cursor before, their cursor]: the tail hands
// the watchers at one cursor the same update, so each is parsed once. (A cursor alone does
// not name an update: a watcher that was behind gets a merged one ending at the same cursor.)
class Updates {
 public:
  using Slice = std::pair<uint64_t, uint64_t>;
  std::shared_ptr<const Parsed> Add(Slice slice, const v1::JobUpdate& update) {
    std::lock_guard lock(mutex_);
    auto& slot = by_slice_[slice];
    if (slot == nullptr) slot = Parse(update);
    return slot;
  }
  std::shared_ptr<const Parsed> FromJson(Slice slice, const std::string& json) {
    {
      std::lock_guard lock(mutex_);
      auto it = by_slice_.find(slice);
      if (it != by_slice_.end()) return it->second;
    }
    v1::JobUpdate update;
    auto parsed = std::make_shared<Parsed>();
    if (!google::protobuf::util::JsonStringToMessage(json, &update).ok()) {
      parsed->ok = false;
      return parsed;
    }
    return Add(slice, update);
  }

 private:
  static std::shared_ptr<Parsed> Parse(const v1::JobUpdate& update) {
    auto p = std::make_shared<Parsed>();
    for (const v1::StepLosses& s : update.steps()) {
      p->steps.push_back({s.run_id(), s.first_step(), {s.seconds().begin(), s.seconds().end()}});
    }
    for (const v1::RunFinished& f : update.runs_finished()) {
      const auto& t = f.run().started_at();
      p->run_started_ms[f.run().id()] = t.seconds() * 1000 + t.nanos() / 1000000;
    }
    p->finished = update.has_job_finished();
    if (update.has_posted_at()) {
      p->posted_ms =
          google::protobuf::util::TimeUtil::TimestampToMicroseconds(update.posted_at()) / 1e3;
    }
    return p;
  }
  std::mutex mutex_;
  std::map<Slice, std::shared_ptr<const Parsed>> by_slice_;
};

// One watcher's record: every update with its arrival time, and the checks.
struct Watcher {
  Wall::time_point opened;
  std::vector<std::pair<std::shared_ptr<const Parsed>, Wall::time_point>> got;
  std::map<int64_t, int> next;  // the step expected next, per run
  long steps = 0;
  uint64_t cursor = 0;  // of the last update received
  long errors = 0;  // steps lost, repeated or out of order; updates that did not parse
  bool finished = false;
  std::string failure;

  // The slice an update with `next` as its cursor says; moves the cursor.
  Updates::Slice Advance(uint64_t next) { return {std::exchange(cursor, next), next}; }

  void Take(std::shared_ptr<const Parsed> p, Wall::time_point at) {
    if (!p->ok) ++errors;
    for (const Parsed::Steps& s : p->steps) {
      int& next_step = next[s.run_id];
      if (s.first_step != next_step) ++errors;
      next_step = s.first_step + static_cast<int>(s.seconds.size());
      steps += static_cast<long>(s.seconds.size());
    }
    finished = finished || p->finished;
    got.emplace_back(std::move(p), at);
  }
};

std::unique_ptr<v1::Ablation::Stub> Stub(const std::string& address, int id) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.channel_id", id);
  return v1::Ablation::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

void WatchGrpc(const std::string& address, int id, int64_t job_id, Updates& updates,
               Clock::time_point give_up, Watcher& out) {
  auto stub = Stub(address, 1000 + id);
  grpc::ClientContext context;
  context.set_deadline(Wall::now() + (give_up - Clock::now()));
  // Like the CLI, which reconnects: a connection refused or reset while a hundred others open
  // (seen once under a parallel ctest) is retried, not counted as a watcher that lost steps.
  context.set_wait_for_ready(true);
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  out.opened = Wall::now();
  auto reader = stub->WatchJob(&context, request);
  v1::JobUpdate update;
  while (reader->Read(&update)) {
    out.Take(updates.Add(out.Advance(update.cursor()), update), Wall::now());
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) out.failure = "gRPC watch ended " + status.error_message();
}

// The SSE side: every browser's socket on one epoll thread.
struct SseConn {
  int fd = -1;
  std::string in;        // bytes not yet parsed
  bool headers = false;  // the response's headers are past
  std::string body;      // de-chunked body not yet split into events
  bool done = false;
  Watcher* watcher = nullptr;
};

// Takes the complete chunks of `c.in` into `c.body` (chunked transfer coding).
void Dechunk(SseConn& c) {
  for (;;) {
    const size_t eol = c.in.find("\r\n");
    if (eol == std::string::npos) return;
    const size_t size = std::strtoul(c.in.substr(0, eol).c_str(), nullptr, 16);
    if (c.in.size() < eol + 2 + size + 2) return;
    if (size == 0) {
      c.done = true;
      return;
    }
    c.body.append(c.in, eol + 2, size);
    c.in.erase(0, eol + 2 + size + 2);
  }
}

void TakeEvents(SseConn& c, Updates& updates) {
  for (;;) {
    const size_t end = c.body.find("\n\n");
    if (end == std::string::npos) return;
    const std::string event = c.body.substr(0, end);
    c.body.erase(0, end + 2);
    uint64_t id = 0;
    std::string data;
    bool has_id = false, error = false;
    std::istringstream lines(event);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("id: ", 0) == 0) {
        id = std::strtoull(line.c_str() + 4, nullptr, 10);
        has_id = true;
      } else if (line.rfind("data: ", 0) == 0) {
        data = line.substr(6);
      } else if (line == "event: error") {
        error = true;
      }
    }
    if (error) {
      c.watcher->failure = "SSE error event: " + data;
      c.done = true;
      return;
    }
    if (has_id) c.watcher->Take(updates.FromJson(c.watcher->Advance(id), data), Wall::now());
  }
}

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void WatchSse(int port, int64_t job_id, Updates& updates, Clock::time_point give_up,
              std::vector<Watcher>& watchers) {
  const int ep = epoll_create1(0);
  std::vector<SseConn> conns(watchers.size());
  const std::string request = "GET /api/v1/jobs/" + std::to_string(job_id) +
                              "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  size_t open = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    SseConn& c = conns[i];
    c.watcher = &watchers[i];
    c.fd = Connect(port);
    if (c.fd < 0 || send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
                        static_cast<ssize_t>(request.size())) {
      c.watcher->failure = "cannot connect";
      c.done = true;
      continue;
    }
    c.watcher->opened = Wall::now();
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = i}};
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
    ++open;
  }
  std::vector<epoll_event> events(256);
  char buffer[65536];
  while (open > 0 && Clock::now() < give_up) {
    const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
    for (int e = 0; e < n; ++e) {
      SseConn& c = conns[events[e].data.u64];
      if (c.done) continue;
      for (;;) {
        const ssize_t got = read(c.fd, buffer, sizeof buffer);
        if (got > 0) {
          c.in.append(buffer, static_cast<size_t>(got));
          continue;
        }
        if (got == 0) c.done = true;
        break;
      }
      if (!c.headers) {
        const size_t end = c.in.find("\r\n\r\n");
        if (end != std::string::npos) {
          if (c.in.rfind("HTTP/1.1 200", 0) != 0) {
            c.watcher->failure = "SSE refused: " + c.in.substr(0, c.in.find("\r\n"));
            c.done = true;
          }
          c.in.erase(0, end + 4);
          c.headers = !c.done;
        }
      }
      if (c.headers) {  // also after the end: the last read may carry the last events
        Dechunk(c);
        TakeEvents(c, updates);
      }
      if (c.done || c.watcher->finished) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        c.done = true;
        --open;
      }
    }
  }
  for (SseConn& c : conns) {
    if (!c.done) {
      close(c.fd);
      c.watcher->failure = "timed out";
    }
  }
  close(ep);
}

// CPU seconds of the server's threads.
struct ThreadCpu {
  double training = 0;  // ablate-train
  double job_ends = 0;  // ablate-finish: each job's deliverables (figures, README, bundle)
  double other = 0;     // serving: the front doors, the writer, the fan-out, pools
};
ThreadCpu ServerCpu(pid_t pid) {
  ThreadCpu cpu;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::error_code error;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream stat(task.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t open = text.find('('), close_at = text.rfind(')');
    if (open == std::string::npos || close_at == std::string::npos) continue;
    const std::string name = text.substr(open + 1, close_at - open - 1);
    std::istringstream rest(text.substr(close_at + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    (name == "ablate-train"    ? cpu.training
     : name == "ablate-finish" ? cpu.job_ends
                               : cpu.other) += (utime + stime) / tick;
  }
  return cpu;
}
// Threads that ended (a pool's) are no longer listed: the process's total catches them.
double ProcessCpu(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpu() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

v1::JobSpec SmallJob(int index) {
  v1::JobSpec spec;
  spec.set_name("small " + std::to_string(index));
  spec.mutable_model()->set_depth(4);
  spec.mutable_model()->set_width(32);
  spec.mutable_model()->set_input_dim(32);
  spec.mutable_training()->set_steps(100);
  spec.mutable_training()->set_eval_every(50);
  spec.add_runs()->set_init("kaiming");
  return spec;
}

struct PhaseResult {
  double steps_per_second = 0;
  // From the lab job's last run's end to the job's end (its files stored): how long the hall
  // waits for the deliverables, which queue behind the small jobs' ends.
  double files_after_training = 0;
  double train_cpu = 0, job_end_cpu = 0, serve_cpu = 0, client_cpu = 0, wall = 0;
  long rss_before_kb = 0, rss_peak_kb = 0;
  // Each live update's arrival minus its posted_at (when the training posted its oldest step,
  // on the server's clock, which this client shares), per kind: how late its oldest step
  // reached the watcher. Updates posted before the watcher connected (its backlog) are left out.
  std::vector<double> sse_ms, grpc_ms;
  // Each step's arrival at a watcher minus its first arrival at any: what the number of
  // watchers adds.
  std::vector<double> spread_ms;
  // ablate_watch_delay_seconds at the phase's end: (bucket bound, cumulative count), +Inf last.
  std::vector<std::pair<std::string, double>> delay_buckets;
  double delay_sum = 0;
  long watchers = 0, watchers_ok = 0, errors = 0;
  long updates = 0, steps_delivered = 0;  // messages and steps received, all watchers
  std::vector<std::string> failures;
  int submitted = 0;
};

// The server's ablate_watch_delay_seconds histogram, from /metrics.
void ScrapeDelays(int port, PhaseResult& r) {
  test_support::Socket socket(port);
  if (!socket.ok() ||
      !socket.Send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")) {
    return;
  }
  const std::string response = socket.ReadAll(std::chrono::seconds(10));
  std::istringstream lines(response);
  const std::string bucket = "ablate_watch_delay_seconds_bucket{le=\"";
  for (std::string line; std::getline(lines, line);) {
    double value = 0;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) continue;
    if (line.rfind(bucket, 0) == 0) {
      r.delay_buckets.emplace_back(line.substr(bucket.size(), line.find('"', bucket.size()) -
                                                                  bucket.size()),
                                   value);
    } else if (line.rfind("ablate_watch_delay_seconds_sum ", 0) == 0) {
      r.delay_sum = value;
    }
  }
}

// "p50 <= 50 ms" style: the smallest bucket bound holding the quantile q of the observations.
std::string DelaySummary(const PhaseResult& r) {
  if (r.delay_buckets.empty() || r.delay_buckets.back().second == 0) return "no observations";
  const double count = r.delay_buckets.back().second;
  std::string out;
  for (const double q : {0.5, 0.9, 0.99}) {
    for (const auto& [bound, cumulative] : r.delay_buckets) {
      if (cumulative >= q * count) {
        double seconds = 0;
        const std::string shown =
            absl::SimpleAtod(bound, &seconds) ? absl::StrCat(seconds * 1000, " ms") : bound;
        absl::StrAppend(&out, "p", q * 100, " <= ", shown, "  ");
        break;
      }
    }
  }
  absl::StrAppend(&out, "mean ", absl::StrFormat("%.1f", 1000 * r.delay_sum / count), " ms  (n=",
                  count, " updates handed over)");
  return out;
}

// Runs one phase on a fresh server: the lab job, the submitters, and (when asked) the watchers.
bool RunPhase(const Options& o, bool watched, PhaseResult& r) {
  test_support::ServerProcess server;
  std::vector<std::string> args = {"--http-max-streams", "100000", "--max-streams", "100000",
                                   "--http-max-connections", "10000",
                                   "--http-max-connections-per-address", "100000",
                                   "--max-active-jobs-per-user", "0"};
  args.insert(args.end(), o.server_args.begin(), o.server_args.end());
  const std::string error = server.Start(
      {.binary = o.server, .workers = o.workers, .http = true, .extra_args = args});
  if (!error.empty()) {
    std::fprintf(stderr, "cannot start the server: %s\n", error.c_str());
    return false;
  }
  const pid_t pid = server.pid();
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(o.timeout_s);
  r.rss_before_kb = server.StatusKb("VmRSS");
  const double cpu_start = ProcessCpu(pid);
  const ThreadCpu cpu_threads_start = ServerCpu(pid);
  const double self_start = SelfCpu();
  const Clock::time_point wall_start = Clock::now();

  auto stub = Stub(server.GrpcAddress(), 1);
  v1::SubmitJobRequest submit;
  submit.mutable_spec()->set_name("lecture lab");
  submit.mutable_spec()->mutable_training()->set_steps(o.steps);
  v1::SubmitJobResponse submitted;
  {
    grpc::ClientContext context;
    context.set_deadline(Wall::now() + std::chrono::seconds(30));
    const grpc::Status s = stub->SubmitJob(&context, submit, &submitted);
    if (!s.ok()) {
      std::fprintf(stderr, "cannot submit the lab job: %s\n", s.error_message().c_str());
      return false;
    }
  }
  const int64_t job_id = submitted.job().id();

  Updates updates;
  std::vector<Watcher> sse(watched ? o.sse : 0), grpc_watchers(watched ? o.grpc : 0);
  std::vector<std::thread> threads;
  std::atomic<bool> sampling{true};
  std::atomic<long> rss_peak{r.rss_before_kb};
  threads.emplace_back([&] {
    while (sampling) {
      rss_peak = std::max(rss_peak.load(), server.StatusKb("VmRSS"));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  if (watched) {
    threads.emplace_back([&] { WatchSse(server.http_port(), job_id, updates, give_up, sse); });
    for (int i = 0; i < o.grpc; ++i) {
      threads.emplace_back([&, i] {
        WatchGrpc(server.GrpcAddress(), i, job_id, updates, give_up, grpc_watchers[i]);
      });
    }
  }
  // The submitters keep their pace for as long as the lab job runs, so that both phases train
  // it under the same density of other jobs: a fixed number of jobs, front-loaded, would
  // overlap a slowed lab job more than a fast one, and its cost would count as the watchers'.
  std::atomic<int> accepted{0};
  std::mutex lab_mutex;
  std::condition_variable lab_ended_cv;
  bool lab_ended = false;  // guarded by lab_mutex
  std::vector<std::thread> submitters;
  for (int s = 0; s < o.submitters; ++s) {
    submitters.emplace_back([&, s] {
      auto own = Stub(server.GrpcAddress(), 100000 + s);
      for (int j = 0; o.jobs == 0 || j < o.jobs; ++j) {
        {
          std::unique_lock lock(lab_mutex);
          if (lab_ended_cv.wait_for(lock, std::chrono::milliseconds(500 + 50 * s),
                                    [&] { return lab_ended; })) {
            return;
          }
        }
        v1::SubmitJobRequest request;
        *request.mutable_spec() = SmallJob(s * 100000 + j);
        v1::SubmitJobResponse response;
        grpc::ClientContext context;
        context.set_deadline(Wall::now() + std::chrono::seconds(30));
        if (own->SubmitJob(&context, request, &response).ok()) ++accepted;
      }
    });
  }
  // The lab job's end, by polling (a watcher would change what the unwatched phase measures).
  v1::Job job;
  while (Clock::now() < give_up) {
    grpc::ClientContext context;
    context.set_deadline(Wall::now() + std::chrono::seconds(30));
    v1::GetJobRequest get;
    get.set_job_id(job_id);
    if (stub->GetJob(&context, get, &job).ok() &&
        (job.state() == v1::JOB_STATE_SUCCEEDED || job.state() == v1::JOB_STATE_FAILED ||
         job.state() == v1::JOB_STATE_CANCELLED)) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  {
    std::lock_guard lock(lab_mutex);
    lab_ended = true;
  }
  lab_ended_cv.notify_all();
  for (std::thread& t : submitters) t.join();
  sampling = false;
  for (std::thread& t : threads) t.join();
  r.wall = std::chrono::duration<double>(Clock::now() - wall_start).count();
  const ThreadCpu cpu_threads_end = ServerCpu(pid);
  r.train_cpu = cpu_threads_end.training - cpu_threads_start.training;
  r.job_end_cpu = cpu_threads_end.job_ends - cpu_threads_start.job_ends;
  // Threads that ended (a pool's) are counted by the process's total, so serving is the rest.
  r.serve_cpu = (ProcessCpu(pid) - cpu_start) - r.train_cpu - r.job_end_cpu;
  r.client_cpu = SelfCpu() - self_start;
  r.rss_peak_kb = rss_peak;
  r.submitted = accepted;

  // Steps/s of the lab job: its steps over its runs' span.
  int64_t first_ms = INT64_MAX, last_ms = 0;
  long steps = 0;
  for (const v1::Run& run : job.runs()) {
    first_ms = std::min<int64_t>(first_ms, run.started_at().seconds() * 1000 +
                                               run.started_at().nanos() / 1000000);
    last_ms = std::max<int64_t>(last_ms, run.finished_at().seconds() * 1000 +
                                             run.finished_at().nanos() / 1000000);
    steps += run.steps_done();
  }
  if (last_ms > first_ms) r.steps_per_second = steps * 1000.0 / (last_ms - first_ms);
  const int64_t job_end_ms =
      job.finished_at().seconds() * 1000 + job.finished_at().nanos() / 1000000;
  if (last_ms > 0 && job_end_ms >= last_ms) r.files_after_training = (job_end_ms - last_ms) / 1e3;

  // Checks and latency. Each step's first arrival at any watcher, by (run, step):
  std::map<std::pair<int64_t, int>, double> first_arrival;
  for (std::vector<Watcher>* ws : {&sse, &grpc_watchers}) {
    for (const Watcher& w : *ws) {
      for (const auto& [p, at] : w.got) {
        const double at_ms =
            std::chrono::duration<double, std::milli>(at.time_since_epoch()).count();
        for (const Parsed::Steps& s : p->steps) {
          for (size_t i = 0; i < s.seconds.size(); ++i) {
            auto [it, fresh] = first_arrival.try_emplace(
                {s.run_id, s.first_step + static_cast<int>(i)}, at_ms);
            if (!fresh) it->second = std::min(it->second, at_ms);
          }
        }
      }
    }
  }
  auto check = [&](std::vector<Watcher>& ws, std::vector<double>& latencies, const char* kind) {
    for (Watcher& w : ws) {
      ++r.watchers;
      long expected = 0;
      for (const v1::Run& run : job.runs()) expected += run.steps_done();
      bool ok = w.finished && w.errors == 0 && w.steps == expected && w.failure.empty();
      r.errors += w.errors;
      r.updates += static_cast<long>(w.got.size());
      r.steps_delivered += w.steps;
      if (ok) ++r.watchers_ok;
      if (!ok && r.failures.size() < 5) {
        r.failures.push_back(std::string(kind) + ": " + std::to_string(w.steps) + " of " +
                             std::to_string(expected) + " steps, " + std::to_string(w.errors) +
                             " errors, " + (w.finished ? "finished" : "not finished") + " " +
                             w.failure);
      }
      const double opened_ms =
          std::chrono::duration<double, std::milli>(w.opened.time_since_epoch()).count();
      for (const auto& [p, at] : w.got) {
        const double at_ms =
            std::chrono::duration<double, std::milli>(at.time_since_epoch()).count();
        if (p->posted_ms >= opened_ms && !p->steps.empty()) {  // live, not backlog
          latencies.push_back(at_ms - p->posted_ms);
        }
        for (const Parsed::Steps& s : p->steps) {
          for (size_t i = 0; i < s.seconds.size(); ++i) {
            r.spread_ms.push_back(at_ms - first_arrival[{s.run_id, s.first_step + static_cast<int>(i)}]);
          }
        }
      }
    }
  };
  check(sse, r.sse_ms, "SSE");
  check(grpc_watchers, r.grpc_ms, "gRPC");
  ScrapeDelays(server.http_port(), r);
  server.Stop(std::chrono::seconds(30));
  return true;
}

void Print(const char* title, const PhaseResult& r, bool watched) {
  std::printf("%s\n", title);
  std::printf("  lab job: %.1f steps/s; its files %.2f s after its training; wall %.1f s; %d small "
              "jobs accepted (%.1f a second)\n",
              r.steps_per_second, r.files_after_training, r.wall, r.submitted,
              r.wall > 0 ? r.submitted / r.wall : 0);
  std::printf("  server CPU: training %.1f s, job ends (deliverables) %.1f s, serving %.1f s "
              "(%.1f%% of training); this client %.1f s\n",
              r.train_cpu, r.job_end_cpu, r.serve_cpu,
              r.train_cpu > 0 ? 100 * r.serve_cpu / r.train_cpu : 0, r.client_cpu);
  std::printf("  server RSS: %.1f MiB before, %.1f MiB at most (growth %.1f MiB)\n",
              r.rss_before_kb / 1024.0, r.rss_peak_kb / 1024.0,
              (r.rss_peak_kb - r.rss_before_kb) / 1024.0);
  if (!watched) return;
  std::printf("  watchers: %ld of %ld received every step exactly once, in order, and the end "
              "(%ld errors)\n",
              r.watchers_ok, r.watchers, r.errors);
  for (const std::string& f : r.failures) std::printf("    %s\n", f.c_str());
  // Serving cost per delivery: what the comparison of two builds should look at, as it
  // depends little on how busy the machine is.
  if (r.steps_delivered > 0 && r.updates > 0) {
    std::printf("  delivered: %ld updates (%.1f per watcher), %ld steps; serving CPU %.2f us per "
                "step delivered, %.1f us per update\n",
                r.updates, static_cast<double>(r.updates) / static_cast<double>(r.watchers),
                r.steps_delivered, 1e6 * r.serve_cpu / static_cast<double>(r.steps_delivered),
                1e6 * r.serve_cpu / static_cast<double>(r.updates));
  }
  std::printf("  update -> SSE watcher latency (its oldest step's post by the training to its "
              "arrival):  %s\n",
              test_support::Summary(r.sse_ms).c_str());
  std::printf("  update -> gRPC watcher latency (its oldest step's post by the training to its "
              "arrival): %s\n",
              test_support::Summary(r.grpc_ms).c_str());
  std::printf("  first watcher -> each watcher: %s\n", test_support::Summary(r.spread_ms).c_str());
  std::printf("  server's own measure, step posted -> handed to a watcher's stream "
              "(ablate_watch_delay_seconds): %s\n",
              DelaySummary(r).c_str());
}

// The kernel's share of a hall's cost on this machine: `messages` messages of `bytes` bytes
// over `connections` loopback TCP connections, one per connection per round `interval` apart
// (as the tail sends them), written by one thread and read by another on epoll, with no HTTP,
// no gRPC and no server around them. CPU seconds of each side; what the server's serving and
// this client spend beyond these is their own.
struct KernelFloor {
  double send_s = 0, receive_s = 0;
  long messages = 0;
};

double ThreadCpuNow() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

KernelFloor MeasureKernelFloor(long connections, long messages, size_t bytes,
                               std::chrono::milliseconds interval) {
  KernelFloor floor;
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      listen(listener, 4096) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (listener >= 0) close(listener);
    return floor;
  }
  std::vector<int> senders, receivers;
  for (int i = 0; i < connections; ++i) {
    const int client = socket(AF_INET, SOCK_STREAM, 0);
    if (client < 0 || connect(client, reinterpret_cast<sockaddr*>(&address), length) != 0) {
      if (client >= 0) close(client);
      break;
    }
    const int server = accept(listener, nullptr, nullptr);
    if (server < 0) {
      close(client);
      break;
    }
    const int one = 1;
    setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    senders.push_back(server);
    receivers.push_back(client);
  }
  close(listener);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    const int poll = epoll_create1(0);
    for (size_t i = 0; i < receivers.size(); ++i) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = i;
      epoll_ctl(poll, EPOLL_CTL_ADD, receivers[i], &event);
    }
    const double start = ThreadCpuNow();
    std::vector<char> buffer(1 << 16);
    epoll_event events[256];
    while (!stop) {
      const int n = epoll_wait(poll, events, 256, 50);
      for (int k = 0; k < n; ++k) {
        while (read(receivers[events[k].data.u64], buffer.data(), buffer.size()) ==
               static_cast<ssize_t>(buffer.size())) {
        }
      }
    }
    floor.receive_s = ThreadCpuNow() - start;
    close(poll);
  });
  const std::string message(bytes, 'x');
  const double start = ThreadCpuNow();
  Clock::time_point round = Clock::now();
  while (!senders.empty() && floor.messages < messages) {
    for (int fd : senders) {
      if (write(fd, message.data(), message.size()) > 0) ++floor.messages;
    }
    round += interval;
    std::this_thread::sleep_until(round);
  }
  floor.send_s = ThreadCpuNow() - start;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the last round's reads
  stop = true;
  reader.join();
  for (int fd : senders) close(fd);
  for (int fd : receivers) close(fd);
  return floor;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("A lecture hall watching one lab job (see lab_watch.cc)");
  app.add_option("--server", o.server, "ablate-server binary")->required();
  app.add_option("--sse", o.sse, "browsers watching (SSE)");
  app.add_option("--grpc", o.grpc, "CLI watchers (gRPC)");
  app.add_option("--submitters", o.submitters, "clients submitting small jobs");
  app.add_option("--jobs", o.jobs, "at most this many small jobs per submitter (0: no cap)")
      ->check(CLI::Range(0, 100000));
  app.add_option("--steps", o.steps, "the lab job's steps per run");
  app.add_option("--workers", o.workers, "the server's --workers");
  app.add_flag("--compare", o.compare, "first run the same without watchers");
  app.add_option("--repeats", o.repeats, "phases of each kind, alternating")
      ->check(CLI::Range(1, 100));
  app.add_option("--timeout", o.timeout_s, "seconds per phase");
  app.add_option("--server-arg", o.server_args,
                 "a flag for the server (repeat it; e.g. --server-arg=--fan-out-interval=50)");
  CLI11_PARSE(app, argc, argv);

  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  std::printf("load before: %s\n", test_support::LoadAverage().c_str());
  // Phases alternate (without, with, without, ...), each on a fresh server, so that a change of
  // load on the machine hits both alike; the slowdown is taken from the medians.
  std::vector<double> alone_rates, watched_rates;
  PhaseResult alone, watched;
  bool lossless = true;
  for (int k = 1; k <= o.repeats; ++k) {
    if (o.compare) {
      alone = PhaseResult{};
      if (!RunPhase(o, false, alone)) return 1;
      alone_rates.push_back(alone.steps_per_second);
    }
    watched = PhaseResult{};
    if (!RunPhase(o, true, watched)) return 1;
    watched_rates.push_back(watched.steps_per_second);
    lossless = lossless && watched.watchers_ok == watched.watchers;
    if (o.repeats > 1) {
      std::printf("repeat %d: lab job %s%.1f steps/s with the watchers (%ld of %ld lossless); "
                  "its files %s%.2f s after its training\n",
                  k,
                  o.compare ? absl::StrFormat("%.1f steps/s without, ", alone.steps_per_second)
                                  .c_str()
                            : "",
                  watched.steps_per_second, watched.watchers_ok, watched.watchers,
                  o.compare ? absl::StrFormat("%.2f s without, ", alone.files_after_training)
                                  .c_str()
                            : "",
                  watched.files_after_training);
    }
  }
  if (o.repeats > 1) std::printf("the last repeat in full:\n");
  if (o.compare) Print("without watchers:", alone, false);
  char title[128];
  std::snprintf(title, sizeof title, "with %d SSE and %d gRPC watchers:", o.sse, o.grpc);
  Print(title, watched, true);
  if (o.compare && alone.steps_per_second > 0) {
    const double without = test_support::Median(alone_rates);
    const double with = test_support::Median(watched_rates);
    std::printf("training slowdown with the watchers: %.1f%% (lab job %.1f vs %.1f steps/s",
                100 * (1 - with / without), with, without);
    if (o.repeats > 1) {
      std::vector<double> each;
      for (size_t i = 0; i < alone_rates.size(); ++i) {
        each.push_back(100 * (1 - watched_rates[i] / alone_rates[i]));
      }
      std::printf(", medians of %d repeats; each repeat's %.1f%% to %.1f%%", o.repeats,
                  *std::min_element(each.begin(), each.end()),
                  *std::max_element(each.begin(), each.end()));
    }
    std::printf(")\n");
    std::printf("server RSS growth the watchers added (peak with them - peak without): %.1f MiB\n",
                (watched.rss_peak_kb - alone.rss_peak_kb) / 1024.0);
    if (watched.updates > 0) {
      // The unwatched phase's serving (its submitters' calls, the writer's commits) is not
      // the watchers'.
      const double added = watched.serve_cpu - alone.serve_cpu;
      std::printf("serving CPU the watchers added (with them - without): %.2f s, %.1f us per "
                  "update\n",
                  added, 1e6 * added / static_cast<double>(watched.updates));
    }
  }
  if (o.compare && watched.updates > 0 && watched.watchers > 0) {
    // As many messages as the watchers received, of a typical update's size (about 15 steps
    // of two runs as an SSE event), at the tail's default pace.
    const KernelFloor floor =
        MeasureKernelFloor(watched.watchers, watched.updates, 1500, std::chrono::milliseconds(50));
    if (floor.messages > 0) {
      std::printf("the kernel alone, for the same %ld messages over %ld loopback connections: "
                  "%.2f s to send + %.2f s to receive (%.1f + %.1f us per message), against "
                  "serving %.2f s + this client %.2f s\n",
                  floor.messages, watched.watchers, floor.send_s, floor.receive_s,
                  floor.send_s * 1e6 / floor.messages, floor.receive_s * 1e6 / floor.messages,
                  watched.serve_cpu, watched.client_cpu);
    }
  }
  std::printf("load after: %s\n", test_support::LoadAverage().c_str());
  return lossless ? 0 : 1;
}
