// The optimiser and layout pass: structure (what got folded/fused/converted), folded weights
// against hand computation, and results before vs after against the CPU reference (RunReference).
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>

#include "engine/ir.h"
#include "engine/ref.h"
#include "frontend_model.h"

namespace vrseg::engine {
namespace {

using testing::ModelBuilder;

Result<Graph> Load(const ModelBuilder& mb) {
  VRSEG_ASSIGN_OR_RETURN(Graph g, ImportOnnxBytes(mb.Bytes(), "test.onnx"));
  VRSEG_RETURN_IF_ERROR(InferShapes(g));
  g.Compact();
  return g;
}

int Count(const Graph& g, const std::string& op) {
  int c = 0;
  for (const Node& n : g.nodes) c += (!n.dead && n.op == op) ? 1 : 0;
  return c;
}

const Node* FindOp(const Graph& g, const std::string& op) {
  for (const Node& n : g.nodes) {
    if (!n.dead && n.op == op) return &n;
  }
  return nullptr;
}

std::vector<float> Random(size_t n, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::map<std::string, HostTensor> RandomFeeds(const Graph& g, int64_t batch, uint32_t seed) {
  std::map<std::string, HostTensor> feeds;
  for (int v : g.inputs) {
    HostTensor t;
    t.type = ElemType::kFloat;
    t.dims = Concrete(g.values[v].shape, batch);
    int64_t n = 1;
    for (int64_t d : t.dims) n *= d;
    t.f = Random(static_cast<size_t>(n), seed++);
    feeds[g.values[v].name] = t;
  }
  return feeds;
}

// Runs `before` and `after` on the same random input; every graph output must agree.
void ExpectSameResults(const Graph& before, const Graph& after, int64_t batch, float tol) {
  auto feeds = RandomFeeds(before, batch, 42);
  auto a = RunReference(before, feeds);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = RunReference(after, feeds);
  ASSERT_TRUE(b.ok()) << b.status().ToString() << "\n" << after.Dump();
  ASSERT_EQ(a->size(), b->size());
  for (const auto& [name, ta] : *a) {
    auto it = b->find(name);
    ASSERT_NE(it, b->end()) << "output " << name << " missing after optimisation";
    const HostTensor& tb = it->second;
    ASSERT_EQ(ta.dims, tb.dims) << name;
    ASSERT_EQ(ta.f.size(), tb.f.size()) << name;
    double worst = 0;
    for (size_t i = 0; i < ta.f.size(); ++i) {
      const double d = std::fabs(ta.f[i] - tb.f[i]) / std::max(1.0, std::fabs(static_cast<double>(ta.f[i])));
      worst = std::max(worst, d);
    }
    EXPECT_LE(worst, tol) << name;
    EXPECT_EQ(ta.i, tb.i) << name;
  }
}

// x -> Conv -> BN -> Relu -> Add(x) -> Relu -> Identity -> y ; plus Conv -> Mul(c) -> Add(c) -> Clip(0,6).
ModelBuilder ResidualBlock() {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 4, 6, 5});
  mb.InitF("w1", {4, 4, 3, 3}, Random(144, 1, -0.5f, 0.5f));
  auto* c1 = mb.Node("Conv", {"x", "w1"}, {"c1"}, "conv1");
  ModelBuilder::AttrIs(c1, "pads", {1, 1, 1, 1});
  mb.InitF("bn_s", {4}, {1.f, 2.f, 0.5f, -1.f});
  mb.InitF("bn_b", {4}, {0.1f, 0.2f, 0.3f, 0.4f});
  mb.InitF("bn_m", {4}, {0.f, 0.5f, -0.5f, 1.f});
  mb.InitF("bn_v", {4}, {1.f, 2.f, 0.5f, 4.f});
  mb.Node("BatchNormalization", {"c1", "bn_s", "bn_b", "bn_m", "bn_v"}, {"b1"}, "bn1");
  mb.Node("Relu", {"b1"}, {"r1"}, "relu1");
  mb.InitF("w2", {4, 1, 3, 3}, Random(36, 2, -0.5f, 0.5f));
  mb.InitF("bias2", {4}, {0.f, 1.f, 2.f, 3.f});
  auto* c2 = mb.Node("Conv", {"r1", "w2", "bias2"}, {"c2"}, "conv2_dw");
  ModelBuilder::AttrIs(c2, "pads", {1, 1, 1, 1});
  ModelBuilder::AttrI(c2, "group", 4);
  mb.InitF("mulc", {4, 1, 1}, {2.f, -1.f, 0.5f, 3.f});
  mb.Node("Mul", {"c2", "mulc"}, {"m2"}, "mul2");
  mb.InitF("addc", {1, 4, 1, 1}, {1.f, 2.f, 3.f, 4.f});
  mb.Node("Add", {"m2", "addc"}, {"a2"}, "add2");
  mb.Node("Add", {"a2", "x"}, {"res"}, "residual");
  mb.Node("Relu", {"res"}, {"r2"}, "relu2");
  mb.InitF("six", {}, {6.f});
  mb.InitF("zero", {}, {0.f});
  mb.Node("Clip", {"r2", "zero", "six"}, {"r6"}, "relu6");
  mb.Node("Identity", {"r6"}, {"y"}, "ident");
  mb.Output("y");
  return mb;
}

TEST(Optimize, ResidualBlockStructure) {
  auto g = Load(ResidualBlock());
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  auto report = Optimize(*g);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // Everything folds into the two convs: conv1 (+bn, relu), conv2 (+mul, add, residual x, relu)
  // and the Clip cannot fuse (conv2 already has relu); the Identity goes.
  EXPECT_EQ(g->nodes.size(), 3u) << g->Dump();
  EXPECT_EQ(Count(*g, "Conv"), 2);
  EXPECT_EQ(Count(*g, "Clip"), 1);
  const Node& conv1 = g->nodes[0];
  EXPECT_EQ(conv1.epi.act, Act::kRelu);
  const Node& conv2 = g->nodes[1];
  EXPECT_EQ(conv2.epi.act, Act::kRelu);
  ASSERT_GE(conv2.epi.residual, 0);
  EXPECT_EQ(g->values[conv2.epi.residual].name, "x");
  EXPECT_FALSE(conv2.epi.residual_after_act);
  EXPECT_EQ(g->values[g->outputs[0]].name, "y");
  EXPECT_EQ(g->values[g->nodes[2].outputs[0]].name, "y");
  ExpectSameResults(before, *g, 2, 1e-5f);
  for (const std::string& line : *report) EXPECT_NE(line.find(": "), std::string::npos);
}

TEST(Optimize, BatchNormFoldHandComputed) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 1, 2, 2});
  mb.InitF("w", {1, 1, 1, 1}, {2.f});
  mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  mb.InitF("s", {1}, {3.f});
  mb.InitF("b", {1}, {1.f});
  mb.InitF("m", {1}, {0.5f});
  mb.InitF("v", {1}, {3.f});
  auto* bn = mb.Node("BatchNormalization", {"c", "s", "b", "m", "v"}, {"y"}, "bn");
  ModelBuilder::AttrF(bn, "epsilon", 1.f);
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(Optimize(*g).ok());
  ASSERT_EQ(g->nodes.size(), 1u);
  const Node& conv = g->nodes[0];
  // scale = 3 / sqrt(3 + 1) = 1.5; w = 2 * 1.5 = 3; bias = (0 - 0.5) * 1.5 + 1 = 0.25
  ASSERT_EQ(conv.inputs.size(), 3u);
  EXPECT_FLOAT_EQ(g->values[conv.inputs[1]].fdata[0], 3.f);
  EXPECT_FLOAT_EQ(g->values[conv.inputs[2]].fdata[0], 0.25f);
  EXPECT_EQ(g->values[conv.outputs[0]].name, "y");
}

