// The simulated network itself (tests/sim/network.hpp): scenario tests rely on its NAT, link
// and partition behaviour, so that behaviour is pinned down here without any endpoint.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "sim/network.hpp"
#include "sim/seed.hpp"

namespace e3x::sim {
namespace {

constexpr Instant kT0 = Instant{} + seconds(100);
const Address kOutside = ipv4(198, 51, 100, 7, 5000);

TEST(SimNat, KeepsMappingWhileUsedAndRebindsAfterIdleTimeout) {
  Nat nat(NatOptions{ipv4(203, 0, 113, 10, 0).ip, seconds(30), false, 40000});
  const Address inside = ipv4(192, 168, 0, 2, 4000);
  const Address first = nat.outbound(inside, kOutside, kT0);
  EXPECT_EQ(first.ip, ipv4(203, 0, 113, 10, 0).ip);
  EXPECT_EQ(nat.inbound(first.port, kOutside, kT0 + seconds(29)), inside);
  // Outbound use at +20 s refreshes: still alive at +49 s.
  EXPECT_EQ(nat.outbound(inside, kOutside, kT0 + seconds(20)), first);
  EXPECT_EQ(nat.inbound(first.port, kOutside, kT0 + seconds(49)), inside);
  // Inbound does not refresh by default: gone 30 s after the last outbound use.
  EXPECT_EQ(nat.inbound(first.port, kOutside, kT0 + seconds(50)), std::nullopt);
  EXPECT_EQ(nat.mapping_of(inside, kT0 + seconds(50)), std::nullopt);
  const Address second = nat.outbound(inside, kOutside, kT0 + seconds(51));
  EXPECT_NE(second.port, first.port);
  EXPECT_EQ(nat.inbound(first.port, kOutside, kT0 + seconds(51)), std::nullopt);
  EXPECT_EQ(nat.inbound(second.port, kOutside, kT0 + seconds(51)), inside);
  EXPECT_EQ(nat.mappings_created(), 2u);
}

TEST(SimNat, SymmetricMappingGivesEachDestinationItsOwnPort) {
  NatOptions options{ipv4(203, 0, 113, 10, 0).ip, seconds(30), false, 40000};
  options.symmetric = true;
  Nat nat(options);
  const Address inside = ipv4(192, 168, 0, 2, 4000);
  const Address other = ipv4(198, 51, 100, 8, 5000);
  const Address to_outside = nat.outbound(inside, kOutside, kT0);
  const Address to_other = nat.outbound(inside, other, kT0);
  EXPECT_NE(to_outside.port, to_other.port);
  EXPECT_EQ(nat.outbound(inside, kOutside, kT0 + seconds(1)), to_outside);  // kept while used
  EXPECT_EQ(nat.mappings_created(), 2u);
}

TEST(SimNat, AddressDependentFilteringAdmitsOnlyContactedSources) {
  NatOptions options{ipv4(203, 0, 113, 10, 0).ip, seconds(30), false, 40000};
  options.address_dependent_filtering = true;
  Nat nat(options);
  const Address inside = ipv4(192, 168, 0, 2, 4000);
  const Address other = ipv4(198, 51, 100, 8, 5000);
  const Address pub = nat.outbound(inside, kOutside, kT0);
  EXPECT_EQ(nat.inbound(pub.port, kOutside, kT0), inside);
  EXPECT_EQ(nat.inbound(pub.port, other, kT0), std::nullopt);  // never sent to: filtered
  // Sending to `other` (a hole punch) opens the same mapping to it.
  EXPECT_EQ(nat.outbound(inside, other, kT0 + seconds(1)), pub);
  EXPECT_EQ(nat.inbound(pub.port, other, kT0 + seconds(1)), inside);
}

TEST(SimNat, InboundRefreshWhenConfigured) {
  Nat nat(NatOptions{ipv4(203, 0, 113, 10, 0).ip, seconds(10), true, 40000});
  const Address inside = ipv4(192, 168, 0, 2, 4000);
  const Address pub = nat.outbound(inside, kOutside, kT0);
  EXPECT_EQ(nat.inbound(pub.port, kOutside, kT0 + seconds(9)), inside);
  EXPECT_EQ(nat.inbound(pub.port, kOutside, kT0 + seconds(18)), inside);
}

TEST(SimNetwork, NatRewritesSourceAndDropsTrafficToExpiredMapping) {
  Network net(resolve_seed(1));
  const NatId nat = net.add_nat(NatOptions{ipv4(203, 0, 113, 10, 0).ip, seconds(30), false, 40000});
  const NodeId inside = net.add_node(ipv4(192, 168, 0, 2, 4000), nat);
  const NodeId outside = net.add_node(ipv4(10, 0, 0, 1, 4000));
  net.send(kT0, inside, ipv4(10, 0, 0, 1, 4000), Bytes{1});
  auto delivery = net.pop_due(kT0 + seconds(1));
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->node, outside);
  const Address mapped = delivery->from;
  EXPECT_EQ(mapped.ip, ipv4(203, 0, 113, 10, 0).ip);
  // Reply through the mapping reaches the inside node.
  net.send(kT0 + seconds(1), outside, mapped, Bytes{2});
  delivery = net.pop_due(kT0 + seconds(2));
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->node, inside);
  // After the idle timeout the same reply is dropped at the NAT.
  net.send(kT0 + seconds(31), outside, mapped, Bytes{3});
  EXPECT_EQ(net.sent_log().back().fate, Fate::kNatDropped);
  EXPECT_FALSE(net.pop_due(kT0 + seconds(40)).has_value());
  // The inside node's next send gets a new public port.
  net.send(kT0 + seconds(41), inside, ipv4(10, 0, 0, 1, 4000), Bytes{4});
  delivery = net.pop_due(kT0 + seconds(42));
  ASSERT_TRUE(delivery.has_value());
  EXPECT_NE(delivery->from, mapped);
  // The private address is not reachable from outside.
  net.send(kT0 + seconds(43), outside, ipv4(192, 168, 0, 2, 4000), Bytes{5});
  EXPECT_EQ(net.sent_log().back().fate, Fate::kUnroutable);
}

