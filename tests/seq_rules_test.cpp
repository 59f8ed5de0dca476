// The SEQ decision table of PROTOCOL.md section 5, row by row.
#include "core/seq_rules.hpp"

#include <gtest/gtest.h>

namespace e3x {
namespace {

HandshakeSeqState high_state() {
  HandshakeSeqState state;
  state.own = Parity::kOdd;  // HIGH: originates odd SEQs
  return state;
}

TEST(SeqRules, NewRemoteSeqIsAcceptedAndAnswered) {
  auto state = high_state();
  state.recv_max = 100;
  EXPECT_EQ(classify_handshake(state, 102), HandshakeAction::kAcceptAndReply);
}

TEST(SeqRules, ResendOfTheLastRemoteSeqGetsTheStoredReply) {
  auto state = high_state();
  state.recv_max = 100;
  EXPECT_EQ(classify_handshake(state, 100), HandshakeAction::kResendReply);
}

TEST(SeqRules, OlderRemoteSeqIsStale) {
  auto state = high_state();
  state.recv_max = 100;
  EXPECT_EQ(classify_handshake(state, 98), HandshakeAction::kDropStale);
}

TEST(SeqRules, CrossingHandshakeBelowOurOutstandingOneResendsOurs) {
  auto state = high_state();
  state.sent_max = 105;
  state.outstanding = 105;
  state.sent_handshakes = {105};
  EXPECT_EQ(classify_handshake(state, 104), HandshakeAction::kAcceptAndResendOurs);
  // A remote SEQ above our outstanding one wins: answer it.
  EXPECT_EQ(classify_handshake(state, 106), HandshakeAction::kAcceptAndReply);
}

TEST(SeqRules, ConfirmationOfASeqWeSentAtOrAboveLastSync) {
  auto state = high_state();
  state.sent_handshakes = {101, 103};
  state.last_sync = 101;
  EXPECT_EQ(classify_handshake(state, 103), HandshakeAction::kConfirmed);
  EXPECT_EQ(classify_handshake(state, 101), HandshakeAction::kConfirmed);
}

TEST(SeqRules, OwnParitySeqsWeDidNotSendOrBelowSyncAreInvalid) {
  auto state = high_state();
  state.sent_handshakes = {101, 103};
  state.last_sync = 103;
  EXPECT_EQ(classify_handshake(state, 105), HandshakeAction::kDropInvalid);  // never sent
  EXPECT_EQ(classify_handshake(state, 101), HandshakeAction::kDropInvalid);  // below sync
}

TEST(SeqRules, ParityFollowsOrder) {
  HandshakeSeqState low;
  low.own = Parity::kEven;
  low.recv_max = 0;
  EXPECT_EQ(classify_handshake(low, 7), HandshakeAction::kAcceptAndReply);  // odd is remote
  EXPECT_EQ(classify_handshake(low, 8), HandshakeAction::kDropInvalid);     // even is ours
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
