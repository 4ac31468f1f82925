// rtnetlink against the real kernel, each test in its own network namespace.
#include <fcntl.h>
#include <linux/if_addr.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "netcfg/netlink.h"
#include "netcfg/testing/netns.h"

namespace aureo::netcfg {
namespace {

using testing::runInFreshNetns;

core::IpAddress ip(const char* text) {
  return *core::IpAddress::parse(text);
}
core::Cidr cidr(const char* text) {
  return *core::Cidr::parse(text);
}
InterfaceAddress ifaddr(const char* text) {
  return *InterfaceAddress::parse(text);
}

bool hasAddress(const std::vector<AddressEntry>& list, const InterfaceAddress& a) {
  return std::any_of(list.begin(), list.end(),
                     [&](const AddressEntry& e) { return e.address == a; });
}

template <typename T>
bool containsValue(const std::vector<T>& list, const T& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// A veth pair "ve0"/"ve1", both up, in the current namespace.
void makeVethPair(Netlink& nl) {
  ASSERT_TRUE(nl.createVeth("ve0", "ve1").ok());
  ASSERT_TRUE(nl.setLinkUp("ve0").ok());
  ASSERT_TRUE(nl.setLinkUp("ve1").ok());
}

TEST(NetlinkNetnsTest, VethLinkLifecycle) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok()) << nl.error().toString();
    ASSERT_TRUE(nl->createVeth("ve0", "ve1").ok());

    auto info = nl->link("ve0");
    ASSERT_TRUE(info.ok()) << info.error().toString();
    EXPECT_EQ(info->name, "ve0");
    EXPECT_EQ(info->kind, "veth");
    EXPECT_FALSE(info->up());
    EXPECT_GT(info->index, 1);
    EXPECT_EQ(*nl->linkIndex("ve0"), info->index);

    ASSERT_TRUE(nl->setLinkUp("ve0").ok());
    EXPECT_TRUE(nl->link("ve0")->up());
    ASSERT_TRUE(nl->setMtu("ve0", 1380).ok());
    EXPECT_EQ(nl->link("ve0")->mtu, 1380u);
    ASSERT_TRUE(nl->setLinkDown("ve0").ok());
    EXPECT_FALSE(nl->link("ve0")->up());

    auto links = nl->listLinks();
    ASSERT_TRUE(links.ok());
    std::vector<std::string> names;
    for (const auto& l : *links) names.push_back(l.name);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"lo", "ve0", "ve1"}));

    ASSERT_TRUE(nl->deleteLink("ve0").ok());
    // Deleting one end of a veth removes both.
    EXPECT_EQ(nl->linkIndex("ve1").error().code, core::Code::kNotFound);
  });
}

TEST(NetlinkNetnsTest, ErrorsCarryErrnoTextAndCode) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    auto missing = nl->linkIndex("nope0");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, core::Code::kNotFound);
    EXPECT_NE(missing.error().message.find("No such device"), std::string::npos)
        << missing.error().message;

    ASSERT_TRUE(nl->createVeth("ve0", "ve1").ok());
    auto dup = nl->createVeth("ve0", "ve2");
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code, core::Code::kAlreadyExists);
    EXPECT_NE(dup.error().message.find("File exists"), std::string::npos);

    auto bad_mtu = nl->setMtu("ve0", 10);
    ASSERT_FALSE(bad_mtu.ok());
    EXPECT_EQ(bad_mtu.error().code, core::Code::kInvalidArgument);

    EXPECT_EQ(nl->setLinkUp("bad name").error().code, core::Code::kInvalidArgument);
    EXPECT_EQ(nl->createVeth("ve9", "x/y").error().field, "peer");
  });
}

