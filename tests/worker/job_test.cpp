// SPDX-License-Identifier: Apache-2.0
// The job format on its own: what submit builds, what a worker accepts (bounded, schema-checked,
// safe paths only) and what the job process writes to disk.
#include "worker/job.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace agent_runner;
using namespace agent_runner::worker;

namespace {

Workload load(const fs::path& file) {
  auto l = load_workload(file, {}, false);
  if (!l.workload) {
    std::string all;
    for (const auto& e : l.errors) all += e + "\n";
    throw std::runtime_error(all);
  }
  return *l.workload;
}

struct Files {
  ar_test::TempDir dir;
  fs::path wl;
  Files() {
    fs::create_directories(dir.path() / "skills/pdf-tools/bin");
    ar_test::write_file(dir.path() / "skills/pdf-tools/SKILL.md", "# pdf\n");
    ar_test::write_file(dir.path() / "skills/pdf-tools/bin/run.sh", "echo run\n");
    ::chmod((dir.path() / "skills/pdf-tools/bin/run.sh").c_str(), 0755);
    ar_test::write_file(dir.path() / "data.txt", "some data\n");
    wl = dir.path() / "wl.yaml";
    ar_test::write_file(wl, R"(name: files
secrets:
  TOKEN: {env: TOKEN}
skills: [./skills/pdf-tools]
steps:
  - upload: {from: ./data.txt, to: /in/data.txt}
  - execute: {command: "cat /in/data.txt"}
    continue_on_error: true
  - upload: {from: skills, to: /copy}
)");
  }
};

json::object job_object(const std::string& text) {
  return json::parse(text).as_object();
}

}  // namespace

