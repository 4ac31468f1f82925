// Request-target parsing, private to the http module.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/result.h"

namespace aureo::http::internal {

// Splits an origin-form target ("/path?query") into the percent-decoded path
// and the decoded query parameters (last value wins, "+" is a space).
// kInvalidArgument for anything else: absolute or asterisk form, characters
// RFC 3986 does not allow, bad % escapes, or a decoded NUL byte.
core::Status parseTarget(std::string_view target, std::string* path,
                         std::map<std::string, std::string>* query);

// True for an incoming X-Request-Id worth echoing: 1 to 64 characters from
// [A-Za-z0-9._:-]. Anything else is replaced by a fresh id.
bool isSaneRequestId(std::string_view id);

}  // namespace aureo::http::internal
