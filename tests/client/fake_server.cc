#include "tests/client/fake_server.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "client/artifacts.h"

namespace ablate::client::testing {
namespace {

float Loss(int run_index, int step, int steps) {
  switch (run_index) {
    case 0:  // uniform: blows up, NaN at the last step
      return step == steps - 1 ? std::numeric_limits<float>::quiet_NaN() : 2.0f + step;
    case 1:  // xavier: crawls
      return 0.7f - 0.001f * step;
    default:  // kaiming: trains
      return 0.7f * std::exp(-0.1f * step);
  }
}

// Run `index` of a finished LabJob.
void Finish(v1::Run* run, int steps) {
  run->set_steps_done(steps);
  run->set_final_loss(Loss(run->index(), steps - 1, steps));
  run->set_seconds(0.001 * steps);
  run->set_steps_per_second(1000);
  if (run->index() == 0) {
    run->set_state(v1::RUN_STATE_DIVERGED);
    run->set_outcome(absl::StrCat("diverged at step ", steps - 1));
    run->set_first_nonfinite_step(steps - 1);
  } else {
    run->set_state(v1::RUN_STATE_COMPLETED);
    run->set_outcome("completed");
    v1::EvalResult* eval = run->mutable_final_eval();
    eval->set_run_id(run->id());
    eval->set_step(steps);
    eval->set_loss(run->index() == 1 ? 0.69f : 0.05f);
    eval->set_accuracy(run->index() == 1 ? 0.5f : 0.99f);
  }
}

bool Finished(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

}  // namespace

v1::Job LabJob(int64_t job_id, v1::JobState state, int steps) {
  v1::Job job;
  job.set_id(job_id);
  job.set_name("lab-01-init-ablation");
  job.set_owner("alice");
  job.set_state(state);
  v1::JobSpec* spec = job.mutable_spec();
  spec->set_name(job.name());
  spec->mutable_model()->set_depth(12);
  spec->mutable_model()->set_width(256);
  spec->mutable_model()->set_input_dim(256);
  spec->mutable_model()->set_classes(2);
  spec->mutable_data()->set_train_size(1000);
  spec->mutable_data()->set_val_size(200);
  spec->mutable_data()->set_label_dims(10);
  spec->mutable_data()->set_seed(1);
  spec->mutable_training()->set_steps(steps);
  spec->mutable_training()->set_lr(0.001);
  spec->mutable_training()->set_momentum(0.9);
  spec->mutable_training()->set_batch(64);
  spec->mutable_training()->set_eval_every(50);
  spec->mutable_training()->set_stop_on_nonfinite(true);
  const char* inits[] = {"uniform", "xavier", "kaiming"};
  for (int i = 0; i < 3; ++i) {
    v1::RunSpec* run_spec = spec->add_runs();
    run_spec->set_init(inits[i]);
    run_spec->set_weight_seed(101 + i);
    run_spec->set_uniform_low(-0.5);
    run_spec->set_uniform_high(0.5);
    v1::Run* run = job.add_runs();
    run->set_id(100 * job_id + 1 + i);
    run->set_job_id(job_id);
    run->set_index(i);
    *run->mutable_spec() = *run_spec;
    run->set_state(v1::RUN_STATE_QUEUED);
    run->set_outcome("queued");
    if (Finished(state)) Finish(run, steps);
  }
  job.mutable_created_at()->set_seconds(1714564800 + 60 * job_id);  // 2024-05-01T12:00Z
  if (Finished(state)) {
    job.mutable_started_at()->set_seconds(1714564800 + 60 * job_id + 1);
    job.mutable_finished_at()->set_seconds(1714564800 + 60 * job_id + 31);
  }
  if (state == v1::JOB_STATE_FAILED) job.set_error("the worker ran out of memory");
  return job;
}

std::vector<v1::JobUpdate> TrainingHistory(const v1::Job& job, int steps, int per_update,
                                           v1::JobState final_state) {
  std::vector<v1::JobUpdate> history;
  uint64_t cursor = 0;
  v1::JobUpdate started;
  started.set_cursor(++cursor);
  for (const v1::Run& run : job.runs()) {
    v1::RunStarted* s = started.add_runs_started();
    s->set_run_id(run.id());
    s->set_index(run.index());
  }
  history.push_back(started);
  for (int first = 0; first < steps; first += per_update) {
    v1::JobUpdate update;
    update.set_cursor(++cursor);
    for (const v1::Run& run : job.runs()) {
      v1::StepLosses* losses = update.add_steps();
      losses->set_run_id(run.id());
      losses->set_first_step(first);
      for (int step = first; step < std::min(steps, first + per_update); ++step) {
        losses->add_losses(Loss(run.index(), step, steps));
        losses->add_seconds(0.001f);
      }
    }
    history.push_back(update);
  }
  v1::Job final_job = LabJob(job.id(), final_state, steps);
  v1::JobUpdate last;
  last.set_cursor(++cursor);
  for (const v1::Run& run : final_job.runs()) *last.add_runs_finished()->mutable_run() = run;
  *last.mutable_job_finished()->mutable_job() = final_job;
  history.push_back(last);
  return history;
}

namespace {
std::string AuthorizationOf(const grpc::ServerContext& context) {
  auto it = context.client_metadata().find("authorization");
  return it == context.client_metadata().end() ? ""
                                               : std::string(it->second.data(), it->second.size());
}
}  // namespace

grpc::Status FakeAblation::SubmitJob(grpc::ServerContext* context,
                                     const v1::SubmitJobRequest* request,
                                     v1::SubmitJobResponse* response) {
  std::lock_guard<std::mutex> lock(mutex);
  submits.push_back(*request);
  authorizations.push_back(AuthorizationOf(*context));
  if (!submit_status.ok()) return submit_status;
  const int64_t id = jobs.empty() ? 17 : jobs.rbegin()->first + 1;
  v1::Job job = LabJob(id, v1::JOB_STATE_QUEUED);
  job.set_owner(request->owner().empty() ? "anonymous" : request->owner());
  jobs[id] = job;
  *response->mutable_job() = job;
  return grpc::Status::OK;
}

grpc::Status FakeAblation::CheckJob(grpc::ServerContext*, const v1::SubmitJobRequest* request,
                                    v1::SubmitJobResponse* response) {
  std::lock_guard<std::mutex> lock(mutex);
  checks.push_back(*request);
  if (!check_status.ok()) return check_status;
  *response->mutable_job()->mutable_spec() = request->spec();
  return grpc::Status::OK;
}

grpc::Status FakeAblation::GetJob(grpc::ServerContext*, const v1::GetJobRequest* request,
                                  v1::Job* response) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!get_job_script.empty()) {
    *response = get_job_script.front();
    get_job_script.pop_front();
    return grpc::Status::OK;
  }
  auto it = jobs.find(request->job_id());
  if (it == jobs.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("there is no job ", request->job_id()));
  }
  *response = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeAblation::ListJobs(grpc::ServerContext*, const v1::ListJobsRequest* request,
                                    v1::ListJobsResponse* response) {
  std::lock_guard<std::mutex> lock(mutex);
  list_requests.push_back(*request);
  std::vector<const v1::Job*> matching;
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {  // newest (highest id) first
    const v1::Job& job = it->second;
    if (!request->owner().empty() && job.owner() != request->owner()) continue;
    if (request->states_size() > 0 && std::find(request->states().begin(), request->states().end(),
                                                job.state()) == request->states().end()) {
      continue;
    }
    matching.push_back(&job);
  }
  size_t start = 0;
  if (!request->page_token().empty() && !absl::SimpleAtoi(request->page_token(), &start)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page_token");
  }
  const size_t page =
      std::min<size_t>(request->page_size() > 0 ? request->page_size() : 50, list_page_size);
  size_t end = std::min(matching.size(), start + page);
  for (size_t i = start; i < end; ++i) *response->add_jobs() = *matching[i];
  if (end < matching.size()) response->set_next_page_token(absl::StrCat(end));
  return grpc::Status::OK;
}

