#include "cli/png.h"

#include <zlib.h>

#include <gtest/gtest.h>

namespace aureo::cli {
namespace {

uint32_t u32(const std::string& s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

struct Chunk {
  std::string type;
  std::string data;
};

// Walks the chunks, checking every CRC.
std::vector<Chunk> chunks(const std::string& png) {
  std::vector<Chunk> out;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const uint32_t len = u32(png, at);
    Chunk c{png.substr(at + 4, 4), png.substr(at + 8, len)};
    const auto* p = reinterpret_cast<const Bytef*>(png.data() + at + 4);
    EXPECT_EQ(u32(png, at + 8 + len), crc32(crc32(0L, Z_NULL, 0), p, 4 + len)) << c.type;
    out.push_back(c);
    at += 12 + len;
  }
  EXPECT_EQ(at, png.size());
  return out;
}

TEST(EncodeGrayPng, WritesSignatureHeaderDataAndEndWithValidCrcs) {
  const std::vector<uint8_t> pixels{0, 255, 10, 20, 30, 40};  // 3 x 2
  auto png = encodeGrayPng(3, 2, pixels);
  ASSERT_TRUE(png.ok());
  ASSERT_EQ(png->substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  auto cs = chunks(*png);
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0].type, "IHDR");
  EXPECT_EQ(cs[1].type, "IDAT");
  EXPECT_EQ(cs[2].type, "IEND");
  ASSERT_EQ(cs[0].data.size(), 13u);
  EXPECT_EQ(u32(cs[0].data, 0), 3u);
  EXPECT_EQ(u32(cs[0].data, 4), 2u);
  EXPECT_EQ(cs[0].data.substr(8), std::string("\x08\x00\x00\x00\x00", 5));

  // The image data inflates to a filter byte (0) and the raw row, per row.
  std::string raw(2 * 4, '\xff');
  uLongf raw_len = raw.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(raw.data()), &raw_len,
                       reinterpret_cast<const Bytef*>(cs[1].data.data()), cs[1].data.size()),
            Z_OK);
  EXPECT_EQ(raw_len, 8u);
  EXPECT_EQ(raw, std::string("\x00\x00\xff\x0a\x00\x14\x1e\x28", 8));
}

TEST(EncodeGrayPng, RejectsEmptyImagesAndSizeMismatches) {
  EXPECT_FALSE(encodeGrayPng(0, 1, {}).ok());
  EXPECT_FALSE(encodeGrayPng(2, 2, {0, 0, 0}).ok());
}

}  // namespace
}  // namespace aureo::cli
