// ONNX node conformance of the CPU reference: every node test (ONNX's backend test data, Debian's
// libonnx-testdata) whose operators are all supported is imported, shape-inferred and run by
// RunReference, and must match ONNX's expected outputs (rtol 1e-4, atol 1e-5; int64/bool exact)
// unless it is listed, with its reason, in node_tests_skipped.txt. One gtest runs them all and
// reports every failure at once (one ctest entry, not hundreds).
//
// VRSEG_NODE_TEST_FILTER=substring runs only the matching tests (for debugging);
// VRSEG_ONNX_TESTDATA_DIR and VRSEG_SOURCE_DIR override where the data and the skip list are.
#include "engine/node_conformance.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "engine/ir.h"
#include "engine/onnx_testdata.h"
#include "engine/ref.h"

namespace vrseg::engine::testing {
namespace {

std::string NodeDir() { return NodeTestDataDir(); }
std::string SkipListPath() { return EngineTestFile("node_tests_skipped.txt"); }

// Import → InferShapes → RunReference: what CI checks without a GPU.
NodeTestRunner ReferenceRunner() {
  return [](const std::string& path,
            const std::map<std::string, HostTensor>& feeds) -> Result<NodeTestOutputs> {
    VRSEG_ASSIGN_OR_RETURN(Graph g, ImportOnnx(path));
    VRSEG_RETURN_IF_ERROR(InferShapes(g));
    return RunReference(g, feeds);
  };
}

// Import → RunReference with no shape inference and every input fed at run time: the reference
// operators alone, on every node test, whatever the engine's build-time rules refuse.
NodeTestRunner RawReferenceRunner() {
  return [](const std::string& path,
            const std::map<std::string, HostTensor>& feeds) -> Result<NodeTestOutputs> {
    VRSEG_ASSIGN_OR_RETURN(Graph g, ImportOnnx(path));
    return RunReference(g, feeds);
  };
}

bool HaveTestData() { return !ListDir(NodeDir()).empty(); }

TEST(NodeConformance, ReferenceMatchesOnnxNodeTests) {
  if (!HaveTestData()) {
    GTEST_SKIP() << "ONNX node test data not installed (" << NodeDir()
                 << "); install the Debian package libonnx-testdata";
  }
  auto skips = ReadSkipList(SkipListPath());
  ASSERT_TRUE(skips.ok()) << skips.status().ToString();
  const char* filter = std::getenv("VRSEG_NODE_TEST_FILTER");
  const ConformanceReport rep =
      RunNodeConformance(NodeDir(), SupportedOps(), ReferenceRunner(), NodeTestTolerance{}, *skips,
                         filter ? filter : "");
  // Per-operator tallies, so a regression shows where it is.
  std::cout << rep.Summary() << "\n" << TallyByOp(rep);
  EXPECT_GT(rep.passed, filter ? 0 : 250) << "far fewer node tests passed than expected";
  for (const std::string& p : rep.problems) ADD_FAILURE() << p;
}

// The same tests with nothing baked and no shape inference: every reference operator on the raw
// imported graph. The skip list applies (a skip here must be listed), but listed tests may pass.
TEST(NodeConformance, RawReferenceMatchesOnnxNodeTests) {
  if (!HaveTestData()) {
    GTEST_SKIP() << "ONNX node test data not installed (" << NodeDir() << ")";
  }
  auto skips = ReadSkipList(SkipListPath());
  ASSERT_TRUE(skips.ok()) << skips.status().ToString();
  const char* filter = std::getenv("VRSEG_NODE_TEST_FILTER");
  const ConformanceReport rep =
      RunNodeConformance(NodeDir(), SupportedOps(), RawReferenceRunner(), NodeTestTolerance{},
                         *skips, filter ? filter : "", BakeInputs::kNone, false);
  std::cout << rep.Summary() << "\n" << TallyByOp(rep);
  EXPECT_GT(rep.passed, filter ? 0 : 250) << "far fewer node tests passed than expected";
  for (const std::string& p : rep.problems) ADD_FAILURE() << p;
}

// The harness itself must be able to fail: a runner that is off by 1e-3 fails test_relu, one
// that returns the wrong shape or type fails, and an unsupported answer is a skip.
TEST(NodeConformance, HarnessDetectsWrongAnswers) {
  if (!HaveTestData()) GTEST_SKIP() << "ONNX node test data not installed (" << NodeDir() << ")";
  std::vector<NodeTest> tests = DiscoverNodeTests(NodeDir(), {"Relu"});
  ASSERT_EQ(tests.size(), 1u);
  ASSERT_EQ(tests[0].name, "test_relu");
  auto relu = [](const std::map<std::string, HostTensor>& feeds, float bias) {
    HostTensor y = feeds.begin()->second;
    for (float& v : y.f) v = std::max(v, 0.f) + bias;
    return NodeTestOutputs{{"y", y}};
  };
  NodeTestRunner exact = [&](const std::string&, const std::map<std::string, HostTensor>& f)
      -> Result<NodeTestOutputs> { return relu(f, 0.f); };
  NodeTestRunner off = [&](const std::string&,
                           const std::map<std::string, HostTensor>& f) -> Result<NodeTestOutputs> {
    return relu(f, 1e-3f);
  };
  NodeTestRunner reshaped =
      [&](const std::string&,
          const std::map<std::string, HostTensor>& f) -> Result<NodeTestOutputs> {
    NodeTestOutputs o = relu(f, 0.f);
    o["y"].dims = {o["y"].elements()};
    return o;
  };
  NodeTestRunner unsupported =
      [](const std::string&, const std::map<std::string, HostTensor>&) -> Result<NodeTestOutputs> {
    return Status::Unsupported("Relu node 'x': not today");
  };
  EXPECT_EQ(RunNodeTest(tests[0], exact, {}).verdict, NodeVerdict::kPass);
  const NodeTestResult r = RunNodeTest(tests[0], off, {});
  EXPECT_EQ(r.verdict, NodeVerdict::kFail);
  EXPECT_NE(r.detail.find("elements differ"), std::string::npos) << r.detail;
  EXPECT_EQ(RunNodeTest(tests[0], reshaped, {}).verdict, NodeVerdict::kFail);
  EXPECT_EQ(RunNodeTest(tests[0], unsupported, {}).verdict, NodeVerdict::kSkip);

  // Skip-list honesty: a listed test that passes, an unlisted skip, a stale entry.
  ConformanceReport rep =
      RunNodeConformance(NodeDir(), {"Relu"}, exact, {}, {{"test_relu", "listed"}});
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_NE(rep.problems[0].find("passes but is in the skip list"), std::string::npos);
  rep = RunNodeConformance(NodeDir(), {"Relu"}, unsupported, {}, {});
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_NE(rep.problems[0].find("not in the skip list"), std::string::npos);
  rep = RunNodeConformance(NodeDir(), {"Relu"}, exact, {}, {{"test_nothing", "stale"}});
  ASSERT_EQ(rep.problems.size(), 1u);
  EXPECT_NE(rep.problems[0].find("test_nothing"), std::string::npos);
}

TEST(NodeConformance, CompareTensorTolerances) {
  HostTensor want;
  want.dims = {3};
  want.f = {1.f, -100.f, 0.f};
  HostTensor got = want;
  NodeTestTolerance tol;  // 1e-4 relative, 1e-5 absolute
  EXPECT_EQ(CompareTensor("y", got, want, tol), "");
  got.f[1] = -100.009f;  // within 1e-5 + 1e-4 * 100
  EXPECT_EQ(CompareTensor("y", got, want, tol), "");
  got.f[1] = -100.02f;
  EXPECT_NE(CompareTensor("y", got, want, tol), "");
  got = want;
  got.f[2] = 2e-5f;  // above atol at zero
  EXPECT_NE(CompareTensor("y", got, want, tol), "");
  HostTensor wi;
  wi.type = ElemType::kInt64;
  wi.dims = {2};
  wi.i = {1, 2};
  HostTensor gi = wi;
  EXPECT_EQ(CompareTensor("i", gi, wi, tol), "");
  gi.i[1] = 3;
  EXPECT_NE(CompareTensor("i", gi, wi, tol), "");
  gi = wi;
  gi.type = ElemType::kBool;
  EXPECT_NE(CompareTensor("i", gi, wi, tol), "");
}

TEST(NodeConformance, ReadsTensorProtos) {
  if (!HaveTestData()) GTEST_SKIP() << "ONNX node test data not installed (" << NodeDir() << ")";
  // test_add: x, y float [3,4,5]; test_equal's output is bool; test_gather_0's indices int64.
  std::string name;
  auto x = ReadTensorFile(NodeDir() + "/test_add/test_data_set_0/input_0.pb", &name);
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  EXPECT_EQ(name, "x");
  EXPECT_EQ(x->type, ElemType::kFloat);
  EXPECT_EQ(x->dims, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(x->f.size(), 60u);
  auto eq = ReadTensorFile(NodeDir() + "/test_equal/test_data_set_0/output_0.pb");
  ASSERT_TRUE(eq.ok()) << eq.status().ToString();
  EXPECT_EQ(eq->type, ElemType::kBool);
  EXPECT_EQ(static_cast<int64_t>(eq->i.size()), eq->elements());
  auto u8 = ReadTensorFile(NodeDir() + "/test_add_uint8/test_data_set_0/input_0.pb");
  EXPECT_EQ(u8.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(ReadTensorFile("/nonexistent.pb").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace vrseg::engine::testing