grpc::Status FakeAblation::WatchJob(grpc::ServerContext* context,
                                    const v1::WatchJobRequest* request,
                                    grpc::ServerWriter<v1::JobUpdate>* writer) {
  int call = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    call = watch_calls_++;
    watch_cursors.push_back(request->cursor());
    authorizations.push_back(AuthorizationOf(*context));
    if (jobs.count(request->job_id()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such job");
    }
  }
  int sent = 0;
  for (const v1::JobUpdate& update : history) {
    if (update.cursor() <= request->cursor()) continue;
    if (auto cut = cut_after.find(call); cut != cut_after.end() && sent == cut->second) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
    }
    if (auto hang = hang_after.find(call); hang != hang_after.end() && sent == hang->second) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        ++hung_calls;
      }
      watch_hung.notify_all();
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return grpc::Status::CANCELLED;
    }
    if (update_interval.count() > 0) std::this_thread::sleep_for(update_interval);
    if (update.has_job_finished()) {
      std::lock_guard<std::mutex> lock(mutex);
      jobs[request->job_id()] = update.job_finished().job();
    }
    if (!writer->Write(update)) return grpc::Status::CANCELLED;
    ++sent;
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblation::GetTrajectory(grpc::ServerContext*,
                                         const v1::GetTrajectoryRequest* request,
                                         v1::GetTrajectoryResponse* response) {
  std::lock_guard<std::mutex> lock(mutex);
  trajectory_requests.push_back(*request);
  *response = trajectory;
  response->set_run_id(request->run_id());
  return grpc::Status::OK;
}