TEST(NetlinkNetnsTest, CreateDummyMakesADummyLinkOrSaysTheKindIsMissing) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    auto st = nl->createDummy("dm0");
    if (st.ok()) {
      EXPECT_EQ(nl->link("dm0")->kind, "dummy");
      EXPECT_TRUE(nl->deleteLink("dm0").ok());
    } else {
      // Kernels built without CONFIG_DUMMY (this CI's) answer EOPNOTSUPP with
      // an extended ack naming the problem.
      EXPECT_EQ(st.error().code, core::Code::kUnimplemented) << st.error().message;
      EXPECT_NE(st.error().message.find("Unknown device type"), std::string::npos)
          << st.error().message;
      EXPECT_EQ(nl->linkIndex("dm0").error().code, core::Code::kNotFound);
    }
  });
}

TEST(NetlinkNetnsTest, VethPeerCreatedInAnotherNamespace) {
  runInFreshNetns([] {
    // Namespace A: keep a handle, then move this thread on to namespace B.
    const int ns_a = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ns_a, 0);
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0);
    const int ns_b = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(ns_b, 0);
    {
      auto nl_b = Netlink::open();
      ASSERT_TRUE(nl_b.ok());
      ASSERT_TRUE(nl_b->createVeth("b0", "a0", ns_a).ok());
      ASSERT_TRUE(nl_b->createVeth("b1", "a1").ok());
      ASSERT_TRUE(nl_b->moveLinkToNetns("a1", ns_a).ok());
      EXPECT_TRUE(nl_b->linkIndex("b0").ok());
      EXPECT_EQ(nl_b->linkIndex("a0").error().code, core::Code::kNotFound);
      EXPECT_EQ(nl_b->linkIndex("a1").error().code, core::Code::kNotFound);
    }
    ASSERT_EQ(::setns(ns_a, CLONE_NEWNET), 0);
    auto nl_a = Netlink::open();
    ASSERT_TRUE(nl_a.ok());
    EXPECT_TRUE(nl_a->linkIndex("a0").ok());
    EXPECT_TRUE(nl_a->linkIndex("a1").ok());
    EXPECT_EQ(nl_a->linkIndex("b0").error().code, core::Code::kNotFound);
    ::close(ns_a);
    ::close(ns_b);
  });
}

TEST(NetlinkNetnsTest, AddListAndDeleteAddresses) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    makeVethPair(*nl);
    const int ve0 = *nl->linkIndex("ve0");
    ASSERT_TRUE(nl->addAddress("ve0", ifaddr("10.9.0.2/24")).ok());
    ASSERT_TRUE(nl->addAddress("ve0", ifaddr("fd00:9::2/64")).ok());

    auto v4 = nl->listAddresses(Family::kV4, ve0);
    ASSERT_TRUE(v4.ok());
    ASSERT_EQ(v4->size(), 1u);
    EXPECT_EQ((*v4)[0].address, ifaddr("10.9.0.2/24"));  // host bits kept
    EXPECT_EQ((*v4)[0].ifindex, ve0);

    auto v6 = nl->listAddresses(Family::kV6, ve0);
    ASSERT_TRUE(v6.ok());
    auto it = std::find_if(v6->begin(), v6->end(), [](const AddressEntry& e) {
      return e.address == ifaddr("fd00:9::2/64");
    });
    ASSERT_NE(it, v6->end());
    EXPECT_NE(it->flags & IFA_F_NODAD, 0u);
    EXPECT_EQ(it->flags & IFA_F_TENTATIVE, 0u);  // usable at once

    auto dup = nl->addAddress("ve0", ifaddr("10.9.0.2/24"));
    EXPECT_EQ(dup.error().code, core::Code::kAlreadyExists);

    ASSERT_TRUE(nl->delAddress("ve0", ifaddr("10.9.0.2/24")).ok());
    ASSERT_TRUE(nl->delAddress("ve0", ifaddr("fd00:9::2/64")).ok());
    EXPECT_FALSE(hasAddress(*nl->listAddresses(Family::kV4, ve0), ifaddr("10.9.0.2/24")));
    EXPECT_FALSE(hasAddress(*nl->listAddresses(Family::kV6, ve0), ifaddr("fd00:9::2/64")));
    EXPECT_EQ(nl->delAddress("ve0", ifaddr("10.9.0.2/24")).error().code, core::Code::kNotFound);
    EXPECT_EQ(nl->addAddress("nope0", ifaddr("10.9.0.2/24")).error().code, core::Code::kNotFound);
  });
}

