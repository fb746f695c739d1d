// The frontend: ONNX import, shape inference with folding (against ONNX's node test data and hand
// computation), IR helpers.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "engine/ir.h"
#include "engine/ref.h"
#include "frontend_model.h"
#include "onnx_testdata.h"

namespace vrseg::engine {
namespace {

using testing::ModelBuilder;
namespace fs = std::filesystem;

Result<Graph> Load(const ModelBuilder& mb, bool infer = true) {
  VRSEG_ASSIGN_OR_RETURN(Graph g, ImportOnnxBytes(mb.Bytes(), "test.onnx"));
  if (infer) VRSEG_RETURN_IF_ERROR(InferShapes(g));
  return g;
}

const Value& ValueNamed(const Graph& g, const std::string& name) {
  const int v = g.FindValue(name);
  EXPECT_GE(v, 0) << name;
  static Value none;
  return v >= 0 ? g.values[v] : none;
}

std::string ModelPath(const std::string& name) {
  return std::string(VRSEG_SOURCE_DIR_FOR_TESTS) + "/models/" + name;
}

// ---- IR helpers ---------------------------------------------------------------------------------

TEST(FrontendIr, ShapeStringAndConcrete) {
  const Shape s = {Dim::Batch(), Dim::Const(3), Dim{2, 1}, Dim{1, -2}};
  EXPECT_EQ(ShapeString(s), "[N,3,2N+1,N-2]");
  EXPECT_EQ(Concrete(s, 4), (std::vector<int64_t>{4, 3, 9, 2}));
  EXPECT_EQ(Elements(s, 4), 4 * 3 * 9 * 2);
}

TEST(FrontendIr, PhysicalDimsAndAxis) {
  Value v;
  v.shape = {Dim::Batch(), Dim::Const(8), Dim::Const(5), Dim::Const(7)};
  EXPECT_EQ(PhysicalDims(v, 2), (std::vector<int64_t>{2, 8, 5, 7}));
  v.layout = Layout::kNHWC;
  EXPECT_EQ(PhysicalDims(v, 2), (std::vector<int64_t>{2, 5, 7, 8}));
  EXPECT_EQ(PhysicalAxis(v, 1), 3);
  EXPECT_EQ(PhysicalAxis(v, 2), 1);
  EXPECT_EQ(PhysicalAxis(v, 3), 2);
}

TEST(FrontendIr, ApplyActReferenceValues) {
  EXPECT_FLOAT_EQ(ApplyAct(Act::kRelu, -2.f, 0, 0), 0.f);
  EXPECT_FLOAT_EQ(ApplyAct(Act::kClip, 7.f, 0, 6), 6.f);
  EXPECT_FLOAT_EQ(ApplyAct(Act::kHardSwish, 1.f, 0, 0), 1.f * (1.f / 6.f + 0.5f));
  EXPECT_FLOAT_EQ(ApplyAct(Act::kHardSigmoid, 1.f, 0.2f, 0.5f), 0.7f);
  EXPECT_FLOAT_EQ(ApplyAct(Act::kLeakyRelu, -2.f, 0.1f, 0), -0.2f);
}

TEST(FrontendIr, CompactDropsDeadNodesAndUnusedValues) {
  ModelBuilder mb;
  mb.Input("x", {-1, 4});
  mb.Node("Relu", {"x"}, {"a"}, "r1");
  mb.Node("Relu", {"x"}, {"unused"}, "r2");
  mb.Node("Sigmoid", {"a"}, {"y"}, "s");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  g->nodes[1].dead = true;
  g->Compact();
  ASSERT_EQ(g->nodes.size(), 2u);
  EXPECT_EQ(g->FindValue("unused"), -1);
  EXPECT_TRUE(g->Validate().ok()) << g->Validate().ToString();
  EXPECT_EQ(g->values[g->nodes[1].outputs[0]].producer, 1);
  EXPECT_NE(g->Dump().find("s Sigmoid(a[N,4]) -> y[N,4]"), std::string::npos) << g->Dump();
}

TEST(FrontendIr, ValidateCatchesBadOrder) {
  ModelBuilder mb;
  mb.Input("x", {-1, 4});
  mb.Node("Relu", {"x"}, {"a"}, "r1");
  mb.Node("Sigmoid", {"a"}, {"y"}, "s");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok());
  std::swap(g->nodes[0], g->nodes[1]);
  EXPECT_FALSE(g->Validate().ok());
}

// ---- import -------------------------------------------------------------------------------------

TEST(FrontendImport, UnsupportedOperatorNamed) {
  ModelBuilder mb;
  mb.Input("x", {-1, 4});
  mb.Node("Einsum", {"x"}, {"y"}, "my_einsum");
  mb.Output("y");
  auto g = Load(mb, false);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(g.status().message().find("operator 'Einsum' (node 'my_einsum') is not supported by the gpu engine"),
            std::string::npos)
      << g.status().message();
}

TEST(FrontendImport, SymbolicNonBatchDimRefused) {
  ModelBuilder mb;
  onnx::ValueInfoProto* in = mb.model().mutable_graph()->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  tt->mutable_shape()->add_dim()->set_dim_param("H");
  mb.Node("Relu", {"x"}, {"y"});
  mb.Output("y");
  auto g = Load(mb, false);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("'x'"), std::string::npos) << g.status().message();
}

