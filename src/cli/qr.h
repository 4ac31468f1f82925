// QR codes of generated configs, for the WireGuard mobile apps: on the
// terminal with Unicode half blocks, or as a PNG file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace aureo::cli {

struct QrMatrix {
  int width = 0;                 // modules per side
  std::vector<uint8_t> modules;  // width*width, row-major, 1 = dark

  [[nodiscard]] bool dark(int x, int y) const {
    return modules[static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)] !=
           0;
  }
};

// Byte mode, error correction level L, the smallest version that fits.
// kInvalidArgument if the text is empty, holds a NUL or does not fit in a QR code.
core::Result<QrMatrix> encodeQr(std::string_view text);

struct TerminalQrOptions {
  int margin = 2;  // quiet zone, in modules
  // Wraps each line in escape codes for white-on-black, so the code reads the
  // same in light and dark terminal themes.
  bool ansi_colors = false;
};

// Each character is two modules stacked: light modules are drawn as the
// block's foreground ('█', '▀', '▄') and dark ones as the background (' ').
// (width + 2*margin) columns by ceil((width + 2*margin) / 2) lines.
std::string renderQrTerminal(const QrMatrix& qr, const TerminalQrOptions& options = {});

// A grayscale PNG with `scale` pixels per module and a 4-module quiet zone.
core::Result<std::string> renderQrPng(const QrMatrix& qr, int scale = 8);

}  // namespace aureo::cli
