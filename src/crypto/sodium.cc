#include <sodium.h>

#include <cstdlib>

#include "crypto/internal/sodium.h"
#include "crypto/secret.h"

namespace aureo::crypto {

namespace internal {

void ensureSodium() {
  // A function-local static is initialised once even under concurrent first
  // calls; sodium_init() itself is also idempotent.
  static const bool ready = [] { return sodium_init() >= 0; }();
  if (!ready) std::abort();
}

}  // namespace internal

void secureZero(void* p, size_t n) {
  if (p == nullptr || n == 0) return;
  sodium_memzero(p, n);
}

}  // namespace aureo::crypto
