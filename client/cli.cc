#include "client/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/artifacts.h"
#include "client/class_report.h"
#include "client/connection.h"
#include "client/format.h"
#include "client/health.h"
#include "client/lab_report.h"
#include "client/progress.h"
#include "client/rpc_errors.h"
#include "client/spec_flags.h"
#include "client/watch.h"

namespace ablate::client {
namespace {

constexpr char kVersion[] = "ablate 0.1.0 (API ablate.v1)";
constexpr char kDefaultServer[] = "127.0.0.1:50051";
constexpr char kDefaultTimeout[] = "10";
constexpr char kDefaultReconnectTimeout[] = "60";
constexpr char kLabDir[] = "experiments/10-init-matters";
// Rows of `ablate trajectory`'s default table: about every 50th step of lab 1's 1000.
constexpr int kTrajectoryRows = 21;
// `ablate list` shows one server page of this many jobs unless told otherwise.
constexpr int kDefaultListLimit = 50;
constexpr int kMaxPageSize = 1000;

// --- Flags as typed -------------------------------------------------------------------------
// Values stay text until the command runs, so every bad value gets a sentence of ours naming
// the flag (CLI11's own conversion messages are terse) and is a usage error (exit 2).

struct GlobalArgs {
  std::string server = kDefaultServer;
  std::string timeout = kDefaultTimeout;
  bool tls = false;
  std::string tls_ca;  // a PEM file; implies tls
  std::string token;
};

struct SubmitArgs {
  SpecFlags spec;
  std::optional<std::string> spec_file;
  std::string owner;
  bool watch = false;
  bool json = false;
  std::string reconnect_timeout = kDefaultReconnectTimeout;
};

struct WatchArgs {
  std::string job;
  bool json = false;
  std::string reconnect_timeout = kDefaultReconnectTimeout;
};

struct ListArgs {
  std::optional<std::string> owner;
  std::vector<std::string> states;
  std::optional<std::string> init;
  std::optional<std::string> name;
  std::optional<std::string> tag;
  std::optional<std::string> sort;
  std::optional<std::string> since;
  std::optional<std::string> until;
  std::optional<std::string> limit;
  bool all = false;
  bool json = false;
};

struct ShowArgs {
  std::string job;
  bool json = false;
};

struct TrajectoryArgs {
  std::string run;
  bool csv = false;
  bool json = false;
  std::optional<std::string> max_points;
};

struct CancelArgs {
  std::string job;
};

struct DeleteArgs {
  std::string job;
};

struct NoteArgs {
  std::string job;
  std::optional<std::string> text;  // none: print the note
};

struct TagArgs {
  std::string job;
  std::string verb;  // add or rm
  std::vector<std::string> tags;
};

struct DownloadArgs {
  std::string job;
  std::optional<std::string> out;
};

struct ClassArgs {
  std::optional<std::string> name;
  std::optional<std::string> report;
  std::optional<std::string> grid_points;
  bool json = false;
};

struct LabArgs {
  std::string out = kLabDir;
  bool json = false;
  std::string owner;
  std::string reconnect_timeout = kDefaultReconnectTimeout;
  std::optional<std::string> seeds;         // --seeds: weight seeds per init
  bool vary_data_seed = false;              // --vary-data-seed: and a data seed per seed
  std::optional<std::string> verify_depth;  // --verify-depth: the second job's depth
};

// --- Parsing values ---------------------------------------------------------------------------

absl::StatusOr<int64_t> ParseId(absl::string_view what, absl::string_view text) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be a ", absl::AsciiStrToLower(what),
                                                   " id (a positive integer), got '", text, "'"));
  }
  return id;
}

absl::StatusOr<absl::Duration> ParseSeconds(absl::string_view flag, absl::string_view text) {
  double seconds = 0;
  if (!absl::SimpleAtod(text, &seconds) || !(seconds > 0) || seconds > 1e9) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected a number of seconds greater than 0, got '", text, "'"));
  }
  return absl::Seconds(seconds);
}

absl::StatusOr<int32_t> ParseCount(absl::string_view flag, absl::string_view text, int32_t min) {
  int32_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected ",
                                                   min == 0 ? "a non-negative" : "a positive",
                                                   " integer, got '", text, "'"));
  }
  return value;
}

std::string DefaultOwner() {
  const char* user = std::getenv("USER");
  return user == nullptr ? "" : user;
}

// --- Running commands ---------------------------------------------------------------------------

class Runner {
 public:
  Runner(const CliEnvironment& env, const GlobalArgs& globals)
      : env_(env), out_(*env.out), err_(*env.err), globals_(globals) {}

  int Submit(const SubmitArgs& args);
  int Watch(const WatchArgs& args);
  int List(const ListArgs& args);
  int Show(const ShowArgs& args);
  int Trajectory(const TrajectoryArgs& args);
  int Cancel(const CancelArgs& args);
  int Delete(const DeleteArgs& args);
  int Note(const NoteArgs& args);
  int Tag(const TagArgs& args);
  int WhoAmI();
  int Download(const DownloadArgs& args);
  int Lab(const LabArgs& args);
  int Class(const ClassArgs& args);
  int Health(const std::string& service);

 private:
  // Prints "ablate: <message>" and returns `code`.
  int Fail(const absl::Status& status, int code) {
    err_ << "ablate: " << OneLine(status.message()) << std::endl;
    return code;
  }
  int UsageError(const absl::Status& status) { return Fail(status, kExitUsage); }
  // A value the server refused is the user's to fix, as a bad flag is: exit 2, not 1.
  int Error(const absl::Status& status) {
    return Fail(status, status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage
                                                                            : kExitError);
  }

  // The connection, once the global flags are known to be good.
  absl::StatusOr<Connection*> Connect();
  // Watches to the end with the live display; `print_summary` as in ProgressDisplay.
  // With `quiet` (--json) the display is not shown: stdout is for the JSON alone.
  absl::StatusOr<v1::Job> Follow(Connection& connection, int64_t job_id,
                                 absl::Duration reconnect_timeout, bool print_summary,
                                 bool quiet = false);
  // kExitOk for a succeeded job; otherwise says why on stderr and returns kExitJobFailed.
  int JobExitCode(const v1::Job& job);
  // Submits `spec`, follows it and downloads its deliverables into `dir`; the finished job on
  // success, else the exit code (having said why). With `json` (lab --json) the finished job
  // is printed as JSON on stdout and everything else goes to stderr.
  struct LabJob {
    std::optional<v1::Job> job;       // set when it succeeded and its files were downloaded
    std::optional<v1::Job> finished;  // set when it ended, however
    int exit_code = kExitOk;
  };
  LabJob RunLabJob(Connection& connection, const v1::JobSpec& spec, const std::string& owner,
                   const DownloadDir& dir, absl::Duration reconnect, bool json);
  // Prints on `story` what `dir`/manifest.json's results_summary says about the prediction at
  // the job's depth and the spread across seeds.
  void PrintLabFindings(const std::filesystem::path& dir, std::ostream& story);

  const CliEnvironment& env_;
  std::ostream& out_;
  std::ostream& err_;
  GlobalArgs globals_;
  std::optional<Connection> connection_;
};

