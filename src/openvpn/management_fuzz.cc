// Feeds arbitrary bytes to the management parser, whole and in two pieces,
// and checks that the split does not change what comes out.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "openvpn/management.h"

namespace {

size_t countEvents(std::string_view a, std::string_view b) {
  aureo::openvpn::ParserLimits limits;
  limits.max_line = 512;
  limits.max_env_lines = 16;
  limits.max_reply_lines = 64;
  limits.max_reply_bytes = 4096;
  aureo::openvpn::ManagementParser parser(limits);
  std::vector<aureo::openvpn::ManagementEvent> events;
  parser.feed(a, events);
  parser.feed(b, events);
  for (const auto& ev : events) {
    if (const auto* c = std::get_if<aureo::openvpn::ClientEvent>(&ev)) {
      if (c->env.size() > limits.max_env_lines) __builtin_trap();
      (void)c->findEnv("username");
    }
    if (const auto* r = std::get_if<aureo::openvpn::Reply>(&ev)) {
      if (r->lines.size() > limits.max_reply_lines) __builtin_trap();
      (void)aureo::openvpn::parseStatus3(r->lines);
    }
  }
  return events.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t whole = countEvents(input, {});
  const size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  const size_t split = countEvents(input.substr(0, cut), input.substr(cut));
  if (whole != split) __builtin_trap();
  return 0;
}
