// SPDX-License-Identifier: Apache-2.0
// (operation, arguments) -> the plugin's request: the one translation every front end uses.
#include "operations.hpp"

#include <agent_runner/text.hpp>

namespace agent_runner {
namespace json = boost::json;

void throw_exception_from_error(const RequestError& e, const boost::source_location&) {
  throw std::invalid_argument(e.message);
}

namespace {

void copy_if(const json::object& from, json::object& to, std::string_view key,
             std::string_view as = {}) {
  if (const json::value* v = from.if_contains(key); v && !v->is_null())
    to[as.empty() ? key : as] = *v;
}

// A whole number as an integer (5.0 -> 5): plugins read integers.
void copy_int(const json::object& from, json::object& to, std::string_view key) {
  if (const json::value* v = from.if_contains(key))
    if (auto n = exact_int(*v)) to[key] = *n;
}

void copy_bool(const json::object& from, json::object& to, std::string_view key) {
  const json::value* v = from.if_contains(key);
  to[key] = v && v->is_bool() && v->get_bool();
}

// Environment values may be written as numbers or booleans; the plugin takes strings.
json::object env_strings(const json::object& env) {
  json::object out;
  for (const auto& kv : env)
    out[kv.key()] = kv.value().is_string() ? kv.value() : json::value(json::serialize(kv.value()));
  return out;
}

}  // namespace

boost::system::result<Request, RequestError> make_request(Op op, Front front,
                                                          const json::object& args) {
  Request r;
  r.op = op;
  json::object& req = r.body;
  switch (op) {
    case Op::execute:
      copy_if(args, req, "command");
      copy_if(args, req, "timeout", "timeout_s");
      copy_if(args, req, "cwd");
      if (const auto* env = args.if_contains("env"); env && env->is_object())
        req["env"] = env_strings(env->get_object());
      break;
    case Op::read:
      copy_if(args, req, "path");
      copy_int(args, req, "offset");
      copy_int(args, req, "limit");
      break;
    case Op::write:
      copy_if(args, req, "path");
      copy_bool(args, req, "overwrite");
      if (const auto* c = args.if_contains("content"); c && c->is_string())
        r.inputs.emplace_back(c->get_string());
      break;
    case Op::edit:
      copy_if(args, req, "path");
      copy_if(args, req, front == Front::tool ? "old_string" : "old", "old");
      copy_if(args, req, front == Front::tool ? "new_string" : "new", "new");
      copy_bool(args, req, "replace_all");
      break;
    case Op::ls:
      req["path"] = args.contains("path") ? args.at("path") : json::value(".");
      break;
    case Op::glob:
      for (auto key : {"pattern", "path"}) copy_if(args, req, key);
      break;
    case Op::grep:
      for (auto key : {"pattern", "path", "glob", "literal", "ignore_case"})
        copy_if(args, req, key);
      copy_int(args, req, "max_matches");
      break;
    case Op::upload: {
      if (front == Front::step)
        return RequestError{AR_ERR_INTERNAL, "a workload's upload is made by upload_request"};
      std::vector<UploadFile> files;
      const auto& in = args.at("files").as_array();
      for (size_t i = 0; i < in.size(); ++i) {
        const auto& f = in[i].as_object();
        auto bytes = sdk::base64_decode(f.at("content_base64").as_string());
        if (!bytes)
          return RequestError{AR_ERR_INVALID_ARGUMENT,
                              "files/" + std::to_string(i) +
                                  "/content_base64: is not valid base64 (RFC 4648, with or "
                                  "without padding; whitespace is ignored)"};
        UploadFile u{std::string(f.at("path").as_string()), -1, std::move(*bytes)};
        if (auto mode = int_member(f, "mode")) u.mode = static_cast<int>(*mode);
        files.push_back(std::move(u));
      }
      return upload_request(std::move(files));
    }
    case Op::download:
      if (front == Front::step)
        return RequestError{AR_ERR_INTERNAL, "a workload's download is made by download_request"};
      copy_if(args, req, "paths");
      break;
    case Op::remove:
      copy_if(args, req, "path");
      copy_bool(args, req, "recursive");
      break;
  }
  return r;
}

Request upload_request(std::vector<UploadFile> files) {
  Request r;
  r.op = Op::upload;
  json::array list;
  for (auto& f : files) {
    json::object entry{{"path", f.path}};
    if (f.mode >= 0) entry["mode"] = f.mode;
    list.push_back(std::move(entry));
    r.inputs.push_back(std::move(f.content));
  }
  r.body["files"] = std::move(list);
  return r;
}

Request download_request(const std::vector<std::string>& paths) {
  Request r;
  r.op = Op::download;
  json::array list;
  for (const auto& p : paths) list.emplace_back(p);
  r.body["paths"] = std::move(list);
  return r;
}

OpResult call(Sandbox& sandbox, const Request& request, CallOptions options) {
  options.inputs.assign(request.inputs.begin(), request.inputs.end());
  return sandbox.call(request.op, request.body, options);
}

}  // namespace agent_runner
