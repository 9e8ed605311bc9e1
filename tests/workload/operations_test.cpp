// SPDX-License-Identifier: Apache-2.0
// The operation catalogue's one schema file (schemas/operations.schema.json): every operation has
// its shapes, the workload schema and the MCP tools are built from them, the checked-in workload
// schema is the generated one, arguments become the requests the plugins take, and the real
// filesystem plugin's results have the shapes the file declares.
#include "operations.hpp"
#include "json_schema.hpp"
#include "mcp_tools.hpp"
#include "plugin_loader.hpp"
#include "test_util.hpp"
#include "workload.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace agent_runner;

namespace {

bool has_ref(const json::value& v) {
  if (v.is_array()) {
    for (const auto& e : v.get_array())
      if (has_ref(e)) return true;
  } else if (v.is_object()) {
    for (const auto& kv : v.get_object())
      if (kv.key() == "$ref" || has_ref(kv.value())) return true;
  }
  return false;
}

std::string problems(const json::value& schema, const json::value& instance) {
  std::string out;
  for (const auto& e : validate_json_schema(schema, instance))
    out += "  " + e.pointer + ": " + e.message + "\n";
  return out;
}

}  // namespace

TEST(Operations, EveryOperationHasEveryShape) {
  const auto& defs = operations_schema().at("$defs").as_object();
  for (const auto& info : kOperations) {
    for (auto front : {Front::step, Front::tool})
      for (auto shape : {Shape::arguments, Shape::request, Shape::result, Shape::output}) {
        const std::string name = shape_name(info.op, shape, front);
        ASSERT_TRUE(defs.contains(name)) << name;
        const json::object s = standalone_schema(info.op, shape, front);
        EXPECT_EQ(s.at("type"), "object") << name;
        EXPECT_FALSE(has_ref(s)) << name << " still refers to $defs";
      }
    EXPECT_EQ(op_from_tool(info.tool), info.op);
  }
  EXPECT_EQ(shape_name(Op::edit, Shape::arguments, Front::tool), "edit_file.tool");
  EXPECT_EQ(shape_name(Op::edit, Shape::arguments, Front::step), "edit_file.arguments");
  EXPECT_EQ(shape_name(Op::upload, Shape::arguments, Front::step), "upload.step");
  EXPECT_EQ(shape_name(Op::read, Shape::output, Front::tool), "read_file.output");
  EXPECT_EQ(shape_name(Op::ls, Shape::output, Front::tool), "ls.result");
  EXPECT_FALSE(op_from_tool("remove"));
}

TEST(Operations, WorkloadStepsAndMcpToolsComeFromTheCatalogue) {
  const auto& forms = workload_schema().at("$defs").at("step").at("oneOf").as_array();
  ASSERT_EQ(forms.size(), kOperations.size());
  ASSERT_EQ(mcp::tool_specs().size(), kOperations.size());
  for (size_t i = 0; i < kOperations.size(); ++i) {
    const std::string tool(kOperations[i].tool);
    EXPECT_EQ(forms[i].at("required").at(0).as_string(), tool);
    const auto& spec = mcp::tool_specs()[i];
    EXPECT_EQ(spec.name, tool);
    EXPECT_EQ(spec.input_schema, standalone_schema(spec.op, Shape::arguments, Front::tool));
    EXPECT_FALSE(spec.description.empty()) << tool;
  }
  // The shared argument descriptions reach both: the MCP tool and the workload step.
  EXPECT_EQ(mcp::find_tool("grep")->input_schema.at("properties").at("glob").at("description"),
            operations_schema()
                .at("$defs")
                .at("grep.arguments")
                .at("properties")
                .at("glob")
                .at("description"));
}

// Users (and their editors) read schemas/workload.schema.json; the host builds the same schema
// from the catalogue. A new operation without a regenerated file fails here.
TEST(Operations, TheCheckedInWorkloadSchemaIsTheGeneratedOne) {
  const fs::path file = fs::path(AR_TEST_SOURCE_DIR) / "schemas/workload.schema.json";
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  const json::value checked_in = json::parse(ss.str());
  if (checked_in != workload_schema()) {
    const fs::path generated = fs::path(AR_TEST_BINARY_DIR) / "workload.schema.generated.json";
    std::ofstream(generated) << json::serialize(workload_schema()) << "\n";
    ADD_FAILURE() << file << " differs from the schema the host builds; the host's is in "
                  << generated << " (format it, e.g. python3 -m json.tool, and copy it over)";
  }
}

