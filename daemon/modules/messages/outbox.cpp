#include "daemon/modules/messages/outbox.hpp"

#include <spdlog/spdlog.h>

#include "core/sha256.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

// Reads an entry back from its record's metadata; nullopt when a field is missing.
std::optional<OutboxEntry> entry_from(const json::object& meta, std::size_t body_size) {
  try {
    OutboxEntry entry;
    entry.id = std::string(meta.at("id").as_string());
    const auto peer = Hashname::parse(std::string_view(meta.at("peer").as_string()));
    if (!peer) return std::nullopt;
    entry.peer = *peer;
    entry.type = std::string(meta.at("type").as_string());
    entry.order = meta.at("order").to_number<std::uint64_t>();
    entry.created = meta.at("created").to_number<std::int64_t>();
    entry.expires = meta.at("expires").to_number<std::int64_t>();
    entry.body_sha256 = std::string(meta.at("sha256").as_string());
    entry.bytes = body_size;
    if (const json::value* delivered = meta.if_contains("delivered")) {
      entry.delivered = delivered->to_number<std::int64_t>();
      entry.bytes = meta.at("bytes").to_number<std::size_t>();
    }
    return entry;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

json::object meta_of(const OutboxEntry& entry) {
  json::object meta{{"id", entry.id},
                    {"peer", entry.peer.to_string()},
                    {"type", entry.type},
                    {"order", entry.order},
                    {"created", entry.created},
                    {"expires", entry.expires},
                    {"sha256", entry.body_sha256}};
  if (entry.delivered) {
    meta["delivered"] = *entry.delivered;
    meta["bytes"] = entry.bytes;
  }
  return meta;
}

}  // namespace

bool Outbox::valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string Outbox::open() {
  auto loaded = store_.open();
  if (!loaded) return loaded.error();
  entries_.clear();
  order_.clear();
  for (auto& [name, record] : *loaded) {
    auto entry = entry_from(record.meta, record.body.size());
    if (!entry || entry->id != name || !valid_id(entry->id)) {
      spdlog::error("outbox: {}.msg has unusable metadata; left in place and not sent", name);
      continue;
    }
    next_order_ = std::max(next_order_, entry->order + 1);
    if (entry->pending()) order_.emplace(entry->order, entry->id);
    entries_.emplace(entry->id, std::move(*entry));
  }
  return {};
}

Result<const OutboxEntry*, StoreError> Outbox::add(OutboxEntry entry, ByteView body,
                                                   std::uint64_t quota) {
  entry.order = next_order_;
  entry.bytes = body.size();
  entry.body_sha256 = to_hex(sha256(body));
  MessageRecord record{meta_of(entry), Bytes(body.begin(), body.end())};
  auto stored = store_.put(entry.id, record, quota);
  if (!stored) return unexpected(stored.error());
  ++next_order_;
  order_.emplace(entry.order, entry.id);
  auto [it, added] = entries_.insert_or_assign(entry.id, std::move(entry));
  return &it->second;
}

OutboxEntry* Outbox::find(const std::string& id) {
  const auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

Result<Bytes, std::string> Outbox::body(const OutboxEntry& entry) const {
  // read() checks the record's SHA-256 again, so a file damaged since startup is not sent.
  auto record = store_.read(entry.id);
  if (!record) return unexpected(record.error());
  return std::move(record->body);
}

std::string Outbox::mark_delivered(const std::string& id, std::int64_t now_unix) {
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.delivered) return {};
  OutboxEntry done = it->second;
  done.delivered = now_unix;
  // No quota: the record without its payload is smaller than the one it replaces.
  auto written = store_.put(id, MessageRecord{meta_of(done), {}});
  order_.erase({it->second.order, id});
  it->second = std::move(done);
  // Delivered either way; a failed write leaves the full record, sent again after a restart
  // and acknowledged again by the recipient without being stored twice.
  return written ? std::string() : written.error().message;
}

std::string Outbox::mark_deposited(const std::string& id, const std::string& mailbox_hashname,
                                   std::int64_t now_unix) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  it->second.deposited = now_unix;
  it->second.deposited_with = mailbox_hashname;
  return {};
}

std::string Outbox::remove(const std::string& id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return {};
  order_.erase({it->second.order, id});
  entries_.erase(it);
  return store_.remove(id);
}

std::size_t Outbox::forget_delivered(std::int64_t now_unix) {
  std::size_t forgotten = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.delivered && it->second.expired(now_unix)) {
      if (std::string error = store_.remove(it->first); !error.empty()) {
        spdlog::warn("outbox: {}", error);
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

std::vector<const OutboxEntry*> Outbox::delivered() const {
  std::vector<const OutboxEntry*> out;
  for (const auto& [id, entry] : entries_) {
    if (entry.delivered) out.push_back(&entry);
  }
  std::sort(out.begin(), out.end(),
            [](const OutboxEntry* a, const OutboxEntry* b) { return a->order < b->order; });
  return out;
}

std::vector<OutboxEntry*> Outbox::in_order() {
  std::vector<OutboxEntry*> out;
  out.reserve(order_.size());
  for (const auto& [order, id] : order_) out.push_back(&entries_.at(id));
  return out;
}

std::vector<const OutboxEntry*> Outbox::in_order() const {
  std::vector<const OutboxEntry*> out;
  out.reserve(order_.size());
  for (const auto& [order, id] : order_) out.push_back(&entries_.at(id));
  return out;
}

}  // namespace e3x::daemon
