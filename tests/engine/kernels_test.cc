// The engine's own CUDA kernels (engine/kernels.h) against the CPU reference (engine/ref.h).
//
// Each kernel runs in fp32 and fp16 (data movement also in int64 and bool) on odd sizes (C = 3,
// 17, W = 1, ...) and on sizes that take the packed paths (C = 16, 32). Spatial ops run the ONNX
// op in RefRunNode on logical NCHW data and the kernel on its physical NHWC transpose; the result
// is transposed back and compared. Binary is checked against RefBinary on physical dims.
// Tolerances: fp32 1e-5 relative (+1e-6 absolute near zero); fp16 2e-3 relative + 1e-3 absolute
// against the fp32 reference on fp16-rounded inputs; data movement, ArgMax and Cast exactly.
// Argument checks run everywhere (they fail before any CUDA call); the rest needs a GPU and skips
// with a message without one.
#ifdef VRSEG_HAVE_CUDA

#include "engine/kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/ir.h"
#include "engine/ref.h"
#include "gpu_util.h"

namespace vrseg::engine::gpu {
namespace {

using engine::testing::DeviceAlloc;
using engine::testing::FromHalf;
using engine::testing::ToHalf;

// ---- host data ----------------------------------------------------------------------------------

int64_t Count(const std::vector<int64_t>& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

std::vector<float> Rand(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = u(rng);
  return v;
}

// Small integers (exact in every dtype; ties for ArgMax).
std::vector<float> RandInt(int64_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = static_cast<float>(u(rng));
  return v;
}

std::vector<float> RoundHalf(const std::vector<float>& v) { return FromHalf(ToHalf(v)); }

// What the kernel sees of host values in dtype `dt` (fp16 rounds).
std::vector<float> AsDT(const std::vector<float>& v, DT dt) {
  return dt == DT::kF16 ? RoundHalf(v) : v;
}

std::vector<float> NchwToNhwc(const std::vector<float>& x, int64_t n, int64_t c, int64_t h,
                              int64_t w) {
  std::vector<float> y(x.size());
  for (int64_t a = 0; a < n; ++a)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          y[((a * h + i) * w + j) * c + k] = x[((a * c + k) * h + i) * w + j];
  return y;
}

std::vector<float> NhwcToNchw(const std::vector<float>& y, int64_t n, int64_t c, int64_t h,
                              int64_t w) {
  std::vector<float> x(y.size());
  for (int64_t a = 0; a < n; ++a)
    for (int64_t k = 0; k < c; ++k)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          x[((a * c + k) * h + i) * w + j] = y[((a * h + i) * w + j) * c + k];
  return x;
}

std::vector<int64_t> Nhwc(const std::vector<int64_t>& nchw) {
  return {nchw[0], nchw[2], nchw[3], nchw[1]};
}

HostTensor HF(std::vector<int64_t> dims, std::vector<float> v) {
  HostTensor t;
  t.type = ElemType::kFloat;
  t.dims = std::move(dims);
  t.f = std::move(v);
  return t;
}

HostTensor HI(std::vector<int64_t> dims, std::vector<int64_t> v, ElemType type = ElemType::kInt64) {
  HostTensor t;
  t.type = type;
  t.dims = std::move(dims);
  t.i = std::move(v);
  return t;
}

// A host tensor of `dt` from float values (integers for kI64/kBool).
HostTensor HostOf(const std::vector<int64_t>& dims, const std::vector<float>& v, DT dt) {
  if (dt == DT::kI64 || dt == DT::kBool) {
    std::vector<int64_t> iv(v.size());
    for (size_t i = 0; i < v.size(); ++i)
      iv[i] = dt == DT::kBool ? (v[i] != 0.f) : static_cast<int64_t>(v[i]);
    return HI(dims, iv, dt == DT::kBool ? ElemType::kBool : ElemType::kInt64);
  }
  return HF(dims, AsDT(v, dt));
}

std::vector<float> Floats(const HostTensor& t) {
  if (t.type == ElemType::kFloat) return t.f;
  std::vector<float> v(t.i.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(t.i[i]);
  return v;
}

Attr AI(int64_t v) {
  Attr a;
  a.kind = Attr::kInt;
  a.i = v;
  return a;
}
Attr AIs(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::kInts;
  a.ints = std::move(v);
  return a;
}
Attr AF(float v) {
  Attr a;
  a.kind = Attr::kFloat;
  a.f = v;
  return a;
}
Attr AS(std::string v) {
  Attr a;
  a.kind = Attr::kString;
  a.s = std::move(v);
  return a;
}

// Runs one ONNX node on the CPU reference; inputs may be null (absent optional inputs).
std::vector<HostTensor> RunRef(const std::string& op, const std::vector<const HostTensor*>& ins,
                               const std::map<std::string, Attr>& attrs, int64_t opset = 13,
                               int outputs = 1) {
  Graph g;
  g.opset = opset;
  g.source = "kernels_test";
  Node node;
  node.name = "test_" + op;
  node.op = op;
  node.attrs = attrs;
  for (size_t i = 0; i < ins.size(); ++i) {
    if (!ins[i]) {
      node.inputs.push_back(-1);
      continue;
    }
    Value v;
    v.name = "in" + std::to_string(i);
    v.type = ins[i]->type;
    for (int64_t d : ins[i]->dims) v.shape.push_back(Dim::Const(d));
    v.shape_known = true;
    node.inputs.push_back(g.AddValue(v));
  }
  for (int i = 0; i < outputs; ++i) {
    Value v;
    v.name = "out" + std::to_string(i);
    node.outputs.push_back(g.AddValue(v));
  }
  g.nodes.push_back(node);
  std::vector<HostTensor> outs;
  const Status s = RefRunNode(g, g.nodes[0], ins, &outs);
  EXPECT_TRUE(s.ok()) << op << ": " << s.ToString();
  if (outs.size() < static_cast<size_t>(outputs)) outs.resize(outputs);
  return outs;
}

// ---- device data --------------------------------------------------------------------------------

// A device tensor; `offset` spare elements before the data make its pointer unaligned.
struct Dev {
  std::shared_ptr<void> mem;
  TensorArg arg;
};

Dev Alloc(const std::vector<int64_t>& dims, DT dt, int offset = 0) {
  Dev d;
  const size_t es = static_cast<size_t>(DTSize(dt));
  const size_t n = static_cast<size_t>(Count(dims));
  d.mem = DeviceAlloc((n + offset) * es);
  EXPECT_NE(d.mem, nullptr);
  if (d.mem) {
    // 0xFF bytes: NaN in f32/f16, -1 in i64, 255 in bool — anything not written shows up.
    EXPECT_EQ(cudaMemset(d.mem.get(), 0xFF, (n + offset) * es), cudaSuccess);
  }
  d.arg.data = d.mem ? static_cast<char*>(d.mem.get()) + offset * es : nullptr;
  d.arg.dt = dt;
  d.arg.dims = dims;
  return d;
}

Dev Upload(const std::vector<float>& v, const std::vector<int64_t>& dims, DT dt, int offset = 0) {
  EXPECT_EQ(static_cast<int64_t>(v.size()), Count(dims));
  Dev d = Alloc(dims, dt, offset);
  if (!d.mem) return d;
  std::vector<uint8_t> bytes(v.size() * DTSize(dt));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dt) {
      case DT::kF32: std::memcpy(&bytes[i * 4], &v[i], 4); break;
      case DT::kF16: {
        const __half h = __float2half_rn(v[i]);
        std::memcpy(&bytes[i * 2], &h, 2);
        break;
      }
      case DT::kI64: {
        const int64_t x = static_cast<int64_t>(v[i]);
        std::memcpy(&bytes[i * 8], &x, 8);
        break;
      }
      case DT::kBool: bytes[i] = v[i] != 0.f ? 1 : 0; break;
    }
  }
  EXPECT_EQ(cudaMemcpy(d.arg.data, bytes.data(), bytes.size(), cudaMemcpyHostToDevice),
            cudaSuccess);
  return d;
}

std::vector<float> Download(const Dev& d) {
  const size_t n = static_cast<size_t>(Count(d.arg.dims));
  const int es = DTSize(d.arg.dt);
  std::vector<uint8_t> bytes(n * es);
  EXPECT_EQ(cudaMemcpy(bytes.data(), d.arg.data, bytes.size(), cudaMemcpyDeviceToHost),
            cudaSuccess);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    switch (d.arg.dt) {
      case DT::kF32: std::memcpy(&v[i], &bytes[i * 4], 4); break;
      case DT::kF16: {
        __half_raw raw;
        std::memcpy(&raw.x, &bytes[i * 2], 2);
        v[i] = __half2float(__half(raw));
        break;
      }
      case DT::kI64: {
        int64_t x;
        std::memcpy(&x, &bytes[i * 8], 8);
        v[i] = static_cast<float>(x);
        break;
      }
      case DT::kBool: v[i] = bytes[i] == 1 ? 1.f : (bytes[i] == 0 ? 0.f : -1.f); break;
    }
  }
  return v;
}

const char* Name(DT t) {
  switch (t) {
    case DT::kF32: return "f32";
    case DT::kF16: return "f16";
    case DT::kI64: return "i64";
    case DT::kBool: return "bool";
  }
  return "?";
}

// got vs want: |got - want| <= abs + rel * |want| (the dtype's tolerances unless `exact`).
::testing::AssertionResult Near(const std::vector<float>& got, const std::vector<float>& want,
                                DT dt, bool exact = false, double rel32 = 1e-5,
                                double abs32 = 1e-6) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: got " << got.size() << ", want " << want.size();
  }
  double rel = dt == DT::kF16 ? 2e-3 : rel32, abs = dt == DT::kF16 ? 1e-3 : abs32;
  if (exact) rel = abs = 0;
  int64_t bad = 0;
  std::string first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w))
      ok = std::isnan(g);
    else if (std::isinf(w))
      ok = g == w;
    else
      ok = !std::isnan(g) && std::fabs(g - w) <= abs + rel * std::fabs(w);
    if (!ok) {
      if (bad < 5)
        first += " [" + std::to_string(i) + "] got " + std::to_string(g) + " want " +
                 std::to_string(w) + ";";
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " elements differ (" << Name(dt) << "):" << first;
}

class KernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VRSEG_REQUIRE_GPU();
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), cudaSuccess);
  }
  void TearDown() override {
    if (stream_) cudaStreamDestroy(stream_);
  }
  ::testing::AssertionResult Done(const Status& s) {
    if (!s.ok()) return ::testing::AssertionFailure() << s.ToString();
    const cudaError_t e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) return ::testing::AssertionFailure() << "sync: " << cudaGetErrorString(e);
    return ::testing::AssertionSuccess();
  }
  cudaStream_t stream_ = nullptr;
};

const DT kFloatTypes[] = {DT::kF32, DT::kF16};
const DT kAllTypes[] = {DT::kF32, DT::kF16, DT::kI64, DT::kBool};

// ---- activations and unary ops ------------------------------------------------------------------

struct ActCase {
  Act act;
  float alpha, beta;
};
const ActCase kActs[] = {
    {Act::kNone, 0, 0},         {Act::kRelu, 0, 0},      {Act::kClip, 0, 6},
    {Act::kClip, -0.5f, 0.75f}, {Act::kHardSwish, 0, 0}, {Act::kHardSigmoid, 0.2f, 0.5f},
    {Act::kSigmoid, 0, 0},      {Act::kTanh, 0, 0},      {Act::kLeakyRelu, 0.1f, 0}};

// The device twin of ApplyAct agrees with ApplyAct (ir.cc), including the corners (0, ±3, 6).
TEST_F(KernelsTest, ActivationsMatchApplyAct) {
  std::vector<float> x = Rand(1001, -8, 8, 1);
  for (float v : {0.f, -0.f, 3.f, -3.f, 6.f, -6.f, 0.5f, -0.5f, 2.5f, -2.5f, 7.f}) x.push_back(v);
  for (DT dt : kFloatTypes) {
    for (const ActCase& a : kActs) {
      SCOPED_TRACE(std::string(ActName(a.act)) + " " + Name(dt));
      const std::vector<float> in = AsDT(x, dt);
      std::vector<float> want(in.size());
      for (size_t i = 0; i < in.size(); ++i) want[i] = ApplyAct(a.act, in[i], a.alpha, a.beta);
      const std::vector<int64_t> dims = {static_cast<int64_t>(in.size())};
      Dev dx = Upload(in, dims, dt), dy = Alloc(dims, dt);
      ASSERT_TRUE(Done(Unary(UnaryOp::kAct, a.act, a.alpha, a.beta, dx.arg, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), want, dt));
    }
  }
}

// Standalone ONNX activations (what the builder maps to Unary kAct) against RefRunNode.
TEST_F(KernelsTest, ActivationOpsMatchReference) {
  struct Case {
    std::string op;
    std::map<std::string, Attr> attrs;
    Act act;
    float alpha, beta;
  };
  const std::vector<Case> cases = {
      {"Relu", {}, Act::kRelu, 0, 0},
      {"Sigmoid", {}, Act::kSigmoid, 0, 0},
      {"Tanh", {}, Act::kTanh, 0, 0},
      {"LeakyRelu", {{"alpha", AF(0.1f)}}, Act::kLeakyRelu, 0.1f, 0},
      {"HardSigmoid", {{"alpha", AF(0.2f)}, {"beta", AF(0.5f)}}, Act::kHardSigmoid, 0.2f, 0.5f},
      {"HardSwish", {}, Act::kHardSwish, 0, 0},
  };
  const std::vector<int64_t> dims = {2, 3, 5, 17};
  const std::vector<float> x = Rand(Count(dims), -7, 7, 2);
  for (DT dt : kFloatTypes) {
    for (const Case& c : cases) {
      SCOPED_TRACE(c.op + " " + Name(dt));
      const HostTensor hx = HF(dims, AsDT(x, dt));
      const std::vector<HostTensor> ref = RunRef(c.op, {&hx}, c.attrs);
      Dev dx = Upload(hx.f, dims, dt), dy = Alloc(dims, dt);
      ASSERT_TRUE(Done(Unary(UnaryOp::kAct, c.act, c.alpha, c.beta, dx.arg, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), ref[0].f, dt));
    }
    // Clip with min/max inputs (opset 13) is Act::kClip.
    SCOPED_TRACE(std::string("Clip ") + Name(dt));
    const HostTensor hx = HF(dims, AsDT(x, dt)), lo = HF({}, {-1.5f}), hi = HF({}, {2.25f});
    const std::vector<HostTensor> ref = RunRef("Clip", {&hx, &lo, &hi}, {});
    Dev dx = Upload(hx.f, dims, dt), dy = Alloc(dims, dt);
    ASSERT_TRUE(Done(Unary(UnaryOp::kAct, Act::kClip, -1.5f, 2.25f, dx.arg, dy.arg, stream_)));
    EXPECT_TRUE(Near(Download(dy), ref[0].f, dt));
  }
}

TEST_F(KernelsTest, UnaryOpsMatchReference) {
  struct Case {
    UnaryOp op;
    const char* onnx;  // null: checked against the C library instead (not an engine op)
    float lo, hi;
    float (*host)(float);
  };
  const Case cases[] = {
      {UnaryOp::kSqrt, "Sqrt", 0.f, 9.f, nullptr},
      {UnaryOp::kExp, "Exp", -5.f, 5.f, nullptr},
      {UnaryOp::kNeg, "Neg", -5.f, 5.f, nullptr},
      {UnaryOp::kReciprocal, "Reciprocal", 0.25f, 4.f, nullptr},
      {UnaryOp::kFloor, "Floor", -5.f, 5.f, nullptr},
      {UnaryOp::kCeil, "Ceil", -5.f, 5.f, nullptr},
      {UnaryOp::kLog, nullptr, 0.01f, 10.f, [](float v) { return std::log(v); }},
      {UnaryOp::kAbs, nullptr, -5.f, 5.f, [](float v) { return std::fabs(v); }},
      {UnaryOp::kErf, nullptr, -3.f, 3.f, [](float v) { return std::erf(v); }},
  };
  // Sizes around the 16-byte packs, and an unaligned pointer (offset 1) for the scalar path.
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{4099}}) {
    for (int offset : {0, 1}) {
      for (DT dt : kFloatTypes) {
        for (const Case& c : cases) {
          SCOPED_TRACE(std::string(c.onnx ? c.onnx : "host") + " op " +
                       std::to_string(static_cast<int>(c.op)) + " n=" + std::to_string(n) +
                       " offset=" + std::to_string(offset) + " " + Name(dt));
          const std::vector<int64_t> dims = {n};
          const std::vector<float> x = AsDT(Rand(n, c.lo, c.hi, 3 + static_cast<uint32_t>(n)), dt);
          std::vector<float> want(x.size());
          if (c.onnx) {
            const HostTensor hx = HF(dims, x);
            want = RunRef(c.onnx, {&hx}, {})[0].f;
          } else {
            for (size_t i = 0; i < x.size(); ++i) want[i] = c.host(x[i]);
          }
          Dev dx = Upload(x, dims, dt, offset), dy = Alloc(dims, dt, offset);
          ASSERT_TRUE(Done(Unary(c.op, Act::kNone, 0, 0, dx.arg, dy.arg, stream_)));
          EXPECT_TRUE(Near(Download(dy), want, dt));
        }
      }
    }
  }
  // The activation applies after the op: clip(sqrt(x), 0.5, 2).
  for (DT dt : kFloatTypes) {
    const std::vector<float> x = AsDT(Rand(999, 0, 9, 4), dt);
    std::vector<float> want(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      want[i] = ApplyAct(Act::kClip, std::sqrt(x[i]), 0.5f, 2.f);
    Dev dx = Upload(x, {999}, dt), dy = Alloc({999}, dt);
    ASSERT_TRUE(Done(Unary(UnaryOp::kSqrt, Act::kClip, 0.5f, 2.f, dx.arg, dy.arg, stream_)));
    EXPECT_TRUE(Near(Download(dy), want, dt));
  }
}

// ---- Binary -------------------------------------------------------------------------------------

