#include "core/receipts.hpp"

#include <algorithm>

#include "core/message_rules.hpp"

namespace e3x {

void ReceiptScheduler::owe(const Hashname& peer, const std::string& id, const std::string& sha256,
                           std::int64_t expires) {
  auto& owed = owed_[peer];
  for (const Owed& entry : owed) {
    if (entry.id == id && entry.sha256 == sha256) return;
  }
  if (owed.size() >= kMaxOwedReceiptsPerPeer) {
    owed.erase(owed.begin());  // the sender's next retry makes us owe it again
    forgotten_ += 1;
  }
  owed.push_back(Owed{id, sha256, expires});
}

namespace {

double refilled_tokens(double tokens, Instant refilled, Instant now) {
  const double elapsed = std::chrono::duration<double>(now - refilled).count();
  return std::min<double>(kReceiptBurst, tokens + elapsed * kReceiptsPerSecond);
}

}  // namespace

bool ReceiptScheduler::take_token(const Hashname& peer, Instant now) {
  auto [it, added] = buckets_.try_emplace(peer, Bucket{double(kReceiptBurst), now});
  Bucket& bucket = it->second;
  bucket.tokens = refilled_tokens(bucket.tokens, bucket.refilled, now);
  bucket.refilled = now;
  if (bucket.tokens < 1.0) return false;
  bucket.tokens -= 1.0;
  return true;
}

std::size_t ReceiptScheduler::flush(Instant now, Endpoint& endpoint) {
  std::erase_if(last_sent_, [now](const auto& entry) { return now - entry.second >= kReceiptGap; });
  std::erase_if(buckets_, [now](const auto& entry) {
    return refilled_tokens(entry.second.tokens, entry.second.refilled, now) >= kReceiptBurst;
  });
  retry_at_.reset();
  const auto retry_at = [this](Instant at) {
    if (!retry_at_ || at < *retry_at_) retry_at_ = at;
  };
  std::size_t sent = 0;
  for (auto it = owed_.begin(); it != owed_.end();) {
    const Hashname& peer = it->first;
    std::vector<Owed>& owed = it->second;
    const auto status = endpoint.peer_status(peer);
    if (!status) {
      it = owed_.erase(it);  // no longer a peer: nobody to acknowledge
      continue;
    }
    if (status->state != ExchangeState::kUp) {
      ++it;  // owed until its exchange is in sync (ExchangeUp: the driver flushes again)
      continue;
    }
    std::vector<Owed> kept;
    for (Owed& entry : owed) {
      const auto key = std::pair{peer, entry.id};
      if (auto last = last_sent_.find(key); last != last_sent_.end()) {
        retry_at(last->second + kReceiptGap);
        kept.push_back(std::move(entry));
        continue;
      }
      if (!take_token(peer, now)) {
        retry_at(now + std::chrono::duration_cast<Duration>(
                           std::chrono::duration<double>(1.0 / kReceiptsPerSecond)));
        kept.push_back(std::move(entry));
        continue;
      }
      // kNoPath: the exchange's current path, never where the message came from.
      auto receipt = endpoint.send_message(
          now, peer, kReceiptType, entry.id,
          boost::json::object{{"expires", entry.expires}, {"sha256", entry.sha256}}, {});
      if (!receipt) continue;  // e.g. no SEQ left toward it: the sender will retry
      last_sent_.emplace(key, now);
      ++sent;
      ++sent_;
    }
    owed = std::move(kept);
    if (owed.empty()) {
      it = owed_.erase(it);
    } else {
      ++it;
    }
  }
  return sent;
}

std::size_t ReceiptScheduler::owed() const {
  std::size_t total = 0;
  for (const auto& [peer, owed] : owed_) total += owed.size();
  return total;
}

std::size_t ReceiptScheduler::owed_to(const Hashname& peer) const {
  auto it = owed_.find(peer);
  return it == owed_.end() ? 0 : it->second.size();
}

}  // namespace e3x
