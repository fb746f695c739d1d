// Model metadata (ModelInfo <-> ONNX metadata_props) and the model registry.
#include "vrseg/model_registry.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <fstream>

#include "model_test_util.h"
#include "vrseg/convert.h"

namespace vrseg {
namespace {

using testing::AttrInts;
using testing::AttrStr;
using testing::TempDir;
using testing::TfjsWriter;
using testing::WriteAll;

// Sets VRSEG_MODEL_DIR for the scope, restoring the previous value.
class ScopedModelDir {
 public:
  explicit ScopedModelDir(const std::string& dir) {
    if (const char* old = std::getenv("VRSEG_MODEL_DIR")) old_ = old, had_ = true;
    ::setenv("VRSEG_MODEL_DIR", dir.c_str(), 1);
  }
  ~ScopedModelDir() {
    if (had_)
      ::setenv("VRSEG_MODEL_DIR", old_.c_str(), 1);
    else
      ::unsetenv("VRSEG_MODEL_DIR");
  }

 private:
  std::string old_;
  bool had_ = false;
};

// Converts a tiny 1-channel (or 2-channel) model to `onnx_path`.
ConvertReport MakeModel(const std::string& onnx_path, const std::string& name, int channels) {
  TempDir src;
  TfjsWriter w;
  w.Placeholder("img", {1, 6, 8, 3});
  w.Const("f", {1, 1, 3, channels}, std::vector<float>(3 * channels, 0.25f));
  w.Op("conv", "Conv2D", {"img", "f"},
       {{"strides", AttrInts({1, 1, 1, 1})}, {"padding", AttrStr("SAME")}});
  if (channels == 1) w.Op("prob", "Sigmoid", {"conv"});
  w.Output(channels == 1 ? "prob:0" : "conv:0");
  Result<ConvertReport> r =
      ConvertTfjsToOnnx(w.Write(src), onnx_path, {name, "CC0", "unit test", true});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : ConvertReport{};
}

TEST(ModelInfoMetadata, RoundTripsEveryField) {
  ModelInfo mi;
  mi.name = "x";
  mi.input_name = "in";
  mi.output_name = "out";
  mi.input_width = 320;
  mi.input_height = 180;
  mi.input_layout = TensorLayout::kNCHW;
  mi.output_layout = TensorLayout::kNCHW;
  mi.input_bgr = true;
  mi.mean = {0.485f, 0.456f, 0.406f};
  mi.std = {0.229f, 0.224f, 0.225f};
  mi.resize_half_pixel = true;
  mi.output_kind = OutputKind::kClassLogits;
  mi.output_channels = 21;
  mi.person_channel = 15;
  mi.licence = "MIT";
  mi.source = "somewhere";
  Result<ModelInfo> back = ModelInfo::FromMetadata(mi.ToMetadata());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->ToMetadata(), mi.ToMetadata());
  EXPECT_EQ(back->mean, mi.mean);
  EXPECT_EQ(back->std, mi.std);
  EXPECT_EQ(back->input_layout, TensorLayout::kNCHW);
  EXPECT_TRUE(back->input_bgr);
  EXPECT_EQ(back->person_channel, 15);
}

TEST(ModelInfoMetadata, BadEntriesNameTheKey) {
  ModelInfo mi;
  mi.input_width = 256;
  mi.input_height = 256;
  const auto good = mi.ToMetadata();
  struct Bad {
    const char* key;
    const char* value;  // nullptr: remove the key
  };
  for (Bad b :
       {Bad{"vrseg.format", nullptr}, Bad{"vrseg.format", "2"}, Bad{"vrseg.input_width", "0"},
        Bad{"vrseg.input_width", "12x"}, Bad{"vrseg.input_height", nullptr},
        Bad{"vrseg.input_layout", "HWC"}, Bad{"vrseg.channel_order", "GRB"},
        Bad{"vrseg.mean", "1,2"}, Bad{"vrseg.std", "1,0,1"}, Bad{"vrseg.output_kind", "mask"},
        Bad{"vrseg.person_channel", "1"}, Bad{"vrseg.output_channels", "-3"}}) {
    auto props = good;
    if (b.value)
      props[b.key] = b.value;
    else
      props.erase(b.key);
    Result<ModelInfo> r = ModelInfo::FromMetadata(props);
    ASSERT_FALSE(r.ok()) << b.key;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
    if (std::string(b.key) != "vrseg.format" || b.value) {
      EXPECT_NE(r.status().message().find(b.key), std::string::npos) << r.status().ToString();
    }
  }
}

TEST(ReadModelInfo, ReadsWhatTheConverterWrote) {
  TempDir dir;
  const ConvertReport rep = MakeModel(dir.File("m.onnx"), "tiny", 2);
  Result<ModelInfo> mi = ReadModelInfo(dir.File("m.onnx"));
  ASSERT_TRUE(mi.ok()) << mi.status().ToString();
  EXPECT_EQ(mi->ToMetadata(), rep.info.ToMetadata());
  EXPECT_EQ(mi->name, "tiny");
  EXPECT_EQ(mi->licence, "CC0");
  EXPECT_EQ(mi->source, "unit test");
  EXPECT_EQ(mi->input_name, "img");
  EXPECT_EQ(mi->output_name, "conv");  // ":0" stripped
  EXPECT_EQ(mi->input_width, 8);
  EXPECT_EQ(mi->input_height, 6);
  EXPECT_EQ(mi->output_kind, OutputKind::kTwoClassLogits);
  EXPECT_EQ(mi->output_channels, 2);
  EXPECT_EQ(mi->person_channel, 1);
  EXPECT_EQ(mi->mean, (std::array<float, 3>{0.f, 0.f, 0.f}));
  EXPECT_EQ(mi->std, (std::array<float, 3>{1.f, 1.f, 1.f}));
  EXPECT_FALSE(mi->resize_half_pixel);

  // The file itself: opset 17, NHWC boundary with a symbolic batch.
  onnx::ModelProto m;
  std::ifstream f(dir.File("m.onnx"), std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&f));
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 17);
  ASSERT_EQ(m.graph().input_size(), 1);
  const auto& dims = m.graph().input(0).type().tensor_type().shape().dim();
  ASSERT_EQ(dims.size(), 4);
  EXPECT_EQ(dims[0].dim_param(), "N");
  EXPECT_EQ(dims[1].dim_value(), 6);
  EXPECT_EQ(dims[2].dim_value(), 8);
  EXPECT_EQ(dims[3].dim_value(), 3);
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(3).dim_value(), 2);
}

