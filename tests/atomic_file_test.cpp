// Atomic file replacement: the new content and mode land, no temporary is left behind, and a
// failure says which step failed without touching anything.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/atomic_file.hpp"
#include "gtest/gtest.h"

namespace e3x::config {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "e3x-atomic-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

unsigned mode_of(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

// The names in `dir`, to check that no temporary stays behind.
std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(AtomicFile, CreatesAFile) {
  TempDir dir;
  const fs::path file = dir.path() / "state.json";
  EXPECT_EQ(write_file_atomically(file, as_bytes("hello")), "");
  EXPECT_EQ(read_text(file), "hello");
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"state.json"});
}

TEST(AtomicFile, ReplacesContentAndAppliesMode) {
  TempDir dir;
  const fs::path file = dir.path() / "state.json";
  std::ofstream(file) << "the old content, which is longer than the new";
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  EXPECT_EQ(write_file_atomically(file, as_bytes("new"), 0644), "");
  EXPECT_EQ(read_text(file), "new");
  EXPECT_EQ(mode_of(file), 0644u);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"state.json"});
}

TEST(AtomicFile, ModeIgnoresUmask) {
  TempDir dir;
  const mode_t old_umask = ::umask(0077);
  EXPECT_EQ(write_file_atomically(dir.path() / "f", as_bytes("x"), 0640), "");
  ::umask(old_umask);
  EXPECT_EQ(mode_of(dir.path() / "f"), 0640u);
}

TEST(AtomicFile, EmptyAndLargeContent) {
  TempDir dir;
  EXPECT_EQ(write_file_atomically(dir.path() / "empty", {}), "");
  EXPECT_EQ(read_text(dir.path() / "empty"), "");
  const std::string large(3 * 1024 * 1024 + 17, 'z');
  EXPECT_EQ(write_file_atomically(dir.path() / "large", as_bytes(large)), "");
  EXPECT_EQ(read_text(dir.path() / "large"), large);
}

TEST(AtomicFile, RelativePathWritesInTheWorkingDirectory) {
  TempDir dir;
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir.path());
  const std::string error = write_file_atomically("relative.txt", as_bytes("here"));
  fs::current_path(old_cwd);
  EXPECT_EQ(error, "");
  EXPECT_EQ(read_text(dir.path() / "relative.txt"), "here");
}

TEST(AtomicFile, FailsInAMissingDirectory) {
  TempDir dir;
  const fs::path file = dir.path() / "missing" / "f";
  EXPECT_EQ(write_file_atomically(file, as_bytes("x")),
            "write " + file.string() + ": create temporary file: No such file or directory");
  EXPECT_TRUE(names_in(dir.path()).empty());
}

// Tests run as root, which ignores directory permissions: a path under a regular file fails
// for everyone.
TEST(AtomicFile, FailsUnderANonDirectory) {
  TempDir dir;
  std::ofstream(dir.path() / "plain") << "x";
  const fs::path file = dir.path() / "plain" / "f";
  EXPECT_EQ(write_file_atomically(file, as_bytes("x")),
            "write " + file.string() + ": create temporary file: Not a directory");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"plain"});
}

// /proc refuses new files even to root.
TEST(AtomicFile, FailsInProc) {
  const std::string error = write_file_atomically("/proc/e3x-atomic-test", as_bytes("x"));
  EXPECT_EQ(error.rfind("write /proc/e3x-atomic-test: create temporary file: ", 0), 0u) << error;
}

TEST(AtomicFile, FailsWhenTheTargetIsADirectory) {
  TempDir dir;
  fs::create_directory(dir.path() / "sub");
  std::ofstream(dir.path() / "sub" / "inside") << "x";  // a non-empty directory: rename fails
  const fs::path target = dir.path() / "sub";
  const std::string error = write_file_atomically(target, as_bytes("x"));
  EXPECT_EQ(error.rfind("write " + target.string() + ": rename: ", 0), 0u) << error;
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"sub"});  // temporary removed
}

TEST(AtomicFile, RejectsAPathWithoutAFileName) {
  TempDir dir;
  const std::string error = write_file_atomically(dir.path() / "", as_bytes("x"));
  EXPECT_NE(error.find("does not name a file"), std::string::npos) << error;
}

TEST(AtomicFile, NewFileIsWrittenOnce) {
  TempDir dir;
  const fs::path file = dir.path() / "identity.json";
  EXPECT_EQ(write_new_file_atomically(file, as_bytes("first")), "");
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(write_new_file_atomically(file, as_bytes("second")),
            "write " + file.string() + ": link: File exists");
  EXPECT_EQ(read_text(file), "first");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"identity.json"});
}

}  // namespace
}  // namespace e3x::config
