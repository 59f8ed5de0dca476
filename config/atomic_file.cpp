// Crash-safe file replacement: write a temporary beside the target, make it durable, then
// rename it into place (rename within one directory is atomic) and make the rename durable.
#include "config/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace e3x::config {

namespace {

// How the temporary reaches its final name.
enum class Publish {
  kReplace,    // rename(): replaces an existing file
  kNoReplace,  // link() then unlink(): fails with EEXIST if the file exists
};

std::string step_failed(const std::filesystem::path& path, const char* step, int error,
                        int* failed_errno = nullptr) {
  if (failed_errno) *failed_errno = error;
  return "write " + path.string() + ": " + step + ": " + std::strerror(error);
}

// Writes all of `content`, retrying short writes and interruptions. 0 or an errno.
int write_all(int fd, ByteView content) {
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t wrote = ::write(fd, content.data() + done, content.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) return errno;
    done += static_cast<std::size_t>(wrote);
  }
  return 0;
}

std::string write_atomically(const std::filesystem::path& path, ByteView content, unsigned mode,
                             Publish publish, int* failed_errno) {
  if (failed_errno) *failed_errno = 0;
  const std::filesystem::path name = path.filename();
  if (name.empty() || name == "." || name == "..") {
    return "write " + path.string() + ": the path does not name a file";
  }
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";

  // ".<name>.tmp-XXXXXX" in the same directory, so the rename never crosses file systems.
  // Appended, not "." + name.string(): GCC 12 at -O2 and above reports a false -Wrestrict when
  // a literal is inserted in front of a temporary string.
  std::string temp_name = ".";
  temp_name += name.string();
  temp_name += ".tmp-XXXXXX";
  std::string temp = (dir / temp_name).string();
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return step_failed(path, "create temporary file", errno, failed_errno);

  // Every failure from here on closes and removes the temporary.
  const auto abandon = [&](const char* step, int error, bool close_fd) {
    if (close_fd) ::close(fd);
    ::unlink(temp.c_str());
    return step_failed(path, step, error, failed_errno);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return abandon("chmod", errno, true);
  if (int error = write_all(fd, content); error != 0) return abandon("write", error, true);
  if (::fsync(fd) != 0) return abandon("fsync", errno, true);
  if (::close(fd) != 0) return abandon("close", errno, false);

  if (publish == Publish::kReplace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) return abandon("rename", errno, false);
  } else {
    if (::link(temp.c_str(), path.c_str()) != 0) return abandon("link", errno, false);
    ::unlink(temp.c_str());
  }

  // The new directory entry is durable only once the directory itself is synced.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return step_failed(path, "open directory", errno, failed_errno);
  const int sync_result = ::fsync(dir_fd);
  const int sync_error = errno;
  ::close(dir_fd);
  if (sync_result != 0) return step_failed(path, "fsync directory", sync_error, failed_errno);
  return {};
}

}  // namespace

std::string write_file_atomically(const std::filesystem::path& path, ByteView content,
                                  unsigned mode, int* failed_errno) {
  return write_atomically(path, content, mode, Publish::kReplace, failed_errno);
}

std::string write_new_file_atomically(const std::filesystem::path& path, ByteView content,
                                      unsigned mode) {
  return write_atomically(path, content, mode, Publish::kNoReplace, nullptr);
}

}  // namespace e3x::config
