#include "daemon/host/seq_store.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/atomic_file.hpp"
#include "core/bytes.hpp"

namespace e3x::daemon {

namespace json = boost::json;

namespace {

constexpr std::uint64_t kU32Max = std::numeric_limits<std::uint32_t>::max();

std::optional<std::uint32_t> u32_of(const json::value* value) {
  if (!value || !value->is_number()) return std::nullopt;
  boost::system::error_code error;
  const auto number = value->to_number<std::uint64_t>(error);
  if (error || number > kU32Max) return std::nullopt;
  return static_cast<std::uint32_t>(number);
}

std::uint32_t reserve_after(std::uint32_t used) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(std::uint64_t{used} + kSeqReservation, kU32Max));
}

}  // namespace

Result<std::uint32_t, std::string> SeqStore::load() {
  marks_.clear();
  default_mark_ = 0;
  loaded_default_mark_ = 0;
  migrated_ = false;
  std::error_code exists_error;
  if (!std::filesystem::exists(file_, exists_error)) {
    if (exists_error)
      return unexpected("cannot check " + file_.string() + ": " + exists_error.message());
    return default_mark_;
  }
  std::ifstream in(file_, std::ios::binary);
  if (!in) return unexpected("cannot read " + file_.string() + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  const std::string damaged =
      file_.string() +
      " is not a SEQ state file; it must not be guessed lower than it was, so fix or remove "
      "it knowing that SEQs may be reused";
  boost::system::error_code parse_error;
  const json::value doc = json::parse(text.str(), parse_error);
  const json::object* object = doc.if_object();
  if (parse_error || !object) return unexpected(damaged);
  const auto mark = u32_of(object->if_contains("seq_high_water"));
  if (!mark) return unexpected(damaged + " (seq_high_water is not a 32-bit unsigned integer)");
  default_mark_ = *mark;
  loaded_default_mark_ = *mark;
  const json::value* peers = object->if_contains("peers");
  if (!peers) {
    migrated_ = true;  // version 1: one mark for everyone
    return default_mark_;
  }
  if (!peers->is_object()) return unexpected(damaged + " (\"peers\" is not an object)");
  for (const auto& [name, value] : peers->get_object()) {
    const auto hashname = Hashname::parse(std::string_view(name));
    const json::object* entry = value.if_object();
    const auto used = entry ? u32_of(entry->if_contains("used")) : std::nullopt;
    const auto seen = entry ? u32_of(entry->if_contains("seen")) : std::nullopt;
    if (!hashname || !used || !seen) {
      return unexpected(damaged + " (bad entry for \"" + std::string(name.substr(0, 60)) + "\")");
    }
    marks_[*hashname] = PeerSeqMarks{*used, *seen};
  }
  return default_mark_;
}

std::optional<PeerSeqMarks> SeqStore::marks_of(const Hashname& peer) const {
  auto found = marks_.find(peer);
  if (found == marks_.end()) return std::nullopt;
  return found->second;
}

bool SeqStore::needs_cover(const Hashname& peer, std::uint32_t used) const {
  if (used <= default_mark_) return false;
  auto found = marks_.find(peer);
  return found == marks_.end() || used > found->second.used;
}

std::string SeqStore::cover(const std::vector<std::pair<Hashname, std::uint32_t>>& usage,
                            const Lookup& current, const KnownPeers& known, std::int64_t unix_now) {
  bool needed = false;
  for (const auto& [peer, used] : usage) needed = needed || needs_cover(peer, used);
  if (!needed) return {};
  const auto before = marks_;
  const auto default_before = default_mark_;
  refresh(current, known, unix_now);
  // What the default mark did not cover runs ahead of the clock: its own reservation.
  for (const auto& [peer, used] : usage) {
    if (!needs_cover(peer, used)) continue;
    PeerSeqMarks& marks = marks_[peer];
    marks.used = std::max(marks.used, reserve_after(used));
  }
  std::string error = write();
  if (!error.empty()) {  // nothing counts as covered
    marks_ = before;
    default_mark_ = default_before;
  }
  return error;
}

bool SeqStore::renewal_due(std::int64_t unix_now) const {
  return unix_now + std::int64_t{kSeqReservation / 2} > std::int64_t{default_mark_} &&
         default_mark_ < kU32Max;
}

std::string SeqStore::renew(const Lookup& current, const KnownPeers& known, std::int64_t unix_now) {
  const auto before = marks_;
  const auto default_before = default_mark_;
  refresh(current, known, unix_now);
  std::string error = write();
  if (!error.empty()) {
    marks_ = before;
    default_mark_ = default_before;
  }
  return error;
}

void SeqStore::refresh(const Lookup& current, const KnownPeers& known, std::int64_t unix_now) {
  // The clock (and where this process's SEQs began, which after a restart is above the
  // clock) moves the default mark; a peer never does.
  const std::int64_t clock = std::clamp<std::int64_t>(unix_now, 0, kU32Max);
  const auto follows = std::max<std::uint32_t>(
      static_cast<std::uint32_t>(clock),
      loaded_default_mark_ < kU32Max ? loaded_default_mark_ + 1 : loaded_default_mark_);
  default_mark_ = std::max(default_mark_, reserve_after(follows));
  for (const Hashname& peer : known()) {
    const auto now = current(peer);
    if (!now) continue;
    PeerSeqMarks& marks = marks_[peer];
    marks.seen = std::max(marks.seen, now->seen);
    const std::uint32_t covered = std::max(marks.used, default_mark_);
    if (std::uint64_t{now->used} + kSeqReservation / 2 > covered) {
      marks.used = std::max(marks.used, reserve_after(now->used));  // ahead of the clock
    } else {
      marks.used = std::max(marks.used, now->used);
    }
  }
  bound_orphans(current, unix_now);
}

void SeqStore::bound_orphans(const Lookup& current, std::int64_t unix_now) {
  std::vector<std::pair<std::uint32_t, Hashname>> orphans;
  for (const auto& [peer, marks] : marks_) {
    if (!current(peer)) orphans.emplace_back(marks.used, peer);
  }
  if (orphans.size() <= kMaxOrphanSeqMarks) return;
  std::sort(orphans.begin(), orphans.end());
  const std::size_t excess = orphans.size() - kMaxOrphanSeqMarks;
  for (std::size_t i = 0; i < excess; ++i) {
    const auto& [used, peer] = orphans[i];
    // A mark near the clock is safe for everyone to start above; one far ahead is a peer's
    // doing (rule 4) and must not move everyone: it is forgotten, which can only matter if
    // that removed peer is configured again within its reservation.
    if (std::int64_t{used} <= unix_now + 2 * std::int64_t{kSeqReservation}) {
      default_mark_ = std::max(default_mark_, used);
    }
    marks_.erase(peer);
  }
}

std::string SeqStore::write() {
  json::object peers;
  for (const auto& [peer, marks] : marks_) {
    peers[peer.to_string()] = json::object{{"used", marks.used}, {"seen", marks.seen}};
  }
  const std::string text =
      json::serialize(json::object{
          {"version", 2}, {"seq_high_water", default_mark_}, {"peers", std::move(peers)}}) +
      "\n";
  std::string error = config::write_file_atomically(file_, as_bytes(text), 0600);
  if (error.empty()) {
    migrated_ = false;
    ++writes_;
  }
  return error;
}

}  // namespace e3x::daemon
