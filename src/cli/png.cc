#include "cli/png.h"

#include <zlib.h>

#include <limits>

namespace aureo::cli {
namespace {

void putU32(std::string& out, uint32_t v) {
  out += static_cast<char>((v >> 24) & 0xFF);
  out += static_cast<char>((v >> 16) & 0xFF);
  out += static_cast<char>((v >> 8) & 0xFF);
  out += static_cast<char>(v & 0xFF);
}

// length, type, data, CRC-32 over type and data.
void putChunk(std::string& out, const char (&type)[5], const std::string& data) {
  putU32(out, static_cast<uint32_t>(data.size()));
  const size_t crc_start = out.size();
  out.append(type, 4);
  out += data;
  const auto* crc_bytes = reinterpret_cast<const Bytef*>(out.data() + crc_start);
  putU32(out, static_cast<uint32_t>(
                  crc32(crc32(0L, Z_NULL, 0), crc_bytes, static_cast<uInt>(4 + data.size()))));
}

}  // namespace

core::Result<std::string> encodeGrayPng(uint32_t width, uint32_t height,
                                        const std::vector<uint8_t>& pixels) {
  if (width == 0 || height == 0) return core::invalidArgument("empty image");
  if (pixels.size() != static_cast<size_t>(width) * height) {
    return core::invalidArgument("pixel count does not match width x height");
  }
  // Each scanline starts with its filter type; 0 (None) keeps this simple and
  // deflate still shrinks the long runs of a QR code well.
  std::string raw;
  raw.reserve(static_cast<size_t>(width + 1) * height);
  for (uint32_t y = 0; y < height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(pixels.data()) + static_cast<size_t>(y) * width,
               width);
  }
  if (raw.size() > std::numeric_limits<uLong>::max() / 2) {
    return core::invalidArgument("image too large");
  }
  uLongf packed_len = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_len,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                Z_BEST_COMPRESSION) != Z_OK) {
    return core::internalError("zlib could not compress the image");
  }
  packed.resize(packed_len);

  std::string ihdr;
  putU32(ihdr, width);
  putU32(ihdr, height);
  ihdr += '\x08';  // bit depth
  ihdr += '\x00';  // colour type: grayscale
  ihdr += '\x00';  // compression: deflate
  ihdr += '\x00';  // filter method 0
  ihdr += '\x00';  // no interlace

  std::string out("\x89PNG\r\n\x1a\n", 8);
  putChunk(out, "IHDR", ihdr);
  putChunk(out, "IDAT", packed);
  putChunk(out, "IEND", {});
  return out;
}

}  // namespace aureo::cli
