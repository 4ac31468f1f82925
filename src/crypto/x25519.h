// Curve25519 key pairs in WireGuard's base64 form, for the control plane
// (server-generated client keys, node keys). The data plane has its own.
#pragma once

#include <string>

#include "core/result.h"

namespace aureo::crypto {

struct KeyPairBase64 {
  std::string private_key;
  std::string public_key;
};

KeyPairBase64 generateX25519KeyPair();
// kInvalidArgument unless the input is 32 bytes in base64.
core::Result<std::string> x25519PublicFromPrivate(const std::string& private_key_base64);
bool isValidWireGuardKey(const std::string& base64);

}  // namespace aureo::crypto
