// Where runs train. The job manager hands each run to an Executor and hears back through a
// RunListener; it never knows whether the run trains on a local thread or, later, elsewhere.
#ifndef ABLATE_SERVER_JOBS_EXECUTOR_H_
#define ABLATE_SERVER_JOBS_EXECUTOR_H_

#include <cstdint>
#include <optional>
#include <span>
#include <stop_token>
#include <string>

#include "core/config.h"
#include "core/trainer.h"

namespace ablate::jobs {

// A run's progress. Called on the executor's threads, one run at a time per listener; calls
// must return quickly (the run waits). Checkpoints come back through
// core::RunObserver::OnCheckpoint(step, bytes), as the executor's CheckpointPolicy asks.
class RunListener : public core::RunObserver {
 public:
  // The run begins training (not called when it was stopped while still queued).
  virtual void OnStarted() = 0;
  // Called just before the run trains, on the thread (or for the worker) that will train it, with
  // the fingerprint id of the build that will train it (core::ThisBuildFingerprint().id locally).
  // Returns the checkpoint (core/checkpoint.h bytes) to continue from, or empty to start at step 0.
  // (A checkpoint the trainer refuses ends the run with OnFailed, saying why.)
  virtual std::string OnStarting(const std::string& fingerprint) = 0;
  // Instead of OnStarting, when the run's worker was already training it for an earlier server
  // process and carries on (a remote worker reconnecting after a restart), with the fingerprint
  // of the worker's build: the run's start must be on record before its steps are, even when
  // the earlier process died before committing it. Executors whose runs cannot outlive the
  // server never call it.
  virtual void OnResumed(const std::string& fingerprint) { (void)fingerprint; }
  // The run ended: trained, diverged, or stopped (also while queued: outcome kCancelled with
  // no step). Exactly one of OnFinished and OnFailed is called, last.
  virtual void OnFinished(const core::RunResult& result) = 0;
  // The run could not train, e.g. out of memory.
  virtual void OnFailed(const std::string& error) = 0;
};

struct RunRequest {
  int64_t run_id = 0;
  // Whose run it is: the fairness key of the queue (the job's owner).
  std::string owner;
  core::ExperimentConfig config;  // validated
  core::InitConfig init;          // validated
  std::stop_token stop;           // stops the run within one step
  // When the run hands its listener checkpoints (OnCheckpoint); the default never does.
  core::CheckpointPolicy checkpoints;
  RunListener* listener = nullptr;  // borrowed: must outlive the run's last callback
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Queues a run and returns at once. Runs are shared fairly between owners: each owner's runs
  // start in the order they were queued, and owners with queued runs take turns (round robin
  // by owner, not first come first served), so one owner's long queue cannot hold back
  // another's first run. The turn is per run, not per job: a 3-run job of A interleaves with
  // B's runs. A queued run whose stop is requested ends promptly (OnFinished, kCancelled),
  // without waiting for a free worker.
  virtual void Execute(RunRequest request) = 0;
  // How many runs train at the same time.
  virtual int Workers() const = 0;
  // How many queued runs start before the first of `run_ids` to start, if no other run is
  // queued meanwhile (a newcomer's run can still pass it, as turns go by owner); nullopt when
  // none of them is waiting for a worker (started, ended, or unknown here).
  virtual std::optional<int> RunsAhead(std::span<const int64_t> run_ids) = 0;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_EXECUTOR_H_
