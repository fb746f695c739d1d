// TF.js reader and converter on bad input: every malformed, truncated or inconsistent model gives
// the documented status code and names the file (and node or weight), never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "model/tfjs_graph.h"
#include "model_test_util.h"
#include "vrseg/convert.h"

namespace vrseg {
namespace {

using nlohmann::json;
using testing::AttrInts;
using testing::AttrStr;
using testing::ReadAll;
using testing::TempDir;
using testing::TfjsWriter;
using testing::WriteAll;

// A valid minimal segmentation model: x [1,4,4,3] -> 1x1 conv to 1 channel -> Sigmoid.
TfjsWriter TinyModel() {
  TfjsWriter w;
  w.Placeholder("x", {1, 4, 4, 3});
  w.Const("f", {1, 1, 3, 1}, {0.5f, -0.25f, 1.f});
  w.Op("conv", "Conv2D", {"x", "f"},
       {{"strides", AttrInts({1, 1, 1, 1})},
        {"padding", AttrStr("VALID")},
        {"data_format", AttrStr("NHWC")}});
  w.Op("y", "Sigmoid", {"conv"});
  w.Output("y");
  return w;
}

Status Convert(const std::string& json_path, const TempDir& dir) {
  return ConvertTfjsToOnnx(json_path, dir.File("out.onnx"), {}).status();
}

void ExpectError(const Status& s, StatusCode code, const std::vector<std::string>& mentions) {
  if (std::getenv("VRSEG_TEST_VERBOSE")) std::printf("  %s\n", s.ToString().c_str());
  EXPECT_EQ(s.code(), code) << s.ToString();
  for (const auto& m : mentions)
    EXPECT_NE(s.message().find(m), std::string::npos) << s.ToString() << "\nlacks: " << m;
}

TEST(TfjsReader, TinyModelConverts) {
  TempDir dir;
  const std::string path = TinyModel().Write(dir);
  Result<ConvertReport> r = ConvertTfjsToOnnx(path, dir.File("out.onnx"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->info.output_kind, OutputKind::kSigmoidProbability);
  EXPECT_EQ(r->info.name, "model");
  EXPECT_EQ(r->info.source, "vrseg tests");  // the json's generatedBy
  EXPECT_EQ(r->ops_used, (std::vector<std::string>{"Const", "Conv2D", "Placeholder", "Sigmoid"}));
  EXPECT_EQ(r->tfjs_nodes, 4);
  EXPECT_FALSE(std::filesystem::exists(dir.File("out.onnx.tmp")));
}

TEST(TfjsReader, MissingModelJson) {
  TempDir dir;
  ExpectError(Convert(dir.File("nope.json"), dir), StatusCode::kNotFound, {"nope.json"});
}

TEST(TfjsReader, TruncatedAndMalformedJson) {
  TempDir dir;
  const std::string good = TinyModel().Write(dir);
  const std::string text = ReadAll(good);
  for (size_t cut : {size_t{0}, size_t{1}, text.size() / 3, text.size() / 2, text.size() - 1}) {
    WriteAll(good, text.substr(0, cut));
    const Status s = Convert(good, dir);
    ExpectError(s, StatusCode::kInvalidModel, {good});
  }
  for (const char* bad : {"[]", "42", "{\"modelTopology\": 3}", "{\"modelTopology\": {}}",
                          "{\"modelTopology\": {\"node\": [{\"op\": \"Relu\"}]}}",
                          "{\"modelTopology\": {\"node\": [{\"name\": \"a\", \"op\": \"Relu\", "
                          "\"input\": [\"b\"]}]}}",
                          "{\"modelTopology\": {\"node\": [{\"name\": \"a\", \"op\": \"Relu\"}, "
                          "{\"name\": \"a\", \"op\": \"Relu\"}]}}"}) {
    WriteAll(good, bad);
    ExpectError(Convert(good, dir), StatusCode::kInvalidModel, {good});
  }
}

TEST(TfjsReader, LayersModelIsUnsupported) {
  TempDir dir;
  WriteAll(dir.File("layers.json"),
           R"({"format": "layers-model", "modelTopology": {"class_name": "Model"}})");
  ExpectError(Convert(dir.File("layers.json"), dir), StatusCode::kUnsupported,
              {"layers-model", "layers.json"});
}

TEST(TfjsReader, MissingShortAndLongShards) {
  TempDir dir;
  const std::string path = TinyModel().Write(dir);
  const std::string bin = ReadAll(dir.File("model.bin"));
  std::filesystem::remove(dir.File("model.bin"));
  ExpectError(Convert(path, dir), StatusCode::kNotFound, {"model.bin"});
  WriteAll(dir.File("model.bin"), bin.substr(0, bin.size() - 1));
  ExpectError(Convert(path, dir), StatusCode::kDataLoss, {"model.bin", "'f'"});
  WriteAll(dir.File("model.bin"), "");
  ExpectError(Convert(path, dir), StatusCode::kDataLoss, {"model.bin"});
  WriteAll(dir.File("model.bin"), bin + "xxxx");
  ExpectError(Convert(path, dir), StatusCode::kInvalidModel, {"model.bin"});
  EXPECT_FALSE(std::filesystem::exists(dir.File("out.onnx")));
}

TEST(TfjsReader, RealModelTruncatedOrCorrupted) {
  // selfie.json/.bin cut or scribbled on: always a clean error (or, for a harmless change,
  // success).
  const std::string src = std::string(VRSEG_MODEL_DIR) + "/tfjs/selfie";
  ASSERT_TRUE(std::filesystem::exists(src + ".json"))
      << "TF.js models are fetched by scripts/setup.sh";
  TempDir dir;
  const std::string text = ReadAll(src + ".json"), bin = ReadAll(src + ".bin");
  const std::string json_path = dir.File("selfie.json");
  WriteAll(dir.File("selfie.bin"), bin);
  for (int k = 1; k < 8; ++k) {
    WriteAll(json_path, text.substr(0, text.size() * k / 8));
    ExpectError(Convert(json_path, dir), StatusCode::kInvalidModel, {"selfie.json"});
  }
  WriteAll(json_path, text);
  for (size_t cut : {size_t{0}, bin.size() / 2, bin.size() - 2}) {
    WriteAll(dir.File("selfie.bin"), bin.substr(0, cut));
    ExpectError(Convert(json_path, dir), StatusCode::kDataLoss, {"selfie.bin"});
  }
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    std::string t = text;
    for (int k = 0; k < 4; ++k) t[rng() % t.size()] = "{}[]\":,0a-"[rng() % 10];
    WriteAll(json_path, t);
    WriteAll(dir.File("selfie.bin"), bin);
    const Status s = Convert(json_path, dir);  // must not crash; any error names the file
    if (!s.ok()) {
      EXPECT_NE(s.message().find("selfie"), std::string::npos) << s.ToString();
    }
  }
}

TEST(TfjsReader, ConstWithoutWeightOrWithWrongShape) {
  TempDir dir;
  TfjsWriter w = TinyModel();
  json j = w.ModelJson("model.bin");
  WriteAll(dir.File("model.bin"), w.data());
  // Rename the weight: the Const node "f" has none.
  json j1 = j;
  j1["weightsManifest"][0]["weights"][0]["name"] = "other";
  WriteAll(dir.File("a.json"), j1.dump());
  ExpectError(Convert(dir.File("a.json"), dir), StatusCode::kInvalidModel,
              {"a.json", "'f'", "weightsManifest"});
  // Node declares [1,1,3,1], manifest says [3,1,1,1] (same byte count).
  json j2 = j;
  j2["weightsManifest"][0]["weights"][0]["shape"] = {3, 1, 1, 1};
  WriteAll(dir.File("b.json"), j2.dump());
  ExpectError(Convert(dir.File("b.json"), dir), StatusCode::kInvalidModel,
              {"b.json", "'f'", "[1,1,3,1]"});
  // Manifest shape consistent with the node but not with the input's channels.
  json j3 = j;
  j3["weightsManifest"][0]["weights"][0]["shape"] = {1, 1, 1, 3};
  for (auto& n : j3["modelTopology"]["node"]) {
    if (n["name"] == "f")
      n["attr"]["value"]["tensor"]["tensorShape"]["dim"] =
          json::array({{{"size", "1"}}, {{"size", "1"}}, {{"size", "1"}}, {{"size", "3"}}});
  }
  WriteAll(dir.File("c.json"), j3.dump());
  const Status s3 = Convert(dir.File("c.json"), dir);
  // 3 input channels / 1 filter channel is a valid grouped conv, whose 3 outputs are not a mask.
  ExpectError(s3, StatusCode::kUnsupported, {"c.json", "3 channels"});
  json j4 = j;
  j4["weightsManifest"][0]["weights"][0]["shape"] = {1, 1, 2, 1};
  j4["weightsManifest"][0]["weights"][0]["dtype"] = "float32";
  for (auto& n : j4["modelTopology"]["node"]) {
    if (n["name"] == "f")
      n["attr"]["value"]["tensor"]["tensorShape"]["dim"] =
          json::array({{{"size", "1"}}, {{"size", "1"}}, {{"size", "2"}}, {{"size", "1"}}});
  }
  WriteAll(dir.File("model.bin"), w.data().substr(0, 8));
  WriteAll(dir.File("d.json"), j4.dump());
  ExpectError(Convert(dir.File("d.json"), dir), StatusCode::kInvalidModel,
              {"d.json", "'conv'", "input channels"});
}

TEST(TfjsReader, BadManifestEntries) {
  TempDir dir;
  TfjsWriter w = TinyModel();
  WriteAll(dir.File("model.bin"), w.data());
  const json j = w.ModelJson("model.bin");
  auto with = [&](const std::function<void(json&)>& edit) {
    json k = j;
    edit(k);
    WriteAll(dir.File("m.json"), k.dump());
    return Convert(dir.File("m.json"), dir);
  };
  ExpectError(with([](json& k) { k["weightsManifest"] = 3; }), StatusCode::kInvalidModel,
              {"weightsManifest"});
  ExpectError(with([](json& k) { k["weightsManifest"][0].erase("paths"); }),
              StatusCode::kInvalidModel, {"paths"});
  ExpectError(with([](json& k) { k["weightsManifest"][0]["weights"][0]["dtype"] = "string"; }),
              StatusCode::kUnsupported, {"'f'", "string"});
  ExpectError(with([](json& k) {
                k["weightsManifest"][0]["weights"][0]["shape"] = {-1, 3};
              }),
              StatusCode::kInvalidModel, {"'f'", "shape"});
  ExpectError(with([](json& k) {
                k["weightsManifest"][0]["weights"][0]["quantization"] = {{"dtype", "int4"}};
              }),
              StatusCode::kUnsupported, {"'f'", "int4"});
  ExpectError(
      with([](json& k) {
        k["weightsManifest"][0]["weights"][0]["quantization"] = {{"dtype", "uint8"}, {"min", 0}};
      }),
      StatusCode::kInvalidModel, {"'f'", "scale"});
  ExpectError(
      with([](json& k) { k["weightsManifest"][0]["paths"] = {"../../../no/such/shard.bin"}; }),
      StatusCode::kNotFound, {"shard.bin"});
}

TEST(TfjsReader, UnsupportedOpsAndShapesAreNamed) {
  TempDir dir;
  {
    TfjsWriter w;
    w.Placeholder("x", {1, 4, 4, 3});
    w.Op("sq", "Square", {"x"});
    w.Op("y", "Sigmoid", {"sq"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "a"), dir), StatusCode::kUnsupported,
                {"a.json", "'Square'", "'sq'"});
  }
  {  // data_format NCHW
    TfjsWriter w;
    w.Placeholder("x", {1, 4, 4, 3});
    w.Const("f", {1, 1, 3, 1}, {1.f, 1.f, 1.f});
    w.Op("conv", "Conv2D", {"x", "f"},
         {{"strides", AttrInts({1, 1, 1, 1})},
          {"padding", AttrStr("VALID")},
          {"data_format", AttrStr("NCHW")}});
    w.Op("y", "Sigmoid", {"conv"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "b"), dir), StatusCode::kUnsupported,
                {"b.json", "'conv'", "NCHW"});
  }
  {  // a 4-channel input
    TfjsWriter w;
    w.Placeholder("x", {1, 4, 4, 4});
    w.Const("f", {1, 1, 4, 1}, {1.f, 1.f, 1.f, 1.f});
    w.Op("conv", "Conv2D", {"x", "f"},
         {{"strides", AttrInts({1, 1, 1, 1})}, {"padding", AttrStr("SAME")}});
    w.Op("y", "Sigmoid", {"conv"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "c"), dir), StatusCode::kUnsupported,
                {"c.json", "4 channels"});
  }
  {  // two outputs
    TfjsWriter w = TinyModel();
    w.Op("z", "Relu", {"conv"});
    w.Output("z");
    ExpectError(Convert(w.Write(dir, "d"), dir), StatusCode::kUnsupported, {"d.json", "2 outputs"});
  }
  {  // a kernel larger than the input under VALID
    TfjsWriter w;
    w.Placeholder("x", {1, 2, 2, 3});
    w.Const("f", {3, 3, 3, 1}, std::vector<float>(27, 0.1f));
    w.Op("conv", "Conv2D", {"x", "f"},
         {{"strides", AttrInts({1, 1, 1, 1})}, {"padding", AttrStr("VALID")}});
    w.Op("y", "Sigmoid", {"conv"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "e"), dir), StatusCode::kInvalidModel,
                {"e.json", "'conv'", "does not fit"});
  }
  {  // bad strides attribute
    TfjsWriter w;
    w.Placeholder("x", {1, 4, 4, 3});
    w.Const("f", {1, 1, 3, 1}, {1.f, 1.f, 1.f});
    w.Op("conv", "Conv2D", {"x", "f"},
         {{"strides", AttrInts({2, 2})}, {"padding", AttrStr("VALID")}});
    w.Op("y", "Sigmoid", {"conv"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "f"), dir), StatusCode::kInvalidModel,
                {"f.json", "'conv'", "strides"});
  }
  {  // a dynamic spatial input
    TfjsWriter w;
    w.Placeholder("x", {-1, -1, -1, 3});
    w.Op("y", "Sigmoid", {"x"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "g"), dir), StatusCode::kUnsupported,
                {"g.json", "'x'", "dynamic"});
  }
  {  // a cycle
    TfjsWriter w;
    w.Placeholder("x", {1, 4, 4, 3});
    w.Op("a", "AddV2", {"x", "b"});
    w.Op("b", "Relu", {"a"});
    w.Op("y", "Sigmoid", {"b"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "h"), dir), StatusCode::kInvalidModel, {"h.json", "cycle"});
  }
  {  // a Reshape to a size that does not match
    TfjsWriter w;
    w.Placeholder("x", {1, 4, 4, 3});
    w.ConstInt("s", {4}, {1, 4, 4, 2});
    w.Op("r", "Reshape", {"x", "s"});
    w.Op("y", "Sigmoid", {"r"});
    w.Output("y");
    ExpectError(Convert(w.Write(dir, "i"), dir), StatusCode::kInvalidModel,
                {"i.json", "'r'", "reshape"});
  }
}

