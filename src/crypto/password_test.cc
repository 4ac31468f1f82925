#include "crypto/password.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace aureo::crypto {
namespace {

// Cheap parameters keep the suite fast; one test below uses the defaults.
constexpr Argon2Params kFast{.memory_kib = 64, .iterations = 1, .parallelism = 1};

std::string hashOf(std::string_view password, const Argon2Params& params = kFast) {
  auto r = hashPassword(password, params);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().toString());
  return r.ok() ? *r : std::string();
}

TEST(PasswordTest, DefaultParamsProduceOwaspArgon2idString) {
  auto phc = hashPassword("correct horse battery staple", Argon2Params{});
  ASSERT_TRUE(phc.ok()) << phc.error().toString();
  EXPECT_EQ(phc->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *phc;
  EXPECT_TRUE(verifyPassword("correct horse battery staple", *phc));
  EXPECT_FALSE(verifyPassword("correct horse battery stapler", *phc));
  EXPECT_FALSE(needsRehash(*phc, Argon2Params{}));
}

TEST(PasswordTest, RoundTripsAndRejectsWrongPassword) {
  const std::string phc = hashOf("s3cret!");
  EXPECT_EQ(phc.rfind("$argon2id$v=19$m=64,t=1,p=1$", 0), 0u) << phc;
  EXPECT_TRUE(verifyPassword("s3cret!", phc));
  EXPECT_FALSE(verifyPassword("s3cret", phc));
  EXPECT_FALSE(verifyPassword("S3cret!", phc));
  EXPECT_FALSE(verifyPassword("", phc));
}

TEST(PasswordTest, SaltsEveryHash) {
  const std::string a = hashOf("same password");
  const std::string b = hashOf("same password");
  EXPECT_NE(a, b);
  EXPECT_TRUE(verifyPassword("same password", a));
  EXPECT_TRUE(verifyPassword("same password", b));
}

TEST(PasswordTest, HandlesEmptyUnicodeAndEmbeddedNulPasswords) {
  const std::string empty = hashOf("");
  EXPECT_TRUE(verifyPassword("", empty));
  EXPECT_FALSE(verifyPassword(" ", empty));

  const std::string unicode = hashOf("pässwörd-🔑");
  EXPECT_TRUE(verifyPassword("pässwörd-🔑", unicode));
  EXPECT_FALSE(verifyPassword("passwort-🔑", unicode));

  // The length is passed explicitly, so bytes after a NUL still count.
  const std::string with_nul("ab\0cd", 5);
  const std::string phc = hashOf(with_nul);
  EXPECT_TRUE(verifyPassword(with_nul, phc));
  EXPECT_FALSE(verifyPassword("ab", phc));
}

TEST(PasswordTest, RejectsPasswordsOver1024Bytes) {
  EXPECT_TRUE(hashPassword(std::string(1024, 'x'), kFast).ok());
  auto r = hashPassword(std::string(1025, 'x'), kFast);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
  // Verification refuses such input without hashing it.
  const std::string phc = hashOf("short");
  EXPECT_FALSE(verifyPassword(std::string(1025, 'x'), phc));
}

TEST(PasswordTest, RejectsParametersOutsideBounds) {
  const std::vector<Argon2Params> bad = {
      {.memory_kib = 64, .iterations = 1, .parallelism = 4},
      {.memory_kib = 64, .iterations = 0, .parallelism = 1},
      {.memory_kib = 64, .iterations = 65, .parallelism = 1},
      {.memory_kib = 4, .iterations = 1, .parallelism = 1},
      {.memory_kib = 2 * 1024 * 1024, .iterations = 1, .parallelism = 1},
  };
  for (const auto& p : bad) {
    auto r = hashPassword("pw", p);
    ASSERT_FALSE(r.ok()) << p.memory_kib << " " << p.iterations << " " << p.parallelism;
    EXPECT_EQ(r.error().code, core::Code::kInvalidArgument);
  }
}

TEST(PasswordTest, MalformedHashesVerifyFalse) {
  const std::string good = hashOf("pw");
  ASSERT_TRUE(verifyPassword("pw", good));
  std::string flipped = good;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  std::string truncated = good.substr(0, good.size() - 5);
  std::string argon2i = good;
  argon2i.replace(0, 9, "$argon2i");

  const std::vector<std::string> bad = {
      "",
      "not a hash",
      "$argon2id$",
      "$argon2id$v=19$m=64,t=1,p=1$$",
      "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
      "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=-1,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      // Costs a planted row could use to pin a worker: refused before hashing.
      "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=64,t=4000000000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$argon2id$v=19$m=64,t=1,p=1$c2Fsd!NhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
      "$2b$12$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
      std::string(500, '$'),
      good + "$extra",
      good + std::string(1, '\0'),
      flipped,
      truncated,
      argon2i,
  };
  for (const auto& phc : bad) EXPECT_FALSE(verifyPassword("pw", phc)) << phc;
}

TEST(PasswordTest, NeedsRehashWhenParamsAreRaised) {
  const std::string phc = hashOf("pw");  // m=64, t=1
  EXPECT_FALSE(needsRehash(phc, kFast));
  EXPECT_TRUE(needsRehash(phc, {.memory_kib = 128, .iterations = 1, .parallelism = 1}));
  EXPECT_TRUE(needsRehash(phc, {.memory_kib = 64, .iterations = 2, .parallelism = 1}));
  EXPECT_TRUE(needsRehash(phc, Argon2Params{}));
}

TEST(PasswordTest, KeepsHashesStrongerThanParams) {
  const std::string phc = hashOf("pw", {.memory_kib = 128, .iterations = 2, .parallelism = 1});
  EXPECT_FALSE(needsRehash(phc, kFast));
  EXPECT_FALSE(needsRehash(phc, {.memory_kib = 128, .iterations = 1, .parallelism = 1}));
  EXPECT_TRUE(needsRehash(phc, {.memory_kib = 256, .iterations = 1, .parallelism = 1}));
}

TEST(PasswordTest, NeedsRehashForMalformedOrForeignHashes) {
  EXPECT_TRUE(needsRehash("", kFast));
  EXPECT_TRUE(needsRehash("garbage", kFast));
  EXPECT_TRUE(needsRehash("$2b$12$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", kFast));
  std::string argon2i = hashOf("pw");
  argon2i.replace(0, 9, "$argon2i");
  EXPECT_TRUE(needsRehash(argon2i, kFast));
}

}  // namespace
}  // namespace aureo::crypto
