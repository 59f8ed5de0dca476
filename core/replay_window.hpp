// Replay rejection for channel packets (PROTOCOL.md section 6).
//
// Channel nonces are random, not counters, so the window is a set of recently accepted
// nonces rather than a bitmap. Two generations of open-addressing tables: the current one
// fills up to kGeneration entries, then becomes the previous one and a fresh table starts. A
// nonce is remembered for at least the last kGeneration (4096) packets and at most
// 2 * kGeneration.
//
// Memory follows use: nothing until the first channel packet, then a table that starts at
// kFirstSlots and doubles (keeping the load factor at most 1/2) up to kSlots. An exchange
// that carried a few packets (a path probe) takes a few hundred bytes, not the 128 KiB of
// two full tables, which only a busy exchange reaches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/cs3a.hpp"

namespace e3x {

class ReplayWindow {
 public:
  static constexpr std::size_t kGeneration = 4096;

  // True if the nonce was accepted before (within the window).
  bool seen(const ChannelNonce& nonce) const;
  // Remembers a nonce. Call only after the packet authenticated, so forged packets cannot
  // fill the window.
  void remember(const ChannelNonce& nonce);
  void clear();

  // Bytes of table memory in use (for tests and measurements).
  std::size_t memory_bytes() const {
    return (current_.slots.capacity() + previous_.slots.capacity()) * sizeof(std::uint64_t);
  }

 private:
  static constexpr std::size_t kFirstSlots = 8;
  static constexpr std::size_t kSlots = kGeneration * 2;  // load factor at most 1/2
  struct Table {
    std::vector<std::uint64_t> slots;  // 0 marks an empty slot; size is a power of two
    std::size_t count = 0;
  };
  static std::uint64_t key_of(const ChannelNonce& nonce);
  static bool contains(const Table& table, std::uint64_t key);
  static void insert(Table& table, std::uint64_t key);
  static void grow(Table& table);

  Table current_;
  Table previous_;
};

}  // namespace e3x
