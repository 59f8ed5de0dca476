// BBR on the simulated network (PROTOCOL.md section 13, issue 13): a reliable stream through
// random loss measured against NewReno and CUBIC in the same seeded run; through a deep
// queue without loss it keeps no standing queue; two streams on one path share it. Every run
// is seeded (E3X_SIM_SEED replays one; scripts/sim-seeds.sh runs many).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

double seconds_of(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// A one-way bulk stream a -> b on a reliable channel, topped up to what
// channel_send_capacity() allows after every simulator step; the receiver checks order.
struct Bulk {
  Host* from = nullptr;
  Host* to = nullptr;
  std::uint32_t channel = 0;
  std::size_t body = 0;
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t bytes = 0;
  bool order_ok = true;

  void open(Simulator& sim) {
    channel = sim.open_channel(*from, *to, "bulk", true, bytes_of("bulk"));
    body = from->endpoint().channel_quota(to->hashname(), channel);
  }
  void top_up(Simulator& sim) {
    while (from->endpoint().channel_send_capacity(to->hashname(), channel) > 0) {
      Bytes data(body, static_cast<std::uint8_t>(sent));
      std::memcpy(data.data(), &sent, sizeof sent);
      auto result =
          from->endpoint().send_channel(sim.now(), to->hashname(), channel, {}, std::move(data));
      ASSERT_TRUE(result.has_value()) << to_string(result.error());
      ++sent;
    }
    sim.drain(*from);
  }
  void on_data(const event::ChannelData& data) {
    std::uint64_t index = 0;
    if (data.body.size() >= sizeof index) std::memcpy(&index, data.body.data(), sizeof index);
    if (index != delivered || data.body.size() != body) order_ok = false;
    ++delivered;
    bytes += data.body.size();
  }
};

void route(Host& receiver, std::vector<Bulk*> streams) {
  receiver.on_event = [streams](Host& host, const Event& e) {
    if (const auto* data = std::get_if<event::ChannelData>(&e)) {
      for (Bulk* s : streams) {
        if (s->channel == data->channel && s->to == &host) s->on_data(*data);
      }
    }
  };
}

// Two hosts in sync with one congestion control, `link` set after the handshake.
struct Pair {
  Pair(std::uint64_t seed, CongestionAlgorithm algorithm, LinkParams link) : sim(seed) {
    sim.network().set_capture(false);
    HostOptions options;
    options.congestion = algorithm;
    options.name = "a";
    a = &sim.add_host(options);
    options.name = "b";
    b = &sim.add_host(options);
    sim.make_peers(*a, *b);
    EXPECT_TRUE(sim.connect(*a, *b).has_value());
    EXPECT_TRUE(sim.run_until_in_sync(*a, *b, seconds(10)));
    sim.network().set_default_link(link);
  }
  Simulator sim;
  Host* a = nullptr;
  Host* b = nullptr;
};

struct Measured {
  double goodput = 0;  // bytes per second over the measured interval
  PathFlowStats path;
  std::uint32_t receive_window = 0;  // packets, the receiver's at the end
  bool order_ok = false;
};

// One bulk stream a -> b for `warmup` + `measured`; goodput over `measured`.
Measured bulk_run(std::uint64_t seed, CongestionAlgorithm algorithm, LinkParams link,
                  Duration warmup, Duration measured) {
  Pair pair(seed, algorithm, link);
  Simulator& sim = pair.sim;
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  route(*pair.b, {&bulk});
  bulk.open(sim);
  auto run_until = [&](Instant at) {
    while (sim.now() < at) {
      bulk.top_up(sim);
      if (!sim.step(at)) sim.run_until_time(at);
    }
  };
  const Instant start = sim.now();
  run_until(start + warmup);
  const std::uint64_t before = bulk.bytes;
  run_until(start + warmup + measured);
  Measured run;
  run.goodput = static_cast<double>(bulk.bytes - before) / seconds_of(measured);
  if (auto path = pair.a->endpoint().path_flow(pair.b->hashname())) run.path = *path;
  if (auto rx = pair.b->endpoint().channel_flow(pair.a->hashname(), bulk.channel)) {
    run.receive_window = rx->receive_window;
  }
  run.order_ok = bulk.order_ok;
  return run;
}

void print_run(const char* what, const Measured& run, std::uint64_t rate) {
  std::printf(
      "[ sim ] %-8s %-8s %7.2f Mbit/s (%5.1f%% of the link); window %zu bytes, pacing %.2f "
      "Mbit/s, srtt %.1f ms, %llu congestion events, receive window %u packets\n",
      what, run.path.algorithm, run.goodput * 8 / 1e6,
      100 * run.goodput / static_cast<double>(rate), run.path.window,
      run.path.pacing_rate * 8 / 1e6, run.path.srtt ? seconds_of(*run.path.srtt) * 1000 : -1.0,
      static_cast<unsigned long long>(run.path.congestion_events), run.receive_window);
}

constexpr std::uint64_t kRate = 12'500'000;  // bytes per second: 100 Mbit/s
constexpr std::size_t kQueue = 350;          // one product (40 ms x 100 Mbit/s = 500 kB)

// (a) 1% random loss each way, 40 ms, 100 Mbit/s (bench/run-emulated.sh's lossy setting).
// A loss-based controller halves its window on every loss episode, so its rate is bounded
// by the Mathis model: 1400 B / 40 ms * 1.22 / sqrt(0.01) = 427 kB/s, about 3.4 Mbit/s.
// BBR does not take random loss as congestion: it keeps pacing at the bandwidth it
// measures. Seconds 2 to 12 of each stream are measured, the same seed for all three.
TEST(SimBbr, OutrunsNewRenoManyTimesThroughOnePercentRandomLoss) {
  const std::uint64_t seed = resolve_seed(1401);
  const LinkParams link{milliseconds(20), Duration::zero(), 0.01, 0.0, kRate, kQueue};
  const Measured newreno =
      bulk_run(seed, CongestionAlgorithm::kNewReno, link, seconds(2), seconds(10));
  const Measured cubic = bulk_run(seed, CongestionAlgorithm::kCubic, link, seconds(2), seconds(10));
  const Measured bbr = bulk_run(seed, CongestionAlgorithm::kBbr, link, seconds(2), seconds(10));
  print_run("1% loss", newreno, kRate);
  print_run("1% loss", cubic, kRate);
  print_run("1% loss", bbr, kRate);
  std::printf("[ sim ] BBR / NewReno: %.1f\n", bbr.goodput / newreno.goodput);
  EXPECT_TRUE(newreno.order_ok && cubic.order_ok && bbr.order_ok);
  EXPECT_EQ(bbr.path.persistent_congestion, 0u);
  // Over seeds 1 to 50: NewReno 2.1 to 3.6 Mbit/s (the model's 3.4, less slow recoveries),
  // CUBIC 2.3 to 3.6, BBR 85 to 91.5 (median 90): at least 24.6 times NewReno in the same
  // run. Since an expired RTprop is renewed without ProbeRTT when an RTT came close to it,
  // BBR makes 91.4 to 93.6 (median 92.9, seeds 1 to 40). Before the receive window made room for
  // repairs (core-decisions.md) BBR made 31 to 52: consumption stalls a round trip behind every
  // hole, and the window followed it down. Asserted with over a quarter of margin below the worst
  // seed seen.
  EXPECT_GE(bbr.goodput, 18 * newreno.goodput);
  EXPECT_GE(bbr.goodput, 0.65 * static_cast<double>(kRate));
}

// The same path without loss: every controller fills it (figures for the comparison).
TEST(SimBbr, FillsACleanPathLikeTheOthers) {
  const std::uint64_t seed = resolve_seed(1402);
  const LinkParams link{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, kQueue};
  const Measured newreno =
      bulk_run(seed, CongestionAlgorithm::kNewReno, link, seconds(2), seconds(10));
  const Measured cubic = bulk_run(seed, CongestionAlgorithm::kCubic, link, seconds(2), seconds(10));
  const Measured bbr = bulk_run(seed, CongestionAlgorithm::kBbr, link, seconds(2), seconds(10));
  print_run("no loss", newreno, kRate);
  print_run("no loss", cubic, kRate);
  print_run("no loss", bbr, kRate);
  EXPECT_TRUE(bbr.order_ok);
  // Seen: 94.2 Mbit/s (NewReno and CUBIC 94.0, with 20 ms of queue). The RTprop expiring in
  // the 10 s measured is renewed without ProbeRTT (an RTT of the last 10 s came within an
  // eighth of it): with a ProbeRTT there, the flight held at half a product, 92.8; at 4
  // packets (BBR v1), 91.7.
  EXPECT_EQ(bbr.path.congestion_events, 0u);
  EXPECT_GE(bbr.goodput, 0.935 * static_cast<double>(kRate));
}

// A fresh stream, its first 8 s: Startup must end without overflowing the queue. It used to
// at 0.5 s (the receive window doubled to 2.4 products just as Startup doubled its rate; two
// loss episodes, and in-order delivery stalled about 200 ms behind the repairs: 90.0 Mbit/s
// over these 8 s, against 91.6 now and NewReno's 91.5).
TEST(SimBbr, AFreshStreamLeavesStartupWithoutOverflowingTheQueue) {
  const std::uint64_t seed = resolve_seed(1405);
  const LinkParams link{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, kQueue};
  const Measured bbr =
      bulk_run(seed, CongestionAlgorithm::kBbr, link, Duration::zero(), seconds(8));
  print_run("first 8s", bbr, kRate);
  EXPECT_TRUE(bbr.order_ok);
  EXPECT_EQ(bbr.path.congestion_events, 0u);
  EXPECT_GE(bbr.goodput, 0.91 * static_cast<double>(kRate));
}

// `count` small messages a -> b on a reliable channel, one every 50 ms (a round trip and a
// little more each on the 40 ms link), then 50 ms more: the short exchanges that come before
// or between transfers. `run_until(at, nullptr)` advances the simulator.
template <typename RunUntil>
void send_trickle(Pair& pair, RunUntil& run_until, int count) {
  Simulator& sim = pair.sim;
  const std::uint32_t control =
      sim.open_channel(*pair.a, *pair.b, "control", true, bytes_of("hello"));
  for (int i = 0; i < count; ++i) {
    run_until(sim.now() + milliseconds(50), nullptr);
    EXPECT_TRUE(pair.a->endpoint()
                    .send_channel(sim.now(), pair.b->hashname(), control, {}, Bytes(100, 'q'))
                    .has_value());
    sim.drain(*pair.a);
  }
  run_until(sim.now() + milliseconds(50), nullptr);
}

// A transfer often follows a short exchange on the same path (iperf3's control connection, an
// HTTP request): a fresh controller's first samples are then a trickle's. Startup must still
// begin from the window over the round trip, not from the trickle's rate: the first two
// seconds of a stream after ten small messages deliver as much as without them (they used to
// deliver 8% less, 76.3 against 83.2 Mbit/s: Startup doubled up from the trickle's rate).
double first_seconds_goodput(std::uint64_t seed, bool trickle_first) {
  const LinkParams link{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, kQueue};
  Pair pair(seed, CongestionAlgorithm::kBbr, link);
  Simulator& sim = pair.sim;
  auto run_until = [&](Instant at, Bulk* bulk) {
    while (sim.now() < at) {
      if (bulk != nullptr) bulk->top_up(sim);
      if (!sim.step(at)) sim.run_until_time(at);
    }
  };
  run_until(sim.now() + seconds(2), nullptr);  // the handshake's flight is long settled
  if (trickle_first) send_trickle(pair, run_until, 10);
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  route(*pair.b, {&bulk});
  bulk.open(sim);
  run_until(sim.now() + seconds(2), &bulk);
  EXPECT_TRUE(bulk.order_ok);
  return static_cast<double>(bulk.bytes) / 2;
}

TEST(SimBbr, AStreamAfterATrickleStartsAsFastAsAFreshOne) {
  const std::uint64_t seed = resolve_seed(1406);
  const double fresh = first_seconds_goodput(seed, false);
  const double after_trickle = first_seconds_goodput(seed, true);
  std::printf("[ sim ] first 2 s: fresh %.2f Mbit/s, after a trickle %.2f Mbit/s\n",
              fresh * 8 / 1e6, after_trickle * 8 / 1e6);
  EXPECT_GE(after_trickle, 0.95 * fresh);
}

// The same after a bulk stream on the same path: one transfer ends, a few short exchanges
// follow (iperf3's results and its next test's setup, an HTTP response and the next request)
// and the next transfer starts on a new channel, whose receive window begins at 100 packets.
// Its first round trips are held by that window, not by the path. Their samples used to count
// as the path's bandwidth, replacing the last stream's (which the trickle's round trips had
// aged out of BBR's filter) with about a quarter of the link: 78.2 against 83.3 Mbit/s here,
// and on the emulated path a ramp from 22 to 92 Mbit/s over 1.4 s.
double second_stream_goodput(std::uint64_t seed) {
  const LinkParams link{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, kQueue};
  Pair pair(seed, CongestionAlgorithm::kBbr, link);
  Simulator& sim = pair.sim;
  auto run_until = [&](Instant at, Bulk* bulk) {
    while (sim.now() < at) {
      if (bulk != nullptr) bulk->top_up(sim);
      if (!sim.step(at)) sim.run_until_time(at);
    }
  };
  run_until(sim.now() + seconds(2), nullptr);
  Bulk first;
  first.from = pair.a;
  first.to = pair.b;
  Bulk second;
  second.from = pair.a;
  second.to = pair.b;
  route(*pair.b, {&first, &second});
  first.open(sim);
  run_until(sim.now() + seconds(2), &first);
  run_until(sim.now() + milliseconds(200), nullptr);  // the first stream's flight drains
  send_trickle(pair, run_until, 12);                  // a dozen round trips of small messages
  second.open(sim);
  run_until(sim.now() + seconds(2), &second);
  EXPECT_TRUE(second.order_ok);
  return static_cast<double>(second.bytes) / 2;
}

TEST(SimBbr, AStreamAfterAnotherAndATrickleStartsAsFastAsAFreshOne) {
  const std::uint64_t seed = resolve_seed(1407);
  const double fresh = first_seconds_goodput(seed, false);
  const double second = second_stream_goodput(seed);
  std::printf("[ sim ] first 2 s: fresh %.2f Mbit/s, after a stream and a trickle %.2f Mbit/s\n",
              fresh * 8 / 1e6, second * 8 / 1e6);
  EXPECT_GE(second, 0.95 * fresh);
}

// (b) Through a 50 Mbit/s bottleneck with a deep queue (1000 packets, over five times the
// product of 250 kB), BBR keeps the path busy without a queue of its own making: it paces at
// the bandwidth it measured, its window is twice the product, and ProbeBW's one probing
// round in eight queues at most a quarter of a product, which the next round drains. A ping
// on an unreliable channel of the same exchange, through the same queue, measures it.
// (SimReliableSpeed.ABulkStreamKeepsNoStandingQueue is the same scenario with NewReno,
// where the receive window is what bounds the queue.)
TEST(SimBbr, ABulkStreamKeepsNoStandingQueue) {
  constexpr std::uint64_t kBottleneck = 6'250'000;
  constexpr std::size_t kDeepQueue = 1000;
  Pair pair(resolve_seed(1403), CongestionAlgorithm::kBbr,
            LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0, kBottleneck, kDeepQueue});
  Simulator& sim = pair.sim;
  Host& a = *pair.a;
  Host& b = *pair.b;
  std::uint32_t ping = 0;
  std::vector<Duration> rtts;
  Bulk bulk;
  bulk.from = &a;
  bulk.to = &b;
  route(b, {&bulk});
  auto bulk_handler = b.on_event;
  b.on_event = [&](Host& host, const Event& e) {
    // b echoes the ping on the channel it came on.
    const Bytes* body = nullptr;
    std::uint32_t channel = 0;
    if (const auto* opened = std::get_if<event::ChannelOpened>(&e); opened && !opened->reliable) {
      body = &opened->body;
      channel = opened->channel;
    } else if (const auto* data = std::get_if<event::ChannelData>(&e);
               data && data->channel == ping) {
      body = &data->body;
      channel = data->channel;
    }
    if (body != nullptr) {
      (void)host.endpoint().send_channel(sim.now(), a.hashname(), channel, {}, *body);
      return;
    }
    bulk_handler(host, e);
  };
  a.on_event = [&](Host&, const Event& e) {
    if (const auto* data = std::get_if<event::ChannelData>(&e); data && data->channel == ping) {
      std::int64_t sent = 0;
      std::memcpy(&sent, data->body.data(), sizeof sent);
      rtts.push_back(sim.now() - (Instant{} + Duration{sent}));
    }
  };
  auto stamp = [&] {
    Bytes body(16, 0);
    const std::int64_t at = sim.now().time_since_epoch().count();
    std::memcpy(body.data(), &at, sizeof at);
    return body;
  };
  ping = sim.open_channel(a, b, "ping", false, stamp());
  Instant next_ping = sim.now() + milliseconds(100);
  auto run_until = [&](Instant at, bool streaming) {
    while (sim.now() < at) {
      if (streaming) bulk.top_up(sim);
      const Instant limit = std::min(at, next_ping);
      if (!sim.step(limit)) sim.run_until_time(limit);
      if (sim.now() >= next_ping) {
        (void)sim.send_channel(a, b, ping, stamp());
        next_ping += milliseconds(100);
      }
    }
  };
  run_until(sim.now() + seconds(2), false);
  ASSERT_FALSE(rtts.empty());
  const Duration idle = *std::min_element(rtts.begin(), rtts.end());
  bulk.open(sim);
  const Instant start = sim.now();
  run_until(start + seconds(5), true);
  const std::uint64_t bytes_before = bulk.bytes;
  const std::size_t pings_before = rtts.size();
  run_until(start + seconds(25), true);
  std::vector<Duration> during(rtts.begin() + static_cast<std::ptrdiff_t>(pings_before),
                               rtts.end());
  ASSERT_GT(during.size(), 190u);
  std::sort(during.begin(), during.end());
  const Duration median = during[during.size() / 2];
  const Duration p90 = during[during.size() * 9 / 10];
  const Duration worst = during.back();
  const double goodput = static_cast<double>(bulk.bytes - bytes_before) / 20;
  const auto path = a.endpoint().path_flow(b.hashname());
  ASSERT_TRUE(path);
  std::printf(
      "[ sim ] bbr, bottleneck %.0f kB/s, queue %zu: goodput %.0f kB/s (%.0f%%); ping idle "
      "%.1f ms, under load median %.1f ms, 90th %.1f ms, worst %.1f ms; cwnd %zu bytes, %llu "
      "queue drops\n",
      static_cast<double>(kBottleneck) / 1000, kDeepQueue, goodput / 1000,
      100 * goodput / static_cast<double>(kBottleneck), seconds_of(idle) * 1000,
      seconds_of(median) * 1000, seconds_of(p90) * 1000, seconds_of(worst) * 1000, path->window,
      static_cast<unsigned long long>(sim.network().stats().queue_full));
  EXPECT_TRUE(bulk.order_ok);
  EXPECT_GE(goodput, 0.9 * static_cast<double>(kBottleneck));
  // Seen: idle 40.0 ms; under load median 42.3 ms, 90th percentile 48 ms, worst 53 ms (the
  // probing phases). NewReno in the same scenario: median 60 ms, worst 77 ms.
  EXPECT_LE(median, idle * 5 / 4);
  EXPECT_LE(worst, idle * 3 / 2);
}