TEST(TfjsReader, UnwritableOutput) {
  TempDir dir;
  const std::string path = TinyModel().Write(dir);
  const Status s = ConvertTfjsToOnnx(path, dir.File("no/such/dir/out.onnx"), {}).status();
  ExpectError(s, StatusCode::kIoError, {"no/such/dir"});
}

TEST(TfjsReader, RealUint8QuantisedModelDecodes) {
  // rvm.json: 425 weights, 229 of them uint8-quantised float32. Each decoded value must be
  // min + q * scale for an integer q in [0, 255] (checked against the manifest read here).
  const std::string path = std::string(VRSEG_MODEL_DIR) + "/tfjs/rvm.json";
  ASSERT_TRUE(std::filesystem::exists(path)) << "TF.js models are fetched by scripts/setup.sh";
  Result<model::TfGraph> g = model::ReadTfjsGraph(path);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const json j = json::parse(ReadAll(path));
  int quantised = 0;
  for (const auto& w : j["weightsManifest"][0]["weights"]) {
    const model::TfTensor& t = g->weights.at(w["name"].get<std::string>());
    if (!w.contains("quantization")) continue;
    ++quantised;
    ASSERT_EQ(w["quantization"]["dtype"], "uint8");
    const double min = w["quantization"]["min"], scale = w["quantization"]["scale"];
    for (float v : t.f) {
      const double q = (v - min) / scale;
      ASSERT_NEAR(q, std::round(q), 1e-3) << w["name"];
      ASSERT_GE(std::round(q), 0);
      ASSERT_LE(std::round(q), 255);
    }
  }
  EXPECT_EQ(g->weights.size(), 425u);
  EXPECT_EQ(quantised, 229);
}

