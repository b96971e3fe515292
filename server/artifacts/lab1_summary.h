// The parts of Summarize (summary.h) that only lab 1 (shared/lab/lab-01-init-ablation.txt)
// asks for: the results_summary figures named after its three inits, Block D question 4's
// depth prediction and its check, and the Pitfalls section's checks. Each reads the runs
// Summarize has already summarised and fills its part of the JobSummary. Internal to
// server/artifacts.
#ifndef ABLATE_SERVER_ARTIFACTS_LAB1_SUMMARY_H_
#define ABLATE_SERVER_ARTIFACTS_LAB1_SUMMARY_H_

#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "core/config.h"
#include "server/artifacts/summary.h"

namespace ablate::artifacts::lab1 {

// Fills the lab's named results (uniform/xavier/kaiming fields of JobSummary) from s.runs.
void FillResults(JobSummary& s);

// Question 4: for each distinct init (scheme and bounds) of `job`, the variance-gain
// prediction at the job's depth and twice it (s.predictions), and whether the run behaved as
// the regime at its own depth implies (s.depth_checks). `shapes` are the MLP's layers.
void PredictDepths(const v1::Job& job, const std::vector<core::LayerShape>& shapes,
                   JobSummary& s);

// The Pitfalls checks (s.checks): identical curves, every run diverged, every run trained, and
// uniform's drawn variance against its bounds.
void RunPitfallChecks(const v1::JobSpec& spec, JobSummary& s);

}  // namespace ablate::artifacts::lab1

#endif  // ABLATE_SERVER_ARTIFACTS_LAB1_SUMMARY_H_