TEST_F(KernelsTest, BinaryMatchesRefBinary) {
  struct Shape {
    std::vector<int64_t> a, b;
  };
  const std::vector<Shape> shapes = {
      {{2, 5, 7, 17}, {2, 5, 7, 17}},            // same shape, odd
      {{2, 5, 7, 16}, {2, 5, 7, 16}},            // same shape, packed
      {{3, 1, 5}, {}},                           // b a scalar (rank 0)
      {{1}, {4, 3, 9}},                          // a a scalar
      {{2, 5, 7, 17}, {17}},                     // per channel, odd C
      {{2, 5, 7, 32}, {1, 1, 1, 32}},            // per channel, packed
      {{1, 1, 1, 3}, {2, 4, 6, 3}},              // a per channel (C = 3)
      {{2, 5, 7, 16}, {2, 1, 1, 16}},            // per image and channel (SE scale)
      {{2, 1, 1, 24}, {2, 3, 3, 24}},            // a per image and channel
      {{2, 5, 7, 9}, {2, 5, 7, 1}},              // per pixel over channels
      {{2, 3, 4, 16}, {2, 3, 4, 1}},             // per pixel, packed
      {{3, 5, 1}, {3, 5, 8}},                    // a per pixel
      {{2, 5, 7, 9}, {2, 1, 7, 1}},              // general
      {{3, 1, 5}, {4, 1}},                       // both broadcast
      {{2, 1, 3, 1, 5, 2}, {1, 4, 1, 6, 1, 2}},  // rank 6
      {{1, 1, 1, 1}, {1, 1, 1, 1}},              // a single element
  };
  const BinOp ops[] = {BinOp::kAdd, BinOp::kSub, BinOp::kMul, BinOp::kDiv,
                       BinOp::kPow, BinOp::kMax, BinOp::kMin};
  uint32_t seed = 10;
  for (const Shape& s : shapes) {
    // numpy broadcast of the two shapes.
    const size_t r = std::max(s.a.size(), s.b.size());
    std::vector<int64_t> od(r);
    for (size_t i = 0; i < r; ++i) {
      const int64_t da = i < r - s.a.size() ? 1 : s.a[i - (r - s.a.size())];
      const int64_t db = i < r - s.b.size() ? 1 : s.b[i - (r - s.b.size())];
      od[i] = std::max(da, db);
    }
    for (BinOp op : ops) {
      for (DT dt : kFloatTypes) {
        const ActCase act = kActs[seed % std::size(kActs)];
        SCOPED_TRACE("a " + std::to_string(s.a.size()) + "-d, b " + std::to_string(s.b.size()) +
                     "-d, out " + std::to_string(Count(od)) + " elements, op " +
                     std::to_string(static_cast<int>(op)) + ", act " + ActName(act.act) + " " +
                     Name(dt));
        std::vector<float> a = Rand(Count(s.a), -3, 3, ++seed), b = Rand(Count(s.b), -3, 3, ++seed);
        if (op == BinOp::kPow) {
          for (float& v : a) v = std::fabs(v) + 0.1f;  // positive base
          for (float& v : b) v = v * (2.f / 3.f);
        }
        if (op == BinOp::kDiv) {
          for (float& v : b) v = v < 0 ? v - 0.5f : v + 0.5f;  // away from 0
        }
        a = AsDT(a, dt);
        b = AsDT(b, dt);
        std::vector<float> want(static_cast<size_t>(Count(od)));
        RefBinary(op, a.data(), s.a, b.data(), s.b, want.data(), od, act.act, act.alpha, act.beta);
        Dev da = Upload(a, s.a, dt), db = Upload(b, s.b, dt), dy = Alloc(od, dt);
        ASSERT_TRUE(
            Done(Binary(op, da.arg, db.arg, dy.arg, act.act, act.alpha, act.beta, stream_)));
        EXPECT_TRUE(Near(Download(dy), want, dt));
      }
    }
  }
}

// Unaligned pointers take the unpacked paths; in-place (out == a) works on the same-shape path.
TEST_F(KernelsTest, BinaryUnalignedAndInPlace) {
  for (DT dt : kFloatTypes) {
    const std::vector<int64_t> full = {3, 5, 16}, ch = {16};
    const std::vector<float> a = AsDT(Rand(Count(full), -2, 2, 30), dt),
                             b = AsDT(Rand(16, -2, 2, 31), dt);
    std::vector<float> want(a.size());
    RefBinary(BinOp::kMul, a.data(), full, b.data(), ch, want.data(), full, Act::kRelu);
    Dev da = Upload(a, full, dt, 1), db = Upload(b, ch, dt, 3), dy = Alloc(full, dt, 1);
    ASSERT_TRUE(Done(Binary(BinOp::kMul, da.arg, db.arg, dy.arg, Act::kRelu, 0, 0, stream_)));
    EXPECT_TRUE(Near(Download(dy), want, dt));

    const std::vector<float> c = AsDT(Rand(Count(full), -2, 2, 32), dt);
    std::vector<float> want2(a.size());
    RefBinary(BinOp::kAdd, a.data(), full, c.data(), full, want2.data(), full);
    Dev dc = Upload(c, full, dt);
    ASSERT_TRUE(Done(Binary(BinOp::kAdd, da.arg, dc.arg, da.arg, Act::kNone, 0, 0, stream_)));
    EXPECT_TRUE(Near(Download(da), want2, dt));
  }
}

// ---- ChannelAffine (BatchNormalization after the builder's scale/shift folding) -----------------

TEST_F(KernelsTest, ChannelAffineMatchesBatchNormalization) {
  for (int64_t c : {int64_t{3}, int64_t{17}, int64_t{32}}) {
    for (DT dt : kFloatTypes) {
      for (Act act : {Act::kNone, Act::kRelu}) {
        SCOPED_TRACE("C=" + std::to_string(c) + " " + Name(dt) + " " + ActName(act));
        const std::vector<int64_t> dims = {2, c, 5, 3};
        const std::vector<float> x =
            AsDT(Rand(Count(dims), -2, 2, 40 + static_cast<uint32_t>(c)), dt);
        const std::vector<float> gamma = Rand(c, 0.5f, 1.5f, 41), beta = Rand(c, -1, 1, 42),
                                 mean = Rand(c, -1, 1, 43), var = Rand(c, 0.2f, 2.f, 44);
        const float eps = 1e-3f;
        const HostTensor hx = HF(dims, x), hg = HF({c}, gamma), hb = HF({c}, beta),
                         hm = HF({c}, mean), hv = HF({c}, var);
        std::vector<float> want =
            RunRef("BatchNormalization", {&hx, &hg, &hb, &hm, &hv}, {{"epsilon", AF(eps)}})[0].f;
        for (float& v : want) v = ApplyAct(act, v, 0, 0);
        std::vector<float> scale(c), shift(c);
        for (int64_t k = 0; k < c; ++k) {
          const double s = gamma[k] / std::sqrt(static_cast<double>(var[k]) + eps);
          scale[k] = static_cast<float>(s);
          shift[k] = static_cast<float>(beta[k] - mean[k] * s);
        }
        Dev ds = Upload(scale, {c}, DT::kF32), dsh = Upload(shift, {c}, DT::kF32);
        Dev dx = Upload(NchwToNhwc(x, 2, c, 5, 3), Nhwc(dims), dt), dy = Alloc(Nhwc(dims), dt);
        ASSERT_TRUE(Done(ChannelAffine(dx.arg, static_cast<const float*>(ds.arg.data),
                                       static_cast<const float*>(dsh.arg.data), dy.arg, act, 0, 0,
                                       stream_)));
        // x*scale + shift rounds differently from (x - mean)/sqrt(var + eps)*gamma + beta: 1e-5
        // of the terms' size (about 1) absolute.
        EXPECT_TRUE(Near(NhwcToNchw(Download(dy), 2, c, 5, 3), want, dt, false, 1e-5, 1e-5));
      }
    }
  }
}

// ---- Cast ---------------------------------------------------------------------------------------

TEST_F(KernelsTest, CastBetweenAllTypes) {
  std::vector<float> x = Rand(1001, -300, 300, 50);
  for (float v : {0.f, -0.f, 0.5f, -0.5f, 1.f, -1.f, 65504.f, 2.5f, -2.5f}) x.push_back(v);
  const std::vector<int64_t> dims = {static_cast<int64_t>(x.size())};
  // The values each source dtype holds.
  auto source = [&](DT dt) {
    std::vector<float> v = AsDT(x, dt);
    if (dt == DT::kI64)
      for (float& f : v) f = std::trunc(f);
    if (dt == DT::kBool)
      for (float& f : v) f = f != 0.f ? 1.f : 0.f;
    return v;
  };
  for (DT from : kAllTypes) {
    for (DT to : kAllTypes) {
      SCOPED_TRACE(std::string(Name(from)) + " -> " + Name(to));
      const std::vector<float> in = source(from);
      std::vector<float> want(in.size());
      for (size_t i = 0; i < in.size(); ++i) {
        switch (to) {
          case DT::kF32: want[i] = in[i]; break;
          case DT::kF16: want[i] = __half2float(__float2half_rn(in[i])); break;
          case DT::kI64: want[i] = std::trunc(in[i]); break;
          case DT::kBool: want[i] = in[i] != 0.f ? 1.f : 0.f; break;
        }
      }
      if (from != DT::kF16 && to != DT::kF16) {  // the reference keeps no fp16
        const int64_t onnx_to = to == DT::kF32 ? 1 : (to == DT::kI64 ? 7 : 9);
        const HostTensor hx = HostOf(dims, in, from);
        EXPECT_TRUE(Near(Floats(RunRef("Cast", {&hx}, {{"to", AI(onnx_to)}})[0]), want, to, true))
            << "the hand-written expectation disagrees with RefRunNode";
      }
      for (int offset : {0, 1}) {
        Dev dx = Upload(in, dims, from, offset), dy = Alloc(dims, to, offset);
        ASSERT_TRUE(Done(Cast(dx.arg, dy.arg, stream_)));
        EXPECT_TRUE(Near(Download(dy), want, to, true)) << "offset " << offset;
      }
    }
  }
}

// ---- pooling ------------------------------------------------------------------------------------