TEST(FrontendImport, OpsetOutOfRangeRefused) {
  ModelBuilder mb(18);
  mb.Input("x", {-1, 4});
  mb.Node("Relu", {"x"}, {"y"});
  mb.Output("y");
  auto g = Load(mb, false);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
}

TEST(FrontendImport, MissingFileIsNotFound) {
  auto g = ImportOnnx("/nonexistent/model.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
}

TEST(FrontendImport, GarbageIsInvalidModel) {
  auto g = ImportOnnxBytes(std::string("\xff\xff\xff garbage", 12), "junk.onnx");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
}

TEST(FrontendImport, NamesGeneratedInitializersAndMetadata) {
  ModelBuilder mb;
  mb.Input("x", {-1, 2});
  mb.InitF("w", {2}, {1.5f, -2.f});
  // float16 initializer: 1.0 = 0x3c00, -2.5 = 0xc100
  auto* t = mb.model().mutable_graph()->add_initializer();
  t->set_name("h");
  t->set_data_type(onnx::TensorProto::FLOAT16);
  t->add_dims(2);
  t->add_int32_data(0x3c00);
  t->add_int32_data(0xc100);
  auto* c = mb.Node("Constant", {}, {"k"});
  auto* a = c->add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(7);
  a->add_ints(8);
  mb.Node("Mul", {"x", "w"}, {"m"});
  mb.Node("Add", {"m", "h"}, {"y"});
  mb.Output("y");
  auto* md = mb.model().add_metadata_props();
  md->set_key("vrseg.model");
  md->set_value("selfie");
  auto g = Load(mb, false);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->nodes[0].name, "Mul_1");
  EXPECT_EQ(g->nodes[1].name, "Add_2");
  EXPECT_EQ(g->metadata.at("vrseg.model"), "selfie");
  EXPECT_EQ(ValueNamed(*g, "h").fdata, (std::vector<float>{1.f, -2.5f}));
  EXPECT_EQ(ValueNamed(*g, "k").idata, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->values[g->inputs[0]].shape, (Shape{Dim::Batch(), Dim::Const(2)}));
}

