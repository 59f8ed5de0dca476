// Reliable channels at speed (PROTOCOL.md section 13) on the simulated network: bulk streams
// over delay and loss and through a bottleneck with a queue, measured against models; loss
// repair in about a round trip; the peer's window never exceeded; channels of one exchange
// sharing its path fairly; a dead path backing off and going down; no standing queue of the
// stream's own making. Every run is seeded (E3X_SIM_SEED replays one).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "sim/simulator.hpp"

namespace e3x::sim {
namespace {

double seconds_of(Duration d) {
  return std::chrono::duration<double>(d).count();
}

// Channel packets (LENGTH 0) larger than this are stream content, not acks or pings.
constexpr std::size_t kContentDatagram = 1000;

bool is_content_datagram(const Bytes& bytes) {
  return bytes.size() > kContentDatagram && bytes[0] == 0 && bytes[1] == 0;
}

// A one-way bulk stream on a reliable channel: the sender tops it up to what
// channel_send_capacity() allows after every simulator step; each body is a full quota and
// starts with its index, so the receiver checks order and counts goodput.
struct Bulk {
  Host* from = nullptr;
  Host* to = nullptr;
  std::uint32_t channel = 0;
  std::uint64_t packets = 0;  // to send
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t bytes = 0;  // content delivered
  std::size_t body = 0;
  bool opened = false;
  bool order_ok = true;
  bool consumer_paced = false;
  std::uint64_t unconsumed = 0;  // consumer-paced: delivered, not yet reported consumed
  Instant started{};
  std::optional<Instant> done;
  std::vector<std::pair<Instant, std::uint64_t>> progress;  // (time, bytes) samples

  void top_up(Simulator& sim) {
    if (opened_by_peer_pending()) return;
    while (sent < packets && from->endpoint().channel_send_capacity(to->hashname(), channel) > 0) {
      Bytes data(body, static_cast<std::uint8_t>(sent));
      std::memcpy(data.data(), &sent, sizeof sent);
      auto result =
          from->endpoint().send_channel(sim.now(), to->hashname(), channel, {}, std::move(data));
      ASSERT_TRUE(result.has_value()) << to_string(result.error());
      ++sent;
    }
    sim.drain(*from);
  }
  bool opened_by_peer_pending() const { return channel == 0; }

  void on_data(Instant at, const event::ChannelData& data) {
    std::uint64_t index = 0;
    if (data.body.size() >= sizeof index) std::memcpy(&index, data.body.data(), sizeof index);
    if (index != delivered || data.body.size() != body) order_ok = false;
    ++delivered;
    bytes += data.body.size();
    if (consumer_paced) ++unconsumed;
    if (delivered == packets) done = at;
  }
};

// Routes the receiving host's events to its streams (by channel id).
void route(Simulator& sim, Host& receiver, std::vector<Bulk*> streams) {
  receiver.on_event = [&sim, streams](Host& host, const Event& e) {
    if (const auto* opened = std::get_if<event::ChannelOpened>(&e)) {
      for (Bulk* s : streams) {
        if (s->channel == opened->channel && s->to == &host) {
          s->opened = true;
          if (s->consumer_paced) {
            auto set = host.endpoint().set_channel_options(sim.now(), opened->peer, opened->channel,
                                                           ChannelOptions{.consumer_paced = true});
            EXPECT_TRUE(set.has_value());
          }
        }
      }
    } else if (const auto* data = std::get_if<event::ChannelData>(&e)) {
      for (Bulk* s : streams) {
        if (s->channel == data->channel && s->to == &host) s->on_data(sim.now(), *data);
      }
    }
  };
}

std::uint32_t open_bulk(Simulator& sim, Bulk& bulk) {
  bulk.started = sim.now();
  bulk.channel = sim.open_channel(*bulk.from, *bulk.to, "bulk", true, bytes_of("bulk"));
  bulk.body = bulk.from->endpoint().channel_quota(bulk.to->hashname(), bulk.channel);
  return bulk.channel;
}

// Mathis et al. (1997): a Reno flow's steady throughput is MSS/RTT * C/sqrt(p), C = sqrt(3/2).
double mathis_bytes_per_second(double mss, double rtt, double loss) {
  return mss / rtt * std::sqrt(1.5) / std::sqrt(loss);
}

// (a) 50 MB over a 40 ms round trip that loses 1% of datagrams each way.
TEST(SimReliableSpeed, FiftyMegabytesThroughOnePercentLossNearTheModel) {
  Simulator sim(resolve_seed(1301));
  sim.network().set_capture(false);
  Host& a = sim.add_host("a");
  Host& b = sim.add_host("b");
  sim.make_peers(a, b);
  ASSERT_TRUE(sim.connect(a, b).has_value());
  ASSERT_TRUE(sim.run_until_in_sync(a, b, seconds(10)));
  const LinkParams link{milliseconds(20), Duration::zero(), 0.01, 0.0};
  sim.network().set_default_link(link);

  Bulk bulk;
  bulk.from = &a;
  bulk.to = &b;
  route(sim, b, {&bulk});
  open_bulk(sim, bulk);
  bulk.packets = (50'000'000 + bulk.body - 1) / bulk.body;
  const Instant start = sim.now();
  const Instant deadline = start + seconds(1200);
  std::size_t errors = 0;
  a.on_event = [&](Host&, const Event& e) {
    errors += std::holds_alternative<event::ChannelErrored>(e) ? 1 : 0;
  };
  while (!bulk.done && errors == 0) {
    bulk.top_up(sim);
    if (!sim.step(deadline)) break;
  }
  ASSERT_TRUE(bulk.done.has_value()) << bulk.delivered << " of " << bulk.packets << " delivered";
  EXPECT_TRUE(bulk.order_ok);
  EXPECT_EQ(errors, 0u);
  const double elapsed = seconds_of(sim.now() - start);
  const double goodput = static_cast<double>(bulk.bytes) / elapsed;
  // The model, with the packet we actually send (a full 1400-byte INNER) and the link's RTT.
  const double model = mathis_bytes_per_second(1400, 0.040, 0.01);
  const auto flow = a.endpoint().channel_flow(b.hashname(), bulk.channel);
  const auto path = a.endpoint().path_flow(b.hashname());
  const auto rx = b.endpoint().channel_flow(a.hashname(), bulk.channel);
  ASSERT_TRUE(flow && path && rx);
  std::printf("[ sim ] duplicates at the receiver %llu, window %u\n",
              static_cast<unsigned long long>(rx->duplicates), rx->receive_window);
  std::printf(
      "[ sim ] 50 MB (%llu packets) in %.1f s simulated: goodput %.0f kB/s = %.2f of Mathis "
      "(%.0f kB/s); %llu resends, %llu losses, %llu timeouts, %llu congestion events; srtt "
      "%.1f ms; %llu datagrams, %llu lost\n",
      static_cast<unsigned long long>(bulk.packets), elapsed, goodput / 1000, goodput / model,
      model / 1000, static_cast<unsigned long long>(flow->retransmissions),
      static_cast<unsigned long long>(flow->losses),
      static_cast<unsigned long long>(flow->timeouts),
      static_cast<unsigned long long>(path->congestion_events),
      path->srtt ? seconds_of(*path->srtt) * 1000 : -1.0,
      static_cast<unsigned long long>(sim.network().stats().sent),
      static_cast<unsigned long long>(sim.network().stats().lost));
  EXPECT_GE(goodput, 0.5 * model);
  EXPECT_LE(goodput, 2.0 * model);
}

// Two hosts in sync over `link` (set after the handshake), with a bulk stream a -> b opened.
struct Pair {
  explicit Pair(std::uint64_t seed) : sim(seed) {}
  Simulator sim;
  Host* a = nullptr;
  Host* b = nullptr;
  std::size_t a_errors = 0, b_errors = 0;
  std::vector<std::string> a_error_reasons;

