// The store's states: their names and which of them are ends (see records.h).
#include "server/store/records.h"

namespace ablate::store {

namespace {

// The one table of state names: the database's words (schema.sql), /metrics' labels.
template <typename State>
struct Named {
  State state;
  const char* name;
};
constexpr Named<JobState> kJobStates[] = {
    {JobState::kQueued, "queued"},       {JobState::kRunning, "running"},
    {JobState::kSucceeded, "succeeded"}, {JobState::kFailed, "failed"},
    {JobState::kCancelled, "cancelled"},
};
constexpr Named<RunState> kRunStates[] = {
    {RunState::kQueued, "queued"},       {RunState::kRunning, "running"},
    {RunState::kCompleted, "completed"}, {RunState::kDiverged, "diverged"},
    {RunState::kCancelled, "cancelled"}, {RunState::kFailed, "failed"},
};

template <typename State, size_t N>
const char* NameIn(const Named<State> (&table)[N], State state) {
  for (const auto& [s, name] : table) {
    if (s == state) return name;
  }
  return nullptr;
}

template <typename State, size_t N>
std::optional<State> StateIn(const Named<State> (&table)[N], absl::string_view text) {
  for (const auto& [state, name] : table) {
    if (text == name) return state;
  }
  return std::nullopt;
}

}  // namespace

const char* StateName(JobState state) { return NameIn(kJobStates, state); }
const char* StateName(RunState state) { return NameIn(kRunStates, state); }
std::optional<JobState> JobStateNamed(absl::string_view name) { return StateIn(kJobStates, name); }
std::optional<RunState> RunStateNamed(absl::string_view name) { return StateIn(kRunStates, name); }

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kCancelled;
}

bool IsTerminal(RunState state) {
  return state == RunState::kCompleted || state == RunState::kDiverged ||
         state == RunState::kCancelled || state == RunState::kFailed;
}

}  // namespace ablate::store
