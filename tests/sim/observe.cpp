#include "sim/observe.hpp"

namespace e3x::sim {

std::vector<HandshakeRecord> handshakes_sent(const Simulator& sim, const Host& host) {
  std::vector<HandshakeRecord> out;
  for (const SentRecord& record : sim.network().sent_log()) {
    if (record.from_node != host.id()) continue;
    if (auto seq = message_seq(record.bytes)) {
      out.push_back(HandshakeRecord{record.at, *seq, record.to, record.fate, record.bytes});
    }
  }
  return out;
}

std::vector<SentRecord> channel_packets_sent(const Simulator& sim, const Host& host) {
  return sim.sent_by(host, [](const SentRecord& r) { return is_channel_packet(r.bytes); });
}

std::vector<std::string> channel_bodies(const Host& receiver, const Hashname& from,
                                        std::uint32_t channel, bool include_open) {
  std::vector<std::string> out;
  for (const LoggedEvent& logged : receiver.events()) {
    if (const auto* opened = std::get_if<event::ChannelOpened>(&logged.event)) {
      if (include_open && opened->peer == from && opened->channel == channel) {
        out.push_back(text_of(opened->body));
      }
    } else if (const auto* data = std::get_if<event::ChannelData>(&logged.event)) {
      if (data->peer == from && data->channel == channel) out.push_back(text_of(data->body));
    }
  }
  return out;
}

std::optional<std::uint32_t> opened_channel(const Host& receiver, const Hashname& from,
                                            const std::string& type) {
  for (const auto& opened : receiver.events_of<event::ChannelOpened>()) {
    if (opened.peer == from && opened.type == type) return opened.channel;
  }
  return std::nullopt;
}

bool is_high(const Host& ours, const Host& theirs) {
  return order_of(ours.public_key(), theirs.public_key()) == Order::kHigh;
}

}  // namespace e3x::sim
