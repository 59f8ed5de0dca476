// The SEQ decision table of PROTOCOL.md section 5, row by row, with the revision 2 rules of
// section 10 (1: stale at or below the last sync; 4: too far ahead).
#include "core/seq_rules.hpp"

#include <gtest/gtest.h>

namespace e3x {
namespace {

constexpr std::int64_t kNow = 1763700000;  // our wall clock: far above the small test SEQs

HandshakeSeqState high_state() {
  HandshakeSeqState state;
  state.own = Parity::kOdd;  // HIGH: originates odd SEQs
  return state;
}

TEST(SeqRules, NewRemoteSeqIsAcceptedAndAnswered) {
  auto state = high_state();
  state.recv_max = 100;
  EXPECT_EQ(classify_handshake(state, 102, kNow), HandshakeAction::kAcceptAndReply);
}

TEST(SeqRules, ResendOfTheLastRemoteSeqGetsTheStoredReply) {
  auto state = high_state();
  state.recv_max = 100;
  EXPECT_EQ(classify_handshake(state, 100, kNow), HandshakeAction::kResendReply);
}

TEST(SeqRules, OlderRemoteSeqIsStale) {
  auto state = high_state();
  state.recv_max = 100;
  EXPECT_EQ(classify_handshake(state, 98, kNow), HandshakeAction::kDropStale);
}

TEST(SeqRules, CrossingHandshakeBelowOurOutstandingOneResendsOurs) {
  auto state = high_state();
  state.sent_max = 105;
  state.outstanding = 105;
  state.sent_handshakes = {105};
  EXPECT_EQ(classify_handshake(state, 104, kNow), HandshakeAction::kAcceptAndResendOurs);
  // A remote SEQ above our outstanding one wins: answer it.
  EXPECT_EQ(classify_handshake(state, 106, kNow), HandshakeAction::kAcceptAndReply);
}

TEST(SeqRules, ConfirmationOfASeqWeSentAtOrAboveLastSync) {
  auto state = high_state();
  state.sent_handshakes = {101, 103};
  state.last_sync = 101;
  EXPECT_EQ(classify_handshake(state, 103, kNow), HandshakeAction::kConfirmed);
  EXPECT_EQ(classify_handshake(state, 101, kNow), HandshakeAction::kConfirmed);
}

TEST(SeqRules, OwnParitySeqsWeDidNotSendOrBelowSyncAreInvalid) {
  auto state = high_state();
  state.sent_handshakes = {101, 103};
  state.last_sync = 103;
  EXPECT_EQ(classify_handshake(state, 105, kNow), HandshakeAction::kDropInvalid);  // never sent
  EXPECT_EQ(classify_handshake(state, 101, kNow), HandshakeAction::kDropInvalid);  // below sync
}

// Rule 1: an exchange that came up by the peer confirming OUR handshake has recv_max 0, but
// its last_sync is our SEQ; a recorded handshake of the peer at or below it is not new.
TEST(SeqRules, RemoteSeqAtOrBelowLastSyncIsStaleEvenAboveRecvMax) {
  auto state = high_state();
  state.recv_max = 0;
  state.sent_max = 1763700001;
  state.sent_handshakes = {1763700001};
  state.last_sync = 1763700001;
  EXPECT_EQ(classify_handshake(state, 1763699998, kNow), HandshakeAction::kDropStale);
  EXPECT_EQ(classify_handshake(state, 1763700000, kNow), HandshakeAction::kDropStale);
  EXPECT_EQ(classify_handshake(state, 1763700002, kNow), HandshakeAction::kAcceptAndReply);
}

TEST(SeqRules, RecvMaxZeroIsNeverAResend) {
  auto state = high_state();
  state.outstanding = 1763700001;
  state.sent_handshakes = {1763700001};
  EXPECT_EQ(classify_handshake(state, 0, kNow), HandshakeAction::kDropStale);
}

// Rule 4: a remote SEQ more than a day above max(unix time, recv_max, sent_max) is invalid,
// so a peer can raise what we choose toward it by at most a day per accepted handshake.
TEST(SeqRules, RemoteSeqMoreThanADayAheadIsInvalid) {
  auto state = high_state();
  const auto limit = static_cast<std::uint32_t>(kNow + kMaxRemoteSeqAhead);
  EXPECT_EQ(classify_handshake(state, limit, kNow), HandshakeAction::kAcceptAndReply);
  EXPECT_EQ(classify_handshake(state, limit + 2, kNow), HandshakeAction::kDropTooFar);
  EXPECT_EQ(classify_handshake(state, 4294967000u, kNow), HandshakeAction::kDropTooFar);
  state.recv_max = limit;  // accepted: the next day's worth is now in bounds
  EXPECT_EQ(classify_handshake(state, limit + 2, kNow), HandshakeAction::kAcceptAndReply);
  EXPECT_TRUE(remote_seq_in_bounds(state, limit + 86400, kNow));
  EXPECT_FALSE(remote_seq_in_bounds(state, limit + 86402, kNow));
  // Our own parity is bounded by what we sent, not by this rule.
  EXPECT_EQ(classify_handshake(state, 4294967001u, kNow), HandshakeAction::kDropInvalid);
}

TEST(SeqRules, ParityFollowsOrder) {
  HandshakeSeqState low;
  low.own = Parity::kEven;
  low.recv_max = 0;
  EXPECT_EQ(classify_handshake(low, 7, kNow), HandshakeAction::kAcceptAndReply);  // odd is remote
  EXPECT_EQ(classify_handshake(low, 8, kNow), HandshakeAction::kDropInvalid);     // even is ours
}

TEST(SeqRules, NewSeqHasOurParityAndBeatsEverything) {
  auto state = high_state();
  EXPECT_EQ(choose_new_seq(state, 0, 1763700000), 1763700001u);
  EXPECT_EQ(choose_new_seq(state, 0, 1763700001), 1763700001u);
  state.sent_max = 1763700001;
  EXPECT_EQ(choose_new_seq(state, 0, 1763700000), 1763700003u);
  state.recv_max = 1763700010;
  EXPECT_EQ(choose_new_seq(state, 0, 1763700000), 1763700011u);
  // The persisted high-water mark wins over a clock that stepped back.
  EXPECT_EQ(choose_new_seq(high_state(), 1800000000, 1700000000), 1800000001u);

  HandshakeSeqState low;
  low.own = Parity::kEven;
  EXPECT_EQ(choose_new_seq(low, 0, 1763700001), 1763700002u);
  EXPECT_EQ(choose_new_seq(low, 0, 0), 2u);  // 0 is not a SEQ anyone can confirm
}

TEST(SeqRules, NewSeqReportsExhaustion) {
  auto state = high_state();
  state.sent_max = 0xffffffffu;
  EXPECT_FALSE(choose_new_seq(state, 0, 0).has_value());
  HandshakeSeqState low;
  low.own = Parity::kEven;
  low.recv_max = 0xfffffffdu;
  EXPECT_EQ(choose_new_seq(low, 0, 0), 0xfffffffeu);  // the last even value still fits
  low.recv_max = 0xfffffffeu;
  EXPECT_FALSE(choose_new_seq(low, 0, 0).has_value());
}

}  // namespace
}  // namespace e3x
