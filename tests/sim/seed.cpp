#include "sim/seed.hpp"

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>

namespace e3x::sim {

namespace {
std::optional<std::uint64_t> seed_from_env() {
  const char* text = std::getenv(kSeedVariable);
  if (text == nullptr || *text == '\0') return std::nullopt;
  try {
    return std::stoull(text, nullptr, 0);
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string(kSeedVariable) + " is not a number: " + text);
  }
}
}  // namespace

std::uint64_t resolve_seed(std::uint64_t fallback) {
  return seed_from_env().value_or(fallback);
}

std::vector<std::uint64_t> resolve_seeds(std::uint64_t first, std::size_t count) {
  if (auto seed = seed_from_env()) return {*seed};
  std::vector<std::uint64_t> seeds;
  for (std::size_t i = 0; i < count; ++i) seeds.push_back(first + i);
  return seeds;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ull * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace e3x::sim
