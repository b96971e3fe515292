#include "tests/server/artifacts/test_jobs.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/config.h"
#include "core/init.h"

namespace ablate::artifacts::testing {

v1::JobSpec LabSpec(int steps, int depth, int width) {
  v1::JobSpec spec;
  spec.set_name("lab-01-init-ablation");
  spec.mutable_model()->set_depth(depth);
  spec.mutable_model()->set_width(width);
  spec.mutable_model()->set_input_dim(width);
  spec.mutable_model()->set_classes(2);
  spec.mutable_data()->set_train_size(1000);
  spec.mutable_data()->set_val_size(200);
  spec.mutable_data()->set_label_dims(10);
  spec.mutable_data()->set_seed(1);
  spec.mutable_training()->set_steps(steps);
  spec.mutable_training()->set_lr(0.001);
  spec.mutable_training()->set_momentum(0.9);
  spec.mutable_training()->set_batch(64);
  spec.mutable_training()->set_eval_every(20);
  spec.mutable_training()->set_stop_on_nonfinite(true);
  return spec;
}

JobData MakeJobData(int64_t job_id, v1::JobSpec spec, const std::vector<FakeRun>& runs) {
  spec.clear_runs();
  for (const FakeRun& r : runs) {
    v1::RunSpec* rs = spec.add_runs();
    rs->set_init(r.init);
    rs->set_weight_seed(r.weight_seed);
    rs->set_uniform_low(r.uniform_low);
    rs->set_uniform_high(r.uniform_high);
  }
  JobData data;
  v1::Job& job = data.job;
  job.set_id(job_id);
  job.set_name(spec.name());
  job.set_owner("ada");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.mutable_created_at()->set_seconds(1714564800);  // 2024-05-01T12:00:00Z
  job.mutable_started_at()->set_seconds(1714564801);
  *job.mutable_spec() = spec;
  const int depth = spec.model().depth();
  for (size_t i = 0; i < runs.size(); ++i) {
    const FakeRun& r = runs[i];
    v1::Run* run = job.add_runs();
    run->set_id(job_id * 100 + static_cast<int64_t>(i));
    run->set_job_id(job_id);
    run->set_index(static_cast<int>(i));
    *run->mutable_spec() = spec.runs(static_cast<int>(i));
    std::optional<int> first_nonfinite;
    for (size_t s = 0; s < r.losses.size(); ++s) {
      if (!std::isfinite(r.losses[s])) {
        first_nonfinite = static_cast<int>(s);
        break;
      }
    }
    const int n = static_cast<int>(r.losses.size());
    if (r.cancelled) {
      run->set_state(v1::RUN_STATE_CANCELLED);
      run->set_outcome(absl::StrCat("cancelled at step ", n));
    } else if (first_nonfinite && spec.training().stop_on_nonfinite()) {
      run->set_state(v1::RUN_STATE_DIVERGED);
      run->set_outcome(absl::StrCat("diverged at step ", *first_nonfinite));
    } else {
      run->set_state(v1::RUN_STATE_COMPLETED);
      run->set_outcome(r.flatline_step ? absl::StrCat("flatlined at step ", *r.flatline_step)
                                       : "completed");
      v1::EvalResult* eval = run->mutable_final_eval();
      eval->set_run_id(run->id());
      eval->set_step(n);
      eval->set_loss(r.val_loss);
      eval->set_accuracy(r.val_accuracy);
    }
    run->set_steps_done(n);
    if (first_nonfinite) run->set_first_nonfinite_step(*first_nonfinite);
    if (r.flatline_step) run->set_flatline_step(*r.flatline_step);
    if (n > 0) run->set_final_loss(r.losses.back());
    core::InitConfig init;
    init.scheme = r.init;
    init.weight_seed = r.weight_seed;
    init.uniform_low = r.uniform_low;
    init.uniform_high = r.uniform_high;
    const core::InitScheme* scheme = core::FindInitScheme(r.init);
    for (int l = 0; l < depth; ++l) {
      const int fan_in = spec.model().width();
      const int fan_out = l == depth - 1 ? spec.model().classes() : spec.model().width();
      v1::LayerStats* stats = run->add_init_stats();
      stats->set_weight_variance(l < static_cast<int>(r.weight_variances.size())
                                     ? r.weight_variances[l]
                                     : scheme->variance(fan_in, fan_out, init));
      stats->set_activation_mean(0.5);
      stats->set_activation_std(1.0);
      // Step 0's gradient, when it ran: growing towards the output.
      if (n > 1 || (n == 1 && !first_nonfinite)) {
        stats->set_first_step_grad_norm(0.01 * (l + 1));
      }
    }
    run->set_seconds(0.0105 * n + 0.05);
    run->set_steps_per_second(n / run->seconds());
    run->mutable_started_at()->set_seconds(1714564801);
    run->mutable_finished_at()->set_seconds(1714564802 + static_cast<int64_t>(i));

    store::Trajectory t;
    t.run_id = run->id();
    for (int s = 0; s < n; ++s) {
      t.steps.push_back(s);
      t.losses.push_back(r.losses[s]);
      t.weight_grad_norms.push_back(0.1f);
      t.step_seconds.push_back(0.010f + 0.001f * static_cast<float>((s * 7) % 3 - 1));
    }
    const int every = spec.training().eval_every();
    size_t k = 0;
    for (int step = every; step <= n && !first_nonfinite; step += every, ++k) {
      t.evals.push_back(store::EvalRecord{
          .run_id = run->id(),
          .step = step,
          .loss = step + every <= n && k < r.val_curve.size() ? r.val_curve[k] : r.val_loss,
          .accuracy = r.val_accuracy});
    }
    data.trajectories.push_back(std::move(t));
  }
  return data;
}

std::vector<float> Decay(int steps, float start, float end, float wiggle) {
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    const double t = steps > 1 ? static_cast<double>(s) / (steps - 1) : 0;
    const double level = start * std::pow(end / start, t);
    losses.push_back(static_cast<float>(level * (1 + wiggle * std::sin(1.7 * s))));
  }
  return losses;
}

