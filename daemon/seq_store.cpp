#include "daemon/seq_store.hpp"

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/atomic_file.hpp"
#include "core/bytes.hpp"

namespace e3x::daemon {

Result<std::uint32_t, std::string> SeqStore::load() {
  std::error_code exists_error;
  if (!std::filesystem::exists(file_, exists_error)) {
    if (exists_error)
      return unexpected("cannot check " + file_.string() + ": " + exists_error.message());
    recorded_ = 0;
    return recorded_;
  }
  std::ifstream in(file_, std::ios::binary);
  if (!in) return unexpected("cannot read " + file_.string() + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code parse_error;
  const boost::json::value doc = boost::json::parse(text.str(), parse_error);
  const boost::json::object* object = doc.if_object();
  const boost::json::value* mark = object ? object->if_contains("seq_high_water") : nullptr;
  if (parse_error || !mark || !mark->is_number()) {
    return unexpected(file_.string() +
                      " is not a SEQ state file ({\"seq_high_water\":N}); it must not be guessed "
                      "lower than it was, so fix or remove it knowing that SEQs may be reused");
  }
  boost::system::error_code number_error;
  const auto value = mark->to_number<std::uint64_t>(number_error);
  if (number_error || value > std::numeric_limits<std::uint32_t>::max()) {
    return unexpected(file_.string() + ": seq_high_water is not a 32-bit unsigned integer");
  }
  recorded_ = static_cast<std::uint32_t>(value);
  return recorded_;
}

std::string SeqStore::cover(std::uint32_t highest_used) {
  if (highest_used <= recorded_) return {};
  const std::uint64_t wanted = std::uint64_t{highest_used} + kSeqReservation;
  const auto mark = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(wanted, std::numeric_limits<std::uint32_t>::max()));
  const std::string text =
      boost::json::serialize(boost::json::object{{"seq_high_water", mark}}) + "\n";
  const Bytes content(text.begin(), text.end());
  std::string error = config::write_file_atomically(file_, content, 0600);
  if (error.empty()) recorded_ = mark;
  return error;
}

}  // namespace e3x::daemon
