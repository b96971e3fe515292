// The server's service layer in process, as main.cc wires it minus the network: the watch
// pool, a real store, the training side (job_stack.h) and the AblationService; plus the checks
// tests make on what a job streams.
#ifndef ABLATE_TESTS_SUPPORT_SERVICE_STACK_H_
#define ABLATE_TESTS_SUPPORT_SERVICE_STACK_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "server/service/wire.h"
#include "server/jobs/job_manager.h"
#include "server/service/service.h"
#include "server/store/store.h"
#include "tests/support/job_stack.h"

namespace ablate::test_support {

// Owns the stack; its members are public for tests to reach into. Destroying it stops the jobs
// first (their runs end and the writer drains), then the executor's workers, then the service
// and the rest in reverse order of construction, as the server does.
struct ServiceStack {
  // `workers` runs train at once; `on_finish` is the job manager's finish hook (none when
  // empty); `watch_threads` serve the watchers.
  explicit ServiceStack(int workers, service::ServiceOptions options = {},
                        const std::string& store_path = ":memory:",
                        jobs::FinishHook on_finish = nullptr, int watch_threads = 2)
      : pool(watch_threads),
        store(OpenStore(store_path)),
        training(*store, workers, std::move(on_finish)),
        service(std::make_unique<service::AblationService>(*store, *training.jobs, training.hub,
                                                           pool, options)) {}
  ~ServiceStack() {
    training.jobs->Shutdown();  // before the service goes, as in the server's drain
    training.executor.reset();
  }
  ServiceStack(const ServiceStack&) = delete;
  ServiceStack& operator=(const ServiceStack&) = delete;

  service::ThreadPool pool;
  std::unique_ptr<store::Store> store;
  JobStack training;  // hub, writer, executor, job manager
  std::unique_ptr<service::AblationService> service;

 private:
  static std::unique_ptr<store::Store> OpenStore(const std::string& path) {
    absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(path);
    if (!opened.ok()) {
      ADD_FAILURE() << "cannot open the store " << path << ": " << opened.status();
      std::abort();  // nothing in the stack can work without it
    }
    return std::move(*opened);
  }
};

// Whether a job in `state` has ended (succeeded, failed or cancelled).
inline bool JobEnded(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

// Polls the store until the job's state satisfies `done`; false when it has not after 60 s or
// the job cannot be read.
template <typename Done>
bool WaitForJob(store::Store& store, int64_t job_id, Done done) {
  using namespace std::chrono_literals;
  for (auto until = std::chrono::steady_clock::now() + 60s;
       std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(5ms)) {
    absl::StatusOr<v1::Job> job = wire::GetJob(store, job_id);
    if (!job.ok()) {
      ADD_FAILURE() << "job " << job_id << ": " << job.status();
      return false;
    }
    if (done(job->state())) return true;
  }
  return false;
}

// Polls the store until the job has ended; false when it has not after 60 s.
inline bool WaitUntilEnded(store::Store& store, int64_t job_id) {
  return WaitForJob(store, job_id, JobEnded);
}

// The losses of every run in `updates`, as the updates delivered them: checks, as test
// failures, that every step of every run arrives in order and exactly once (each run's steps
// continue where its previous ones ended, from step 0) and that cursors only grow. Updates
// resumed from a cursor must be appended to those received before it, so that a step missed
// or repeated at the seam fails the check.
inline std::map<int64_t, std::vector<float>> CollectSteps(
    const std::vector<v1::JobUpdate>& updates) {
  std::map<int64_t, std::vector<float>> losses;
  uint64_t cursor = 0;
  for (const v1::JobUpdate& u : updates) {
    EXPECT_GT(u.cursor(), cursor);
    cursor = u.cursor();
    for (const v1::StepLosses& s : u.steps()) {
      std::vector<float>& run = losses[s.run_id()];
      EXPECT_EQ(s.first_step(), static_cast<int>(run.size())) << "run " << s.run_id();
      run.insert(run.end(), s.losses().begin(), s.losses().end());
    }
  }
  return losses;
}

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_SERVICE_STACK_H_