TEST_F(KernelsTest, Pool2DMatchesReference) {
  struct Case {
    bool max;
    int64_t n, c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    bool ceil, include_pad, explicit_end_pads;
  };
  const Case cases[] = {
      {true, 2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false, false},
      {true, 1, 17, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, false, false, false},
      {true, 2, 16, 10, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, false, false, false},  // dilated, packed
      {true, 1, 6, 7, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true, false, true},      // ceil_mode
      {false, 2, 17, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false, false},
      {false, 2, 16, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, true, false},  // pads implied
      {false, 1, 3, 7, 8, 3, 2, 2, 2, 0, 1, 1, 0, 1, 1, true, true, true},      // ceil, asym pads
      {false, 1, 3, 7, 8, 3, 2, 2, 2, 0, 1, 1, 0, 1, 1, true, false, true},
      {false, 1, 5, 6, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, false, false, false},   // W = 1
      {true, 3, 2, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, false, false, false},    // 1x1
      {false, 1, 32, 7, 7, 7, 7, 1, 1, 0, 0, 0, 0, 1, 1, false, false, false},  // whole image
  };
  uint32_t seed = 60;
  for (const Case& k : cases) {
    for (DT dt : kFloatTypes) {
      SCOPED_TRACE(std::string(k.max ? "MaxPool" : "AveragePool") + " C=" + std::to_string(k.c) +
                   " " + std::to_string(k.h) + "x" + std::to_string(k.w) + " k" +
                   std::to_string(k.kh) + "x" + std::to_string(k.kw) + (k.ceil ? " ceil" : "") +
                   (k.include_pad ? " include_pad" : "") + " " + Name(dt));
      const std::vector<int64_t> dims = {k.n, k.c, k.h, k.w};
      const std::vector<float> x = AsDT(Rand(Count(dims), -4, 4, ++seed), dt);
      const HostTensor hx = HF(dims, x);
      std::map<std::string, Attr> attrs = {{"kernel_shape", AIs({k.kh, k.kw})},
                                           {"strides", AIs({k.sh, k.sw})},
                                           {"pads", AIs({k.pt, k.pl, k.pb, k.pr})},
                                           {"ceil_mode", AI(k.ceil ? 1 : 0)}};
      if (k.max)
        attrs["dilations"] = AIs({k.dh, k.dw});
      else
        attrs["count_include_pad"] = AI(k.include_pad ? 1 : 0);
      const HostTensor ref = RunRef(k.max ? "MaxPool" : "AveragePool", {&hx}, attrs)[0];
      ASSERT_EQ(ref.dims.size(), 4u);
      const int64_t oh = ref.dims[2], ow = ref.dims[3];
      PoolArgs p;
      p.kind = k.max ? PoolKind::kMax : PoolKind::kAvg;
      p.kh = k.kh;
      p.kw = k.kw;
      p.stride_h = k.sh;
      p.stride_w = k.sw;
      p.pad_top = k.pt;
      p.pad_left = k.pl;
      p.dil_h = k.dh;
      p.dil_w = k.dw;
      p.count_include_pad = k.include_pad;
      if (k.explicit_end_pads) {
        p.pad_bottom = k.pb;
        p.pad_right = k.pr;
      }
      Dev dx = Upload(NchwToNhwc(x, k.n, k.c, k.h, k.w), Nhwc(dims), dt);
      Dev dy = Alloc({k.n, oh, ow, k.c}, dt);
      ASSERT_TRUE(Done(Pool2D(p, dx.arg, dy.arg, stream_)));
      EXPECT_TRUE(Near(NhwcToNchw(Download(dy), k.n, k.c, oh, ow), ref.f, dt));
    }
  }
}

TEST_F(KernelsTest, SqueezeExciteMatchesReference) {
  struct Case {
    std::vector<int64_t> dims;  // NCHW
    int64_t c1;
    Act act1, act2;
  };
  const std::vector<Case> cases = {
      {{2, 16, 7, 5}, 4, Act::kRelu, Act::kHardSigmoid},
      {{1, 96, 8, 8}, 24, Act::kRelu, Act::kSigmoid},
      {{3, 5, 1, 1}, 3, Act::kNone, Act::kNone},
      {{1, 16, 128, 128}, 8, Act::kRelu, Act::kSigmoid},  // one image, many pixels
      {{2, 130, 3, 3}, 20, Act::kHardSwish, Act::kSigmoid},
      {{1, 1100, 2, 2}, 2, Act::kRelu, Act::kSigmoid},  // more channels than threads
  };
  uint32_t seed = 90;
  for (const Case& k : cases) {
    for (DT dt : kFloatTypes) {
      const int64_t n = k.dims[0], c = k.dims[1], c2 = c;
      SCOPED_TRACE(std::to_string(c) + " channels, " + std::to_string(k.dims[2]) + "x" +
                   std::to_string(k.dims[3]) + " " + Name(dt));
      const std::vector<float> x = AsDT(Rand(Count(k.dims), -2, 2, ++seed), dt);
      const std::vector<float> w1 = Rand(k.c1 * c, -0.5f, 0.5f, ++seed);
      const std::vector<float> b1 = Rand(k.c1, -0.5f, 0.5f, ++seed);
      const std::vector<float> w2 = Rand(c2 * k.c1, -0.5f, 0.5f, ++seed);
      const std::vector<float> b2 = Rand(c2, -0.5f, 0.5f, ++seed);
      const HostTensor hx = HF(k.dims, x), hw1 = HF({k.c1, c, 1, 1}, w1), hb1 = HF({k.c1}, b1),
                       hw2 = HF({c2, k.c1, 1, 1}, w2), hb2 = HF({c2}, b2);
      HostTensor ref = RunRef("SqueezeExcite", {&hx, &hw1, &hb1, &hw2, &hb2},
                              {{"act1", AI(static_cast<int64_t>(k.act1))}})[0];
      for (float& v : ref.f) v = ApplyAct(k.act2, v, 0.2f, 0.5f);  // the node's epilogue
      Dev dx = Upload(NchwToNhwc(x, n, c, k.dims[2], k.dims[3]), Nhwc(k.dims), dt);
      Dev dy = Alloc({n, 1, 1, c2}, dt);
      Dev dw1 = Upload(w1, {k.c1 * c}, DT::kF32), db1 = Upload(b1, {k.c1}, DT::kF32);
      Dev dw2 = Upload(w2, {c2 * k.c1}, DT::kF32), db2 = Upload(b2, {c2}, DT::kF32);
      SqueezeExciteArgs a;
      a.w1 = static_cast<const float*>(dw1.arg.data);
      a.b1 = static_cast<const float*>(db1.arg.data);
      a.w2 = static_cast<const float*>(dw2.arg.data);
      a.b2 = static_cast<const float*>(db2.arg.data);
      a.c1 = static_cast<int>(k.c1);
      a.act1 = k.act1;
      a.act2 = k.act2;
      a.act2_alpha = 0.2f;
      a.act2_beta = 0.5f;
      ASSERT_TRUE(Done(SqueezeExcite(a, dx.arg, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), ref.f, dt));
      if (k.dims[1] == 130 && dt == DT::kF32) {
        // Weights beyond the shared memory the kernel may use are refused (nothing launched).
        SqueezeExciteArgs big = a;
        big.c1 = 200;
        Dev y2 = Alloc({n, 1, 1, c2}, dt);
        const Status st = SqueezeExcite(big, dx.arg, y2.arg, stream_);
        EXPECT_FALSE(st.ok());
        EXPECT_NE(st.message().find("shared memory"), std::string::npos) << st.ToString();
      }
    }
  }
}

TEST_F(KernelsTest, GlobalAvgPoolMatchesReference) {
  const std::vector<std::vector<int64_t>> shapes = {
      {2, 3, 7, 5}, {1, 17, 1, 1}, {2, 64, 33, 31}, {3, 40, 1, 9},
      // few tiles, many pixels: 128-row blocks (odd C: one channel a lane); many tiles: 32 rows
      {1, 16, 128, 128}, {1, 5, 40, 37}, {2, 512, 9, 7}};
  uint32_t seed = 70;
  for (const auto& dims : shapes) {
    for (DT dt : kFloatTypes) {
      SCOPED_TRACE(std::to_string(dims[1]) + " channels, " + std::to_string(dims[2]) + "x" +
                   std::to_string(dims[3]) + " " + Name(dt));
      const std::vector<float> x = AsDT(Rand(Count(dims), -2, 2, ++seed), dt);
      const HostTensor hx = HF(dims, x);
      const HostTensor ref = RunRef("GlobalAveragePool", {&hx}, {})[0];
      Dev dx = Upload(NchwToNhwc(x, dims[0], dims[1], dims[2], dims[3]), Nhwc(dims), dt);
      Dev dy = Alloc({dims[0], 1, 1, dims[1]}, dt);
      ASSERT_TRUE(Done(GlobalAvgPool(dx.arg, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), ref.f, dt));  // [N,1,1,C] is [N,C,1,1] in memory
    }
  }
}

// ---- Resize -------------------------------------------------------------------------------------