TEST(Optimize, ConvTransposeBatchNormFold) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 4, 3, 3});
  mb.InitF("w", {4, 3, 2, 2}, Random(48, 5));  // group 2: C=4, K/g = 3 → K = 6
  auto* t = mb.Node("ConvTranspose", {"x", "w"}, {"c"}, "up");
  ModelBuilder::AttrI(t, "group", 2);
  ModelBuilder::AttrIs(t, "strides", {2, 2});
  mb.InitF("s", {6}, Random(6, 6, 0.5f, 2.f));
  mb.InitF("b", {6}, Random(6, 7));
  mb.InitF("m", {6}, Random(6, 8));
  mb.InitF("v", {6}, Random(6, 9, 0.5f, 2.f));
  mb.Node("BatchNormalization", {"c", "s", "b", "m", "v"}, {"y"}, "bn");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  EXPECT_EQ(g->nodes.size(), 1u);
  ExpectSameResults(before, *g, 2, 1e-5f);
}

TEST(Optimize, DecomposedHardSwishPatterns) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 3, 4, 4});
  mb.InitF("w", {3, 3, 1, 1}, Random(9, 3));
  mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  // pattern 1: c * Clip(c + 3, 0, 6) * (1/6)
  mb.InitF("three", {}, {3.f});
  mb.InitF("zero", {}, {0.f});
  mb.InitF("six", {}, {6.f});
  mb.InitF("sixth", {}, {1.f / 6.f});
  mb.Node("Add", {"three", "c"}, {"p"}, "plus3");
  mb.Node("Clip", {"p", "zero", "six"}, {"q"}, "relu6");
  mb.Node("Mul", {"c", "q"}, {"cq"}, "mul_x");
  mb.Node("Mul", {"cq", "sixth"}, {"h1"}, "mul_sixth");
  // pattern 2: h1 * HardSigmoid(h1) (alpha 1/6)
  auto* hs = mb.Node("HardSigmoid", {"h1"}, {"s2"}, "hsig");
  ModelBuilder::AttrF(hs, "alpha", 1.f / 6.f);
  mb.Node("Mul", {"s2", "h1"}, {"h2"}, "mul_hsig");
  // pattern 3: h2 * (Clip(h2 + 3) / 6)
  mb.Node("Add", {"h2", "three"}, {"p3"}, "plus3b");
  mb.Node("Clip", {"p3", "zero", "six"}, {"q3"}, "relu6b");
  mb.Node("Div", {"q3", "six"}, {"d3"}, "div6");
  mb.Node("Mul", {"h2", "d3"}, {"y"}, "mul_last");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  // conv(+hardswish) → HardSwish → HardSwish
  EXPECT_EQ(g->nodes.size(), 3u) << g->Dump();
  EXPECT_EQ(g->nodes[0].epi.act, Act::kHardSwish);
  EXPECT_EQ(Count(*g, "HardSwish"), 2);
  EXPECT_EQ(g->values[g->outputs[0]].name, "y");
  ExpectSameResults(before, *g, 2, 1e-5f);
}

