// TimeModel (`vrseg bench --batch`): the model alone at each batch size, against the arithmetic it
// promises (frames/s from the median, sample ordering, JSON lines) and the CPU backend; models
// without vrseg metadata; bad options and files.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "vrseg/bench.h"
#include "vrseg/convert.h"

namespace vrseg {
namespace {

namespace fs = std::filesystem;

class ModelTimingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(fs::temp_directory_path() /
                           ("vrseg_model_timing_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    model_ = *dir_ + "/selfie.onnx";
    auto r = ConvertTfjsToOnnx(std::string(VRSEG_MODEL_DIR) + "/tfjs/selfie.json", model_,
                               {"selfie", "Apache-2.0", "", true});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    // The same model without vrseg metadata (as an export from elsewhere would be).
    onnx::ModelProto m;
    {
      std::ifstream in(model_, std::ios::binary);
      ASSERT_TRUE(m.ParseFromIstream(&in));
    }
    ASSERT_GT(m.metadata_props_size(), 0);
    m.clear_metadata_props();
    bare_ = *dir_ + "/bare.onnx";
    std::ofstream out(bare_, std::ios::binary);
    ASSERT_TRUE(m.SerializeToOstream(&out));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete dir_;
  }
  static ModelTimingOptions Options(const std::string& model) {
    ModelTimingOptions o;
    o.backend = "ort";
    o.model = model;
    o.backend_options.threads = 1;
    o.batches = {1, 2};
    o.samples = 3;
    o.sample_ms = 5;
    return o;
  }
  static std::string* dir_;
  static std::string model_, bare_;
};
std::string* ModelTimingTest::dir_ = nullptr;
std::string ModelTimingTest::model_;
std::string ModelTimingTest::bare_;

TEST_F(ModelTimingTest, TimesEveryBatchOnTheCpu) {
  auto r = TimeModel(Options(model_));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->backend, "ort");
  EXPECT_EQ(r->model, model_);
  EXPECT_FALSE(r->device_timed);
  EXPECT_FALSE(r->without_metadata);
  EXPECT_EQ(r->precision, "fp32");
  EXPECT_GT(r->create_s, 0);
  EXPECT_GT(r->first_run_ms, 0);
  ASSERT_EQ(r->points.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const ModelTimingPoint& p = r->points[i];
    EXPECT_EQ(p.batch, static_cast<int>(i) + 1);
    EXPECT_GT(p.ms_per_batch, 0);
    EXPECT_LE(p.min_ms, p.ms_per_batch);
    EXPECT_GE(p.max_ms, p.ms_per_batch);
    EXPECT_NEAR(p.frames_per_s, p.batch * 1000.0 / p.ms_per_batch, 1e-9 * p.frames_per_s);
    EXPECT_GE(p.runs_per_sample, 3);
    EXPECT_LE(p.runs_per_sample, 1000);
  }
  // One JSON object a line, one line a point, with the figures above.
  std::istringstream lines(ModelTimingJson(*r));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["kind"], "model");
    EXPECT_EQ(j["backend"], "ort");
    EXPECT_EQ(j["batch"], r->points[n].batch);
    EXPECT_NEAR(j["ms_per_batch"].get<double>(), r->points[n].ms_per_batch,
                1e-5 * r->points[n].ms_per_batch);
    EXPECT_NEAR(j["frames_per_s"].get<double>(), r->points[n].frames_per_s,
                1e-5 * r->points[n].frames_per_s);
    EXPECT_EQ(j["device_timed"], false);
    ++n;
  }
  EXPECT_EQ(n, 2);
  EXPECT_NE(FormatModelTimingReport(*r).find("wall time"), std::string::npos);
}

TEST_F(ModelTimingTest, ModelWithoutMetadataIsTimedAsAnImageModel) {
  auto r = TimeModel(Options(bare_));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->without_metadata);
  ASSERT_EQ(r->points.size(), 2u);
  EXPECT_GT(r->points[1].frames_per_s, 0);
  EXPECT_NE(FormatModelTimingReport(*r).find("no vrseg metadata"), std::string::npos);
}

TEST_F(ModelTimingTest, BadOptionsNameTheField) {
  auto expect = [](ModelTimingOptions o, StatusCode code, const std::string& text) {
    auto r = TimeModel(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().ToString();
  };
  ModelTimingOptions o = Options(model_);
  o.batches = {};
  expect(o, StatusCode::kInvalidArgument, "bench.batch");
  o.batches = {1, 0};
  expect(o, StatusCode::kInvalidArgument, "bench.batch: 0");
  o.batches = {1025};
  expect(o, StatusCode::kInvalidArgument, "1..1024");
  o = Options(model_);
  o.samples = 0;
  expect(o, StatusCode::kInvalidArgument, "bench.samples");
  o = Options(model_);
  o.sample_ms = 0;
  expect(o, StatusCode::kInvalidArgument, "bench.sample_ms");
  expect(Options(*dir_ + "/missing.onnx"), StatusCode::kNotFound, "missing.onnx");
  o = Options(model_);
  o.backend = "no-such-backend";
  expect(o, StatusCode::kInvalidArgument, "no-such-backend");
}

TEST_F(ModelTimingTest, CorruptModelReportsTheFile) {
  const std::string bad = *dir_ + "/corrupt.onnx";
  std::ofstream(bad) << "this is not an ONNX model";
  auto r = TimeModel(Options(bad));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel) << r.status().ToString();
  EXPECT_NE(r.status().message().find("corrupt.onnx"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace vrseg
