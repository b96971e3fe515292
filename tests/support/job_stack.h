// The training side of the server in process, over a store the test owns (a real one, or a
// test double that fails as a full or read-only disk does): the cursor hub, the event writer,
// a local executor and the job manager.
#ifndef ABLATE_TESTS_SUPPORT_JOB_STACK_H_
#define ABLATE_TESTS_SUPPORT_JOB_STACK_H_

#include <memory>
#include <utility>

#include "server/jobs/event_writer.h"
#include "server/jobs/job_manager.h"
#include "server/jobs/local_executor.h"
#include "server/store/store.h"

namespace ablate::test_support {

// Members are public for tests to reach into; `store` must outlive the stack. Destroying it
// stops the jobs first (their runs end and the writer drains), then the executor's workers,
// then the rest, as the server does.
struct JobStack {
  // `workers` runs train at once; `on_finish` is the job manager's finish hook (none when
  // empty); runs keep checkpoints as `checkpointing` says (its files, when given, must outlive
  // the stack); `finishing_threads` jobs end at once, each thread calling `on_finisher_start`
  // (when not empty) as it starts.
  JobStack(store::Store& store, int workers, jobs::FinishHook on_finish = nullptr,
           jobs::Checkpointing checkpointing = {}, int finishing_threads = 1,
           jobs::FinisherStart on_finisher_start = nullptr)
      : writer(std::make_unique<jobs::EventWriter>(store, hub, checkpointing.files)),
        executor(std::make_unique<jobs::LocalExecutor>(workers)),
        jobs(std::make_unique<jobs::JobManager>(store, *writer, *executor, std::move(on_finish),
                                                checkpointing, finishing_threads,
                                                std::move(on_finisher_start))) {}
  ~JobStack() {
    jobs->Shutdown();  // may already have been called: a second call does nothing
    executor.reset();
  }
  JobStack(const JobStack&) = delete;
  JobStack& operator=(const JobStack&) = delete;

  jobs::CursorHub hub;
  std::unique_ptr<jobs::EventWriter> writer;
  std::unique_ptr<jobs::LocalExecutor> executor;  // reset early by tests that stop it first
  std::unique_ptr<jobs::JobManager> jobs;
};

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_JOB_STACK_H_
