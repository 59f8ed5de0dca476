// Receipts for application messages (PROTOCOL.md section 10 rule 7), sans-I/O.
//
// A recipient acknowledges every message it stored, and again every repeat of one (the
// sender's retry means our earlier receipt was lost). Because a repeat can as well be an
// attacker's replay, a receipt:
//   - goes only through an exchange that is in sync, on its current path, never to the
//     address a message came from (no reflection, and no exchange is created for it);
//   - goes at most once per kReceiptGap per (sender, id), and at most kReceiptBurst at once
//     and kReceiptsPerSecond on average per sender, so replays cannot burn our SEQs;
//   - waits, owed, while the sender's exchange is not in sync, and goes when it is.
// Nothing is lost by waiting or by the bound on what is owed: a sender keeps a message until
// its receipt arrives and sends it again, which makes us owe the receipt again.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/endpoint.hpp"
#include "core/hashname.hpp"
#include "core/time.hpp"

namespace e3x {

inline constexpr Duration kReceiptGap = seconds(1);
inline constexpr std::size_t kReceiptBurst = 128;
inline constexpr std::size_t kReceiptsPerSecond = 64;
inline constexpr std::size_t kMaxOwedReceiptsPerPeer = 1024;

class ReceiptScheduler {
 public:
  // We owe `peer` a receipt for its message `id` whose payload hashes to `sha256` (hex) and
  // which expires at `expires` (the receipt expires with it). Owing the same twice is once.
  void owe(const Hashname& peer, const std::string& id, const std::string& sha256,
           std::int64_t expires);
  // Sends, through `endpoint`, every owed receipt that may go now. Returns how many went.
  std::size_t flush(Instant now, Endpoint& endpoint);
  // When a receipt held back by a rate limit may go (nullopt: none is held back by one).
  std::optional<Instant> next_timeout() const { return retry_at_; }
  std::size_t owed() const;
  std::size_t owed_to(const Hashname& peer) const;
  std::uint64_t sent() const { return sent_; }
  std::uint64_t forgotten() const { return forgotten_; }  // over kMaxOwedReceiptsPerPeer
  void forget_peer(const Hashname& peer) { owed_.erase(peer); }

 private:
  struct Owed {
    std::string id;
    std::string sha256;
    std::int64_t expires = 0;
  };
  // Receipts a sender may still get at once; kept apart from what is owed, so a sender whose
  // receipts all went (nothing owed) does not start again with a full bucket.
  struct Bucket {
    double tokens = kReceiptBurst;
    Instant refilled{};
  };

  bool take_token(const Hashname& peer, Instant now);

  std::map<Hashname, std::vector<Owed>> owed_;  // per sender, oldest first
  std::map<Hashname, Bucket> buckets_;          // only senders whose bucket is not full
  // When a receipt for (sender, id) last went; entries older than kReceiptGap are dropped.
  std::map<std::pair<Hashname, std::string>, Instant> last_sent_;
  std::optional<Instant> retry_at_;
  std::uint64_t sent_ = 0;
  std::uint64_t forgotten_ = 0;
};

}  // namespace e3x
