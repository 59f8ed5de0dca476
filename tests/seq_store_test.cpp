// The persisted SEQ mark: covers every SEQ handed to it, writes rarely, survives a reload,
// refuses to guess when its file is damaged, and is written with mode 0600.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "daemon/seq_store.hpp"

namespace e3x::daemon {
namespace {

std::filesystem::path temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "seq-store-XXXXXX").string();
  return mkdtemp(pattern.data());
}

TEST(SeqStore, MissingFileMeansNothingWasUsed) {
  SeqStore store(temp_dir() / "seq.json");
  auto loaded = store.load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, 0u);
}

TEST(SeqStore, CoversReservesAheadAndSurvivesARestart) {
  const auto file = temp_dir() / "seq.json";
  SeqStore store(file);
  ASSERT_TRUE(store.load().has_value());
  ASSERT_EQ(store.cover(1'700'000'001), "");
  EXPECT_EQ(store.recorded(), 1'700'000'001u + kSeqReservation);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const auto written = info.st_mtim;

  // Within the reservation nothing is written.
  ASSERT_EQ(store.cover(1'700'000'001 + kSeqReservation), "");
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mtim.tv_nsec, written.tv_nsec);
  EXPECT_EQ(info.st_mtim.tv_sec, written.tv_sec);

  SeqStore reopened(file);
  auto loaded = reopened.load();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, 1'700'000'001u + kSeqReservation);

  // Beyond it, the mark moves.
  ASSERT_EQ(reopened.cover(1'700'009'999), "");
  EXPECT_EQ(SeqStore(file).load().value(), 1'700'009'999u + kSeqReservation);
}

TEST(SeqStore, ClampsAtTheTopOfTheSeqSpace) {
  SeqStore store(temp_dir() / "seq.json");
  ASSERT_EQ(store.cover(0xFFFFFFF0u), "");
  EXPECT_EQ(store.recorded(), 0xFFFFFFFFu);
}

TEST(SeqStore, DamagedFileIsAnErrorNotAGuess) {
  for (const char* content : {"", "garbage", "{\"seq_high_water\":\"12\"}", "{\"other\":1}",
                              "{\"seq_high_water\":-1}", "{\"seq_high_water\":99999999999}"}) {
    const auto file = temp_dir() / "seq.json";
    std::ofstream(file) << content;
    SeqStore store(file);
    auto loaded = store.load();
    EXPECT_FALSE(loaded.has_value()) << "accepted: " << content;
    if (!loaded) {
      EXPECT_NE(loaded.error().find(file.string()), std::string::npos);
    }
  }
}

TEST(SeqStore, UnwritableDirectoryIsReported) {
  SeqStore store("/proc/e3xd-no-such-dir/seq.json");
  const std::string error = store.cover(100);
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(store.recorded(), 0u) << "a failed write must not count as covered";
}

}  // namespace
}  // namespace e3x::daemon