TEST(TfjsReader, HalfToFloat) {
  using model::HalfToFloat;
  EXPECT_EQ(HalfToFloat(0x3c00), 1.f);
  EXPECT_EQ(HalfToFloat(0xc000), -2.f);
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.f);
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.f, -14));  // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.f, -24));  // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03ff), std::ldexp(1023.f, -24));
  EXPECT_EQ(HalfToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x8000), 0.f);
}

TEST(TfjsReader, QuantisedWeightsDecodeByTheManifest) {
  // Bytes written by hand; expectations from the TF.js rule value = q * scale + min.
  TempDir dir;
  std::string bin;
  const uint8_t u8[] = {0, 1, 128, 255};
  bin.append(reinterpret_cast<const char*>(u8), 4);
  const uint16_t u16[] = {0, 1, 40000, 65535};
  bin.append(reinterpret_cast<const char*>(u16), 8);
  const uint16_t f16[] = {0x3c00, 0xb800, 0x0001, 0x7bff};
  bin.append(reinterpret_cast<const char*>(f16), 8);
  const uint8_t i8[] = {0, 4, 10};  // int32 weight stored as uint8: rounded
  bin.append(reinterpret_cast<const char*>(i8), 3);
  const int32_t i32[] = {-7, 1 << 30};
  bin.append(reinterpret_cast<const char*>(i32), 8);
  const uint8_t b[] = {0, 1, 2};
  bin.append(reinterpret_cast<const char*>(b), 3);
  WriteAll(dir.File("w.bin"), bin);
  json j = {{"format", "graph-model"},
            {"modelTopology", {{"node", json::array()}}},
            {"weightsManifest",
             {{{"paths", {"w.bin"}},
               {"weights",
                {{{"name", "a"},
                  {"shape", {4}},
                  {"dtype", "float32"},
                  {"quantization", {{"dtype", "uint8"}, {"min", -1.0}, {"scale", 0.5}}}},
                 {{"name", "b"},
                  {"shape", {2, 2}},
                  {"dtype", "float32"},
                  {"quantization", {{"dtype", "uint16"}, {"min", 2.0}, {"scale", 0.001}}}},
                 {{"name", "c"},
                  {"shape", {4}},
                  {"dtype", "float32"},
                  {"quantization", {{"dtype", "float16"}}}},
                 {{"name", "d"},
                  {"shape", {3}},
                  {"dtype", "int32"},
                  {"quantization", {{"dtype", "uint8"}, {"min", -0.4}, {"scale", 0.3}}}},
                 {{"name", "e"}, {"shape", {2}}, {"dtype", "int32"}},
                 {{"name", "f"}, {"shape", {3}}, {"dtype", "bool"}}}}}}}};
  WriteAll(dir.File("w.json"), j.dump());
  Result<model::TfGraph> g = model::ReadTfjsGraph(dir.File("w.json"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const auto& w = g->weights;
  EXPECT_EQ(w.at("a").f, (std::vector<float>{-1.f, -0.5f, 63.f, 126.5f}));
  const std::vector<int64_t> shape_b = {2, 2};
  EXPECT_EQ(w.at("b").shape, shape_b);
  const double ub[] = {0, 1, 40000, 65535};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(w.at("b").f[i], float(ub[i] * 0.001 + 2.0));
  EXPECT_EQ(w.at("c").f, (std::vector<float>{1.f, -0.5f, std::ldexp(1.f, -24), 65504.f}));
  EXPECT_EQ(w.at("d").i, (std::vector<int32_t>{0, 1, 3}));  // round(-0.4), round(0.8), round(2.6)
  EXPECT_EQ(w.at("e").i, (std::vector<int32_t>{-7, 1 << 30}));
  EXPECT_EQ(w.at("f").i, (std::vector<int32_t>{0, 1, 1}));
}

}  // namespace
}  // namespace vrseg
