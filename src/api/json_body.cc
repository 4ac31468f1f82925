#include "api/json_body.h"

#include <charconv>

namespace aureo::api {

core::Error fieldError(std::string field, std::string message) {
  return core::Error{core::Code::kInvalidArgument, std::move(message), std::move(field)};
}

core::Result<Json> parseObject(std::string_view body, bool allow_empty) {
  if (body.empty()) {
    if (allow_empty) return Json::object();
    return core::invalidArgument("request body must be a JSON object");
  }
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return core::invalidArgument("request body is not valid JSON");
  if (!j.is_object()) return core::invalidArgument("request body must be a JSON object");
  return j;
}

namespace {

bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n;
  }
  return true;
}

core::Result<std::optional<std::string>> stringField(const Json& obj, const char* field,
                                                     StringRule rule, bool required) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) {
    if (required) return fieldError(field, std::string(field) + " is required");
    return std::optional<std::string>{};
  }
  if (!it->is_string()) return fieldError(field, std::string(field) + " must be a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() < rule.min_len) {
    return fieldError(field, std::string(field) + " must be at least " +
                                 std::to_string(rule.min_len) + " characters");
  }
  if (s.size() > rule.max_len) {
    return fieldError(field, std::string(field) + " must be at most " +
                                 std::to_string(rule.max_len) + " characters");
  }
  if (s.find('\0') != std::string::npos || !validUtf8(s)) {
    return fieldError(field, std::string(field) + " contains invalid characters");
  }
  return std::optional<std::string>{s};
}

}  // namespace

core::Result<std::string> requiredString(const Json& obj, const char* field, StringRule rule) {
  AUREO_ASSIGN_OR_RETURN(auto v, stringField(obj, field, rule, true));
  return std::move(*v);
}

core::Result<std::optional<std::string>> optionalString(const Json& obj, const char* field,
                                                        StringRule rule) {
  return stringField(obj, field, rule, false);
}

core::Result<std::optional<int64_t>> optionalInt(const Json& obj, const char* field, int64_t min,
                                                 int64_t max) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>{};
  if (!it->is_number_integer())
    return fieldError(field, std::string(field) + " must be an integer");
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    const auto u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) {
      return fieldError(field, std::string(field) + " must be at most " + std::to_string(max));
    }
    v = static_cast<int64_t>(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < min || v > max) {
    return fieldError(field, std::string(field) + " must be between " + std::to_string(min) +
                                 " and " + std::to_string(max));
  }
  return std::optional<int64_t>{v};
}

core::Result<std::optional<bool>> optionalBool(const Json& obj, const char* field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean()) return fieldError(field, std::string(field) + " must be a boolean");
  return std::optional<bool>{it->get<bool>()};
}

core::Status onlyKeys(const Json& obj, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : obj.items()) {
    bool known = false;
    for (auto a : allowed) known = known || a == key;
    if (!known) {
      std::string shown = key.size() > 64 ? key.substr(0, 64) + "..." : key;
      return fieldError(shown, "unknown field " + shown);
    }
  }
  return core::okStatus();
}

http::Response errorResponse(const core::Error& error) {
  if (error.code == core::Code::kInvalidArgument && !error.field.empty()) {
    return http::Response::error(422, "validation_failed", error.message, error.field);
  }
  return http::Response::error(error);
}

http::Response jsonResponse(int status, const Json& body) {
  return http::Response::json(status, body.dump(-1, ' ', false, Json::error_handler_t::replace));
}

core::Result<int64_t> queryInt(const http::Request& req, const std::string& name, int64_t def,
                               int64_t min, int64_t max) {
  auto v = req.queryParam(name);
  if (!v) return def;
  const std::string& text = *v;
  int64_t out = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc{} || p != text.data() + text.size() || out < min || out > max) {
    return fieldError(name, "query parameter " + name + " must be an integer between " +
                                std::to_string(min) + " and " + std::to_string(max));
  }
  return out;
}

}  // namespace aureo::api
