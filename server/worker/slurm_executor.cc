#include "server/worker/slurm_executor.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ablate/worker/v1/worker.grpc.pb.h"
#include "absl/strings/str_cat.h"
#include "core/fingerprint.h"
#include "server/auth/token.h"
#include "server/jobs/local_executor.h"
#include "server/worker/convert.h"
#include "spdlog/spdlog.h"

namespace ablate::worker {
namespace {

// Bytes of a checkpoint per ResumeChunk: well under the worker's message limit.
constexpr size_t kChunkBytes = 512 << 10;
// Largest checkpoint accepted from a worker: twice the parameters the core allows, as float32.
constexpr int64_t kMaxCheckpointBytes = int64_t{2} * core::kMaxParameters * 4 + (1 << 20);

// One run on a slot, shared by the slot's thread, the worker's stream and the poller.
struct Run {
  int64_t run_id = 0;
  jobs::RunListener* listener = nullptr;  // borrowed until `closed`
  core::ExperimentConfig config;
  core::InitConfig init;
  core::CheckpointPolicy checkpoints;

  // Held for each call of the listener, so that calls are one at a time; taken before `mutex`.
  std::mutex listener_mutex;
  bool closed = false;  // the listener is called no more; guarded by both mutexes

  std::mutex mutex;
  std::condition_variable_any changed;
  // The current dispatch; guarded by mutex.
  slurm::JobId job_id = 0;
  std::string secret_sha256;
  int dispatches = 0;
  bool slurm_ended = false;  // the poller saw the job ended or unknown to Slurm
  grpc::ServerContext* stream = nullptr;  // the connected worker's stream, if any
  // Delivered to the listener in this execution; guarded by listener_mutex.
  bool started = false;
  int first_step = -1;               // the lowest step delivered, -1 before any
  std::vector<uint32_t> loss_bits;   // of steps first_step, first_step + 1, ...
  float last_loss = 0;
  int last_eval = -1;
  int last_checkpoint = -1;
  // The end; guarded by mutex.
  std::optional<core::RunResult> result;
  std::optional<std::string> failure;  // the run fails with this, not dispatched again
};

bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

class SlurmExecutor::Impl final : public v1::RunWorker::Service {
 public:
  Impl(store::Store& store, Launcher& launcher, SlurmExecutorOptions options)
      : store_(store),
        launcher_(launcher),
        options_(options),
        pool_(std::max(options.max_running, 1), [this](jobs::RunRequest& r) { Supervise(r); },
              options.held) {
    poller_ = std::thread([this] { PollLoop(); });
  }

  ~Impl() override {
    Detach();
    WakeAll();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    poll_wake_.notify_all();
    poller_.join();
    // pool_ is destroyed next (declared last): its slots have returned or return at once.
  }

  void Execute(jobs::RunRequest request) { pool_.Execute(std::move(request)); }
  int Workers() const { return pool_.Workers(); }
  int QueuedRuns() { return pool_.QueuedRuns(); }
  void Release() { pool_.Release(); }

  // Only a flag: each run sees it when its stop wakes it (after the job manager has begun to
  // shut down, so that the run's end is not recorded).
  void Detach() { detached_ = true; }

  void WakeAll() {
    std::vector<std::shared_ptr<Run>> runs;
    {
      std::lock_guard lock(mutex_);
      for (auto& [id, run] : runs_) runs.push_back(run);
    }
    for (auto& run : runs) {
      std::lock_guard lock(run->mutex);
      run->changed.notify_all();
    }
  }

  grpc::Status Connect(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::ServerMessage, v1::WorkerMessage>* stream) override;

