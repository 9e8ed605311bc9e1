// SPDX-License-Identifier: Apache-2.0
#include "redact.hpp"

#include <gtest/gtest.h>

using agent_runner::Redactor;
using agent_runner::StreamRedactor;

TEST(Redact, ReplacesEveryOccurrence) {
  Redactor r;
  r.add("s3cr3t-value");
  EXPECT_EQ(r.redact("a s3cr3t-value b s3cr3t-value"), "a *** b ***");
}

TEST(Redact, IgnoresTooShortValues) {
  Redactor r;
  r.add("ab");
  EXPECT_EQ(r.redact("abc"), "abc");
}

TEST(Redact, SecretSplitAcrossChunksNeverLeaks) {
  Redactor r;
  r.add("TOPSECRET");
  StreamRedactor s(r);
  std::string out;
  out += s.push("hello TOP");
  out += s.push("SEC");
  out += s.push("RET world T");
  out += s.flush();
  EXPECT_EQ(out, "hello *** world T");
  EXPECT_EQ(out.find("TOP"), std::string::npos);
}

TEST(Redact, StreamPassesPlainTextThroughPromptly) {
  Redactor r;
  r.add("TOPSECRET");
  StreamRedactor s(r);
  EXPECT_EQ(s.push("plain line\n"), "plain line\n");
}

TEST(Redact, TooShortValuesAreRefusedSoLoadersCanSaySo) {
  Redactor r;
  EXPECT_FALSE(r.add("abc"));
  EXPECT_TRUE(r.add("abcd"));
  EXPECT_EQ(Redactor::kMinSecretBytes, 4u);
}

TEST(Redact, TheTailOfAStreamShowsNoPieceOfASecretAtEitherEdge) {
  Redactor r;
  const std::string secret = "QZJXPLMKWVUTHGFEDCBA";
  r.add(secret);
  agent_runner::RedactedTail tail(r, 64);
  // The end: a secret being written shows nothing of itself yet.
  tail.append("hello " + secret.substr(0, 7));
  EXPECT_EQ(tail.excerpt(), "hello ");
  tail.append(secret.substr(7) + " world");
  EXPECT_EQ(tail.excerpt(), "hello *** world");
  // The start: enough output that the kept window starts inside a later secret; whatever
  // remains of it there must not show.
  for (int i = 0; i < 400; ++i) {
    tail.append(std::string(37, 'x') + secret);
    const std::string e = tail.excerpt();
    for (size_t k = 0; k + 4 <= secret.size(); ++k)
      ASSERT_EQ(e.find(secret.substr(k, 4)), std::string::npos)
          << "piece " << secret.substr(k, 4) << " at round " << i << ": " << e;
  }
}

TEST(Redact, PartialMatchesAtTheEdgesAreMeasuredInBytes) {
  Redactor r;
  r.add("ABCDEFGH");
  EXPECT_EQ(r.partial_prefix_at_end("xx ABC"), 3u);
  EXPECT_EQ(r.partial_prefix_at_end("xx ABCDEFGH"), 0u);  // whole: not partial
  EXPECT_EQ(r.partial_suffix_at_start("FGH yy"), 3u);
  EXPECT_EQ(r.partial_suffix_at_start("yy FGH"), 0u);
}
