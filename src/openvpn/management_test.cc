#include "openvpn/management.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace aureo::openvpn {
namespace {

std::string readCorpus(const std::string& name) {
  std::ifstream in(std::string(AUREO_OPENVPN_CORPUS_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string describe(const ManagementEvent& ev) {
  struct V {
    std::string operator()(const ClientEvent& e) const {
      static const char* kinds[] = {"CONNECT", "REAUTH", "ESTABLISHED", "DISCONNECT",
                                    "CR_RESPONSE"};
      std::string s = std::string("client ") + kinds[static_cast<int>(e.kind)] + " " +
                      std::to_string(e.cid) + " " + (e.kid ? std::to_string(*e.kid) : "-");
      for (const auto& [k, v] : e.env) s += " " + k + "=" + v;
      if (e.env_truncated) s += " TRUNCATED";
      return s;
    }
    std::string operator()(const ClientAddressEvent& e) const {
      return "address " + std::to_string(e.cid) + " " + e.address + (e.primary ? " 1" : " 0");
    }
    std::string operator()(const ClientBytecountEvent& e) const {
      return "bytecount " + std::to_string(e.cid) + " " + std::to_string(e.bytes_received) + " " +
             std::to_string(e.bytes_sent);
    }
    std::string operator()(const InfoEvent& e) const { return "info " + e.message; }
    std::string operator()(const HoldEvent& e) const { return "hold " + e.message; }
    std::string operator()(const StateEvent& e) const {
      std::string s = "state";
      for (const auto& f : e.fields) s += "|" + f;
      return s;
    }
    std::string operator()(const NotificationEvent& e) const {
      return "notify " + e.type + " " + e.payload;
    }
    std::string operator()(const Reply& e) const {
      std::string s = e.kind == Reply::Kind::kSuccess ? "success "
                      : e.kind == Reply::Kind::kError ? "error "
                                                      : "multi ";
      s += e.message;
      for (const auto& l : e.lines) s += "|" + l;
      if (e.truncated) s += " TRUNCATED";
      return s;
    }
    std::string operator()(const ProtocolErrorEvent&) const { return "protocol-error"; }
    std::string operator()(const ConnectionClosedEvent&) const { return "closed"; }
  };
  return std::visit(V{}, ev);
}

std::vector<std::string> parseAll(std::string_view input, const std::vector<size_t>& cuts = {},
                                  ParserLimits limits = {}) {
  ManagementParser parser(limits);
  std::vector<ManagementEvent> events;
  size_t from = 0;
  for (size_t cut : cuts) {
    parser.feed(input.substr(from, cut - from), events);
    from = cut;
  }
  parser.feed(input.substr(from), events);
  std::vector<std::string> out;
  for (const auto& ev : events) out.push_back(describe(ev));
  return out;
}

std::string fullSession() {
  return readCorpus("greeting_hold") + readCorpus("client_connect") + readCorpus("version_reply") +
         readCorpus("status3_reply") + readCorpus("established_bytecount") +
         readCorpus("disconnect");
}

TEST(ManagementParserTest, ParsesARealOpenVpnSession) {
  ManagementParser parser;
  std::vector<ManagementEvent> events;
  parser.feed(fullSession(), events);
  ASSERT_GE(events.size(), 12u);

  EXPECT_EQ(describe(events[0]),
            "info OpenVPN Management Interface Version 5 -- type 'help' for more info");
  EXPECT_EQ(describe(events[1]), "hold Waiting for hold release:0");
  EXPECT_EQ(describe(events[2]), "success bytecount interval changed");
  EXPECT_EQ(describe(events[3]), "success hold release succeeded");

  const auto& connect = std::get<ClientEvent>(events[4]);
  EXPECT_EQ(connect.kind, ClientEventKind::kConnect);
  EXPECT_EQ(connect.cid, 0u);
  EXPECT_EQ(connect.kid, 1u);
  EXPECT_FALSE(connect.env_truncated);
  ASSERT_NE(connect.findEnv("username"), nullptr);
  EXPECT_EQ(*connect.findEnv("username"), "alice");
  EXPECT_EQ(*connect.findEnv("password"), "goodtoken");
  EXPECT_EQ(*connect.findEnv("untrusted_ip"), "198.18.0.2");
  EXPECT_EQ(*connect.findEnv("IV_VER"), "2.6.14");
  EXPECT_EQ(connect.findEnv("common_name"), nullptr);

  const auto& version = std::get<Reply>(events[5]);
  EXPECT_EQ(version.kind, Reply::Kind::kMultiLine);
  ASSERT_EQ(version.lines.size(), 2u);
  EXPECT_EQ(version.lines[1], "Management Version: 5");

  const auto& status = std::get<Reply>(events[6]);
  ASSERT_EQ(status.kind, Reply::Kind::kMultiLine);
  const auto clients = parseStatus3(status.lines);
  ASSERT_EQ(clients.size(), 1u);
  EXPECT_EQ(clients[0].common_name, "alice");
  EXPECT_EQ(clients[0].real_address, "198.18.0.2:42649");
  EXPECT_EQ(clients[0].bytes_received, 1131u);
  EXPECT_EQ(clients[0].bytes_sent, 1789u);
  EXPECT_EQ(clients[0].connected_since, 1795618089);
  EXPECT_EQ(clients[0].username, "alice");
  EXPECT_EQ(clients[0].cid, 0u);

  EXPECT_EQ(describe(events[7]), "success client-auth command succeeded");
  EXPECT_EQ(describe(events[8]), "address 0 10.213.0.2 1");
  EXPECT_EQ(describe(events[9]), "address 0 fd00:213::1000 1");
  const auto& established = std::get<ClientEvent>(events[10]);
  EXPECT_EQ(established.kind, ClientEventKind::kEstablished);
  EXPECT_FALSE(established.kid.has_value());
  EXPECT_EQ(*established.findEnv("ifconfig_pool_remote_ip"), "10.213.0.2");
  EXPECT_EQ(*established.findEnv("common_name"), "alice");
  EXPECT_EQ(describe(events[11]), "bytecount 0 1244 2266");

  const auto& last = std::get<ClientEvent>(events.back());
  EXPECT_EQ(last.kind, ClientEventKind::kDisconnect);
  EXPECT_EQ(*last.findEnv("bytes_received"), "1630");
  EXPECT_EQ(*last.findEnv("bytes_sent"), "2679");
  for (const auto& ev : events) {
    EXPECT_FALSE(std::holds_alternative<ProtocolErrorEvent>(ev)) << describe(ev);
  }
}

TEST(ManagementParserTest, SplittingAtEveryByteBoundaryGivesTheSameEvents) {
  const std::string input = fullSession();
  const auto whole = parseAll(input);
  for (size_t cut = 1; cut < input.size(); ++cut) {
    ASSERT_EQ(parseAll(input, {cut}), whole) << "split at " << cut;
  }
}

TEST(ManagementParserTest, FeedingOneByteAtATimeGivesTheSameEvents) {
  const std::string input = fullSession();
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
  EXPECT_EQ(parseAll(input, cuts), parseAll(input));
}

TEST(ManagementParserTest, PlainNewlinesWorkLikeCrLf) {
  EXPECT_EQ(parseAll(">INFO:hello\nSUCCESS: ok\n"), parseAll(">INFO:hello\r\nSUCCESS: ok\r\n"));
}

TEST(ManagementParserTest, NotificationsInsideAMultiLineReplyStaySeparate) {
  const auto events = parseAll(
      "TITLE\tx\r\n>BYTECOUNT_CLI:3,10,20\r\nCLIENT_LIST\ta\r\n>STATE:1,CONNECTED,SUCCESS\r\n"
      "END\r\n");
  EXPECT_EQ(events, (std::vector<std::string>{"bytecount 3 10 20", "state|1|CONNECTED|SUCCESS",
                                              "multi |TITLE\tx|CLIENT_LIST\ta"}));
}

TEST(ManagementParserTest, ClientEventsOfEveryKind) {
  const auto events = parseAll(
      ">CLIENT:REAUTH,7,2\r\n>CLIENT:ENV,username=bob\r\n>CLIENT:ENV,flag\r\n"
      ">CLIENT:ENV,eq=a=b\r\n>CLIENT:ENV,END\r\n"
      ">CLIENT:CR_RESPONSE,7,2,c2VjcmV0\r\n>CLIENT:ENV,END\r\n"
      ">CLIENT:DISCONNECT,7\r\n>CLIENT:ENV,END\r\n"
      ">CLIENT:SOMETHING_NEW,1\r\n>FATAL:cannot open tun\r\n>HOLD:Waiting\r\n");
  EXPECT_EQ(events, (std::vector<std::string>{
                        "client REAUTH 7 2 username=bob flag= eq=a=b",
                        "client CR_RESPONSE 7 2",
                        "client DISCONNECT 7 -",
                        "notify CLIENT SOMETHING_NEW,1",
                        "notify FATAL cannot open tun",
                        "hold Waiting",
                    }));
}

TEST(ManagementParserTest, ErrorRepliesAndEmptyMultiLineReplies) {
  EXPECT_EQ(parseAll("ERROR: client-kill command failed\r\nEND\r\n"),
            (std::vector<std::string>{"error client-kill command failed", "multi "}));
}

TEST(ManagementParserTest, MalformedLinesAreReportedAndParsingContinues) {
  const auto events = parseAll(
      ">BYTECOUNT_CLI:x,1,2\r\n>BYTECOUNT_CLI:1,2\r\n>CLIENT:CONNECT,1\r\n"
      ">CLIENT:CONNECT,-1,0\r\n>CLIENT:ENV,a=b\r\n>CLIENT:ADDRESS,1,,1\r\n>NOCOLON\r\n"
      ">BYTECOUNT_CLI:1,2,3\r\n");
  EXPECT_EQ(events, (std::vector<std::string>{"protocol-error", "protocol-error", "protocol-error",
                                              "protocol-error", "protocol-error", "protocol-error",
                                              "protocol-error", "bytecount 1 2 3"}));
}

TEST(ManagementParserTest, OverlongLineIsDroppedAndParsingResyncsAtTheNextNewline) {
  ParserLimits limits;
  limits.max_line = 64;
  const std::string junk(500, 'x');
  // Delivered in pieces, so the parser must remember it is skipping.
  const std::string input = ">INFO:" + junk + "\r\n>BYTECOUNT_CLI:1,2,3\r\n";
  const std::vector<std::string> want = {"protocol-error", "bytecount 1 2 3"};
  EXPECT_EQ(parseAll(input, {}, limits), want);
  EXPECT_EQ(parseAll(input, {100, 200, 300}, limits), want);
  // A line of exactly the limit still parses.
  const std::string exact = ">INFO:" + std::string(58, 'y');
  ASSERT_EQ(exact.size(), 64u);
  EXPECT_EQ(parseAll(exact + "\r\n", {}, limits),
            std::vector<std::string>{"info " + std::string(58, 'y')});
}

TEST(ManagementParserTest, OverlongEnvLineMarksTheClientBlockTruncated) {
  ParserLimits limits;
  limits.max_line = 64;
  const auto events =
      parseAll(">CLIENT:CONNECT,1,0\r\n>CLIENT:ENV,password=" + std::string(100, 'p') +
                   "\r\n>CLIENT:ENV,END\r\n",
               {}, limits);
  EXPECT_EQ(events, (std::vector<std::string>{"protocol-error", "client CONNECT 1 0 TRUNCATED"}));
}

TEST(ManagementParserTest, TooManyEnvLinesAreBounded) {
  ParserLimits limits;
  limits.max_env_lines = 4;
  std::string input = ">CLIENT:CONNECT,5,1\r\n";
  for (int i = 0; i < 1000; ++i) input += ">CLIENT:ENV,v" + std::to_string(i) + "=x\r\n";
  input += ">CLIENT:ENV,END\r\n";
  ManagementParser parser(limits);
  std::vector<ManagementEvent> events;
  parser.feed(input, events);
  ASSERT_EQ(events.size(), 1u);
  const auto& ev = std::get<ClientEvent>(events[0]);
  EXPECT_EQ(ev.env.size(), 4u);
  EXPECT_TRUE(ev.env_truncated);
}

TEST(ManagementParserTest, MultiLineRepliesAreBounded) {
  ParserLimits limits;
  limits.max_reply_lines = 3;
  const auto events = parseAll("a\r\nb\r\nc\r\nd\r\ne\r\nEND\r\nSUCCESS: next\r\n", {}, limits);
  EXPECT_EQ(events, (std::vector<std::string>{"multi |a|b|c TRUNCATED", "success next"}));
}

TEST(ManagementParserTest, InterruptedClientBlockIsDeliveredAsTruncated) {
  const auto events = parseAll(
      ">CLIENT:CONNECT,1,0\r\n>CLIENT:ENV,username=a\r\n"
      ">CLIENT:CONNECT,2,0\r\n>CLIENT:ENV,username=b\r\n>CLIENT:ENV,END\r\n");
  EXPECT_EQ(events,
            (std::vector<std::string>{"protocol-error", "client CONNECT 1 0 username=a TRUNCATED",
                                      "client CONNECT 2 0 username=b"}));
}

TEST(ManagementParserTest, GarbageNeverBreaksTheNextGoodLine) {
  std::mt19937 rng(42);
  for (int round = 0; round < 200; ++round) {
    std::string garbage(rng() % 2000, '\0');
    for (auto& c : garbage) c = static_cast<char>(rng());
    ManagementParser parser;
    std::vector<ManagementEvent> events;
    parser.feed(garbage, events);
    // Garbage may leave a multi-line reply or client block open; END and
    // ENV,END close them, after which a fresh line parses normally.
    events.clear();
    parser.feed("\nEND\n>CLIENT:ENV,END\n>BYTECOUNT_CLI:9,8,7\n", events);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(describe(events.back()), "bytecount 9 8 7") << "round " << round;
  }
}

TEST(ParseStatus3Test, FindsColumnsByHeaderName) {
  const std::vector<std::string> lines = {
      "TITLE\tOpenVPN 2.7",
      "HEADER\tCLIENT_LIST\tUsername\tClient ID\tCommon Name\tBytes Received\tBytes Sent",
      "CLIENT_LIST\tbob\t12\tbob\t100\t200",
      "CLIENT_LIST\tbroken\tnot-a-number\tx\t1\t2",
      "GLOBAL_STATS\tdco_enabled\t0",
  };
  const auto clients = parseStatus3(lines);
  ASSERT_EQ(clients.size(), 1u);
  EXPECT_EQ(clients[0].username, "bob");
  EXPECT_EQ(clients[0].cid, 12u);
  EXPECT_EQ(clients[0].bytes_received, 100u);
  EXPECT_EQ(clients[0].bytes_sent, 200u);
}

}  // namespace
}  // namespace aureo::openvpn