 private:
  void Supervise(jobs::RunRequest& request);
  // Submits a new job for the run; false (with the reason) when the submission failed.
  bool Dispatch(Run& run, std::string& reason);
  void PollLoop();
  std::shared_ptr<Run> Find(int64_t run_id) {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(run_id);
    return it == runs_.end() ? nullptr : it->second;
  }
  // Who may connect for a run that is not supervised here: an error for the worker.
  grpc::Status NotSupervised(const v1::Hello& hello);
  // Handles one message of a connected worker; an error ends its stream. Sets `ended` for the
  // run's last message.
  grpc::Status Receive(Run& run, grpc::ServerContext* context, const v1::WorkerMessage& message,
                       std::string& checkpoint, bool& ended);
  void DeliverStep(Run& run, const v1::Step& step, grpc::Status& status);
  bool Detached() const { return detached_.load(); }

  store::Store& store_;
  Launcher& launcher_;
  const SlurmExecutorOptions options_;
  std::mutex mutex_;
  std::condition_variable poll_wake_;
  std::map<int64_t, std::shared_ptr<Run>> runs_;  // supervised, by run id; guarded by mutex_
  std::atomic<bool> detached_{false};
  bool stopping_ = false;                          // guarded by mutex_
  bool poll_now_ = false;                          // guarded by mutex_
  std::thread poller_;
  jobs::LocalExecutor pool_;  // last: its slots use everything above
};

bool SlurmExecutor::Impl::Dispatch(Run& run, std::string& reason) {
  absl::StatusOr<std::string> secret = auth::NewToken();
  if (!secret.ok()) {
    reason = std::string(secret.status().message());
    return false;
  }
  absl::StatusOr<slurm::JobId> job = launcher_.Submit(run.run_id, *secret);
  if (!job.ok()) {
    reason = std::string(job.status().message());
    return false;
  }
  std::lock_guard lock(run.mutex);
  run.job_id = *job;
  run.secret_sha256 = auth::TokenHash(*secret);
  ++run.dispatches;
  run.slurm_ended = false;
  const store::SlurmDispatch record{run.job_id, run.secret_sha256, run.dispatches};
  // A run whose dispatch is not stored still trains; only a server restart would lose track of
  // its job (and dispatch it again).
  if (absl::Status s = store_.PutSlurmDispatch(run.run_id, record); !s.ok()) {
    spdlog::warn("run {}: could not record its Slurm job {}: {}", run.run_id, run.job_id,
                 std::string(s.message()));
  }
  spdlog::info("run {} dispatched as Slurm job {} ({} of {} dispatches)", run.run_id, run.job_id,
               run.dispatches, options_.max_dispatches);
  return true;
}

void SlurmExecutor::Impl::Supervise(jobs::RunRequest& request) {
  auto run = std::make_shared<Run>();
  run->run_id = request.run_id;
  run->listener = request.listener;
  run->config = request.config;
  run->init = request.init;
  run->checkpoints = request.checkpoints;
  // A run scheduled again after a restart may still have its job on Slurm.
  if (absl::StatusOr<std::optional<store::SlurmDispatch>> stored =
          store_.GetSlurmDispatch(request.run_id);
      stored.ok() && stored->has_value()) {
    run->job_id = (*stored)->slurm_job_id;
    run->secret_sha256 = (*stored)->secret_sha256;
    run->dispatches = (*stored)->dispatches;
    spdlog::info("run {}: looking for its Slurm job {} ({} dispatches so far)", run->run_id,
                 run->job_id, run->dispatches);
  }
  {
    std::lock_guard lock(mutex_);
    runs_[run->run_id] = run;
    poll_now_ = true;
  }
  poll_wake_.notify_all();
  std::string last_reason;
  int failed_submissions = 0;
  enum class End { kResult, kFailure, kStopped, kDetached, kLost } end;
  std::optional<std::string> failure;
  for (;;) {
    bool need_job;
    {
      std::lock_guard lock(run->mutex);
      need_job = run->job_id == 0;
    }
    if (need_job && !request.stop.stop_requested() && !Detached()) {
      int dispatches;
      {
        std::lock_guard lock(run->mutex);
        dispatches = run->dispatches + failed_submissions;
      }
      if (dispatches >= options_.max_dispatches) {
        failure = absl::StrCat("the run was dispatched to Slurm ", dispatches,
                               " times without finishing; the last time: ", last_reason);
        end = End::kFailure;
        break;
      }
      if (!Dispatch(*run, last_reason)) {
        ++failed_submissions;
        spdlog::warn("run {}: submitting it to Slurm failed: {}", run->run_id, last_reason);
        // Not at once again: the controller may be restarting.
        if (dispatches + 1 < options_.max_dispatches) {
          std::unique_lock lock(run->mutex);
          run->changed.wait_for(lock, request.stop, std::chrono::seconds(failed_submissions),
                                [] { return false; });
        }
        continue;
      }
      std::lock_guard lock(mutex_);
      poll_now_ = false;  // a job just submitted is there; the next regular poll will see it
    }
    std::unique_lock lock(run->mutex);
    run->changed.wait(lock, request.stop, [&] {
      return run->result || run->failure || (run->slurm_ended && run->stream == nullptr) ||
             Detached();
    });
    if (run->result && run->result->outcome == core::Outcome::kCancelled &&
        !request.stop.stop_requested() && !Detached()) {
      // Stopped by someone else (scancel by hand, a time limit, a preemption): for the server
      // the job is lost, and the run goes on in a new one once this one has ended.
      spdlog::warn("run {}: its worker (Slurm job {}) was stopped from outside the server",
                   run->run_id, run->job_id);
      run->result.reset();
      continue;
    }
    if (Detached()) {
      end = End::kDetached;
    } else if (run->result) {
      end = End::kResult;
    } else if (run->failure) {
      failure = run->failure;
      end = End::kFailure;
    } else if (request.stop.stop_requested()) {
      end = End::kStopped;
    } else {
      end = End::kLost;
    }
    if (end != End::kLost) break;
    const slurm::JobId lost = run->job_id;
    lock.unlock();
    // The job ended without the run's result: how, in Slurm's words.
    absl::StatusOr<slurm::JobOutcome> outcome = launcher_.Outcome(lost);
    last_reason = outcome.ok() ? outcome->Describe(launcher_.Program())
                               : std::string(outcome.status().message());
    if (outcome.ok() && outcome->signal == 0 &&
        (outcome->exit_code == slurm::kExitProgramMissing ||
         outcome->exit_code == slurm::kExitProgramNotExecutable)) {
      failure = absl::StrCat("the worker could not start: ", last_reason,
                             " Install ablate-worker on the nodes or fix --slurm-worker.");
      end = End::kFailure;
      break;
    }
    spdlog::warn("run {}: its Slurm job {} ended without the run's result: {}", run->run_id, lost,
                 last_reason);
    lock.lock();
    run->job_id = 0;
  }

  if (end == End::kStopped || (end == End::kFailure && failure)) {
    slurm::JobId job;
    {
      std::lock_guard lock(run->mutex);
      job = run->slurm_ended ? 0 : run->job_id;
    }
    if (job != 0) {
      if (absl::Status s = launcher_.Cancel(job); !s.ok()) {
        spdlog::warn("run {}: scancel of Slurm job {} failed: {}", run->run_id, job,
                     std::string(s.message()));
      }
    }
  }
  if (end == End::kStopped) {
    // The worker reports the cancelled run at its next step; a job still pending never will.
    std::unique_lock lock(run->mutex);
    run->changed.wait_for(lock, absl::ToChronoMilliseconds(options_.cancel_wait), [&] {
      return run->result || run->failure || run->job_id == 0 ||
             (run->slurm_ended && run->stream == nullptr) || Detached();
    });
  }

  // Closed: no stream calls the listener from here on.
  std::optional<core::RunResult> result;
  {
    std::lock_guard listener_lock(run->listener_mutex);
    std::lock_guard lock(run->mutex);
    run->closed = true;
    if (run->stream != nullptr) run->stream->TryCancel();
    result = run->result;
    if (!failure && run->failure) failure = run->failure;
    if (end == End::kStopped && !result && !failure) {
      core::RunResult stopped;
      stopped.outcome = core::Outcome::kCancelled;
      stopped.steps_run = run->first_step < 0 ? 0
                                              : run->first_step +
                                                    static_cast<int>(run->loss_bits.size());
      stopped.final_loss = run->last_loss;
      result = stopped;
    }
  }
  {
    std::lock_guard lock(mutex_);
    runs_.erase(run->run_id);
  }
  if (end == End::kDetached) {
    core::RunResult interrupted;
    interrupted.outcome = core::Outcome::kCancelled;
    request.listener->OnFinished(interrupted);
  } else if (failure && !(end == End::kResult)) {
    request.listener->OnFailed(*failure);
  } else if (result) {
    request.listener->OnFinished(*result);
  } else {
    request.listener->OnFailed("the run ended without a result");
  }
}

void SlurmExecutor::Impl::PollLoop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    poll_wake_.wait_for(lock, absl::ToChronoMilliseconds(options_.poll_interval),
                        [this] { return stopping_ || poll_now_; });
    if (stopping_) return;
    poll_now_ = false;
    std::vector<std::shared_ptr<Run>> runs;
    for (auto& [id, run] : runs_) runs.push_back(run);
    lock.unlock();
    std::vector<std::pair<std::shared_ptr<Run>, slurm::JobId>> watched;
    std::vector<slurm::JobId> ids;
    for (auto& run : runs) {
      std::lock_guard run_lock(run->mutex);
      if (run->job_id != 0 && !run->slurm_ended) {
        watched.emplace_back(run, run->job_id);
        ids.push_back(run->job_id);
      }
    }
    if (!ids.empty()) {
      absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> states =
          launcher_.Poll(ids);
      if (!states.ok()) {
        spdlog::warn("polling {} Slurm jobs failed: {}", ids.size(),
                     std::string(states.status().message()));
      } else {
        for (auto& [run, job] : watched) {
          auto it = states->find(job);
          if (it != states->end() && !slurm::IsFinal(it->second.state)) continue;
          std::lock_guard run_lock(run->mutex);
          if (run->job_id != job) continue;  // dispatched again meanwhile
          run->slurm_ended = true;
          run->changed.notify_all();
        }
      }
    }
    lock.lock();
  }
}

