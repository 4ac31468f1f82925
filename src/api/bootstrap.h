// First-start duties shared by aureo-gateway and the all-in-one binary.
#pragma once

#include <optional>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "crypto/password.h"

namespace aureo::store {
class Store;
}

namespace aureo::api {

// Reads a secret from path, or creates it (random, base64url, mode 0600, parent
// directory 0700) when the file does not exist. Refuses a file readable by
// group or others.
core::Result<std::string> loadOrCreateSecretFile(const std::string& path, size_t random_bytes);

// When no admin account exists, creates one with the given email and a random
// password and returns that password (to be shown once); otherwise nullopt.
core::Result<std::optional<std::string>> ensureAdmin(store::Store& store, const core::Clock& clock,
                                                     const std::string& email,
                                                     const crypto::Argon2Params& params);

}  // namespace aureo::api
