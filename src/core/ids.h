// Identifiers: random UUIDv4 strings for rows, drawn from the kernel CSPRNG.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace aureo::core {

// Fills buf with bytes from getrandom(2). Aborts if the kernel cannot supply them:
// without randomness nothing here is safe to continue.
void randomBytes(void* buf, size_t len);

// A fresh lowercase UUIDv4, e.g. "3b241101-e2bb-4255-8caf-4136c566a962".
std::string newUuid();

// A UUIDv4-shaped id that is unique but not unpredictable: a random
// per-thread prefix and a counter, with no system call. For request ids and
// other labels, never for anything secret or guessable-sensitive.
std::string newRequestId();

// True for the canonical 36-character hyphenated hex form (any version).
bool isUuid(std::string_view s);

}  // namespace aureo::core