grpc::Status SlurmExecutor::Impl::NotSupervised(const v1::Hello& hello) {
  absl::StatusOr<std::optional<store::SlurmDispatch>> stored =
      store_.GetSlurmDispatch(hello.run_id());
  const grpc::Status refused(grpc::StatusCode::UNAUTHENTICATED,
                             absl::StrCat("the secret is not run ", hello.run_id(),
                                          "'s (or the run does not exist)"));
  if (!stored.ok()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(stored.status().message()));
  }
  if (!stored->has_value() ||
      !SameSecret((*stored)->secret_sha256, auth::TokenHash(hello.secret()))) {
    spdlog::warn("run {}: refused a worker (Slurm job {}, host {}) with a wrong secret",
                 hello.run_id(), hello.slurm_job_id(), hello.host());
    return refused;
  }
  absl::StatusOr<store::RunRecord> stored_run = store_.GetRun(hello.run_id());
  if (stored_run.ok() && store::IsTerminal(stored_run->state)) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("run ", hello.run_id(), " has ended; stop"));
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("run ", hello.run_id(),
                                   " is not scheduled yet (the server is starting); try again"));
}

grpc::Status SlurmExecutor::Impl::Connect(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ServerMessage, v1::WorkerMessage>* stream) {
  v1::WorkerMessage first;
  if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::CANCELLED, "no hello");
  if (!first.has_hello()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be a Hello");
  }
  const v1::Hello& hello = first.hello();
  std::shared_ptr<Run> run = Find(hello.run_id());
  if (run == nullptr) return NotSupervised(hello);
  const std::string hash = auth::TokenHash(hello.secret());
  {
    std::lock_guard lock(run->mutex);
    if (run->job_id == 0 || !SameSecret(run->secret_sha256, hash)) {
      spdlog::warn("run {}: refused a worker (Slurm job {}, host {}) with a wrong secret",
                   hello.run_id(), hello.slurm_job_id(), hello.host());
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          absl::StrCat("the secret is not that of run ", hello.run_id(),
                                       "'s current Slurm job"));
    }
    // A newer stream of the same worker (it reconnected) replaces the old one.
    if (run->stream != nullptr) run->stream->TryCancel();
    run->stream = context;
  }
  auto detach = [&] {
    std::lock_guard lock(run->mutex);
    if (run->stream == context) run->stream = nullptr;
    run->changed.notify_all();
  };
  spdlog::info("run {}: worker connected from {} (Slurm job {}{})", hello.run_id(), hello.host(),
               hello.slurm_job_id(), hello.training() ? ", reconnecting" : "");

  {
    std::lock_guard listener_lock(run->listener_mutex);
    if (run->closed) {
      detach();
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "the run has ended; stop");
    }
    if (hello.training()) {
      v1::ServerMessage resumed;
      resumed.mutable_resumed();
      stream->Write(resumed);
    } else {
      if (hello.fingerprint() != core::ThisBuildFingerprint().id) {
        spdlog::warn("run {}: its worker's build has fingerprint {}, the server's {}: its steps "
                     "may differ in their last bits from the same run trained elsewhere",
                     run->run_id, hello.fingerprint(), core::ThisBuildFingerprint().id);
      }
      const std::string checkpoint = run->listener->OnStarting(hello.fingerprint());
      v1::ServerMessage message;
      v1::Assignment& a = *message.mutable_assignment();
      *a.mutable_experiment() = ToProto(run->config);
      *a.mutable_init() = ToProto(run->init);
      a.set_checkpoint_every_steps(run->checkpoints.every_steps);
      a.set_checkpoint_every_seconds(run->checkpoints.every_seconds);
      a.set_resume_bytes(static_cast<int64_t>(checkpoint.size()));
      bool ok = stream->Write(message);
      for (size_t at = 0; ok && at < checkpoint.size(); at += kChunkBytes) {
        v1::ServerMessage chunk;
        chunk.mutable_resume()->set_data(checkpoint.substr(at, kChunkBytes));
        ok = stream->Write(chunk);
      }
    }
    if (!run->started) {
      run->started = true;
      run->listener->OnStarted();
    }
  }

  std::string checkpoint;
  v1::WorkerMessage message;
  while (stream->Read(&message)) {
    bool ended = false;
    grpc::Status status = Receive(*run, context, message, checkpoint, ended);
    if (!status.ok() || ended) {
      if (!status.ok()) {
        spdlog::warn("run {}: dropping its worker's stream: {}", run->run_id,
                     status.error_message());
      }
      detach();
      return status;
    }
  }
  detach();
  return grpc::Status(grpc::StatusCode::CANCELLED, "the stream ended before the run's outcome");
}

