#include "daemon/inbox.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/sha256.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

json::object meta_of(const InboxEntry& entry) {
  json::object meta{{"from", entry.from.to_string()},
                    {"id", entry.id},
                    {"type", entry.type},
                    {"via", entry.via},
                    {"order", entry.order},
                    {"received", entry.received},
                    {"keep_until", entry.keep_until}};
  if (entry.acked) meta["acked"] = true;
  return meta;
}

std::optional<InboxEntry> entry_from(const std::string& key, const json::object& meta,
                                     std::size_t body_size) {
  try {
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
    entry.bytes = body_size;
    if (Inbox::key_of(entry.from, entry.id) != key) return std::nullopt;
    return entry;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string Inbox::key_of(const Hashname& from, std::string_view id) {
  const std::string name = from.to_string();
  const std::uint8_t separator = 0;
  const Digest digest = sha256({as_bytes(name), ByteView(&separator, 1), as_bytes(id)});
  return to_hex(digest).substr(0, 32);
}

std::string Inbox::open() {
  auto loaded = store_.open();
  if (!loaded) return loaded.error();
  entries_.clear();
  pending_count_ = 0;
  for (auto& [name, record] : *loaded) {
    auto entry = entry_from(name, record.meta, record.body.size());
    if (!entry) {
      spdlog::error("inbox: {}.msg has unusable metadata; left in place and ignored", name);
      continue;
    }
    next_order_ = std::max(next_order_, entry->order + 1);
    if (!entry->acked) ++pending_count_;
    entries_.emplace(name, std::move(*entry));
  }
  return {};
}

Result<Inbox::Stored, StoreError> Inbox::store(const Arrival& arrival, ByteView body,
                                               std::uint64_t quota) {
  const std::string key = key_of(arrival.from, arrival.id);
  if (entries_.contains(key)) return Stored::kDuplicate;
  InboxEntry entry{key,         arrival.from, arrival.id,  arrival.type, arrival.via,
                   next_order_, arrival.now,  body.size(), false,        arrival.keep_until};
  json::object meta = meta_of(entry);
  meta["head"] = arrival.head;
  auto stored =
      store_.put(key, MessageRecord{std::move(meta), Bytes(body.begin(), body.end())}, quota);
  if (!stored) return unexpected(stored.error());
  ++next_order_;
  ++pending_count_;
  entries_.emplace(key, std::move(entry));
  return Stored::kNew;
}

std::vector<const InboxEntry*> Inbox::find(const std::string& id,
                                           const std::optional<Hashname>& from) const {
  std::vector<const InboxEntry*> out;
  for (const auto& [key, entry] : entries_) {
    if (!entry.acked && entry.id == id && (!from || entry.from == *from)) out.push_back(&entry);
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
  tombstone.bytes = 0;
  tombstone.keep_until = std::max(tombstone.keep_until, now);
  json::object meta = meta_of(tombstone);
  meta["acked_at"] = now;
  // No quota here: a tombstone is smaller than the message it replaces.
  auto written = store_.put(key, MessageRecord{std::move(meta), {}});
  if (!written) return unexpected(written.error());
  it->second = std::move(tombstone);
  --pending_count_;
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
      it = entries_.erase(it);
      ++forgotten;
    } else {
      ++it;
    }
  }
  return forgotten;
}

}  // namespace e3x::daemon
