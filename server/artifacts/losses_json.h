// losses.json: every run's training loss at every step, and its validation results.
//
// Schema "ablate.losses/1" (a change that breaks readers bumps the number):
//   {
//     "schema": "ablate.losses/1",
//     "format": "<this description, in one sentence>",
//     "job_id": 7, "job_name": "lab-01-init-ablation",
//     "steps_planned": 1000,            // TrainingSpec.steps
//     "chance_loss": 0.6931472,         // ln(classes): the loss of a constant uniform guess
//     "runs": [                         // in spec order (index); one entry per run
//       { "run_id": 21, "index": 0,
//         "label": "uniform",           // unique in the file: the init, or "init (run ID)"
//                                        // when the job has several runs of that init
//         "init": "uniform", "formula": "U[-0.5, 0.5]", "weight_seed": 101,
//         "outcome": "diverged at step 2",
//         "steps": 3,                    // steps recorded = losses.length
//         "losses": [350215.2, 1.8e9, null],  // losses[s] is step s's mean training
//                                        // cross-entropy: float32 written as the shortest
//                                        // decimal that reads back as that float32; null where
//                                        // it was not finite
//         "first_nonfinite_step": 2,     // or null
//         "nonfinite": {"2": "nan"},     // every null in losses: "nan", "inf" or "-inf"
//         "flatline_step": null,         // Run.flatline_step, or null
//         "evals": [{"step": 50, "loss": 0.61, "accuracy": 0.7}]  // after `step` updates
//       } ] }
#ifndef ABLATE_SERVER_ARTIFACTS_LOSSES_JSON_H_
#define ABLATE_SERVER_ARTIFACTS_LOSSES_JSON_H_

#include <string>

#include "server/artifacts/summary.h"

namespace ablate::artifacts {

inline constexpr char kLossesSchema[] = "ablate.losses/1";

// losses.json for `summary`'s job, pretty-printed (two-space indent, one loss per line would be
// 1000s of lines: each losses array is written on one line).
std::string RenderLossesJson(const JobSummary& summary);

}  // namespace ablate::artifacts

#endif  // ABLATE_SERVER_ARTIFACTS_LOSSES_JSON_H_