absl::StatusOr<Connection*> Runner::Connect() {
  absl::StatusOr<absl::Duration> timeout = ParseSeconds("--timeout", globals_.timeout);
  if (!timeout.ok()) return timeout.status();
  if (globals_.server.empty()) {
    return absl::InvalidArgumentError("--server: expected HOST:PORT, got an empty address");
  }
  ConnectionOptions options;
  options.server = globals_.server;
  options.timeout = *timeout;
  options.tls = globals_.tls;
  if (!globals_.tls_ca.empty()) {
    absl::StatusOr<std::string> roots = ReadTlsRootCerts(globals_.tls_ca);
    if (!roots.ok()) return roots.status();
    options.tls = true;
    options.tls_root_certs = *std::move(roots);
  }
  options.token = globals_.token;
  connection_.emplace(std::move(options));
  return &*connection_;
}

absl::StatusOr<v1::Job> Runner::Follow(Connection& connection, int64_t job_id,
                                       absl::Duration reconnect_timeout, bool print_summary,
                                       bool quiet) {
  std::ostringstream discarded;
  ProgressDisplay display(
      quiet ? discarded : out_,
      env_.out_is_terminal && !quiet ? ProgressDisplay::Mode::kTerminal
                                     : ProgressDisplay::Mode::kLog,
      env_.terminal_width);
  display.set_print_summary(print_summary);
  WatchOptions options;
  options.reconnect_timeout = reconnect_timeout;
  return WatchJob(connection, job_id, options, display);
}

int Runner::JobExitCode(const v1::Job& job) {
  switch (job.state()) {
    case v1::JOB_STATE_SUCCEEDED:
      return kExitOk;
    case v1::JOB_STATE_FAILED:
      err_ << "ablate: job " << job.id() << " failed"
           << (job.error().empty() ? "" : ": " + OneLine(job.error())) << std::endl;
      return kExitJobFailed;
    case v1::JOB_STATE_CANCELLED:
      err_ << "ablate: job " << job.id() << " was cancelled" << std::endl;
      return kExitJobFailed;
    default:
      err_ << "ablate: job " << job.id() << " ended in state " << JobStateName(job.state())
           << std::endl;
      return kExitJobFailed;
  }
}

int Runner::Submit(const SubmitArgs& args) {
  v1::SubmitJobRequest request;
  if (args.spec_file.has_value()) {
    absl::StatusOr<v1::JobSpec> spec = ReadJobSpecFile(*args.spec_file);
    if (!spec.ok()) return UsageError(spec.status());
    *request.mutable_spec() = *std::move(spec);
  }
  if (absl::Status applied = ApplySpecFlags(args.spec, request.mutable_spec()); !applied.ok()) {
    return UsageError(applied);
  }
  request.set_owner(args.owner);
  absl::StatusOr<absl::Duration> reconnect =
      ParseSeconds("--reconnect-timeout", args.reconnect_timeout);
  if (!reconnect.ok()) return UsageError(reconnect.status());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());

  absl::StatusOr<v1::Job> job = (*connection)->SubmitJob(request);
  if (!job.ok()) return Error(job.status());
  if (args.json && args.watch) {
    // stdout holds one document, the job as it ended (as watch --json prints it); its id goes
    // to stderr now, so that a watch that fails still says which job was submitted.
    err_ << "submitted job " << job->id() << std::endl;
  } else if (args.json) {
    out_ << ToJson(*job) << std::flush;
  } else {
    out_ << job->id() << std::endl;
  }
  if (!args.watch) return kExitOk;
  absl::StatusOr<v1::Job> final_job =
      Follow(**connection, job->id(), *reconnect, /*print_summary=*/true, /*quiet=*/args.json);
  if (!final_job.ok()) return Error(final_job.status());
  if (args.json) out_ << ToJson(*final_job) << std::flush;
  return JobExitCode(*final_job);
}

int Runner::Watch(const WatchArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  absl::StatusOr<absl::Duration> reconnect =
      ParseSeconds("--reconnect-timeout", args.reconnect_timeout);
  if (!reconnect.ok()) return UsageError(reconnect.status());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());

  absl::StatusOr<v1::Job> final_job =
      Follow(**connection, *job_id, *reconnect, /*print_summary=*/true, /*quiet=*/args.json);
  if (!final_job.ok()) return Error(final_job.status());
  if (args.json) out_ << ToJson(*final_job) << std::flush;
  return JobExitCode(*final_job);
}

int Runner::List(const ListArgs& args) {
  v1::ListJobsRequest request;
  if (args.owner) request.set_owner(*args.owner);
  if (args.init) request.set_init(*args.init);
  if (args.name) request.set_name_contains(*args.name);
  if (args.tag) request.set_tag(*args.tag);
  JobSortKey sort = JobSortKey::kNewest;
  if (args.sort) {
    std::optional<JobSortKey> key = ParseJobSortKey(*args.sort);
    if (!key) {
      return UsageError(absl::InvalidArgumentError(
          absl::StrCat("--sort: '", *args.sort, "' is not a sort key (newest, final, val)")));
    }
    sort = *key;
  }
  for (const std::string& name : args.states) {
    std::optional<v1::JobState> state = ParseJobStateName(name);
    if (!state.has_value()) {
      return UsageError(absl::InvalidArgumentError(
          absl::StrCat("--state: '", name,
                       "' is not a job state (queued, running, succeeded, failed, cancelled)")));
    }
    request.add_states(*state);
  }
  auto set_time = [&](absl::string_view flag, const std::optional<std::string>& text,
                      bool end_of_day, google::protobuf::Timestamp* timestamp) -> absl::Status {
    if (!text) return absl::OkStatus();
    absl::StatusOr<absl::Time> time = ParseTimeFlag(flag, *text, env_.time_zone, end_of_day);
    if (!time.ok()) return time.status();
    *timestamp = ToTimestamp(*time);
    return absl::OkStatus();
  };
  if (args.since) {
    if (absl::Status s = set_time("--since", args.since, false, request.mutable_created_after());
        !s.ok()) {
      return UsageError(s);
    }
  }
  if (args.until) {
    if (absl::Status s = set_time("--until", args.until, true, request.mutable_created_before());
        !s.ok()) {
      return UsageError(s);
    }
  }
  int64_t limit = kDefaultListLimit;
  if (args.limit) {
    absl::StatusOr<int32_t> parsed = ParseCount("--limit", *args.limit, 1);
    if (!parsed.ok()) return UsageError(parsed.status());
    limit = *parsed;
  }
  if (args.all && args.limit) {
    return UsageError(absl::InvalidArgumentError("--all and --limit cannot be used together"));
  }
  if (args.all) limit = INT64_MAX;
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());

  // Follows page tokens until `limit` jobs are in hand or the server has no more.
  v1::ListJobsResponse all;
  bool more = false;
  for (;;) {
    const int64_t wanted = limit - all.jobs_size();
    request.set_page_size(static_cast<int32_t>(std::min<int64_t>(wanted, kMaxPageSize)));
    absl::StatusOr<v1::ListJobsResponse> page = (*connection)->ListJobs(request);
    if (!page.ok()) return Error(page.status());
    for (v1::Job& job : *page->mutable_jobs()) {
      if (all.jobs_size() == limit) {
        more = true;
        break;
      }
      *all.add_jobs() = std::move(job);
    }
    if (page->next_page_token().empty()) break;
    if (all.jobs_size() >= limit) {
      more = true;
      all.set_next_page_token(page->next_page_token());
      break;
    }
    request.set_page_token(page->next_page_token());
  }

  if (sort != JobSortKey::kNewest) {
    std::vector<v1::Job> sorted(all.jobs().begin(), all.jobs().end());
    SortJobs(sorted, sort);
    all.clear_jobs();
    for (v1::Job& job : sorted) *all.add_jobs() = std::move(job);
  }
  if (args.json) {
    out_ << ToJson(all) << std::flush;
    return kExitOk;
  }
  if (all.jobs_size() == 0) {
    out_ << "no jobs found" << std::endl;
    return kExitOk;
  }
  out_ << FormatJobList({all.jobs().begin(), all.jobs().end()}, env_.time_zone) << std::flush;
  if (more) {
    err_ << "(the newest " << all.jobs_size() << " jobs are shown; --limit N or --all shows more)"
         << std::endl;
  }
  return kExitOk;
}