  void start(LinkParams link,
             std::optional<CongestionAlgorithm> congestion = kDefaultCongestionAlgorithm) {
    sim.network().set_capture(false);
    HostOptions options;
    options.congestion = congestion;
    options.name = "a";
    a = &sim.add_host(options);
    options.name = "b";
    b = &sim.add_host(options);
    sim.make_peers(*a, *b);
    ASSERT_TRUE(sim.connect(*a, *b).has_value());
    ASSERT_TRUE(sim.run_until_in_sync(*a, *b, seconds(10)));
    sim.network().set_default_link(link);
  }
};

// (b) One lost packet in a steady stream is repaired about one round trip after it would have
// arrived: three later packets reported, or 9/8 RTT, not a fixed 2 s.
TEST(SimReliableSpeed, ASingleLossIsRepairedWithinAboutOneRoundTrip) {
  Pair pair(resolve_seed(1302));
  pair.start(LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0});
  Simulator& sim = pair.sim;
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  bulk.packets = 3000;
  std::map<std::uint64_t, Instant> arrivals;
  pair.b->on_event = [&](Host&, const Event& e) {
    if (const auto* data = std::get_if<event::ChannelData>(&e);
        data && data->channel == bulk.channel) {
      std::uint64_t index = 0;
      std::memcpy(&index, data->body.data(), sizeof index);
      arrivals.emplace(index, sim.now());
      bulk.on_data(sim.now(), *data);
    }
  };
  // The 1000th content datagram of a's is lost: it carries stream index 999 (nothing was
  // resent before it on this clean link).
  constexpr std::uint64_t kLostIndex = 999;
  std::uint64_t content_seen = 0;
  std::optional<Instant> lost_at;
  const NodeId a_node = pair.a->id();
  sim.network().set_filter([&](const SentRecord& record) {
    if (record.from_node != a_node || !is_content_datagram(record.bytes)) return true;
    if (content_seen++ != kLostIndex) return true;
    lost_at = record.at;
    return false;
  });
  open_bulk(sim, bulk);
  const Instant deadline = sim.now() + seconds(120);
  while (!bulk.done) {
    bulk.top_up(sim);
    if (!sim.step(deadline)) break;
  }
  ASSERT_TRUE(bulk.done.has_value());
  EXPECT_TRUE(bulk.order_ok);
  ASSERT_TRUE(lost_at.has_value());
  ASSERT_TRUE(arrivals.contains(kLostIndex));
  const Duration rtt = milliseconds(40);
  // Without the loss it would have arrived one way later.
  const Duration late = arrivals[kLostIndex] - (*lost_at + rtt / 2);
  const auto flow = pair.a->endpoint().channel_flow(pair.b->hashname(), bulk.channel);
  const auto rx = pair.b->endpoint().channel_flow(pair.a->hashname(), bulk.channel);
  ASSERT_TRUE(flow && rx);
  std::printf(
      "[ sim ] the lost packet arrived %.1f ms late (%.2f RTT); %llu resends, %llu "
      "timeouts, %llu duplicates\n",
      seconds_of(late) * 1000, seconds_of(late) / seconds_of(rtt),
      static_cast<unsigned long long>(flow->retransmissions),
      static_cast<unsigned long long>(flow->timeouts),
      static_cast<unsigned long long>(rx->duplicates));
  EXPECT_LE(late, rtt * 5 / 4);
  EXPECT_GE(late, rtt);  // it cannot be known lost sooner than a round trip
  EXPECT_EQ(flow->retransmissions, 1u);
  EXPECT_EQ(flow->losses, 1u);
  EXPECT_EQ(flow->timeouts, 0u);
  EXPECT_EQ(rx->duplicates, 0u);
}

// What must hold at every step of a stream: the sender never has a seq out that the receiver
// did not allow, the receiver never holds more than it allowed, and the path's flight only
// grows beyond the congestion window by what is allowed to bypass it in one step: the one
// packet a new congestion event may send, or the two probes of a timeout (a window just
// reduced leaves more in flight, which then drains).
void check_flow(const Pair& pair, std::uint32_t channel, std::uint64_t app_unconsumed,
                std::size_t& last_in_flight) {
  const auto tx = pair.a->endpoint().channel_flow(pair.b->hashname(), channel);
  const auto rx = pair.b->endpoint().channel_flow(pair.a->hashname(), channel);
  const auto path = pair.a->endpoint().path_flow(pair.b->hashname());
  if (!tx || !rx || !path) return;
  const std::size_t before = last_in_flight;
  const bool grew = path->bytes_in_flight > before;
  last_in_flight = path->bytes_in_flight;
  ASSERT_LE(tx->highest_sent, rx->advertised_edge)
      << "sent beyond the window at +" << seconds_of(pair.sim.elapsed()) << " s";
  ASSERT_LE(rx->consumed + app_unconsumed + rx->held, rx->advertised_edge)
      << "holding more than the window at +" << seconds_of(pair.sim.elapsed()) << " s";
  if (grew && path->bytes_in_flight > path->window) {
    ASSERT_LE(path->bytes_in_flight - before, 2 * kMaxChannelInner)
        << "flight grew beyond the congestion window (" << path->bytes_in_flight << " > "
        << path->window << ") at +" << seconds_of(pair.sim.elapsed()) << " s";
  }
  ASSERT_EQ(tx->in_flight_bytes, path->bytes_in_flight) << "flight accounting drifted";
}

// (c) The receiver's window is never exceeded, checked after every simulator step: a bulk
// stream through 2% loss, jitter that reorders and duplication; then a consumer-paced reader
// that reads 100 packets a second and pauses for a minute: the sender slows to its pace, waits
// without giving up, nothing is held beyond the window, and the stream completes.
TEST(SimReliableSpeed, TheAdvertisedWindowIsNeverExceeded) {
  {
    Pair pair(resolve_seed(1303));
    pair.start(LinkParams{milliseconds(20), milliseconds(5), 0.02, 0.01});
    Simulator& sim = pair.sim;
    Bulk bulk;
    bulk.from = pair.a;
    bulk.to = pair.b;
    bulk.packets = 5000;
    route(sim, *pair.b, {&bulk});
    open_bulk(sim, bulk);
    const Instant deadline = sim.now() + seconds(600);
    std::size_t in_flight = 0;
    while (!bulk.done && !::testing::Test::HasFatalFailure()) {
      bulk.top_up(sim);
      if (!sim.step(deadline)) break;
      check_flow(pair, bulk.channel, 0, in_flight);
    }
    ASSERT_TRUE(bulk.done.has_value());
    EXPECT_TRUE(bulk.order_ok);
  }
  Pair pair(resolve_seed(1304));
  pair.start(LinkParams{milliseconds(20), Duration::zero(), 0.01, 0.0});
  Simulator& sim = pair.sim;
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  bulk.packets = 3000;
  bulk.consumer_paced = true;
  route(sim, *pair.b, {&bulk});
  std::size_t errors = 0;
  pair.a->on_event = [&](Host&, const Event& e) {
    errors += std::holds_alternative<event::ChannelErrored>(e) ? 1 : 0;
  };
  open_bulk(sim, bulk);
  const Instant start = sim.now();
  const Instant pause_from = start + seconds(10);
  const Instant pause_until = pause_from + seconds(60);
  Instant next_read = start;
  std::uint64_t delivered_at_pause = 0;
  std::uint64_t max_unconsumed = 0;
  std::uint32_t largest_window = 0;  // auto-tuning moves it; the test bounds by the largest
  std::size_t in_flight = 0;
  const Instant deadline = start + seconds(600);
  while (!bulk.done && sim.now() < deadline && !::testing::Test::HasFatalFailure()) {
    bulk.top_up(sim);
    if (!sim.step(next_read)) {
      sim.run_until_time(next_read);
      if (sim.now() < pause_from || sim.now() >= pause_until) {
        if (bulk.unconsumed > 0) {
          ASSERT_TRUE(pair.b->endpoint()
                          .channel_consumed(sim.now(), pair.a->hashname(), bulk.channel, 1)
                          .has_value());
          --bulk.unconsumed;
          sim.drain(*pair.b);
        }
      } else if (delivered_at_pause == 0) {
        delivered_at_pause = bulk.delivered;
      }
      next_read += milliseconds(10);
    }
    max_unconsumed = std::max(max_unconsumed, bulk.unconsumed);
    if (const auto rx = pair.b->endpoint().channel_flow(pair.a->hashname(), bulk.channel)) {
      largest_window = std::max(largest_window, rx->receive_window);
    }
    check_flow(pair, bulk.channel, bulk.unconsumed, in_flight);
  }
  ASSERT_TRUE(bulk.done.has_value()) << bulk.delivered << " delivered";
  EXPECT_TRUE(bulk.order_ok);
  EXPECT_EQ(errors, 0u) << "the sender gave up on a reader that only paused";
  const auto rx = pair.b->endpoint().channel_flow(pair.a->hashname(), bulk.channel);
  ASSERT_TRUE(rx);
  const double elapsed = seconds_of(*bulk.done - start) - 60;  // less the pause
  std::printf(
      "[ sim ] consumer-paced: %llu packets in %.1f s of reading (%.0f per second), at "
      "most %llu unread, window %u (largest %u)\n",
      static_cast<unsigned long long>(bulk.delivered), elapsed,
      static_cast<double>(bulk.delivered) / elapsed,
      static_cast<unsigned long long>(max_unconsumed), rx->receive_window, largest_window);
  // The sender went at the reader's pace (100 a second), not the path's.
  EXPECT_LE(static_cast<double>(bulk.delivered) / elapsed, 110.0);
  // During the pause at most a window more arrived: the window in force then, which is not
  // necessarily the one at the end (auto-tuning may have grown it on an overstated receive
  // RTT and shrunk it back since), so bounded by the largest it ever was.
  EXPECT_LE(max_unconsumed, std::uint64_t{largest_window} + 1);
  // A reader of 100 packets a second on a 40 ms path needs no more than the initial window
  // (1.5 times its product is 6 packets); one doubling on an overstated RTT sample is the
  // most the tuning may make of it.
  EXPECT_LE(largest_window, 2 * kReliableWindow);
}

// (c2) A new stream after a pause starts like a new connection, whatever the exchange went
// through before: a bulk stream through 1% loss leaves the path's congestion controller with a
// small window and slow start threshold; the stream ends, the exchange stays up, the path is
// quiet for 3 s and then clean (40 ms, 100 Mbit/s, a queue of one product), as in
// bench/run-emulated.sh between its link settings. A second stream that inherited that
// threshold would grow one packet per round trip from a dozen packets: about a fifth of the
// link over its first 5 s. With a fresh slow start it fills the link within a few round trips.
TEST(SimReliableSpeed, AStreamAfterAPauseDoesNotInheritAnOldLossEpisode) {
  constexpr std::uint64_t kRate = 12'500'000;  // bytes per second: 100 Mbit/s
  constexpr std::size_t kQueue = 350;          // one product (500 kB) of full packets
  Pair pair(resolve_seed(1308));
  pair.start(LinkParams{milliseconds(20), Duration::zero(), 0.01, 0.0, kRate, kQueue});
  Simulator& sim = pair.sim;
  Bulk lossy;
  lossy.from = pair.a;
  lossy.to = pair.b;
  lossy.packets = 1500;
  Bulk clean;
  clean.from = pair.a;
  clean.to = pair.b;
  clean.packets = 1'000'000;
  route(sim, *pair.b, {&lossy, &clean});
  open_bulk(sim, lossy);
  Instant deadline = sim.now() + seconds(60);
  while (!lossy.done) {
    lossy.top_up(sim);
    if (!sim.step(deadline)) break;
  }
  ASSERT_TRUE(lossy.done.has_value()) << lossy.delivered << " delivered";
  const auto before = pair.a->endpoint().path_flow(pair.b->hashname());
  ASSERT_TRUE(before);
  ASSERT_GT(before->congestion_events, 0u);
  sim.run_until_time(sim.now() + seconds(3));
  sim.network().set_default_link(
      LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, kQueue});
  open_bulk(sim, clean);
  const Instant start = sim.now();
  deadline = start + seconds(5);
  while (sim.now() < deadline) {
    clean.top_up(sim);
    if (!sim.step(deadline)) sim.run_until_time(deadline);
  }
  const double goodput = static_cast<double>(clean.bytes) / 5;
  const auto after = pair.a->endpoint().path_flow(pair.b->hashname());
  ASSERT_TRUE(after);
  std::printf(
      "[ sim ] after the lossy stream: window %zu bytes%s; the next stream after 3 s quiet: "
      "%.0f kB/s over its first 5 s (%.0f%% of the bottleneck), window %zu bytes\n",
      before->window, before->slow_start ? " (slow start)" : "", goodput / 1000,
      100 * goodput / static_cast<double>(kRate), after->window);
  EXPECT_TRUE(clean.order_ok);
  // A fresh connection's figure: slow start reaches the product in about 6 round trips,
  // overshoots into the queue once and halves; 5 s is 125 round trips.
  EXPECT_GE(goodput, 0.7 * static_cast<double>(kRate));
}