TEST(FrontendImport, InitializerTypesAndExternalData) {
  ModelBuilder mb;
  mb.Input("x", {-1, 2});
  auto* g = mb.model().mutable_graph();
  auto* d = g->add_initializer();  // double, raw little-endian
  d->set_name("d");
  d->set_data_type(onnx::TensorProto::DOUBLE);
  d->add_dims(2);
  const double dv[2] = {0.25, -8.5};
  d->set_raw_data(std::string(reinterpret_cast<const char*>(dv), sizeof(dv)));
  auto* i32 = g->add_initializer();  // int32, typed field
  i32->set_name("i");
  i32->set_data_type(onnx::TensorProto::INT32);
  i32->add_dims(2);
  i32->add_int32_data(-3);
  i32->add_int32_data(7);
  auto* b = g->add_initializer();  // bool, raw
  b->set_name("b");
  b->set_data_type(onnx::TensorProto::BOOL);
  b->add_dims(3);
  b->set_raw_data(std::string("\x01\x00\x01", 3));
  mb.Node("Add", {"x", "d"}, {"y"});
  mb.Output("y");
  auto gr = Load(mb, false);
  ASSERT_TRUE(gr.ok()) << gr.status().ToString();
  EXPECT_EQ(ValueNamed(*gr, "d").fdata, (std::vector<float>{0.25f, -8.5f}));
  EXPECT_EQ(ValueNamed(*gr, "i").type, ElemType::kInt64);
  EXPECT_EQ(ValueNamed(*gr, "i").idata, (std::vector<int64_t>{-3, 7}));
  EXPECT_EQ(ValueNamed(*gr, "b").type, ElemType::kBool);
  EXPECT_EQ(ValueNamed(*gr, "b").idata, (std::vector<int64_t>{1, 0, 1}));

  auto* e = g->add_initializer();
  e->set_name("ext");
  e->set_data_type(onnx::TensorProto::FLOAT);
  e->add_dims(2);
  e->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = e->add_external_data();
  kv->set_key("location");
  kv->set_value("weights.bin");
  auto ext = Load(mb, false);
  ASSERT_FALSE(ext.ok());
  EXPECT_EQ(ext.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(ext.status().message().find("'ext'"), std::string::npos) << ext.status().message();
}

// ---- shape inference ----------------------------------------------------------------------------

TEST(FrontendShapes, ConvChannelMismatchNamesNode) {
  ModelBuilder mb;
  mb.Input("x", {-1, 3, 8, 8});
  mb.InitF("w", {2, 4, 3, 3}, std::vector<float>(72, 0.f));
  mb.Node("Conv", {"x", "w"}, {"y"}, "conv1");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("Conv node 'conv1': input channels 3 do not match weight 4"), std::string::npos)
      << g.status().message();
}

TEST(FrontendShapes, ConvPoolResizeShapes) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 3, 17, 16});
  mb.InitF("w", {8, 3, 3, 3}, std::vector<float>(216, 0.f));
  auto* c = mb.Node("Conv", {"x", "w"}, {"c"}, "conv");
  ModelBuilder::AttrIs(c, "strides", {2, 2});
  ModelBuilder::AttrS(c, "auto_pad", "SAME_UPPER");  // ceil(17/2)=9, 8
  auto* dw = mb.Node("Conv", {"c", "wd"}, {"d"}, "dw");
  mb.InitF("wd", {8, 1, 3, 3}, std::vector<float>(72, 0.f));
  ModelBuilder::AttrI(dw, "group", 8);
  ModelBuilder::AttrIs(dw, "dilations", {2, 2});
  ModelBuilder::AttrIs(dw, "pads", {2, 2, 2, 2});  // (9+4-5)/1+1 = 9, 8
  auto* p = mb.Node("MaxPool", {"d"}, {"p"}, "pool");
  ModelBuilder::AttrIs(p, "kernel_shape", {2, 2});
  ModelBuilder::AttrIs(p, "strides", {2, 2});
  ModelBuilder::AttrI(p, "ceil_mode", 1);  // ceil((9-2)/2)+1 = 5, 4
  mb.InitF("scales", {4}, {1.f, 1.f, 2.f, 2.f});
  mb.Node("Resize", {"p", "", "scales"}, {"r"}, "resize");
  mb.InitF("wt", {8, 4, 2, 2}, std::vector<float>(128, 0.f));
  auto* t = mb.Node("ConvTranspose", {"r", "wt"}, {"t"}, "up");
  ModelBuilder::AttrIs(t, "strides", {2, 2});
  ModelBuilder::AttrIs(t, "output_padding", {1, 0});
  mb.Node("GlobalAveragePool", {"t"}, {"y"}, "gap");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(ShapeString(ValueNamed(*g, "c").shape), "[N,8,9,8]");
  EXPECT_EQ(ShapeString(ValueNamed(*g, "d").shape), "[N,8,9,8]");
  EXPECT_EQ(ShapeString(ValueNamed(*g, "p").shape), "[N,8,5,4]");
  EXPECT_EQ(ShapeString(ValueNamed(*g, "r").shape), "[N,8,10,8]");
  // ConvTranspose: 2*(10-1)+1+2 = 21, 2*(8-1)+0+2 = 16
  EXPECT_EQ(ShapeString(ValueNamed(*g, "t").shape), "[N,4,21,16]");
  EXPECT_EQ(ShapeString(ValueNamed(*g, "y").shape), "[N,4,1,1]");
}

