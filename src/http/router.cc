// Router, Request and Response: the parts of the server that need no Beast.
#include <algorithm>
#include <cctype>

#include "http/server.h"

namespace aureo::http {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// "/a/b/" -> {"a", "b"}; "/" -> {}; "/a//b" -> {"a", "", "b"}.
std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

bool isParam(std::string_view segment) {
  return segment.size() >= 3 && segment.front() == '{' && segment.back() == '}';
}

// Fills `literal` with, per segment, whether the pattern matched it literally;
// used to rank overlapping patterns.
bool matchSegments(const std::vector<std::string>& pattern,
                   const std::vector<std::string_view>& path,
                   std::map<std::string, std::string>* params, std::vector<bool>* literal) {
  if (pattern.size() != path.size()) return false;
  literal->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (isParam(pattern[i])) {
      if (path[i].empty()) return false;
      literal->push_back(false);
    } else {
      if (pattern[i] != path[i]) return false;
      literal->push_back(true);
    }
  }
  params->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (isParam(pattern[i])) {
      (*params)[pattern[i].substr(1, pattern[i].size() - 2)] = std::string(path[i]);
    }
  }
  return true;
}

std::string errorBody(std::string_view code, std::string_view message, std::string_view field) {
  std::string body = R"({"error":{"code":)";
  core::appendJsonString(body, code);
  body += R"(,"message":)";
  core::appendJsonString(body, message);
  if (!field.empty()) {
    body += R"(,"field":)";
    core::appendJsonString(body, field);
  }
  body += "}}";
  return body;
}

}  // namespace

std::string_view Request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (equalsIgnoreCase(key, name)) return value;
  }
  return {};
}

std::optional<std::string> Request::queryParam(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::json(int status, std::shared_ptr<const std::string> body) {
  Response r;
  r.status = status;
  r.shared_body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

Response Response::error(const core::Error& error) {
  return json(core::httpStatus(error.code),
              errorBody(core::codeName(error.code), error.message, error.field));
}

Response Response::error(int status, std::string_view code, std::string_view message,
                         std::string_view field) {
  return json(status, errorBody(code, message, field));
}

void Router::add(std::string method, std::string pattern, Handler handler) {
  Route route;
  route.method = std::move(method);
  for (std::string_view segment : splitPath(pattern)) route.segments.emplace_back(segment);
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(routes_.size());
  for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  const std::vector<std::string_view> segments = splitPath(path);
  Match best;
  std::vector<bool> best_rank;
  const Route* any_route = nullptr;  // best-ranked match under any method
  std::vector<bool> any_rank;
  const Route* get_route = nullptr;  // HEAD falls back to this one
  std::vector<bool> get_rank;
  std::map<std::string, std::string> get_params;

  std::map<std::string, std::string> params;
  std::vector<bool> rank;
  for (const auto& route : routes_) {
    if (!matchSegments(route.segments, segments, &params, &rank)) continue;
    best.allowed.push_back(route.method);
    // vector<bool> compares lexicographically: a literal earlier in the path wins.
    if (any_route == nullptr || rank > any_rank) {
      any_route = &route;
      any_rank = rank;
    }
    if (route.method == method) {
      if (best.handler == nullptr || rank > best_rank) {
        best.handler = &route.handler;
        best.pattern = route.pattern;
        best.params = params;
        best_rank = rank;
      }
    } else if (method == "HEAD" && route.method == "GET") {
      if (get_route == nullptr || rank > get_rank) {
        get_route = &route;
        get_rank = rank;
        get_params = params;
      }
    }
  }
  if (best.handler == nullptr) {
    if (get_route != nullptr) {
      best.handler = &get_route->handler;
      best.pattern = get_route->pattern;
      best.params = std::move(get_params);
    } else if (any_route != nullptr) {
      best.pattern = any_route->pattern;
    }
  }
  if (std::find(best.allowed.begin(), best.allowed.end(), "GET") != best.allowed.end()) {
    best.allowed.emplace_back("HEAD");
  }
  std::sort(best.allowed.begin(), best.allowed.end());
  best.allowed.erase(std::unique(best.allowed.begin(), best.allowed.end()), best.allowed.end());
  return best;
}

}  // namespace aureo::http