std::vector<float> Flat(int steps, float level, float wiggle) {
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    losses.push_back(level + wiggle * static_cast<float>(std::sin(2.3 * s)));
  }
  return losses;
}

std::vector<float> ThenNaN(std::vector<float> finite) {
  finite.push_back(kNaN);
  return finite;
}

FakeRun MakeRun(std::string init, uint64_t weight_seed, std::vector<float> losses) {
  FakeRun run;
  run.init = std::move(init);
  run.weight_seed = weight_seed;
  run.losses = std::move(losses);
  return run;
}

JobData LabLikeJob(int64_t job_id, int steps, int nan_step) {
  std::vector<float> uniform = {1e12f};
  for (int s = 1; s < nan_step; ++s) uniform.push_back(1e12f * static_cast<float>(s + 1));
  FakeRun u = MakeRun("uniform", 101, ThenNaN(uniform));
  FakeRun x = MakeRun("xavier", 102, Decay(steps, 0.693f, 0.6f));
  x.val_loss = 0.61f;
  x.val_accuracy = 0.66f;
  FakeRun k = MakeRun("kaiming", 103, Decay(steps, 0.693f, 0.02f));
  k.val_loss = 0.05f;
  k.val_accuracy = 0.985f;
  return MakeJobData(job_id, LabSpec(steps), {u, x, k});
}

JobData MemorisingJob(int64_t job_id, int steps) {
  FakeRun u = MakeRun("uniform", 101, ThenNaN({3.7e5f, 1.8e30f}));
  FakeRun x = MakeRun("xavier", 102, Decay(steps, 0.693f, 0.45f));
  x.val_loss = 0.63f;
  x.val_accuracy = 0.645f;
  FakeRun k = MakeRun("kaiming", 103, Decay(steps, 0.693f, 0.001f));
  k.val_curve = {0.6f, 0.8f, 1.2f, 1.5f, 1.7f, 1.8f, 1.9f, 1.95f, 1.98f, 1.99f};
  k.val_loss = 2.0f;
  k.val_accuracy = 0.525f;
  v1::JobSpec spec = LabSpec(steps);
  spec.mutable_training()->set_eval_every(steps / 10);
  return MakeJobData(job_id, spec, {u, x, k});
}

JobData DeepJob(int64_t job_id, int steps) {
  FakeRun u = MakeRun("uniform", 101, {kInf});
  FakeRun x = MakeRun("xavier", 102, Flat(steps, 0.6931f, 0.0005f));
  x.val_loss = 0.6932f;
  x.val_accuracy = 0.5f;
  FakeRun k = MakeRun("kaiming", 103, Decay(steps, 0.693f, 5e-5f));
  k.val_loss = 1.9f;
  k.val_accuracy = 0.55f;
  return MakeJobData(job_id, LabSpec(steps, 24), {u, x, k});
}

JobData SeedsJob(int64_t job_id, int steps) {
  std::vector<FakeRun> runs;
  const float finals[] = {0.3f, 0.01f, 0.1f}, vals[] = {0.5f, 1.5f, 0.9f},
              accuracies[] = {0.7f, 0.55f, 0.6f};
  for (int i = 0; i < 3; ++i) {
    FakeRun r = MakeRun("kaiming", 101 + i, Decay(steps, 0.693f, finals[i]));
    r.val_loss = vals[i];
    r.val_accuracy = accuracies[i];
    runs.push_back(r);
  }
  return MakeJobData(job_id, LabSpec(steps), runs);
}

JobData NothingDivergesJob(int64_t job_id, int steps) {
  std::vector<float> uniform = Decay(12, 3.0f, 0.7f, 0.0f);
  const std::vector<float> flat = Flat(steps - 12, 0.6931472f, 0.0f);
  uniform.insert(uniform.end(), flat.begin(), flat.end());
  FakeRun u = MakeRun("uniform", 101, uniform);
  u.flatline_step = 12;
  u.val_loss = 0.6931472f;
  u.val_accuracy = 0.5f;
  FakeRun x = MakeRun("xavier", 102, Decay(steps, 0.693f, 0.66f));
  x.val_loss = 0.67f;
  x.val_accuracy = 0.58f;
  FakeRun k = MakeRun("kaiming", 103, Decay(steps, 0.693f, 0.05f));
  k.val_loss = 0.09f;
  k.val_accuracy = 0.97f;
  return MakeJobData(job_id, LabSpec(steps), {u, x, k});
}

}  // namespace ablate::artifacts::testing