void SlurmExecutor::Impl::DeliverStep(Run& run, const v1::Step& s, grpc::Status& status) {
  if (s.step() < 0 || s.step() >= run.config.train.steps) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("step ", s.step(), " is outside the run's ",
                                       run.config.train.steps, " steps"));
    return;
  }
  const uint32_t bits = std::bit_cast<uint32_t>(s.loss());
  const core::StepRecord record{.step = s.step(),
                                .loss = s.loss(),
                                .weight_grad_norm = s.weight_grad_norm(),
                                .seconds = s.seconds()};
  if (run.first_step < 0) {
    run.first_step = s.step();
    run.loss_bits = {bits};
    run.last_loss = s.loss();
    run.listener->OnStep(record);
    return;
  }
  const int end = run.first_step + static_cast<int>(run.loss_bits.size());
  if (s.step() >= run.first_step && s.step() < end) {
    // Sent again (a reconnect) or trained again (a new dispatch): must be the same bits, and is
    // not recorded twice.
    if (run.loss_bits[s.step() - run.first_step] != bits) {
      std::lock_guard lock(run.mutex);
      if (!run.failure) {
        run.failure = absl::StrCat("the run, trained again on Slurm, did not reproduce its step ",
                                   s.step(), " bit for bit");
        run.changed.notify_all();
      }
      status = grpc::Status(grpc::StatusCode::ABORTED, *run.failure);
    }
    return;
  }
  if (s.step() > end) {
    status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("step ", s.step(), " came after step ", end - 1));
    return;
  }
  if (s.step() == end) {
    run.loss_bits.push_back(bits);
    run.last_loss = s.loss();
  }
  // Steps before first_step (from a checkpoint older than what this execution has seen) go to
  // the listener too, which checks them against the store.
  run.listener->OnStep(record);
}