TEST_F(KernelsTest, Resize2DMatchesReference) {
  struct Case {
    const char* mode;
    const char* coord;
    const char* nearest;
    std::vector<int64_t> in;
    std::vector<int64_t> sizes;  // empty: scales
    float sh, sw;
  };
  const std::vector<Case> cases = {
      {"linear", "half_pixel", "round_prefer_floor", {1, 3, 5, 7}, {1, 3, 11, 13}, 0, 0},
      {"linear", "half_pixel", "round_prefer_floor", {2, 16, 4, 6}, {}, 2.f, 2.f},
      {"linear", "pytorch_half_pixel", "round_prefer_floor", {1, 17, 6, 5}, {1, 17, 12, 1}, 0, 0},
      {"linear", "align_corners", "round_prefer_floor", {1, 8, 5, 7}, {1, 8, 9, 4}, 0, 0},
      {"linear", "asymmetric", "round_prefer_floor", {1, 3, 5, 4}, {}, 1.5f, 2.5f},
      {"linear", "half_pixel", "round_prefer_floor", {2, 32, 16, 12}, {2, 32, 8, 6}, 0, 0},
      {"nearest", "asymmetric", "floor", {2, 3, 4, 5}, {}, 2.f, 2.f},
      {"nearest", "half_pixel", "round_prefer_floor", {1, 17, 5, 7}, {1, 17, 11, 13}, 0, 0},
      {"nearest", "half_pixel", "round_prefer_ceil", {1, 16, 6, 6}, {1, 16, 4, 3}, 0, 0},
      {"nearest", "align_corners", "ceil", {1, 3, 4, 4}, {1, 3, 7, 10}, 0, 0},
      {"nearest", "tf_half_pixel_for_nn", "floor", {1, 5, 3, 3}, {1, 5, 7, 7}, 0, 0},
      {"nearest", "asymmetric", "round_prefer_floor", {1, 3, 8, 6}, {}, 0.5f, 0.5f},
      {"nearest", "pytorch_half_pixel", "round_prefer_floor", {1, 2, 1, 1}, {1, 2, 3, 5}, 0, 0},
      {"linear",
       "half_pixel",
       "round_prefer_floor",
       {2, 21, 8, 8},
       {2, 21, 64, 64},
       0,
       0},  // many chunks
      {"nearest", "half_pixel", "round_prefer_floor", {1, 1, 9, 300}, {1, 1, 18, 1300}, 0, 0},
      {"linear",
       "half_pixel",
       "round_prefer_floor",
       {2, 1, 9, 30},
       {2, 1, 18, 132},
       0,
       0},  // C = 1, planes
      {"nearest", "half_pixel", "round_prefer_floor", {3, 1, 9, 30}, {3, 1, 18, 77}, 0, 0},
      {"linear", "align_corners", "round_prefer_floor", {20, 1, 5, 6}, {20, 1, 9, 11}, 0, 0},
      // Odd C above 32: rows of single-channel packs, in 4-wide groups or not.
      {"linear", "half_pixel", "round_prefer_floor", {1, 33, 5, 6}, {1, 33, 9, 11}, 0, 0},
      {"linear", "pytorch_half_pixel", "round_prefer_floor", {1, 35, 4, 4}, {1, 35, 8, 8}, 0, 0},
      {"nearest", "half_pixel", "round_prefer_ceil", {1, 35, 4, 4}, {1, 35, 7, 8}, 0, 0},
      {"linear",
       "align_corners",
       "round_prefer_floor",
       {1, 5, 6, 7},
       {1, 5, 13, 12},
       0,
       0},                                                                     // C = 5, groups
      {"nearest", "asymmetric", "floor", {1, 7, 5, 9}, {1, 7, 11, 21}, 0, 0},  // odd row, no groups
      // Scales whose in * scale is not whole: align_corners divides by in * scale - 1, as ONNX
      // does (test_resize_downsample_scales_linear_align_corners).
      {"linear", "align_corners", "round_prefer_floor", {1, 3, 2, 4}, {}, 0.6f, 0.6f},
      {"linear", "align_corners", "round_prefer_floor", {1, 1, 5, 7}, {}, 1.7f, 0.6f},
      // More than 65535 output rows: the flat kernel instead of a block row per output row.
      {"linear", "half_pixel", "round_prefer_floor", {2, 1, 20000, 1}, {2, 1, 40000, 2}, 0, 0},
      {"nearest", "asymmetric", "floor", {2, 3, 20000, 1}, {2, 3, 40000, 1}, 0, 0},
  };
  const std::map<std::string, CoordMode> coords = {
      {"half_pixel", CoordMode::kHalfPixel},
      {"pytorch_half_pixel", CoordMode::kPytorchHalfPixel},
      {"align_corners", CoordMode::kAlignCorners},
      {"asymmetric", CoordMode::kAsymmetric},
      {"tf_half_pixel_for_nn", CoordMode::kTfHalfPixelForNN}};
  const std::map<std::string, NearestMode> nearest = {
      {"round_prefer_floor", NearestMode::kRoundPreferFloor},
      {"round_prefer_ceil", NearestMode::kRoundPreferCeil},
      {"floor", NearestMode::kFloor},
      {"ceil", NearestMode::kCeil}};
  uint32_t seed = 80;
  for (const Case& k : cases) {
    for (DT dt : kFloatTypes) {
      SCOPED_TRACE(std::string(k.mode) + " " + k.coord + " " + k.nearest +
                   " C=" + std::to_string(k.in[1]) + " " + std::to_string(k.in[2]) + "x" +
                   std::to_string(k.in[3]) + " " + Name(dt));
      const std::vector<float> x = AsDT(Rand(Count(k.in), -3, 3, ++seed), dt);
      const HostTensor hx = HF(k.in, x);
      const std::map<std::string, Attr> attrs = {{"mode", AS(k.mode)},
                                                 {"coordinate_transformation_mode", AS(k.coord)},
                                                 {"nearest_mode", AS(k.nearest)}};
      HostTensor ref;
      if (k.sizes.empty()) {
        const HostTensor scales = HF({4}, {1.f, 1.f, k.sh, k.sw});
        ref = RunRef("Resize", {&hx, nullptr, &scales}, attrs)[0];
      } else {
        const HostTensor sizes = HI({4}, k.sizes);
        ref = RunRef("Resize", {&hx, nullptr, nullptr, &sizes}, attrs)[0];
      }
      ASSERT_EQ(ref.dims.size(), 4u);
      const int64_t n = k.in[0], c = k.in[1], oh = ref.dims[2], ow = ref.dims[3];
      ResizeArgs r;
      r.mode = std::string(k.mode) == "linear" ? ResizeMode::kLinear : ResizeMode::kNearest;
      r.coord = coords.at(k.coord);
      r.nearest = nearest.at(k.nearest);
      r.scale_h = k.sh;
      r.scale_w = k.sw;
      Dev dx = Upload(NchwToNhwc(x, n, c, k.in[2], k.in[3]), Nhwc(k.in), dt);
      Dev dy = Alloc({n, oh, ow, c}, dt);
      ASSERT_TRUE(Done(Resize2D(r, dx.arg, dy.arg, stream_)));
      EXPECT_TRUE(Near(NhwcToNchw(Download(dy), n, c, oh, ow), ref.f, dt));
    }
  }
}

// ---- data movement ------------------------------------------------------------------------------

// Values for a data-movement test in `dt` (integers for i64, 0/1 for bool).
std::vector<float> MoveData(int64_t n, DT dt, uint32_t seed) {
  if (dt == DT::kBool) return RandInt(n, 0, 1, seed);
  if (dt == DT::kI64) return RandInt(n, -1000000, 1000000, seed);
  return AsDT(Rand(n, -10, 10, seed), dt);
}

TEST_F(KernelsTest, ConcatMatchesReference) {
  struct Case {
    std::vector<std::vector<int64_t>> ins;
    int axis;
  };
  std::vector<Case> cases = {
      {{{2, 4, 5, 3}, {2, 4, 5, 17}, {2, 4, 5, 16}}, 3},  // NHWC channel concat, odd widths
      {{{2, 3, 5, 16}, {2, 3, 5, 32}}, 3},                // widened words
      {{{1, 3, 2}, {4, 3, 2}, {2, 3, 2}}, 0},
      {{{3, 0, 4}, {3, 2, 4}, {3, 1, 4}}, 1},  // an empty input
  };
  Case many;  // more inputs than one launch takes
  for (int i = 0; i < 11; ++i) many.ins.push_back({2, 3, 1 + i % 3});
  many.axis = 2;
  cases.push_back(many);
  uint32_t seed = 90;
  for (const Case& k : cases) {
    for (DT dt : kAllTypes) {
      SCOPED_TRACE(std::to_string(k.ins.size()) + " inputs on axis " + std::to_string(k.axis) +
                   " " + Name(dt));
      std::vector<HostTensor> hs;
      std::vector<Dev> ds;
      std::vector<TensorArg> args;
      for (const auto& d : k.ins) {
        const std::vector<float> v = MoveData(Count(d), dt, ++seed);
        hs.push_back(HostOf(d, v, dt));
        ds.push_back(Upload(v, d, dt));
        args.push_back(ds.back().arg);
      }
      std::vector<const HostTensor*> ptrs;
      for (const HostTensor& h : hs) ptrs.push_back(&h);
      const HostTensor ref = RunRef("Concat", ptrs, {{"axis", AI(k.axis)}})[0];
      Dev dy = Alloc(ref.dims, dt);
      ASSERT_TRUE(Done(Concat(args, k.axis, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), Floats(ref), dt, true));
    }
  }
}

TEST_F(KernelsTest, SliceMatchesReference) {
  struct Case {
    std::vector<int64_t> dims;
    std::vector<int64_t> starts, ends, axes, steps;  // ONNX inputs (starts in range)
  };
  const std::vector<Case> cases = {
      {{2, 7, 9, 17}, {1}, {17}, {3}, {2}},
      {{2, 7, 9, 17}, {6}, {-100}, {1}, {-1}},  // reversed axis
      {{2, 7, 9, 17}, {2, 0}, {8, 16}, {2, 3}, {3, 1}},
      {{3, 5, 16}, {1, 0}, {4, 8}, {0, 2}, {1, 1}},  // contiguous rows: widened words
      {{4, 6, 10}, {3, 5, 9}, {-100, -100, -100}, {0, 1, 2}, {-2, -2, -3}},
      {{5, 1, 3}, {4}, {0}, {0}, {-1}},
  };
  uint32_t seed = 100;
  for (const Case& k : cases) {
    for (DT dt : kAllTypes) {
      SCOPED_TRACE("slice of " + std::to_string(Count(k.dims)) + " elements, " +
                   std::to_string(k.axes.size()) + " axes " + Name(dt));
      const std::vector<float> v = MoveData(Count(k.dims), dt, ++seed);
      const HostTensor hx = HostOf(k.dims, v, dt);
      const int64_t na = static_cast<int64_t>(k.axes.size());
      const HostTensor st = HI({na}, k.starts), en = HI({na}, k.ends), ax = HI({na}, k.axes),
                       sp = HI({na}, k.steps);
      const HostTensor ref = RunRef("Slice", {&hx, &st, &en, &ax, &sp}, {})[0];
      std::vector<int64_t> starts(k.dims.size(), 0), steps(k.dims.size(), 1);
      for (size_t i = 0; i < k.axes.size(); ++i) {
        starts[k.axes[i]] = k.starts[i];
        steps[k.axes[i]] = k.steps[i];
      }
      Dev dx = Upload(v, k.dims, dt), dy = Alloc(ref.dims, dt);
      ASSERT_TRUE(Done(Slice(dx.arg, starts, steps, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), Floats(ref), dt, true));
    }
  }
}

TEST_F(KernelsTest, TransposeMatchesReference) {
  struct Case {
    std::vector<int64_t> dims;
    std::vector<int> perm;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 7}, {0, 2, 3, 1}},  // NCHW -> NHWC (tiled)
      {{2, 5, 7, 3}, {0, 3, 1, 2}},  // NHWC -> NCHW (tiled)
      {{2, 3, 5, 7}, {3, 2, 1, 0}},
      {{4, 3, 5, 16}, {1, 0, 2, 3}},   // inner rows kept: widened words
      {{67, 45}, {1, 0}},              // partial tiles
      {{2, 16, 9, 12}, {0, 2, 3, 1}},  // tiled NCHW -> NHWC
      {{2, 1, 3, 2, 4, 3}, {5, 2, 0, 4, 1, 3}},
      {{1, 40, 33, 1}, {0, 2, 1, 3}},
  };
  uint32_t seed = 110;
  for (const Case& k : cases) {
    for (DT dt : kAllTypes) {
      SCOPED_TRACE("transpose of rank " + std::to_string(k.dims.size()) + ", " +
                   std::to_string(Count(k.dims)) + " elements " + Name(dt));
      const std::vector<float> v = MoveData(Count(k.dims), dt, ++seed);
      const HostTensor hx = HostOf(k.dims, v, dt);
      const HostTensor ref =
          RunRef("Transpose", {&hx},
                 {{"perm", AIs(std::vector<int64_t>(k.perm.begin(), k.perm.end()))}})[0];
      Dev dx = Upload(v, k.dims, dt), dy = Alloc(ref.dims, dt);
      ASSERT_TRUE(Done(Transpose(dx.arg, k.perm, dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), Floats(ref), dt, true));
    }
  }
}

