// Authenticated encryption of secrets at rest (node private keys, the OpenVPN
// CA key) with XChaCha20-Poly1305 under a 32-byte master key.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "crypto/secret.h"

namespace aureo::crypto {

using MasterKey = Secret<32>;

// Accepts 32 raw bytes base64-encoded (44 chars). kInvalidArgument otherwise.
core::Result<MasterKey> parseMasterKey(std::string_view base64);
std::string generateMasterKeyBase64();

// Output: base64(nonce || ciphertext || tag). Associated data binds the
// ciphertext to its row (e.g. "node:<id>") so it cannot be moved.
std::string seal(const MasterKey& key, std::string_view plaintext, std::string_view associated);
core::Result<std::string> open(const MasterKey& key, std::string_view sealed,
                               std::string_view associated);

}  // namespace aureo::crypto
