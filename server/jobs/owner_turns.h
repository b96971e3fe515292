// A queue shared fairly between owners: each owner's items leave in the order they came, and
// owners with items waiting take turns (round robin by owner, in name order from the one
// served last, wrapping around), so that one owner's long queue cannot hold back another's
// first item. The run queue (LocalExecutor) and the job ends' queue (JobManager) are two.
// Not thread-safe: its user's mutex guards it.
#ifndef ABLATE_SERVER_JOBS_OWNER_TURNS_H_
#define ABLATE_SERVER_JOBS_OWNER_TURNS_H_

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ablate::jobs {

template <typename T>
class OwnerTurns {
 public:
  void Push(const std::string& owner, T item) {
    queues_[owner].push_back(std::move(item));
    ++size_;
  }

  bool empty() const { return size_ == 0; }
  int size() const { return size_; }

  // Takes the next item in turn; requires !empty(). When uses_turn(item) is false its owner
  // keeps the turn (the local pool's run stopped while queued, which ends without starting).
  template <typename UsesTurn>
  T Take(UsesTurn uses_turn) {
    auto it = queues_.upper_bound(last_owner_);
    if (it == queues_.end()) it = queues_.begin();
    T next = std::move(it->second.front());
    it->second.pop_front();
    --size_;
    if (uses_turn(next)) last_owner_ = it->first;
    if (it->second.empty()) queues_.erase(it);
    return next;
  }
  T Take() {
    return Take([](const T&) { return true; });
  }

  // How many items Take() would hand out before the first item for which match(item) is
  // true, if nothing were pushed meanwhile; nullopt when none matches. (An item that would
  // not use its turn is counted as one that would.) O(size() + owners).
  template <typename Match>
  std::optional<int> CountBefore(Match match) const {
    // Take() visits the owners in name order from the one after last_owner_, wrapping, and
    // takes one item of each per round: an owner's item i leaves in round i, after round i's
    // items of the owners visited before it.
    std::vector<const std::deque<T>*> order;
    const auto first = queues_.upper_bound(last_owner_);
    for (auto it = first; it != queues_.end(); ++it) order.push_back(&it->second);
    for (auto it = queues_.begin(); it != first; ++it) order.push_back(&it->second);
    std::optional<int> fewest;
    for (size_t owner = 0; owner < order.size(); ++owner) {
      const std::deque<T>& queue = *order[owner];
      const auto found = std::find_if(queue.begin(), queue.end(), match);
      if (found == queue.end()) continue;
      const size_t round = static_cast<size_t>(found - queue.begin());
      int before = 0;
      for (size_t other = 0; other < order.size(); ++other) {
        const size_t waiting = order[other]->size();
        before += static_cast<int>(std::min(waiting, round));
        if (other < owner && waiting > round) ++before;
      }
      if (!fewest || before < *fewest) fewest = before;
    }
    return fewest;
  }

  // Removes the items for which remove(item) is true and returns them, in queue order per
  // owner. Turns are unchanged.
  template <typename Remove>
  std::vector<T> RemoveIf(Remove remove) {
    std::vector<T> removed;
    for (auto it = queues_.begin(); it != queues_.end();) {
      std::deque<T>& queue = it->second;
      for (auto item = queue.begin(); item != queue.end();) {
        if (remove(*item)) {
          removed.push_back(std::move(*item));
          item = queue.erase(item);
          --size_;
        } else {
          ++item;
        }
      }
      it = queue.empty() ? queues_.erase(it) : std::next(it);
    }
    return removed;
  }

 private:
  std::map<std::string, std::deque<T>> queues_;  // by owner, none empty
  int size_ = 0;
  std::string last_owner_;  // the owner served last
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_OWNER_TURNS_H_