TEST(ReadModelInfo, Errors) {
  TempDir dir;
  Result<ModelInfo> r = ReadModelInfo(dir.File("none.onnx"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("none.onnx"), std::string::npos);

  WriteAll(dir.File("junk.onnx"), "this is not a protobuf \xff\xff\xff\xff");
  r = ReadModelInfo(dir.File("junk.onnx"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel) << r.status().ToString();
  EXPECT_NE(r.status().message().find("junk.onnx"), std::string::npos);

  WriteAll(dir.File("empty.onnx"), "");
  r = ReadModelInfo(dir.File("empty.onnx"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel) << r.status().ToString();

  // A valid ONNX model without vrseg metadata.
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  m.mutable_graph()->set_name("bare");
  {
    std::ofstream f(dir.File("bare.onnx"), std::ios::binary);
    m.SerializeToOstream(&f);
  }
  r = ReadModelInfo(dir.File("bare.onnx"));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(r.status().message().find("bare.onnx"), std::string::npos);
  EXPECT_NE(r.status().message().find("vrseg metadata"), std::string::npos)
      << r.status().ToString();

  // Truncated converted model.
  MakeModel(dir.File("t.onnx"), "t", 1);
  const std::string bytes = testing::ReadAll(dir.File("t.onnx"));
  WriteAll(dir.File("t.onnx"), bytes.substr(0, bytes.size() / 2));
  r = ReadModelInfo(dir.File("t.onnx"));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("t.onnx"), std::string::npos);

  r = ReadModelInfo(dir.path().string());  // a directory
  EXPECT_EQ(r.status().code(), StatusCode::kIoError) << r.status().ToString();
}

TEST(ModelRegistry, ModelDirFollowsTheEnvironment) {
  {
    ScopedModelDir env("/some/where");
    EXPECT_EQ(ModelDir(), "/some/where");
  }
  {
    ScopedModelDir env("");
    EXPECT_EQ(ModelDir(), VRSEG_MODEL_DIR);  // empty means unset
  }
  const char* cur = std::getenv("VRSEG_MODEL_DIR");
  if (cur == nullptr || cur[0] == '\0') {
    EXPECT_EQ(ModelDir(), VRSEG_MODEL_DIR);
  }
}

TEST(ModelRegistry, ResolvesKnownNamesAndPaths) {
  TempDir dir;
  ScopedModelDir env(dir.path().string());
  MakeModel(dir.File("selfie.onnx"), "selfie", 1);
  MakeModel(dir.File("landscape.onnx"), "landscape", 2);
  EXPECT_EQ(*ResolveModelPath("selfie"), dir.File("selfie.onnx"));
  EXPECT_EQ(*ResolveModelPath("landscape"), dir.File("landscape.onnx"));
  EXPECT_EQ(*ResolveModelPath("meet"), dir.File("landscape.onnx"));
  // Anything else is a path.
  EXPECT_EQ(*ResolveModelPath(dir.File("selfie.onnx")), dir.File("selfie.onnx"));
  Result<std::string> r = ResolveModelPath(dir.File("other.onnx"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  for (const char* part : {"other.onnx", "selfie", "landscape", "meet"}) {
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().ToString();
  }
  EXPECT_NE(r.status().message().find(dir.path().string()), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ResolveModelPath("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolveModelPath(dir.path().string()).status().code(),
            StatusCode::kNotFound);  // a directory

  std::filesystem::remove(dir.File("landscape.onnx"));
  r = ResolveModelPath("meet");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("landscape.onnx"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("not installed"), std::string::npos) << r.status().ToString();
}

TEST(ModelRegistry, InstalledModelsListsOnlyVrsegModels) {
  TempDir dir;
  ScopedModelDir env(dir.path().string());
  EXPECT_TRUE(InstalledModels().empty());
  MakeModel(dir.File("selfie.onnx"), "selfie", 1);
  MakeModel(dir.File("landscape.onnx"), "landscape", 2);
  WriteAll(dir.File("junk.onnx"), "garbage");
  WriteAll(dir.File("notes.txt"), "hello");
  std::filesystem::create_directories(dir.File("sub.onnx"));
  MakeModel(dir.File("nested.onnx"), "nested", 1);
  std::filesystem::rename(dir.File("nested.onnx"), dir.File("sub.onnx/nested.onnx"));
  const auto models = InstalledModels();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "landscape");
  EXPECT_EQ(models[0].path, dir.File("landscape.onnx"));
  EXPECT_EQ(models[0].info.output_kind, OutputKind::kTwoClassLogits);
  EXPECT_EQ(models[1].name, "selfie");
  EXPECT_EQ(models[1].info.output_kind, OutputKind::kSigmoidProbability);
  EXPECT_EQ(models[1].info.licence, "CC0");
  {
    ScopedModelDir missing(dir.File("does_not_exist"));
    EXPECT_TRUE(InstalledModels().empty());
  }
}

}  // namespace
}  // namespace vrseg