// Shape → Gather → Unsqueeze → Concat → Reshape to [N*H*W, C] folds to an affine target.
TEST(FrontendShapes, ShapeArithmeticFoldsAffine) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 6, 4, 5});
  mb.Node("Shape", {"x"}, {"s"});
  mb.InitI("i0", {}, {0});
  mb.InitI("i1", {}, {1});
  mb.Node("Gather", {"s", "i0"}, {"n"});
  mb.Node("Gather", {"s", "i1"}, {"c"});
  mb.InitI("hw", {}, {20});
  mb.Node("Mul", {"n", "hw"}, {"nhw"});
  mb.InitI("ax", {1}, {0});
  mb.Node("Unsqueeze", {"nhw", "ax"}, {"nhw1"});
  mb.Node("Unsqueeze", {"c", "ax"}, {"c1"});
  mb.Node("Concat", {"nhw1", "c1"}, {"target"}, "cat");
  ModelBuilder::AttrI(mb.model().mutable_graph()->mutable_node(6), "axis", 0);
  mb.InitI("perm_unused", {1}, {0});
  auto* tr = mb.Node("Transpose", {"x"}, {"xt"});
  ModelBuilder::AttrIs(tr, "perm", {0, 2, 3, 1});
  mb.Node("Reshape", {"xt", "target"}, {"y"}, "reshape");
  mb.InitI("neg", {2}, {-1, 3});
  mb.Node("Reshape", {"y", "neg"}, {"z"}, "reshape2");
  mb.Output("z");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Value& target = ValueNamed(*g, "target");
  EXPECT_TRUE(target.has_sym);
  EXPECT_EQ(target.sym, (std::vector<Dim>{Dim{20, 0}, Dim::Const(6)}));
  EXPECT_EQ(ShapeString(ValueNamed(*g, "y").shape), "[20N,6]");
  EXPECT_EQ(ShapeString(ValueNamed(*g, "z").shape), "[40N,3]");
  int live = 0;
  for (const Node& n : g->nodes) live += n.dead ? 0 : 1;
  EXPECT_EQ(live, 3);  // Transpose, Reshape, Reshape
  g->Compact();
  EXPECT_TRUE(g->Validate().ok()) << g->Validate().ToString();
}

// PyTorch's F.interpolate(x, size=skip.shape[-2:]) with a dynamic batch: Constant nodes, Shape,
// Slice, Concat and Cast feed Resize's sizes, which fold to [N, C, H, W].
TEST(FrontendShapes, ResizeSizesFromShapesFold) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 8, 4, 5});
  mb.Input("skip", {-1, 3, 16, 20});
  auto constant = [&](const std::string& name, std::vector<int64_t> v) {
    auto* c = mb.Node("Constant", {}, {name});
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    a->mutable_t()->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) a->mutable_t()->add_int64_data(x);
  };
  mb.Node("Shape", {"x"}, {"sx"});
  mb.Node("Shape", {"skip"}, {"ss"});
  constant("s0", {0});
  constant("s2", {2});
  constant("s4", {4});
  mb.Node("Slice", {"sx", "s0", "s2"}, {"nc"});
  mb.Node("Slice", {"ss", "s2", "s4"}, {"hw"});
  auto* cat = mb.Node("Concat", {"nc", "hw"}, {"sizes64"});
  ModelBuilder::AttrI(cat, "axis", 0);
  auto* cast = mb.Node("Cast", {"sizes64"}, {"sizes"});
  ModelBuilder::AttrI(cast, "to", onnx::TensorProto::INT64);
  auto* r = mb.Node("Resize", {"x", "", "", "sizes"}, {"y"}, "interp");
  ModelBuilder::AttrS(r, "mode", "linear");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(ShapeString(ValueNamed(*g, "y").shape), "[N,8,16,20]");
  EXPECT_TRUE(ValueNamed(*g, "sizes").has_sym);
  g->Compact();
  EXPECT_EQ(g->nodes.size(), 1u) << g->Dump();
  EXPECT_TRUE(g->Validate().ok());
}

