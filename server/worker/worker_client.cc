#include "server/worker/worker_client.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "ablate/worker/v1/worker.grpc.pb.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/fingerprint.h"
#include "core/run.h"
#include "grpcpp/grpcpp.h"
#include "server/worker/convert.h"

namespace ablate::worker {
namespace {

// Events per Progress message: far below the server's 1 MiB message limit.
constexpr size_t kMaxEventsPerMessage = 10000;
// Bytes of a checkpoint per message, for the same limit.
constexpr size_t kChunkBytes = 512 << 10;
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(200);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

// Everything the trainer has reported, kept so that a new connection can send it again.
class Log final : public core::RunObserver {
 public:
  void OnStep(const core::StepRecord& step) override {
    v1::Event event;
    v1::Step& s = *event.mutable_step();
    s.set_step(step.step);
    s.set_loss(step.loss);
    s.set_weight_grad_norm(step.weight_grad_norm);
    s.set_seconds(step.seconds);
    Add(std::move(event));
  }
  void OnEval(const core::EvalRecord& eval) override {
    v1::Event event;
    v1::Eval& e = *event.mutable_eval();
    e.set_step(eval.step);
    e.set_loss(eval.loss);
    e.set_accuracy(eval.accuracy);
    Add(std::move(event));
  }
  void OnCheckpoint(int step, std::string_view checkpoint) override {
    {
      absl::MutexLock lock(&mutex);
      this->checkpoint.assign(checkpoint);
      checkpoint_step = step;
      ++checkpoint_serial;
    }
    changed.SignalAll();
  }
  void End(v1::WorkerMessage message) {
    {
      absl::MutexLock lock(&mutex);
      last = std::move(message);
    }
    changed.SignalAll();
  }

  absl::Mutex mutex;
  absl::CondVar changed;
  std::vector<v1::Event> events ABSL_GUARDED_BY(mutex);
  std::string checkpoint ABSL_GUARDED_BY(mutex);  // the latest
  int checkpoint_step ABSL_GUARDED_BY(mutex) = 0;
  uint64_t checkpoint_serial ABSL_GUARDED_BY(mutex) = 0;         // 0: none yet
  std::optional<v1::WorkerMessage> last ABSL_GUARDED_BY(mutex);  // Outcome or Failure

 private:
  void Add(v1::Event event) {
    {
      absl::MutexLock lock(&mutex);
      events.push_back(std::move(event));
    }
    changed.SignalAll();
  }
};

void Train(core::RunPlan plan, Log& log, std::stop_token stop) {
  v1::WorkerMessage end;
  try {
    std::string error;
    std::optional<core::RunResult> result = core::TrainRun(plan, &log, stop, &error);
    if (result) {
      *end.mutable_outcome() = ToProto(*result);
    } else {
      end.mutable_failure()->set_error(error);
    }
  } catch (const std::exception& e) {
    end.mutable_failure()->set_error(absl::StrCat("the worker could not train the run: ", e.what()));
  }
  log.End(std::move(end));
}

// Sleeps, or less when `stop` is requested.
void Pause(absl::Duration pause, std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_for(lock, stop, absl::ToChronoMilliseconds(pause), [] { return false; });
}

// Sends what the log holds beyond `sent` (events) and a checkpoint newer than `sent_checkpoint`,
// then the run's end once everything before it is sent. Returns the stream's status once it
// has finished (OK: the server has the run's end), or nothing when a write failed (the caller
// finishes the stream).
std::optional<grpc::Status> Stream(grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>& stream, Log& log,
            const WorkerOptions& options, absl::Time& last_contact, bool& wrote_end) {
  size_t sent = 0;
  uint64_t sent_checkpoint = 0;
  for (;;) {
    v1::WorkerMessage progress;
    std::string checkpoint;
    int checkpoint_step = 0;
    std::optional<v1::WorkerMessage> last;
    {
      absl::MutexLock lock(&log.mutex);
      while (log.events.size() <= sent && log.checkpoint_serial == sent_checkpoint &&
             !log.last.has_value()) {
        log.changed.Wait(&log.mutex);
      }
      const size_t end = std::min(log.events.size(), sent + kMaxEventsPerMessage);
      for (size_t i = sent; i < end; ++i) *progress.mutable_progress()->add_events() = log.events[i];
      if (log.checkpoint_serial != sent_checkpoint) {
        checkpoint = log.checkpoint;
        checkpoint_step = log.checkpoint_step;
        sent_checkpoint = log.checkpoint_serial;
      }
      if (end == log.events.size() && log.last) last = log.last;
    }
    const int n = progress.progress().events_size();
    if (n > 0) {
      if (!stream.Write(progress)) return std::nullopt;
      sent += n;
      last_contact = absl::Now();
    }
    for (size_t at = 0; at < checkpoint.size(); at += kChunkBytes) {
      v1::WorkerMessage chunk;
      v1::CheckpointChunk& c = *chunk.mutable_checkpoint();
      c.set_step(checkpoint_step);
      c.set_total_bytes(static_cast<int64_t>(checkpoint.size()));
      c.set_data(checkpoint.substr(at, kChunkBytes));
      if (!stream.Write(chunk)) return std::nullopt;
    }
    if (last) {
      if (!stream.Write(*last)) return std::nullopt;
      wrote_end = true;
      stream.WritesDone();
      v1::ServerMessage ignored;
      while (stream.Read(&ignored)) {
      }
      return stream.Finish();
    }
    // Lets the next steps gather into one message.
    absl::SleepFor(options.batch_interval);
  }
}

}  // namespace

int RunWorker(const WorkerOptions& options, std::string* error) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  // Notice a server that vanished without closing the connection (a lost machine).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.server_ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.server_ca_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.server, credentials, args);
  std::unique_ptr<v1::RunWorker::Stub> stub = v1::RunWorker::NewStub(channel);

