// SPDX-License-Identifier: Apache-2.0
// Plugin discovery and loading through the real host code, against real fixture libraries.
#include "plugin_loader.hpp"
#include "plugin_probe.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

namespace fs = std::filesystem;
using agent_runner::PluginRegistry;
using agent_runner::PluginReport;

namespace {

const fs::path kFixtures = AR_TEST_FIXTURE_DIR;

PluginReport load_one(const fs::path& file) {
  PluginRegistry reg;
  reg.load_file(file, "test");
  EXPECT_EQ(reg.reports().size(), 1u);
  return reg.reports().at(0);
}

void expect_rejected(const PluginReport& r, const fs::path& file, const std::string& words) {
  EXPECT_FALSE(r.loaded) << r.path;
  ASSERT_TRUE(r.error.has_value()) << r.path;
  EXPECT_NE(r.error->find(file.string()), std::string::npos)
      << "reason must name the file: " << *r.error;
  EXPECT_NE(r.error->find(words), std::string::npos) << *r.error;
}

}  // namespace

TEST(Loader, GoodPluginLoadsWithItsDescriptor) {
  auto r = load_one(kFixtures / "good.so");
  EXPECT_TRUE(r.loaded) << r.error.value_or("");
  EXPECT_EQ(r.name, "fixture-good");
  EXPECT_EQ(r.sandbox_type, "fixture-good");
  EXPECT_EQ(r.version, "1.2.3");
  EXPECT_EQ(r.abi,
            std::to_string(AR_ABI_VERSION_MAJOR) + "." + std::to_string(AR_ABI_VERSION_MINOR));
  EXPECT_FALSE(r.error.has_value());
  auto caps = agent_runner::capability_names(r.capabilities);
  EXPECT_EQ(caps, (std::vector<std::string>{"execute", "streaming", "cancel"}));
  auto j = r.to_json();
  EXPECT_EQ(j.at("status"), "loaded");
  EXPECT_TRUE(j.at("error").is_null());
}

TEST(Loader, RejectsATextFile) {
  expect_rejected(load_one(kFixtures / "not_a_library.so"), kFixtures / "not_a_library.so",
                  "not a shared library");
}

TEST(Loader, RejectsALibraryWithoutEntrySymbol) {
  expect_rejected(load_one(kFixtures / "no_entry.so"), kFixtures / "no_entry.so",
                  "does not export the entry symbol agent_runner_plugin_entry");
}

TEST(Loader, RejectsANullDescriptor) {
  expect_rejected(load_one(kFixtures / "null_descriptor.so"), kFixtures / "null_descriptor.so",
                  "returned no descriptor");
}

TEST(Loader, RejectsADifferentAbiMajor) {
  auto r = load_one(kFixtures / "abi_major.so");
  expect_rejected(r, kFixtures / "abi_major.so", "major versions must match");
  EXPECT_EQ(r.abi, std::to_string(AR_ABI_VERSION_MAJOR + 1) + ".0");
}

TEST(Loader, RejectsANewerAbiMinor) {
  expect_rejected(load_one(kFixtures / "abi_minor_newer.so"), kFixtures / "abi_minor_newer.so",
                  "newer than this agent-runner's ABI");
}

TEST(Loader, RejectsATooSmallDescriptor) {
  auto r = load_one(kFixtures / "too_small.so");
  expect_rejected(r, kFixtures / "too_small.so", "needs at least");
}

// Fail closed: a config schema the validator could check only in part is refused, the keyword
// named; the real plugins' schemas use none (they load in every other test).
TEST(Loader, RejectsAConfigSchemaWithAKeywordTheValidatorDoesNotImplement) {
  auto r = load_one(kFixtures / "schema_keyword.so");
  expect_rejected(r, kFixtures / "schema_keyword.so",
                  "uses a JSON Schema keyword agent-runner does not implement, at "
                  "/properties/env: 'patternProperties'");
}

TEST(Loader, RejectsASecondFileWithTheSameSandboxTypeNamingBoth) {
  PluginRegistry reg;
  reg.load_file(kFixtures / "good.so", "test");
  reg.load_file(kFixtures / "good_twin.so", "test");
  ASSERT_EQ(reg.reports().size(), 2u);
  EXPECT_TRUE(reg.reports()[0].loaded);
  const auto& twin = reg.reports()[1];
  expect_rejected(twin, kFixtures / "good_twin.so", "already provided by");
  EXPECT_NE(twin.error->find((kFixtures / "good.so").string()), std::string::npos) << *twin.error;
  // The first one still serves the type.
  ASSERT_NE(reg.find("fixture-good"), nullptr);
  EXPECT_EQ(reg.find("fixture-good")->path(), (kFixtures / "good.so").string());
}

TEST(Loader, RejectsAFileWritableByOthers) {
  ar_test::TempDir tmp;
  const fs::path copy = tmp.path() / "good.so";
  fs::copy_file(kFixtures / "good.so", copy);
  fs::permissions(copy, fs::perms::others_write | fs::perms::group_write, fs::perm_options::add);
  expect_rejected(load_one(copy), copy, "writable by group or others");
}