TEST(Optimize, NoopsRemovedOutputNamesKept) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 8});
  mb.Node("Relu", {"x"}, {"r"}, "relu");
  mb.Node("Dropout", {"r"}, {"d"}, "drop");
  mb.InitI("shape", {2}, {0, 8});
  mb.Node("Reshape", {"d", "shape"}, {"rs"}, "same_shape");
  auto* t = mb.Node("Transpose", {"rs"}, {"t"}, "ident_perm");
  ModelBuilder::AttrIs(t, "perm", {0, 1});
  mb.InitI("pads", {4}, {0, 0, 0, 0});
  mb.Node("Pad", {"t", "pads"}, {"p"}, "zero_pad");
  auto* cast = mb.Node("Cast", {"p"}, {"y"}, "cast_same");
  ModelBuilder::AttrI(cast, "to", 1);
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  auto r = Optimize(*g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->front(), "remove_noops: 5 removed");
  ASSERT_EQ(g->nodes.size(), 1u) << g->Dump();
  EXPECT_EQ(g->nodes[0].op, "Relu");
  EXPECT_EQ(g->values[g->nodes[0].outputs[0]].name, "y");
  ExpectSameResults(before, *g, 3, 0.f);
}

TEST(Optimize, AddReluOfTwoActivations) {
  ModelBuilder mb(13);
  mb.Input("a", {-1, 5});
  mb.Input("b", {-1, 5});
  mb.Node("Add", {"a", "b"}, {"s"}, "add");
  mb.Node("Relu", {"s"}, {"y"}, "relu");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok());
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  ASSERT_EQ(g->nodes.size(), 1u);
  EXPECT_EQ(g->nodes[0].op, "Add");
  EXPECT_EQ(g->nodes[0].epi.act, Act::kRelu);
  ExpectSameResults(before, *g, 2, 0.f);
}

