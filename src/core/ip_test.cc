#include "core/ip.h"

#include <gtest/gtest.h>

namespace aureo::core {
namespace {

TEST(IpTest, ParsesAndFormatsBothFamilies) {
  auto v4 = IpAddress::parse("10.1.2.3");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->isV4());
  EXPECT_EQ(v4->toString(), "10.1.2.3");
  auto v6 = IpAddress::parse("FD00::1");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->isV4());
  EXPECT_EQ(v6->toString(), "fd00::1");
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_FALSE(IpAddress::parse("10.1.2"));
  EXPECT_FALSE(IpAddress::parse("256.1.1.1"));
  EXPECT_FALSE(IpAddress::parse("fd00::1%eth0"));
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')));
}

TEST(IpTest, CidrMasksHostBitsAndContains) {
  auto c = Cidr::parse("10.1.2.3/8");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->toString(), "10.0.0.0/8");
  EXPECT_TRUE(c->contains(*IpAddress::parse("10.255.0.1")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("11.0.0.1")));
  EXPECT_FALSE(c->contains(*IpAddress::parse("::a00:1")));
  EXPECT_EQ(c->size(), 1u << 24);
  EXPECT_EQ(Cidr::parse("fd00::5/64")->toString(), "fd00::/64");
  EXPECT_EQ(Cidr::parse("1.2.3.4")->prefix(), 32);
  EXPECT_EQ(Cidr::parse("0.0.0.0/0")->size(), uint64_t{1} << 32);
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/-1"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/1x"));
}

TEST(IpTest, PlusCarriesAcrossBytes) {
  EXPECT_EQ(IpAddress::parse("10.0.0.255")->plus(1).toString(), "10.0.1.0");
  EXPECT_EQ(IpAddress::parse("10.0.0.0")->plus(65536 + 2).toString(), "10.1.0.2");
  EXPECT_EQ(IpAddress::parse("fd00::ffff")->plus(1).toString(), "fd00::1:0");
}

TEST(IpTest, ParsesHostPort) {
  auto hp = parseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 8080);
  hp = parseHostPort("[::1]:443");
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_FALSE(parseHostPort("::1:443"));
  EXPECT_FALSE(parseHostPort("host"));
  EXPECT_FALSE(parseHostPort("host:99999"));
  EXPECT_FALSE(parseHostPort(":80"));
  EXPECT_FALSE(parseHostPort("h:"));
}

}  // namespace
}  // namespace aureo::core