TEST(SimNetwork, LossDuplicationAndJitterFollowTheirParameters) {
  const std::uint64_t seed = resolve_seed(7);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Network net(seed);
  const NodeId a = net.add_node(ipv4(10, 0, 0, 1, 1));
  const NodeId b = net.add_node(ipv4(10, 0, 0, 2, 1));
  net.set_link(a, b, LinkParams{milliseconds(20), milliseconds(20), 0.2, 0.1});
  constexpr int kSends = 5000;
  for (int i = 0; i < kSends; ++i) {
    net.send(kT0 + milliseconds(i), a, ipv4(10, 0, 0, 2, 1),
             Bytes{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)});
  }
  std::vector<int> order;
  while (auto d = net.pop_due(kT0 + seconds(100))) {
    EXPECT_GE(d->at, kT0 + milliseconds(20));
    order.push_back(d->bytes[0] | (d->bytes[1] << 8));
  }
  const auto& stats = net.stats();
  EXPECT_NEAR(static_cast<double>(stats.lost) / kSends, 0.2, 0.03);
  EXPECT_NEAR(static_cast<double>(stats.duplicated) / (kSends - stats.lost), 0.1, 0.03);
  EXPECT_EQ(order.size(), kSends - stats.lost + stats.duplicated);
  EXPECT_GT(stats.reordered, 0u);
  bool any_out_of_order = false;
  for (std::size_t i = 1; i < order.size(); ++i) any_out_of_order |= order[i] < order[i - 1];
  EXPECT_TRUE(any_out_of_order);
}