TEST_F(KernelsTest, PadMatchesReference) {
  struct Case {
    const char* mode;
    std::vector<int64_t> dims;  // NCHW
    std::vector<int64_t> pads;  // ONNX [begin..., end...] on NCHW
    float value;
  };
  const std::vector<Case> cases = {
      {"constant", {2, 3, 5, 4}, {0, 0, 1, 2, 0, 0, 2, 1}, 1.5f},
      {"constant", {1, 17, 4, 6}, {0, 1, 0, 0, 0, 2, -1, -2}, -2.f},  // channel pads, crop
      {"reflect", {2, 3, 5, 4}, {0, 0, 2, 3, 0, 0, 4, 1}, 0.f},
      {"edge", {1, 16, 3, 1}, {0, 0, 2, 3, 0, 0, 1, 2}, 0.f},
      {"constant", {2, 8, 3, 4}, {0, 0, 1, 1, 0, 0, 2, 0}, 1.0f},  // unpadded C: wide words
  };
  uint32_t seed = 120;
  for (const Case& k : cases) {
    for (DT dt : kAllTypes) {
      if (dt == DT::kBool && k.value != 0.f && k.value != 1.f) continue;
      SCOPED_TRACE(std::string(k.mode) + " pad " + Name(dt));
      const std::vector<float> v = MoveData(Count(k.dims), dt, ++seed);
      const HostTensor hx = HostOf(k.dims, v, dt), pads = HI({8}, k.pads);
      const HostTensor value = dt == DT::kF32 || dt == DT::kF16
                                   ? HF({}, {k.value})
                                   : HI({}, {static_cast<int64_t>(k.value)});
      const HostTensor ref = RunRef("Pad", {&hx, &pads, &value}, {{"mode", AS(k.mode)}})[0];
      ASSERT_EQ(ref.dims.size(), 4u);
      // Physical NHWC: begin pads of (N, H, W, C).
      const std::vector<int64_t> begin = {k.pads[0], k.pads[2], k.pads[3], k.pads[1]};
      const PadMode mode = std::string(k.mode) == "constant"  ? PadMode::kConstant
                           : std::string(k.mode) == "reflect" ? PadMode::kReflect
                                                              : PadMode::kEdge;
      Dev dx = Upload(NchwToNhwc(v, k.dims[0], k.dims[1], k.dims[2], k.dims[3]), Nhwc(k.dims), dt);
      Dev dy = Alloc(Nhwc(ref.dims), dt);
      ASSERT_TRUE(Done(Pad(dx.arg, begin, mode, k.value, dy.arg, stream_)));
      EXPECT_TRUE(Near(NhwcToNchw(Download(dy), ref.dims[0], ref.dims[1], ref.dims[2], ref.dims[3]),
                       Floats(ref), dt, true));
    }
  }
}

TEST_F(KernelsTest, GatherConstMatchesReference) {
  struct Case {
    std::vector<int64_t> dims;
    int axis;
    std::vector<int64_t> idims, idx;
  };
  const std::vector<Case> cases = {
      {{5, 4, 3}, 0, {2, 3}, {0, 4, -1, 2, 2, -5}},
      {{2, 7, 16}, 1, {3}, {6, 0, -2}},
      {{3, 4, 9}, 2, {2, 2}, {8, 0, -1, 3}},
      {{6}, 0, {}, {-3}},  // a scalar index
  };
  uint32_t seed = 130;
  for (const Case& k : cases) {
    for (DT dt : kAllTypes) {
      SCOPED_TRACE("gather on axis " + std::to_string(k.axis) + " " + Name(dt));
      const std::vector<float> v = MoveData(Count(k.dims), dt, ++seed);
      const HostTensor hx = HostOf(k.dims, v, dt), hi = HI(k.idims, k.idx);
      const HostTensor ref = RunRef("Gather", {&hx, &hi}, {{"axis", AI(k.axis)}})[0];
      std::shared_ptr<void> didx = DeviceAlloc(k.idx.size() * 8);
      ASSERT_NE(didx, nullptr);
      ASSERT_EQ(cudaMemcpy(didx.get(), k.idx.data(), k.idx.size() * 8, cudaMemcpyHostToDevice),
                cudaSuccess);
      Dev dx = Upload(v, k.dims, dt), dy = Alloc(ref.dims, dt);
      ASSERT_TRUE(Done(GatherConst(dx.arg, k.axis, static_cast<const int64_t*>(didx.get()),
                                   static_cast<int64_t>(k.idx.size()), dy.arg, stream_)));
      EXPECT_TRUE(Near(Download(dy), Floats(ref), dt, true));
    }
  }
}

// ---- reductions ---------------------------------------------------------------------------------

TEST_F(KernelsTest, SoftmaxMatchesReference) {
  uint32_t seed = 140;
  for (bool log : {false, true}) {
    const char* op = log ? "LogSoftmax" : "Softmax";
    for (DT dt : kFloatTypes) {
      // Logical NCHW over channels = physical NHWC innermost (a warp per row).
      for (int64_t c :
           {int64_t{2}, int64_t{3}, int64_t{21}, int64_t{32}, int64_t{33}, int64_t{100}}) {
        SCOPED_TRACE(std::string(op) + " channels C=" + std::to_string(c) + " " + Name(dt));
        const std::vector<int64_t> dims = {2, c, 23, 13};  // 598 rows: two full blocks and a part
        const std::vector<float> x = AsDT(Rand(Count(dims), -6, 6, ++seed), dt);
        const HostTensor hx = HF(dims, x);
        const HostTensor ref = RunRef(op, {&hx}, {{"axis", AI(1)}})[0];
        Dev dx = Upload(NchwToNhwc(x, 2, c, 23, 13), Nhwc(dims), dt), dy = Alloc(Nhwc(dims), dt);
        ASSERT_TRUE(Done(Softmax(dx.arg, 3, log, dy.arg, stream_)));
        EXPECT_TRUE(Near(NhwcToNchw(Download(dy), 2, c, 23, 13), ref.f, dt));
      }
      // Plain tensors on a middle and the outer axis (strided), and a long innermost row.
      struct Plain {
        std::vector<int64_t> dims;
        int axis;
      };
      for (const Plain& p :
           {Plain{{3, 7, 5}, 1}, Plain{{6, 4, 9}, 0}, Plain{{2, 1000}, 1}, Plain{{4, 1}, 1}}) {
        SCOPED_TRACE(std::string(op) + " axis " + std::to_string(p.axis) + " of " +
                     std::to_string(Count(p.dims)) + " " + Name(dt));
        const std::vector<float> x = AsDT(Rand(Count(p.dims), -6, 6, ++seed), dt);
        const HostTensor hx = HF(p.dims, x);
        const HostTensor ref = RunRef(op, {&hx}, {{"axis", AI(p.axis)}})[0];
        Dev dx = Upload(x, p.dims, dt), dy = Alloc(p.dims, dt);
        ASSERT_TRUE(Done(Softmax(dx.arg, p.axis, log, dy.arg, stream_)));
        EXPECT_TRUE(Near(Download(dy), ref.f, dt));
      }
    }
  }
}

TEST_F(KernelsTest, ArgMaxMatchesReference) {
  struct Case {
    std::vector<int64_t> dims;  // NCHW when nhwc
    int axis;
    bool nhwc;
  };
  const std::vector<Case> cases = {
      {{2, 21, 4, 5}, 1, true},  // class logits over channels: innermost, thread per pixel
      {{2, 5, 3, 7}, 1, true},  {{3, 100}, 1, false},  // a warp per row
      {{4, 6, 5}, 1, false},                           // strided
      {{7, 3}, 0, false},
  };
  uint32_t seed = 150;
  for (const Case& k : cases) {
    for (DT dt : kFloatTypes) {
      for (bool last : {false, true}) {
        SCOPED_TRACE("argmax axis " + std::to_string(k.axis) + " of " +
                     std::to_string(Count(k.dims)) + (last ? " last" : " first") + " " + Name(dt));
        const std::vector<float> x = RandInt(Count(k.dims), -3, 3, ++seed);  // many ties
        const HostTensor hx = HF(k.dims, x);
        const HostTensor ref = RunRef("ArgMax", {&hx},
                                      {{"axis", AI(k.axis)},
                                       {"keepdims", AI(1)},
                                       {"select_last_index", AI(last ? 1 : 0)}})[0];
        std::vector<float> want = Floats(ref);
        Dev dx, dy;
        int axis = k.axis;
        if (k.nhwc) {
          dx = Upload(NchwToNhwc(x, k.dims[0], k.dims[1], k.dims[2], k.dims[3]), Nhwc(k.dims), dt);
          dy = Alloc({k.dims[0], k.dims[2], k.dims[3], 1}, DT::kI64);
          axis = 3;  // [N,1,H,W] and [N,H,W,1] have the same memory order
        } else {
          dx = Upload(x, k.dims, dt);
          dy = Alloc(ref.dims, DT::kI64);
        }
        ASSERT_TRUE(Done(ArgMax(dx.arg, axis, last, dy.arg, stream_)));
        EXPECT_TRUE(Near(Download(dy), want, DT::kI64, true));
      }
    }
  }
}

