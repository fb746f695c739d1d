// Plan file format: round trip, key comparison, truncation, corruption, wrong magic/version.
#include "engine/plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace vrseg::engine {
namespace {

Plan MakePlan() {
  Plan p;
  p.key.model_sha256 = std::string(64, 'a');
  p.key.gpu_name = "NVIDIA H100 80GB HBM3";
  p.key.compute_capability = 90;
  p.key.cuda_runtime_version = 13000;
  p.key.cudnn_version = 91900;
  p.key.cublas_version = 130100;
  p.key.precision = "fp16";
  p.key.min_batch = 1;
  p.key.opt_batch = 2;
  p.key.max_batch = 4;

  PlanBuffer in{"input",
                PlanDType::kF16,
                {Dim::Batch(), Dim::Const(8), Dim::Const(8), Dim::Const(3)},
                BufferKind::kInput,
                0,
                0};
  PlanBuffer act{"conv_out",
                 PlanDType::kF16,
                 {Dim::Batch(), Dim::Const(8), Dim::Const(8), Dim::Const(16)},
                 BufferKind::kArena,
                 256,
                 -1};
  PlanBuffer alias{"reshaped", PlanDType::kF16, {Dim{64, 0}, Dim::Const(16)}, BufferKind::kAlias, 0,
                   1};
  PlanBuffer out{"output",
                 PlanDType::kI64,
                 {Dim::Batch(), Dim::Const(8), Dim::Const(8)},
                 BufferKind::kOutput,
                 0,
                 0};
  const float c[4] = {1, 2, 3, 4};
  WeightRef cw = p.AddWeights(c, sizeof(c));
  PlanBuffer cst{"const", PlanDType::kF32, {Dim::Const(4)}, BufferKind::kConst, cw.offset, -1};
  p.buffers = {in, act, alias, out, cst};

  PlanLayer conv;
  conv.name = "conv1";
  conv.op = "Conv";
  conv.kind = LayerKind::kConv;
  conv.ints["kernel"] = {3, 3};
  conv.ints["pads"] = {1, 1, 1, 1};
  conv.floats["alpha"] = {0.1};
  conv.floats["int8.scales"] = {0.5, 0.25, 1e-7};
  conv.inputs = {0, -1};
  conv.outputs = {1};
  conv.tactic = {TacticKind::kConv, 1, 7, "cudnn_fused:#7"};
  conv.time_ms = 0.0123;
  conv.flops_per_sample = 2.0 * 8 * 8 * 16 * 27;
  conv.bytes_fixed = 1234;
  conv.bytes_per_sample = 5678;
  std::vector<uint8_t> w(3 * 3 * 3 * 16 * 2, 7);
  conv.weights.push_back(p.AddWeights(w.data(), w.size()));
  conv.weights.push_back(p.AddWeights(w.data(), 32));
  PlanLayer am;
  am.name = "argmax";
  am.op = "ArgMax";
  am.kind = LayerKind::kArgMax;
  am.ints["axis"] = {3};
  am.inputs = {2};
  am.outputs = {3};
  p.layers = {conv, am};

  p.inputs = {{"input",
               PlanDType::kF16,
               {Dim::Batch(), Dim::Const(8), Dim::Const(8), Dim::Const(3)},
               Layout::kPlain,
               0}};
  p.outputs = {
      {"output", PlanDType::kI64, {Dim::Batch(), Dim::Const(8), Dim::Const(8)}, Layout::kPlain, 3}};
  p.metadata = {{"vrseg.input_width", "8"}, {"vrseg.name", "tiny"}};
  p.arena_bytes = 256 + 4 * 8 * 8 * 16 * 2;
  p.naive_bytes = p.arena_bytes + 100;
  p.build_seconds = 1.5;
  p.optimizer_report = {"fold_batchnorm: 1 folded", "fuse_activations: 2 fused"};
  return p;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("vrseg_plan_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(PlanFile, RoundTripKeepsEveryField) {
  const Plan p = MakePlan();
  const std::vector<uint8_t> bytes = SerializePlan(p);
  auto back = ParsePlan(bytes, "mem");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
  EXPECT_EQ(back->layers[0].floats.at("int8.scales")[2], 1e-7);
  EXPECT_EQ(back->buffers[2].dims[0], (Dim{64, 0}));
  // Serialisation is deterministic.
  EXPECT_EQ(SerializePlan(*back), bytes);

  const std::string path = TempPath("rt.plan");
  ASSERT_TRUE(WritePlanFile(p, path).ok());
  auto from_file = ReadPlanFile(path);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ(*from_file, p);
  std::filesystem::remove(path);
}

TEST(PlanFile, WeightsAreAligned) {
  Plan p;
  const uint8_t one = 1;
  WeightRef a = p.AddWeights(&one, 1);
  WeightRef b = p.AddWeights(&one, 1);
  EXPECT_EQ(a.offset, 0u);
  EXPECT_EQ(b.offset, 256u);
  EXPECT_EQ(p.weights.size(), 257u);
}

TEST(PlanFile, KeyDifferenceNamesFields) {
  PlanKey a = MakePlan().key, b = a;
  EXPECT_EQ(KeyDifference(a, b), "");
  b.gpu_name = "NVIDIA H200";
  b.cudnn_version = 91800;
  b.max_batch = 8;
  const std::string d = KeyDifference(a, b);
  EXPECT_NE(d.find("gpu_name 'NVIDIA H100 80GB HBM3' != 'NVIDIA H200'"), std::string::npos) << d;
  EXPECT_NE(d.find("cudnn_version '91900' != '91800'"), std::string::npos) << d;
  EXPECT_NE(d.find("batch '1:2:4' != '1:2:8'"), std::string::npos) << d;
  EXPECT_EQ(d.find("precision"), std::string::npos) << d;
  EXPECT_FALSE(a == b);
}

TEST(PlanFile, TruncatedAtEveryCutIsACleanError) {
  const std::vector<uint8_t> bytes = SerializePlan(MakePlan());
  ASSERT_GT(bytes.size(), 300u);
  for (size_t cut = 0; cut < bytes.size(); cut += (cut < 64 ? 1 : 7)) {
    std::vector<uint8_t> t(bytes.begin(), bytes.begin() + cut);
    auto r = ParsePlan(t, "cut.plan");
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel) << cut;
    EXPECT_NE(r.status().message().find("plan cut.plan is corrupt"), std::string::npos)
        << cut << ": " << r.status().message();
  }
}

TEST(PlanFile, FlippedByteIsAChecksumError) {
  const std::vector<uint8_t> bytes = SerializePlan(MakePlan());
  for (size_t at : {size_t{24}, bytes.size() / 2, bytes.size() - 9, bytes.size() - 1}) {
    std::vector<uint8_t> t = bytes;
    t[at] ^= 0x10;
    auto r = ParsePlan(t, "flip.plan");
    ASSERT_FALSE(r.ok()) << at;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
    EXPECT_NE(r.status().message().find("plan flip.plan is corrupt: checksum mismatch"),
              std::string::npos)
        << r.status().message();
  }
}

TEST(PlanFile, WrongMagicAndVersionNameTheFile) {
  std::vector<uint8_t> bytes = SerializePlan(MakePlan());
  std::vector<uint8_t> m = bytes;
  m[0] = 'X';
  auto r = ParsePlan(m, "/x/model.plan");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(r.status().message().find("plan /x/model.plan is not a vrseg plan"), std::string::npos)
      << r.status().message();

  std::vector<uint8_t> v = bytes;
  const uint32_t nine = 9;
  std::memcpy(v.data() + 8, &nine, 4);
  r = ParsePlan(v, "/x/model.plan");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("plan /x/model.plan has format version 9"), std::string::npos)
      << r.status().message();
}

