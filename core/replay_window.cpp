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
  if (table.slots.empty()) return false;
  const std::size_t mask = table.slots.size() - 1;
  for (std::size_t i = key & mask;; i = (i + 1) & mask) {
    if (table.slots[i] == key) return true;
    if (table.slots[i] == 0) return false;
  }
}

void ReplayWindow::insert(Table& table, std::uint64_t key) {
  const std::size_t mask = table.slots.size() - 1;
  for (std::size_t i = key & mask;; i = (i + 1) & mask) {
    if (table.slots[i] == key) return;
    if (table.slots[i] == 0) {
      table.slots[i] = key;
      ++table.count;
      return;
    }
  }
}

// Doubles the table and re-inserts what it holds.
void ReplayWindow::grow(Table& table) {
  std::vector<std::uint64_t> old = std::move(table.slots);
  table.slots.assign(old.empty() ? kFirstSlots : old.size() * 2, 0);
  table.count = 0;
  for (const std::uint64_t key : old) {
    if (key != 0) insert(table, key);
  }
}

bool ReplayWindow::seen(const ChannelNonce& nonce) const {
  const std::uint64_t key = key_of(nonce);
  return contains(current_, key) || contains(previous_, key);
}

void ReplayWindow::remember(const ChannelNonce& nonce) {
  if (current_.count >= kGeneration) {
    // Reuse the oldest table's memory for the new generation.
    std::swap(previous_, current_);
    std::fill(current_.slots.begin(), current_.slots.end(), 0);
    current_.count = 0;
  }
  // Keep the load factor at most 1/2 (kSlots holds a whole generation at that load).
  if ((current_.count + 1) * 2 > current_.slots.size() && current_.slots.size() < kSlots) {
    grow(current_);
  }
  insert(current_, key_of(nonce));
}

void ReplayWindow::clear() {
  current_ = Table{};
  previous_ = Table{};
}

}  // namespace e3x
