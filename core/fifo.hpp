// A first-in first-out queue that allocates nothing while it has never held anything.
//
// std::deque would do, but libstdc++'s deque allocates about 600 bytes on construction, and
// every channel holds three queues that are empty almost all the time: 10,000 exchanges with a
// channel each would spend tens of megabytes on empty deques. This is a vector with a read
// position; when the last element is taken the vector is cleared (keeping its capacity for
// the next burst), so a steady stream does not reallocate.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace e3x {

template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }
  T& back() { return items_.back(); }
  const T& back() const { return items_.back(); }
  // The element `i` places behind the front.
  T& operator[](std::size_t i) { return items_[head_ + i]; }
  const T& operator[](std::size_t i) const { return items_[head_ + i]; }
  template <class U>
  void push_back(U&& item) {
    items_.emplace_back(std::forward<U>(item));
  }
  void pop_front() {
    ++head_;
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      // Taken elements still occupy the front; drop them once they are half the vector, so
      // a queue that never fully drains stays bounded by twice what it holds.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace e3x
