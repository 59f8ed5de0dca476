#include "core/replay_window.hpp"

#include <cstring>

namespace e3x {

// The nonce is 24 random bytes; its first 8 are already uniformly distributed, so they serve
// as both key and hash. Zero marks an empty slot, so a zero key is mapped to one.
std::uint64_t ReplayWindow::key_of(const ChannelNonce& nonce) {
  std::uint64_t key;
  std::memcpy(&key, nonce.data(), sizeof key);
  return key == 0 ? 1 : key;
}

bool ReplayWindow::contains(const Table& table, std::uint64_t key) {
  for (std::size_t i = key % kSlots;; i = (i + 1) % kSlots) {
    if (table.slots[i] == key) return true;
    if (table.slots[i] == 0) return false;
  }
}

void ReplayWindow::insert(Table& table, std::uint64_t key) {
  for (std::size_t i = key % kSlots;; i = (i + 1) % kSlots) {
    if (table.slots[i] == key) return;
    if (table.slots[i] == 0) {
      table.slots[i] = key;
      ++table.count;
      return;
    }
  }
}

bool ReplayWindow::seen(const ChannelNonce& nonce) const {
  const std::uint64_t key = key_of(nonce);
  return (current_ && contains(*current_, key)) || (previous_ && contains(*previous_, key));
}

void ReplayWindow::remember(const ChannelNonce& nonce) {
  if (!current_) {
    current_ = std::make_unique<Table>();
    std::memset(current_->slots, 0, sizeof current_->slots);
  }
  if (current_->count >= kGeneration) {
    // Reuse the oldest table's memory for the new generation.
    std::unique_ptr<Table> recycled = std::move(previous_);
    previous_ = std::move(current_);
    current_ = recycled ? std::move(recycled) : std::make_unique<Table>();
    std::memset(current_->slots, 0, sizeof current_->slots);
    current_->count = 0;
  }
  insert(*current_, key_of(nonce));
}

void ReplayWindow::clear() {
  current_.reset();
  previous_.reset();
}

}  // namespace e3x
