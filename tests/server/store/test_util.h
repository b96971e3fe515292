// Helpers shared by the store tests: a temporary directory, a resolved lab-1 spec, events.
#ifndef ABLATE_TESTS_SERVER_STORE_TEST_UTIL_H_
#define ABLATE_TESTS_SERVER_STORE_TEST_UTIL_H_

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/service/wire.h"
#include "server/store/store.h"
#include "tests/support/sqlite_files.h"

namespace ablate::store::testing {

// A fresh directory under the system's temp dir, removed with everything in it.
class TempDir : public test_support::TempDir {
 public:
  TempDir() : test_support::TempDir("ablate_store_test") {}
};

inline uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }
inline uint64_t Bits(double d) { return std::bit_cast<uint64_t>(d); }

// Lab 1's spec with every field set, as the service stores it after resolving defaults. Values
// that are easy to lose on a round trip are deliberate: a zero that is set (momentum), false
// (stop_on_nonfinite), a uint64 above 2^63, a double with no short decimal form, -0.0.
inline v1::JobSpec ResolvedSpec(const std::string& name = "lab-01-init-ablation",
                                std::vector<std::string> inits = {"uniform", "xavier", "kaiming"}) {
  v1::JobSpec spec;
  spec.set_name(name);
  spec.mutable_model()->set_depth(12);
  spec.mutable_model()->set_width(256);
  spec.mutable_model()->set_input_dim(256);
  spec.mutable_model()->set_classes(2);
  spec.mutable_data()->set_train_size(1000);
  spec.mutable_data()->set_val_size(200);
  spec.mutable_data()->set_label_dims(10);
  spec.mutable_data()->set_seed(18446744073709551615ull);
  spec.mutable_training()->set_steps(1000);
  spec.mutable_training()->set_lr(0.1 + 0.2);  // 0.30000000000000004
  spec.mutable_training()->set_momentum(0.0);
  spec.mutable_training()->set_batch(64);
  spec.mutable_training()->set_eval_every(50);
  spec.mutable_training()->set_stop_on_nonfinite(false);
  for (size_t i = 0; i < inits.size(); ++i) {
    v1::RunSpec* run = spec.add_runs();
    run->set_init(inits[i]);
    run->set_weight_seed(i == 0 ? 9223372036854775808ull : 101 + i);
    run->set_uniform_low(i == 0 ? -0.0 : -0.5);
    run->set_uniform_high(0.5);
  }
  return spec;
}

inline StepEvent Step(int64_t run_id, int32_t step, float loss, float grad_norm = 1.5f,
                      float seconds = 0.25f) {
  return StepEvent{run_id, step, loss, grad_norm, seconds};
}

inline EvalEvent Eval(int64_t run_id, int32_t step, float loss, float accuracy) {
  return EvalEvent{run_id, step, loss, accuracy};
}

inline absl::Time T(int64_t unix_ms) { return absl::FromUnixMillis(unix_ms); }

// A page of ListJobs in the wire schema's terms, through the service's mapping (wire.h): most
// tests here state the contract as the API shows it.
struct WirePage {
  std::vector<v1::Job> jobs;
  std::string next_page_token;
};
inline absl::StatusOr<WirePage> ListWire(JobStore& store, const v1::ListJobsRequest& request,
                                         std::optional<int64_t> class_id = std::nullopt) {
  absl::StatusOr<v1::ListJobsResponse> response = wire::ListJobs(store, request, class_id);
  if (!response.ok()) return response.status();
  WirePage page;
  page.jobs.assign(response->jobs().begin(), response->jobs().end());
  page.next_page_token = response->next_page_token();
  return page;
}

}  // namespace ablate::store::testing

#endif  // ABLATE_TESTS_SERVER_STORE_TEST_UTIL_H_
