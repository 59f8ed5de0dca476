#include "daemon/modules/messages/message_store.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>

#include "config/atomic_file.hpp"

namespace e3x::daemon {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kExtension = ".msg";

Result<Bytes, std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return unexpected(file.string() + ": " + std::strerror(errno));
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return unexpected(file.string() + ": read failed");
  return bytes;
}

}  // namespace

const char* error_code(StoreError::Kind kind) {
  switch (kind) {
    case StoreError::Kind::kQuota:
      return "quota_exceeded";
    case StoreError::Kind::kDiskFull:
      return "disk_full";
    case StoreError::Kind::kExpired:
      return "expired";
    case StoreError::Kind::kIo:
      return "store_error";
  }
  return "store_error";
}

fs::path MessageStore::path_of(const std::string& name) const {
  return dir_ / (name + std::string(kExtension));
}

void MessageStore::quarantine(const fs::path& file, const std::string& why) {
  ++corrupt_;
  std::error_code ec;
  const fs::path corrupt_dir = dir_ / "corrupt";
  fs::create_directory(corrupt_dir, ec);
  fs::rename(file, corrupt_dir / file.filename(), ec);
  spdlog::error("message store: {} is damaged ({}); moved to {}/ and not used", file.string(), why,
                corrupt_dir.string());
}

Result<std::vector<MessageStore::Loaded>, std::string> MessageStore::open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return unexpected("cannot create " + dir_.string() + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  sizes_.clear();
  bytes_ = 0;
  std::vector<Loaded> loaded;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) files.push_back(entry.path());
  if (ec) return unexpected("cannot list " + dir_.string() + ": " + ec.message());
  for (const fs::path& file : files) {
    const std::string filename = file.filename().string();
    // ".<name>.tmp-XXXXXX": a write that a crash interrupted before its rename. Nobody was
    // told it was stored, so it is simply removed.
    if (filename.starts_with(".") && filename.find(".tmp-") != std::string::npos) {
      fs::remove(file, ec);
      spdlog::info("message store: removed {} left by an interrupted write", file.string());
      continue;
    }
    if (file.extension() != kExtension || !fs::is_regular_file(file, ec)) continue;
    auto bytes = read_file(file);
    if (!bytes) {
      quarantine(file, bytes.error());
      continue;
    }
    auto record = decode_record(*bytes);
    if (!record) {
      quarantine(file, record.error());
      continue;
    }
    const std::string name = file.stem().string();
    sizes_[name] = bytes->size();
    bytes_ += bytes->size();
    loaded.push_back(Loaded{name, std::move(*record)});
  }
  return loaded;
}

Result<std::uint64_t, StoreError> MessageStore::put(const std::string& name,
                                                    const MessageRecord& record,
                                                    std::uint64_t quota) {
  const Bytes bytes = encode_record(record);
  const std::uint64_t after = bytes_ - file_bytes(name) + bytes.size();
  if (after > quota) {
    return unexpected(StoreError{
        StoreError::Kind::kQuota,
        "the store in " + dir_.string() + " holds " + std::to_string(bytes_) + " bytes; " +
            std::to_string(bytes.size()) + " more would pass its quota of " +
            std::to_string(quota) + " bytes (store_quota)"});
  }
  int failed_errno = 0;
  std::string error = config::write_file_atomically(path_of(name), bytes, 0600, &failed_errno);
  if (!error.empty()) {
    const bool full = failed_errno == ENOSPC || failed_errno == EDQUOT;
    return unexpected(
        StoreError{full ? StoreError::Kind::kDiskFull : StoreError::Kind::kIo, std::move(error)});
  }
  auto [it, added] = sizes_.try_emplace(name, 0);
  bytes_ = bytes_ - it->second + bytes.size();
  it->second = bytes.size();
  return static_cast<std::uint64_t>(bytes.size());
}

Result<MessageRecord, std::string> MessageStore::read(const std::string& name) const {
  auto bytes = read_file(path_of(name));
  if (!bytes) return unexpected(bytes.error());
  auto record = decode_record(*bytes);
  if (!record) return unexpected(path_of(name).string() + ": " + record.error());
  return record;
}

std::string MessageStore::remove(const std::string& name) {
  std::error_code ec;
  fs::remove(path_of(name), ec);
  if (ec) return "remove " + path_of(name).string() + ": " + ec.message();
  if (auto it = sizes_.find(name); it != sizes_.end()) {
    bytes_ -= it->second;
    sizes_.erase(it);
  }
  return {};
}

std::uint64_t MessageStore::file_bytes(const std::string& name) const {
  const auto it = sizes_.find(name);
  return it == sizes_.end() ? 0 : it->second;
}

}  // namespace e3x::daemon