TEST(Loader, RejectsEveryFileOfADirectoryWritableByOthers) {
  ar_test::TempDir tmp;
  const fs::path dir = tmp.path() / "plugins";
  fs::create_directory(dir);
  fs::copy_file(kFixtures / "good.so", dir / "good.so");
  fs::permissions(dir, fs::perms::all);
  auto reg = PluginRegistry::discover({{dir, "test", true}});
  ASSERT_EQ(reg.reports().size(), 1u);
  EXPECT_FALSE(reg.reports()[0].loaded);
  EXPECT_NE(reg.reports()[0].error->find("plugin directory " + dir.string()), std::string::npos);
  EXPECT_EQ(reg.find("fixture-good"), nullptr);
}

TEST(Loader, OneBadFileNeverStopsTheGoodOnes) {
  auto reg = PluginRegistry::discover({{kFixtures, "test", true}});
  int loaded = 0, rejected = 0;
  for (const auto& r : reg.reports()) (r.loaded ? loaded : rejected)++;
  EXPECT_EQ(loaded, 2);  // good.so and abi_1_0.so; good_twin.so is a duplicate
  EXPECT_EQ(rejected, 8);
  EXPECT_NE(reg.find("fixture-good"), nullptr);
}

TEST(Loader, MissingRequiredDirectoryIsAWarningNotAFailure) {
  auto reg = PluginRegistry::discover(
      {{"/nonexistent/agent-runner-plugins", "--plugin-dir", true}, {kFixtures, "test", true}});
  ASSERT_EQ(reg.warnings().size(), 1u);
  EXPECT_NE(reg.warnings()[0].find("/nonexistent/agent-runner-plugins"), std::string::npos);
  EXPECT_NE(reg.find("fixture-good"), nullptr);
}

TEST(Loader, SameFileFoundTwiceIsLoadedOnce) {
  auto reg = PluginRegistry::discover({{kFixtures, "a", true}, {kFixtures, "b", true}});
  EXPECT_EQ(reg.reports().size(), 10u);
}

TEST(Loader, SearchOrderFollowsTheDesign) {
  auto dirs = agent_runner::default_search_dirs({"/cfg"}, std::string("/e1::/e2"), {"/flag"});
  ASSERT_EQ(dirs.size(), 6u);
  EXPECT_EQ(dirs[0].source, "beside binary");
  EXPECT_EQ(dirs[0].dir.filename(), "plugins");
  EXPECT_EQ(dirs[1].dir, "/usr/local/lib/agent-runner/plugins");
  EXPECT_EQ(dirs[2].dir, "/cfg");
  EXPECT_EQ(dirs[3].dir, "/e1");
  EXPECT_EQ(dirs[4].dir, "/e2");
  EXPECT_EQ(dirs[5].dir, "/flag");
}

// ---- hostile files: a crash or a hang in a plugin costs one rejected file -----------------------

namespace {
const fs::path kHostile = AR_TEST_HOSTILE_DIR;
}  // namespace

TEST(Loader, AnEntryThatSegfaultsIsRejectedNamingTheSignal) {
  auto r = load_one(kHostile / "hostile_segv.so");
  expect_rejected(r, kHostile / "hostile_segv.so", "crashed with SIGSEGV in its entry function");
}

TEST(Loader, AnEntryThatAbortsIsRejectedNamingTheSignal) {
  auto r = load_one(kHostile / "hostile_abort.so");
  expect_rejected(r, kHostile / "hostile_abort.so", "crashed with SIGABRT in its entry function");
}

TEST(Loader, AnEntryThatNeverReturnsIsRejectedAfterTheTimeBound) {
  auto r = load_one(kHostile / "hostile_spin.so");
  expect_rejected(r, kHostile / "hostile_spin.so", "timed out after 2 s in its entry function");
}

TEST(Loader, AConstructorThatCrashesIsRejected) {
  auto r = load_one(kHostile / "hostile_ctor.so");
  expect_rejected(r, kHostile / "hostile_ctor.so",
                  "crashed with SIGSEGV while it was loaded (in its constructors)");
}

TEST(Loader, ADescriptorPointerIntoNowhereIsRejected) {
  auto r = load_one(kHostile / "hostile_bad_pointer.so");
  expect_rejected(r, kHostile / "hostile_bad_pointer.so",
                  "crashed with SIGSEGV while its descriptor was read");
}

TEST(Loader, GoodPluginsBesideHostileOnesStillLoad) {
  auto reg = PluginRegistry::discover({{kHostile, "test", true}, {kFixtures, "test", true}});
  int hostile = 0;
  for (const auto& r : reg.reports())
    if (fs::path(r.path).parent_path() == kHostile) {
      ++hostile;
      EXPECT_FALSE(r.loaded) << r.path;
    }
  EXPECT_EQ(hostile, 5);
  ASSERT_NE(reg.find("fixture-good"), nullptr);
}

