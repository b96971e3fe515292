// The Slurm executor's insides (internal to server/worker/), shared by its two halves:
// slurm_executor.cc supervises runs (dispatching each as a Slurm job, watching it with squeue,
// dispatching it again or failing it), and worker_stream.cc is the server's side of the worker
// protocol (a connected ablate-worker's hello, resume, steps, checkpoints and end).
#ifndef ABLATE_SERVER_WORKER_SLURM_EXECUTOR_IMPL_H_
#define ABLATE_SERVER_WORKER_SLURM_EXECUTOR_IMPL_H_

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
#include "spdlog/spdlog.h"
#include "server/worker/slurm_executor.h"

namespace ablate::worker {

// One run on a slot, shared by the slot's thread, the worker's stream and the poller.
struct SupervisedRun {
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
  std::optional<int> RunsAhead(std::span<const int64_t> run_ids) {
    return pool_.RunsAhead(run_ids);
  }
  void Release() { pool_.Release(); }

  // Only a flag: each run sees it when its stop wakes it (after the job manager has begun to
  // shut down, so that the run's end is not recorded).
  void Detach() { detached_ = true; }

  void WakeAll() {
    std::vector<std::shared_ptr<SupervisedRun>> runs;
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
  bool Dispatch(SupervisedRun& run, std::string& reason);
  void PollLoop();
  std::shared_ptr<SupervisedRun> Find(int64_t run_id) {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(run_id);
    return it == runs_.end() ? nullptr : it->second;
  }
  // Who may connect for a run that is not supervised here: an error for the worker.
  grpc::Status NotSupervised(const v1::Hello& hello);
  // Handles one message of a connected worker; an error ends its stream. Sets `ended` for the
  // run's last message.
  grpc::Status Receive(SupervisedRun& run, grpc::ServerContext* context,
                       const v1::WorkerMessage& message, std::string& checkpoint, bool& ended);
  void DeliverStep(SupervisedRun& run, const v1::Step& step, grpc::Status& status);
  bool Detached() const { return detached_.load(); }

  store::Store& store_;
  Launcher& launcher_;
  const SlurmExecutorOptions options_;
  std::mutex mutex_;
  std::condition_variable poll_wake_;
  // Supervised, by run id; guarded by mutex_.
  std::map<int64_t, std::shared_ptr<SupervisedRun>> runs_;
  std::atomic<bool> detached_{false};
  bool stopping_ = false;                          // guarded by mutex_
  bool poll_now_ = false;                          // guarded by mutex_
  std::thread poller_;
  jobs::LocalExecutor pool_;  // last: its slots use everything above
};

}  // namespace ablate::worker

#endif  // ABLATE_SERVER_WORKER_SLURM_EXECUTOR_IMPL_H_
