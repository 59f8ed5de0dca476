// Seeds for simulated runs. A test states its default seed; E3X_SIM_SEED in the environment
// overrides it, so a failing run can be replayed exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace e3x::sim {

inline constexpr const char* kSeedVariable = "E3X_SIM_SEED";

// E3X_SIM_SEED when set (decimal or 0x-hex), else `fallback`.
std::uint64_t resolve_seed(std::uint64_t fallback);
// `count` consecutive seeds from `first`, or only E3X_SIM_SEED when set.
std::vector<std::uint64_t> resolve_seeds(std::uint64_t first, std::size_t count);

// Derives independent sub-seeds (splitmix64), e.g. one per host from the run's seed.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream);

}  // namespace e3x::sim
