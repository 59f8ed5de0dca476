// e3xctl's human output, in the spirit of `wg show`: pure functions from the daemon's JSON
// results (docs/control-protocol.md) and the current time to text. They never throw on odd
// JSON: a missing or mistyped member prints as "?" (or is left out) instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace e3x::control {

// "12 s", "3 min, 2 s", "2 h, 5 min", "4 d, 3 h" (the two largest units; a zero second unit
// is left out: "3 min"). Negative durations print as "0 s".
std::string format_duration(std::int64_t seconds);
// format_duration + " ago": "12 s ago".
std::string format_age(std::int64_t seconds);
// "512 B", "1.21 KiB", "3.40 MiB", "1.00 GiB" (binary units, two decimals, GiB at most).
std::string format_bytes(std::uint64_t bytes);
// A rate in decimal units, as [router] relay_rate is written: "512 B/s", "1.2 KB/s",
// "2.0 MB/s", "1.5 GB/s" (one decimal above bytes; "?" for a negative or non-finite rate).
std::string format_rate(double bytes_per_s);
// "0.4 ms" (one decimal).
std::string format_rtt(double milliseconds);
// "2024-05-01 12:00:03": `unix_seconds` shifted by `utc_offset_s` (the local zone's offset,
// which the caller looks up; 0 prints UTC).
std::string format_clock(std::int64_t unix_seconds, std::int64_t utc_offset_s);
// A path object {"type":"udp4","ip":"203.0.113.5","port":42424} as "udp4 203.0.113.5:42424"
// (IPv6 addresses in brackets).
std::string format_path_object(const boost::json::object& path);

// Every function below returns whole lines, each ending in '\n'.

// The "status" result:
//   e3xd 0.1.0
//     hashname: <hashname> (our name; not what peers configure)
//     key: <key> (what peers put in their [[peer]] key)
//     listening: udp4 127.0.0.1:42424, ...
//     public paths: ... | none known
//     uptime: 2 h, 5 min
//     peers: 1 up, 3 total
std::string format_status(const boost::json::object& status);

// A `peer` result's "congestion" object on one line: algorithm, window, bytes in flight, RTT,
// pacing rate and congestion events (what limits a stream on this path).
std::string format_congestion(const boost::json::object& flow);
// Where a path's senders spent their time (the `limited_ms` object of `congestion`), as shares:
// "paced 91%, congestion window 2%, peer's window 5%, application 2%"; empty before any.
std::string format_send_limits(const boost::json::object& limited);
// One peer object as a block (see e3xctl peers); `now` is the current Unix time, for ages.
// With a "reach" member (PROTOCOL.md 12) a "reach: direct | relayed via hub | connecting via
// hub" line; with "punch", a "punch: failed; last failure: ...; next attempt in 57 s" line;
// with a non-empty "path_history", one indented line per change ("12 s ago: relayed via hub
// -> direct udp4 10.0.0.2:4242 (punched in 0.4 s)"). Without them, none of these lines.
std::string format_peer(const boost::json::object& peer, std::int64_t now);
// The "peers" result: blocks separated by blank lines, or "no peers\n".
std::string format_peers(const boost::json::array& peers, std::int64_t now);

// The "peers" result as a table, one line per peer (like `tailscale status`): a header, then
// name, the first 12 characters of the hashname, state, current path (or first configured
// endpoint), latest handshake, bytes received and sent, rtt, and why a peer is down:
//   NAME   HASHNAME      STATE  ENDPOINT              HANDSHAKE  RX        TX        RTT
//   alpha  b5jnzq3q7mgx  up     udp4 127.0.0.1:42425  12 s ago   1.21 KiB  3.40 KiB  0.4 ms
// or "no peers". When any peer has a "reach" member, a REACH column follows STATE ("direct",
// "relayed via hub", "-" for a peer without one).
std::string format_peers_table(const boost::json::array& peers, std::int64_t now);

// The "reload" result (or a "reload" event): the peers that changed, the settings applied
// ("settings applied:" then "  log_level: info -> debug", ...) and what needs a restart.
std::string format_reload(const boost::json::object& result);

// The "send" result: "accepted message <id> for <peer> (<n> bytes); it is stored and will be
// delivered" ("already accepted" for a repeated --id).
std::string format_send(const boost::json::object& result, std::string_view peer);

// The "outbox" result, one line per message, or "outbox empty":
//   7f3a9c  to alpha  5 B  queued, accepted 12 s ago, 3 attempt(s); last error: ...
//   7f3a9d  to bob  5 B  deposited at hub (2 min ago), accepted 3 min ago, 1 attempt(s)
// The state column: "queued" (state "pending"), "deposited at <mailbox> (<age>)", "expired"
// or "delivered" (these two followed by ", deposited at hub 2 min ago" after the "accepted"
// age when the message was deposited).
std::string format_outbox(const boost::json::array& messages, std::int64_t now);
// The "inbox" result, one line per message, or "inbox empty":
//   7f3a9c  from alpha (b5jn...)  5 B, received 12 s ago
// followed by " (import)" for an imported message and " (via hub)" for one picked up from the
// mailbox hub (nothing for "via":"network").
std::string format_inbox(const boost::json::array& messages, std::int64_t now);

