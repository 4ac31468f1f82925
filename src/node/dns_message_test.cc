#include "node/dns_message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aureo::node::dns {
namespace {

// A query for `name` (dotted) of type A, id `id`, optionally with EDNS.
std::vector<uint8_t> query(const std::string& name, uint16_t id, bool edns = false) {
  std::vector<uint8_t> m{
      static_cast<uint8_t>(id >> 8),     static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0,
      static_cast<uint8_t>(edns ? 1 : 0)};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    m.push_back(static_cast<uint8_t>(dot - start));
    m.insert(m.end(), name.begin() + static_cast<long>(start),
             name.begin() + static_cast<long>(dot));
    start = dot + 1;
  }
  m.insert(m.end(), {0, 0, 1, 0, 1});
  if (edns) m.insert(m.end(), {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0});
  return m;
}

TEST(DnsMessage, AcceptsAPlainQueryAndOneWithEdns) {
  auto q = query("example.com", 0xBEEF);
  auto parsed = parseQuery(q);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->id, 0xBEEF);
  EXPECT_EQ(parsed->question_end, q.size());
  auto e = query("example.com", 7, true);
  auto pe = parseQuery(e);
  ASSERT_TRUE(pe);
  EXPECT_EQ(pe->question_end, e.size() - 11);
}

TEST(DnsMessage, RejectsWhatIsNotOneWellFormedQuery) {
  const auto good = query("example.com", 1);
  EXPECT_FALSE(parseQuery(std::span<const uint8_t>(good.data(), 11)));               // short header
  EXPECT_FALSE(parseQuery(std::span<const uint8_t>(good.data(), good.size() - 1)));  // cut QCLASS
  auto answer = good;
  answer[2] |= 0x80;  // QR: an answer, not a query
  EXPECT_FALSE(parseQuery(answer));
  auto opcode = good;
  opcode[2] |= 0x28;  // opcode UPDATE
  EXPECT_FALSE(parseQuery(opcode));
  auto two = good;
  two[5] = 2;  // QDCOUNT 2
  EXPECT_FALSE(parseQuery(two));
  auto with_answer = good;
  with_answer[7] = 1;  // ANCOUNT 1
  EXPECT_FALSE(parseQuery(with_answer));
  auto trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(parseQuery(trailing));
  auto pointer = good;
  pointer[12] = 0xC0;  // a compression pointer in the question
  EXPECT_FALSE(parseQuery(pointer));
  auto runs_off = good;
  runs_off[12] = 60;  // a label longer than the packet
  EXPECT_FALSE(parseQuery(runs_off));
  auto not_opt = query("example.com", 1, true);
  not_opt[not_opt.size() - 9] = 1;  // additional record of type 1, not OPT
  EXPECT_FALSE(parseQuery(not_opt));
  std::vector<uint8_t> huge = good;
  huge.resize(kMaxQuerySize + 1);
  EXPECT_FALSE(parseQuery(huge));
  // 5 labels of 63 bytes: a name over 255 bytes.
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(63, 'a') + (i < 4 ? "." : "");
  EXPECT_FALSE(parseQuery(query(long_name, 1)));
}

TEST(DnsMessage, MatchesAnAnswerByIdAndQuestionInAnyCase) {
  const auto q = query("Example.COM", 0x1111);
  const auto parsed = *parseQuery(q);
  auto r = query("example.com", 0x2222);
  r[2] |= 0x80;
  EXPECT_TRUE(isResponseTo(r, 0x2222, q, parsed));
  EXPECT_FALSE(isResponseTo(r, 0x1111, q, parsed));  // wrong id
  auto not_answer = query("example.com", 0x2222);
  EXPECT_FALSE(isResponseTo(not_answer, 0x2222, q, parsed));  // QR clear
  auto other = query("example.org", 0x2222);
  other[2] |= 0x80;
  EXPECT_FALSE(isResponseTo(other, 0x2222, q, parsed));
  EXPECT_FALSE(isResponseTo(std::span<const uint8_t>(r.data(), 10), 0x2222, q, parsed));
}

TEST(DnsMessage, RewritesTheIdInPlace) {
  auto q = query("example.com", 0x0102);
  setMessageId(q, 0xA0B0);
  EXPECT_EQ(q[0], 0xA0);
  EXPECT_EQ(q[1], 0xB0);
  EXPECT_EQ(messageId(q), 0xA0B0);
  std::vector<uint8_t> one{5};
  setMessageId(one, 0xFFFF);  // too short: untouched
  EXPECT_EQ(one[0], 5);
  EXPECT_EQ(messageId(one), 0);
}

TEST(DnsMessage, ServfailKeepsIdRdAndQuestion) {
  const auto q = query("example.com", 0x4242, true);
  const auto parsed = *parseQuery(q);
  std::array<uint8_t, 512> out{};
  const size_t n = writeServfail(q, parsed, out);
  ASSERT_EQ(n, parsed.question_end);
  EXPECT_EQ(messageId(std::span<const uint8_t>(out.data(), n)), 0x4242);
  EXPECT_EQ(out[2], 0x81);      // QR, RD
  EXPECT_EQ(out[3] & 0x0F, 2);  // SERVFAIL
  EXPECT_EQ(out[11], 0);        // no additional records
  EXPECT_TRUE(isResponseTo(std::span<const uint8_t>(out.data(), n), 0x4242, q, parsed));
  std::array<uint8_t, 8> small{};
  EXPECT_EQ(writeServfail(q, parsed, small), 0u);
}

}  // namespace
}  // namespace aureo::node::dns
