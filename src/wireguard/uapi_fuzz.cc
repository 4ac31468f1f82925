// libFuzzer target: the UAPI set/get parsers must never crash, and anything
// they accept must survive a format/parse round trip unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "wireguard/uapi.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto change = aureo::wireguard::parseSetRequest(text);
  if (change.ok()) {
    const std::string again = aureo::wireguard::formatSetRequest(*change);
    auto reparsed = aureo::wireguard::parseSetRequest(std::string_view(again).substr(6));
    if (!reparsed.ok() || !(*reparsed == *change)) std::abort();
  } else if (aureo::wireguard::uapiErrno(change.error()) <= 0) {
    std::abort();
  }
  auto state = aureo::wireguard::parseGetResponse(text);
  if (state.ok()) {
    auto reparsed = aureo::wireguard::parseGetResponse(aureo::wireguard::formatGetResponse(*state));
    if (!reparsed.ok() || !(*reparsed == *state)) std::abort();
  }
  return 0;
}