int Runner::Show(const ShowArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  absl::StatusOr<v1::Job> job = (*connection)->GetJob(*job_id);
  if (!job.ok()) return Error(job.status());
  out_ << (args.json ? ToJson(*job) : FormatJobDetails(*job, env_.time_zone)) << std::flush;
  return kExitOk;
}

// The run `text` names within `job`: its index ("2"), its init when only one run has it
// ("kaiming"), or its label ("kaiming · seed 7"). InvalidArgument, listing the runs, otherwise.
absl::StatusOr<int64_t> RunOfJob(const v1::Job& job, absl::string_view text) {
  std::vector<int64_t> matches;
  int index = -1;
  const bool numeric = absl::SimpleAtoi(text, &index);
  for (const v1::Run& run : job.runs()) {
    if (numeric ? run.index() == index : run.label() == text) matches.push_back(run.id());
  }
  if (matches.empty() && !numeric) {
    for (const v1::Run& run : job.runs()) {
      if (run.spec().init() == text) matches.push_back(run.id());
    }
  }
  if (matches.size() == 1) return matches[0];
  std::vector<std::string> runs;
  for (const v1::Run& run : job.runs()) runs.push_back(absl::StrCat(run.index(), " (", run.label(), ")"));
  return absl::InvalidArgumentError(absl::StrCat(
      "RUN: job ", job.id(), matches.empty() ? " has no run '" : " has several runs '", text,
      "'; name one by its index or label: ", absl::StrJoin(runs, ", ")));
}

int Runner::Trajectory(const TrajectoryArgs& args) {
  v1::GetTrajectoryRequest request;
  if (args.max_points) {
    absl::StatusOr<int32_t> max_points = ParseCount("--max-points", *args.max_points, 0);
    if (!max_points.ok()) return UsageError(max_points.status());
    request.set_max_points(*max_points);
  }
  if (args.csv && args.json) {
    return UsageError(absl::InvalidArgumentError("--csv and --json cannot be used together"));
  }
  // RUN: a run id, or JOB/RUN with the run's index, init or label within job JOB.
  const size_t slash = args.run.find('/');
  std::optional<int64_t> job_id;
  if (slash == std::string::npos) {
    absl::StatusOr<int64_t> run_id = ParseId("RUN", args.run);
    if (!run_id.ok()) return UsageError(run_id.status());
    request.set_run_id(*run_id);
  } else {
    absl::StatusOr<int64_t> job = ParseId("JOB", args.run.substr(0, slash));
    if (!job.ok()) return UsageError(job.status());
    job_id = *job;
  }
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  if (job_id) {
    absl::StatusOr<v1::Job> job = (*connection)->GetJob(*job_id);
    if (!job.ok()) return Error(job.status());
    absl::StatusOr<int64_t> run_id = RunOfJob(*job, args.run.substr(slash + 1));
    if (!run_id.ok()) return UsageError(run_id.status());
    request.set_run_id(*run_id);
  }
  absl::StatusOr<v1::GetTrajectoryResponse> trajectory = (*connection)->GetTrajectory(request);
  if (!trajectory.ok()) return Error(trajectory.status());
  if (args.json) {
    out_ << ToJson(*trajectory) << std::flush;
  } else if (args.csv) {
    out_ << TrajectoryCsv(*trajectory) << std::flush;
  } else {
    // With --max-points the server already chose the points: show them all.
    out_ << FormatTrajectoryReport(*trajectory, args.max_points ? 0 : kTrajectoryRows)
         << std::flush;
  }
  return kExitOk;
}

int Runner::Cancel(const CancelArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  // The server is asked even about a job that has already ended: it decides who may cancel
  // (a classmate's finished job is refused as a running one is). The state before says
  // whether this call did it: cancelling a cancelled job again is not "cancelled".
  absl::StatusOr<v1::Job> before = (*connection)->GetJob(*job_id);
  if (!before.ok()) return Error(before.status());
  absl::StatusOr<v1::Job> job = (*connection)->CancelJob(*job_id);
  if (!job.ok()) return Error(job.status());
  if (before->state() == v1::JOB_STATE_CANCELLED) {
    out_ << "job " << job->id() << " was already cancelled; nothing to cancel" << std::endl;
    return kExitOk;
  }
  switch (job->state()) {
    case v1::JOB_STATE_CANCELLED:
      out_ << "job " << job->id() << " cancelled" << std::endl;
      break;
    case v1::JOB_STATE_SUCCEEDED:
    case v1::JOB_STATE_FAILED:
      out_ << "job " << job->id() << " had already " << JobStateName(job->state())
           << "; nothing to cancel" << std::endl;
      break;
    default:
      // The server stops the runs within a step but answers after a bounded wait: a job still
      // queued or running then is on its way to cancelled, and cancelling again changes nothing.
      out_ << "job " << job->id() << " is stopping (still " << JobStateName(job->state())
           << "); `ablate show " << job->id() << "` will say cancelled once its runs stop"
           << std::endl;
      break;
  }
  return kExitOk;
}

int Runner::Delete(const DeleteArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  if (absl::Status s = (*connection)->DeleteJob(*job_id); !s.ok()) return Error(s);
  out_ << "job " << *job_id << " deleted" << std::endl;
  return kExitOk;
}

int Runner::Note(const NoteArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  absl::StatusOr<v1::Job> job;
  if (args.text) {
    v1::UpdateJobNotesRequest request;
    request.set_job_id(*job_id);
    request.set_note(*args.text);
    job = (*connection)->UpdateJobNotes(request);
  } else {
    job = (*connection)->GetJob(*job_id);
  }
  if (!job.ok()) return Error(job.status());
  if (job->note().empty()) {
    out_ << "job " << job->id() << " has no note" << std::endl;
  } else {
    out_ << job->note() << (absl::EndsWith(job->note(), "\n") ? "" : "\n") << std::flush;
  }
  return kExitOk;
}

int Runner::Tag(const TagArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  v1::UpdateJobNotesRequest request;
  request.set_job_id(*job_id);
  for (const std::string& tag : args.tags) {
    *(args.verb == "add" ? request.add_add_tags() : request.add_remove_tags()) = tag;
  }
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  absl::StatusOr<v1::Job> job = (*connection)->UpdateJobNotes(request);
  if (!job.ok()) return Error(job.status());
  out_ << "job " << job->id() << " tags: "
       << (job->tags_size() == 0 ? "(none)" : absl::StrJoin(job->tags(), " ")) << std::endl;
  return kExitOk;
}

int Runner::WhoAmI() {
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  absl::StatusOr<v1::WhoAmIResponse> who = (*connection)->WhoAmI();
  if (!who.ok()) return Error(who.status());
  if (!who->auth_enabled()) {
    out_ << "the server at " << globals_.server
         << " needs no token: it has no users, and anyone who reaches it can do anything"
         << std::endl;
  } else {
    out_ << who->name() << " (" << who->role() << " of class " << who->class_name() << ")"
         << std::endl;
  }
  return kExitOk;
}