TEST(Operations, ArgumentsBecomeTheRequestsPluginsTake) {
  auto r = make_request(
      Op::execute, Front::step,
      json::parse(R"({"command":"ls","timeout":5,"env":{"N":1,"B":true}})").as_object());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, json::parse(R"({"command":"ls","timeout_s":5,"env":{"N":"1","B":"true"}})"));

  // edit: a workload says old/new, an MCP client old_string/new_string; the plugin gets old/new.
  auto step = make_request(Op::edit, Front::step,
                           json::parse(R"({"path":"a","old":"x","new":"y"})").as_object());
  auto tool =
      make_request(Op::edit, Front::tool,
                   json::parse(R"({"path":"a","old_string":"x","new_string":"y"})").as_object());
  ASSERT_TRUE(step && tool);
  EXPECT_EQ(step->body, tool->body);
  EXPECT_EQ(step->body, json::parse(R"({"path":"a","old":"x","new":"y","replace_all":false})"));

  auto w = make_request(Op::write, Front::step,
                        json::parse(R"({"path":"a","content":"hi"})").as_object());
  ASSERT_TRUE(w);
  EXPECT_EQ(w->body, json::parse(R"({"path":"a","overwrite":false})"));
  EXPECT_EQ(w->inputs, std::vector<std::string>{"hi"});

  auto rd = make_request(Op::read, Front::tool,
                         json::parse(R"({"path":"a","offset":2.0,"limit":3})").as_object());
  ASSERT_TRUE(rd);
  EXPECT_EQ(rd->body, json::parse(R"({"path":"a","offset":2,"limit":3})"));

  auto bad =
      make_request(Op::upload, Front::tool,
                   json::parse(R"({"files":[{"path":"a","content_base64":"!!"}]})").as_object());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().status, AR_ERR_INVALID_ARGUMENT);
  EXPECT_NE(bad.error().message.find("files/0/content_base64"), std::string::npos);
  // A workload's upload moves local files: it is made by upload_request, not from arguments.
  EXPECT_FALSE(make_request(Op::upload, Front::step, json::object{}));
}

TEST(Operations, TheFilesystemPluginAnswersInTheDeclaredShapes) {
  PluginRegistry reg;
  reg.load_file(fs::path(AR_TEST_PLUGIN_DIR) / "filesystem.so", "test");
  auto plugin = reg.find("filesystem");
  ASSERT_TRUE(plugin);
  ar_test::TempDir root;
  OpResult err;
  // Relative paths: below the sandbox's workdir, whatever view of the filesystem this machine
  // gives (the rest of the root may be read-only).
  auto sb = Sandbox::create(plugin, {{"type", "filesystem"}, {"root_dir", root.path().string()}},
                            std::nullopt, err);
  ASSERT_TRUE(sb) << err.message();
  auto args = [](const char* text) { return json::parse(text).as_object(); };
  const std::vector<std::pair<Op, Request>> calls = {
      {Op::write,
       *make_request(Op::write, Front::tool, args(R"({"path":"d/a.txt","content":"x\ny\n"})"))},
      {Op::execute, *make_request(Op::execute, Front::tool, args(R"({"command":"echo hi"})"))},
      {Op::ls, *make_request(Op::ls, Front::tool, args(R"({"path":"d"})"))},
      {Op::read, *make_request(Op::read, Front::tool, args(R"({"path":"d/a.txt"})"))},
      {Op::edit, *make_request(Op::edit, Front::tool,
                               args(R"({"path":"d/a.txt","old_string":"x","new_string":"z"})"))},
      {Op::glob, *make_request(Op::glob, Front::tool, args(R"({"pattern":"**/*.txt"})"))},
      {Op::grep, *make_request(Op::grep, Front::tool, args(R"({"pattern":"z"})"))},
      {Op::upload, *make_request(Op::upload, Front::tool,
                                 args(R"({"files":[{"path":"d/b","content_base64":"AAE="}]})"))},
      {Op::download, download_request({"d/b", "d/none"})},
      {Op::remove,
       *make_request(Op::remove, Front::tool, args(R"({"path":"d","recursive":true})"))},
  };
  ASSERT_EQ(calls.size(), kOperations.size()) << "a new operation needs a case here";
  for (const auto& [op, req] : calls) {
    const std::string name = shape_name(op, Shape::request, Front::tool);
    EXPECT_EQ(problems(standalone_schema(op, Shape::request, Front::tool), req.body), "") << name;
    OpResult r = call(*sb, req);
    ASSERT_TRUE(r.ok()) << operation(op).tool << ": " << r.message();
    EXPECT_EQ(problems(standalone_schema(op, Shape::result, Front::tool), r.body), "")
        << operation(op).tool << " answered " << json::serialize(r.body);
  }
}