TEST(PlanFile, ConsistentChecksumButBadReferenceIsCaught) {
  // A writer bug (or a hand-edited file with a recomputed checksum) naming a missing buffer.
  Plan p = MakePlan();
  p.layers[1].inputs = {42};
  auto r = ParsePlan(SerializePlan(p), "ref.plan");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("layer 'argmax' names a missing buffer"), std::string::npos)
      << r.status().message();
  p = MakePlan();
  p.layers[0].weights.push_back({p.weights.size() - 4, 8});
  r = ParsePlan(SerializePlan(p), "ref.plan");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("weights outside the blob"), std::string::npos);
}

TEST(PlanFile, MissingFileIsNotFound) {
  auto r = ReadPlanFile("/nonexistent/dir/model.plan");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/model.plan"), std::string::npos);
}

TEST(PlanHash, Sha256KnownAnswers) {
  // FIPS 180-4 examples.
  EXPECT_EQ(Sha256Hex(nullptr, 0),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string abc = "abc";
  EXPECT_EQ(Sha256Hex(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(Sha256Hex(reinterpret_cast<const uint8_t*>(two.data()), two.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  const std::string path = TempPath("sha.bin");
  {
    std::ofstream f(path, std::ios::binary);
    f << million;
  }
  auto h = Sha256File(path);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  std::filesystem::remove(path);
}

TEST(PlanHash, Fnv1aKnownAnswers) {
  EXPECT_EQ(Fnv1a64(nullptr, 0), 0xcbf29ce484222325ull);
  const std::string a = "a";
  EXPECT_EQ(Fnv1a64(reinterpret_cast<const uint8_t*>(a.data()), 1), 0xaf63dc4c8601ec8cull);
}

}  // namespace
}  // namespace vrseg::engine
