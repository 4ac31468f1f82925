// Text for errno values.
#pragma once

#include <string>

namespace aureo::core {

// strerror() text for an errno value, safe to call from any thread.
std::string errnoText(int err);

}  // namespace aureo::core