// (d) Two streams on one path (two channels of one exchange) through a 20 Mbit/s bottleneck
// converge to a fair share: the second starts 3 s after the first; over the last 12 s of 20
// each gets within 20% of half, and together they keep the bottleneck busy.
TEST(SimReliableSpeed, TwoStreamsOnOnePathShareItFairly) {
  constexpr std::uint64_t kRate = 2'500'000;  // bytes per second
  Pair pair(resolve_seed(1305));
  pair.start(LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, 100});
  Simulator& sim = pair.sim;
  Bulk first, second;
  for (Bulk* bulk : {&first, &second}) {
    bulk->from = pair.a;
    bulk->to = pair.b;
    bulk->packets = 1'000'000;
  }
  route(sim, *pair.b, {&first, &second});
  open_bulk(sim, first);
  const Instant start = sim.now();
  auto run_until = [&](Instant at) {
    while (sim.now() < at) {
      first.top_up(sim);
      if (second.channel != 0) second.top_up(sim);
      if (!sim.step(at)) sim.run_until_time(at);
    }
  };
  run_until(start + seconds(3));
  open_bulk(sim, second);
  run_until(start + seconds(8));
  const std::uint64_t first_before = first.bytes, second_before = second.bytes;
  run_until(start + seconds(20));
  const double a = static_cast<double>(first.bytes - first_before);
  const double b = static_cast<double>(second.bytes - second_before);
  const double total = a + b;
  std::printf(
      "[ sim ] two streams over 12 s: %.0f and %.0f kB/s (shares %.3f / %.3f), %.0f%% "
      "of the bottleneck\n",
      a / 12 / 1000, b / 12 / 1000, a / total, b / total,
      100 * total / 12 / static_cast<double>(kRate));
  EXPECT_TRUE(first.order_ok && second.order_ok);
  EXPECT_NEAR(a / total, 0.5, 0.1);
  EXPECT_NEAR(b / total, 0.5, 0.1);
  EXPECT_GE(total / 12, 0.85 * static_cast<double>(kRate));
}