int Runner::Health(const std::string& service) {
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  std::unique_ptr<grpc::ClientContext> context = (*connection)->UnaryContext();
  absl::StatusOr<ServingStatus> health =
      CheckHealth((*connection)->channel(), service, *context);
  if (!health.ok()) {
    return Error((*connection)->Describe(
        grpc::Status(static_cast<grpc::StatusCode>(health.status().code()),
                     std::string(health.status().message()))));
  }
  out_ << ServingStatusName(*health) << std::endl;
  return *health == ServingStatus::kServing ? kExitOk : kExitError;
}

int Runner::Download(const DownloadArgs& args) {
  absl::StatusOr<int64_t> job_id = ParseId("JOB", args.job);
  if (!job_id.ok()) return UsageError(job_id.status());
  const std::filesystem::path dir = args.out.value_or(absl::StrCat("ablate-job-", *job_id));
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  // Asking for the job first gives a clear answer for an unknown id (otherwise every file
  // would be "not found") and for a job still running, and makes no directory for either.
  if (absl::Status ended = CheckJobEnded(**connection, *job_id); !ended.ok()) return Error(ended);
  absl::StatusOr<std::unique_ptr<DownloadDir>> out_dir = DownloadDir::Open(dir);
  if (!out_dir.ok()) return Error(out_dir.status());
  absl::StatusOr<std::vector<std::filesystem::path>> written =
      DownloadDeliverables(**connection, *job_id, **out_dir, out_);
  if (!written.ok()) return Error(written.status());
  return kExitOk;
}

Runner::LabJob Runner::RunLabJob(Connection& connection, const v1::JobSpec& spec,
                                 const std::string& owner, const DownloadDir& dir,
                                 absl::Duration reconnect, bool json) {
  LabJob result;
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  request.set_owner(owner);
  absl::StatusOr<v1::Job> job = connection.SubmitJob(request);
  if (!job.ok()) {
    result.exit_code = Error(job.status());
    return result;
  }
  // With --json, stdout carries only the finished job as JSON; the story goes to stderr.
  std::ostream& story = json ? err_ : out_;
  story << "submitted lab 1 as job " << job->id() << ": " << FormatSpecSummary(job->spec())
        << std::endl;

  absl::StatusOr<v1::Job> final_job =
      Follow(connection, job->id(), reconnect, /*print_summary=*/false, /*quiet=*/json);
  if (!final_job.ok()) {
    // The job goes on without this client: say how to get what lab would have downloaded.
    result.exit_code = Error(absl::Status(
        final_job.status().code(),
        absl::StrCat(final_job.status().message(), ", then get its files with: ablate download ",
                     job->id(), " --out ", dir.path().string())));
    return result;
  }
  result.finished = *final_job;
  story << "\n" << FormatJobSummary(*final_job) << std::flush;
  if (final_job->state() != v1::JOB_STATE_SUCCEEDED) {
    result.exit_code = JobExitCode(*final_job);
    return result;
  }

  story << "\n";
  absl::StatusOr<std::vector<std::filesystem::path>> written =
      DownloadDeliverables(connection, job->id(), dir, story);
  // A server lost while the files come is waited for as the watch waits: a failed download
  // leaves the folder as it was, so the next attempt starts clean.
  const WatchOptions waits;
  Backoff backoff(waits.initial_backoff, waits.max_backoff);
  const absl::Time away_since = absl::Now();
  if (!written.ok() && IsConnectionLoss(written.status().code())) {
    story << "lost the connection to " << connection.site().server
          << " while downloading; retrying for up to " << absl::ToDoubleSeconds(reconnect) << " s"
          << std::endl;
  }
  while (!written.ok() && IsConnectionLoss(written.status().code()) &&
         absl::Now() - away_since < reconnect) {
    absl::SleepFor(std::min(backoff.Next(), reconnect - (absl::Now() - away_since)));
    written = DownloadDeliverables(connection, job->id(), dir, story);
  }
  if (!written.ok()) {
    result.exit_code = Error(absl::Status(
        written.status().code(),
        absl::StrCat(written.status().message(), "; job ", job->id(),
                     " itself succeeded: retry with: ablate download ", job->id(), " --out ",
                     dir.path().string())));
    return result;
  }
  std::vector<std::string> names;
  for (const std::filesystem::path& path : *written) names.push_back(path.filename().string());
  story << "lab 1 deliverables are in " << dir.path().string() << ": " << absl::StrJoin(names, ", ")
        << std::endl;
  result.job = *std::move(final_job);
  return result;
}

void Runner::PrintLabFindings(const std::filesystem::path& dir, std::ostream& story) {
  // A server that wrote no manifest has no findings to report; the download listed the files.
  if (!std::filesystem::exists(dir / "manifest.json")) return;
  absl::StatusOr<LabFindings> findings = ReadLabFindings(dir / "manifest.json");
  if (!findings.ok()) {
    err_ << "ablate: cannot summarise the findings: " << OneLine(findings.status().message())
         << std::endl;
    return;
  }
  story << FormatLabFindings(*findings) << std::flush;
}

int Runner::Lab(const LabArgs& args) {
  absl::StatusOr<absl::Duration> reconnect =
      ParseSeconds("--reconnect-timeout", args.reconnect_timeout);
  if (!reconnect.ok()) return UsageError(reconnect.status());
  // An empty spec: the server fills in lab 1, so the lab is defined in one place. --seeds asks
  // the server to train each of its runs under that many weight seeds.
  v1::JobSpec spec;
  SpecFlags flags;
  flags.seeds = args.seeds;
  flags.vary_data_seed = args.vary_data_seed;
  if (absl::Status s = ApplySpecFlags(flags, &spec); !s.ok()) return UsageError(s);
  std::optional<int32_t> verify_depth;
  if (args.verify_depth) {
    int32_t depth = 0;
    if (!absl::SimpleAtoi(*args.verify_depth, &depth)) {
      return UsageError(absl::InvalidArgumentError(
          absl::StrCat("--verify-depth: expected a number of layers, got '", *args.verify_depth,
                       "'")));
    }
    if (depth < 1) {
      return UsageError(absl::InvalidArgumentError(
          absl::StrCat("--verify-depth: expected at least 1 layer, got ", depth)));
    }
    verify_depth = depth;
  }
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  std::ostream& story = args.json ? err_ : out_;
  // The output folder is made and held before anything trains: a --out that cannot take the
  // files, or that another ablate is writing into, fails now and not after the training.
  const std::filesystem::path dir = args.out;
  absl::StatusOr<std::unique_ptr<DownloadDir>> out_dir = DownloadDir::Open(dir);
  if (!out_dir.ok()) return Error(out_dir.status());

  // With --json stdout holds one document, {"jobs": [...]}: the lab's job, then with
  // --verify-depth the deeper one; printed at the end, also when a job failed, with the jobs
  // that ended.
  v1::ListJobsResponse ended;
  auto finish = [&](int code) {
    if (args.json) out_ << ToJson(ended) << std::flush;
    return code;
  };
  // Question 4's job is the same at another depth. The server checks it now, so that a depth
  // or a limit it refuses fails before the first job trains rather than after; a server too
  // old to check (UNIMPLEMENTED) is asked at the real submit.
  v1::JobSpec deeper = spec;
  if (verify_depth) {
    deeper.mutable_model()->set_depth(*verify_depth);
    v1::SubmitJobRequest check;
    *check.mutable_spec() = deeper;
    check.set_owner(args.owner);
    absl::StatusOr<v1::Job> checked = (*connection)->CheckJob(check);
    if (!checked.ok() && checked.status().code() != absl::StatusCode::kUnimplemented) {
      return Error(absl::Status(
          checked.status().code(), absl::StrCat("--verify-depth ", *verify_depth, ": ",
                                                checked.status().message(),
                                                " (nothing was submitted)")));
    }
  }
  LabJob first = RunLabJob(**connection, spec, args.owner, **out_dir, *reconnect, args.json);
  if (first.finished) *ended.add_jobs() = *first.finished;
  if (!first.job) return finish(first.exit_code);
  PrintLabFindings(dir, story);
  if (!verify_depth) return finish(kExitOk);

  // Question 4 checked: the same job at the deeper depth, its files in a folder of their own.
  const std::filesystem::path deeper_dir = dir / absl::StrCat("depth-", *verify_depth);
  story << "\nquestion 4: the same job at depth " << *verify_depth << "\n";
  absl::StatusOr<std::unique_ptr<DownloadDir>> deeper_out = DownloadDir::Open(deeper_dir);
  if (!deeper_out.ok()) return finish(Error(deeper_out.status()));
  LabJob second =
      RunLabJob(**connection, deeper, args.owner, **deeper_out, *reconnect, args.json);
  if (second.finished) *ended.add_jobs() = *second.finished;
  if (!second.job) return finish(second.exit_code);
  PrintLabFindings(deeper_dir, story);
  return finish(kExitOk);
}

