#include "daemon/modules/messages/message_id_prefix.hpp"

#include <algorithm>

#include "daemon/support/text_escape.hpp"

namespace e3x::daemon {

namespace {

// Enough to recognise the one meant, few enough for one line of an error.
constexpr std::size_t kCandidatesShown = 10;

}  // namespace

IdResolution resolve_message_id(std::string_view given, const std::vector<std::string>& ids) {
  IdResolution resolution;
  if (given.empty()) return resolution;
  for (const std::string& id : ids) {
    if (id == given) {
      resolution.kind = IdResolution::Kind::kFound;
      resolution.id = id;
      resolution.candidates.clear();
      return resolution;
    }
    if (id.starts_with(given)) resolution.candidates.push_back(id);
  }
  std::sort(resolution.candidates.begin(), resolution.candidates.end());
  resolution.candidates.erase(
      std::unique(resolution.candidates.begin(), resolution.candidates.end()),
      resolution.candidates.end());
  if (resolution.candidates.size() == 1) {
    resolution.kind = IdResolution::Kind::kFound;
    resolution.id = std::move(resolution.candidates.front());
    resolution.candidates.clear();
  } else if (resolution.candidates.size() > 1) {
    resolution.kind = IdResolution::Kind::kAmbiguous;
  }
  return resolution;
}

std::string ambiguous_message(std::string_view given, const std::vector<std::string>& candidates) {
  // Appended piece by piece: GCC 12's -Wrestrict misfires on `"literal" + std::string&&` at
  // -O3 (the package's Release build with warnings as errors).
  std::string out = "'";
  out += escape_text(given);
  out += "' is ambiguous: it begins ";
  out += std::to_string(candidates.size());
  out += " message ids: ";
  for (std::size_t i = 0; i < candidates.size() && i < kCandidatesShown; ++i) {
    if (i > 0) out += ", ";
    out += escape_text(candidates[i]);
  }
  if (candidates.size() > kCandidatesShown) {
    out += " and ";
    out += std::to_string(candidates.size() - kCandidatesShown);
    out += " more";
  }
  out += " (give more characters)";
  return out;
}

}  // namespace e3x::daemon