TEST_F(KernelsTest, ReduceMeanMatchesReference) {
  struct Case {
    std::vector<int64_t> dims;  // NCHW when nhwc
    std::vector<int64_t> axes;  // ONNX axes on dims
    bool nhwc;
  };
  const std::vector<Case> cases = {
      {{2, 17, 6, 5}, {2, 3}, true},  // spatial mean (GlobalAvgPool path)
      {{4, 6, 37}, {2}, false},       // innermost: a warp per row
      {{4, 6, 37}, {1}, false},       // middle
      {{4, 6, 37}, {0, 2}, false},    // general
      {{2, 3, 4, 5}, {1, 3}, false}, {{3, 4, 5}, {0, 1, 2}, false},  // everything
      {{3, 1, 5}, {1}, false},                                       // a size-1 axis: a copy
  };
  uint32_t seed = 160;
  for (const Case& k : cases) {
    for (DT dt : kFloatTypes) {
      SCOPED_TRACE("ReduceMean of " + std::to_string(Count(k.dims)) + " over " +
                   std::to_string(k.axes.size()) + " axes " + Name(dt));
      const std::vector<float> x = AsDT(Rand(Count(k.dims), -2, 2, ++seed), dt);
      const HostTensor hx = HF(k.dims, x);
      const HostTensor ref =
          RunRef("ReduceMean", {&hx}, {{"axes", AIs(k.axes)}, {"keepdims", AI(1)}})[0];
      if (k.nhwc) {
        // Logical axes 2,3 are physical 1,2; the output [N,C,1,1] is [N,1,1,C] in memory.
        Dev dx =
            Upload(NchwToNhwc(x, k.dims[0], k.dims[1], k.dims[2], k.dims[3]), Nhwc(k.dims), dt);
        Dev dy = Alloc({k.dims[0], 1, 1, k.dims[1]}, dt);
        ASSERT_TRUE(Done(ReduceMean(dx.arg, {1, 2}, dy.arg, stream_)));
        EXPECT_TRUE(Near(Download(dy), ref.f, dt));
      } else {
        Dev dx = Upload(x, k.dims, dt), dy = Alloc(ref.dims, dt);
        ASSERT_TRUE(Done(
            ReduceMean(dx.arg, std::vector<int>(k.axes.begin(), k.axes.end()), dy.arg, stream_)));
        EXPECT_TRUE(Near(Download(dy), ref.f, dt));
      }
    }
  }
}

// ---- CUDA graph capture -------------------------------------------------------------------------

// The kernels capture into a CUDA graph (no allocation, no sync) and replay correctly.
TEST_F(KernelsTest, KernelsCaptureIntoACudaGraph) {
  const std::vector<int64_t> dims = {2, 16, 5, 3};  // NCHW; NHWC [2,5,3,16]
  const std::vector<float> x = Rand(Count(dims), -2, 2, 170), b = Rand(16, -1, 1, 171);
  Dev dx = Upload(x, dims, DT::kF32), db = Upload(b, {16}, DT::kF32);
  Dev dt = Alloc(Nhwc(dims), DT::kF32), ds = Alloc(Nhwc(dims), DT::kF32),
      dh = Alloc(Nhwc(dims), DT::kF16);
  Dev dc = Alloc({2, 5, 3, 32}, DT::kF16), dcopy = Alloc(Nhwc(dims), DT::kF32);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeGlobal), cudaSuccess);
  Status s = Transpose(dx.arg, {0, 2, 3, 1}, dt.arg, stream_);
  if (s.ok()) s = Binary(BinOp::kAdd, dt.arg, db.arg, ds.arg, Act::kRelu, 0, 0, stream_);
  if (s.ok()) s = Cast(ds.arg, dh.arg, stream_);
  if (s.ok()) s = Cast(ds.arg, dcopy.arg, stream_);  // same dtype: a device copy
  if (s.ok()) s = Softmax(dh.arg, 3, false, dh.arg, stream_);
  if (s.ok()) s = Concat({dh.arg, dh.arg}, 3, dc.arg, stream_);
  ASSERT_EQ(cudaStreamEndCapture(stream_, &graph), cudaSuccess);
  ASSERT_TRUE(s.ok()) << s.ToString();
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  ASSERT_EQ(cudaGraphLaunch(exec, stream_), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess);
  // The same chain on the host reference.
  const HostTensor hx = HF(dims, x);
  const HostTensor t = RunRef("Transpose", {&hx}, {{"perm", AIs({0, 2, 3, 1})}})[0];
  std::vector<float> added(t.f.size());
  RefBinary(BinOp::kAdd, t.f.data(), t.dims, b.data(), {16}, added.data(), t.dims, Act::kRelu);
  EXPECT_TRUE(Near(Download(dcopy), added, DT::kF32));
  const HostTensor ha = HF(t.dims, RoundHalf(added));
  const HostTensor sm = RunRef("Softmax", {&ha}, {{"axis", AI(3)}})[0];
  const HostTensor cat = RunRef("Concat", {&sm, &sm}, {{"axis", AI(3)}})[0];
  EXPECT_TRUE(Near(Download(dc), cat.f, DT::kF16));
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
}

// ---- bandwidth (a measurement, not a test: --gtest_also_run_disabled_tests) ---------------------

// Achieved bandwidth of each kernel on model-like shapes: bytes that must move (each input read and
// each output written once) over the median of 20 timed runs after 3 warm-ups.
TEST_F(KernelsTest, DISABLED_Bandwidth) {
  auto time = [&](const char* name, double bytes, const std::function<Status()>& fn) {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(fn().ok());
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<float> ms;
    for (int i = 0; i < 20; ++i) {
      cudaEventRecord(a, stream_);
      const Status s = fn();
      cudaEventRecord(b, stream_);
      ASSERT_TRUE(s.ok()) << s.ToString();
      cudaEventSynchronize(b);
      float t = 0;
      cudaEventElapsedTime(&t, a, b);
      ms.push_back(t);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2];
    std::printf("%-58s %9.1f us %8.0f GB/s\n", name, med * 1e3, bytes / (med * 1e-3) / 1e9);
  };
  auto dev = [&](std::vector<int64_t> dims, DT dt) { return Alloc(dims, dt); };
  const DT h = DT::kF16;
  {
    const std::vector<int64_t> d = {64, 128, 128, 64};
    const double n = static_cast<double>(Count(d));
    Dev a = dev(d, h), b = dev(d, h), o = dev(d, h), c = dev({64}, h), se = dev({64, 1, 1, 64}, h),
        px = dev({64, 128, 128, 1}, h);
    Dev sc = dev({64}, DT::kF32), sh = dev({64}, DT::kF32);
    time("(reference) cudaMemcpyAsync D2D of [64,128,128,64] f16", 2 * n * 2, [&] {
      cudaMemcpyAsync(o.arg.data, a.arg.data, static_cast<size_t>(n) * 2, cudaMemcpyDeviceToDevice,
                      stream_);
      return Status::Ok();
    });
    time("Binary add+relu same shape [64,128,128,64] f16", 3 * n * 2,
         [&] { return Binary(BinOp::kAdd, a.arg, b.arg, o.arg, Act::kRelu, 0, 0, stream_); });
    time("Binary add per channel [64] f16", 2 * n * 2,
         [&] { return Binary(BinOp::kAdd, a.arg, c.arg, o.arg, Act::kNone, 0, 0, stream_); });
    time("Binary mul SE [64,1,1,64] f16", 2 * n * 2,
         [&] { return Binary(BinOp::kMul, a.arg, se.arg, o.arg, Act::kNone, 0, 0, stream_); });
    time("Binary mul per pixel [64,128,128,1] (general) f16", 2 * n * 2 + n / 64 * 2,
         [&] { return Binary(BinOp::kMul, a.arg, px.arg, o.arg, Act::kNone, 0, 0, stream_); });
    time("Unary hardswish f16", 2 * n * 2,
         [&] { return Unary(UnaryOp::kAct, Act::kHardSwish, 0, 0, a.arg, o.arg, stream_); });
    time("ChannelAffine relu f16", 2 * n * 2, [&] {
      return ChannelAffine(a.arg, static_cast<const float*>(sc.arg.data),
                           static_cast<const float*>(sh.arg.data), o.arg, Act::kRelu, 0, 0,
                           stream_);
    });
  }
  {
    const std::vector<int64_t> d = {64, 256, 256, 3};
    const double n = static_cast<double>(Count(d));
    Dev a = dev(d, DT::kF32), o = dev(d, h), t = dev({64, 3, 256, 256}, DT::kF32);
    time("Cast f32->f16 [64,256,256,3]", n * 6, [&] { return Cast(a.arg, o.arg, stream_); });
    time("Transpose NCHW->NHWC f32 [64,3,256,256]", n * 8, [&] {
      return Transpose(t.arg, {0, 2, 3, 1}, a.arg, stream_);
    });
  }
  {
    Dev a = dev({8, 256, 128, 128}, h), o = dev({8, 128, 128, 256}, h);
    time("Transpose NCHW->NHWC f16 [8,256,128,128]", Count(a.arg.dims) * 4.0, [&] {
      return Transpose(a.arg, {0, 2, 3, 1}, o.arg, stream_);
    });
    Dev x = dev({8, 128, 128, 21}, h), y = dev({8, 21, 128, 128}, h);
    time("Transpose NHWC->NCHW f16 [8,128,128,21]", Count(x.arg.dims) * 4.0, [&] {
      return Transpose(x.arg, {0, 3, 1, 2}, y.arg, stream_);
    });
    Dev x2 = dev({8, 512, 512, 21}, h), y2 = dev({8, 21, 512, 512}, h);
    time("Transpose NHWC->NCHW f16 [8,512,512,21]", Count(x2.arg.dims) * 4.0, [&] {
      return Transpose(x2.arg, {0, 3, 1, 2}, y2.arg, stream_);
    });
    time("Transpose NCHW->NHWC f16 [8,21,512,512]", Count(x2.arg.dims) * 4.0, [&] {
      return Transpose(y2.arg, {0, 2, 3, 1}, x2.arg, stream_);
    });
    Dev x3 = dev({8, 512, 512, 2}, h), y3 = dev({8, 2, 512, 512}, h);
    time("Transpose NHWC->NCHW f16 [8,512,512,2]", Count(x3.arg.dims) * 4.0, [&] {
      return Transpose(x3.arg, {0, 3, 1, 2}, y3.arg, stream_);
    });
  }
  {
    Dev x = dev({32, 112, 112, 64}, h), y = dev({32, 56, 56, 64}, h);
    PoolArgs p;
    p.kh = p.kw = 3;
    p.stride_h = p.stride_w = 2;
    p.pad_top = p.pad_left = 1;
    time("Pool2D max 3x3/2 [32,112,112,64] f16", (Count(x.arg.dims) + Count(y.arg.dims)) * 2.0,
         [&] { return Pool2D(p, x.arg, y.arg, stream_); });
  }
  for (const std::vector<int64_t>& d :
       {std::vector<int64_t>{1, 64, 64, 2048}, std::vector<int64_t>{64, 16, 16, 960},
        std::vector<int64_t>{256, 7, 7, 2048}, std::vector<int64_t>{1, 128, 128, 16}}) {
    Dev x = dev(d, h), y = dev({d[0], 1, 1, d[3]}, h);
    const std::string name = "GlobalAvgPool f16 [" + std::to_string(d[0]) + "," +
                             std::to_string(d[1]) + "," + std::to_string(d[2]) + "," +
                             std::to_string(d[3]) + "]";
    time(name.c_str(), Count(d) * 2.0, [&] { return GlobalAvgPool(x.arg, y.arg, stream_); });
  }
  {
    ResizeArgs r;
    Dev x = dev({8, 64, 64, 256}, h), y = dev({8, 128, 128, 256}, h);
    time("Resize linear 2x [8,64,64,256] f16", (Count(x.arg.dims) + Count(y.arg.dims)) * 2.0,
         [&] { return Resize2D(r, x.arg, y.arg, stream_); });
    Dev x2 = dev({8, 64, 64, 21}, h), y2 = dev({8, 512, 512, 21}, h);
    time("Resize linear 8x [8,64,64,21] -> 512^2 f16",
         (Count(x2.arg.dims) + Count(y2.arg.dims)) * 2.0,
         [&] { return Resize2D(r, x2.arg, y2.arg, stream_); });
    Dev x3 = dev({168, 64, 64, 1}, h), y3 = dev({168, 512, 512, 1}, h);
    time("Resize linear 8x NCHW planes [8*21,64,64,1] -> 512^2 f16",
         (Count(x3.arg.dims) + Count(y3.arg.dims)) * 2.0,
         [&] { return Resize2D(r, x3.arg, y3.arg, stream_); });
    Dev x4 = dev({8, 64, 64, 3}, h), y4 = dev({8, 512, 512, 3}, h);
    time("Resize linear 8x [8,64,64,3] -> 512^2 f16",
         (Count(x4.arg.dims) + Count(y4.arg.dims)) * 2.0,
         [&] { return Resize2D(r, x4.arg, y4.arg, stream_); });
    Dev s = dev({8, 512, 512, 21}, h), am = dev({8, 512, 512, 1}, DT::kI64);
    time("Softmax over C=21 [8,512,512,21] f16", Count(s.arg.dims) * 4.0,
         [&] { return Softmax(y2.arg, 3, false, s.arg, stream_); });
    time("ArgMax over C=21 [8,512,512,21] f16", Count(s.arg.dims) * 2.0 + Count(am.arg.dims) * 8.0,
         [&] { return ArgMax(y2.arg, 3, false, am.arg, stream_); });
  }
  {
    std::vector<Dev> ins;
    std::vector<TensorArg> args;
    for (int i = 0; i < 5; ++i) {
      ins.push_back(dev({8, 64, 64, 256}, h));
      args.push_back(ins.back().arg);
    }
    Dev o = dev({8, 64, 64, 1280}, h);
    time("Concat 5 x [8,64,64,256] on C f16", Count(o.arg.dims) * 4.0,
         [&] { return Concat(args, 3, o.arg, stream_); });
    Dev sl = dev({8, 64, 64, 256}, h);
    time("Slice C 0:256 of [8,64,64,1280] f16", Count(sl.arg.dims) * 4.0, [&] {
      return Slice(o.arg, {0, 0, 0, 0}, {1, 1, 1, 1}, sl.arg, stream_);
    });
    Dev pd = dev({8, 66, 66, 256}, h);
    time("Pad H,W by 1 [8,64,64,256] f16", (Count(sl.arg.dims) + Count(pd.arg.dims)) * 2.0, [&] {
      return Pad(sl.arg, {0, 1, 1, 0}, PadMode::kConstant, 0, pd.arg, stream_);
    });
    Dev rm = dev({8, 1, 1, 256}, h);
    time("ReduceMean H,W [8,64,64,256] f16", Count(sl.arg.dims) * 2.0, [&] {
      return ReduceMean(sl.arg, {1, 2}, rm.arg, stream_);
    });
  }
}