int Runner::Class(const ClassArgs& args) {
  v1::GetClassViewRequest request;
  if (args.name) request.set_name_contains(*args.name);
  if (args.grid_points) {
    absl::StatusOr<int32_t> points = ParseCount("--grid-points", *args.grid_points, 0);
    if (!points.ok()) return UsageError(points.status());
    request.set_grid_points(*points);
  }
  request.set_figure(args.report.has_value());
  absl::StatusOr<Connection*> connection = Connect();
  if (!connection.ok()) return UsageError(connection.status());
  absl::StatusOr<v1::ClassView> view = (*connection)->GetClassView(request);
  if (!view.ok()) return Error(view.status());
  if (args.report) {
    absl::StatusOr<std::vector<std::filesystem::path>> written =
        WriteClassReport(*view, *args.report);
    if (!written.ok()) return Error(written.status());
    for (const std::filesystem::path& path : *written) err_ << path.string() << std::endl;
    view->clear_figure_png();
  }
  out_ << (args.json ? ToJson(*view) : FormatClassView(*view)) << std::flush;
  return kExitOk;
}

// --- The command line ---------------------------------------------------------------------------

// Adds an option whose value is kept as text, and only when given.
CLI::Option* AddText(CLI::App* app, const std::string& name, std::optional<std::string>* value,
                     const std::string& description, const std::string& type_name) {
  return app
      ->add_option_function<std::string>(
          name, [value](const std::string& text) { *value = text; }, description)
      ->type_name(type_name);
}

CLI::Option* AddReconnectTimeout(CLI::App* app, std::string* value) {
  return app
      ->add_option("--reconnect-timeout", *value,
                   absl::StrCat("If the connection drops (e.g. the server restarts), keep "
                                "trying to reconnect for this long (default ",
                                kDefaultReconnectTimeout, ")"))
      ->type_name("SECONDS");
}

// Help that fits a terminal: option descriptions are wrapped to kHelpWidth columns, and each
// subcommand is listed by the first line of its description (its own --help shows it all).
class Formatter : public CLI::Formatter {
 public:
  static constexpr size_t kHelpWidth = 92;

  std::string make_option_desc(const CLI::Option* option) const override {
    const size_t width = kHelpWidth > column_width_ + 20 ? kHelpWidth - column_width_ : 20;
    std::string wrapped;
    size_t line = 0;
    for (absl::string_view word :
         absl::StrSplit(option->get_description(), ' ', absl::SkipEmpty())) {
      if (line > 0 && line + 1 + word.size() > width) {
        wrapped += '\n';
        line = 0;
      } else if (line > 0) {
        wrapped += ' ';
        ++line;
      }
      absl::StrAppend(&wrapped, word);
      line += word.size();
    }
    return wrapped;
  }

  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string& description = sub->get_description();
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true),
                             description.substr(0, description.find('\n')), column_width_);
    return out.str();
  }
};

int HandleParseError(CLI::App& app, const CLI::ParseError& error, const CliEnvironment& env) {
  // --help and --version arrive as "errors" with exit code 0.
  if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
    return app.exit(error, *env.out, *env.err);
  }
  std::string command = "ablate";
  for (const CLI::App* sub : app.get_subcommands()) absl::StrAppend(&command, " ", sub->get_name());
  std::string message = OneLine(error.what());
  if (app.get_subcommands().empty() && !app.remaining().empty()) {
    // CLI11 reports an unknown subcommand as a missing one.
    message = absl::StrCat("'", app.remaining().front(), "' is not an ablate subcommand");
  } else if (message.size() > 1 && absl::ascii_isupper(message[0]) &&
             absl::ascii_islower(message[1])) {
    // CLI11 starts its sentences with a capital; ours follow "ablate: " in lower case.
    message[0] = absl::ascii_tolower(message[0]);
  }
  *env.err << "ablate: " << message << " (see: " << command << " --help)" << std::endl;
  return kExitUsage;
}

// The options every subcommand takes (they may come before or after it).
void AddGlobalFlags(CLI::App& app, GlobalArgs& globals) {
  app.add_option("--server", globals.server,
                 "The Ablate server's gRPC address (default 127.0.0.1:50051)")
      ->type_name("HOST:PORT")
      ->envname("ABLATE_SERVER");
  app.add_option("--timeout", globals.timeout,
                 "How long to wait for the server's answer to each request, and for each "
                 "piece of a file being downloaded (default 10)")
      ->type_name("SECONDS");
  app.add_flag("--tls", globals.tls,
               "Talk to the server over TLS (it was started with --tls-cert), trusting the "
               "system's certificate authorities unless --tls-ca is given");
  app.add_option("--tls-ca", globals.tls_ca,
                 "Talk to the server over TLS, trusting the PEM certificate(s) in FILE, e.g. "
                 "the server's self-signed one (implies --tls)")
      ->type_name("FILE")
      ->envname("ABLATE_TLS_CA");
  app.add_option("--token", globals.token,
                 "Your token, sent with every request to a server that has users (setting "
                 "ABLATE_TOKEN keeps it out of your shell history and the process list)")
      ->type_name("TOKEN")
      ->envname("ABLATE_TOKEN");
}

// `ablate lab`: adds the subcommand and its flags, which fill `lab_args`.
CLI::App* AddLabCommand(CLI::App& app, LabArgs& lab_args, const std::string& owner_help) {
  lab_args.owner = DefaultOwner();
  CLI::App* lab = app.add_subcommand(
      "lab",
      "Run lab 1 end to end: submit it, watch it, download its deliverables\n"
      "\n"
      "Submits the init-ablation job with the lab's defaults (a 12-layer ReLU MLP of width 256,\n"
      "1000 steps of SGD with momentum, runs uniform, xavier and kaiming), watches it to the\n"
      "end, downloads its deliverables (job.json, losses.json, the loss plots, manifest.json,\n"
      "README.md) and sums up each run's outcome.\n");
  lab->add_option("--out", lab_args.out,
                  "Directory for the deliverables, created if needed (default "
                  "experiments/10-init-matters)")
      ->type_name("DIR");
  lab->add_option("--owner", lab_args.owner, owner_help)->type_name("NAME");
  AddText(lab, "--seeds", &lab_args.seeds,
          "Train each init under N weight seeds (1-5: a job holds at most 16 runs) and report "
          "the spread: median and range of the final losses and the validation",
          "N");
  lab->add_flag("--vary-data-seed", lab_args.vary_data_seed,
                "With --seeds N: seed k of every init also draws its own data (data seed 1 + k), "
                "so the spread covers data draws too; each run's data seed is recorded");
  AddText(lab, "--verify-depth", &lab_args.verify_depth,
          "Then run the same job at this depth (question 4, e.g. 24), its files in "
          "OUT/depth-N, and report whether each init's prediction held",
          "N");
  lab->add_flag("--json", lab_args.json,
                "Print one JSON document on stdout, {\"jobs\": [...]} as `list --json`: the "
                "finished job, then with --verify-depth the deeper one; the progress, the files "
                "written and the findings go to stderr");
  AddReconnectTimeout(lab, &lab_args.reconnect_timeout);
  lab->footer("Exit codes: 0 done, 1 failed, 3 the job failed or was cancelled.");
  return lab;
}

