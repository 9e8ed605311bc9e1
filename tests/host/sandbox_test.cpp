// SPDX-License-Identifier: Apache-2.0
// The host's Sandbox wrapper over a real fixture plugin: results, buffers, streaming,
// cancellation, exceptions turned into `internal`, and what happens to the library (it stays
// mapped until exit once accepted).
#include "sandbox.hpp"
#include "plugin_loader.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace fs = std::filesystem;
using namespace agent_runner;

namespace {
std::shared_ptr<LoadedPlugin> good_plugin() {
  PluginRegistry reg;
  reg.load_file(fs::path(AR_TEST_FIXTURE_DIR) / "good.so", "test");
  return reg.find("fixture-good");  // outlives the registry on purpose
}

bool mapped(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(path) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(Sandbox, CreateReportsInfoAndSession) {
  OpResult err;
  auto sb = Sandbox::create(good_plugin(), {{"type", "fixture-good"}}, std::string("s1"), err);
  ASSERT_TRUE(sb) << err.message();
  EXPECT_EQ(sb->id(), "fixture-1");
  EXPECT_EQ(sb->info().at("session"), "s1");
  EXPECT_EQ(sb->info().at("persistent"), true);
}

TEST(Sandbox, CreateErrorsComeBackAsValues) {
  OpResult err;
  EXPECT_FALSE(Sandbox::create(good_plugin(), {{"fail_create", true}}, std::nullopt, err));
  EXPECT_EQ(err.status, AR_ERR_INVALID_CONFIG);
  EXPECT_EQ(err.message(), "sandbox.fail_create: asked to fail");
  EXPECT_FALSE(Sandbox::create(good_plugin(), {{"throw_create", true}}, std::nullopt, err));
  EXPECT_EQ(err.status, AR_ERR_INTERNAL);
  EXPECT_NE(err.message().find("create blew up"), std::string::npos);
}

TEST(Sandbox, ExceptionsInOperationsBecomeInternalErrorsAndTheHostKeepsRunning) {
  OpResult err;
  auto sb = Sandbox::create(good_plugin(), {}, std::nullopt, err);
  ASSERT_TRUE(sb);
  auto r = sb->call(Op::ls, {{"path", "/"}});
  EXPECT_EQ(r.status, AR_ERR_INTERNAL);
  EXPECT_EQ(r.body.at("code"), "internal");
  EXPECT_NE(r.message().find("ls exploded"), std::string::npos);
  auto g = sb->call(Op::glob, {{"pattern", "*"}});
  EXPECT_EQ(g.status, AR_ERR_INTERNAL);
  // A deliberate sdk::Error keeps its own code.
  auto rd = sb->call(Op::read, {{"path", "/missing"}});
  EXPECT_EQ(rd.status, AR_ERR_FILE_NOT_FOUND);
  EXPECT_EQ(rd.code(), "file_not_found");
  // A malformed request is invalid_argument, not a crash.
  auto bad = sb->call(Op::execute, {{"command", 5}});
  EXPECT_EQ(bad.status, AR_ERR_INVALID_ARGUMENT);
  // And the sandbox still works afterwards.
  auto ok = sb->call(Op::execute, {{"command", "x"}});
  EXPECT_TRUE(ok.ok());
}

TEST(Sandbox, UnimplementedOperationsAreUnsupported) {
  OpResult err;
  auto sb = Sandbox::create(good_plugin(), {}, std::nullopt, err);
  auto r = sb->call(Op::grep, {{"pattern", "x"}});
  EXPECT_EQ(r.status, AR_ERR_UNSUPPORTED);
}

TEST(Sandbox, BuffersCrossTheBoundaryByteExact) {
  OpResult err;
  auto sb = Sandbox::create(good_plugin(), {}, std::nullopt, err);
  auto r = sb->call(Op::read, {{"path", "/hello.txt"}});
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r.buffers.size(), 1u);
  EXPECT_EQ(r.buffers[0], std::string("hello\0world", 11));
  CallOptions opts;
  std::string content(100000, 'z');
  opts.inputs.push_back(content);
  auto w = sb->call(Op::write, {{"path", "/a"}}, opts);
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w.body.at("bytes_written").to_number<int64_t>(), 100000);
}

TEST(Sandbox, OutputChunksStreamThroughTheServicesTable) {
  OpResult err;
  auto sb = Sandbox::create(good_plugin(), {}, std::nullopt, err);
  std::string out, errs;
  CallOptions opts;
  opts.on_output = [&](ar_stream s, std::string_view d) {
    (s == AR_STREAM_STDERR ? errs : out) += d;
  };
  auto r = sb->call(Op::execute, {{"command", "hello"}}, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(out, "out:hello");
  EXPECT_EQ(errs, "err:");
}

TEST(Sandbox, CancellationReachesThePlugin) {
  OpResult err;
  auto sb = Sandbox::create(good_plugin(), {}, std::nullopt, err);
  std::atomic<bool> cancel{false};
  CallOptions opts;
  opts.cancelled = &cancel;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel = true;
  });
  auto r = sb->call(Op::execute, {{"command", "wait"}}, opts);
  t.join();
  EXPECT_EQ(r.status, AR_ERR_CANCELLED);
}

