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
