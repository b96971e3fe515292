// A store whose file system turns read-only under it: from the Append that would take it past
// `writable_steps` steps on, every Append fails as SQLite's SQLITE_READONLY does
// (PermissionDenied); everything else is the real store's. Nothing can be recorded after that,
// not even a job's end, so its job stays unfinished in the store.
#ifndef ABLATE_TESTS_SUPPORT_READ_ONLY_STORE_H_
#define ABLATE_TESTS_SUPPORT_READ_ONLY_STORE_H_

#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "tests/support/forwarding_store.h"

namespace ablate::test_support {

class TurnsReadOnlyStore final : public ForwardingStore {
 public:
  TurnsReadOnlyStore(std::unique_ptr<store::Store> inner, int writable_steps)
      : ForwardingStore(std::move(inner)), writable_steps_(writable_steps) {}

  absl::StatusOr<std::vector<store::JobCursor>> Append(
      std::span<const store::Event> events) override {
    const int steps = StepsIn(events);
    if (steps_ + steps > writable_steps_) read_only_ = true;
    if (read_only_) {
      return absl::PermissionDeniedError("COMMIT: attempt to write a readonly database");
    }
    absl::StatusOr<std::vector<store::JobCursor>> result = inner().Append(events);
    if (result.ok()) steps_ += steps;
    return result;
  }

 private:
  const int writable_steps_;
  int steps_ = 0;           // only the writer thread appends
  bool read_only_ = false;  // likewise
};

}  // namespace ablate::test_support

#endif  // ABLATE_TESTS_SUPPORT_READ_ONLY_STORE_H_