// `ablate submit`: adds the subcommand and its flags, which fill `submit_args`.
CLI::App* AddSubmitCommand(CLI::App& app, SubmitArgs& submit_args,
                           const std::string& owner_help) {
  submit_args.owner = DefaultOwner();
  CLI::App* submit = app.add_subcommand(
      "submit",
      "Submit a job and print its id\n"
      "\n"
      "Prints only the id, so scripts can capture it. Spec flags not given take lab 1's values\n"
      "on the server, which checks every value and names the field and its allowed range when\n"
      "one is wrong.\n");
  SpecFlags& spec = submit_args.spec;
  AddText(submit, "--spec", &submit_args.spec_file,
          "Start from this JSON job spec (protobuf JSON; a job printed by `show --json` works "
          "too); flags override its fields",
          "FILE");
  AddText(submit, "--name", &spec.name,
          "A label for the job (default: what it changes from lab 1, e.g. "
          "\"depth 24 · lr 0.0001\", or lab-01-init-ablation)",
          "TEXT")
      ->group("Job spec");
  AddText(submit, "--depth", &spec.depth, "Linear layers (default 12)", "N")->group("Job spec");
  AddText(submit, "--width", &spec.width, "Hidden width (default 256)", "N")->group("Job spec");
  AddText(submit, "--input-dim", &spec.input_dim, "Input dimension (default 256)", "N")
      ->group("Job spec");
  AddText(submit, "--steps", &spec.steps, "Training steps (default 1000)", "N")->group("Job spec");
  AddText(submit, "--lr", &spec.lr, "Learning rate (default 0.001)", "X")->group("Job spec");
  AddText(submit, "--momentum", &spec.momentum, "SGD momentum (default 0.9)", "X")
      ->group("Job spec");
  AddText(submit, "--batch", &spec.batch, "Batch size (default 64)", "N")->group("Job spec");
  AddText(submit, "--eval-every", &spec.eval_every,
          "Validate every N steps and after the last (default 50)", "N")
      ->group("Job spec");
  AddText(submit, "--train-size", &spec.train_size, "Training examples (default 1000)", "N")
      ->group("Job spec");
  AddText(submit, "--val-size", &spec.val_size, "Validation examples (default 200)", "N")
      ->group("Job spec");
  AddText(submit, "--label-dims", &spec.label_dims,
          "Inputs whose sum decides the label (default 10)", "N")
      ->group("Job spec");
  AddText(submit, "--data-seed", &spec.data_seed,
          "Seed of the data and its shuffling, shared by all runs (default 1)", "N")
      ->group("Job spec");
  AddText(submit, "--seeds", &spec.seeds,
          "Train each run under N consecutive weight seeds (default 1; runs × N at most 16)",
          "N")
      ->group("Job spec");
  submit
      ->add_flag("--vary-data-seed", spec.vary_data_seed,
                 "With --seeds N: copy k of every run also gets data seed (--data-seed) + k, "
                 "recorded per run")
      ->group("Job spec");
  submit
      ->add_flag("--continue-after-nonfinite", spec.continue_after_nonfinite,
                 "Keep training a run after a NaN or infinite loss (default: stop it there)")
      ->group("Job spec");
  submit
      ->add_option("--init", spec.inits,
                   "One run per --init, replacing the default runs: NAME or "
                   "NAME:key=value,... with keys seed, low, high, e.g. kaiming:seed=7 or "
                   "uniform:low=-1,high=1. Names: uniform, xavier, kaiming, xavier_uniform, "
                   "kaiming_uniform, orthogonal")
      ->type_name("INIT")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->group("Job spec");
  submit->add_option("--owner", submit_args.owner, owner_help)->type_name("NAME");
  submit->add_flag("--watch", submit_args.watch,
                   "After printing the id, watch the job to its end (as `ablate watch`)");
  submit->add_flag("--json", submit_args.json,
                   "Print the submitted job as JSON, not its id; with --watch, the job as it "
                   "ended (its id goes to stderr)");
  AddReconnectTimeout(submit, &submit_args.reconnect_timeout);
  submit->footer(
      "Examples:\n"
      "  ablate submit                                  # lab 1 as it is\n"
      "  ablate submit --depth 24 --name deeper         # lab 1 at twice the depth\n"
      "  ablate submit --init kaiming --init uniform:low=-0.05,high=0.05,seed=3\n"
      "  ablate submit --spec job.json --steps 200      # a saved spec, 200 steps\n"
      "  id=$(ablate submit --lr 1e-4) && ablate watch \"$id\"\n"
      "\n"
      "Exit codes: 0 submitted (with --watch: and succeeded), 1 failed, 2 bad flags, spec file\n"
      "or a value the server refused, 3 (with --watch) the job failed or was cancelled.");
  return submit;
}

// `ablate watch`: adds the subcommand and its flags, which fill `watch_args`.
CLI::App* AddWatchCommand(CLI::App& app, WatchArgs& watch_args) {
  CLI::App* watch = app.add_subcommand(
      "watch",
      "Show a job's runs live until the job ends\n"
      "\n"
      "One line per run: its init, step, loss, steps/s, latest validation and, once it ends,\n"
      "its outcome. When the job ends: each run's outcome and final loss, and the job's state.\n");
  watch->add_option("JOB", watch_args.job, "The job's id")->type_name("")->required();
  watch->add_flag("--json", watch_args.json,
                  "Show no live display; when the job ends, print it in protobuf JSON");
  AddReconnectTimeout(watch, &watch_args.reconnect_timeout);
  watch->footer(
      "On a terminal each run's line is redrawn in place; elsewhere (a pipe, a log) lines are\n"
      "appended, at most one per run per second. If the connection drops, e.g. because the\n"
      "server restarts, watch reconnects and continues exactly where it stopped.\n"
      "\n"
      "Exit codes: 0 the job succeeded, 1 watching failed, 3 the job failed or was cancelled.");
  return watch;
}

