#include "cli/qr.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace aureo::cli {
namespace {

const char* kConfig =
    "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
    "Address = 10.8.0.2/32\nDNS = 1.1.1.1\n\n[Peer]\n"
    "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
    "Endpoint = 203.0.113.10:51820\nAllowedIPs = 0.0.0.0/0, ::/0\n";

// A finder pattern: 7x7 dark ring, light ring, 3x3 dark centre.
void expectFinder(const QrMatrix& qr, int x0, int y0) {
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 7; ++x) {
      const bool ring = x == 0 || y == 0 || x == 6 || y == 6;
      const bool centre = x >= 2 && x <= 4 && y >= 2 && y <= 4;
      EXPECT_EQ(qr.dark(x0 + x, y0 + y), ring || centre) << x0 + x << "," << y0 + y;
    }
  }
}

std::vector<std::string> splitLines(const std::string& s) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t end = s.find('\n', pos);
    lines.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

// Splits a line into its UTF-8 characters.
std::vector<std::string> glyphs(const std::string& line) {
  std::vector<std::string> out;
  for (size_t i = 0; i < line.size();) {
    size_t n = 1;
    const auto c = static_cast<unsigned char>(line[i]);
    if (c >= 0xE0)
      n = 3;
    else if (c >= 0xC0)
      n = 2;
    out.push_back(line.substr(i, n));
    i += n;
  }
  return out;
}

TEST(EncodeQr, ShortTextIsVersionOneWithThreeFinderPatterns) {
  auto qr = encodeQr("hello");
  ASSERT_TRUE(qr.ok());
  EXPECT_EQ(qr->width, 21);
  expectFinder(*qr, 0, 0);
  expectFinder(*qr, qr->width - 7, 0);
  expectFinder(*qr, 0, qr->width - 7);
}

TEST(EncodeQr, AWireGuardConfigFitsAndTooMuchTextDoesNot) {
  auto qr = encodeQr(kConfig);
  ASSERT_TRUE(qr.ok());
  EXPECT_EQ((qr->width - 17) % 4, 0) << "QR widths are 17 + 4 * version";
  EXPECT_GT(qr->width, 21);
  EXPECT_FALSE(encodeQr(std::string(3000, 'x')).ok());
  EXPECT_FALSE(encodeQr("").ok());
}

TEST(RenderQrTerminal, HalfBlocksEncodeExactlyTheModulesAndALightMargin) {
  auto qr = encodeQr(kConfig);
  ASSERT_TRUE(qr.ok());
  const int margin = 2;
  const int side = qr->width + 2 * margin;
  const auto lines = splitLines(renderQrTerminal(*qr, {margin, false}));
  ASSERT_EQ(static_cast<int>(lines.size()), (side + 1) / 2);
  for (size_t row = 0; row < lines.size(); ++row) {
    const auto g = glyphs(lines[row]);
    ASSERT_EQ(static_cast<int>(g.size()), side) << "line " << row;
    for (int x = 0; x < side; ++x) {
      const bool top_light = g[x] == "\u2588" || g[x] == "\u2580";
      const bool bottom_light = g[x] == "\u2588" || g[x] == "\u2584";
      ASSERT_TRUE(top_light || bottom_light || g[x] == " ") << "unexpected glyph " << g[x];
      for (int half = 0; half < 2; ++half) {
        const int y = static_cast<int>(row) * 2 + half;
        const bool light = half == 0 ? top_light : bottom_light;
        if (y >= side) {
          EXPECT_FALSE(light) << "below the code must stay background";
          continue;
        }
        const int qx = x - margin;
        const int qy = y - margin;
        const bool inside = qx >= 0 && qy >= 0 && qx < qr->width && qy < qr->width;
        EXPECT_EQ(light, inside ? !qr->dark(qx, qy) : true) << x << "," << y;
      }
    }
  }
}

TEST(RenderQrTerminal, AnsiColoursWrapEveryLine) {
  auto qr = encodeQr("hello");
  ASSERT_TRUE(qr.ok());
  for (const auto& line : splitLines(renderQrTerminal(*qr, {2, true}))) {
    EXPECT_EQ(line.rfind("\x1b[40;97m", 0), 0u);
    EXPECT_EQ(line.substr(line.size() - 4), "\x1b[0m");
  }
}

TEST(RenderQrPng, ScalesModulesAndKeepsAFourModuleQuietZone) {
  auto qr = encodeQr("hello");
  ASSERT_TRUE(qr.ok());
  const int scale = 3;
  auto png = renderQrPng(*qr, scale);
  ASSERT_TRUE(png.ok());
  const int side = (21 + 8) * scale;
  // IHDR width/height, then inflate IDAT (the encoder writes a single one).
  auto be32 = [&](size_t at) {
    return (static_cast<uint32_t>(static_cast<uint8_t>((*png)[at])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>((*png)[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>((*png)[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<uint8_t>((*png)[at + 3]));
  };
  EXPECT_EQ(be32(16), static_cast<uint32_t>(side));
  EXPECT_EQ(be32(20), static_cast<uint32_t>(side));
  const size_t idat = 8 + 25;
  ASSERT_EQ(png->substr(idat + 4, 4), "IDAT");
  const uint32_t len = be32(idat);
  std::string raw(static_cast<size_t>(side) * (side + 1), '\0');
  uLongf raw_len = raw.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_len,
                       reinterpret_cast<const Bytef*>(png->data() + idat + 8), len),
            Z_OK);
  ASSERT_EQ(raw_len, raw.size());
  auto pixel = [&](int x, int y) {
    return static_cast<uint8_t>(raw[static_cast<size_t>(y) * (side + 1) + 1 + x]);
  };
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      const int mx = x / scale - 4;
      const int my = y / scale - 4;
      const bool inside = mx >= 0 && my >= 0 && mx < qr->width && my < qr->width;
      const uint8_t want = inside && qr->dark(mx, my) ? 0 : 255;
      ASSERT_EQ(pixel(x, y), want) << x << "," << y;
    }
  }
}

}  // namespace
}  // namespace aureo::cli
