// SPDX-License-Identifier: Apache-2.0
// The skill content address: SHA-256 through libcrypto, which the host opens on first use.
#include "local_files.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using agent_runner::content_hash;
using agent_runner::LocalFile;

TEST(ContentHash, IsTheFirstEightBytesOfSha256OverNameModeSizeAndContent) {
  // python3: sha256(b"a.txt\0" b"420\0" b"2\0" b"hi" b"bin/x\0" b"493\0" b"0\0").hexdigest()[:16]
  const std::vector<LocalFile> files = {{"", "a.txt", 0644}, {"", "bin/x", 0755}};
  EXPECT_EQ(content_hash(files, {"hi", ""}), "95b4dbcedb0440d5");
}

TEST(ContentHash, ChangesWithTheModeAndTheContent) {
  const std::vector<LocalFile> a = {{"", "f", 0644}}, b = {{"", "f", 0755}};
  EXPECT_NE(content_hash(a, {"x"}), content_hash(b, {"x"}));
  EXPECT_NE(content_hash(a, {"x"}), content_hash(a, {"y"}));
  EXPECT_EQ(content_hash(a, {"x"}), content_hash(a, {"x"}));
}