// `ablate list`: adds the subcommand and its flags, which fill `list_args`.
CLI::App* AddListCommand(CLI::App& app, ListArgs& list_args) {
  CLI::App* list = app.add_subcommand(
      "list",
      "List jobs, newest first\n"
      "\n"
      "One line per job: id, creation time, owner, name, state, and each run's outcome.\n");
  list->alias("jobs");
  AddText(list, "--owner", &list_args.owner, "Only this owner's jobs", "NAME");
  list->add_option("--state", list_args.states,
                   "Only jobs in these states: queued, running, succeeded, failed, cancelled "
                   "(repeat or separate with commas)")
      ->type_name("STATE")
      ->delimiter(',')
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  AddText(list, "--init", &list_args.init, "Only jobs with a run of this init", "NAME");
  AddText(list, "--name", &list_args.name, "Only jobs whose name contains this text", "TEXT");
  AddText(list, "--tag", &list_args.tag, "Only jobs carrying this tag (`ablate tag`)", "TAG");
  AddText(list, "--sort", &list_args.sort,
          "Order the jobs shown by: newest (default), final (the best run's final training "
          "loss, lowest first) or val (the best run's last validation loss); jobs without one "
          "go last; sorts the jobs fetched (--limit N, --all)",
          "KEY");
  AddText(list, "--since", &list_args.since,
          "Only jobs created at or after this ISO-8601 time (local time unless it has Z or an "
          "offset)",
          "TIME");
  AddText(list, "--until", &list_args.until,
          "Only jobs created before this time; a bare date includes that whole day", "TIME");
  AddText(list, "--limit", &list_args.limit, "Show at most N jobs (default 50)", "N");
  list->add_flag("--all", list_args.all, "Show every matching job (not with --limit)");
  list->add_flag("--json", list_args.json,
                 "Print {\"jobs\": [...]} in protobuf JSON instead of a table");
  list->footer(
      "RUNS shows init:outcome per run: completed, flatlined@STEP, diverged@STEP,\n"
      "cancelled@STEP, running@STEP, queued or failed.\n"
      "\n"
      "Examples:\n"
      "  ablate list --owner alice --state failed,cancelled\n"
      "  ablate list --since 2024-05-01 --until 2024-05-07 --all --json");
  return list;
}

// `ablate show`: adds the subcommand and its flags, which fill `show_args`.
CLI::App* AddShowCommand(CLI::App& app, ShowArgs& show_args) {
  CLI::App* show = app.add_subcommand(
      "show",
      "Show a job, its spec and its runs' results\n"
      "\n"
      "The job's state, times and spec, and for each run its state, outcome, final loss, final\n"
      "validation loss and accuracy, steps/s, first non-finite step and flatline step.\n"
      "Steps/s is of the steps' own time while a run trains, and of its wall time\n"
      "(evaluations included) once it has ended.\n");
  show->add_option("JOB", show_args.job, "The job's id")->type_name("")->required();
  show->add_flag("--json", show_args.json, "Print the job in protobuf JSON");
  show->footer("Exit codes: 0 shown, 1 failed (e.g. no such job), 2 bad command line.");
  return show;
}

// `ablate trajectory`: adds the subcommand and its flags, which fill `trajectory_args`.
CLI::App* AddTrajectoryCommand(CLI::App& app, TrajectoryArgs& trajectory_args) {
  CLI::App* trajectory = app.add_subcommand(
      "trajectory",
      "Print a run's per-step losses\n"
      "\n"
      "By default a summary, a table of evenly spaced steps and the validation results; with\n"
      "--csv every step (or the points --max-points chose) as CSV.\n");
  trajectory
      ->add_option("RUN", trajectory_args.run,
                   "The run: its id (see `ablate show JOB`), or JOB/RUN with the run's index, "
                   "init or label in job JOB, e.g. 12/kaiming or 12/0")
      ->type_name("")
      ->required();
  trajectory->add_flag("--csv", trajectory_args.csv,
                       "Print `step,loss,val_loss,val_accuracy` lines, the validation in the row "
                       "of its step; NaN and infinities as nan, inf, -inf");
  trajectory->add_flag("--json", trajectory_args.json,
                       "Print the trajectory (steps, losses, evaluations) in protobuf JSON");
  AddText(trajectory, "--max-points", &trajectory_args.max_points,
          "Ask the server for about N points (it keeps each bucket's first, lowest and "
          "highest loss, and the first non-finite step); 0 means every step",
          "N");
  trajectory->footer(
      "Example:\n"
      "  ablate trajectory 42 --csv > uniform.csv\n"
      "  ablate trajectory 12/kaiming --json\n"
      "\n"
      "Exit codes: 0 printed, 1 failed (e.g. no such run), 2 bad command line.");
  return trajectory;
}

// `ablate cancel`: adds the subcommand and its flags, which fill `cancel_args`.
CLI::App* AddCancelCommand(CLI::App& app, CancelArgs& cancel_args) {
  CLI::App* cancel = app.add_subcommand(
      "cancel",
      "Cancel a job\n"
      "\n"
      "Its runs stop within one step each. A job that already ended is left as it is.\n");
  cancel->add_option("JOB", cancel_args.job, "The job's id")->type_name("")->required();
  cancel->footer(
      "Prints \"job N cancelled\", \"job N had already STATE; nothing to cancel\", \"job N was\n"
      "already cancelled; nothing to cancel\", or, when\n"
      "its runs have not stopped yet, \"job N is stopping (still STATE); ...\".\n"
      "Exit codes: 0 done (also when the job had already ended), 1 failed, 2 bad command line.");
  return cancel;
}

// `ablate delete`: adds the subcommand and its flags, which fill `delete_args`.
CLI::App* AddDeleteCommand(CLI::App& app, DeleteArgs& delete_args) {
  CLI::App* del = app.add_subcommand(
      "delete",
      "Delete a job that has ended, with its runs, losses and files\n"
      "\n"
      "A queued or running job must be cancelled first. On a server with users, students\n"
      "delete their own jobs and the instructor any job of the class.\n");
  del->add_option("JOB", delete_args.job, "The job's id")->type_name("")->required();
  del->footer("Exit codes: 0 deleted, 1 failed, 2 bad command line.");
  return del;
}

// `ablate note`: adds the subcommand and its flags, which fill `note_args`.
CLI::App* AddNoteCommand(CLI::App& app, NoteArgs& note_args) {
  CLI::App* note = app.add_subcommand(
      "note",
      "Show or replace a job's note\n"
      "\n"
      "A note is text about a job written after it was submitted (at most 2000 characters;\n"
      "newlines and tabs allowed). Its owner and the instructor may write it; anyone of the\n"
      "class may read it.\n");
  note->add_option("JOB", note_args.job, "The job's id")->type_name("")->required();
  AddText(note, "TEXT", &note_args.text, "The new note (\"\" removes it); none prints the note",
          "");
  note->footer(
      "Examples:\n"
      "  ablate note 12 \"lr 1e-2 was too high: uniform diverged at step 40\"\n"
      "  ablate note 12\n"
      "\n"
      "Exit codes: 0 done, 1 failed, 2 bad command line or a note the server refused.");
  return note;
}

// `ablate tag`: adds the subcommand and its flags, which fill `tag_args`.
CLI::App* AddTagCommand(CLI::App& app, TagArgs& tag_args) {
  CLI::App* tag = app.add_subcommand(
      "tag",
      "Add or remove a job's tags\n"
      "\n"
      "A tag is 1-32 characters of a-z 0-9 . _ - (starting with a letter or digit); a job\n"
      "holds at most 8. `ablate list --tag T` lists the jobs carrying T.\n");
  tag->add_option("JOB", tag_args.job, "The job's id")->type_name("")->required();
  tag->add_option("VERB", tag_args.verb, "add or rm")
      ->type_name("")
      ->required()
      ->check(CLI::IsMember({"add", "rm"}));
  tag->add_option("TAG", tag_args.tags, "The tags")->type_name("")->required();
  tag->footer(
      "Prints the job's tags after the change.\n"
      "Examples:\n"
      "  ablate tag 12 add week-3 baseline\n"
      "  ablate tag 12 rm baseline\n"
      "\n"
      "Exit codes: 0 done, 1 failed, 2 bad command line or a tag the server refused.");
  return tag;
}

// `ablate whoami`.
CLI::App* AddWhoAmICommand(CLI::App& app) {
  CLI::App* whoami = app.add_subcommand(
      "whoami", "Show who the server takes you to be (your token's user, class and role)\n");
  return whoami;
}

