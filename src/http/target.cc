#include "http/internal/target.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace aureo::http::internal {

core::Status parseTarget(std::string_view target, std::string* path,
                         std::map<std::string, std::string>* query) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return core::invalidArgument("malformed request target");
  std::string decoded = parsed->path();
  if (decoded.find('\0') != std::string::npos) {
    return core::invalidArgument("NUL byte in request path");
  }
  std::map<std::string, std::string> params;
  for (auto param : parsed->params()) {
    if (param.key.find('\0') != std::string::npos || param.value.find('\0') != std::string::npos) {
      return core::invalidArgument("NUL byte in query");
    }
    params[param.key] = param.value;
  }
  *path = std::move(decoded);
  *query = std::move(params);
  return core::okStatus();
}

bool isSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace aureo::http::internal
