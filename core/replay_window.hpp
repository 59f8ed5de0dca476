// Replay rejection for channel packets (PROTOCOL.md section 6).
//
// Channel nonces are random, not counters, so the window is a set of recently accepted
// nonces rather than a bitmap. Two generations of fixed-size open-addressing tables: the
// current one fills up to kGeneration entries, then becomes the previous one and a fresh
// table starts. A nonce is remembered for at least the last kGeneration (4096) packets and at
// most 2 * kGeneration. Memory is only taken once the first channel packet arrives, so idle
// exchanges stay small.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

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

 private:
  static constexpr std::size_t kSlots = kGeneration * 2;  // load factor at most 1/2
  struct Table {
    std::uint64_t slots[kSlots];
    std::size_t count = 0;
  };
  static std::uint64_t key_of(const ChannelNonce& nonce);
  static bool contains(const Table& table, std::uint64_t key);
  static void insert(Table& table, std::uint64_t key);

  std::unique_ptr<Table> current_;
  std::unique_ptr<Table> previous_;
};

}  // namespace e3x