TEST(Optimize, SharedConvOutputNotFused) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 2, 3, 3});
  mb.InitF("w", {2, 2, 1, 1}, Random(4, 11));
  mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  mb.Node("Relu", {"c"}, {"r"}, "relu");
  mb.Node("Add", {"c", "r"}, {"y"}, "add");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok());
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  EXPECT_EQ(g->nodes.size(), 3u) << g->Dump();
  ExpectSameResults(before, *g, 2, 0.f);
}

// ---- layouts ------------------------------------------------------------------------------------

TEST(Layouts, NchwInputGetsOneConvertInAndOut) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 3, 8, 8});
  mb.InitF("w", {4, 3, 3, 3}, Random(108, 12));
  mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  mb.Node("Relu", {"c"}, {"r"}, "relu");
  auto* p = mb.Node("MaxPool", {"r"}, {"y"}, "pool");
  ModelBuilder::AttrIs(p, "kernel_shape", {2, 2});
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok());
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  ASSERT_TRUE(AssignLayouts(*g).ok());
  EXPECT_EQ(Count(*g, "LayoutConvert"), 2) << g->Dump();
  EXPECT_EQ(g->nodes.front().op, "LayoutConvert");
  EXPECT_EQ(g->nodes.front().GetInt("to", -1), 1);
  EXPECT_EQ(g->nodes.back().op, "LayoutConvert");
  EXPECT_EQ(g->nodes.back().GetInt("to", -1), 0);
  EXPECT_EQ(g->values[g->outputs[0]].name, "y");
  EXPECT_EQ(g->values[g->outputs[0]].layout, Layout::kPlain);
  EXPECT_EQ(g->values[g->nodes[1].outputs[0]].layout, Layout::kNHWC);
  EXPECT_TRUE(g->Validate().ok());
  ExpectSameResults(before, *g, 2, 1e-5f);
}

TEST(Layouts, ReshapeAfterConvGetsConvert) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 8, 8, 3});
  auto* t = mb.Node("Transpose", {"x"}, {"xt"}, "to_nchw");
  ModelBuilder::AttrIs(t, "perm", {0, 3, 1, 2});
  mb.InitF("w", {4, 3, 3, 3}, Random(108, 13));
  mb.Node("Conv", {"xt", "w"}, {"c"}, "conv");
  mb.InitI("shape", {2}, {0, -1});
  mb.Node("Reshape", {"c", "shape"}, {"y"}, "flat");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  ASSERT_TRUE(AssignLayouts(*g).ok());
  EXPECT_EQ(Count(*g, "LayoutConvert"), 1) << g->Dump();
  const Node* reshape = FindOp(*g, "Reshape");
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(g->values[reshape->inputs[0]].layout, Layout::kPlain);
  EXPECT_EQ(g->values[g->nodes[0].outputs[0]].layout, Layout::kNHWC);  // the transpose: a no-op
  ExpectSameResults(before, *g, 2, 1e-5f);
}

TEST(Layouts, ConcatOfNhwcAndPlainConvertsThePlainOne) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 3, 4, 4});
  mb.Input("z", {-1, 2, 4, 4});
  mb.InitF("w", {5, 3, 1, 1}, Random(15, 14));
  mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  auto* cat = mb.Node("Concat", {"c", "z"}, {"cat"}, "cat");
  ModelBuilder::AttrI(cat, "axis", 1);
  mb.Node("Sigmoid", {"cat"}, {"y"}, "sig");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  ASSERT_TRUE(AssignLayouts(*g).ok());
  // x → nhwc, z → nhwc, y → plain
  EXPECT_EQ(Count(*g, "LayoutConvert"), 3) << g->Dump();
  const Node* c = FindOp(*g, "Concat");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(g->values[c->inputs[1]].layout, Layout::kNHWC);
  EXPECT_EQ(g->values[c->outputs[0]].layout, Layout::kNHWC);
  ExpectSameResults(before, *g, 2, 1e-5f);
}

// ---- whole models -------------------------------------------------------------------------------

