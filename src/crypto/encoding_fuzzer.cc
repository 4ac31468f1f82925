// Strict decoders must accept exactly the canonical encodings: whatever they
// accept re-encodes to the same text, and whatever is encoded decodes back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/encoding.h"

using namespace aureo::crypto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto d = base64Decode(in); d && base64Encode(*d) != in) std::abort();
  if (auto d = base64UrlDecode(in); d && base64UrlEncode(*d) != in) std::abort();
  if (auto d = hexDecode(in); d && hexDecode(hexEncode(*d)) != d) std::abort();

  if (base64Decode(base64Encode(in)) != in) std::abort();
  if (base64UrlDecode(base64UrlEncode(in)) != in) std::abort();
  if (hexDecode(hexEncode(in)) != in) std::abort();
  return 0;
}
