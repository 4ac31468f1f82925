// Encodings and small primitives used across the control plane.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aureo::crypto {

std::string base64Encode(std::string_view bytes);  // standard, padded
std::optional<std::string> base64Decode(
    std::string_view text);                           // strict: rejects bad chars/padding
std::string base64UrlEncode(std::string_view bytes);  // no padding
std::optional<std::string> base64UrlDecode(std::string_view text);
std::string hexEncode(std::string_view bytes);                // lowercase
std::optional<std::string> hexDecode(std::string_view text);  // even length, either case

std::string sha256Hex(std::string_view data);
// HMAC-SHA256 raw bytes.
std::string hmacSha256(std::string_view key, std::string_view data);
// Compares in time independent of where the inputs differ.
bool constantTimeEqual(std::string_view a, std::string_view b);

// n random bytes from libsodium, base64url-encoded (for opaque tokens).
std::string randomToken(size_t n = 32);

}  // namespace aureo::crypto