// (e) A path that dies mid-stream: retransmission timeouts back off exponentially (capped),
// and the exchange goes down by PROTOCOL.md section 10 rule 6 (10 s of silence after sending,
// then a handshake unconfirmed for 30 s), taking the channel with it: the channel's own
// give-up (ten timeouts unanswered, about 60 s here) is for a live peer that forgot it.
TEST(SimReliableSpeed, ADeadPathBacksOffAndGoesDown) {
  Pair pair(resolve_seed(1306));
  pair.start(LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0, 2'500'000, 100});
  Simulator& sim = pair.sim;
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  bulk.packets = 1'000'000;
  route(sim, *pair.b, {&bulk});
  open_bulk(sim, bulk);
  sim.run_until_time(sim.now());
  const Instant cut = sim.now() + seconds(3);
  while (sim.now() < cut) {
    bulk.top_up(sim);
    if (!sim.step(cut)) sim.run_until_time(cut);
  }
  sim.network().partition(pair.a->id(), pair.b->id(), cut, cut + seconds(3600));
  std::vector<Instant> timeouts;
  std::uint64_t seen_timeouts = 0;
  std::optional<Instant> errored_at, down_at;
  std::string reason;
  pair.a->on_event = [&](Host&, const Event& e) {
    if (const auto* errored = std::get_if<event::ChannelErrored>(&e)) {
      errored_at = sim.now();
      reason = errored->reason;
    } else if (const auto* down = std::get_if<event::ExchangeDown>(&e)) {
      if (down->reason == DownReason::kTimeout) down_at = sim.now();
    }
  };
  while (!down_at && sim.now() < cut + seconds(120)) {
    bulk.top_up(sim);
    if (!sim.step(cut + seconds(120))) break;
    if (auto flow = pair.a->endpoint().channel_flow(pair.b->hashname(), bulk.channel);
        flow && flow->timeouts > seen_timeouts) {
      seen_timeouts = flow->timeouts;
      timeouts.push_back(sim.now());
    }
  }
  ASSERT_TRUE(errored_at.has_value());
  EXPECT_EQ(reason, "timeout");
  ASSERT_TRUE(down_at.has_value());
  ASSERT_GE(timeouts.size(), 5u);
  std::string schedule;
  for (std::size_t i = 0; i < timeouts.size(); ++i) {
    schedule += " " + std::to_string(seconds_of(timeouts[i] - cut)).substr(0, 6);
  }
  std::printf("[ sim ] timeouts at +s:%s; channel errored at +%.1f s, exchange down at +%.1f s\n",
              schedule.c_str(), seconds_of(*errored_at - cut), seconds_of(*down_at - cut));
  // The first timeout comes after the RTO (at least 200 ms), each later one twice as late,
  // up to the 10 s ceiling.
  EXPECT_GE(timeouts[0] - cut, kMinRto);
  for (std::size_t i = 2; i < timeouts.size(); ++i) {
    const Duration before = timeouts[i - 1] - timeouts[i - 2];
    const Duration gap = timeouts[i] - timeouts[i - 1];
    if (before * 2 <= kMaxRto) {
      EXPECT_EQ(gap, before * 2) << "timeout " << i;
    } else {
      EXPECT_EQ(gap, kMaxRto) << "timeout " << i;
    }
  }
  // The exchange: silence noticed 10 s after the first unanswered packet, then 30 s of
  // unconfirmed handshake; the channel errors with it, not before.
  EXPECT_NEAR(seconds_of(*down_at - cut), 40.0, 0.5);
  EXPECT_EQ(*errored_at, *down_at);
}

