// The persisted SEQ marks (PROTOCOL.md sections 5 and 10 rule 4), one per peer: every SEQ
// e3xd has ever originated toward a peer is at or below that peer's mark on disk, so a
// restart, even with the clock stepped back, never reuses one; and nothing one peer does (a
// SEQ near 2^32) moves the SEQs we use toward any other.
//
// Beside each mark the file keeps the peer's highest handshake SEQ we accepted ("seen"), so
// after a restart a recording of an older handshake of that peer is stale (rule 1), not new.
// It is refreshed whenever the file is written and at shutdown.
//
// Writing on every handshake would cost an fsync per keepalive, so marks are reserved ahead,
// and most peers need no mark of their own: the default mark, which covers every peer not
// listed, is moved kSeqReservation ahead of the clock (and of the SEQs a restart begins
// at) whenever the file is written, and our SEQs follow the clock. So a daemon with 10,000
// peers writes about once every two and a half minutes (housekeeping renews the default mark
// when it is within half a reservation of the clock), not once per new peer or per
// keepalive round. A peer whose SEQs run ahead of the clock (ours follow the highest SEQ it
// has seen) has its own mark, reserved ahead of its use; every listed peer whose use comes
// within half a reservation of its mark moves in the same write. The reservation is short
// because after a restart our SEQs start above the marks: a peer that lost its state and
// whose clock-based SEQs are behind ours gets back in by itself within minutes (rule 2), not
// hours. The clock moves the default mark, never a peer: nothing one peer sends moves the
// SEQs we use toward another (rule 4).
//
// Every peer the endpoint knows is listed with the SEQ it was last seen at, refreshed at
// every write, so after a restart its older handshakes are stale (rule 1).
//
// File (JSON, mode 0600, written atomically):
//   {"version":2,"seq_high_water":D,"peers":{"<hashname>":{"used":U,"seen":S},...}}
// D covers every peer not listed (the one mark of version 1 files, which are migrated).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/endpoint.hpp"
#include "core/hashname.hpp"
#include "core/result.hpp"

namespace e3x::daemon {

inline constexpr std::uint32_t kSeqReservation = 300;
// Marks of peers the endpoint no longer knows (removed from the configuration) kept at most;
// beyond it the lowest are folded into the default mark when that is safe (near the clock).
inline constexpr std::size_t kMaxOrphanSeqMarks = 65536;

class SeqStore {
 public:
  explicit SeqStore(std::filesystem::path file) : file_(std::move(file)) {}

  // Reads the marks (none when the file does not exist yet). An unreadable or malformed file
  // is an error: guessing low could reuse a SEQ. A version 1 file ({"seq_high_water":N})
  // becomes the default mark; `migrated()` says so until the next write.
  Result<std::uint32_t, std::string> load();
  bool migrated() const { return migrated_; }

  // The floor every peer starts above, and a peer's own marks (for Endpoint::Config).
  std::uint32_t default_mark() const { return default_mark_; }
  std::optional<PeerSeqMarks> marks_of(const Hashname& peer) const;

  // True if a SEQ `used` toward `peer` is not yet covered on disk.
  bool needs_cover(const Hashname& peer, std::uint32_t used) const;

  // What the endpoint reports about a peer now: its highest SEQ used and seen; nullopt for
  // a peer it no longer knows.
  using Lookup = std::function<std::optional<PeerSeqMarks>(const Hashname&)>;
  // Every peer the endpoint knows now.
  using KnownPeers = std::function<std::vector<Hashname>()>;
  // Covers every SEQ in `usage` (peer, highest used) on disk before the packets carrying
  // them leave, refreshing the other peers as described above. Returns "" or what failed;
  // after a failure nothing counts as covered.
  std::string cover(const std::vector<std::pair<Hashname, std::uint32_t>>& usage,
                    const Lookup& current, const KnownPeers& known, std::int64_t unix_now);
  // True when the default mark is within half a reservation of the clock: renew() now keeps
  // the next SEQs from having to wait for a write.
  bool renewal_due(std::int64_t unix_now) const;
  // Writes the file with the default mark moved ahead of the clock and every peer's "seen"
  // refreshed (housekeeping, and at shutdown). Returns "" or what failed.
  std::string renew(const Lookup& current, const KnownPeers& known, std::int64_t unix_now);

  std::size_t peer_count() const { return marks_.size(); }
  std::uint64_t writes() const { return writes_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::string write();
  // Moves the default mark ahead of the clock and refreshes every known peer's entry.
  void refresh(const Lookup& current, const KnownPeers& known, std::int64_t unix_now);
  void bound_orphans(const Lookup& current, std::int64_t unix_now);

  std::filesystem::path file_;
  std::uint32_t default_mark_ = 0;
  std::uint32_t loaded_default_mark_ = 0;  // where this process's SEQs began
  std::unordered_map<Hashname, PeerSeqMarks> marks_;
  bool migrated_ = false;
  std::uint64_t writes_ = 0;
};

}  // namespace e3x::daemon
