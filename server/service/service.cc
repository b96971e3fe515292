#include "server/service/service.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/analysis.h"
#include "core/config.h"
#include "server/artifacts/init_colors.h"
#include "server/artifacts/plot.h"
#include "server/convert/core_messages.h"
#include "server/service/class_view.h"
#include "server/service/downsample.h"
#include "server/service/notes.h"
#include "server/service/wire.h"
#include "server/jobs/spec.h"

namespace ablate::service {

namespace {

constexpr int kMinMaxPoints = 10;
constexpr int kMaxMaxPoints = 100000;

// 3.1e+12 as "3.1e12": three significant digits, as in the flag's help.
std::string Scientific(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  std::string out = text;
  if (size_t e = out.find("e+"); e != std::string::npos) {
    out.erase(e + 1, 1);
    while (out.size() > e + 2 && out[e + 1] == '0') out.erase(e + 1, 1);
  }
  return out;
}

absl::StatusOr<v1::Job> Labelled(absl::StatusOr<v1::Job> job) {
  if (job.ok()) jobs::LabelRuns(*job);
  return job;
}

}  // namespace

double JobMultiplyAdds(const v1::JobSpec& resolved) {
  // In doubles: the largest spec (16 runs of 1e5 steps of a 1e5 batch through 1e8 weights)
  // is about 1e25.
  double per_example = 0;
  const core::ModelConfig model = convert::ToModelConfig(resolved.model());
  for (const core::LayerShape& layer : core::LayerShapes(model)) {
    per_example += 1.0 * layer.fan_in * layer.fan_out;
  }
  const v1::TrainingSpec& t = resolved.training();
  const double evaluations = 1.0 * (t.steps() / t.eval_every()) + 1;
  return 1.0 * resolved.runs_size() *
         (1.0 * t.steps() * t.batch() + evaluations * resolved.data().val_size()) * per_example;
}

double JobDataBytes(const v1::JobSpec& resolved) {
  return 1.0 * resolved.runs_size() *
         (1.0 * resolved.data().train_size() + resolved.data().val_size()) *
         resolved.model().input_dim() * sizeof(float);
}

AblationService::AblationService(store::Store& store, jobs::JobManager& jobs,
                                 jobs::CursorHub& hub, ThreadPool& watch_pool,
                                 ServiceOptions options)
    : store_(store),
      authenticator_(store),
      jobs_(jobs),
      hub_(hub),
      options_(options),
      tails_(std::make_unique<LiveTails>(store, hub, watch_pool, options.live)),
      streams_(std::make_unique<StreamLimits>(
          [this](std::string_view token) { return Authenticate(token); }, options.streams)),
      downloads_(options.max_download_memory_mib * 1024 * 1024) {}

AblationService::~AblationService() { streams_->Stop(); }

absl::StatusOr<auth::Caller> AblationService::Authenticate(std::string_view token) {
  return authenticator_.Authenticate(token);
}

absl::Status AblationService::CheckRead(const auth::Caller& caller, int64_t job_id) {
  if (!caller) return absl::OkStatus();
  absl::StatusOr<store::JobAccess> access = store_.GetJobAccess(job_id);
  if (!access.ok()) return access.status();
  // The same words as for a job that does not exist: another class's ids reveal nothing.
  if (access->class_id != caller->class_id) {
    return absl::NotFoundError(absl::StrCat("job ", job_id, " not found"));
  }
  return absl::OkStatus();
}

absl::Status AblationService::CheckManage(const auth::Caller& caller, int64_t job_id,
                                          const char* verb) {
  if (!caller) return absl::OkStatus();
  if (absl::Status s = CheckRead(caller, job_id); !s.ok()) return s;
  if (caller->role == auth::Role::kInstructor) return absl::OkStatus();
  absl::StatusOr<store::JobAccess> access = store_.GetJobAccess(job_id);
  if (!access.ok()) return access.status();
  if (access->owner != caller->name) {
    return absl::PermissionDeniedError(
        absl::StrCat("job ", job_id, " belongs to ", access->owner, "; a student may ", verb,
                     " only their own jobs (the instructor may ", verb, " any job of the class)."));
  }
  return absl::OkStatus();
}

absl::StatusOr<AblationService::Admitted> AblationService::Admit(
    const auth::Caller& caller, const v1::SubmitJobRequest& request) {
  absl::StatusOr<v1::JobSpec> spec = jobs::ResolveSpec(request.spec());
  if (!spec.ok()) return spec.status();
  // Under authentication the job is the caller's, in the caller's class; without, it is whoever
  // the request names. The quotas below apply to both.
  std::string owner;
  std::optional<int64_t> class_id;
  if (caller) {
    if (!request.owner().empty() && request.owner() != caller->name) {
      return absl::PermissionDeniedError(
          absl::StrCat("owner must be empty or your own name, ", caller->name,
                       ": jobs are submitted in the name of the token's user."));
    }
    owner = caller->name;
    class_id = caller->class_id;
  } else {
    absl::StatusOr<std::string> requested = jobs::ResolveOwner(request.owner());
    if (!requested.ok()) return requested.status();
    owner = *std::move(requested);
  }
  if (options_.max_job_compute > 0) {
    const double need = JobMultiplyAdds(*spec);
    if (need > options_.max_job_compute) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this job needs ", Scientific(need),
          " multiply-adds (runs × (training.steps × training.batch + evaluations × "
          "data.val_size) × the sum over layers of n_in × n_out, with evaluations = "
          "training.steps / training.eval_every + 1), the limit per job is ",
          Scientific(options_.max_job_compute),
          " (--max-job-compute); lower the steps, batch, val_size, width or depth, raise "
          "eval_every, or split the runs into several jobs."));
    }
  }
  if (options_.max_job_memory_mib > 0) {
    const double need = JobDataBytes(*spec);
    const double limit = static_cast<double>(options_.max_job_memory_mib) * (1 << 20);
    if (need > limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this job's data needs ", Scientific(need),
          " bytes (runs × (data.train_size + data.val_size) × model.input_dim × 4), the limit "
          "per job is ",
          options_.max_job_memory_mib,
          " MiB (--max-job-memory); lower train_size, val_size or input_dim, or split the runs "
          "into several jobs."));
    }
  }
  return Admitted{.spec = *std::move(spec), .owner = std::move(owner), .class_id = class_id};
}