grpc::Status SlurmExecutor::Impl::Receive(Run& run, grpc::ServerContext* context,
                                          const v1::WorkerMessage& message,
                                          std::string& checkpoint, bool& ended) {
  std::lock_guard listener_lock(run.listener_mutex);
  if (run.closed) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "the run has ended");
  grpc::Status status;
  switch (message.kind_case()) {
    case v1::WorkerMessage::kProgress:
      for (const v1::Event& event : message.progress().events()) {
        if (event.has_step()) {
          DeliverStep(run, event.step(), status);
          if (!status.ok()) return status;
        } else if (event.has_eval() &&
                   (event.eval().step() < 0 || event.eval().step() > run.config.train.steps)) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              absl::StrCat("an evaluation at step ", event.eval().step(),
                                           " is outside the run's steps"));
        } else if (event.has_eval() && event.eval().step() > run.last_eval) {
          run.last_eval = event.eval().step();
          run.listener->OnEval(core::EvalRecord{.step = event.eval().step(),
                                                .loss = event.eval().loss(),
                                                .accuracy = event.eval().accuracy()});
        }
      }
      return status;
    case v1::WorkerMessage::kCheckpoint: {
      const v1::CheckpointChunk& chunk = message.checkpoint();
      if (chunk.total_bytes() <= 0 || chunk.total_bytes() > kMaxCheckpointBytes ||
          static_cast<int64_t>(checkpoint.size() + chunk.data().size()) > chunk.total_bytes()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "a malformed checkpoint chunk");
      }
      checkpoint += chunk.data();
      if (static_cast<int64_t>(checkpoint.size()) == chunk.total_bytes()) {
        if (chunk.step() > run.last_checkpoint) {
          run.last_checkpoint = chunk.step();
          run.listener->OnCheckpoint(chunk.step(), checkpoint);
        }
        checkpoint.clear();
      }
      return status;
    }
    case v1::WorkerMessage::kOutcome: {
      std::lock_guard lock(run.mutex);
      run.result = FromProto(message.outcome());
      // Detached now, so that the run's end does not cancel the stream before it ends OK.
      if (run.stream == context) run.stream = nullptr;
      run.changed.notify_all();
      ended = true;
      return status;
    }
    case v1::WorkerMessage::kFailure: {
      std::lock_guard lock(run.mutex);
      run.failure = message.failure().error().empty() ? "the worker failed without a reason"
                                                      : message.failure().error();
      if (run.stream == context) run.stream = nullptr;
      run.changed.notify_all();
      ended = true;
      return status;
    }
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a worker message of an unexpected kind");
  }
}

SlurmExecutor::SlurmExecutor(store::Store& store, Launcher& launcher,
                             SlurmExecutorOptions options)
    : impl_(std::make_unique<Impl>(store, launcher, options)) {}
SlurmExecutor::~SlurmExecutor() = default;
void SlurmExecutor::Execute(jobs::RunRequest request) { impl_->Execute(std::move(request)); }
int SlurmExecutor::Workers() const { return impl_->Workers(); }
int SlurmExecutor::QueuedRuns() { return impl_->QueuedRuns(); }
void SlurmExecutor::Release() { impl_->Release(); }
void SlurmExecutor::Detach() { impl_->Detach(); }
grpc::Service& SlurmExecutor::service() { return *impl_; }

}  // namespace ablate::worker