TEST(Optimize, SelfieAndLandscapeMatchReference) {
  for (const char* name : {"selfie.onnx", "landscape.onnx"}) {
    SCOPED_TRACE(name);
    const std::string path = std::string(VRSEG_SOURCE_DIR_FOR_TESTS) + "/models/" + name;
    auto g = ImportOnnx(path);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(InferShapes(*g).ok());
    g->Compact();
    Graph before = *g;
    std::vector<std::string> report;
    FrontendOptions fo;
    auto opt = LoadAndOptimize(path, fo, &report);
    ASSERT_TRUE(opt.ok()) << opt.status().ToString();
    for (const auto& l : report) std::cout << "  " << name << ": " << l << "\n";
    EXPECT_EQ(Count(*opt, "LayoutConvert"), 0) << opt->Dump();
    EXPECT_EQ(Count(*opt, "BatchNormalization"), 0);
    EXPECT_LT(opt->nodes.size(), before.nodes.size());
    for (int o : opt->outputs) EXPECT_EQ(opt->values[o].layout, Layout::kPlain);
    ExpectSameResults(before, *opt, 2, 1e-4f);
  }
}

}  // namespace
}  // namespace vrseg::engine

namespace vrseg::engine {
namespace {

// A HardSwish exported with 1/6 rounded to fp16 (0.166626) = HardSwish * 0.999756: the scale
// travels through the squeeze-excite block's pool and Mul into the convs' weights.
TEST(Optimize, RoundedHardSwishScaleFoldsIntoConvs) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 4, 6, 6});
  mb.InitF("w", {4, 4, 1, 1}, Random(16, 21));
  mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  mb.InitF("k", {}, {0.166626f});
  mb.InitF("three", {}, {3.f});
  mb.InitF("zero", {}, {0.f});
  mb.InitF("six", {}, {6.f});
  mb.Node("Mul", {"k", "c"}, {"m"}, "mul");
  mb.Node("Add", {"c", "three"}, {"a"}, "add");
  mb.Node("Clip", {"a", "zero", "six"}, {"r6"}, "relu6");
  mb.Node("Mul", {"m", "r6"}, {"hs"}, "mul_1");
  mb.Node("GlobalAveragePool", {"hs"}, {"p"}, "gap");
  mb.InitF("ws", {4, 4, 1, 1}, Random(16, 22));
  mb.Node("Conv", {"p", "ws"}, {"se"}, "se_conv");
  mb.Node("Sigmoid", {"se"}, {"sg"}, "sigmoid");
  mb.Node("Mul", {"hs", "sg"}, {"scaled"}, "excite");
  mb.InitF("w2", {2, 4, 3, 3}, Random(72, 23));
  mb.Node("Conv", {"scaled", "w2"}, {"y"}, "proj");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  auto r = Optimize(*g);
  ASSERT_TRUE(r.ok());
  // conv(+hardswish), gap, se_conv(+sigmoid), excite, proj
  EXPECT_EQ(g->nodes.size(), 5u) << g->Dump();
  EXPECT_EQ(g->nodes[0].epi.act, Act::kHardSwish);
  EXPECT_EQ(Count(*g, "Mul"), 1);
  ExpectSameResults(before, *g, 2, 1e-5f);
}

// TF converters' Sum(conv_a, conv_b) + bias: the bias moves into a conv, the Sum becomes its
// residual epilogue.
TEST(Optimize, SumPlusBiasBecomesResidualConv) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 3, 5, 5});
  mb.InitF("wa", {4, 3, 1, 1}, Random(12, 31));
  mb.InitF("wb", {4, 3, 1, 1}, Random(12, 32));
  mb.Node("Conv", {"x", "wa"}, {"ca"}, "conv_a");
  mb.Node("Conv", {"x", "wb"}, {"cb"}, "conv_b");
  mb.Node("Sum", {"cb", "ca"}, {"s"}, "sum");
  mb.InitF("bias", {1, 4, 1, 1}, {1.f, -1.f, 2.f, 0.5f});
  mb.Node("Add", {"bias", "s"}, {"y"}, "bias_add");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  ASSERT_EQ(g->nodes.size(), 2u) << g->Dump();
  EXPECT_GE(g->nodes[1].epi.residual, 0);
  EXPECT_EQ(g->values[g->nodes[1].outputs[0]].name, "y");
  ExpectSameResults(before, *g, 2, 1e-5f);
}

}  // namespace
}  // namespace vrseg::engine

