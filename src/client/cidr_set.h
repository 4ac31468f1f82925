// Sets of address prefixes for split tunneling: "everything except these"
// becomes the list of CIDRs a WireGuard peer's AllowedIPs and a routing
// table can hold.
#pragma once

#include <vector>

#include "core/ip.h"

namespace aureo::client {

// The smallest list of prefixes of `family` that covers every address not
// covered by `removed`, sorted by address. Prefixes of the other family in
// `removed` are ignored; host bits are already masked off by core::Cidr.
// complement({}) is the whole space (0.0.0.0/0 or ::/0); complement of a
// /0 is empty.
std::vector<core::Cidr> complement(const std::vector<core::Cidr>& removed,
                                   core::IpAddress::Family family);

// True if some prefix in `set` contains every address of `cidr`.
bool covers(const std::vector<core::Cidr>& set, const core::Cidr& cidr);

}  // namespace aureo::client