absl::StatusOr<v1::Job> AblationService::CheckJob(const auth::Caller& caller,
                                                  const v1::SubmitJobRequest& request) {
  absl::StatusOr<Admitted> admitted = Admit(caller, request);
  if (!admitted.ok()) return admitted.status();
  v1::Job would_be;
  would_be.set_owner(std::move(admitted->owner));
  *would_be.mutable_spec() = std::move(admitted->spec);
  return would_be;
}

absl::StatusOr<v1::Job> AblationService::SubmitJob(const auth::Caller& caller,
                                                   const v1::SubmitJobRequest& request) {
  absl::StatusOr<Admitted> admitted = Admit(caller, request);
  if (!admitted.ok()) return admitted.status();
  const auto& [spec, owner, class_id] = *admitted;
  if (options_.max_active_jobs_per_user <= 0) return Labelled(jobs_.Submit(spec, owner, class_id));
  absl::MutexLock lock(&submit_mutex_);
  absl::StatusOr<int> active = store_.CountActiveJobs(owner);
  if (!active.ok()) return active.status();
  if (*active >= options_.max_active_jobs_per_user) {
    return absl::ResourceExhaustedError(absl::StrCat(
        owner, " already has ", *active, *active == 1 ? " job" : " jobs",
        " queued or running, the limit per user is ",
        options_.max_active_jobs_per_user,
        " (--max-active-jobs-per-user); wait for one to finish or cancel one."));
  }
  return Labelled(jobs_.Submit(spec, owner, class_id));
}

absl::StatusOr<v1::Job> AblationService::GetJob(const auth::Caller& caller,
                                                const v1::GetJobRequest& request) {
  if (absl::Status s = CheckRead(caller, request.job_id()); !s.ok()) return s;
  absl::StatusOr<v1::Job> job = Labelled(wire::GetJob(store_, request.job_id()));
  if (!job.ok()) return job;
  if (std::optional<int> ahead = jobs_.RunsAhead(*job)) job->set_runs_ahead(*ahead);
  // A job stopped by a full database is still queued or running in the store, which could not
  // record otherwise: its error says why nothing moves (the cursor: whatever it has reached).
  const bool unfinished =
      job->state() == v1::JOB_STATE_QUEUED || job->state() == v1::JOB_STATE_RUNNING;
  if (unfinished && job->error().empty()) {
    if (absl::Status halted = hub_.Halted(job->id(), std::numeric_limits<uint64_t>::max());
        !halted.ok()) {
      job->set_error(std::string(halted.message()));
    }
  }
  return job;
}

absl::StatusOr<v1::ListJobsResponse> AblationService::ListJobs(const auth::Caller& caller,
                                                               const v1::ListJobsRequest& request) {
  if (!request.tag().empty()) {
    if (std::string problem = TagProblem(request.tag()); !problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("The filter's ", problem, "."));
    }
  }
  absl::StatusOr<v1::ListJobsResponse> response = wire::ListJobs(
      store_, request, caller ? std::optional<int64_t>(caller->class_id) : std::nullopt);
  if (!response.ok()) return response.status();
  for (v1::Job& job : *response->mutable_jobs()) jobs::LabelRuns(job);
  return response;
}

