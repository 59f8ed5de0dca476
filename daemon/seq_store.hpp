// The persisted SEQ high-water mark (PROTOCOL.md 5): every SEQ e3xd has ever sealed is at or
// below the value on disk, so a restart, even with the clock stepped back, never reuses one.
//
// Writing on every handshake would cost an fsync per keepalive, so the store reserves ahead:
// when a SEQ above the recorded mark is about to leave, the mark moves to that SEQ plus
// kSeqReservation. SEQs follow Unix time, so with a correct clock this writes about once an
// hour; after a restart SEQs start above the mark, which costs nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.hpp"

namespace e3x::daemon {

inline constexpr std::uint32_t kSeqReservation = 3600;

class SeqStore {
 public:
  explicit SeqStore(std::filesystem::path file) : file_(std::move(file)) {}

  // Reads the mark (0 when the file does not exist yet). An unreadable or malformed file is
  // an error: guessing low could reuse a SEQ.
  Result<std::uint32_t, std::string> load();

  std::uint32_t recorded() const { return recorded_; }

  // Makes sure `highest_used` is covered by the mark on disk (atomic write, mode 0600)
  // before the packet carrying it is sent. Returns "" or what failed.
  std::string cover(std::uint32_t highest_used);

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::uint32_t recorded_ = 0;
};

}  // namespace e3x::daemon
