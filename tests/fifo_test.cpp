#include "core/fifo.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <string>

namespace e3x {
namespace {

// Random pushes and pops against std::deque as the reference.
TEST(Fifo, BehavesLikeADeque) {
  std::mt19937 rng(7);
  Fifo<std::string> fifo;
  std::deque<std::string> reference;
  for (int step = 0; step < 100000; ++step) {
    if (rng() % 3 != 0 || reference.empty()) {
      const std::string item = std::to_string(step);
      fifo.push_back(item);
      reference.push_back(item);
    } else {
      ASSERT_EQ(fifo.front(), reference.front());
      fifo.pop_front();
      reference.pop_front();
    }
    ASSERT_EQ(fifo.size(), reference.size());
    ASSERT_EQ(fifo.empty(), reference.empty());
  }
  fifo.clear();
  EXPECT_TRUE(fifo.empty());
}

TEST(Fifo, FrontIsWritable) {
  Fifo<int> fifo;
  fifo.push_back(1);
  fifo.push_back(2);
  fifo.front() = 5;
  EXPECT_EQ(fifo.front(), 5);
  fifo.pop_front();
  EXPECT_EQ(fifo.front(), 2);
}

}  // namespace
}  // namespace e3x
