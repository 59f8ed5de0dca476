// Message ids by unique prefix (daemon/modules/messages/message_id_prefix.hpp), as git takes
// commit ids.
#include "daemon/modules/messages/message_id_prefix.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace e3x::daemon {
namespace {

using Kind = IdResolution::Kind;

const std::vector<std::string> kIds = {"7f3a01c2d4e5f6a7", "7f91aa0000000000", "b0b", "b0b-2",
                                       "c4fe"};

TEST(MessageIdPrefix, AUniquePrefixNamesTheWholeId) {
  const auto found = resolve_message_id("7f3", kIds);
  EXPECT_EQ(found.kind, Kind::kFound);
  EXPECT_EQ(found.id, "7f3a01c2d4e5f6a7");
  EXPECT_TRUE(found.candidates.empty());
  EXPECT_EQ(resolve_message_id("c", kIds).id, "c4fe");
  EXPECT_EQ(resolve_message_id("7f3a01c2d4e5f6a7", kIds).id, "7f3a01c2d4e5f6a7");
}

TEST(MessageIdPrefix, AnExactIdWinsOverLongerOnesItBegins) {
  const auto found = resolve_message_id("b0b", kIds);
  EXPECT_EQ(found.kind, Kind::kFound);
  EXPECT_EQ(found.id, "b0b");
}

TEST(MessageIdPrefix, AnAmbiguousPrefixListsEveryCandidateSorted) {
  const auto found = resolve_message_id("7f", kIds);
  EXPECT_EQ(found.kind, Kind::kAmbiguous);
  EXPECT_EQ(found.candidates, (std::vector<std::string>{"7f3a01c2d4e5f6a7", "7f91aa0000000000"}));
  EXPECT_EQ(ambiguous_message("7f", found.candidates),
            "'7f' is ambiguous: it begins 2 message ids: 7f3a01c2d4e5f6a7, 7f91aa0000000000 "
            "(give more characters)");
  // "b0" begins "b0b" and "b0b-2", and neither equals it.
  EXPECT_EQ(resolve_message_id("b0", kIds).kind, Kind::kAmbiguous);
}

TEST(MessageIdPrefix, TheSameIdFromTwoSendersIsOneCandidate) {
  // The inbox may hold one id from two senders: the prefix names that id, and the sender is
  // chosen separately ("peer"), not by listing the id twice.
  const auto found = resolve_message_id("ab", {"abcd", "abcd", "x"});
  EXPECT_EQ(found.kind, Kind::kFound);
  EXPECT_EQ(found.id, "abcd");
}

TEST(MessageIdPrefix, UnknownAndEmptyMatchNothing) {
  EXPECT_EQ(resolve_message_id("zz", kIds).kind, Kind::kUnknown);
  EXPECT_EQ(resolve_message_id("7f3a01c2d4e5f6a7ff", kIds).kind, Kind::kUnknown);
  EXPECT_EQ(resolve_message_id("", kIds).kind, Kind::kUnknown);
  EXPECT_EQ(resolve_message_id("7f", {}).kind, Kind::kUnknown);
}

TEST(MessageIdPrefix, ALongListOfCandidatesIsCut) {
  std::vector<std::string> ids;
  for (int i = 0; i < 13; ++i) ids.push_back("id" + std::to_string(100 + i));
  const auto found = resolve_message_id("id", ids);
  ASSERT_EQ(found.candidates.size(), 13u);
  const std::string message = ambiguous_message("id", found.candidates);
  EXPECT_NE(message.find("it begins 13 message ids: id100, id101,"), std::string::npos) << message;
  EXPECT_NE(message.find("id109 and 3 more (give more characters)"), std::string::npos) << message;
  EXPECT_EQ(message.find("id110"), std::string::npos) << message;
}

TEST(MessageIdPrefix, PeerSuppliedIdsAreEscaped) {
  EXPECT_EQ(ambiguous_message("a", {"a\n1", "a\x1b"}),
            "'a' is ambiguous: it begins 2 message ids: a\\x0a1, a\\x1b (give more characters)");
}

}  // namespace
}  // namespace e3x::daemon