TEST(NetlinkNetnsTest, AddListAndDeleteRoutesInTables) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    makeVethPair(*nl);
    const int ve0 = *nl->linkIndex("ve0");
    ASSERT_TRUE(nl->addAddress("ve0", ifaddr("10.9.0.2/24")).ok());
    ASSERT_TRUE(nl->addAddress("ve0", ifaddr("fd00:9::2/64")).ok());

    Route via_gw;
    via_gw.destination = cidr("192.0.2.0/24");
    via_gw.gateway = ip("10.9.0.1");
    via_gw.oif = ve0;
    via_gw.table = 51820;
    via_gw.metric = 50;
    ASSERT_TRUE(nl->addRoute(via_gw).ok());

    Route on_link;
    on_link.destination = cidr("198.51.100.0/24");
    on_link.oif = ve0;
    on_link.table = 51820;
    ASSERT_TRUE(nl->addRoute(on_link).ok());

    Route v6_default;
    v6_default.destination = cidr("::/0");
    v6_default.oif = ve0;
    v6_default.table = 51820;
    v6_default.metric = 1024;
    ASSERT_TRUE(nl->addRoute(v6_default).ok());

    Route blackhole;
    blackhole.destination = cidr("0.0.0.0/0");
    blackhole.type = RouteType::kBlackhole;
    blackhole.table = 51820;
    ASSERT_TRUE(nl->addRoute(blackhole).ok());

    auto v4 = nl->listRoutes(Family::kV4, 51820);
    ASSERT_TRUE(v4.ok()) << v4.error().toString();
    ASSERT_EQ(v4->size(), 3u);
    via_gw.scope = RouteScope::kUniverse;
    on_link.scope = RouteScope::kLink;
    blackhole.scope = RouteScope::kUniverse;
    EXPECT_TRUE(containsValue(*v4, via_gw)) << via_gw.toString();
    EXPECT_TRUE(containsValue(*v4, on_link)) << on_link.toString();
    EXPECT_TRUE(containsValue(*v4, blackhole)) << blackhole.toString();

    auto v6 = nl->listRoutes(Family::kV6, 51820);
    ASSERT_TRUE(v6.ok());
    ASSERT_EQ(v6->size(), 1u);
    EXPECT_EQ((*v6)[0].destination, cidr("::/0"));
    EXPECT_EQ((*v6)[0].oif, ve0);
    EXPECT_EQ((*v6)[0].metric, 1024u);

    // The main table holds the kernel's connected route, not ours.
    auto main_routes = nl->listRoutes(Family::kV4, kTableMain);
    ASSERT_TRUE(main_routes.ok());
    EXPECT_FALSE(containsValue(*main_routes, via_gw));
    EXPECT_TRUE(std::any_of(main_routes->begin(), main_routes->end(), [](const Route& r) {
      return r.destination == cidr("10.9.0.0/24") && r.source == ip("10.9.0.2");
    }));
    // "All tables" includes ours and the local table.
    auto all = nl->listRoutes(Family::kV4);
    ASSERT_TRUE(all.ok());
    EXPECT_TRUE(containsValue(*all, via_gw));
    EXPECT_TRUE(std::any_of(all->begin(), all->end(),
                            [](const Route& r) { return r.table == kTableLocal; }));

    EXPECT_EQ(nl->addRoute(via_gw).error().code, core::Code::kAlreadyExists);
    Route replaced = via_gw;
    replaced.gateway = ip("10.9.0.3");
    ASSERT_TRUE(nl->replaceRoute(replaced).ok());
    EXPECT_TRUE(containsValue(*nl->listRoutes(Family::kV4, 51820), replaced));

    ASSERT_TRUE(nl->delRoute(replaced).ok());
    ASSERT_TRUE(nl->delRoute(on_link).ok());
    ASSERT_TRUE(nl->delRoute(blackhole).ok());
    ASSERT_TRUE(nl->delRoute(v6_default).ok());
    EXPECT_TRUE(nl->listRoutes(Family::kV4, 51820)->empty());
    EXPECT_TRUE(nl->listRoutes(Family::kV6, 51820)->empty());
    EXPECT_EQ(nl->delRoute(on_link).error().code, core::Code::kNotFound);

    Route unreachable_gw = via_gw;
    unreachable_gw.gateway = ip("203.0.113.1");
    auto bad = nl->addRoute(unreachable_gw);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, core::Code::kInvalidArgument) << bad.error().message;

    Route mixed = via_gw;
    mixed.gateway = ip("fd00:9::1");
    EXPECT_EQ(nl->addRoute(mixed).error().field, "gateway");
  });
}

