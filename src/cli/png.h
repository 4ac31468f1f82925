// A minimal PNG encoder (8-bit grayscale, one IDAT, zlib deflate), enough for
// QR codes; see the PNG specification, 2nd edition, sections 5 and 11.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace aureo::cli {

// pixels: height rows of width bytes, 0 = black, 255 = white. Returns the
// file's bytes. kInvalidArgument for an empty image or a size mismatch.
core::Result<std::string> encodeGrayPng(uint32_t width, uint32_t height,
                                        const std::vector<uint8_t>& pixels);

}  // namespace aureo::cli