TEST(Loader, TheProbedDescriptorSurvivesTheRoundTripExactly) {
  auto outcome = agent_runner::probe_plugin(kFixtures / "good.so");
  ASSERT_TRUE(outcome.descriptor) << outcome.error;
  EXPECT_EQ(outcome.descriptor->name, "fixture-good");
  EXPECT_FALSE(agent_runner::check_descriptor(*outcome.descriptor));
  std::string error;
  auto again =
      agent_runner::decode_descriptor(agent_runner::encode_descriptor(*outcome.descriptor), error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(agent_runner::encode_descriptor(*again),
            agent_runner::encode_descriptor(*outcome.descriptor));
  // Truncated or padded replies are refused, not half-read.
  const std::string bytes = agent_runner::encode_descriptor(*outcome.descriptor);
  EXPECT_FALSE(agent_runner::decode_descriptor(bytes.substr(0, bytes.size() - 1), error));
  EXPECT_FALSE(agent_runner::decode_descriptor(bytes + "x", error));
}

// ---- files another user could swap --------------------------------------------------------------

namespace {
constexpr uid_t kNobody = 65534;

// Only root can hand a file to another user; as anyone else the tests below cannot be set up.
#define SKIP_UNLESS_ROOT()                                         \
  if (::geteuid() != 0)                                            \
  GTEST_SKIP() << "needs root to chown fixtures to another user; " \
                  "run the suite as root to cover plugin ownership"

void give_to_nobody(const fs::path& p) {
  ASSERT_EQ(::lchown(p.c_str(), kNobody, kNobody), 0) << p;
}

// A copy of the good fixture as `dir`/`name`, `dir` created (with its parents).
fs::path good_copy(const fs::path& dir, const std::string& name = "good.so") {
  fs::create_directories(dir);
  fs::copy_file(kFixtures / "good.so", dir / name);
  return dir / name;
}
}  // namespace

TEST(Loader, AFileOwnedByAnotherUserIsRefusedNamingOwnerAndFix) {
  SKIP_UNLESS_ROOT();
  ar_test::TempDir tmp;
  const fs::path dir = tmp.path() / "plugins";
  give_to_nobody(good_copy(dir));
  auto r = load_one(dir / "good.so");
  expect_rejected(r, dir / "good.so", "is owned by nobody (uid 65534)");
  EXPECT_NE(r.error->find("not by root"), std::string::npos) << *r.error;
  EXPECT_NE(r.error->find("fix: chown root " + (dir / "good.so").string()), std::string::npos)
      << *r.error;
}

TEST(Loader, ASymlinkIntoADirectoryOfAnotherUserIsRefused) {
  SKIP_UNLESS_ROOT();
  ar_test::TempDir tmp;
  // The file is root's, but it sits in a directory "nobody" owns: nobody can swap it.
  const fs::path theirs = tmp.path() / "theirs";
  good_copy(theirs, "real.so");
  give_to_nobody(theirs);
  const fs::path dir = tmp.path() / "plugins";
  fs::create_directory(dir);
  fs::create_symlink(theirs / "real.so", dir / "link.so");
  auto r = load_one(dir / "link.so");
  expect_rejected(r, dir / "link.so", "a symbolic link to " + (theirs / "real.so").string());
  EXPECT_NE(r.error->find("directory " + theirs.string()), std::string::npos) << *r.error;
  EXPECT_NE(r.error->find("owned by nobody"), std::string::npos) << *r.error;
}

TEST(Loader, APluginDirectoryOfAnotherUserRejectsEveryFileInIt) {
  SKIP_UNLESS_ROOT();
  ar_test::TempDir tmp;
  const fs::path dir = tmp.path() / "plugins";
  good_copy(dir);
  give_to_nobody(dir);
  auto reg = PluginRegistry::discover({{dir, "test", true}});
  ASSERT_EQ(reg.reports().size(), 1u);
  EXPECT_FALSE(reg.reports()[0].loaded);
  EXPECT_NE(reg.reports()[0].error->find("plugin directory " + dir.string() + " is owned by"),
            std::string::npos)
      << *reg.reports()[0].error;
  EXPECT_EQ(reg.find("fixture-good"), nullptr);
}

TEST(Loader, ADirectoryHigherUpThatOthersCanWriteIsRefusedUnlessSticky) {
  ar_test::TempDir tmp;
  const fs::path open = tmp.path() / "open";
  const fs::path dir = open / "plugins";
  good_copy(dir);
  fs::permissions(open, fs::perms::all);
  auto r = load_one(dir / "good.so");
  expect_rejected(r, dir / "good.so", "directory " + open.string());
  EXPECT_NE(r.error->find("not sticky"), std::string::npos) << *r.error;
  // Sticky (as /tmp is): only an entry's owner may rename it, so the plugin is safe.
  fs::permissions(open, fs::perms::sticky_bit, fs::perm_options::add);
  EXPECT_TRUE(load_one(dir / "good.so").loaded);
}