TEST(SimNetwork, BurstLossDropsWholeRuns) {
  const std::uint64_t seed = resolve_seed(8);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Network net(seed);
  const NodeId a = net.add_node(ipv4(10, 0, 0, 1, 1));
  const NodeId b = net.add_node(ipv4(10, 0, 0, 2, 1));
  LinkParams params{milliseconds(20)};
  params.burst_loss = 0.1;
  params.burst_length = 64;
  net.set_link_one_way(a, b, params);
  // 2000 batches of 64 datagrams, each sent at one instant (the first batch at kT0 + 1 ms has
  // 128 sends at once: two runs).
  constexpr int kRuns = 2000;
  for (int i = 0; i < kRuns * 64; ++i) {
    net.send(kT0 + milliseconds(std::max(1, i / 64)), a, ipv4(10, 0, 0, 2, 1), Bytes{1});
  }
  // Every run of 64 sends shares one fate, and about a tenth of the runs are lost.
  int lost_runs = 0;
  const auto& log = net.sent_log();
  for (int run = 0; run < kRuns; ++run) {
    const Fate fate = log[static_cast<std::size_t>(run) * 64].fate;
    for (int i = 1; i < 64; ++i) {
      ASSERT_EQ(log[static_cast<std::size_t>(run) * 64 + i].fate, fate) << "run " << run;
    }
    lost_runs += fate == Fate::kLost ? 1 : 0;
  }
  EXPECT_NEAR(static_cast<double>(lost_runs) / kRuns, 0.1, 0.025);
  // The other direction has no burst loss.
  for (int i = 0; i < 640; ++i) net.send(kT0, b, ipv4(10, 0, 0, 1, 1), Bytes{1});
  EXPECT_EQ(net.stats().lost, static_cast<std::uint64_t>(lost_runs) * 64);
  // Sends at different instants are runs of one: lost independently.
  const std::uint64_t before = net.stats().lost;
  constexpr int kLone = 20000;
  for (int i = 0; i < kLone; ++i) {
    net.send(kT0 + seconds(10) + milliseconds(i), a, ipv4(10, 0, 0, 2, 1), Bytes{1});
  }
  EXPECT_NEAR(static_cast<double>(net.stats().lost - before) / kLone, 0.1, 0.01);
}

TEST(SimNetwork, SameSeedSameFates) {
  auto run = [](std::uint64_t seed) {
    Network net(seed);
    const NodeId a = net.add_node(ipv4(10, 0, 0, 1, 1));
    net.add_node(ipv4(10, 0, 0, 2, 1));
    net.set_default_link(LinkParams{milliseconds(5), milliseconds(50), 0.3, 0.3});
    std::vector<std::pair<Instant, Fate>> out;
    for (int i = 0; i < 200; ++i) net.send(kT0, a, ipv4(10, 0, 0, 2, 1), Bytes{1});
    for (const auto& r : net.sent_log()) out.emplace_back(r.at, r.fate);
    while (auto d = net.pop_due(kT0 + seconds(1))) out.emplace_back(d->at, Fate::kDelivered);
    return out;
  };
  const std::uint64_t seed = resolve_seed(11);
  EXPECT_EQ(run(seed), run(seed));
  EXPECT_NE(run(seed), run(seed + 1));
}

TEST(SimNetwork, PartitionDropsOnlyInsideItsWindow) {
  Network net(resolve_seed(3));
  const NodeId a = net.add_node(ipv4(10, 0, 0, 1, 1));
  const NodeId b = net.add_node(ipv4(10, 0, 0, 2, 1));
  const NodeId c = net.add_node(ipv4(10, 0, 0, 3, 1));
  net.partition(a, b, kT0 + seconds(10), kT0 + seconds(20));
  EXPECT_TRUE(net.link_up(a, b, kT0 + seconds(9)));
  EXPECT_FALSE(net.link_up(a, b, kT0 + seconds(10)));
  EXPECT_FALSE(net.link_up(b, a, kT0 + seconds(19)));
  EXPECT_TRUE(net.link_up(a, b, kT0 + seconds(20)));
  EXPECT_TRUE(net.link_up(a, c, kT0 + seconds(15)));
  net.send(kT0 + seconds(15), b, ipv4(10, 0, 0, 1, 1), Bytes{1});
  EXPECT_EQ(net.sent_log().back().fate, Fate::kPartitioned);
  net.isolate(c, kT0 + seconds(30), kT0 + seconds(40));
  EXPECT_FALSE(net.link_up(a, c, kT0 + seconds(35)));
  EXPECT_TRUE(net.link_up(a, b, kT0 + seconds(35)));
}

}  // namespace
}  // namespace e3x::sim
