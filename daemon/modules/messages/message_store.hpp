// A directory of message records, one file per message (`<name>.msg`), each written whole
// and atomically (temporary, fsync, rename, fsync of the directory) with mode 0600.
//
// Opening the store removes temporaries a crash left behind (they were never acknowledged to
// anyone) and moves files that fail their checksum to `corrupt/` with a log line, so a torn or
// damaged file is detected, kept for inspection, and never delivered.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "daemon/modules/messages/message_record.hpp"

namespace e3x::daemon {

struct StoreError {
  enum class Kind {
    kQuota,     // store_quota would be exceeded
    kDiskFull,  // ENOSPC or EDQUOT from the file system
    kExpired,   // the message has no valid expiry (PROTOCOL.md 10.7): not stored
    kIo,        // anything else
  };
  Kind kind = Kind::kIo;
  std::string message;
};
// "quota_exceeded", "disk_full", "expired", "store_error": the control protocol's error codes.
const char* error_code(StoreError::Kind kind);

class MessageStore {
 public:
  explicit MessageStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  struct Loaded {
    std::string name;
    MessageRecord record;
  };
  // Creates the directory (0700) if needed, cleans up after a crash and reads every record.
  // Errors only when the directory itself cannot be made or listed.
  Result<std::vector<Loaded>, std::string> open();

  // Writes `record` as `name` (replacing any file of that name; names are [A-Za-z0-9._-]+
  // and do not start with a dot),
  // unless the store's files would then take more than `quota` bytes. Returns the file size.
  Result<std::uint64_t, StoreError> put(const std::string& name, const MessageRecord& record,
                                        std::uint64_t quota = UINT64_MAX);
  Result<MessageRecord, std::string> read(const std::string& name) const;
  // Removes `name`; removing a file that is already gone is not an error.
  std::string remove(const std::string& name);

  // Bytes of every record file now in the store.
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t file_bytes(const std::string& name) const;
  std::size_t corrupt_files() const { return corrupt_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path path_of(const std::string& name) const;
  void quarantine(const std::filesystem::path& file, const std::string& why);

  std::filesystem::path dir_;
  std::map<std::string, std::uint64_t> sizes_;
  std::uint64_t bytes_ = 0;
  std::size_t corrupt_ = 0;
};

}  // namespace e3x::daemon
