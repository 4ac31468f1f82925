// Request-body validation for the gateway handlers. Kept out of gateway.h so
// nlohmann/json stays in the handler translation units only.
//
// Convention: an error with an empty `field` is a malformed body (400); an
// error naming a field is a schema violation (422).
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "http/server.h"

namespace aureo::api {

using Json = nlohmann::json;

// Parses the body as a JSON object. Empty body -> {} when allow_empty.
core::Result<Json> parseObject(std::string_view body, bool allow_empty = false);

struct StringRule {
  size_t min_len = 0;
  size_t max_len = 256;
};

// A required string field; 422 naming the field when missing, of the wrong
// type, or outside the length bounds.
core::Result<std::string> requiredString(const Json& obj, const char* field, StringRule rule = {});
// An optional string field: nullopt when absent or null.
core::Result<std::optional<std::string>> optionalString(const Json& obj, const char* field,
                                                        StringRule rule = {});
core::Result<std::optional<int64_t>> optionalInt(const Json& obj, const char* field, int64_t min,
                                                 int64_t max);
core::Result<std::optional<bool>> optionalBool(const Json& obj, const char* field);
// Rejects keys not in the allowed list, so typos are not silently ignored.
core::Status onlyKeys(const Json& obj, std::initializer_list<std::string_view> allowed);

core::Error fieldError(std::string field, std::string message);

// Maps an error to a response: validation errors (field set) become 422.
http::Response errorResponse(const core::Error& error);
http::Response jsonResponse(int status, const Json& body);

// Query helpers for list endpoints: limit (1..max, default def) and offset (>= 0).
core::Result<int64_t> queryInt(const http::Request& req, const std::string& name, int64_t def,
                               int64_t min, int64_t max);

}  // namespace aureo::api