// What really happens to a plugin's library: an accepted one stays mapped until the process exits
// (RTLD_NODELETE, plugin_loader.cpp), whoever still holds it; a rejected one is not left mapped.
TEST(Sandbox, AnAcceptedLibraryStaysMappedUntilExitARejectedOneIsUnmapped) {
  const std::string path = (fs::path(AR_TEST_FIXTURE_DIR) / "good_twin.so").string();
  std::unique_ptr<Sandbox> sb;
  {
    PluginRegistry reg;
    reg.load_file(path, "test");
    OpResult err;
    sb = Sandbox::create(reg.find("fixture-good"), {}, std::nullopt, err);
    ASSERT_TRUE(sb);
  }  // the registry, the only other owner, is gone
  auto r = sb->call(Op::execute, {{"command", "still here"}});
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(sb->release().ok());
  EXPECT_EQ(sb->call(Op::execute, {{"command", "x"}}).status, AR_ERR_UNAVAILABLE);
  sb.reset();  // the last owner: the library is not unmapped
  EXPECT_TRUE(mapped(path));

  const std::string rejected = (fs::path(AR_TEST_FIXTURE_DIR) / "abi_major.so").string();
  {
    PluginRegistry reg;
    reg.load_file(rejected, "test");
    EXPECT_FALSE(reg.find("fixture-abi-major"));
  }
  EXPECT_FALSE(mapped(rejected));
}

TEST(Sandbox, OpNamesRoundTrip) {
  for (auto op : {Op::execute, Op::ls, Op::read, Op::write, Op::edit, Op::glob, Op::grep,
                  Op::upload, Op::download, Op::remove})
    EXPECT_EQ(op_from_name(op_name(op)), op);
  EXPECT_EQ(op_name(Op::remove), "delete");
  EXPECT_FALSE(op_from_name("rm"));
}

TEST(Sandbox, PluginLevelFunctionsOfAbi11ReachTheClassStatics) {
  auto plugin = good_plugin();
  ASSERT_TRUE(plugin);
  const auto& d = plugin->descriptor();
  EXPECT_NE(d.probe, nullptr);
  EXPECT_EQ(d.list_sessions, nullptr);  // not declared by the class
  EXPECT_NE(d.destroy_session, nullptr);
  auto r = call_plugin(*plugin, PluginFn::probe, {{"type", "fixture-good"}}, {{"verbose", true}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("config").at("type"), "fixture-good");
  EXPECT_EQ(r.body.at("request").at("verbose"), true);
  auto del = call_plugin(*plugin, PluginFn::destroy_session, {}, {{"session", "s1"}});
  EXPECT_EQ(del.status, AR_ERR_CONFLICT);
  EXPECT_EQ(del.message(), "session s1 is in use");
  auto ls = call_plugin(*plugin, PluginFn::list_sessions, {}, {});
  EXPECT_EQ(ls.status, AR_ERR_UNSUPPORTED);
  EXPECT_NE(ls.message().find("list_sessions"), std::string::npos);
}

TEST(Sandbox, APluginBuiltAgainstAbi10StillLoadsAndRuns) {
  PluginRegistry reg;
  reg.load_file(fs::path(AR_TEST_FIXTURE_DIR) / "abi_1_0.so", "test");
  ASSERT_EQ(reg.reports().size(), 1u);
  const auto& report = reg.reports()[0];
  ASSERT_TRUE(report.loaded) << report.error.value_or("");
  EXPECT_EQ(report.abi, "1.0");
  auto plugin = reg.find("fx-abi-1-0");
  ASSERT_TRUE(plugin);
  // The host's copy of the shorter descriptor is zero-filled past the plugin's struct_size.
  EXPECT_EQ(plugin->descriptor().probe, nullptr);
  EXPECT_EQ(plugin->descriptor().list_sessions, nullptr);
  EXPECT_EQ(plugin->descriptor().destroy_session, nullptr);
  EXPECT_EQ(call_plugin(*plugin, PluginFn::probe, {}, {}).status, AR_ERR_UNSUPPORTED);

  OpResult err;
  auto sb = Sandbox::create(plugin, {{"type", "fx-abi-1-0"}}, std::nullopt, err);
  ASSERT_TRUE(sb) << err.message();
  EXPECT_EQ(sb->id(), "abi10-1");
  auto r = sb->call(Op::execute, {{"command", "true"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("output"), "ok");
  EXPECT_EQ(r.body.at("request_len"), std::string(R"({"command":"true"})").size());
  EXPECT_EQ(sb->call(Op::ls, {{"path", "/"}}).status, AR_ERR_UNSUPPORTED);
  EXPECT_TRUE(sb->release().ok());
}
