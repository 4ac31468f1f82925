#include "cli/api_client.h"

#include <fmt/format.h>

namespace aureo::cli {
namespace {

core::Code codeFor(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422: return core::Code::kInvalidArgument;
    case 401: return core::Code::kUnauthenticated;
    case 403: return core::Code::kPermissionDenied;
    case 404: return core::Code::kNotFound;
    case 409: return core::Code::kAlreadyExists;
    case 429: return core::Code::kResourceExhausted;
    case 501: return core::Code::kUnimplemented;
    case 502:
    case 503:
    case 504: return core::Code::kUnavailable;
    default: return status >= 500 ? core::Code::kInternal : core::Code::kUnknown;
  }
}

core::Result<Json> parseBody(const http::ClientResponse& r) {
  if (r.status < 200 || r.status >= 300) return apiError(r);
  if (r.body.empty()) return Json(nullptr);
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_discarded()) {
    return core::unavailable(
        fmt::format("the server answered {} with a body that is not JSON", r.status));
  }
  return j;
}

core::Error notSignedIn(const std::string& server) {
  return core::unauthenticated(
      fmt::format("not logged in to {}; run `aureo-vpn login` first", server));
}

}  // namespace

core::Error apiError(const http::ClientResponse& response) {
  std::string message;
  std::string field;
  const Json j = Json::parse(response.body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end() && e->is_object()) {
      if (auto m = e->find("message"); m != e->end() && m->is_string())
        message = m->get<std::string>();
      if (auto f = e->find("field"); f != e->end() && f->is_string()) field = f->get<std::string>();
    }
  }
  if (message.empty()) message = fmt::format("the server answered HTTP {}", response.status);
  if (response.status == 429 || response.status == 503) {
    if (auto after = response.header("retry-after"); !after.empty()) {
      message += fmt::format(" (retry after {} s)", after);
    }
  }
  return core::Error{codeFor(response.status), std::move(message), std::move(field)};
}

ApiClient::ApiClient(http::Client http, std::string server, const CredentialStore& store)
    : http_(std::move(http)), server_(std::move(server)), store_(store) {}

core::Result<http::ClientResponse> ApiClient::send(std::string_view method, std::string_view path,
                                                   const Json& body,
                                                   const std::string& token) const {
  http::ClientHeaders headers{{"Accept", "application/json"}};
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  const std::string payload = body.is_null() ? std::string() : body.dump();
  auto r = http_.request(method, path, payload, headers);
  if (!r.ok()) {
    return core::Error{
        r.error().code, fmt::format("cannot reach {}: {}", server_, r.error().message), {}};
  }
  return r;
}

core::Result<Json> ApiClient::callAnonymous(std::string_view method, std::string_view path,
                                            const Json& body) {
  AUREO_ASSIGN_OR_RETURN(auto response, send(method, path, body, {}));
  return parseBody(response);
}

core::Result<Json> ApiClient::call(std::string_view method, std::string_view path,
                                   const Json& body) {
  AUREO_ASSIGN_OR_RETURN(auto stored, store_.load());
  if (!stored || stored->server != server_ || stored->access_token.empty()) {
    return notSignedIn(server_);
  }
  Credentials creds = std::move(*stored);
  AUREO_ASSIGN_OR_RETURN(auto response, send(method, path, body, creds.access_token));
  if (response.status == 401 && !creds.refresh_token.empty()) {
    AUREO_RETURN_IF_ERROR(refresh(creds));
    AUREO_ASSIGN_OR_RETURN(response, send(method, path, body, creds.access_token));
  }
  return parseBody(response);
}

core::Status ApiClient::refresh(Credentials& current) {
  AUREO_ASSIGN_OR_RETURN(auto lock, store_.lock());
  AUREO_ASSIGN_OR_RETURN(auto latest, store_.load());
  if (!latest || latest->server != server_) return notSignedIn(server_);
  if (latest->access_token != current.access_token) {
    // Another command refreshed while we waited for the lock; its tokens are
    // the live ones (ours was spent).
    current = std::move(*latest);
    return {};
  }
  AUREO_ASSIGN_OR_RETURN(auto response, send("POST", "/api/v1/auth/refresh",
                                             Json{{"refresh_token", current.refresh_token}}, {}));
  if (response.status == 401 || response.status == 403) {
    return core::unauthenticated(fmt::format("your login has ended ({}); run `aureo-vpn login`",
                                             apiError(response).message));
  }
  AUREO_ASSIGN_OR_RETURN(auto tokens, parseBody(response));
  if (!tokens.is_object() || !tokens.contains("access_token") ||
      !tokens["access_token"].is_string() || !tokens.contains("refresh_token") ||
      !tokens["refresh_token"].is_string()) {
    return core::unavailable("the server's refresh answer has no tokens");
  }
  current.access_token = tokens["access_token"].get<std::string>();
  current.refresh_token = tokens["refresh_token"].get<std::string>();
  return store_.save(current);
}

}  // namespace aureo::cli
