// The backends against closed-form references: a hand-built ONNX model whose output we can compute
// exactly, run through the "ort" backend at several batch sizes; error paths; the "noop" backend.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "vrseg/backend.h"

namespace vrseg {
namespace {

namespace fs = std::filesystem;

fs::path TempDir() {
  fs::path d = fs::temp_directory_path() / ("vrseg_backend_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

ModelInfo TinyInfo() {
  ModelInfo mi;
  mi.name = "tiny";
  mi.input_name = "image";
  mi.output_name = "mask";
  mi.input_width = 5;
  mi.input_height = 4;
  mi.output_kind = OutputKind::kSigmoidProbability;
  return mi;
}

// mask[n,h,w,0] = sigmoid(2 * mean_c(image[n,h,w,c]) - 1): ReduceMean over channels, Mul, Add,
// Sigmoid. Input [N,4,5,3] (batch dynamic), output [N,4,5,1].
std::string WriteTinyModel(const fs::path& path, bool with_metadata) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto add_vi = [](onnx::ValueInfoProto* vi, const char* name, std::vector<int64_t> dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) {
      auto* dim = tt->mutable_shape()->add_dim();
      if (d < 0) dim->set_dim_param("N"); else dim->set_dim_value(d);
    }
  };
  add_vi(g->add_input(), "image", {-1, 4, 5, 3});
  add_vi(g->add_output(), "mask", {-1, 4, 5, 1});
  auto scalar = [&](const char* name, float v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  };
  scalar("two", 2.f);
  scalar("minus_one", -1.f);
  auto node = [&](const char* op, std::vector<std::string> in, const char* out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    for (auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
  };
  auto* rm = node("ReduceMean", {"image"}, "mean");
  auto* axes = rm->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(3);
  node("Mul", {"mean", "two"}, "scaled");
  node("Add", {"scaled", "minus_one"}, "logit");
  node("Sigmoid", {"logit"}, "mask");
  if (with_metadata) {
    for (auto& [k, v] : TinyInfo().ToMetadata()) {
      auto* p = m.add_metadata_props();
      p->set_key(k);
      p->set_value(v);
    }
  }
  std::ofstream f(path, std::ios::binary);
  m.SerializeToOstream(&f);
  return path.string();
}

TEST(OrtBackend, MatchesClosedFormAtEveryBatchSize) {
  const std::string path = WriteTinyModel(TempDir() / "tiny.onnx", true);
  BackendOptions opts;
  opts.max_batch = 4;
  opts.threads = 1;
  auto b = CreateBackend("ort", path, opts);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  Backend& be = **b;
  EXPECT_EQ(be.name(), "ort");
  EXPECT_EQ(be.device(), DeviceKind::kCpu);
  EXPECT_EQ(be.model_info().input_width, 5);
  ASSERT_EQ(be.inputs().size(), 1u);
  EXPECT_EQ(be.inputs()[0].shape, (std::vector<int64_t>{-1, 4, 5, 3}));
  Tensor in = be.input(0);
  Tensor out = be.output(0);
  EXPECT_EQ(in.shape, (std::vector<int64_t>{4, 4, 5, 3}));
  EXPECT_EQ(out.shape, (std::vector<int64_t>{4, 4, 5, 1}));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (int batch : {1, 3, 4, 2, 1}) {
    for (int64_t i = 0; i < in.elements(); ++i) in.as<float>()[i] = u(rng);
    ASSERT_TRUE(be.Run(batch).ok());
    for (int n = 0; n < batch; ++n) {
      const float* x = static_cast<const float*>(in.slot(n));
      const float* y = static_cast<const float*>(out.slot(n));
      for (int p = 0; p < 20; ++p) {
        const double mean = (double(x[3 * p]) + x[3 * p + 1] + x[3 * p + 2]) / 3.0;
        const double want = 1.0 / (1.0 + std::exp(-(2.0 * mean - 1.0)));
        ASSERT_NEAR(y[p], want, 1e-6) << "batch " << batch << " slot " << n << " pixel " << p;
      }
    }
    // The same buffers are handed out every time: nothing is reallocated per run.
    EXPECT_EQ(be.input(0).data, in.data);
    EXPECT_EQ(be.output(0).data, out.data);
  }
  EXPECT_EQ(be.Run(0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(be.Run(5).code(), StatusCode::kInvalidArgument);
}

TEST(OrtBackend, Errors) {
  const fs::path dir = TempDir();
  BackendOptions opts;
  auto missing = CreateBackend("ort", (dir / "nope.onnx").string(), opts);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.onnx"), std::string::npos);

  const fs::path garbage = dir / "garbage.onnx";
  std::ofstream(garbage) << "this is not a model";
  auto bad = CreateBackend("ort", garbage.string(), opts);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(bad.status().message().find("garbage.onnx"), std::string::npos);

  const fs::path empty = dir / "empty.onnx";
  std::ofstream(empty).close();
  EXPECT_EQ(CreateBackend("ort", empty.string(), opts).status().code(), StatusCode::kInvalidModel);

  const std::string bare = WriteTinyModel(dir / "bare.onnx", false);
  auto no_meta = CreateBackend("ort", bare, opts);
  EXPECT_EQ(no_meta.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(no_meta.status().message().find("metadata"), std::string::npos);
  ModelInfo mi = TinyInfo();
  opts.model_info_override = &mi;
  EXPECT_TRUE(CreateBackend("ort", bare, opts).ok());

  auto unknown = CreateBackend("tensorrt", bare, opts);
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("ort"), std::string::npos);
}

TEST(NoopBackend, PersonEverywhereWithTheModelsShapes) {
  ModelInfo mi = TinyInfo();
  mi.output_kind = OutputKind::kTwoClassLogits;
  mi.output_channels = 2;
  mi.person_channel = 1;
  BackendOptions opts;
  opts.max_batch = 2;
  opts.model_info_override = &mi;
  auto b = CreateBackend("noop", "", opts);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->input(0).shape, (std::vector<int64_t>{2, 4, 5, 3}));
  Tensor out = (*b)->output(0);
  ASSERT_EQ(out.shape, (std::vector<int64_t>{2, 4, 5, 2}));
  ASSERT_TRUE((*b)->Run(2).ok());
  for (int64_t i = 0; i < out.elements(); ++i) {
    EXPECT_GT(i % 2 == 1 ? out.as<float>()[i] : -out.as<float>()[i], 0.f);
  }
}

}  // namespace
}  // namespace vrseg