grpc::Status FakeAblation::GetArtifact(grpc::ServerContext* context,
                                       const v1::GetArtifactRequest* request,
                                       grpc::ServerWriter<v1::ArtifactChunk>* writer) {
  std::string content;
  int chunks_sent = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    artifact_calls_at_once_most = std::max(artifact_calls_at_once_most, ++artifact_calls_at_once);
  }
  const absl::Cleanup call_ended = [this] {
    std::lock_guard<std::mutex> lock(mutex);
    --artifact_calls_at_once;
  };
  {
    std::lock_guard<std::mutex> lock(mutex);
    artifact_requests.push_back(request->name());
    if (unavailable_artifact_calls > 0) {
      --unavailable_artifact_calls;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is restarting");
    }
    auto it = artifacts.find(request->name());
    if (it == artifacts.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("job ", request->job_id(), " has no ", request->name()));
    }
    content = it->second;
  }
  size_t offset = 0;
  bool first = true;
  while (first || offset < content.size()) {
    v1::ArtifactChunk chunk;
    if (first) {
      chunk.set_name(request->name());
      chunk.set_content_type("application/octet-stream");
      chunk.set_size(static_cast<int64_t>(content.size()));
      const bool corrupt = corrupt_artifacts || request->name() == corrupt_artifact;
      chunk.set_sha256(corrupt ? Sha256Hex("something else") : Sha256Hex(content));
    }
    chunk.set_data(content.substr(offset, chunk_size));
    offset += chunk_size;
    first = false;
    if (stall_after_chunks >= 0 && chunks_sent++ >= stall_after_chunks) {
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return grpc::Status::CANCELLED;
    }
    std::this_thread::sleep_for(chunk_interval);
    if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblation::CancelJob(grpc::ServerContext*, const v1::CancelJobRequest* request,
                                     v1::CancelJobResponse* response) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = jobs.find(request->job_id());
  if (it == jobs.end()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("there is no job ", request->job_id()));
  }
  ++cancel_calls;
  if (!cancel_status.ok()) return cancel_status;
  if (!Finished(it->second.state()) && !cancel_still_running) {
    it->second.set_state(v1::JOB_STATE_CANCELLED);
  }
  *response->mutable_job() = it->second;
  return grpc::Status::OK;
}

FakeServer::FakeServer(FakeAblation* service, int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service);
  server_ = builder.BuildAndStart();
}

void FakeServer::Stop() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
  server_->Wait();
  server_.reset();
}

}  // namespace ablate::client::testing