// (f) Through a 50 Mbit/s bottleneck with a deep queue (1000 packets: over five times the
// path's bandwidth-delay product of 250 kB, about 180 packets, so the initial window of 100
// is too small and must grow), a bulk stream keeps the path busy without keeping a queue of
// its own making: a ping on an unreliable channel of the same exchange, through the same
// queue, stays within twice the idle round trip. The receive window, tuned toward 1.5 times
// the product measured with the minimum RTT, is what bounds the flight below what the queue
// would take; a loss-based controller alone would fill the queue (RTT 40 ms + 220 ms).
TEST(SimReliableSpeed, ABulkStreamKeepsNoStandingQueue) {
  constexpr std::uint64_t kRate = 6'250'000;
  constexpr std::size_t kQueue = 1000;
  Pair pair(resolve_seed(1307));
  pair.start(LinkParams{milliseconds(20), Duration::zero(), 0.0, 0.0, kRate, kQueue});
  Simulator& sim = pair.sim;
  Host& a = *pair.a;
  Host& b = *pair.b;
  // The ping: a sends its send time, b echoes it on the same unreliable channel.
  std::uint32_t ping = 0;
  std::vector<std::pair<Instant, Duration>> rtts;
  Bulk bulk;
  bulk.from = &a;
  bulk.to = &b;
  bulk.packets = 1'000'000;
  route(sim, b, {&bulk});
  auto bulk_handler = b.on_event;
  b.on_event = [&](Host& host, const Event& e) {
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
      rtts.emplace_back(sim.now(), sim.now() - (Instant{} + Duration{sent}));
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
  Duration idle = rtts.front().second;
  for (const auto& [at, rtt] : rtts) idle = std::min(idle, rtt);
  open_bulk(sim, bulk);
  const Instant start = sim.now();
  run_until(start + seconds(5), true);
  const std::uint64_t bytes_before = bulk.bytes;
  const std::size_t pings_before = rtts.size();
  run_until(start + seconds(15), true);
  std::vector<Duration> during;
  for (std::size_t i = pings_before; i < rtts.size(); ++i) during.push_back(rtts[i].second);
  ASSERT_GT(during.size(), 90u);
  std::sort(during.begin(), during.end());
  const Duration median = during[during.size() / 2];
  const Duration worst = during.back();
  const double goodput = static_cast<double>(bulk.bytes - bytes_before) / 10;
  const auto rx = b.endpoint().channel_flow(a.hashname(), bulk.channel);
  const auto path = a.endpoint().path_flow(b.hashname());
  ASSERT_TRUE(rx && path);
  std::printf(
      "[ sim ] bottleneck %.0f kB/s, queue %zu: goodput %.0f kB/s (%.0f%%); ping idle "
      "%.1f ms, under load median %.1f ms, worst %.1f ms; window %u packets, cwnd %zu "
      "bytes, %llu queue drops\n",
      static_cast<double>(kRate) / 1000, kQueue, goodput / 1000,
      100 * goodput / static_cast<double>(kRate), seconds_of(idle) * 1000,
      seconds_of(median) * 1000, seconds_of(worst) * 1000, rx->receive_window, path->window,
      static_cast<unsigned long long>(sim.network().stats().queue_full));
  EXPECT_GE(goodput, 0.9 * static_cast<double>(kRate));
  EXPECT_LE(worst, idle * 2);
  EXPECT_LE(median, idle * 8 / 5);  // the window aims at 1.5 times the product: 1.5x the RTT
}

// Where a sender's time went (PathControl's SendLimit, `e3xctl peer`'s "sending:" line) tells
// which of the three could-be limits held a stream back. Three streams on a 40 ms path, each
// held by one of them for 10 s: a 50 Mbit/s bottleneck (the path: paced, or at the congestion
// window), a reader of 100 packets a second (the peer's window), a writer of one packet every
// 10 ms (the application). Each must be charged at least 80% to its own limit.
struct SendLimitShares {
  double path = 0, peer_window = 0, application = 0;  // of all the time charged
};

SendLimitShares send_limit_shares(const SendLimitTimes& before, const SendLimitTimes& after) {
  const double path = seconds_of(after.pacing - before.pacing) +
                      seconds_of(after.congestion_window - before.congestion_window);
  const double peer = seconds_of(after.peer_window - before.peer_window);
  const double application = seconds_of(after.application - before.application);
  const double total = path + peer + application;
  if (total <= 0) return {};
  return {path / total, peer / total, application / total};
}

SendLimitShares run_held_stream(std::uint64_t seed, CongestionAlgorithm congestion, LinkParams link,
                                bool reader_paced, bool writer_paced) {
  Pair pair(seed);
  pair.start(link, congestion);
  Simulator& sim = pair.sim;
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  bulk.packets = 1'000'000;
  bulk.consumer_paced = reader_paced;
  route(sim, *pair.b, {&bulk});
  open_bulk(sim, bulk);
  std::optional<SendLimitTimes> before;
  const Instant start = sim.now();
  const Instant measure_from = start + seconds(2);  // past slow start
  const Instant end = measure_from + seconds(10);
  Instant next_tick = start;
  while (sim.now() < end && !::testing::Test::HasFatalFailure()) {
    if (!writer_paced) bulk.top_up(sim);
    if (!sim.step(std::min(next_tick, end))) {
      sim.run_until_time(std::min(next_tick, end));
      if (sim.now() >= next_tick) {
        next_tick += milliseconds(10);
        if (writer_paced) {  // one more packet for the stream
          bulk.packets = bulk.sent + 1;
          bulk.top_up(sim);
          bulk.packets = 1'000'000;
        }
        if (reader_paced && bulk.unconsumed > 0) {
          EXPECT_TRUE(pair.b->endpoint()
                          .channel_consumed(sim.now(), pair.a->hashname(), bulk.channel, 1)
                          .has_value());
          --bulk.unconsumed;
          sim.drain(*pair.b);
        }
      }
    }
    if (!before && sim.now() >= measure_from) {
      before = pair.a->endpoint().path_flow(pair.b->hashname())->limited;
    }
  }
  const auto after = pair.a->endpoint().path_flow(pair.b->hashname());
  EXPECT_TRUE(before && after);
  if (!before || !after) return {};
  const SendLimitShares shares = send_limit_shares(*before, after->limited);
  std::printf(
      "[ sim ] %s, %s: path %.1f%%, peer's window %.1f%%, application %.1f%%; %llu packets\n",
      to_string(congestion),
      reader_paced   ? "a slow reader"
      : writer_paced ? "a slow writer"
                     : "a bottleneck",
      100 * shares.path, 100 * shares.peer_window, 100 * shares.application,
      static_cast<unsigned long long>(bulk.delivered));
  return shares;
}

TEST(SimReliableSpeed, TheSenderSaysWhatHeldItBack) {
  const LinkParams bottleneck{milliseconds(20), Duration::zero(), 0.0, 0.0, 6'250'000, 200};
  const LinkParams open{milliseconds(20), Duration::zero(), 0.0, 0.0};
  for (const auto congestion : {CongestionAlgorithm::kNewReno, CongestionAlgorithm::kBbr}) {
    const SendLimitShares by_path =
        run_held_stream(resolve_seed(1311), congestion, bottleneck, false, false);
    if (congestion == CongestionAlgorithm::kBbr) {
      EXPECT_GE(by_path.path, 0.8);  // paced at the bottleneck's rate
    } else {
      // NewReno would fill the queue; the receive window (1.5 products, ABulkStream-
      // KeepsNoStandingQueue) is what holds it to the path's product, and says so.
      EXPECT_GE(by_path.peer_window, 0.8);
    }
    const SendLimitShares by_reader =
        run_held_stream(resolve_seed(1312), congestion, open, true, false);
    EXPECT_GE(by_reader.peer_window, 0.8);
    const SendLimitShares by_writer =
        run_held_stream(resolve_seed(1313), congestion, open, false, true);
    EXPECT_GE(by_writer.application, 0.8);
  }
}

// Issue 13: a reliable channel must not give up under burst loss. A stream of `megabytes`
// a -> b over `link` (set after the handshake), with the whole path partitioned for
// `blackout` from `blackout_after` into the transfer when given. Returns what happened.
struct BurstRun {
  bool done = false;
  bool order_ok = true;
  std::uint64_t delivered = 0, packets = 0;
  std::size_t errors = 0;
  std::vector<std::string> reasons;
  double elapsed = 0;  // simulated seconds from open to the last byte
  ReliableFlowStats flow;
};

BurstRun run_burst(std::uint64_t seed, LinkParams link, std::uint64_t megabytes, Duration limit,
                   Duration blackout_after = Duration::zero(),
                   Duration blackout = Duration::zero()) {
  Pair pair(seed);
  pair.start(link);
  Simulator& sim = pair.sim;
  Bulk bulk;
  bulk.from = pair.a;
  bulk.to = pair.b;
  BurstRun run;
  route(sim, *pair.b, {&bulk});
  auto on_error = [&run](Host&, const Event& e) {
    if (const auto* errored = std::get_if<event::ChannelErrored>(&e)) {
      ++run.errors;
      run.reasons.push_back(errored->reason);
    } else if (std::holds_alternative<event::ExchangeDown>(e)) {
      ++run.errors;
      run.reasons.push_back("exchange down");
    }
  };
  pair.a->on_event = on_error;
  auto on_data = pair.b->on_event;
  pair.b->on_event = [&](Host& host, const Event& e) {
    on_data(host, e);
    on_error(host, e);
  };
  open_bulk(sim, bulk);
  bulk.packets = (megabytes * 1'000'000 + bulk.body - 1) / bulk.body;
  const Instant start = sim.now();
  if (blackout > Duration::zero()) {
    sim.network().partition(pair.a->id(), pair.b->id(), start + blackout_after,
                            start + blackout_after + blackout);
  }
  const Instant deadline = start + limit;
  while (!bulk.done && run.errors == 0) {
    bulk.top_up(sim);
    if (!sim.step(deadline)) break;
  }
  run.done = bulk.done.has_value();
  run.order_ok = bulk.order_ok;
  run.delivered = bulk.delivered;
  run.packets = bulk.packets;
  run.elapsed = seconds_of(sim.now() - start);
  if (auto flow = pair.a->endpoint().channel_flow(pair.b->hashname(), bulk.channel)) {
    run.flow = *flow;
  }
  std::printf(
      "[ sim ] %llu MB: %s after %.1f s simulated (%llu of %llu packets); %llu resends, %llu "
      "losses, %llu timeouts; %llu datagrams sent, %llu lost, %llu partitioned\n",
      static_cast<unsigned long long>(megabytes), run.done ? "done" : "NOT done", run.elapsed,
      static_cast<unsigned long long>(run.delivered), static_cast<unsigned long long>(run.packets),
      static_cast<unsigned long long>(run.flow.retransmissions),
      static_cast<unsigned long long>(run.flow.losses),
      static_cast<unsigned long long>(run.flow.timeouts),
      static_cast<unsigned long long>(sim.network().stats().sent),
      static_cast<unsigned long long>(sim.network().stats().lost),
      static_cast<unsigned long long>(sim.network().stats().partitioned));
  return run;
}

// The time a Reno flow needs for `packets` at loss rate p per send with retransmission
// timeouts (Padhye, Firoiu, Towsley and Kurose 1998, "Modeling TCP throughput"), b = 2
// packets per ack, T0 = the 200 ms RTO floor: 1 / (RTT sqrt(2bp/3) + T0 min(1, 3 sqrt(3bp/8))
// p (1 + 32p^2)) packets per second. With 10% loss and a 40 ms RTT that is 28 packets/s.
double pftk_seconds(std::uint64_t packets, double rtt, double p) {
  const double b = 2.0;
  const double t0 = seconds_of(kMinRto);
  const double per_packet = rtt * std::sqrt(2 * b * p / 3) +
                            t0 * std::min(1.0, 3 * std::sqrt(3 * b * p / 8)) * p * (1 + 32 * p * p);
  return static_cast<double>(packets) * per_packet;
}

// Issue 13: 20 MB over a 40 ms round trip where a tenth of the send batches are lost whole in
// each direction (a GSO run of up to 64 datagrams dropped at once; a lone ack or probe is a
// batch of one). Every byte arrives in order, nothing errors, and it takes no longer than the
// PFTK model says Reno would (about 540 s; our stream takes about 300).
TEST(SimReliableSpeed, TwentyMegabytesThroughBurstLossArriveWhole) {
  LinkParams link{milliseconds(20)};
  link.burst_loss = 0.1;
  link.burst_length = 64;
  const BurstRun run = run_burst(resolve_seed(1309), link, 20, seconds(1200));
  for (const auto& reason : run.reasons) ADD_FAILURE() << "error: " << reason;
  ASSERT_TRUE(run.done) << run.delivered << " of " << run.packets << " delivered";
  EXPECT_TRUE(run.order_ok);
  EXPECT_EQ(run.errors, 0u);
  EXPECT_LE(run.elapsed, pftk_seconds(run.packets, 0.040, 0.1));
}

// The same with the path black for 3 s, 5 s into the transfer: the retransmission timeout has
// backed off by the time the path is back, so the next probes come seconds apart, and a
// burst can take both probes of a round. Before the fix the channel gave up 30 s after its
// last ack progress, after about three probe rounds, while the exchange was up (its rule 6
// handshake confirmed): over these 25 seeds, 69 and 82 reset the stream. The bound: the
// PFTK time, plus the blackout, plus what the backoff adds after it (the first probe at up
// to twice the silence so far, and a few rounds at the 10 s ceiling if bursts take them).
TEST(SimReliableSpeed, TwentyMegabytesThroughBurstLossAndABlackoutArriveWhole) {
  LinkParams link{milliseconds(20)};
  link.burst_loss = 0.1;
  link.burst_length = 64;
  for (const std::uint64_t seed : resolve_seeds(61, 25)) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const BurstRun run = run_burst(seed, link, 20, seconds(1200), seconds(5), seconds(3));
    for (const auto& reason : run.reasons) ADD_FAILURE() << "error: " << reason;
    ASSERT_TRUE(run.done) << run.delivered << " of " << run.packets << " delivered";
    EXPECT_TRUE(run.order_ok);
    EXPECT_EQ(run.errors, 0u);
    EXPECT_LE(run.elapsed, pftk_seconds(run.packets, 0.040, 0.1) + 3 + 2 * 8 + 3 * 10);
  }
}

}  // namespace
}  // namespace e3x::sim