TEST(NetlinkNetnsTest, PolicyRulesLikeWgQuick) {
  runInFreshNetns([] {
    auto nl = Netlink::open();
    ASSERT_TRUE(nl.ok());
    auto before = nl->listRules(Family::kV4);
    ASSERT_TRUE(before.ok());
    ASSERT_EQ(before->size(), 3u);  // local, main, default

    // ip -4 rule add not fwmark 51820 table 51820
    Rule not_marked;
    not_marked.priority = 32764;
    not_marked.fwmark = 51820;
    not_marked.invert = true;
    not_marked.table = 51820;
    // ip -4 rule add table main suppress_prefixlength 0
    Rule suppress;
    suppress.priority = 32763;
    suppress.table = kTableMain;
    suppress.suppress_prefixlength = 0;
    // And the IPv6 pair, with a mask and a source selector.
    Rule v6_marked;
    v6_marked.family = Family::kV6;
    v6_marked.priority = 100;
    v6_marked.fwmark = 0x100;
    v6_marked.fwmask = 0xff00;
    v6_marked.from = cidr("fd00:9::/64");
    v6_marked.table = 7;
    Rule v4_iif;
    v4_iif.priority = 101;
    v4_iif.iifname = "lo";
    v4_iif.to = cidr("192.0.2.0/24");
    v4_iif.action = Rule::Action::kUnreachable;
    v4_iif.table = 0;

    for (const Rule* r : {&not_marked, &suppress, &v6_marked, &v4_iif}) {
      auto st = nl->addRule(*r);
      ASSERT_TRUE(st.ok()) << st.error().toString();
    }
    auto v4 = nl->listRules(Family::kV4);
    ASSERT_TRUE(v4.ok());
    EXPECT_EQ(v4->size(), 6u);
    EXPECT_TRUE(containsValue(*v4, not_marked)) << not_marked.toString();
    EXPECT_TRUE(containsValue(*v4, suppress)) << suppress.toString();
    EXPECT_TRUE(containsValue(*v4, v4_iif)) << v4_iif.toString();
    auto v6 = nl->listRules(Family::kV6);
    ASSERT_TRUE(v6.ok());
    EXPECT_TRUE(containsValue(*v6, v6_marked)) << v6_marked.toString();
    // Rules come back in priority order.
    EXPECT_TRUE(std::is_sorted(v4->begin(), v4->end(), [](const Rule& a, const Rule& b) {
      return a.priority.value_or(0) < b.priority.value_or(0);
    }));

    EXPECT_EQ(nl->addRule(suppress).error().code, core::Code::kAlreadyExists);
    for (const Rule* r : {&not_marked, &suppress, &v6_marked, &v4_iif}) {
      ASSERT_TRUE(nl->delRule(*r).ok());
    }
    EXPECT_EQ(*nl->listRules(Family::kV4), *before);
    EXPECT_EQ(nl->delRule(suppress).error().code, core::Code::kNotFound);

    Rule kernel_priority;  // no priority: the kernel picks one below main
    kernel_priority.fwmark = 1;
    kernel_priority.table = 9;
    ASSERT_TRUE(nl->addRule(kernel_priority).ok());
    auto with = nl->listRules(Family::kV4);
    ASSERT_EQ(with->size(), 4u);
    EXPECT_EQ((*with)[1].fwmark, 1u);
    EXPECT_GT((*with)[1].priority.value_or(0), 0u);
  });
}

}  // namespace
}  // namespace aureo::netcfg