absl::StatusOr<v1::Job> AblationService::UpdateJobNotes(
    const auth::Caller& caller, const v1::UpdateJobNotesRequest& request) {
  if (absl::Status s = CheckManage(caller, request.job_id(), "annotate"); !s.ok()) return s;
  absl::MutexLock lock(&notes_mutex_);
  absl::StatusOr<v1::Job> job = wire::GetJob(store_, request.job_id());
  if (!job.ok()) return job.status();
  absl::StatusOr<JobNotes> notes = ApplyNotesRequest(*job, request);
  if (!notes.ok()) return notes.status();
  if (absl::Status s = store_.SetJobNotes(request.job_id(), notes->note, notes->tags); !s.ok()) {
    return s;
  }
  return Labelled(wire::GetJob(store_, request.job_id()));
}

absl::StatusOr<std::unique_ptr<JobWatch>> AblationService::WatchJob(
    const auth::Caller& caller, const v1::WatchJobRequest& request) {
  if (absl::Status s = CheckRead(caller, request.job_id()); !s.ok()) return s;
  absl::StatusOr<uint64_t> last = store_.Cursor(request.job_id());
  if (!last.ok()) return last.status();
  if (request.cursor() > *last) {
    return absl::OutOfRangeError(absl::StrCat(
        "cursor ", request.cursor(), " is past job ", request.job_id(), "'s last event (",
        *last, "); resume from a cursor this job's stream gave, or from 0 for everything."));
  }
  // The job's state is read after its tail (if new) took its starting cursor: a job that had
  // not ended then ends by an event after that cursor, which the tail will read.
  absl::StatusOr<std::unique_ptr<JobWatch>> live =
      tails_->Watch(request.job_id(), request.cursor(), /*ended=*/false);
  if (!live.ok()) return live.status();
  absl::StatusOr<store::JobAccess> job = store_.GetJobAccess(request.job_id());
  if (!job.ok()) return job.status();
  if (!store::IsTerminal(job->state)) return live;
  return tails_->Watch(request.job_id(), request.cursor(), /*ended=*/true);
}

absl::StatusOr<v1::GetTrajectoryResponse> AblationService::GetTrajectory(
    const auth::Caller& caller, const v1::GetTrajectoryRequest& request) {
  const int max_points = request.max_points();
  if (max_points != 0 && (max_points < kMinMaxPoints || max_points > kMaxMaxPoints)) {
    return absl::InvalidArgumentError(absl::StrCat("max_points must be 0 (every step) or between ",
                                                   kMinMaxPoints, " and ", kMaxMaxPoints,
                                                   " (got ", max_points, ")."));
  }
  if (caller) {
    absl::StatusOr<store::RunRecord> run = store_.GetRun(request.run_id());
    if (!run.ok()) return run.status();
    if (!CheckRead(caller, run->job_id).ok()) {
      return absl::NotFoundError(absl::StrCat("run ", request.run_id(), " not found"));
    }
  }
  absl::StatusOr<store::Trajectory> trajectory = store_.GetTrajectory(request.run_id());
  if (!trajectory.ok()) return trajectory.status();
  v1::GetTrajectoryResponse response;
  response.set_run_id(request.run_id());
  response.set_steps_done(static_cast<int32_t>(trajectory->steps.size()));
  for (int32_t i : DownsampleIndices(trajectory->losses, max_points)) {
    response.add_steps(trajectory->steps[i]);
    response.add_losses(trajectory->losses[i]);
  }
  if (std::optional<int> first = core::FirstNonFinite(trajectory->losses)) {
    response.set_first_nonfinite_step(trajectory->steps[*first]);
  }
  for (const store::EvalRecord& eval : trajectory->evals) {
    *response.add_evals() = wire::EvalToProto(eval);
  }
  return response;
}