namespace vrseg::engine {
namespace {

void AddBn(ModelBuilder& mb, const std::string& in, const std::string& out, int64_t k, uint32_t seed) {
  mb.InitF(out + "_s", {k}, Random(k, seed, 0.5f, 1.5f));
  mb.InitF(out + "_b", {k}, Random(k, seed + 1));
  mb.InitF(out + "_m", {k}, Random(k, seed + 2));
  mb.InitF(out + "_v", {k}, Random(k, seed + 3, 0.5f, 2.f));
  mb.Node("BatchNormalization", {in, out + "_s", out + "_b", out + "_m", out + "_v"}, {out}, out);
}

// The residual operand computed after the conv in the file's order: the conv still takes it (the
// nodes are re-sorted so that it runs after the operand).
TEST(Optimize, ResidualComputedAfterTheConvIsFused) {
  ModelBuilder mb(17);
  mb.Input("x", {-1, 4, 6, 6});
  mb.InitF("w", {4, 4, 3, 3}, Random(144, 51));
  auto* c = mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  ModelBuilder::AttrIs(c, "pads", {1, 1, 1, 1});
  mb.Node("Mul", {"x", "x"}, {"sq"}, "square");
  mb.Node("Relu", {"sq"}, {"r"}, "relu");
  mb.Node("Add", {"c", "r"}, {"y"}, "add");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  auto r = Optimize(*g);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(g->Validate().ok()) << g->Dump();
  EXPECT_EQ(Count(*g, "Add"), 0) << g->Dump();
  ASSERT_EQ(g->nodes.size(), 3u) << g->Dump();
  const Node& last = g->nodes[2];
  EXPECT_EQ(last.name, "conv");
  EXPECT_GE(last.epi.residual, 0);
  EXPECT_EQ(g->values[last.outputs[0]].name, "y");
  ExpectSameResults(before, *g, 2, 1e-5f);
}

// Squeeze-excite blocks (global pool or a whole-image AveragePool → 1x1 conv + Relu → 1x1 conv +
// HardSigmoid, then the gate multiplies the features) become one SqueezeExcite node each, and
// the reference gives the same results through it.
TEST(Optimize, SqueezeExciteBlocksFuse) {
  for (const bool whole_image_avgpool : {false, true}) {
    SCOPED_TRACE(whole_image_avgpool ? "AveragePool" : "GlobalAveragePool");
    ModelBuilder mb(13);
    mb.Input("x", {-1, 12, 5, 7});
    if (whole_image_avgpool) {
      auto* ap = mb.Node("AveragePool", {"x"}, {"p"}, "pool");
      ModelBuilder::AttrIs(ap, "kernel_shape", {5, 7});
    } else {
      mb.Node("GlobalAveragePool", {"x"}, {"p"}, "pool");
    }
    mb.InitF("w1", {3, 12, 1, 1}, Random(36, 61));
    mb.InitF("b1", {3}, Random(3, 62));
    mb.Node("Conv", {"p", "w1", "b1"}, {"s1"}, "squeeze");
    mb.Node("Relu", {"s1"}, {"r1"}, "relu");
    mb.InitF("w2", {12, 3, 1, 1}, Random(36, 63));
    mb.Node("Conv", {"r1", "w2"}, {"s2"}, "excite");
    mb.Node("HardSigmoid", {"s2"}, {"gate"}, "hsig");
    mb.Node("Mul", {"x", "gate"}, {"y"}, "scale");
    mb.Output("y");
    auto g = Load(mb);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    Graph before = *g;
    auto r = Optimize(*g);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(g->Validate().ok()) << g->Dump();
    EXPECT_EQ(Count(*g, "SqueezeExcite"), 1) << g->Dump();
    EXPECT_EQ(Count(*g, "Conv"), 0);
    EXPECT_EQ(Count(*g, "Mul"), 1);
    EXPECT_EQ(g->nodes.size(), 2u) << g->Dump();
    const Node& se = g->nodes[0];
    EXPECT_EQ(se.GetInt("act1", -1), static_cast<int64_t>(Act::kRelu));
    EXPECT_EQ(se.epi.act, Act::kHardSigmoid);
    EXPECT_EQ(se.inputs[4], -1);  // the second conv has no bias
    ExpectSameResults(before, *g, 3, 1e-5f);
    ASSERT_TRUE(AssignLayouts(*g).ok());
    for (const Node& n : g->nodes) {
      if (n.op == "SqueezeExcite") EXPECT_EQ(g->values[n.inputs[0]].layout, Layout::kNHWC);
    }
    ExpectSameResults(before, *g, 2, 1e-5f);
  }
}

// The pattern needs each result read only by the next step: a pooled value read twice stays.
TEST(Optimize, SqueezeExciteNeedsSoleConsumers) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 4, 3, 3});
  mb.Node("GlobalAveragePool", {"x"}, {"p"}, "pool");
  mb.InitF("w1", {2, 4, 1, 1}, Random(8, 64));
  mb.Node("Conv", {"p", "w1"}, {"s1"}, "squeeze");
  mb.InitF("w2", {4, 2, 1, 1}, Random(8, 65));
  mb.Node("Conv", {"s1", "w2"}, {"s2"}, "excite");
  mb.Node("Add", {"s2", "p"}, {"y"}, "also_reads_the_pool");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  ASSERT_TRUE(Optimize(*g).ok());
  EXPECT_EQ(Count(*g, "SqueezeExcite"), 0) << g->Dump();
  ExpectSameResults(before, *g, 2, 1e-5f);
}

