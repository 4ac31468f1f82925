#include "core/errno_text.h"

#include <cstring>

namespace aureo::core {

std::string errnoText(int err) {
  char buf[128];
  // GNU strerror_r returns buf or a static string and shares no state.
  return strerror_r(err, buf, sizeof(buf));
}

}  // namespace aureo::core
