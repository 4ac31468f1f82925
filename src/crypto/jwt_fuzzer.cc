// JwtCodec::verify on hostile input. Mode 0 feeds the bytes as a token (must
// never be accepted: the fuzzer cannot forge the MAC). Modes 1 and 3 use the
// bytes as the payload or the header of a token signed with the codec's key,
// so the header and claim checks behind the signature are exercised too;
// anything accepted must satisfy the documented guarantees.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/encoding.h"
#include "crypto/jwt.h"

using namespace aureo::crypto;

namespace {

const std::string kSecret(32, 'k');
constexpr int64_t kNow = 1700000000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const JwtCodec codec(kSecret, "iss", "aud");
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto now = aureo::core::fromUnixSeconds(kNow);

  if (data[0] % 2 == 0) {
    if (codec.verify(in, "access", now).ok()) std::abort();
    return 0;
  }
  // Mode 1: fuzzed payload under a valid header. Mode 3: fuzzed header over
  // a valid payload. Both are signed, so only the JSON checks stand in the way.
  const bool fuzz_payload = data[0] % 4 == 1;
  const std::string_view header = fuzz_payload ? std::string_view(R"({"alg":"HS256"})") : in;
  const std::string_view payload =
      fuzz_payload ? in
                   : std::string_view(
                         R"({"sub":"u","iss":"iss","aud":"aud","typ":"access","exp":1700000060})");
  const std::string input = base64UrlEncode(header) + "." + base64UrlEncode(payload);
  const std::string token = input + "." + base64UrlEncode(hmacSha256(kSecret, input));
  auto r = codec.verify(token, "access", now, std::chrono::seconds{5});
  if (r.ok()) {
    if (r->sub.empty() || r->typ != "access" || r->iss != "iss" || r->aud != "aud") std::abort();
    if (r->exp <= kNow - 5 || r->nbf > kNow + 5) std::abort();
  }
  return 0;
}
