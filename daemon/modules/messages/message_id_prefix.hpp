// Message ids given by a unique prefix, as git takes commit ids: random ids are 16 hex
// characters, and people type the first few they see in `e3xctl inbox` or `outbox`.
// Resolution happens in the daemon, which alone knows every id at the moment it acts, so a
// prefix can never pick a message the client did not see as a candidate.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace e3x::daemon {

struct IdResolution {
  enum class Kind { kFound, kUnknown, kAmbiguous };
  Kind kind = Kind::kUnknown;
  std::string id;                       // kFound: the whole id
  std::vector<std::string> candidates;  // kAmbiguous: every id it begins, sorted, no repeats
};

// An id equal to `given` wins even when it also begins longer ids (an id "ab" next to
// "abcd"); otherwise the one id `given` begins. An empty `given` matches nothing.
IdResolution resolve_message_id(std::string_view given, const std::vector<std::string>& ids);

// "'7f' is ambiguous: it begins 3 message ids: 7f3a01, 7f91aa, 7fa0 (give more characters)",
// naming at most 10 of them.
std::string ambiguous_message(std::string_view given, const std::vector<std::string>& candidates);

}  // namespace e3x::daemon