// A torchvision ResNet bottleneck with a downsample branch exported after the main branch: the
// residual goes into the downsample conv (the later one), whose epilogue also takes the Relu.
TEST(Optimize, ResNetDownsampleBlock) {
  ModelBuilder mb(17);
  mb.Input("x", {-1, 4, 8, 8});
  mb.InitF("w1", {4, 4, 1, 1}, Random(16, 41));
  mb.Node("Conv", {"x", "w1"}, {"c1"}, "conv1");
  AddBn(mb, "c1", "bn1", 4, 50);
  mb.Node("Relu", {"bn1"}, {"r1"}, "relu1");
  mb.InitF("w2", {4, 4, 3, 3}, Random(144, 42));
  auto* c2 = mb.Node("Conv", {"r1", "w2"}, {"c2"}, "conv2");
  ModelBuilder::AttrIs(c2, "pads", {1, 1, 1, 1});
  ModelBuilder::AttrIs(c2, "strides", {2, 2});
  AddBn(mb, "c2", "bn2", 4, 60);
  mb.Node("Relu", {"bn2"}, {"r2"}, "relu2");
  mb.InitF("w3", {8, 4, 1, 1}, Random(32, 43));
  mb.Node("Conv", {"r2", "w3"}, {"c3"}, "conv3");
  AddBn(mb, "c3", "bn3", 8, 70);
  mb.InitF("wd", {8, 4, 1, 1}, Random(32, 44));
  auto* ds = mb.Node("Conv", {"x", "wd"}, {"cd"}, "downsample");
  ModelBuilder::AttrIs(ds, "strides", {2, 2});
  AddBn(mb, "cd", "bnd", 8, 80);
  mb.Node("Add", {"bn3", "bnd"}, {"s"}, "add");
  mb.Node("Relu", {"s"}, {"y"}, "relu3");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  Graph before = *g;
  auto r = Optimize(*g);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(g->nodes.size(), 4u) << g->Dump();
  EXPECT_EQ(Count(*g, "BatchNormalization"), 0);
  const Node& last = g->nodes[3];
  EXPECT_EQ(last.name, "downsample");
  EXPECT_GE(last.epi.residual, 0);
  EXPECT_EQ(last.epi.act, Act::kRelu);
  EXPECT_FALSE(last.epi.residual_after_act);
  EXPECT_EQ(g->values[last.outputs[0]].name, "y");
  ASSERT_TRUE(AssignLayouts(*g).ok());
  EXPECT_EQ(Count(*g, "LayoutConvert"), 2);
  ExpectSameResults(before, *g, 3, 1e-5f);
}

}  // namespace
}  // namespace vrseg::engine
