// ONNX node conformance harness: runs ONNX's backend node tests (data/node/test_*: model.onnx,
// test_data_set_N/input_K.pb, output_K.pb) through any runner — the CPU reference in CI, the GPU
// engine on the device machine — and checks the outputs within tolerances. Header-only (the test
// binary globs only *_test.cc files), so a GPU test can include it and pass its own runner.
//
// A test is "in scope" when every operator of its model is in the given supported list. Verdicts:
//   pass — every output matched;
//   skip — the test cannot run on the engine for a known reason: an input/output element type the
//          engine lacks (double, uint8, int32, ...), or the runner answered kUnsupported;
//   fail — anything else (a wrong value, a wrong shape, any other error).
// The committed skip list (node_tests_skipped.txt: "test_name  reason" per line) keeps skipping
// honest: a skip not in the list, a listed test that passes, and a listed name that is not an
// in-scope test are each reported as problems.
//
// By default shape parameters fed as graph inputs are baked into the model as initializers (the
// engine needs them at build time); see BakeInputs.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/onnx_testdata.h"
#include "engine/ref.h"
#include "vrseg/status.h"

namespace vrseg::engine::testing {

using NodeTestOutputs = std::map<std::string, HostTensor>;
// Runs a model file on feeds (by graph input name); returns every graph output by name.
using NodeTestRunner = std::function<Result<NodeTestOutputs>(
    const std::string& model_path, const std::map<std::string, HostTensor>& feeds)>;

struct NodeTestTolerance {
  double rtol = 1e-4;  // float outputs: |got - want| <= atol + rtol * |want|
  double atol = 1e-5;  // int64 and bool outputs are compared exactly
};

struct NodeTest {
  std::string name;  // "test_conv_with_strides_padding"
  std::string dir;
  std::vector<std::string> ops;  // distinct op types of the model
};

enum class NodeVerdict { kPass, kSkip, kFail };

struct NodeTestResult {
  std::string name;
  std::vector<std::string> ops;
  NodeVerdict verdict = NodeVerdict::kFail;
  std::string detail;  // why it failed or was skipped
};

inline std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

inline bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

// The node tests under `node_dir` whose models use only `supported` operators (sorted by name).
// Models that cannot be read are listed with an empty op list (they then fail, visibly).
inline std::vector<NodeTest> DiscoverNodeTests(const std::string& node_dir,
                                               const std::vector<std::string>& supported) {
  const std::set<std::string> sup(supported.begin(), supported.end());
  std::vector<NodeTest> out;
  for (const std::string& name : ListDir(node_dir)) {
    if (name.rfind("test_", 0) != 0) continue;
    NodeTest t;
    t.name = name;
    t.dir = node_dir + "/" + name;
    auto model = ReadModelFile(t.dir + "/model.onnx");
    if (!model.ok()) {
      out.push_back(t);
      continue;
    }
    std::set<std::string> ops;
    bool in_scope = true;
    for (const auto& n : model->graph().node()) {
      ops.insert(n.op_type());
      if (!n.domain().empty() && n.domain() != "ai.onnx") in_scope = false;
      if (!sup.count(n.op_type())) in_scope = false;
    }
    if (!in_scope || ops.empty()) continue;
    t.ops.assign(ops.begin(), ops.end());
    out.push_back(std::move(t));
  }
  return out;
}

// Compares one output; "" when it matches, else a description of the first mismatch.
inline std::string CompareTensor(const std::string& name, const HostTensor& got,
                                 const HostTensor& want, const NodeTestTolerance& tol) {
  if (got.type != want.type) {
    return name + ": element type " + ElemTypeName(got.type) + ", expected " +
           ElemTypeName(want.type);
  }
  auto dims = [](const std::vector<int64_t>& d) {
    std::string s = "[";
    for (size_t i = 0; i < d.size(); ++i) {
      if (i) s += ',';
      s += std::to_string(d[i]);
    }
    return s + "]";
  };
  if (got.dims != want.dims)
    return name + ": shape " + dims(got.dims) + ", expected " + dims(want.dims);
  if (want.type == ElemType::kFloat) {
    if (got.f.size() != want.f.size()) return name + ": element count differs";
    size_t bad = 0, first = 0;
    double worst = 0;
    for (size_t e = 0; e < want.f.size(); ++e) {
      const double g = got.f[e], w = want.f[e];
      bool ok;
      if (std::isnan(w) || std::isnan(g)) {
        ok = std::isnan(w) && std::isnan(g);
      } else if (std::isinf(w) || std::isinf(g)) {
        ok = g == w;
      } else {
        const double d = std::fabs(g - w);
        ok = d <= tol.atol + tol.rtol * std::fabs(w);
        worst = std::max(worst, d);
      }
      if (!ok && bad++ == 0) first = e;
    }
    if (bad == 0) return "";
    std::ostringstream os;
    os << name << ": " << bad << " of " << want.f.size() << " elements differ (max abs diff "
       << worst << "); first at " << first << ": got " << got.f[first] << ", expected "
       << want.f[first];
    return os.str();
  }
  if (got.i.size() != want.i.size()) return name + ": element count differs";
  for (size_t e = 0; e < want.i.size(); ++e) {
    if (got.i[e] != want.i[e]) {
      return name + ": element " + std::to_string(e) + " is " + std::to_string(got.i[e]) +
             ", expected " + std::to_string(want.i[e]);
    }
  }
  return "";
}

// How test inputs reach the runner. The engine needs shape parameters (Reshape's shape, Slice's
// starts, Resize's sizes, ...) at build time, while ONNX's node tests feed them as graph inputs;
// baking turns such inputs into initializers holding the test's values (a model like the ones the
// engine builds) and feeds only the rest.
enum class BakeInputs {
  kNone,        // feed every input as it is
  kParameters,  // bake inputs in parameter slots; if the runner answers kUnsupported, retry with
                // every input baked (the whole graph then folds at build time)
};

// Input slots that carry parameters or weights rather than data, per operator: the engine takes
// them at build time (real models hold them as initializers).
inline bool IsParameterSlot(const std::string& op, int slot) {
  static const std::map<std::string, std::set<int>> kSlots = {
      {"Reshape", {1}},
      {"Expand", {1}},
      {"Slice", {1, 2, 3, 4}},
      {"Split", {1}},
      {"Squeeze", {1}},
      {"Unsqueeze", {1}},
      {"Pad", {1, 2, 3}},
      {"Resize", {1, 2, 3}},
      {"Upsample", {1}},
      {"Clip", {1, 2}},
      {"ReduceMean", {1}},
      {"ConstantOfShape", {0}},
      {"Range", {0, 1, 2}},
      {"Dropout", {1, 2}},
      {"Gather", {1}},
      {"Conv", {1, 2}},                      // weights, bias
      {"ConvTranspose", {1, 2}},             // weights, bias
      {"Gemm", {1, 2}},                      // B, C
      {"BatchNormalization", {1, 2, 3, 4}},  // scale, bias, mean, variance
  };
  auto it = kSlots.find(op);
  return it != kSlots.end() && it->second.count(slot) > 0;
}

inline onnx::TensorProto TensorToProto(const std::string& name, const HostTensor& t) {
  onnx::TensorProto p;
  p.set_name(name);
  for (int64_t d : t.dims) p.add_dims(d);
  if (t.type == ElemType::kFloat) {
    p.set_data_type(onnx::TensorProto::FLOAT);
    for (float v : t.f) p.add_float_data(v);
  } else if (t.type == ElemType::kInt64) {
    p.set_data_type(onnx::TensorProto::INT64);
    for (int64_t v : t.i) p.add_int64_data(v);
  } else {
    p.set_data_type(onnx::TensorProto::BOOL);
    for (int64_t v : t.i) p.add_int32_data(v != 0 ? 1 : 0);
  }
  return p;
}

// Writes a copy of `model` with the named inputs turned into initializers holding `feeds`' values
// to `path`; removes them from `feeds`.
inline Status WriteBakedModel(onnx::ModelProto model, const std::set<std::string>& bake,
                              std::map<std::string, HostTensor>* feeds, const std::string& path) {
  onnx::GraphProto* g = model.mutable_graph();
  for (const std::string& name : bake) {
    auto it = feeds->find(name);
    if (it == feeds->end()) continue;
    *g->add_initializer() = TensorToProto(name, it->second);
    feeds->erase(it);
  }
  if (model.ir_version() >= 4) {  // newer IRs need not list initializers as inputs
    google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> kept;
    for (const auto& in : g->input()) {
      if (!bake.count(in.name())) *kept.Add() = in;
    }
    g->mutable_input()->Swap(&kept);
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f || !model.SerializeToOstream(&f)) return Status::IoError(path + ": cannot write");
  return Status::Ok();
}

// Runs every test_data_set_* of one node test.
inline NodeTestResult RunNodeTest(const NodeTest& t, const NodeTestRunner& runner,
                                  const NodeTestTolerance& tol,
                                  BakeInputs bake = BakeInputs::kParameters) {
  NodeTestResult r;
  r.name = t.name;
  r.ops = t.ops;
  auto fail = [&](const std::string& why) {
    r.verdict = NodeVerdict::kFail;
    r.detail = why;
    return r;
  };
  auto skip = [&](const std::string& why) {
    r.verdict = NodeVerdict::kSkip;
    r.detail = why;
    return r;
  };
  const std::string model_path = t.dir + "/model.onnx";
  auto model = ReadModelFile(model_path);
  if (!model.ok()) return fail(model.status().ToString());
  for (const auto& op : model->opset_import()) {
    if ((op.domain().empty() || op.domain() == "ai.onnx") && op.version() > 17) {
      return skip("opset " + std::to_string(op.version()) + " (the engine reads 11-17)");
    }
  }
  const auto& graph = model->graph();
  std::set<std::string> inits;
  for (const auto& i : graph.initializer()) inits.insert(i.name());
  std::vector<std::string> in_names, out_names;
  for (const auto& i : graph.input()) {
    if (inits.count(i.name())) continue;
    if (!i.type().has_tensor_type()) return skip("input '" + i.name() + "' is not a tensor");
    in_names.push_back(i.name());
  }
  for (const auto& o : graph.output()) {
    if (!o.type().has_tensor_type()) return skip("output '" + o.name() + "' is not a tensor");
    out_names.push_back(o.name());
  }

  int sets = 0;
  for (const std::string& sub : ListDir(t.dir)) {
    if (sub.rfind("test_data_set_", 0) != 0) continue;
    ++sets;
    const std::string sdir = t.dir + "/" + sub;
    std::map<std::string, HostTensor> feeds;
    for (size_t k = 0; k < in_names.size(); ++k) {
      const std::string path = sdir + "/input_" + std::to_string(k) + ".pb";
      if (!FileExists(path)) break;  // trailing optional inputs may be left out
      auto in = ReadTensorFile(path);
      if (!in.ok()) {
        if (in.status().code() == StatusCode::kUnsupported) {
          return skip("input '" + in_names[k] +
                      "': " + in.status().message().substr(path.size() + 2));
        }
        return fail(in.status().ToString());
      }
      feeds[in_names[k]] = std::move(*in);
    }
    std::vector<HostTensor> want;
    for (size_t k = 0; k < out_names.size(); ++k) {
      const std::string path = sdir + "/output_" + std::to_string(k) + ".pb";
      auto out = ReadTensorFile(path);
      if (!out.ok()) {
        if (out.status().code() == StatusCode::kUnsupported) {
          return skip("output '" + out_names[k] +
                      "': " + out.status().message().substr(path.size() + 2));
        }
        return fail(out.status().ToString());
      }
      want.push_back(std::move(*out));
    }
    Result<NodeTestOutputs> got = Status::Internal("not run");
    if (bake == BakeInputs::kNone) {
      got = runner(model_path, feeds);
    } else {
      // Parameters and weights first; then, if the engine refuses, everything (a fully folded
      // graph).
      std::set<std::string> params, all(in_names.begin(), in_names.end());
      for (const auto& n : graph.node()) {
        for (int k = 0; k < n.input_size(); ++k) {
          if (IsParameterSlot(n.op_type(), k) && all.count(n.input(k))) params.insert(n.input(k));
        }
      }
      const std::string tmp = (std::filesystem::temp_directory_path() /
                               ("vrseg_node_" + std::to_string(getpid()) + "_" + t.name + ".onnx"))
                                  .string();
      std::string first_refusal;  // why the engine refused the graph as fed
      for (int attempt = 0; attempt < 2; ++attempt) {
        const std::set<std::string>& which = attempt == 0 ? params : all;
        if (attempt == 1 && params == all) break;
        std::map<std::string, HostTensor> rest = feeds;
        std::string path = model_path;
        if (!which.empty()) {
          const Status w = WriteBakedModel(*model, which, &rest, tmp);
          if (!w.ok()) return fail(w.ToString());
          path = tmp;
        }
        got = runner(path, rest);
        if (attempt == 1 && !got.ok()) {
          // Say why the first try was refused too: that is the engine's limit.
          const std::string both =
              first_refusal + "; with every input baked: " + got.status().message();
          got = Status(got.status().code(), both);
        }
        if (got.ok() || got.status().code() != StatusCode::kUnsupported) break;
        if (attempt == 0 && params != all) {
          first_refusal = got.status().message();
          r.detail = "folded: every input baked as a constant";
        }
      }
      std::remove(tmp.c_str());
    }
    if (!got.ok()) {
      if (got.status().code() == StatusCode::kUnsupported) return skip(got.status().message());
      return fail(got.status().ToString());
    }
    std::string problems;
    for (size_t k = 0; k < out_names.size(); ++k) {
      auto it = got->find(out_names[k]);
      if (it == got->end()) {
        problems += (problems.empty() ? "" : "; ") + out_names[k] + ": not produced";
        continue;
      }
      const std::string d = CompareTensor(out_names[k], it->second, want[k], tol);
      if (!d.empty()) problems += (problems.empty() ? "" : "; ") + d;
    }
    if (!problems.empty()) return fail(sub + ": " + problems);
  }
  if (sets == 0) return fail("no test_data_set_* directory");
  r.verdict = NodeVerdict::kPass;  // detail may say it passed only once folded
  return r;
}

// Reads "test_name  reason" lines ('#' starts a comment, blank lines ignored).
inline Result<std::map<std::string, std::string>> ReadSkipList(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound(path + ": cannot open the skip list");
  std::map<std::string, std::string> out;
  std::string line;
  int no = 0;
  while (std::getline(f, line)) {
    ++no;
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream is(line);
    std::string name;
    if (!(is >> name)) continue;
    std::string reason;
    std::getline(is, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    if (reason.empty()) {
      return Status::InvalidArgument(path + ":" + std::to_string(no) + ": '" + name +
                                     "' has no reason");
    }
    if (out.count(name)) {
      return Status::InvalidArgument(path + ":" + std::to_string(no) + ": '" + name +
                                     "' is listed twice");
    }
    out[name] = reason;
  }
  return out;
}

struct ConformanceReport {
  std::vector<NodeTestResult> results;
  std::vector<std::string> problems;  // empty when the run is clean
  int passed = 0, skipped = 0, failed = 0;
  int folded = 0;  // passes that needed every input baked (the graph folded at build time)

  std::string Summary() const {
    std::ostringstream os;
    os << results.size() << " node tests of supported operators: " << passed << " passed ("
       << folded << " only once folded), " << skipped << " skipped (listed), " << failed
       << " failed; " << problems.size() << " problem(s)";
    return os.str();
  }
};

// Runs every in-scope node test under `node_dir` through `runner` and checks the verdicts against
// `skip_list`. `filter`, if not empty, keeps only tests whose name contains it (then stale
// skip-list entries are not reported).
inline ConformanceReport RunNodeConformance(
    const std::string& node_dir, const std::vector<std::string>& supported,
    const NodeTestRunner& runner, const NodeTestTolerance& tol,
    const std::map<std::string, std::string>& skip_list, const std::string& filter = "",
    BakeInputs bake = BakeInputs::kParameters, bool listed_passes_are_problems = true) {
  ConformanceReport rep;
  std::set<std::string> seen;
  for (const NodeTest& t : DiscoverNodeTests(node_dir, supported)) {
    if (!filter.empty() && t.name.find(filter) == std::string::npos) continue;
    seen.insert(t.name);
    NodeTestResult r = RunNodeTest(t, runner, tol, bake);
    const bool listed = skip_list.count(t.name) > 0;
    switch (r.verdict) {
      case NodeVerdict::kPass:
        ++rep.passed;
        if (!r.detail.empty()) ++rep.folded;
        if (listed && listed_passes_are_problems) {
          rep.problems.push_back(t.name + ": passes but is in the skip list (remove it)");
        }
        break;
      case NodeVerdict::kSkip:
        ++rep.skipped;
        if (!listed) {
          rep.problems.push_back(t.name + ": skipped (" + r.detail + ") but not in the skip list");
        }
        break;
      case NodeVerdict::kFail:
        ++rep.failed;
        rep.problems.push_back(t.name + ": FAILED: " + r.detail);
        break;
    }
    rep.results.push_back(std::move(r));
  }
  if (filter.empty()) {
    for (const auto& [name, reason] : skip_list) {
      if (!seen.count(name)) {
        rep.problems.push_back(name +
                               ": in the skip list but not a node test of a supported "
                               "operator (remove it)");
      }
    }
  }
  return rep;
}

// ---- test-binary helpers (need the engine_tests compile definitions) ----------------------------
#if defined(VRSEG_ONNX_TESTDATA_DIR) && defined(VRSEG_SOURCE_DIR_FOR_TESTS)
// ONNX's node tests: $VRSEG_ONNX_TESTDATA_DIR/data/node when set (the GPU machine has no Debian
// package; carry the data there), else the directory found at configure time.
inline std::string NodeTestDataDir() {
  const char* env = std::getenv("VRSEG_ONNX_TESTDATA_DIR");
  return std::string(env && *env ? env : VRSEG_ONNX_TESTDATA_DIR) + "/data/node";
}

// tests/engine/<file> of the source tree: $VRSEG_SOURCE_DIR when set, else the configured one.
inline std::string EngineTestFile(const std::string& file) {
  const char* env = std::getenv("VRSEG_SOURCE_DIR");
  return std::string(env && *env ? env : VRSEG_SOURCE_DIR_FOR_TESTS) + "/tests/engine/" + file;
}
#endif

// "  Conv: 6 pass, 0 skip, 0 fail" per operator.
inline std::string TallyByOp(const ConformanceReport& rep) {
  std::map<std::string, std::array<int, 3>> per_op;
  for (const NodeTestResult& r : rep.results) {
    for (const std::string& op : r.ops) ++per_op[op][static_cast<int>(r.verdict)];
  }
  std::string table;
  for (const auto& [op, n] : per_op) {
    table += "  " + op + ": " + std::to_string(n[0]) + " pass, " + std::to_string(n[1]) +
             " skip, " + std::to_string(n[2]) + " fail\n";
  }
  return table;
}

}  // namespace vrseg::engine::testing
