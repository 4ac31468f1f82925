#include "crypto/password.h"

#include <sodium.h>

#include <array>
#include <charconv>
#include <optional>

#include "crypto/internal/sodium.h"

namespace aureo::crypto {
namespace {

constexpr size_t kMaxPasswordBytes = 1024;

// Upper bounds on the cost parameters we will produce or verify. A stored
// hash is trusted data, but a corrupted or planted row with m=4 TiB or
// t=2^32 would otherwise pin a worker or abort the process on allocation.
constexpr uint32_t kMaxMemoryKib = 1024 * 1024;  // 1 GiB
constexpr uint32_t kMaxIterations = 64;
constexpr uint32_t kMinMemoryKib = crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024;
constexpr uint32_t kMinIterations = crypto_pwhash_argon2id_OPSLIMIT_MIN;

struct PhcParams {
  uint32_t memory_kib = 0;
  uint32_t iterations = 0;
  uint32_t parallelism = 0;
};

// Consumes `prefix` from the front of s.
bool eat(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

// Consumes a decimal uint32 without sign or leading zeros.
bool eatNumber(std::string_view& s, uint32_t& out) {
  size_t n = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
  if (n == 0 || n > 10 || (n > 1 && s[0] == '0')) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + n, out);
  if (ec != std::errc{} || ptr != s.data() + n) return false;
  s.remove_prefix(n);
  return true;
}

bool isB64NoPad(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

// Parses "$argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>"; nullopt for anything
// else, including argon2i/argon2d and other versions.
std::optional<PhcParams> parsePhc(std::string_view s) {
  PhcParams p;
  if (!eat(s, "$argon2id$v=19$m=") || !eatNumber(s, p.memory_kib) || !eat(s, ",t=") ||
      !eatNumber(s, p.iterations) || !eat(s, ",p=") || !eatNumber(s, p.parallelism) ||
      !eat(s, "$")) {
    return std::nullopt;
  }
  const size_t dollar = s.find('$');
  if (dollar == std::string_view::npos) return std::nullopt;
  if (!isB64NoPad(s.substr(0, dollar)) || !isB64NoPad(s.substr(dollar + 1))) return std::nullopt;
  return p;
}

// libsodium wants a NUL-terminated string shorter than crypto_pwhash_STRBYTES.
bool fitsSodiumString(std::string_view phc) {
  return phc.size() < crypto_pwhash_STRBYTES && phc.find('\0') == std::string_view::npos;
}

}  // namespace

core::Result<std::string> hashPassword(std::string_view password, const Argon2Params& params) {
  if (password.size() > kMaxPasswordBytes) {
    return core::invalidArgument("password is longer than 1024 bytes", "password");
  }
  if (params.parallelism != 1) {
    return core::invalidArgument("argon2 parallelism must be 1 (libsodium computes with p=1)");
  }
  if (params.iterations < kMinIterations || params.iterations > kMaxIterations) {
    return core::invalidArgument("argon2 iterations out of range [1, 64]");
  }
  if (params.memory_kib < kMinMemoryKib || params.memory_kib > kMaxMemoryKib) {
    return core::invalidArgument("argon2 memory out of range [8 KiB, 1 GiB]");
  }
  internal::ensureSodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  const auto memlimit = static_cast<size_t>(params.memory_kib) * 1024;
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(), params.iterations,
                            memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // Parameters were validated above, so the remaining failure is allocation.
    return core::resourceExhausted("argon2id could not allocate its memory");
  }
  return std::string(out.data());
}

bool verifyPassword(std::string_view password, std::string_view phc) {
  if (password.size() > kMaxPasswordBytes || !fitsSodiumString(phc)) return false;
  const auto parsed = parsePhc(phc);
  if (!parsed || parsed->parallelism != 1 || parsed->iterations < kMinIterations ||
      parsed->iterations > kMaxIterations || parsed->memory_kib < kMinMemoryKib ||
      parsed->memory_kib > kMaxMemoryKib) {
    return false;
  }
  internal::ensureSodium();
  const std::string str(phc);
  return crypto_pwhash_str_verify(str.c_str(), password.data(), password.size()) == 0;
}

bool needsRehash(std::string_view phc, const Argon2Params& params) {
  if (!fitsSodiumString(phc)) return true;
  const auto parsed = parsePhc(phc);
  if (!parsed) return true;  // not argon2id v19 (or garbage): replace on next login
  internal::ensureSodium();
  const std::string str(phc);
  const auto memlimit = static_cast<size_t>(params.memory_kib) * 1024;
  if (crypto_pwhash_str_needs_rehash(str.c_str(), params.iterations, memlimit) == 0) return false;
  // libsodium also flags hashes that are stronger than params; lowering the
  // configured cost should not silently downgrade stored hashes.
  return parsed->memory_kib < params.memory_kib || parsed->iterations < params.iterations;
}

}  // namespace aureo::crypto
