#include "cli/credentials.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace aureo::cli {
namespace {

namespace fs = std::filesystem;

class CredentialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "aureo-cli-creds-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ / ".config" / "aureo-vpn";
  }
  void TearDown() override { fs::remove_all(root_); }

  static mode_t modeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  static ino_t inodeOf(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_ino;
  }

  fs::path root_;
  fs::path dir_;
  Credentials sample_{
      "http://127.0.0.1:8080", "ann@example.test", "u-1", "admin", "access.jwt", "refresh.jwt"};
};

TEST_F(CredentialStoreTest, MissingFileMeansNotSignedIn) {
  CredentialStore store(dir_);
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().toString();
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(CredentialStoreTest, SaveCreatesOwnerOnlyFolderAndFileAndLoadsBack) {
  CredentialStore store(dir_);
  ASSERT_TRUE(store.save(sample_).ok());
  EXPECT_EQ(modeOf(dir_), 0700u);
  EXPECT_EQ(modeOf(store.file()), 0600u);
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().toString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, sample_);
}

TEST_F(CredentialStoreTest, SaveTightensAnExistingLooseFolder) {
  fs::create_directories(dir_);
  ::chmod(dir_.c_str(), 0755);
  CredentialStore store(dir_);
  ASSERT_TRUE(store.save(sample_).ok());
  EXPECT_EQ(modeOf(dir_), 0700u);
}

TEST_F(CredentialStoreTest, SaveReplacesTheFileByRenameAndLeavesNoTemporaries) {
  CredentialStore store(dir_);
  ASSERT_TRUE(store.save(sample_).ok());
  const ino_t before = inodeOf(store.file());
  // A reader holding the old file keeps seeing a complete old version.
  const int old_reader = ::open(store.file().c_str(), O_RDONLY);
  ASSERT_GE(old_reader, 0);
  Credentials rotated = sample_;
  rotated.access_token = "access-2";
  rotated.refresh_token = "refresh-2";
  ASSERT_TRUE(store.save(rotated).ok());
  EXPECT_NE(inodeOf(store.file()), before) << "the file must be replaced, not rewritten in place";
  std::string old_text(4096, '\0');
  const ssize_t n = ::read(old_reader, old_text.data(), old_text.size());
  ::close(old_reader);
  ASSERT_GT(n, 0);
  old_text.resize(static_cast<size_t>(n));
  EXPECT_NE(old_text.find("refresh.jwt"), std::string::npos);

  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(**loaded, rotated);
  EXPECT_EQ(modeOf(store.file()), 0600u);
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    ++entries;
    EXPECT_EQ(e.path().filename().string().find(".credentials.json."), std::string::npos)
        << "left over: " << e.path();
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(CredentialStoreTest, RefusesAFileOthersCanRead) {
  CredentialStore store(dir_);
  ASSERT_TRUE(store.save(sample_).ok());
  ::chmod(store.file().c_str(), 0644);
  auto loaded = store.load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, core::Code::kFailedPrecondition);
  EXPECT_NE(loaded.error().message.find("chmod 600"), std::string::npos);
}

TEST_F(CredentialStoreTest, GarbageIsReportedNotTrusted) {
  CredentialStore store(dir_);
  ASSERT_TRUE(store.save(sample_).ok());
  {
    std::ofstream f(store.file(), std::ios::trunc);
    f << "{not json";
  }
  auto loaded = store.load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, core::Code::kDataLoss);
}

TEST_F(CredentialStoreTest, RemoveDeletesTheFileAndIsFineWhenItIsGone) {
  CredentialStore store(dir_);
  ASSERT_TRUE(store.save(sample_).ok());
  ASSERT_TRUE(store.remove().ok());
  EXPECT_FALSE(fs::exists(store.file()));
  EXPECT_TRUE(store.remove().ok());
}

TEST_F(CredentialStoreTest, LockExcludesOtherHoldersUntilReleased) {
  CredentialStore store(dir_);
  auto probe = [&] {
    const int fd = ::open((dir_ / "credentials.lock").c_str(), O_RDWR);
    EXPECT_GE(fd, 0);
    const bool got = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return got;
  };
  {
    auto lock = store.lock();
    ASSERT_TRUE(lock.ok()) << lock.error().toString();
    EXPECT_FALSE(probe()) << "a second open file must not get the lock while it is held";
  }
  EXPECT_TRUE(probe());
}

}  // namespace
}  // namespace aureo::cli
