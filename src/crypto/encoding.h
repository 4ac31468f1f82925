// Encodings and small primitives used across the control plane.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aureo::crypto {

// Standard alphabet, padded. Decoding is strict: bad characters, missing or
// extra padding and non-zero unused bits are rejected, so each byte string
// has exactly one accepted encoding.
std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);
// URL-safe alphabet, no padding (padding is rejected), equally strict.
std::string base64UrlEncode(std::string_view bytes);
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
