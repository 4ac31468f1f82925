#include "cli/qr.h"

#include <qrencode.h>

#include <memory>

#include "cli/png.h"

namespace aureo::cli {
namespace {

constexpr int kPngMargin = 4;  // the quiet zone ISO/IEC 18004 asks for

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

}  // namespace

core::Result<QrMatrix> encodeQr(std::string_view text) {
  if (text.empty()) return core::invalidArgument("nothing to encode");
  if (text.find('\0') != std::string_view::npos) {
    return core::invalidArgument("text for a QR code cannot hold NUL bytes");
  }
  const std::string copy(text);
  std::unique_ptr<QRcode, QrFree> code(QRcode_encodeString8bit(copy.c_str(), 0, QR_ECLEVEL_L));
  if (!code) {
    return core::invalidArgument("the text is too long for a QR code (" +
                                 std::to_string(text.size()) + " bytes)");
  }
  QrMatrix m;
  m.width = code->width;
  const size_t n = static_cast<size_t>(m.width) * static_cast<size_t>(m.width);
  m.modules.resize(n);
  // libqrencode: bit 0 of each byte is the module's colour (1 = dark).
  for (size_t i = 0; i < n; ++i) m.modules[i] = code->data[i] & 1U;
  return m;
}

std::string renderQrTerminal(const QrMatrix& qr, const TerminalQrOptions& options) {
  const int margin = options.margin < 0 ? 0 : options.margin;
  const int side = qr.width + 2 * margin;
  // Outside the symbol (the quiet zone) is light; below the last row is
  // nothing, drawn as background.
  auto light = [&](int x, int y) {
    if (y >= side) return false;
    const int qx = x - margin;
    const int qy = y - margin;
    if (qx < 0 || qy < 0 || qx >= qr.width || qy >= qr.width) return true;
    return !qr.dark(qx, qy);
  };
  std::string out;
  for (int y = 0; y < side; y += 2) {
    if (options.ansi_colors) out += "\x1b[40;97m";
    for (int x = 0; x < side; ++x) {
      const bool top = light(x, y);
      const bool bottom = light(x, y + 1);
      if (top && bottom) {
        out += "\u2588";
      } else if (top) {
        out += "\u2580";
      } else if (bottom) {
        out += "\u2584";
      } else {
        out += ' ';
      }
    }
    if (options.ansi_colors) out += "\x1b[0m";
    out += '\n';
  }
  return out;
}

core::Result<std::string> renderQrPng(const QrMatrix& qr, int scale) {
  if (scale < 1 || scale > 64) return core::invalidArgument("QR scale must be 1..64");
  const int side = (qr.width + 2 * kPngMargin) * scale;
  std::vector<uint8_t> pixels(static_cast<size_t>(side) * static_cast<size_t>(side), 255);
  for (int y = 0; y < qr.width; ++y) {
    for (int x = 0; x < qr.width; ++x) {
      if (!qr.dark(x, y)) continue;
      for (int dy = 0; dy < scale; ++dy) {
        const auto row = static_cast<size_t>(y + kPngMargin) * static_cast<size_t>(scale) +
                         static_cast<size_t>(dy);
        const auto col = static_cast<size_t>(x + kPngMargin) * static_cast<size_t>(scale);
        std::fill_n(
            pixels.begin() + static_cast<std::ptrdiff_t>(row * static_cast<size_t>(side) + col),
            scale, uint8_t{0});
      }
    }
  }
  return encodeGrayPng(static_cast<uint32_t>(side), static_cast<uint32_t>(side), pixels);
}

}  // namespace aureo::cli