TEST(Job, RoundTripCarriesFilesLinesAndNames) {
  Files f;
  Workload w = load(f.wl);
  auto built = build_job(w, 1 << 20, {});
  ASSERT_TRUE(built.error.empty()) << built.error;
  auto parsed = parse_job(built.json, 1 << 20);
  ASSERT_TRUE(parsed.job) << parsed.error;
  EXPECT_EQ(parsed.job->file, f.wl.string());
  ASSERT_EQ(parsed.job->skills.size(), 1u);
  EXPECT_EQ(parsed.job->skills[0].name, "pdf-tools");
  EXPECT_EQ(parsed.job->skills[0].files.size(), 2u);
  ASSERT_EQ(parsed.job->uploads.size(), 2u);
  EXPECT_FALSE(parsed.job->uploads.at(0).directory);
  EXPECT_TRUE(parsed.job->uploads.at(2).directory);
  EXPECT_EQ(parsed.job->lines, (std::vector<int64_t>{6, 7, 9}));

  ar_test::TempDir out;
  auto m = materialise_job(*parsed.job, out.path(), {{"TOKEN", "worker-side-token"}});
  ASSERT_TRUE(m.workload) << (m.errors.empty() ? "" : m.errors[0]);
  const Workload& jw = *m.workload;
  EXPECT_EQ(jw.file, f.wl);
  EXPECT_EQ(jw.base_dir, w.base_dir);
  EXPECT_EQ(jw.secrets.at("TOKEN"), "worker-side-token");  // resolved on the worker
  EXPECT_EQ(jw.steps[1].line, 7);
  EXPECT_EQ(jw.steps[0].args.at("from"), "./data.txt");  // events show what the file says
  EXPECT_EQ(ar_test::read_file(jw.local_path("./data.txt")), "some data\n");
  EXPECT_TRUE(jw.local_path("./data.txt").string().rfind(out.path().string(), 0) == 0);
  ASSERT_EQ(jw.skills.size(), 1u);
  EXPECT_EQ(jw.skills[0].filename(), "pdf-tools");
  struct stat st {};
  ASSERT_EQ(::stat((jw.skills[0] / "bin/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(ar_test::read_file(jw.local_path("skills") / "pdf-tools/SKILL.md"), "# pdf\n");
}

TEST(Job, AJobMayNotReadTheWorkersOwnCredentials) {
  Files f;
  ar_test::write_file(f.dir.path() / "steal.yaml", R"(name: steal
secrets: {X: {env: REDIS_PASSWORD}}
steps:
  - execute: {command: "echo $X | base64"}
)");
  auto job = parse_job(build_job(load(f.dir.path() / "steal.yaml"), 1 << 20, {}).json, 1 << 20);
  ASSERT_TRUE(job.job) << job.error;
  ar_test::TempDir out;
  auto m = materialise_job(*job.job, out.path(), {{"REDIS_PASSWORD", "the-redis-password"}});
  EXPECT_FALSE(m.workload);
  ASSERT_EQ(m.errors.size(), 1u);
  EXPECT_NE(m.errors[0].find("REDIS_PASSWORD} is the worker's own credential"), std::string::npos)
      << m.errors[0];
}

TEST(Job, SubmitRefusesAJobThatWouldCarryASecretValue) {
  Files f;
  ar_test::write_file(f.dir.path() / "leak.yaml", R"(name: leak
secrets: {TOKEN: {env: TOKEN}}
steps:
  - execute: {command: "echo hunter2-secret-value"}
)");
  Workload w = load(f.dir.path() / "leak.yaml");
  auto built = build_job(w, 1 << 20, {{"TOKEN", "hunter2-secret-value"}});
  EXPECT_TRUE(built.json.empty());
  EXPECT_NE(built.error.find("secret TOKEN"), std::string::npos) << built.error;
  EXPECT_NE(built.error.find("steps[0].execute.command"), std::string::npos) << built.error;
  // In an uploaded file too.
  ar_test::write_file(f.dir.path() / "data.txt", "token=hunter2-secret-value\n");
  auto again = build_job(load(f.wl), 1 << 20, {{"TOKEN", "hunter2-secret-value"}});
  EXPECT_NE(again.error.find("data.txt"), std::string::npos) << again.error;
}

TEST(Job, SubmitNamesTheFileThatCrossesTheCap) {
  Files f;
  ar_test::write_file(f.dir.path() / "data.txt", std::string(8000, 'x'));
  auto built = build_job(load(f.wl), 4096, {});
  EXPECT_TRUE(built.json.empty());
  EXPECT_NE(built.error.find("data.txt"), std::string::npos) << built.error;
  EXPECT_NE(built.error.find("job_max_bytes"), std::string::npos) << built.error;
}

TEST(Job, WorkerRejectsWhatIsNotAValidJob) {
  Files f;
  auto good = job_object(build_job(load(f.wl), 1 << 20, {}).json);
  auto expect_error = [](const std::string& text, const std::string& want, size_t max = 8 << 20) {
    auto p = parse_job(text, max);
    EXPECT_FALSE(p.job) << text.substr(0, 200);
    EXPECT_NE(p.error.find(want), std::string::npos) << p.error;
  };
  expect_error("{not json", "not valid JSON");
  expect_error(std::string(2 << 20, ' '), "larger than the limit of 1 MiB", 1 << 20);
  expect_error(std::string(100, '[') + std::string(100, ']'), "nested more than 64 deep");
  std::string many = "[";
  for (int i = 0; i < 1100000; ++i) many += "0,";
  expect_error(many + "0]", "more than 1000000 values");
  auto v = good;
  v["version"] = 2;
  expect_error(json::serialize(v), "unknown job version 2");
  v = good;
  v["document"].as_object().erase("name");
  expect_error(json::serialize(v), "workload schema");
  // A path that would leave the job's directory.
  for (const char* bad : {"../evil", "/etc/passwd", "a/../../b", "a//b", "."}) {
    v = good;
    v["uploads"].as_object()["2"].as_object()["files"].as_array()[0].as_object()["path"] = bad;
    expect_error(json::serialize(v), "not a safe relative path");
  }
  v = good;
  v["skills"].as_array()[0].as_object()["name"] = "..";
  expect_error(json::serialize(v), "one path component");
  v = good;
  v["uploads"].as_object()["1"] = v["uploads"].as_object()["0"];
  expect_error(json::serialize(v), "exactly for upload steps");
  v = good;
  v["uploads"].as_object()["0"].as_object()["files"].as_array()[0].as_object()["data"] = "@@";
  expect_error(json::serialize(v), "not valid base64");
}
