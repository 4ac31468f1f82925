// Argon2id password hashing (libsodium), with explicit parameters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace aureo::crypto {

struct Argon2Params {
  uint32_t memory_kib = 19 * 1024;  // OWASP minimum: 19 MiB
  uint32_t iterations = 2;          // t
  uint32_t parallelism = 1;         // p (libsodium computes with p=1)
};

// Returns a PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
// kInvalidArgument for a password over 1024 bytes or parameters outside
// p == 1, 1 <= t <= 64, 8 KiB <= m <= 1 GiB; kResourceExhausted if the memory
// cannot be allocated. CPU-heavy: run it on a bounded pool. Thread-safe.
core::Result<std::string> hashPassword(std::string_view password, const Argon2Params& params);

// False for a wrong password or a malformed hash (anything but argon2id v=19,
// or costs outside the bounds above); never throws. Thread-safe.
bool verifyPassword(std::string_view password, std::string_view phc);

// True when phc was made with weaker parameters than params (lower m or t),
// or is not a well-formed argon2id v=19 hash. Stronger hashes are kept.
bool needsRehash(std::string_view phc, const Argon2Params& params);

}  // namespace aureo::crypto