// `ablate download`: adds the subcommand and its flags, which fill `download_args`.
CLI::App* AddDownloadCommand(CLI::App& app, DownloadArgs& download_args) {
  CLI::App* download = app.add_subcommand(
      "download",
      "Download a finished job's deliverables\n"
      "\n"
      "Fetches job.json, losses.json, loss_curves*.png, manifest.json and README.md (those the\n"
      "server has), checks each against its size and SHA-256, writes it atomically and prints\n"
      "its path.\n");
  download->add_option("JOB", download_args.job, "The job's id")->type_name("")->required();
  AddText(download, "--out", &download_args.out,
          "Directory for the files, created if needed (default ablate-job-JOB)", "DIR");
  download->footer(
      "Files the server does not produce are skipped; job.json is required.\n"
      "Exit codes: 0 downloaded, 1 failed (job unknown or unfinished, a file missing its\n"
      "checksum, disk errors), 2 bad command line.");
  return download;
}

// `ablate class`: adds the subcommand and its flags, which fill `class_args`.
CLI::App* AddClassCommand(CLI::App& app, ClassArgs& class_args) {
  CLI::App* klass = app.add_subcommand(
      "class",
      "Show the class's lab: runs grouped by init, and one row per student\n"
      "\n"
      "Groups every ended run of the class's jobs by init (and by any setting that differs\n"
      "within the class; seeds are draws) with the median and 10–90 % range of the final\n"
      "training loss, validation loss and accuracy and the first NaN step. The instructor also\n"
      "gets each student's latest job, flagged when a run is off the class's envelope (a\n"
      "uniform run that did not diverge: wrong bounds; runs with identical curves); a student\n"
      "gets their own row.\n");
  AddText(klass, "--name", &class_args.name, "Only jobs whose name contains this text", "TEXT");
  AddText(klass, "--report", &class_args.report,
          "Also write class.png (each group's median curve), class.md and class.json into DIR "
          "(created if needed) and print their paths on stderr",
          "DIR");
  AddText(klass, "--grid-points", &class_args.grid_points,
          "Points of each group's band in --json (10–1000, default 100)", "N");
  klass->add_flag("--json", class_args.json, "Print the class view in protobuf JSON");
  klass->footer(
      "Examples:\n"
      "  ablate class --name lab-01\n"
      "  ablate class --report class-report && open class-report/class.md\n"
      "\n"
      "Exit codes: 0 shown, 1 failed, 2 bad command line or a value the server refused.");
  return klass;
}

// `ablate health`: adds the subcommand and its flags, which fill `health_service`.
CLI::App* AddHealthCommand(CLI::App& app, std::optional<std::string>& health_service) {
  CLI::App* health = app.add_subcommand(
      "health",
      "Check that the server is up and serving\n"
      "\n"
      "Calls the standard gRPC health service (grpc.health.v1.Health/Check) and prints the\n"
      "server's answer: SERVING, or NOT_SERVING while it shuts down.\n");
  AddText(health, "--service", &health_service,
          "Ask about one service, e.g. ablate.v1.Ablation (default: the server as a whole)",
          "NAME");
  health->footer(
      "For container health checks and load balancers.\n"
      "Exit codes: 0 serving, 1 not serving or unreachable, 2 bad command line.");
  return health;
}

}  // namespace

int RunCli(const std::vector<std::string>& args, const CliEnvironment& env) {
  CLI::App app(
      "ablate: the command line of Ablate, the experiment service for deep-learning labs.\n"
      "Submit init-ablation jobs to an Ablate server, watch every step's loss arrive live, and\n"
      "download the results.\n",
      "ablate");
  auto formatter = std::make_shared<Formatter>();
  formatter->column_width(30);
  app.formatter(formatter);
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.set_version_flag("--version", kVersion);
  app.footer(
      "Start with `ablate lab`: it runs lab 1 (a 12-layer ReLU MLP trained under uniform,\n"
      "Xavier and Kaiming inits) on the server, shows the three runs live, and saves the\n"
      "deliverables in experiments/10-init-matters/.\n"
      "\n"
      "Exit codes: 0 success; 1 the request failed (server unreachable or refusing, download\n"
      "failed); 2 bad command line or a value the server refused; 3 the watched job failed or\n"
      "was cancelled.\n"
      "`ablate SUBCOMMAND --help` lists a subcommand's options.");

  GlobalArgs globals;
  AddGlobalFlags(app, globals);
  const std::string user = DefaultOwner();
  const std::string owner_help =
      user.empty() ? "Who submits the job (default $USER, unset here, so the server records "
                     "\"anonymous\")"
                   : absl::StrCat("Who submits the job (default $USER, here ", user, ")");

  LabArgs lab_args;
  SubmitArgs submit_args;
  WatchArgs watch_args;
  ListArgs list_args;
  ShowArgs show_args;
  TrajectoryArgs trajectory_args;
  CancelArgs cancel_args;
  DeleteArgs delete_args;
  NoteArgs note_args;
  TagArgs tag_args;
  DownloadArgs download_args;
  ClassArgs class_args;
  std::optional<std::string> health_service;
  CLI::App* lab = AddLabCommand(app, lab_args, owner_help);
  CLI::App* submit = AddSubmitCommand(app, submit_args, owner_help);
  CLI::App* watch = AddWatchCommand(app, watch_args);
  CLI::App* list = AddListCommand(app, list_args);
  CLI::App* show = AddShowCommand(app, show_args);
  CLI::App* trajectory = AddTrajectoryCommand(app, trajectory_args);
  CLI::App* cancel = AddCancelCommand(app, cancel_args);
  CLI::App* del = AddDeleteCommand(app, delete_args);
  CLI::App* note = AddNoteCommand(app, note_args);
  CLI::App* tag = AddTagCommand(app, tag_args);
  CLI::App* whoami = AddWhoAmICommand(app);
  CLI::App* download = AddDownloadCommand(app, download_args);
  CLI::App* klass = AddClassCommand(app, class_args);
  CLI::App* health = AddHealthCommand(app, health_service);

  // CLI11 wants argv-style input.
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  if (args.size() <= 1) {
    *env.out << app.help();
    return kExitUsage;
  }
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& error) {
    return HandleParseError(app, error, env);
  }

  // Under a token the server records the token's user as the owner and refuses another name:
  // $USER, the default, is sent only when the user asked for it with --owner.
  if (!globals.token.empty()) {
    if (lab->get_option("--owner")->count() == 0) lab_args.owner.clear();
    if (submit->get_option("--owner")->count() == 0) submit_args.owner.clear();
  }
  Runner runner(env, globals);
  if (lab->parsed()) return runner.Lab(lab_args);
  if (submit->parsed()) return runner.Submit(submit_args);
  if (watch->parsed()) return runner.Watch(watch_args);
  if (list->parsed()) return runner.List(list_args);
  if (show->parsed()) return runner.Show(show_args);
  if (trajectory->parsed()) return runner.Trajectory(trajectory_args);
  if (cancel->parsed()) return runner.Cancel(cancel_args);
  if (download->parsed()) return runner.Download(download_args);
  if (del->parsed()) return runner.Delete(delete_args);
  if (note->parsed()) return runner.Note(note_args);
  if (tag->parsed()) return runner.Tag(tag_args);
  if (whoami->parsed()) return runner.WhoAmI();
  if (klass->parsed()) return runner.Class(class_args);
  if (health->parsed()) return runner.Health(health_service.value_or(""));
  *env.err << "ablate: no subcommand given (see: ablate --help)" << std::endl;
  return kExitUsage;
}

}  // namespace ablate::client