// (c) Two BBR streams on one path (two channels of one exchange, so one controller) through
// a 20 Mbit/s bottleneck: the second starts 3 s after the first; over the last 12 s of 20
// each gets within 20% of half, and together they keep the bottleneck busy.
// (SimReliableSpeed.TwoStreamsOnOnePathShareItFairly with NewReno.)
TEST(SimBbr, TwoStreamsOnOnePathShareItFairly) {
  constexpr std::uint64_t kBottleneck = 2'500'000;
  Pair pair(resolve_seed(1404), CongestionAlgorithm::kBbr,
            LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0, kBottleneck, 100});
  Simulator& sim = pair.sim;
  Bulk first, second;
  for (Bulk* bulk : {&first, &second}) {
    bulk->from = pair.a;
    bulk->to = pair.b;
  }
  route(*pair.b, {&first, &second});
  first.open(sim);
  const Instant start = sim.now();
  auto run_until = [&](Instant at) {
    while (sim.now() < at) {
      first.top_up(sim);
      if (second.channel != 0) second.top_up(sim);
      if (!sim.step(at)) sim.run_until_time(at);
    }
  };
  run_until(start + seconds(3));
  second.open(sim);
  run_until(start + seconds(8));
  const std::uint64_t first_before = first.bytes, second_before = second.bytes;
  run_until(start + seconds(20));
  const double x = static_cast<double>(first.bytes - first_before);
  const double y = static_cast<double>(second.bytes - second_before);
  const double total = x + y;
  std::printf(
      "[ sim ] bbr, two streams over 12 s: %.0f and %.0f kB/s (shares %.3f / %.3f), %.0f%% of "
      "the bottleneck\n",
      x / 12 / 1000, y / 12 / 1000, x / total, y / total,
      100 * total / 12 / static_cast<double>(kBottleneck));
  EXPECT_TRUE(first.order_ok && second.order_ok);
  EXPECT_NEAR(x / total, 0.5, 0.1);
  EXPECT_NEAR(y / total, 0.5, 0.1);
  EXPECT_GE(total / 12, 0.85 * static_cast<double>(kBottleneck));
}

}  // namespace
}  // namespace e3x::sim