// ---- argument checks (no GPU needed: they fail before any CUDA call) ----------------------------

TensorArg Fake(std::vector<int64_t> dims, DT dt = DT::kF32) {
  TensorArg t;
  t.data = reinterpret_cast<void*>(uintptr_t{0x1000});  // never dereferenced: the checks fail first
  t.dt = dt;
  t.dims = std::move(dims);
  return t;
}

void ExpectBad(const Status& s, const std::string& kernel) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find(kernel), std::string::npos) << s.message();
}

TEST(KernelsArgTest, BadArgumentsAreRefusedNamingTheKernel) {
  EXPECT_EQ(DTSize(DT::kF32), 4);
  EXPECT_EQ(DTSize(DT::kF16), 2);
  EXPECT_EQ(DTSize(DT::kI64), 8);
  EXPECT_EQ(DTSize(DT::kBool), 1);
  EXPECT_EQ(Fake({2, 3, 4}).elements(), 24);
  EXPECT_EQ(Fake({}).elements(), 1);
  ExpectBad(Binary(BinOp::kAdd, Fake({2, 3}), Fake({4}), Fake({2, 4}), Act::kNone, 0, 0, nullptr),
            "Binary");
  ExpectBad(Binary(BinOp::kAdd, Fake({2, 3}), Fake({3}), Fake({2, 4}), Act::kNone, 0, 0, nullptr),
            "Binary");
  ExpectBad(Binary(BinOp::kAdd, Fake({2, 3}), Fake({3}, DT::kF16), Fake({2, 3}), Act::kNone, 0, 0,
                   nullptr),
            "Binary");
  ExpectBad(Binary(BinOp::kAdd, Fake({2, 3}, DT::kI64), Fake({3}, DT::kI64), Fake({2, 3}, DT::kI64),
                   Act::kNone, 0, 0, nullptr),
            "Binary");
  ExpectBad(Binary(BinOp::kAdd, Fake({1, 1, 1, 1, 1, 1, 2}), Fake({2}), Fake({1, 1, 1, 1, 1, 1, 2}),
                   Act::kNone, 0, 0, nullptr),
            "Binary");
  ExpectBad(Unary(UnaryOp::kExp, Act::kNone, 0, 0, Fake({5}), Fake({6}), nullptr), "Unary");
  ExpectBad(ChannelAffine(Fake({2, 3}), nullptr, nullptr, Fake({2, 3}), Act::kNone, 0, 0, nullptr),
            "ChannelAffine");
  ExpectBad(Cast(Fake({5}), Fake({4}, DT::kF16), nullptr), "Cast");
  ExpectBad(Pool2D(PoolArgs{}, Fake({1, 4, 4}), Fake({1, 4, 4}), nullptr), "Pool2D");
  PoolArgs zero;
  zero.stride_h = 0;
  ExpectBad(Pool2D(zero, Fake({1, 4, 4, 2}), Fake({1, 4, 4, 2}), nullptr), "Pool2D");
  ExpectBad(GlobalAvgPool(Fake({1, 4, 4, 2}), Fake({1, 1, 1, 3}), nullptr), "GlobalAvgPool");
  ExpectBad(Resize2D(ResizeArgs{}, Fake({1, 4, 4, 2}), Fake({1, 8, 8, 3}), nullptr), "Resize2D");
  ExpectBad(Concat({Fake({2, 3}), Fake({3, 3})}, 1, Fake({2, 6}), nullptr), "Concat");
  ExpectBad(Concat({Fake({2, 3}), Fake({2, 3})}, 1, Fake({2, 7}), nullptr), "Concat");
  ExpectBad(Concat({Fake({2, 3}), Fake({2, 3}, DT::kI64)}, 1, Fake({2, 6}), nullptr), "Concat");
  ExpectBad(Slice(Fake({5}), {3}, {1}, Fake({3}), nullptr), "Slice");  // runs past the end
  ExpectBad(Slice(Fake({5}), {0}, {0}, Fake({3}), nullptr), "Slice");  // zero step
  ExpectBad(Transpose(Fake({2, 3}), {0, 0}, Fake({2, 2}), nullptr), "Transpose");
  ExpectBad(Transpose(Fake({2, 3}), {1, 0}, Fake({2, 3}), nullptr), "Transpose");
  ExpectBad(Pad(Fake({2, 3}), {0, 3}, PadMode::kReflect, 0, Fake({2, 9}), nullptr), "Pad");
  ExpectBad(Softmax(Fake({2, 3}), 2, false, Fake({2, 3}), nullptr), "Softmax");
  ExpectBad(ArgMax(Fake({2, 3}), 1, false, Fake({2, 1}, DT::kF32), nullptr), "ArgMax");
  ExpectBad(ArgMax(Fake({2, 3}), 1, false, Fake({3, 1}, DT::kI64), nullptr), "ArgMax");
  ExpectBad(ReduceMean(Fake({2, 3}), {1}, Fake({2, 3}), nullptr), "ReduceMean");
  ExpectBad(GatherConst(Fake({4, 3}), 0, nullptr, 2, Fake({3, 3}), nullptr), "GatherConst");
  TensorArg null_data = Fake({2});
  null_data.data = nullptr;
  ExpectBad(Unary(UnaryOp::kExp, Act::kNone, 0, 0, null_data, Fake({2}), nullptr), "Unary");
}

}  // namespace
}  // namespace vrseg::engine::gpu

#endif  // VRSEG_HAVE_CUDA