TEST(FrontendShapes, NonAffineReshapeRefused) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 6});
  mb.Node("Shape", {"x"}, {"s"});
  mb.Node("Mul", {"s", "s"}, {"sq"}, "square");
  mb.Node("Reshape", {"x", "sq"}, {"y"});
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("square"), std::string::npos) << g.status().message();
}

TEST(FrontendShapes, FoldOnlyOpOnActivationRefused) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 6});
  mb.Node("Floor", {"x"}, {"y"}, "floor1");
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(g.status().message().find("'Floor' (node 'floor1')"), std::string::npos) << g.status().message();
}

TEST(FrontendShapes, FloatConstantsFold) {
  ModelBuilder mb(13);
  mb.Input("x", {-1, 2, 3});
  mb.InitF("a", {3, 2}, {1, 2, 3, 4, 5, 6});
  auto* t = mb.Node("Transpose", {"a"}, {"at"});
  ModelBuilder::AttrIs(t, "perm", {1, 0});
  mb.Node("Sqrt", {"at"}, {"as"});
  mb.InitF("b", {1}, {2.f});
  mb.Node("Mul", {"as", "b"}, {"k"});
  mb.Node("Add", {"x", "k"}, {"y"});
  mb.Output("y");
  auto g = Load(mb);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Value& k = ValueNamed(*g, "k");
  ASSERT_TRUE(k.is_const);
  EXPECT_EQ(ShapeString(k.shape), "[2,3]");
  const float want[] = {1, 3, 5, 2, 4, 6};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(k.fdata[i], 2.f * std::sqrt(want[i]));
}

TEST(FrontendShapes, SelfieAndLandscape) {
  for (const char* name : {"selfie.onnx", "landscape.onnx"}) {
    auto g = ImportOnnx(ModelPath(name));
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(InferShapes(*g).ok()) << name;
    ASSERT_EQ(g->inputs.size(), 1u);
    const Shape& in = g->values[g->inputs[0]].shape;
    EXPECT_EQ(in[0], Dim::Batch()) << name;
    EXPECT_EQ(in[3], Dim::Const(3)) << name;
    for (int o : g->outputs) EXPECT_EQ(g->values[o].shape[0], Dim::Batch()) << name;
    g->Compact();
    EXPECT_TRUE(g->Validate().ok()) << g->Validate().ToString();
  }
}

// ---- ONNX node test data: inferred output shapes (and folded values) against output_N.pb -------

struct PbTensor {
  int type = 0;
  std::vector<int64_t> dims;
  std::vector<double> data;  // float / int64 / bool as double (empty if unreadable)
};

bool ReadPb(const fs::path& p, PbTensor* out) {
  std::ifstream f(p, std::ios::binary);
  onnx::TensorProto t;
  if (!f || !t.ParseFromIstream(&f)) return false;
  out->type = t.data_type();
  out->dims.assign(t.dims().begin(), t.dims().end());
  const std::string& raw = t.raw_data();
  if (t.data_type() == onnx::TensorProto::FLOAT) {
    if (t.has_raw_data()) {
      for (size_t i = 0; i + 4 <= raw.size(); i += 4) {
        float x;
        std::memcpy(&x, raw.data() + i, 4);
        out->data.push_back(x);
      }
    } else {
      out->data.assign(t.float_data().begin(), t.float_data().end());
    }
  } else if (t.data_type() == onnx::TensorProto::INT64) {
    if (t.has_raw_data()) {
      for (size_t i = 0; i + 8 <= raw.size(); i += 8) {
        int64_t x;
        std::memcpy(&x, raw.data() + i, 8);
        out->data.push_back(static_cast<double>(x));
      }
    } else {
      for (int64_t x : t.int64_data()) out->data.push_back(static_cast<double>(x));
    }
  } else if (t.data_type() == onnx::TensorProto::BOOL) {
    if (t.has_raw_data()) {
      for (char c : raw) out->data.push_back(c ? 1 : 0);
    } else {
      for (int32_t x : t.int32_data()) out->data.push_back(x ? 1 : 0);
    }
  }
  return true;
}

