#include "daemon/modules/messages/inbox.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/message_rules.hpp"
#include "core/sha256.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

json::object meta_of(const InboxEntry& entry) {
  json::object meta{{"from", entry.from.to_string()},
                    {"id", entry.id},
                    {"type", entry.type},
                    {"via", entry.via},
                    {"sha256", entry.sha256},
                    {"order", entry.order},
                    {"received", entry.received},
                    {"keep_until", entry.keep_until}};
  if (entry.acked) {
    meta["acked"] = true;
    meta["bytes"] = entry.bytes;
  }
  return meta;
}

std::optional<InboxEntry> entry_from(const std::string& key, const MessageRecord& record,
                                     std::uint64_t file_bytes) {
  try {
    const json::object& meta = record.meta;
    InboxEntry entry;
    entry.key = key;
    const auto from = Hashname::parse(std::string_view(meta.at("from").as_string()));
    if (!from) return std::nullopt;
    entry.from = *from;
    entry.id = std::string(meta.at("id").as_string());
    entry.type = std::string(meta.at("type").as_string());
    entry.via = std::string(meta.at("via").as_string());
    entry.order = meta.at("order").to_number<std::uint64_t>();
    entry.received = meta.at("received").to_number<std::int64_t>();
    entry.keep_until = meta.at("keep_until").to_number<std::int64_t>();
    entry.acked = meta.contains("acked");
    entry.bytes = entry.acked && meta.contains("bytes") ? meta.at("bytes").to_number<std::size_t>()
                                                        : record.body.size();
    entry.file_bytes = file_bytes;
    if (const json::value* sha = meta.if_contains("sha256")) {
      entry.sha256 = std::string(sha->as_string());
      if (Inbox::key_of(entry.from, entry.id, entry.sha256) != key) return std::nullopt;
    } else {
      // Written before revision 2: keyed by sender and id only. A pending one still has its
      // payload; a tombstone keeps recognising its id whatever the payload.
      if (Inbox::legacy_key_of(entry.from, entry.id) != key) return std::nullopt;
      if (!entry.acked) entry.sha256 = payload_sha256(record.body);
    }
    return entry;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string hex32_of(std::initializer_list<ByteView> parts) {
  return to_hex(sha256(parts)).substr(0, 32);
}

}  // namespace

std::string Inbox::key_of(const Hashname& from, std::string_view id, std::string_view sha256) {
  const std::string name = from.to_string();
  const std::uint8_t separator = 0;
  return hex32_of({as_bytes(name), ByteView(&separator, 1), as_bytes(id), ByteView(&separator, 1),
                   as_bytes(sha256)});
}

std::string Inbox::legacy_key_of(const Hashname& from, std::string_view id) {
  const std::string name = from.to_string();
  const std::uint8_t separator = 0;
  return hex32_of({as_bytes(name), ByteView(&separator, 1), as_bytes(id)});
}

void Inbox::count(const InboxEntry& entry, int sign) {
  PerPeer& peer = per_peer_[entry.from];
  if (entry.acked) {
    peer.tombstones = sign > 0 ? peer.tombstones + 1 : peer.tombstones - 1;
  } else if (sign > 0) {
    pending_count_ += 1;
    pending_bytes_ += entry.file_bytes;
    peer.pending_bytes += entry.file_bytes;
  } else {
    pending_count_ -= 1;
    pending_bytes_ -= entry.file_bytes;
    peer.pending_bytes -= entry.file_bytes;
  }
  if (peer.pending_bytes == 0 && peer.tombstones == 0) per_peer_.erase(entry.from);
}

std::uint64_t Inbox::pending_bytes_from(const Hashname& peer) const {
  auto found = per_peer_.find(peer);
  return found == per_peer_.end() ? 0 : found->second.pending_bytes;
}

std::string Inbox::open() {
  auto loaded = store_.open();
  if (!loaded) return loaded.error();
  entries_.clear();
  per_peer_.clear();
  pending_count_ = 0;
  pending_bytes_ = 0;
  for (auto& [name, record] : *loaded) {
    auto entry = entry_from(name, record, store_.file_bytes(name));
    if (!entry) {
      spdlog::error("inbox: {}.msg has unusable metadata; left in place and ignored", name);
      continue;
    }
    next_order_ = std::max(next_order_, entry->order + 1);
    count(*entry, +1);
    entries_.emplace(name, std::move(*entry));
  }
  return {};
}

Result<Inbox::Stored, StoreError> Inbox::store(const Arrival& arrival, ByteView body,
                                               InboxQuota quota) {
  const std::string sha = payload_sha256(body);
  const std::string key = key_of(arrival.from, arrival.id, sha);
  if (entries_.contains(key)) return Stored::kDuplicate;
  if (auto legacy = entries_.find(legacy_key_of(arrival.from, arrival.id));
      legacy != entries_.end() && (legacy->second.sha256.empty() || legacy->second.sha256 == sha)) {
    return Stored::kDuplicate;
  }
  const auto peer = per_peer_.find(arrival.from);
  if (peer != per_peer_.end() && peer->second.tombstones >= kMaxTombstonesPerPeer) {
    return unexpected(StoreError{StoreError::Kind::kQuota,
                                 "this sender already has " +
                                     std::to_string(kMaxTombstonesPerPeer) +
                                     " acknowledged messages remembered until they expire"});
  }
  InboxEntry entry;
  entry.key = key;
  entry.from = arrival.from;
  entry.id = arrival.id;
  entry.type = arrival.type;
  entry.via = arrival.via;
  entry.mailbox = arrival.mailbox;
  entry.sha256 = sha;
  entry.order = next_order_;
  entry.received = arrival.now;
  entry.bytes = body.size();
  entry.keep_until = arrival.keep_until;
  json::object meta = meta_of(entry);
  meta["head"] = arrival.head;
  const MessageRecord record{std::move(meta), Bytes(body.begin(), body.end())};
  const std::uint64_t size = encode_record(record).size();
  const std::uint64_t from_peer = peer == per_peer_.end() ? 0 : peer->second.pending_bytes;
  if (from_peer + size > quota.per_peer) {
    return unexpected(StoreError{StoreError::Kind::kQuota,
                                 "this sender's unacknowledged messages would exceed "
                                 "[messages] peer_quota (" +
                                     std::to_string(quota.per_peer) + " bytes)"});
  }
  if (pending_bytes_ + size > quota.total) {
    return unexpected(StoreError{StoreError::Kind::kQuota,
                                 "unacknowledged messages would exceed [messages] store_quota (" +
                                     std::to_string(quota.total) + " bytes)"});
  }
  auto stored = store_.put(key, record);
  if (!stored) return unexpected(stored.error());
  entry.file_bytes = *stored;
  ++next_order_;
  count(entry, +1);
  entries_.emplace(key, std::move(entry));
  return Stored::kNew;
}

std::vector<const InboxEntry*> Inbox::find(const std::string& id_or_key,
                                           const std::optional<Hashname>& from) const {
  std::vector<const InboxEntry*> out;
  for (const auto& [key, entry] : entries_) {
    if (entry.acked || (from && entry.from != *from)) continue;
    if (entry.id == id_or_key || key == id_or_key) out.push_back(&entry);
  }
  return out;
}

std::vector<const InboxEntry*> Inbox::pending() const {
  std::vector<const InboxEntry*> out;
  out.reserve(pending_count_);
  for (const auto& [key, entry] : entries_) {
    if (!entry.acked) out.push_back(&entry);
  }
  std::sort(out.begin(), out.end(),
            [](const InboxEntry* a, const InboxEntry* b) { return a->order < b->order; });
  return out;
}

Result<Bytes, std::string> Inbox::body(const InboxEntry& entry) const {
  auto record = store_.read(entry.key);
  if (!record) return unexpected(record.error());
  return std::move(record->body);
}

Result<std::uint64_t, StoreError> Inbox::ack(const std::string& key, std::int64_t now) {
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.acked) return std::uint64_t{0};
  InboxEntry tombstone = it->second;
  tombstone.acked = true;
  tombstone.keep_until = std::max(tombstone.keep_until, now);
  json::object meta = meta_of(tombstone);
  meta["acked_at"] = now;
  // No quota here: a tombstone is smaller than the message it replaces.
  auto written = store_.put(key, MessageRecord{std::move(meta), {}});
  if (!written) return unexpected(written.error());
  tombstone.file_bytes = *written;
  count(it->second, -1);
  count(tombstone, +1);
  it->second = std::move(tombstone);
  return *written;
}

std::size_t Inbox::forget_tombstones(std::int64_t now) {
  std::size_t forgotten = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.acked && it->second.keep_until < now) {
      if (std::string error = store_.remove(it->first); !error.empty()) {
        spdlog::warn("inbox: {}", error);
        ++it;
        continue;
      }
      count(it->second, -1);
      it = entries_.erase(it);
      ++forgotten;
    } else {
      ++it;
    }
  }
  return forgotten;
}

}  // namespace e3x::daemon