  Log log;
  std::stop_source stop_training;
  std::stop_callback forward_stop(options.stop, [&] { stop_training.request_stop(); });
  std::jthread trainer;
  bool training = false;
  absl::Time last_contact = absl::Now();
  absl::Duration backoff = kFirstBackoff;
  std::string problem = "no answer yet";
  bool delivered_end = false;  // the run's end was written to a stream
  for (;;) {
    if (absl::Now() - last_contact > options.reconnect_for) {
      *error = absl::StrCat("could not reach the server at ", options.server, " for ",
                            absl::FormatDuration(options.reconnect_for), " (", problem,
                            "); giving up");
      stop_training.request_stop();
      return kExitUnreachable;
    }
    if (!training && options.stop.stop_requested()) {
      *error = "stopped before the run started";
      return kExitUnreachable;
    }
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::ServerMessage>> stream =
        stub->Connect(&context);
    v1::WorkerMessage hello;
    v1::Hello& h = *hello.mutable_hello();
    h.set_run_id(options.run_id);
    h.set_secret(options.secret);
    h.set_slurm_job_id(options.slurm_job_id);
    h.set_fingerprint(core::ThisBuildFingerprint().id);
    h.set_training(training);
    h.set_host(options.host);
    v1::ServerMessage reply;
    if (!stream->Write(hello) || !stream->Read(&reply)) {
      const grpc::Status status = stream->Finish();
      if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION && delivered_end) {
        return kExitDelivered;  // the server had the run's end when the stream broke
      }
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
          status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
        *error = absl::StrCat("the server refused this worker: ", status.error_message());
        stop_training.request_stop();
        return kExitRefused;
      }
      problem = status.error_message();
      Pause(backoff, options.stop);
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    last_contact = absl::Now();
    backoff = kFirstBackoff;
    if (!training) {
      if (!reply.has_assignment()) {
        *error = "the server's first answer was not the run";
        return kExitProtocol;
      }
      core::RunPlan plan;
      plan.config = FromProto(reply.assignment().experiment());
      plan.init = FromProto(reply.assignment().init());
      plan.checkpoints.every_steps = reply.assignment().checkpoint_every_steps();
      plan.checkpoints.every_seconds = reply.assignment().checkpoint_every_seconds();
      const int64_t resume_bytes = reply.assignment().resume_bytes();
      bool complete = true;
      while (static_cast<int64_t>(plan.resume_from.size()) < resume_bytes) {
        v1::ServerMessage chunk;
        if (!stream->Read(&chunk) || !chunk.has_resume()) {
          complete = false;
          break;
        }
        plan.resume_from += chunk.resume().data();
      }
      if (!complete || static_cast<int64_t>(plan.resume_from.size()) != resume_bytes) {
        context.TryCancel();
        stream->Finish();
        problem = "the run's checkpoint did not arrive whole";
        continue;
      }
      if (std::optional<core::ConfigError> bad = core::Validate(plan.config)) {
        v1::WorkerMessage failure;
        failure.mutable_failure()->set_error(
            absl::StrCat("the run's ", bad->field, " is invalid: ", bad->message));
        log.End(std::move(failure));
      } else if (std::optional<core::ConfigError> bad_init = core::Validate(plan.init)) {
        v1::WorkerMessage failure;
        failure.mutable_failure()->set_error(
            absl::StrCat("the run's ", bad_init->field, " is invalid: ", bad_init->message));
        log.End(std::move(failure));
      } else {
        trainer = std::jthread([&log, &stop_training, plan = std::move(plan)] {
          Train(plan, log, stop_training.get_token());
        });
      }
      training = true;
    } else if (!reply.has_resumed()) {
      *error = "the server did not let the reconnected worker go on";
      return kExitProtocol;
    }
    std::optional<grpc::Status> finished =
        Stream(*stream, log, options, last_contact, delivered_end);
    if (finished && finished->ok()) return kExitDelivered;
    if (!finished) context.TryCancel();
    const grpc::Status status = finished ? *finished : stream->Finish();
    problem = status.ok() ? "the stream ended" : status.error_message();
    if (status.error_code() == grpc::StatusCode::ABORTED) {
      *error = absl::StrCat("the server stopped this worker: ", status.error_message());
      stop_training.request_stop();
      return kExitRefused;
    }
  }
}

}  // namespace ablate::worker