absl::StatusOr<std::shared_ptr<const HeldArtifact>> AblationService::GetArtifact(
    const auth::Caller& caller, const v1::GetArtifactRequest& request) {
  if (absl::Status s = CheckRead(caller, request.job_id()); !s.ok()) return s;
  absl::StatusOr<store::JobAccess> job = store_.GetJobAccess(request.job_id());
  if (!job.ok()) return job.status();
  if (!store::IsTerminal(job->state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", request.job_id(), " has not finished; its files are built when it ends."));
  }
  return downloads_.Take(files_, request.job_id(), request.name());
}

absl::StatusOr<v1::Job> AblationService::CancelJob(const auth::Caller& caller,
                                                   const v1::CancelJobRequest& request) {
  if (absl::Status s = CheckManage(caller, request.job_id(), "cancel"); !s.ok()) return s;
  return Labelled(jobs_.Cancel(request.job_id()));
}

absl::StatusOr<v1::DeleteJobResponse> AblationService::DeleteJob(
    const auth::Caller& caller, const v1::DeleteJobRequest& request) {
  if (absl::Status s = CheckManage(caller, request.job_id(), "delete"); !s.ok()) return s;
  if (absl::Status s = store_.DeleteJob(request.job_id()); !s.ok()) return s;
  return v1::DeleteJobResponse();
}

v1::WhoAmIResponse AblationService::WhoAmI(const auth::Caller& caller) {
  v1::WhoAmIResponse response;
  response.set_auth_enabled(caller.has_value());
  if (caller) {
    response.set_name(caller->name);
    response.set_class_name(caller->class_name);
    response.set_role(auth::RoleName(caller->role));
  }
  return response;
}

absl::StatusOr<v1::ClassView> AblationService::GetClassView(
    const auth::Caller& caller, const v1::GetClassViewRequest& request) {
  ClassViewOptions options;
  if (request.grid_points() != 0) {
    if (request.grid_points() < kMinGridPoints || request.grid_points() > kMaxGridPoints) {
      return absl::InvalidArgumentError(absl::StrCat("grid_points must be 0 (", kDefaultGridPoints,
                                                     ") or between ", kMinGridPoints, " and ",
                                                     kMaxGridPoints, " (got ",
                                                     request.grid_points(), ")."));
    }
    options.grid_points = request.grid_points();
  }
  if (caller && caller->role != auth::Role::kInstructor) {
    options.every_student = false;
    options.only_owner = caller->name;
  }
  v1::ListJobsRequest list;
  list.set_name_contains(request.name_contains());
  list.set_page_size(kMaxClassViewJobs);
  absl::StatusOr<v1::ListJobsResponse> page = wire::ListJobs(
      store_, list, caller ? std::optional<int64_t>(caller->class_id) : std::nullopt);
  if (!page.ok()) return page.status();

  ClassViewInput input;
  if (caller) input.class_name = caller->class_name;
  input.truncated = !page->next_page_token().empty();
  input.jobs.assign(std::make_move_iterator(page->mutable_jobs()->begin()),
                    std::make_move_iterator(page->mutable_jobs()->end()));
  for (v1::Job& job : input.jobs) {
    jobs::LabelRuns(job);
    for (const v1::Run& run : job.runs()) {
      if (run.state() != v1::RUN_STATE_COMPLETED && run.state() != v1::RUN_STATE_DIVERGED) {
        continue;
      }
      absl::StatusOr<store::Trajectory> trajectory = store_.GetTrajectory(run.id());
      // A job deleted since the listing has no trajectory left: its runs simply have no curve.
      if (absl::IsNotFound(trajectory.status())) continue;
      if (!trajectory.ok()) return trajectory.status();
      // Steps are recorded from 0 without gaps, so losses[s] is step s's.
      input.losses[run.id()] = std::move(trajectory->losses);
    }
  }
  ClassViewResult result = BuildClassView(input, options);
  if (request.figure()) {
    artifacts::PlotInput plot;
    plot.title = absl::StrCat("Class view", input.class_name.empty() ? "" : " — ",
                              input.class_name, ": median training loss per group");
    plot.subtitle = absl::StrCat(result.view.jobs(), " jobs · ", result.view.runs(),
                                 " ended runs · each curve is the median over its group's runs "
                                 "with a finite loss at that step");
    for (const GroupCurve& curve : result.curves) {
      plot.steps = std::max(plot.steps, static_cast<int>(curve.median.size()) - 1);
    }
    for (size_t i = 0; i < result.curves.size(); ++i) {
      const v1::RunGroup& group = result.view.groups(static_cast<int>(i));
      artifacts::PlotSeries series;
      series.name = group.label();
      series.label = absl::StrCat(group.label(), " — ", group.runs_size(),
                                  group.runs_size() == 1 ? " run" : " runs",
                                  group.diverged() > 0 ? absl::StrCat(", ", group.diverged(),
                                                                      " diverged")
                                                       : "");
      series.losses = result.curves[i].median;
      // A group whose every run diverged gets the NaN marker at its median first-NaN step
      // (its median curve ends there: no run has a finite loss after it).
      if (group.diverged() == group.runs_size() && group.first_nonfinite_step().count() > 0) {
        series.first_nonfinite_step =
            static_cast<int>(std::lround(group.first_nonfinite_step().median()));
      }
      series.rgb = artifacts::InitColor(group.init());
      plot.series.push_back(std::move(series));
    }
    if (!plot.series.empty()) {
      absl::StatusOr<artifacts::PlotImage> image =
          artifacts::RenderPlot(plot, artifacts::ChooseScale(plot));
      if (!image.ok()) return image.status();
      result.view.set_figure_png(std::move(image->png));
    }
  }
  return std::move(result.view);
}

}  // namespace ablate::service
