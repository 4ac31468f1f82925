#include "core/errno_text.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace aureo::core {
namespace {

TEST(ErrnoText, DescribesKnownErrno) {
  EXPECT_EQ(errnoText(ENOENT), "No such file or directory");
  EXPECT_EQ(errnoText(EACCES), "Permission denied");
}

TEST(ErrnoText, NamesUnknownErrnoByNumber) {
  EXPECT_EQ(errnoText(99999), "Unknown error 99999");
}

}  // namespace
}  // namespace aureo::core
