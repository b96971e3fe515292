// The mapping between the store's records and v1 messages (see wire.h).
#include "server/service/wire.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace ablate::wire {

namespace {

// The states' correspondence, the one place that pairs the two enums.
constexpr std::pair<store::JobState, v1::JobState> kJobStates[] = {
    {store::JobState::kQueued, v1::JOB_STATE_QUEUED},
    {store::JobState::kRunning, v1::JOB_STATE_RUNNING},
    {store::JobState::kSucceeded, v1::JOB_STATE_SUCCEEDED},
    {store::JobState::kFailed, v1::JOB_STATE_FAILED},
    {store::JobState::kCancelled, v1::JOB_STATE_CANCELLED},
};
constexpr std::pair<store::RunState, v1::RunState> kRunStates[] = {
    {store::RunState::kQueued, v1::RUN_STATE_QUEUED},
    {store::RunState::kRunning, v1::RUN_STATE_RUNNING},
    {store::RunState::kCompleted, v1::RUN_STATE_COMPLETED},
    {store::RunState::kDiverged, v1::RUN_STATE_DIVERGED},
    {store::RunState::kCancelled, v1::RUN_STATE_CANCELLED},
    {store::RunState::kFailed, v1::RUN_STATE_FAILED},
};

google::protobuf::Timestamp TimeToProto(absl::Time t) {
  const int64_t ms = absl::ToUnixMillis(t);
  google::protobuf::Timestamp ts;
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {  // floor division: nanos must be in [0, 1e9)
    seconds -= 1;
    rest += 1000;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000000));
  return ts;
}

absl::Time TimeFromProto(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// A ListJobs bound: nothing for a zero Timestamp (see wire.h).
absl::StatusOr<std::optional<absl::Time>> BoundFromProto(bool has,
                                                         const google::protobuf::Timestamp& ts,
                                                         absl::string_view field) {
  if (!has || (ts.seconds() == 0 && ts.nanos() == 0)) return std::optional<absl::Time>();
  if (ts.nanos() < 0 || ts.nanos() >= 1000000000) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".nanos must be in 0–999999999, got ", ts.nanos()));
  }
  // Far beyond any real date, and keeps the store's arithmetic in whole milliseconds in range.
  constexpr int64_t kLimit = int64_t{1} << 50;
  const int64_t seconds = std::clamp<int64_t>(ts.seconds(), -kLimit, kLimit);
  return std::optional<absl::Time>(absl::FromUnixSeconds(seconds) + absl::Nanoseconds(ts.nanos()));
}

void StatsToProto(const std::vector<store::LayerStatsRecord>& in,
                  google::protobuf::RepeatedPtrField<v1::LayerStats>* out) {
  for (const store::LayerStatsRecord& layer : in) {
    v1::LayerStats* stats = out->Add();
    stats->set_weight_variance(layer.weight_variance);
    stats->set_activation_mean(layer.activation_mean);
    stats->set_activation_std(layer.activation_std);
    if (layer.first_step_grad_norm) stats->set_first_step_grad_norm(*layer.first_step_grad_norm);
  }
}

std::vector<store::LayerStatsRecord> StatsFromProto(
    const google::protobuf::RepeatedPtrField<v1::LayerStats>& in) {
  std::vector<store::LayerStatsRecord> out;
  out.reserve(in.size());
  for (const v1::LayerStats& layer : in) {
    store::LayerStatsRecord& stats = out.emplace_back();
    stats.weight_variance = layer.weight_variance();
    stats.activation_mean = layer.activation_mean();
    stats.activation_std = layer.activation_std();
    if (layer.has_first_step_grad_norm()) stats.first_step_grad_norm = layer.first_step_grad_norm();
  }
  return out;
}

store::EvalRecord EvalFromProto(const v1::EvalResult& eval) {
  return store::EvalRecord{.run_id = eval.run_id(),
                           .step = eval.step(),
                           .loss = eval.loss(),
                           .accuracy = eval.accuracy()};
}

}  // namespace

