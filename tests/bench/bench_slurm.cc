// Times the Slurm driver on a running cluster (run-slurm-bench.sh starts a one-node one):
// the sbatch call, sbatch to the program running, one squeue poll of 20 and of 200 job ids,
// and scontrol show job. Prints numbers; asserts nothing.
//
//   bench_slurm --cluster DIR --probe PATH [--submissions 20] [--polls 30]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/slurm/slurm_client.h"

namespace {

using ablate::slurm::JobId;
using ablate::slurm::SlurmClient;
using ablate::slurm::SubmitRequest;

void Print(const char* what, std::vector<double> ms) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  const double median =
      ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::printf("%-34s n=%-4zu median %8.1f ms   min %8.1f ms   max %8.1f ms\n", what, ms.size(),
              median, ms.front(), ms.back());
}

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// The probe's start time (time_ns= in its report), once the report exists.
bool ProbeStart(const std::string& report, absl::Time& start, absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  while (absl::Now() < deadline) {
    std::ifstream in(report);
    std::string line;
    while (in && std::getline(in, line)) {
      if (line.rfind("time_ns=", 0) == 0) {
        start = absl::FromUnixNanos(std::stoll(line.substr(8)));
        return true;
      }
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cluster, probe;
  int submissions = 20, polls = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--cluster") cluster = argv[i + 1];
    if (flag == "--probe") probe = argv[i + 1];
    if (flag == "--submissions") submissions = std::atoi(argv[i + 1]);
    if (flag == "--polls") polls = std::atoi(argv[i + 1]);
  }
  if (cluster.empty() || probe.empty() || submissions < 1 || polls < 1) {
    std::fprintf(stderr,
                 "usage: bench_slurm --cluster DIR --probe PATH [--submissions N] [--polls N]\n");
    return 2;
  }
  ablate::slurm::SlurmOptions options;
  options.slurm_conf = cluster + "/slurm.conf";
  options.jobcomp_file = cluster + "/jobcomp.log";
  auto client = SlurmClient::Create(options);
  if (!client.ok()) {
    std::fprintf(stderr, "%s\n", std::string(client.status().message()).c_str());
    return 1;
  }
  const std::string work = absl::StrCat(std::filesystem::temp_directory_path().string(),
                                        "/ablate-bench-slurm-", getpid());
  std::filesystem::create_directories(work);
  auto request = [&](const std::string& name) {
    SubmitRequest r;
    r.program = probe;
    r.args = {work + "/" + name + ".report"};
    r.job_name = "bench-" + name;
    r.working_dir = work;
    r.stdout_path = "/dev/null";
    r.stderr_path = "/dev/null";
    r.environment = {{"ABLATE_RUN_SECRET", "bench"}};
    return r;
  };

  // One job at a time, so that each start is measured on an idle node, each after a pause of
  // 0-1 s: slurmctld allocates on a once-a-second tick, and submitting right after the last job
  // ended would always land at the same point of it.
  std::vector<double> sbatch_ms, start_ms;
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> pause_ms(0, 999);
  for (int i = 0; i < submissions; ++i) {
    absl::SleepFor(absl::Milliseconds(pause_ms(random)));
    const std::string name = absl::StrCat("start", i);
    const absl::Time before = absl::Now();
    absl::StatusOr<JobId> id = (*client)->Submit(request(name));
    const absl::Time after = absl::Now();
    if (!id.ok()) {
      std::fprintf(stderr, "%s\n", std::string(id.status().message()).c_str());
      return 1;
    }
    absl::Time started;
    if (!ProbeStart(work + "/" + name + ".report", started, absl::Seconds(60))) {
      std::fprintf(stderr, "job %lld did not start within 60 s\n", static_cast<long long>(*id));
      return 1;
    }
    sbatch_ms.push_back(Ms(after - before));
    start_ms.push_back(Ms(started - before));
  }

  // 200 jobs that Slurm knows, to poll.
  std::vector<JobId> ids;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<JobId> id = (*client)->Submit(request(absl::StrCat("poll", i)));
    if (!id.ok()) {
      std::fprintf(stderr, "%s\n", std::string(id.status().message()).c_str());
      return 1;
    }
    ids.push_back(*id);
  }
  std::vector<double> poll20_ms, poll200_ms, scontrol_ms;
  for (int i = 0; i < polls; ++i) {
    for (auto [count, out] :
         {std::pair<size_t, std::vector<double>*>{20, &poll20_ms}, {200, &poll200_ms}}) {
      const absl::Time before = absl::Now();
      auto states = (*client)->Poll(absl::MakeConstSpan(ids.data(), count));
      const absl::Time after = absl::Now();
      if (!states.ok()) {
        std::fprintf(stderr, "%s\n", std::string(states.status().message()).c_str());
        return 1;
      }
      if (states->size() != count) {
        std::fprintf(stderr, "squeue knew %zu of %zu jobs\n", states->size(), count);
        return 1;
      }
      out->push_back(Ms(after - before));
    }
    const absl::Time before = absl::Now();
    auto outcome = (*client)->Outcome(ids[static_cast<size_t>(i) % ids.size()]);
    const absl::Time after = absl::Now();
    if (!outcome.ok()) {
      std::fprintf(stderr, "%s\n", std::string(outcome.status().message()).c_str());
      return 1;
    }
    scontrol_ms.push_back(Ms(after - before));
  }
  std::filesystem::remove_all(work);

  Print("sbatch call (Submit)", sbatch_ms);
  Print("sbatch -> program running", start_ms);
  Print("squeue poll of 20 ids (Poll)", poll20_ms);
  Print("squeue poll of 200 ids (Poll)", poll200_ms);
  Print("scontrol show job (Outcome)", scontrol_ms);
  return 0;
}
