#include "crypto/secret.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace aureo::crypto {
namespace {

bool allZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

TEST(SecretTest, StartsZeroedAndCopiesBytes) {
  Secret<32> a;
  EXPECT_EQ(Secret<32>::size(), 32u);
  EXPECT_TRUE(allZero(a.data(), a.size()));
  for (size_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<uint8_t>(i + 1);
  Secret<32> b = a;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), 32), 0);
  Secret<32> c;
  c = a;
  EXPECT_EQ(std::memcmp(a.data(), c.data(), 32), 0);
}

TEST(SecretTest, SecureZeroClearsBuffer) {
  uint8_t buf[17];
  std::memset(buf, 0xa5, sizeof buf);
  secureZero(buf, sizeof buf);
  EXPECT_TRUE(allZero(buf, sizeof buf));
  secureZero(nullptr, 0);  // a no-op, not a crash
}

TEST(SecretTest, DestructorWipesItsStorage) {
  // Construct in storage we own, so the bytes can be inspected after the
  // destructor has run (a plain memset there could be optimised away).
  alignas(Secret<32>) unsigned char storage[sizeof(Secret<32>)];
  auto* s = new (storage) Secret<32>();
  std::memset(s->data(), 0x5a, s->size());
  const uint8_t* bytes = s->data();
  const size_t offset = static_cast<size_t>(bytes - reinterpret_cast<const uint8_t*>(storage));
  s->~Secret<32>();
  EXPECT_TRUE(allZero(reinterpret_cast<const uint8_t*>(storage) + offset, 32));
}

}  // namespace
}  // namespace aureo::crypto