// The "inbox_ack" result, one line per message: "acknowledged and deleted message <id> from
// alpha"; for {"acked":[]} (--all on an empty inbox) "nothing to acknowledge".
std::string format_inbox_ack(const boost::json::object& result);

// The "ping" result: "<peer> sees us at udp4 203.0.113.5:42424 (rtt 0.4 ms)".
std::string format_ping(const boost::json::object& result, std::string_view peer);
// After `ping --count N`, as ping(8) ends:
//   --- beta: 3 sent, 2 answered, 33% lost
//   rtt min/avg/max 0.2/0.3/0.4 ms
// (the second line only when a round trip was measured).
std::string format_ping_summary(std::string_view peer, std::uint64_t sent, std::uint64_t answered,
                                const std::vector<double>& rtts_ms);

// The "speedtest" result:
//   speed test to beta: 10.0 s of 1400-byte packets
//     sent: 812345 packets (0 refused by a full send buffer)
//     delivered: 800000 packets, 1.04 GiB (1.52% lost)
//     rate: 80000 packets/s, 896.0 Mbit/s
//     cpu: 12.3 us per delivered packet here, 10.1 us at the peer
std::string format_speedtest(const boost::json::object& result);

// One watch event as one line, prefixed with its time (format_clock):
//   2024-05-01 12:00:03 alpha up via udp4 127.0.0.1:42425 (new session)
//   2024-05-01 12:00:40 alpha down (timeout)
//   2024-05-01 12:01:00 alpha moved to udp4 192.0.2.9:42425
//   2024-05-01 12:01:02 message from alpha: msg, 5 bytes, id 7f3a "hello"
//   2024-05-01 12:01:03 message 7f3a delivered to alpha (1 attempt(s))
//   2024-05-01 12:02:00 reload: added beta; removed gamma
//   2024-05-01 12:03:00 message 7f3a for bob deposited at hub
// and, on a mailbox (PROTOCOL.md 14):
//   2024-05-01 12:03:00 alice deposited 1190 bytes for bob
//   2024-05-01 12:04:00 bob picked up 2 message(s)
//   2024-05-01 12:04:01 refused a deposit from alice for bob (over quota)
//   2024-05-01 12:05:00 3 message(s) held for bob expired
// Unknown events print their name and JSON.
std::string format_event(const boost::json::object& event, std::int64_t utc_offset_s);

// The "routes" result (PROTOCOL.md 12): the router's settings, then one line per pair it
// introduced, names falling back to the first 12 characters of the hashname:
//   router on: relays up to 2.0 MB/s per pair, routes expire after 2 min idle
//   A      B    INTRODUCTIONS  RELAYED                  RATE      DROPPED  IDLE  STATE
//   alice  bob  3              120 packets, 146.48 KiB  1.2 KB/s  0        4 s   relaying
// "router off" when it is not enabled (any routes left are still listed), "no routes" when
// it is and there are none. STATE is "introduced" once nothing is relayed any more.
std::string format_routes(const boost::json::object& result);

// The "mailbox" result (PROTOCOL.md 14): the settings, what is held, one line per recipient,
// and the counters since start; never any message's contents:
//   mailbox on: up to 64.00 MiB per recipient, 16.00 MiB per sender, kept at most 7 d
//   holding 12 messages, 33.76 KiB
//   RECIPIENT  MESSAGES  BYTES      OLDEST    SENDERS
//   bob        12        33.76 KiB  2 h ago   1
//   since start: 14 deposits, 0 duplicates, 1 refused by policy, 1 refused over quota, 2
//   picked up, 0 expired, 0 corrupt
// "mailbox: off (no [mailbox] in the configuration)" when it is not enabled (mail still held
// is listed under it; the counters only when one is not zero); "no mail held" when it is and
// holds none. A recipient without a name shows the first 12 characters of its hashname.
std::string format_mailbox(const boost::json::object& result, std::int64_t now);

// `e3xctl services`: one line per service, "ssh  tcp://127.0.0.1:22  allow: beta, gamma".
std::string format_services(const boost::json::array& services);
// `e3xctl forwards`: listen address, target, state, connections and bytes.
std::string format_forwards(const boost::json::array& forwards);
// `e3xctl streams`: peer, service, direction, bytes each way, age.
std::string format_streams(const boost::json::array& streams);

}  // namespace e3x::control
