// The server's side of the worker protocol (ablate.worker.v1.RunWorker/Connect): a worker proves
// which run it is, gets the run's configuration and checkpoint, and streams its steps,
// checkpoints and end, which reach the run's listener as a local run's would.
#include "server/worker/slurm_executor_impl.h"

#include "server/auth/token.h"
#include "server/worker/convert.h"

namespace ablate::worker {
namespace {

// Bytes of a checkpoint per ResumeChunk: well under the worker's message limit.
constexpr size_t kChunkBytes = 512 << 10;
// Largest checkpoint accepted from a worker: twice the parameters the core allows, as float32.
constexpr int64_t kMaxCheckpointBytes = int64_t{2} * core::kMaxParameters * 4 + (1 << 20);

// Compares in time independent of where the strings differ: a secret's hash is not to be
// guessed byte by byte from how long a refusal takes.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

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
  std::shared_ptr<SupervisedRun> run = Find(hello.run_id());
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
      // Trained for an earlier server process, perhaps: its start is recorded before its steps.
      run->listener->OnResumed(hello.fingerprint());
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

void SlurmExecutor::Impl::DeliverStep(SupervisedRun& run, const v1::Step& s, grpc::Status& status) {
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

grpc::Status SlurmExecutor::Impl::Receive(SupervisedRun& run, grpc::ServerContext* context,
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

}  // namespace ablate::worker
