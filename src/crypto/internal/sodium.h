// Private to aureo::crypto: libsodium must be initialised before first use.
#pragma once

namespace aureo::crypto::internal {

// Calls sodium_init() exactly once, from whichever thread gets here first.
// Aborts if libsodium cannot initialise: no primitive here is safe without it.
void ensureSodium();

}  // namespace aureo::crypto::internal
