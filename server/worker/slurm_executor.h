// An Executor that trains each run in an ablate-worker process started as a Slurm job.
//
// The queue and its fairness (round robin by owner), and the ending of runs stopped while
// queued, are the local pool's (jobs::LocalExecutor): each of its `max_running` slots
// supervises one Slurm job instead of training. A run's life on a slot:
//  1. Dispatch: a new random secret; the launcher submits the worker with it (in the job's
//     environment); the job id, the secret's SHA-256 and the count of dispatches are stored
//     with the run (store::SlurmDispatch).
//  2. The worker connects to service() (ablate.worker.v1.RunWorker), proves the secret, and is
//     sent the run (with the checkpoint RunListener::OnStarting returns, if any, and the run's
//     CheckpointPolicy). Its steps,
//     evaluations, checkpoints and outcome go to the run's listener, as the local pool's
//     trainer would report them; the server stays the only writer of the store.
//  3. Liveness: one batched poll of every dispatched job every `poll_interval`, plus the
//     worker's stream. A job that Slurm reports ended (or no longer knows) while no worker is
//     connected and no outcome has arrived was lost (killed, node failure, time limit): the run
//     is dispatched again. The new worker trains from step 0 (or from a checkpoint); the steps
//     it reports again are compared bit for bit with those already reported, not recorded twice.
//     After `max_dispatches` lost jobs the run fails with Slurm's reason for the last one; a
//     worker program missing on the node fails it at once.
//  4. Stop (cancel): scancel; the worker ends the run at the next step and reports it
//     cancelled (or, if it never reports, the run ends cancelled with the steps received).
//
// Across a server restart the Slurm jobs go on: Detach() leaves them running, and a run
// scheduled again finds its stored dispatch, waits for its worker to reconnect (workers retry
// for a bounded time) and resend its progress, or dispatches it again if Slurm says the job
// has ended.
#ifndef ABLATE_SERVER_WORKER_SLURM_EXECUTOR_H_
#define ABLATE_SERVER_WORKER_SLURM_EXECUTOR_H_

#include <memory>

#include "absl/time/time.h"
#include "core/trainer.h"
#include "grpcpp/grpcpp.h"
#include "server/jobs/executor.h"
#include "server/store/store.h"
#include "server/worker/launcher.h"

namespace ablate::worker {

struct SlurmExecutorOptions {
  int max_running = 256;  // runs dispatched to Slurm at once; more wait in the server's queue
  int max_dispatches = 3;  // a run whose job is lost this many times fails
  absl::Duration poll_interval = absl::Seconds(5);  // one squeue of every dispatched job
  // After scancel, how long to wait for the worker's own report of the cancelled run.
  absl::Duration cancel_wait = absl::Seconds(30);
  // No queued run is dispatched until Release(), as LocalExecutor's `held`: a server holds the
  // queue while it queues the runs it recovers, so that the round robin by owner, not the order
  // of recovery, chooses which go to Slurm first when there are more than max_running.
  bool held = false;
};

class SlurmExecutor final : public jobs::Executor {
 public:
  // Borrows the store and the launcher, which must outlive the executor.
  SlurmExecutor(store::Store& store, Launcher& launcher, SlurmExecutorOptions options);
  // Detaches (see below) and joins its threads.
  ~SlurmExecutor() override;
  SlurmExecutor(const SlurmExecutor&) = delete;
  SlurmExecutor& operator=(const SlurmExecutor&) = delete;

  void Execute(jobs::RunRequest request) override;
  int Workers() const override;
  // Runs waiting for one of the `max_running` slots, as the local pool counts them; a run
  // already handed to Slurm waits in Slurm's own queue, which is not counted.
  std::optional<int> RunsAhead(std::span<const int64_t> run_ids) override;
  // Runs waiting for a slot: /metrics' ablate_run_queue_depth.
  int QueuedRuns();
  // Lets queued runs be dispatched (after a held start); does nothing otherwise.
  void Release();

  // For a server that stops: from now on a run's stop does not cancel its Slurm job; the run
  // ends at once with OnFinished(kCancelled) (the job manager, shutting down, records nothing),
  // leaving its job running for the next server to reconnect to. Call just before the job
  // manager's Shutdown (which stops the runs). The destructor detaches and ends every run.
  void Detach();

  // The service the workers connect to (ablate.worker.v1.RunWorker, synchronous): register it
  // on the server's gRPC builder. Its calls authenticate by the run's secret, not by a user.
  grpc::Service& service();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ablate::worker

#endif  // ABLATE_SERVER_WORKER_SLURM_EXECUTOR_H_