// Imports a node test's model with its parameter inputs (shapes, axes, scales, bounds, and every
// input of a fold-only operator) turned into initializers from input_N.pb: the engine needs those
// constant, and it lets the test check the folding against ONNX's expected outputs.
Result<Graph> ImportNodeTest(const fs::path& dir) {
  static const std::set<std::string> kParamOps = {"Reshape", "Slice", "Split", "Squeeze", "Unsqueeze",
                                                  "Resize", "Upsample", "Clip", "Pad", "Expand"};
  static const std::set<std::string> kFoldOps = {"Shape", "Gather", "Cast", "ConstantOfShape", "Range",
                                                 "Expand", "Floor", "Ceil", "Equal", "Where"};
  onnx::ModelProto m;
  {
    std::ifstream f(dir / "model.onnx", std::ios::binary);
    if (!f || !m.ParseFromIstream(&f)) return Status::InvalidModel(dir.string() + ": cannot parse");
  }
  onnx::GraphProto* g = m.mutable_graph();
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> keep;
  for (int i = 0; i < g->input_size(); ++i) {
    const std::string& name = g->input(i).name();
    bool param = false;
    for (const auto& n : g->node()) {
      for (int j = 0; j < n.input_size(); ++j) {
        if (n.input(j) == name && (kFoldOps.count(n.op_type()) || (j >= 1 && kParamOps.count(n.op_type())))) param = true;
      }
    }
    onnx::TensorProto t;
    std::ifstream f(dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb"), std::ios::binary);
    if (param && f && t.ParseFromIstream(&f)) {
      t.set_name(name);
      *g->add_initializer() = t;
    } else {
      *keep.Add() = g->input(i);
    }
  }
  g->mutable_input()->Swap(&keep);
  return ImportOnnxBytes(m.SerializeAsString(), (dir / "model.onnx").string());
}

TEST(FrontendShapes, OnnxNodeTestOutputShapes) {
  const fs::path root = fs::path(VRSEG_ONNX_TESTDATA_DIR) / "data" / "node";
  if (!fs::exists(root)) GTEST_SKIP() << "ONNX node test data not installed at " << root;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  int checked = 0, refused = 0, folded = 0;
  std::ostringstream failures, refusals;
  for (const fs::path& dir : dirs) {
    const std::string test = dir.filename().string();
    auto g = ImportNodeTest(dir);
    if (!g.ok()) {
      if (g.status().code() != StatusCode::kUnsupported) failures << test << ": import: " << g.status().ToString() << "\n";
      continue;  // an operator (or type) outside the engine's set
    }
    Status s = InferShapes(*g);
    if (!s.ok()) {
      if (s.code() == StatusCode::kUnsupported) {
        ++refused;
        refusals << "  " << test << ": " << s.message() << "\n";
      } else {
        failures << test << ": " << s.ToString() << "\n";
      }
      continue;
    }
    ++checked;
    for (size_t o = 0; o < g->outputs.size(); ++o) {
      PbTensor want;
      const fs::path pb = dir / "test_data_set_0" / ("output_" + std::to_string(o) + ".pb");
      if (!ReadPb(pb, &want)) {
        failures << test << ": cannot read " << pb << "\n";
        continue;
      }
      const Value& v = g->values[g->outputs[o]];
      if (Concrete(v.shape, 1) != want.dims) {
        std::ostringstream w;
        for (int64_t d : want.dims) w << d << ",";
        failures << test << ": output " << o << " shape " << ShapeString(v.shape) << ", expected [" << w.str() << "]\n";
      }
      const bool comparable = want.type == onnx::TensorProto::FLOAT || want.type == onnx::TensorProto::INT64 ||
                              want.type == onnx::TensorProto::BOOL;  // fp16/double/int32: shape only
      if (v.is_const && comparable) {
        ++folded;
        std::vector<double> got;
        if (v.type == ElemType::kFloat) {
          got.assign(v.fdata.begin(), v.fdata.end());
        } else {
          for (int64_t x : v.idata) got.push_back(static_cast<double>(x));
        }
        bool same = got.size() == want.data.size();
        for (size_t i = 0; same && i < got.size(); ++i) {
          same = std::fabs(got[i] - want.data[i]) <= 1e-5 + 1e-4 * std::fabs(want.data[i]);
        }
        if (!same) failures << test << ": folded output " << o << " differs from output_" << o << ".pb\n";
      }
    }
  }
  std::cout << "checked " << checked << " node tests' output shapes (" << folded << " folded outputs), "
            << refused << " refused by InferShapes:\n" << refusals.str();
  EXPECT_GT(checked, 250);
  EXPECT_TRUE(failures.str().empty()) << failures.str();
}

// Every node test the frontend takes: Optimize + AssignLayouts must keep RunReference's results
// (the reference runs LayoutConvert as an identity, so this checks the graph rewrites).
TEST(FrontendShapes, OptimizeKeepsNodeTestResults) {
  const fs::path root = fs::path(VRSEG_ONNX_TESTDATA_DIR) / "data" / "node";
  if (!fs::exists(root)) GTEST_SKIP() << "ONNX node test data not installed at " << root;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  int compared = 0;
  std::ostringstream failures;
  for (const fs::path& dir : dirs) {
    const std::string test = dir.filename().string();
    auto g = ImportNodeTest(dir);
    if (!g.ok() || !InferShapes(*g).ok()) continue;
    g->Compact();
    std::map<std::string, HostTensor> feeds;
    bool readable = true;
    // Parameter inputs became initializers: match the remaining inputs to files by tensor name.
    for (int k = 0; readable; ++k) {
      const fs::path pb = dir / "test_data_set_0" / ("input_" + std::to_string(k) + ".pb");
      if (!fs::exists(pb)) break;
      std::string name;
      auto t = testing::ReadTensorFile(pb.string(), &name);
      if (!t.ok()) {
        readable = false;
        break;
      }
      if (g->FindValue(name) >= 0 && !g->values[g->FindValue(name)].is_const) feeds[name] = *t;
    }
    if (!readable || feeds.size() != g->inputs.size()) continue;
    auto want = RunReference(*g, feeds);
    if (!want.ok()) continue;  // the reference's own list of what it runs
    Graph opt = *g;
    auto r = Optimize(opt);
    if (!r.ok()) {
      failures << test << ": Optimize: " << r.status().ToString() << "\n";
      continue;
    }
    Status s = AssignLayouts(opt);
    if (!s.ok()) {
      failures << test << ": AssignLayouts: " << s.ToString() << "\n";
      continue;
    }
    auto got = RunReference(opt, feeds);
    if (!got.ok()) {
      failures << test << ": after optimisation: " << got.status().ToString() << "\n";
      continue;
    }
    ++compared;
    for (const auto& [name, a] : *want) {
      auto it = got->find(name);
      if (it == got->end() || it->second.dims != a.dims || it->second.i != a.i || it->second.f.size() != a.f.size()) {
        failures << test << ": output '" << name << "' differs in shape/type/ints after optimisation\n";
        continue;
      }
      for (size_t e = 0; e < a.f.size(); ++e) {
        const float x = a.f[e], y = it->second.f[e];
        if (x != y && !(std::fabs(x - y) <= 1e-5f * std::max(1.f, std::fabs(x))) && !(std::isnan(x) && std::isnan(y))) {
          failures << test << ": output '" << name << "' element " << e << ": " << y << " vs " << x << "\n";
          break;
        }
      }
    }
  }
  std::cout << "compared " << compared << " node tests before/after Optimize + AssignLayouts\n";
  EXPECT_GT(compared, 200);
  EXPECT_TRUE(failures.str().empty()) << failures.str();
}

}  // namespace
}  // namespace vrseg::engine
