// bench_job_end: what a job's end costs. Renders the deliverables of a job already stored in a
// data directory (artifacts::RenderJobArtifacts: the figures, reports and manifest, with no
// store writes) again and again on this thread, and prints the thread's CPU time per render
// and each file's size, then what bundle.zip (made from those files on download) costs. The first render of a thread also loads the fonts and touches new
// memory, which the server does once per finishing thread as it starts (WarmUpFigures): that
// is printed apart, and the repeats after it are what each job's end costs.
//
//   bench_job_end DATA_DIR [JOB_ID] [REPEATS]     (defaults: job 1, 10 repeats)
//
// e.g. after deploy/run-lab.sh:  build/tests/bench/bench_job_end ablate-data 1 20
// A benchmark, not a test: it prints numbers and asserts nothing.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "server/artifacts/artifacts.h"
#include "server/artifacts/bundle.h"
#include "server/artifacts/build_info.h"
#include "server/artifacts/host.h"
#include "server/artifacts/plot.h"
#include "server/store/sqlite_store.h"

namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int Usage(const char* why) {
  std::fprintf(stderr, "bench_job_end: %s\nusage: bench_job_end DATA_DIR [JOB_ID] [REPEATS]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ablate;
  if (argc < 2 || argc > 4) return Usage("wrong number of arguments");
  const std::string data_dir = argv[1];
  int64_t job_id = 1;
  int repeats = 10;
  if (argc > 2 && (!absl::SimpleAtoi(argv[2], &job_id) || job_id < 1)) {
    return Usage("JOB_ID must be a positive integer");
  }
  if (argc > 3 && (!absl::SimpleAtoi(argv[3], &repeats) || repeats < 1 || repeats > 10000)) {
    return Usage("REPEATS must be an integer from 1 to 10000");
  }

  store::OpenOptions options;
  options.read_only = true;
  auto store = store::SqliteStore::Open(data_dir + "/ablate.db", options);
  if (!store.ok()) {
    std::fprintf(stderr, "bench_job_end: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  auto data = artifacts::LoadJobData(**store, job_id);
  if (!data.ok()) {
    std::fprintf(stderr, "bench_job_end: job %ld: %s\n", static_cast<long>(job_id),
                 std::string(data.status().message()).c_str());
    return 1;
  }
  const artifacts::BuildInfo build = artifacts::ThisBuild();
  const artifacts::HostInfo host = artifacts::ReadHostInfo();

  double start = ThreadCpuSeconds();
  if (absl::Status warm = artifacts::WarmUpFigures(); !warm.ok()) {
    std::fprintf(stderr, "bench_job_end: %s\n", std::string(warm.message()).c_str());
    return 1;
  }
  std::printf("job %ld: %d runs; this thread's first figures (fonts, new memory): %.1f ms\n",
              static_cast<long>(job_id), data->job.runs_size(),
              (ThreadCpuSeconds() - start) * 1e3);

  std::vector<double> seconds;
  std::vector<store::Artifact> files;
  for (int r = 0; r < repeats; ++r) {
    start = ThreadCpuSeconds();
    auto rendered = artifacts::RenderJobArtifacts(*data, build, host, absl::Now());
    seconds.push_back(ThreadCpuSeconds() - start);
    if (!rendered.ok()) {
      std::fprintf(stderr, "bench_job_end: %s\n", std::string(rendered.status().message()).c_str());
      return 1;
    }
    files = *std::move(rendered);
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf("render of every file: median %.1f ms, min %.1f ms, max %.1f ms of CPU (%d repeats)\n",
              seconds[seconds.size() / 2] * 1e3, seconds.front() * 1e3, seconds.back() * 1e3,
              repeats);
  for (const store::Artifact& file : files) {
    std::printf("  %-24s %9zu bytes\n", file.name.c_str(), file.data.size());
  }

  // bundle.zip is not part of the job's end: it is made from these files when downloaded.
  std::vector<double> bundle_seconds;
  size_t bundle_bytes = 0;
  for (int r = 0; r < repeats; ++r) {
    start = ThreadCpuSeconds();
    auto bundle = artifacts::MakeBundle(job_id, files, absl::Now());
    bundle_seconds.push_back(ThreadCpuSeconds() - start);
    if (!bundle.ok()) {
      std::fprintf(stderr, "bench_job_end: %s\n", std::string(bundle.status().message()).c_str());
      return 1;
    }
    bundle_bytes = bundle->data.size();
  }
  std::sort(bundle_seconds.begin(), bundle_seconds.end());
  std::printf("bundle.zip, made on download from these files: median %.2f ms of CPU, %zu bytes\n",
              bundle_seconds[bundle_seconds.size() / 2] * 1e3, bundle_bytes);
  return 0;
}
