// JSON calls to the gateway with the stored login: adds the bearer token,
// and on a 401 refreshes the access token once with the refresh token (saving
// the rotated pair) and retries.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/credentials.h"
#include "core/result.h"
#include "http/client.h"

namespace aureo::cli {

using Json = nlohmann::json;

class ApiClient {
 public:
  // server: the normalized base URL the http client points at. Stored
  // credentials are only used when they were issued by this server.
  ApiClient(http::Client http, std::string server, const CredentialStore& store);

  // An authenticated call. Returns the parsed body (null for an empty one,
  // e.g. 204). Errors carry the API's own message and a code from the HTTP
  // status; kUnauthenticated when nobody is signed in to this server or the
  // login has expired for good.
  core::Result<Json> call(std::string_view method, std::string_view path,
                          const Json& body = nullptr);

  // A call without credentials (login, refresh).
  core::Result<Json> callAnonymous(std::string_view method, std::string_view path,
                                   const Json& body = nullptr);

  [[nodiscard]] const std::string& server() const { return server_; }

 private:
  core::Result<http::ClientResponse> send(std::string_view method, std::string_view path,
                                          const Json& body, const std::string& token) const;
  // Replaces `current` with fresher tokens: ones another process saved since
  // we read them, or new ones from /auth/refresh.
  core::Status refresh(Credentials& current);

  http::Client http_;
  std::string server_;
  const CredentialStore& store_;
};

// The error for a non-2xx answer: the message of the API's
// {"error":{"message"}} body, else the status line.
core::Error apiError(const http::ClientResponse& response);

}  // namespace aureo::cli