v1::JobState StateToProto(store::JobState state) {
  for (const auto& [s, proto] : kJobStates) {
    if (s == state) return proto;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

v1::RunState StateToProto(store::RunState state) {
  for (const auto& [s, proto] : kRunStates) {
    if (s == state) return proto;
  }
  return v1::RUN_STATE_UNSPECIFIED;
}

store::JobState StateFromProto(v1::JobState state) {
  for (const auto& [s, proto] : kJobStates) {
    if (proto == state) return s;
  }
  return store::JobState::kUnspecified;
}

store::RunState StateFromProto(v1::RunState state) {
  for (const auto& [s, proto] : kRunStates) {
    if (proto == state) return s;
  }
  return store::RunState::kUnspecified;
}

v1::EvalResult EvalToProto(const store::EvalRecord& eval) {
  v1::EvalResult out;
  out.set_run_id(eval.run_id);
  out.set_step(eval.step);
  out.set_loss(eval.loss);
  // The store keeps what the trainer counted; an accuracy beside a non-finite loss measured
  // nothing, so the API leaves it out (EvalResult.accuracy).
  if (std::isfinite(eval.loss)) out.set_accuracy(eval.accuracy);
  return out;
}

v1::Run RunToProto(const store::RunRecord& run) {
  v1::Run out;
  out.set_id(run.id);
  out.set_job_id(run.job_id);
  out.set_index(run.index);
  v1::RunSpec* spec = out.mutable_spec();
  spec->set_init(run.spec.init);
  if (run.spec.weight_seed) spec->set_weight_seed(*run.spec.weight_seed);
  if (run.spec.uniform_low) spec->set_uniform_low(*run.spec.uniform_low);
  if (run.spec.uniform_high) spec->set_uniform_high(*run.spec.uniform_high);
  out.set_state(StateToProto(run.state));
  out.set_outcome(run.outcome);
  out.set_steps_done(run.steps_done);
  if (run.first_nonfinite_step) out.set_first_nonfinite_step(*run.first_nonfinite_step);
  if (run.flatline_step) out.set_flatline_step(*run.flatline_step);
  if (run.final_loss) out.set_final_loss(*run.final_loss);
  if (run.final_eval) *out.mutable_final_eval() = EvalToProto(*run.final_eval);
  StatsToProto(run.init_stats, out.mutable_init_stats());
  StatsToProto(run.final_stats, out.mutable_final_stats());
  out.set_seconds(run.seconds);
  out.set_steps_per_second(run.steps_per_second);
  if (run.started_at) *out.mutable_started_at() = TimeToProto(*run.started_at);
  if (run.finished_at) *out.mutable_finished_at() = TimeToProto(*run.finished_at);
  out.set_fingerprint(run.fingerprint);
  out.set_restart_reason(run.restart_reason);
  return out;
}

absl::StatusOr<v1::Job> JobToProto(const store::JobRecord& job) {
  v1::Job out;
  out.set_id(job.id);
  out.set_name(job.name);
  out.set_owner(job.owner);
  out.set_state(StateToProto(job.state));
  if (job.spec_proto.empty() || !out.mutable_spec()->ParseFromString(job.spec_proto)) {
    return absl::DataLossError(
        absl::StrCat("the spec of job ", job.id, " in the database is not a valid JobSpec"));
  }
  for (const store::RunRecord& run : job.runs) *out.add_runs() = RunToProto(run);
  *out.mutable_created_at() = TimeToProto(job.created_at);
  if (job.started_at) *out.mutable_started_at() = TimeToProto(*job.started_at);
  if (job.finished_at) *out.mutable_finished_at() = TimeToProto(*job.finished_at);
  out.set_error(job.error);
  out.set_note(job.note);
  for (const std::string& tag : job.tags) out.add_tags(tag);
  return out;
}

absl::StatusOr<v1::JobUpdate> UpdateToProto(const store::StoredUpdate& update) {
  v1::JobUpdate out;
  out.set_cursor(update.cursor);
  for (const store::RunRestartedMark& mark : update.runs_restarted) {
    v1::RunRestarted* part = out.add_runs_restarted();
    part->set_run_id(mark.run_id);
    part->set_index(mark.index);
    part->set_reason(mark.reason);
  }
  for (const store::RunStartedMark& mark : update.runs_started) {
    v1::RunStarted* part = out.add_runs_started();
    part->set_run_id(mark.run_id);
    part->set_index(mark.index);
  }
  for (const store::StepSpan& span : update.steps) {
    v1::StepLosses* part = out.add_steps();
    part->set_run_id(span.run_id);
    part->set_first_step(span.first_step);
    part->mutable_losses()->Add(span.losses.begin(), span.losses.end());
    part->mutable_seconds()->Add(span.seconds.begin(), span.seconds.end());
  }
  for (const store::EvalRecord& eval : update.evals) *out.add_evals() = EvalToProto(eval);
  for (const store::RunRecord& run : update.runs_finished) {
    *out.add_runs_finished()->mutable_run() = RunToProto(run);
  }
  if (update.job_finished) {
    absl::StatusOr<v1::Job> job = JobToProto(*update.job_finished);
    if (!job.ok()) return job.status();
    *out.mutable_job_finished()->mutable_job() = *std::move(job);
  }
  return out;
}

absl::StatusOr<store::NewJob> NewJobFromSpec(const v1::JobSpec& spec) {
  store::NewJob job;
  job.name = spec.name();
  if (!spec.SerializeToString(&job.spec_proto)) {
    return absl::InvalidArgumentError("cannot serialise the job's spec");
  }
  // jobs.spec, a view for people and SQL: protobuf's JSON mapping with proto field names
  // (json_extract(spec, '$.training.steps')); nothing reads it back.
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (auto status = google::protobuf::util::MessageToJsonString(spec, &job.spec_json, options);
      !status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot convert the job's spec to JSON: ", status.ToString()));
  }
  for (const v1::RunSpec& run : spec.runs()) {
    store::RunInit& init = job.runs.emplace_back();
    init.init = run.init();
    if (run.has_weight_seed()) init.weight_seed = run.weight_seed();
    if (run.has_uniform_low()) init.uniform_low = run.uniform_low();
    if (run.has_uniform_high()) init.uniform_high = run.uniform_high();
  }
  return job;
}

store::RunRecord RunSummaryFromProto(const v1::Run& run) {
  store::RunRecord out;
  out.id = run.id();
  out.job_id = run.job_id();
  out.index = run.index();
  out.spec.init = run.spec().init();
  if (run.spec().has_weight_seed()) out.spec.weight_seed = run.spec().weight_seed();
  if (run.spec().has_uniform_low()) out.spec.uniform_low = run.spec().uniform_low();
  if (run.spec().has_uniform_high()) out.spec.uniform_high = run.spec().uniform_high();
  out.state = StateFromProto(run.state());
  out.outcome = run.outcome();
  out.steps_done = run.steps_done();
  if (run.has_first_nonfinite_step()) out.first_nonfinite_step = run.first_nonfinite_step();
  if (run.has_flatline_step()) out.flatline_step = run.flatline_step();
  if (run.has_final_loss()) out.final_loss = run.final_loss();
  if (run.has_final_eval()) out.final_eval = EvalFromProto(run.final_eval());
  out.init_stats = StatsFromProto(run.init_stats());
  out.final_stats = StatsFromProto(run.final_stats());
  out.seconds = run.seconds();
  out.steps_per_second = run.steps_per_second();
  if (run.has_started_at()) out.started_at = TimeFromProto(run.started_at());
  if (run.has_finished_at()) out.finished_at = TimeFromProto(run.finished_at());
  out.fingerprint = run.fingerprint();
  out.restart_reason = run.restart_reason();
  return out;
}

absl::StatusOr<store::JobQuery> QueryFromProto(const v1::ListJobsRequest& request) {
  store::JobQuery query;
  query.owner = request.owner();
  for (int i = 0; i < request.states_size(); ++i) {
    const store::JobState state = StateFromProto(static_cast<v1::JobState>(request.states(i)));
    if (state == store::JobState::kUnspecified) {
      return absl::InvalidArgumentError(absl::StrCat("states[", i, "]: ", request.states(i),
                                                     " is not a job state (1–5: QUEUED, RUNNING, "
                                                     "SUCCEEDED, FAILED, CANCELLED)"));
    }
    query.states.push_back(state);
  }
  query.init = request.init();
  query.name_contains = request.name_contains();
  query.tag = request.tag();
  auto after = BoundFromProto(request.has_created_after(), request.created_after(),
                              "created_after");
  if (!after.ok()) return after.status();
  query.created_after = *after;
  auto before = BoundFromProto(request.has_created_before(), request.created_before(),
                               "created_before");
  if (!before.ok()) return before.status();
  query.created_before = *before;
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  return query;
}

absl::StatusOr<v1::Job> CreateJob(store::JobStore& store, const v1::JobSpec& spec,
                                  const std::string& owner, absl::Time now,
                                  std::optional<int64_t> class_id) {
  absl::StatusOr<store::NewJob> job = NewJobFromSpec(spec);
  if (!job.ok()) return job.status();
  absl::StatusOr<store::JobRecord> record = store.CreateJob(*job, owner, now, class_id);
  if (!record.ok()) return record.status();
  return JobToProto(*record);
}

absl::StatusOr<v1::Job> GetJob(store::JobStore& store, int64_t job_id) {
  absl::StatusOr<store::JobRecord> record = store.GetJob(job_id);
  if (!record.ok()) return record.status();
  return JobToProto(*record);
}

absl::StatusOr<v1::Run> GetRun(store::JobStore& store, int64_t run_id) {
  absl::StatusOr<store::RunRecord> record = store.GetRun(run_id);
  if (!record.ok()) return record.status();
  return RunToProto(*record);
}

absl::StatusOr<v1::ListJobsResponse> ListJobs(store::JobStore& store,
                                              const v1::ListJobsRequest& request,
                                              std::optional<int64_t> class_id) {
  absl::StatusOr<store::JobQuery> query = QueryFromProto(request);
  if (!query.ok()) return query.status();
  absl::StatusOr<store::JobPage> page = store.ListJobs(*query, class_id);
  if (!page.ok()) return page.status();
  v1::ListJobsResponse response;
  for (const store::JobRecord& record : page->jobs) {
    absl::StatusOr<v1::Job> job = JobToProto(record);
    if (!job.ok()) return job.status();
    *response.add_jobs() = *std::move(job);
  }
  response.set_next_page_token(page->next_page_token);
  return response;
}

absl::StatusOr<v1::JobUpdate> ReadUpdate(store::JobStore& store, int64_t job_id, uint64_t after,
                                         int max_events) {
  absl::StatusOr<store::StoredUpdate> update = store.ReadUpdate(job_id, after, max_events);
  if (!update.ok()) return update.status();
  return UpdateToProto(*update);
}

}  // namespace ablate::wire
