// The builder: optimised IR → plan (see runtime.h). One layer per live node; conv and gemm tactics
// timed on the layer's real shapes; activations placed in one arena by liveness.
#ifdef VRSEG_HAVE_CUDA

#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <tuple>

#include "engine/conv.h"
#include "engine/kernels.h"
#include "engine/runtime.h"
#include "vrseg/log.h"

namespace vrseg::engine {
namespace {

Status CudaErr(cudaError_t e, const char* call, const std::string& what) {
  if (e == cudaSuccess) return Status::Ok();
  const std::string msg =
      "engine build: " + what + ": " + call + " failed: " + cudaGetErrorString(e);
  if (e == cudaErrorMemoryAllocation) return Status::OutOfMemory(msg);
  return Status::Internal(msg);
}
#define B_CUDA(call, what) VRSEG_RETURN_IF_ERROR(CudaErr((call), #call, (what)))

constexpr int64_t kAlign = 256;
int64_t AlignUp(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// A device buffer that only grows (timing scratch).
struct Scratch {
  void* p = nullptr;
  size_t n = 0;
  ~Scratch() {
    if (p) cudaFree(p);
  }
  Result<void*> Get(size_t bytes) {
    bytes = std::max<size_t>(bytes, 256);
    if (bytes > n) {
      if (p) cudaFree(p);
      p = nullptr;
      n = 0;
      B_CUDA(cudaMalloc(&p, bytes), "timing scratch (" + std::to_string(bytes) + " bytes)");
      B_CUDA(cudaMemset(p, 0, bytes), "clearing timing scratch");
      n = bytes;
    }
    return p;
  }
};

// Logical axes of a value in physical order ([0,2,3,1] for NHWC).
std::vector<int> PhysOrder(const Value& v) {
  std::vector<int> o(v.shape.size());
  for (size_t i = 0; i < o.size(); ++i)
    o[PhysicalAxis(v, static_cast<int>(i))] = static_cast<int>(i);
  return o;
}

Shape PhysShape(const Value& v) {
  Shape s(v.shape.size());
  for (size_t i = 0; i < s.size(); ++i) s[PhysicalAxis(v, static_cast<int>(i))] = v.shape[i];
  return s;
}

bool IsNhwc(const Value& v) { return v.layout == Layout::kNHWC && v.shape.size() == 4; }

class Builder {
 public:
  Builder(const Graph& g, const BuilderOptions& o, std::shared_ptr<gpu::GpuContext> ctx,
          std::vector<std::string>* log)
      : g_(g), opt_(o), ctx_(std::move(ctx)), log_(log) {}
  ~Builder() {
    if (stream_) cudaStreamDestroy(stream_);
    if (e0_) cudaEventDestroy(e0_);
    if (e1_) cudaEventDestroy(e1_);
  }

  Result<Plan> Build();

 private:
  // ---- buffers ----
  PlanDType DTOf(const Value& v) const {
    switch (v.type) {
      case ElemType::kFloat:
        return fdt_;
      case ElemType::kInt64:
        return PlanDType::kI64;
      case ElemType::kBool:
        return PlanDType::kBool;
    }
    return fdt_;
  }
  int32_t NewBuffer(const Value& v, BufferKind kind, int32_t index = -1) {
    PlanBuffer b;
    b.name = v.name;
    b.dtype = DTOf(v);
    b.dims = PhysShape(v);
    b.kind = kind;
    b.index = index;
    plan_.buffers.push_back(std::move(b));
    return static_cast<int32_t>(plan_.buffers.size() - 1);
  }
  // The buffer a node writes value `v` into (its graph-output buffer, or a new arena buffer).
  int32_t Out(int v) {
    if (buf_[v] < 0) buf_[v] = NewBuffer(g_.values[v], BufferKind::kArena);
    return buf_[v];
  }
  // The buffer holding value `v` for a consumer; constants become kConst buffers, laid out NHWC
  // (right-aligned to rank 4, then permuted) when `nhwc` says the consumer works in NHWC.
  Result<int32_t> In(int v, bool nhwc, const Node& n);
  Result<int32_t> ConstBuffer(int v, bool nhwc, const Node& n);
  // The same for a constant given by value (`v` keys the cache; `val` may be a converted copy).
  Result<int32_t> ConstBufferOf(const Value& val, int v, bool nhwc, const Node& n);

  // ---- layers ----
  PlanLayer& AddLayer(const Node& n, LayerKind kind, std::vector<int32_t> ins,
                      std::vector<int32_t> outs) {
    PlanLayer l;
    l.name = n.name;
    l.op = n.op;
    l.kind = kind;
    l.inputs = std::move(ins);
    l.outputs = std::move(outs);
    plan_.layers.push_back(std::move(l));
    return plan_.layers.back();
  }
  void SetAct(PlanLayer& l, Act a, float alpha, float beta) {
    l.ints["act"] = {static_cast<int64_t>(a)};
    l.floats["act_alpha"] = {alpha};
    l.floats["act_beta"] = {beta};
  }
  Status Unsupported(const Node& n, const std::string& why) const {
    return Status::Unsupported("engine: node '" + n.name + "' (" + n.op + "): " + why);
  }
  void Log(const std::string& line) {
    if (log_) log_->push_back(line);
    if (opt_.verbose) LogInfo(line);
  }
  const Value& V(int i) const { return g_.values[i]; }
  bool ConstDims(const Value& v) const {
    for (const Dim& d : v.shape) {
      if (!d.is_const()) return false;
    }
    return true;
  }
  const Value* ConstInput(const Node& n, size_t i) const {
    if (i >= n.inputs.size() || n.inputs[i] < 0) return nullptr;
    const Value& v = V(n.inputs[i]);
    return v.is_const ? &v : nullptr;
  }
  bool HasInput(const Node& n, size_t i) const { return i < n.inputs.size() && n.inputs[i] >= 0; }
  bool Used(int v) const {
    return !consumers_[v].empty() ||
           std::find(g_.outputs.begin(), g_.outputs.end(), v) != g_.outputs.end();
  }

  Status Node_(const Node& n);
  Status Conv(const Node& n);
  Status Gemm(const Node& n);
  Status BinaryOp(const Node& n, BinOp op);
  Status UnaryLayer(const Node& n);
  Status BatchNorm(const Node& n);
  Status Pool(const Node& n);
  Status GlobalPool(const Node& n);
  Status SqueezeExciteOp(const Node& n);
  Status ReduceMeanOp(const Node& n);
  Status ResizeOp(const Node& n);
  Status ConcatOp(const Node& n);
  Status SliceOp(const Node& n);
  Status SplitOp(const Node& n);
  Status TransposeOp(const Node& n, const std::vector<int64_t>& logical_perm);
  Status PadOp(const Node& n);
  Status SoftmaxOp(const Node& n);
  Status ArgMaxOp(const Node& n);
  Status GatherOp(const Node& n);
  Status AliasOp(const Node& n, bool same_memory_order = false);
  Status Copy(const Node& n, int32_t src, int32_t dst);

  // Times `run` (warm-ups, then timed iterations between events) on the builder's stream.
  // Candidates whose first launch takes longer than `prune_above_ms` return that time untimed.
  Result<double> Time(const std::function<Status(cudaStream_t)>& run,
                      double prune_above_ms = std::numeric_limits<double>::infinity());
  Status PlaceArena();
  void Costs();

  const Graph& g_;
  BuilderOptions opt_;
  std::shared_ptr<gpu::GpuContext> ctx_;
  std::vector<std::string>* log_;
  PlanDType fdt_ = PlanDType::kF16;
  gpu::DT gdt_ = gpu::DT::kF16;
  Plan plan_;
  std::vector<int32_t> buf_;                                 // value → buffer (activations, I/O)
  std::map<std::tuple<int, bool, int>, int32_t> const_buf_;  // (value, nhwc, type) → kConst
  std::vector<std::vector<int>> consumers_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t e0_ = nullptr, e1_ = nullptr;
  Scratch sx_, sy_, sr_, sw_, sb_, sws_;
};

Result<int32_t> Builder::ConstBuffer(int v, bool nhwc, const Node& n) {
  return ConstBufferOf(V(v), v, nhwc, n);
}

Result<int32_t> Builder::ConstBufferOf(const Value& val, int v, bool nhwc, const Node& n) {
  if (val.has_sym) return Unsupported(n, "input '" + val.name + "' depends on the batch size");
  if (!ConstDims(val)) return Unsupported(n, "constant '" + val.name + "' has a symbolic shape");
  nhwc = nhwc && val.shape.size() <= 4;
  // Keyed by value, layout and element type (a converted copy is another buffer).
  auto key = std::make_tuple(v, nhwc, static_cast<int>(val.type));
  if (auto it = const_buf_.find(key); it != const_buf_.end()) return it->second;
  std::vector<int64_t> dims = Concrete(val.shape, 1);
  const int64_t count = std::max<int64_t>(1, Elements(val.shape, 1));
  std::vector<int64_t> src_index(count);
  for (int64_t i = 0; i < count; ++i) src_index[i] = i;
  std::vector<int64_t> pdims = dims;
  if (nhwc) {
    while (dims.size() < 4) dims.insert(dims.begin(), 1);
    pdims = {dims[0], dims[2], dims[3], dims[1]};
    // Physical element (n,h,w,c) comes from logical (n,c,h,w).
    int64_t i = 0;
    for (int64_t a = 0; a < dims[0]; ++a)
      for (int64_t h = 0; h < dims[2]; ++h)
        for (int64_t w = 0; w < dims[3]; ++w)
          for (int64_t c = 0; c < dims[1]; ++c)
            src_index[i++] = ((a * dims[1] + c) * dims[2] + h) * dims[3] + w;
  }
  std::vector<uint8_t> bytes;
  PlanDType dt = DTOf(val);
  const size_t have = val.type == ElemType::kFloat ? val.fdata.size() : val.idata.size();
  if (static_cast<int64_t>(have) < count) {
    return Unsupported(n, "constant '" + val.name + "' has " + std::to_string(have) +
                              " elements, its shape says " + std::to_string(count));
  }
  bytes.resize(static_cast<size_t>(count) * PlanDTypeSize(dt));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t s = src_index[i];
    switch (dt) {
      case PlanDType::kF32: {
        const float f = val.fdata[s];
        std::memcpy(bytes.data() + 4 * i, &f, 4);
        break;
      }
      case PlanDType::kF16: {
        const __half h = __float2half_rn(val.fdata[s]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
        break;
      }
      case PlanDType::kI64:
        std::memcpy(bytes.data() + 8 * i, &val.idata[s], 8);
        break;
      case PlanDType::kBool:
        bytes[i] = val.idata[s] ? 1 : 0;
        break;
    }
  }
  const WeightRef w = plan_.AddWeights(bytes.data(), bytes.size());
  PlanBuffer b;
  b.name = val.name;
  b.dtype = dt;
  for (int64_t d : pdims) b.dims.push_back(Dim::Const(d));
  b.kind = BufferKind::kConst;
  b.offset = w.offset;
  plan_.buffers.push_back(std::move(b));
  const int32_t id = static_cast<int32_t>(plan_.buffers.size() - 1);
  const_buf_[key] = id;
  return id;
}

Result<int32_t> Builder::In(int v, bool nhwc, const Node& n) {
  if (v < 0) return Unsupported(n, "a required input is missing");
  if (V(v).is_const) return ConstBuffer(v, nhwc, n);
  if (buf_[v] < 0)
    return Status::Internal("engine: node '" + n.name + "' reads '" + V(v).name +
                            "' before it is produced");
  return buf_[v];
}

Result<double> Builder::Time(const std::function<Status(cudaStream_t)>& run,
                             double prune_above_ms) {
  // One launch first: a candidate far slower than the best so far (a generic fallback kernel on a
  // big layer can take tens of milliseconds) is not worth the full timing.
  // The second of two launches decides (the first may load the kernel's module).
  float once = 0;
  for (int i = 0; i < 2; ++i) {
    B_CUDA(cudaEventRecord(e0_, stream_), "timing");
    VRSEG_RETURN_IF_ERROR(run(stream_));
    B_CUDA(cudaEventRecord(e1_, stream_), "timing");
    B_CUDA(cudaEventSynchronize(e1_), "timing");
    B_CUDA(cudaEventElapsedTime(&once, e0_, e1_), "timing");
    if (once <= prune_above_ms) break;
  }
  if (once > prune_above_ms) return static_cast<double>(once);
  for (int i = 0; i < opt_.warmup_iterations; ++i) VRSEG_RETURN_IF_ERROR(run(stream_));
  // The timed launches are captured into one CUDA graph: the time is then the device's, not the
  // host's launch overhead (which dominates small layers and is gone in the runtime's graphs),
  // and a tactic that cannot be captured (the runtime replays graphs) fails here.
  const int iters = std::max(1, opt_.timed_iterations);
  B_CUDA(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "timing");
  Status launched = Status::Ok();
  for (int i = 0; i < iters && launched.ok(); ++i) launched = run(stream_);
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream_, &graph);
  if (!launched.ok() || end != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    if (!launched.ok()) return launched;
    return CudaErr(end, "cudaStreamEndCapture",
                   "timing (the tactic cannot be captured in a graph)");
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  B_CUDA(inst, "timing");
  std::unique_ptr<CUgraphExec_st, cudaError_t (*)(cudaGraphExec_t)> guard(exec,
                                                                          cudaGraphExecDestroy);
  B_CUDA(cudaGraphLaunch(exec, stream_), "timing");  // warm (graph upload)
  B_CUDA(cudaEventRecord(e0_, stream_), "timing");
  B_CUDA(cudaGraphLaunch(exec, stream_), "timing");
  B_CUDA(cudaEventRecord(e1_, stream_), "timing");
  B_CUDA(cudaEventSynchronize(e1_), "timing");
  float ms = 0;
  B_CUDA(cudaEventElapsedTime(&ms, e0_, e1_), "timing");
  return static_cast<double>(ms) / iters;
}

// ---- Conv / ConvTranspose -----------------------------------------------------------------------

Status Builder::Conv(const Node& n) {
  const bool transposed = n.op == "ConvTranspose";
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const Value* w = ConstInput(n, 1);
  const Value* b = ConstInput(n, 2);
  if (!w) return Unsupported(n, "weights must be constant");
  if (HasInput(n, 2) && !b) return Unsupported(n, "bias must be constant");
  if (x.shape.size() != 4 || w->shape.size() != 4)
    return Unsupported(n, "only 2-D convolutions are supported");
  if (!IsNhwc(x) || !IsNhwc(y))
    return Status::Internal("engine: node '" + n.name + "': conv input/output not in NHWC");
  for (int i = 1; i < 4; ++i) {
    if (!x.shape[i].is_const() || !y.shape[i].is_const())
      return Unsupported(n, "non-batch dims must be constant");
  }
  const std::vector<int64_t> wd = Concrete(w->shape, 1);
  ConvShape cs;
  cs.c = x.shape[1].c;
  cs.h = x.shape[2].c;
  cs.w = x.shape[3].c;
  cs.groups = n.GetInt("group", 1);
  cs.k = transposed ? wd[1] * cs.groups : wd[0];
  cs.r = wd[2];
  cs.s = wd[3];
  const auto strides = n.GetInts("strides", {1, 1});
  const auto dil = n.GetInts("dilations", {1, 1});
  auto pads = n.GetInts("pads", {0, 0, 0, 0});
  const auto opad = n.GetInts("output_padding", {0, 0});
  if (strides.size() != 2 || dil.size() != 2 || pads.size() != 4 || opad.size() != 2) {
    return Unsupported(n, "strides/dilations/pads of the wrong length");
  }
  cs.stride_h = strides[0];
  cs.stride_w = strides[1];
  cs.dil_h = dil[0];
  cs.dil_w = dil[1];
  cs.transposed = transposed;
  cs.out_pad_h = transposed ? opad[0] : 0;
  cs.out_pad_w = transposed ? opad[1] : 0;
  const std::string auto_pad = n.GetString("auto_pad", "NOTSET");
  const int64_t oh = y.shape[2].c, ow = y.shape[3].c;
  const int64_t in_hw[2] = {cs.h, cs.w}, out_hw[2] = {oh, ow}, kk[2] = {cs.r, cs.s};
  if (auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER" ||
             (transposed && n.Has("output_shape"))) {
    const bool upper = auto_pad != "SAME_LOWER";
    for (int a = 0; a < 2; ++a) {
      const int64_t ext = (kk[a] - 1) * dil[a] + 1;
      int64_t total = transposed ? strides[a] * (in_hw[a] - 1) + opad[a] + ext - out_hw[a]
                                 : (out_hw[a] - 1) * strides[a] + ext - in_hw[a];
      if (transposed && total < 0) {
        // output_shape asks for more than the padding-free result: the rest is output padding.
        (a == 0 ? cs.out_pad_h : cs.out_pad_w) += -total;
        total = 0;
      }
      total = std::max<int64_t>(total, 0);
      const int64_t small = total / 2, big = total - small;
      pads[a] = upper ? small : big;
      pads[a + 2] = upper ? big : small;
    }
  }
  cs.pad_top = pads[0];
  cs.pad_left = pads[1];
  cs.pad_bottom = pads[2];
  cs.pad_right = pads[3];
  cs.n = opt_.opt_batch;
  if (cs.OutH() != oh || cs.OutW() != ow || y.shape[1].c != cs.k) {
    return Unsupported(n, "output " + ShapeString(y.shape) + " does not match the convolution's " +
                              std::to_string(cs.k) + "x" + std::to_string(cs.OutH()) + "x" +
                              std::to_string(cs.OutW()));
  }

  gpu::ConvDesc d;
  d.shape = cs;
  d.dt = gdt_;
  d.has_bias = b != nullptr;
  d.act = n.epi.act;
  d.alpha = n.epi.alpha;
  d.beta = n.epi.beta;
  d.has_residual = n.epi.residual >= 0;
  d.residual_after_act = n.epi.residual_after_act;

  int32_t res_buf = -1;
  if (d.has_residual) {
    const Value& rv = V(n.epi.residual);
    if (!IsNhwc(rv) || rv.shape != y.shape)
      return Unsupported(n, "residual '" + rv.name + "' does not match the output");
    VRSEG_ASSIGN_OR_RETURN(res_buf, In(n.epi.residual, true, n));
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], true, n));
  const int32_t yb = Out(n.outputs[0]);

  // Tactic search at the opt batch.
  const int64_t ob = opt_.opt_batch;
  const int es = gdt_ == gpu::DT::kF16 ? 2 : 4;
  VRSEG_ASSIGN_OR_RETURN(void* xs, sx_.Get(static_cast<size_t>(ob * cs.h * cs.w * cs.c * es)));
  VRSEG_ASSIGN_OR_RETURN(void* ys, sy_.Get(static_cast<size_t>(ob * oh * ow * cs.k * es)));
  VRSEG_ASSIGN_OR_RETURN(
      void* rs, sr_.Get(d.has_residual ? static_cast<size_t>(ob * oh * ow * cs.k * es) : 0));
  const std::vector<gpu::ConvTactic> cands = gpu::CandidateConvTactics(*ctx_, d, ob);
  if (cands.empty()) return Unsupported(n, "no convolution tactic supports this layer");
  double best_ms = std::numeric_limits<double>::infinity();
  gpu::ConvTactic best{};
  std::vector<uint8_t> best_w, best_b;
  std::string tried;
  for (const gpu::ConvTactic& t : cands) {
    // The tactic must also work at the ends of the batch range.
    bool usable = true;
    for (int64_t bb :
         {static_cast<int64_t>(opt_.min_batch), static_cast<int64_t>(opt_.max_batch)}) {
      if (!gpu::ConvRunner::Create(*ctx_, d, t, bb).ok()) usable = false;
    }
    auto runner = gpu::ConvRunner::Create(*ctx_, d, t, ob);
    if (!usable || !runner.ok()) {
      tried += " " + t.Name() + ":unusable";
      continue;
    }
    std::vector<uint8_t> pw = gpu::PrepareConvWeights(d, t, w->fdata.data());
    std::vector<uint8_t> pb =
        b ? gpu::PrepareConvBias(d, t, b->fdata.data()) : std::vector<uint8_t>{};
    VRSEG_ASSIGN_OR_RETURN(void* wdev, sw_.Get(pw.size()));
    VRSEG_ASSIGN_OR_RETURN(void* bdev, sb_.Get(pb.size()));
    B_CUDA(cudaMemcpy(wdev, pw.data(), pw.size(), cudaMemcpyHostToDevice),
           "uploading weights of '" + n.name + "'");
    if (!pb.empty())
      B_CUDA(cudaMemcpy(bdev, pb.data(), pb.size(), cudaMemcpyHostToDevice), "uploading bias");
    VRSEG_ASSIGN_OR_RETURN(void* ws, sws_.Get((*runner)->workspace_bytes()));
    gpu::ConvRunner* r = runner->get();
    const void* bias_ptr = pb.empty() ? nullptr : bdev;
    const void* res_ptr = d.has_residual ? rs : nullptr;
    auto ms = Time([&](cudaStream_t s) { return r->Run(xs, wdev, bias_ptr, res_ptr, ys, ws, s); },
                   4 * best_ms + 0.05);
    if (!ms.ok()) {
      // A failed launch may leave a sticky error only for real faults; clear the soft ones.
      cudaGetLastError();
      tried += " " + t.Name() + ":failed";
      if (opt_.verbose) LogInfo("  " + n.name + " " + t.Name() + ": " + ms.status().ToString());
      continue;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), ":%.4fms", *ms);
    tried += " " + t.Name() + buf;
    if (*ms < best_ms) {
      best_ms = *ms;
      best = t;
      best_w = std::move(pw);
      best_b = std::move(pb);
    }
  }
  if (!std::isfinite(best_ms)) return Unsupported(n, "every convolution tactic failed:" + tried);
  Log(n.name + " " + n.op + " " + std::to_string(cs.k) + "x" + std::to_string(cs.c / cs.groups) +
      "x" + std::to_string(cs.r) + "x" + std::to_string(cs.s) + " ->" + tried + " => " +
      best.Name());

  PlanLayer& l = AddLayer(n, LayerKind::kConv, {xb, res_buf}, {yb});
  l.ints["shape"] = {cs.h,         cs.w,        cs.c,        cs.k,
                     cs.r,         cs.s,        cs.groups,   cs.stride_h,
                     cs.stride_w,  cs.pad_top,  cs.pad_left, cs.pad_bottom,
                     cs.pad_right, cs.dil_h,    cs.dil_w,    cs.transposed ? 1 : 0,
                     cs.out_pad_h, cs.out_pad_w};
  l.ints["has_bias"] = {d.has_bias ? 1 : 0};
  l.ints["residual_after_act"] = {d.residual_after_act ? 1 : 0};
  SetAct(l, d.act, d.alpha, d.beta);
  l.tactic = {TacticKind::kConv, static_cast<int32_t>(best.algo), best.sub, best.Name()};
  l.time_ms = best_ms;
  const double macs = transposed ? double(cs.h) * cs.w * cs.c * (cs.k / cs.groups) * cs.r * cs.s
                                 : double(oh) * ow * cs.k * (cs.c / cs.groups) * cs.r * cs.s;
  l.flops_per_sample = 2 * macs;
  l.weights.push_back(plan_.AddWeights(best_w.data(), best_w.size()));
  l.weights.push_back(plan_.AddWeights(best_b.data(), best_b.size()));
  return Status::Ok();
}

// ---- MatMul / Gemm ------------------------------------------------------------------------------

Status Builder::Gemm(const Node& n) {
  const bool is_gemm = n.op == "Gemm";
  const Value& a = V(n.inputs[0]);
  const Value& bv = V(n.inputs[1]);
  const Value& y = V(n.outputs[0]);
  if (a.is_const) return Unsupported(n, "a constant first operand is not supported");
  if (a.layout != Layout::kPlain || bv.layout != Layout::kPlain || y.layout != Layout::kPlain) {
    return Unsupported(n, "operands in NHWC layout are not supported");
  }
  if (a.type != ElemType::kFloat) return Unsupported(n, "only float matrices are supported");
  const size_t ra = a.shape.size(), rb = bv.shape.size();
  if (ra < 2 || rb < 2 || (is_gemm && (ra != 2 || rb != 2)))
    return Unsupported(n, "operands must be at least 2-D (Gemm: exactly 2-D)");
  for (size_t i = 1; i < ra; ++i) {
    if (i >= ra - 2 && !a.shape[i].is_const())
      return Unsupported(n, "matrix dims must not depend on the batch");
  }
  if (!ConstDims(bv)) {
    // Only a leading (batch) dim may vary, and only when batched like A.
    for (size_t i = rb - 2; i < rb; ++i) {
      if (!bv.shape[i].is_const())
        return Unsupported(n, "matrix dims must not depend on the batch");
    }
  }
  gpu::GemmDesc d;
  d.dt = gdt_;
  d.trans_a = is_gemm && n.GetInt("transA", 0) != 0;
  d.trans_b = is_gemm && n.GetInt("transB", 0) != 0;
  d.alpha = is_gemm ? n.GetFloat("alpha", 1.f) : 1.f;
  const float beta = is_gemm ? n.GetFloat("beta", 1.f) : 1.f;
  if (d.trans_a && !a.shape[ra - 2].is_const())
    return Unsupported(n, "transA over the batch axis is not supported");
  const int64_t a_rows = a.shape[ra - 2].c, a_cols = a.shape[ra - 1].c;
  d.k = d.trans_a ? a_rows : a_cols;
  const int64_t b_rows = bv.shape[rb - 2].c, b_cols = bv.shape[rb - 1].c;
  const int64_t kb = d.trans_b ? b_cols : b_rows;
  d.n = d.trans_b ? b_rows : b_cols;
  if (kb != d.k) return Unsupported(n, "inner dimensions differ");
  bool batched = false;
  if (!bv.is_const && rb > 2) {
    if (ra != rb) return Unsupported(n, "broadcast batched matmul is not supported");
    for (size_t i = 0; i + 2 < ra; ++i) {
      if (!(a.shape[i] == bv.shape[i]))
        return Unsupported(n, "broadcast batched matmul is not supported");
    }
    batched = true;
  } else if (bv.is_const && rb > 2) {
    for (size_t i = 0; i + 2 < rb; ++i) {
      if (bv.shape[i].c != 1) return Unsupported(n, "batched constant B is not supported");
    }
  }
  d.b_broadcast = !batched;
  d.act = n.epi.act;
  d.act_alpha = n.epi.alpha;
  d.act_beta = n.epi.beta;
  d.has_residual = n.epi.residual >= 0;
  d.residual_after_act = n.epi.residual_after_act;
  std::vector<float> bias;
  if (is_gemm && HasInput(n, 2)) {
    const Value* c = ConstInput(n, 2);
    if (!c) return Unsupported(n, "C must be constant");
    const int64_t ce = Elements(c->shape, 1);
    if (ce == 1) {
      bias.assign(d.n, c->fdata.empty() ? 0.f : c->fdata[0]);
    } else if (ce == d.n && (c->shape.size() == 1 || c->shape[0].c == 1)) {
      bias = c->fdata;
    } else {
      return Unsupported(n, "C must be a scalar or a row of " + std::to_string(d.n));
    }
    d.has_bias = true;
    d.bias_scale = beta;
  }
  // Shapes at a batch size.
  auto desc_at = [&](int64_t batch) {
    gpu::GemmDesc e = d;
    const int64_t elems = Elements(a.shape, batch);
    if (batched) {
      e.m = d.trans_a ? a_cols : a_rows;
      e.batch_count = elems / (e.m * d.k);
    } else {
      e.m = elems / d.k;
      e.batch_count = 1;
    }
    return e;
  };
  int32_t res_buf = -1;
  if (d.has_residual) {
    VRSEG_ASSIGN_OR_RETURN(res_buf, In(n.epi.residual, false, n));
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t ab, In(n.inputs[0], false, n));
  int32_t bb = -1;
  if (!bv.is_const) {
    VRSEG_ASSIGN_OR_RETURN(bb, In(n.inputs[1], false, n));
  }
  const int32_t yb = Out(n.outputs[0]);
  std::vector<uint8_t> pb =
      bv.is_const ? gpu::PrepareGemmB(d, bv.fdata.data()) : std::vector<uint8_t>{};
  std::vector<uint8_t> pbias =
      d.has_bias ? gpu::PrepareGemmBias(d, bias.data()) : std::vector<uint8_t>{};

  const gpu::GemmDesc dopt = desc_at(opt_.opt_batch);
  const int es = gdt_ == gpu::DT::kF16 ? 2 : 4;
  const size_t a_bytes = static_cast<size_t>(dopt.m * dopt.k * dopt.batch_count * es);
  const size_t y_bytes = static_cast<size_t>(dopt.m * dopt.n * dopt.batch_count * es);
  const size_t b_bytes =
      bv.is_const ? pb.size() : static_cast<size_t>(dopt.k * dopt.n * dopt.batch_count * es);
  VRSEG_ASSIGN_OR_RETURN(void* as, sx_.Get(a_bytes));
  VRSEG_ASSIGN_OR_RETURN(void* ys, sy_.Get(y_bytes));
  VRSEG_ASSIGN_OR_RETURN(void* rs, sr_.Get(d.has_residual ? y_bytes : 0));
  VRSEG_ASSIGN_OR_RETURN(void* bs, sw_.Get(b_bytes));
  VRSEG_ASSIGN_OR_RETURN(void* biass, sb_.Get(pbias.size()));
  if (!pb.empty())
    B_CUDA(cudaMemcpy(bs, pb.data(), pb.size(), cudaMemcpyHostToDevice), "uploading B");
  if (!pbias.empty())
    B_CUDA(cudaMemcpy(biass, pbias.data(), pbias.size(), cudaMemcpyHostToDevice), "uploading bias");
  const std::vector<gpu::GemmTactic> cands = gpu::CandidateGemmTactics(*ctx_, dopt);
  if (cands.empty()) return Unsupported(n, "no GEMM tactic supports this layer");
  double best_ms = std::numeric_limits<double>::infinity();
  gpu::GemmTactic best{};
  std::string tried;
  for (const gpu::GemmTactic& t : cands) {
    bool usable = true;
    for (int64_t b : {static_cast<int64_t>(opt_.min_batch), static_cast<int64_t>(opt_.max_batch)}) {
      if (!gpu::GemmRunner::Create(*ctx_, desc_at(b), t).ok()) usable = false;
    }
    auto runner = gpu::GemmRunner::Create(*ctx_, dopt, t);
    if (!usable || !runner.ok()) {
      tried += " " + t.Name() + ":unusable";
      continue;
    }
    VRSEG_ASSIGN_OR_RETURN(void* ws, sws_.Get((*runner)->workspace_bytes()));
    gpu::GemmRunner* r = runner->get();
    const void* bias_ptr = pbias.empty() ? nullptr : biass;
    const void* res_ptr = d.has_residual ? rs : nullptr;
    auto ms = Time([&](cudaStream_t s) { return r->Run(as, bs, bias_ptr, res_ptr, ys, ws, s); },
                   4 * best_ms + 0.05);
    if (!ms.ok()) {
      cudaGetLastError();
      tried += " " + t.Name() + ":failed";
      continue;
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), ":%.4fms", *ms);
    tried += " " + t.Name() + buf;
    if (*ms < best_ms) {
      best_ms = *ms;
      best = t;
    }
  }
  if (!std::isfinite(best_ms)) return Unsupported(n, "every GEMM tactic failed:" + tried);
  Log(n.name + " " + n.op + " " + std::to_string(dopt.m) + "x" + std::to_string(dopt.n) + "x" +
      std::to_string(dopt.k) + " ->" + tried + " => " + best.Name());

  PlanLayer& l = AddLayer(n, LayerKind::kGemm, {ab, bb, res_buf}, {yb});
  l.ints["trans_a"] = {d.trans_a};
  l.ints["trans_b"] = {d.trans_b};
  l.ints["b_broadcast"] = {d.b_broadcast};
  l.ints["batched"] = {batched};
  l.ints["m"] = {batched ? (d.trans_a ? a_cols : a_rows) : 0};
  l.ints["n"] = {d.n};
  l.ints["k"] = {d.k};
  l.ints["has_bias"] = {d.has_bias};
  l.ints["residual_after_act"] = {d.residual_after_act};
  l.floats["alpha"] = {d.alpha};
  l.floats["bias_scale"] = {d.bias_scale};
  SetAct(l, d.act, d.act_alpha, d.act_beta);
  l.tactic = {TacticKind::kGemm, 0, best.sub, best.Name()};
  l.time_ms = best_ms;
  l.flops_per_sample = 2.0 * dopt.m * dopt.n * dopt.k * dopt.batch_count / opt_.opt_batch;
  l.weights.push_back(plan_.AddWeights(pb.data(), pb.size()));
  l.weights.push_back(plan_.AddWeights(pbias.data(), pbias.size()));
  return Status::Ok();
}

// ---- elementwise --------------------------------------------------------------------------------

Status Builder::BinaryOp(const Node& n, BinOp op) {
  if (n.inputs.size() != 2) return Unsupported(n, "only two operands are supported");
  const Value& y = V(n.outputs[0]);
  if (y.type != ElemType::kFloat) return Unsupported(n, "only float tensors are supported");
  const bool nhwc = IsNhwc(y);
  std::vector<int32_t> ins;
  for (int v : n.inputs) {
    const Value& val = V(v);
    if (!val.is_const) {
      if (IsNhwc(val) != nhwc) {
        return Unsupported(n,
                           "operand '" + val.name + "' is in a different layout than the output");
      }
      if (val.type != ElemType::kFloat) return Unsupported(n, "only float tensors are supported");
    }
    int32_t b = -1;
    if (val.is_const && val.type != ElemType::kFloat) {
      // An integer constant in a float op (Pow(x, int64 2)): its values as floats.
      Value f = val;
      f.type = ElemType::kFloat;
      f.fdata.assign(val.idata.begin(), val.idata.end());
      f.idata.clear();
      VRSEG_ASSIGN_OR_RETURN(b, ConstBufferOf(f, v, nhwc, n));
    } else {
      VRSEG_ASSIGN_OR_RETURN(b, In(v, nhwc, n));
    }
    ins.push_back(b);
  }
  int32_t res = -1;
  if (n.epi.residual >= 0) {
    const Value& rv = V(n.epi.residual);
    if (IsNhwc(rv) != nhwc) return Unsupported(n, "residual in a different layout");
    VRSEG_ASSIGN_OR_RETURN(res, In(n.epi.residual, nhwc, n));
  }
  ins.push_back(res);
  PlanLayer& l = AddLayer(n, LayerKind::kBinary, ins, {Out(n.outputs[0])});
  l.ints["op"] = {static_cast<int64_t>(op)};
  l.ints["residual_after_act"] = {n.epi.residual_after_act};
  SetAct(l, n.epi.act, n.epi.alpha, n.epi.beta);
  return Status::Ok();
}

Status Builder::UnaryLayer(const Node& n) {
  const std::string& op = n.op;
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  if (x.type != ElemType::kFloat) return Unsupported(n, "only float tensors are supported");
  if (IsNhwc(x) != IsNhwc(y)) return Unsupported(n, "input and output layouts differ");
  gpu::UnaryOp u = gpu::UnaryOp::kAct;
  Act act = Act::kNone;
  float alpha = 0, beta = 0;
  const float inf = std::numeric_limits<float>::infinity();
  if (op == "Relu") {
    act = Act::kRelu;
  } else if (op == "Clip") {
    act = Act::kClip;
    alpha = n.GetFloat("min", -inf);
    beta = n.GetFloat("max", inf);
    for (size_t i : {size_t{1}, size_t{2}}) {
      if (!HasInput(n, i)) continue;
      const Value* c = ConstInput(n, i);
      if (!c || c->fdata.empty()) return Unsupported(n, "Clip bounds must be constant");
      (i == 1 ? alpha : beta) = c->fdata[0];
    }
  } else if (op == "Sigmoid") {
    act = Act::kSigmoid;
  } else if (op == "Tanh") {
    act = Act::kTanh;
  } else if (op == "LeakyRelu") {
    act = Act::kLeakyRelu;
    alpha = n.GetFloat("alpha", 0.01f);
  } else if (op == "HardSwish") {
    act = Act::kHardSwish;
  } else if (op == "HardSigmoid") {
    act = Act::kHardSigmoid;
    alpha = n.GetFloat("alpha", 0.2f);
    beta = n.GetFloat("beta", 0.5f);
  } else if (op == "Sqrt") {
    u = gpu::UnaryOp::kSqrt;
  } else if (op == "Exp") {
    u = gpu::UnaryOp::kExp;
  } else if (op == "Log") {
    u = gpu::UnaryOp::kLog;
  } else if (op == "Neg") {
    u = gpu::UnaryOp::kNeg;
  } else if (op == "Abs") {
    u = gpu::UnaryOp::kAbs;
  } else if (op == "Reciprocal") {
    u = gpu::UnaryOp::kReciprocal;
  } else if (op == "Floor") {
    u = gpu::UnaryOp::kFloor;
  } else if (op == "Ceil") {
    u = gpu::UnaryOp::kCeil;
  } else if (op == "Erf") {
    u = gpu::UnaryOp::kErf;
  } else {
    return Unsupported(n, "operator not supported by the GPU engine");
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(y), n));
  PlanLayer& l = AddLayer(n, LayerKind::kUnary, {xb}, {Out(n.outputs[0])});
  l.ints["unary"] = {static_cast<int64_t>(u)};
  // A standalone activation followed by a fused one (rare) is not representable: refuse it.
  if (n.epi.act != Act::kNone || n.epi.residual >= 0)
    return Unsupported(n, "a fused epilogue on a unary op");
  SetAct(l, act, alpha, beta);
  return Status::Ok();
}

Status Builder::BatchNorm(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  if (rank < 2 || PhysicalAxis(x, 1) != rank - 1 || IsNhwc(x) != IsNhwc(y)) {
    return Unsupported(n, "channels must be the innermost physical axis (NHWC or [N,C])");
  }
  const Value* sc = ConstInput(n, 1);
  const Value* bi = ConstInput(n, 2);
  const Value* mean = ConstInput(n, 3);
  const Value* var = ConstInput(n, 4);
  if (!sc || !bi || !mean || !var)
    return Unsupported(n, "scale, bias, mean and variance must be constant");
  if (!x.shape[1].is_const()) return Unsupported(n, "the channel count must be constant");
  const int64_t c = x.shape[1].c;
  if ((int64_t)sc->fdata.size() != c || (int64_t)bi->fdata.size() != c ||
      (int64_t)mean->fdata.size() != c || (int64_t)var->fdata.size() != c) {
    return Unsupported(n, "parameter sizes differ from the channel count");
  }
  const float eps = n.GetFloat("epsilon", 1e-5f);
  std::vector<float> scale(c), shift(c);
  for (int64_t i = 0; i < c; ++i) {
    scale[i] =
        static_cast<float>(sc->fdata[i] / std::sqrt(static_cast<double>(var->fdata[i]) + eps));
    shift[i] = bi->fdata[i] - mean->fdata[i] * scale[i];
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  if (n.epi.residual >= 0) return Unsupported(n, "a fused residual on BatchNormalization");
  PlanLayer& l = AddLayer(n, LayerKind::kChannelAffine, {xb}, {Out(n.outputs[0])});
  SetAct(l, n.epi.act, n.epi.alpha, n.epi.beta);
  l.weights.push_back(plan_.AddWeights(scale.data(), scale.size() * 4));
  l.weights.push_back(plan_.AddWeights(shift.data(), shift.size() * 4));
  return Status::Ok();
}

// ---- spatial ------------------------------------------------------------------------------------

Status Builder::Pool(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  if (!IsNhwc(x) || !IsNhwc(y)) return Unsupported(n, "only 2-D pooling over NHWC is supported");
  if (n.outputs.size() > 1 && n.outputs[1] >= 0 && Used(n.outputs[1])) {
    return Unsupported(n, "the Indices output is not supported");
  }
  const auto k = n.GetInts("kernel_shape");
  auto strides = n.GetInts("strides", {1, 1});
  auto dil = n.GetInts("dilations", {1, 1});
  auto pads = n.GetInts("pads", {0, 0, 0, 0});
  if (k.size() != 2 || strides.size() != 2 || dil.size() != 2 || pads.size() != 4) {
    return Unsupported(n, "kernel_shape/strides/pads must be 2-D");
  }
  const std::string auto_pad = n.GetString("auto_pad", "NOTSET");
  const int64_t in_hw[2] = {x.shape[2].c, x.shape[3].c}, out_hw[2] = {y.shape[2].c, y.shape[3].c};
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (int a = 0; a < 2; ++a) {
      const int64_t total =
          std::max<int64_t>(0, (out_hw[a] - 1) * strides[a] + (k[a] - 1) * dil[a] + 1 - in_hw[a]);
      pads[a] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[a + 2] = total - pads[a];
    }
  } else if (auto_pad == "VALID") {
    pads = {0, 0, 0, 0};
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], true, n));
  if (n.op == "AveragePool" && out_hw[0] == 1 && out_hw[1] == 1 && k[0] == in_hw[0] &&
      k[1] == in_hw[1] && pads == std::vector<int64_t>{0, 0, 0, 0}) {
    // A window over the whole image is a global average (a reduction kernel, not a window one).
    AddLayer(n, LayerKind::kGlobalAvgPool, {xb}, {Out(n.outputs[0])});
    return Status::Ok();
  }
  PlanLayer& l = AddLayer(n, LayerKind::kPool, {xb}, {Out(n.outputs[0])});
  l.ints["pool"] = {
      static_cast<int64_t>(n.op == "MaxPool" ? gpu::PoolKind::kMax : gpu::PoolKind::kAvg)};
  l.ints["kernel"] = k;
  l.ints["strides"] = strides;
  l.ints["pads"] = pads;  // top, left, bottom, right
  l.ints["dilations"] = dil;
  l.ints["count_include_pad"] = {n.GetInt("count_include_pad", 0)};
  return Status::Ok();
}

Status Builder::GlobalPool(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], true, n));
  if (IsNhwc(x) && (IsNhwc(y) || (y.shape.size() == 4 && y.shape[2].c == 1 && y.shape[3].c == 1))) {
    // NHWC [N,1,1,C] and NCHW [N,C,1,1] share one memory order.
    AddLayer(n, LayerKind::kGlobalAvgPool, {xb}, {Out(n.outputs[0])});
    return Status::Ok();
  }
  return Unsupported(n, "only NHWC input is supported");
}

// The optimiser's squeeze-excite node (ir.h): fp32 weights [C1][C], [C1], [C2][C1], [C2] (absent
// biases as zeros) for gpu::SqueezeExcite.
Status Builder::SqueezeExciteOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const Value* w1 = ConstInput(n, 1);
  const Value* w2 = ConstInput(n, 3);
  if (!w1 || !w2) return Unsupported(n, "the weights must be constant");
  if (!IsNhwc(x) || !x.shape[1].is_const()) return Unsupported(n, "needs NHWC input");
  const int64_t c = x.shape[1].c, c1 = w1->shape[0].c, c2 = w2->shape[0].c;
  if (static_cast<int64_t>(w1->fdata.size()) != c1 * c ||
      static_cast<int64_t>(w2->fdata.size()) != c2 * c1) {
    return Unsupported(n, "weight sizes do not chain");
  }
  if (n.epi.residual >= 0) return Unsupported(n, "a fused residual");
  if (!(IsNhwc(y) || (y.shape.size() == 4 && y.shape[2].c == 1 && y.shape[3].c == 1))) {
    return Unsupported(n, "the output must be [N,C2,1,1]");
  }
  std::vector<float> b1(c1, 0.f), b2(c2, 0.f);
  if (const Value* b = HasInput(n, 2) ? ConstInput(n, 2) : nullptr) {
    if (static_cast<int64_t>(b->fdata.size()) != c1) return Unsupported(n, "B1 size");
    b1 = b->fdata;
  }
  if (const Value* b = HasInput(n, 4) ? ConstInput(n, 4) : nullptr) {
    if (static_cast<int64_t>(b->fdata.size()) != c2) return Unsupported(n, "B2 size");
    b2 = b->fdata;
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], true, n));
  PlanLayer& l = AddLayer(n, LayerKind::kSqueezeExcite, {xb}, {Out(n.outputs[0])});
  SetAct(l, n.epi.act, n.epi.alpha, n.epi.beta);
  l.ints["channels"] = {c, c1, c2};
  l.ints["act1"] = {n.GetInt("act1", 0)};
  l.floats["act1_alpha"] = {n.GetFloat("act1_alpha", 0)};
  l.floats["act1_beta"] = {n.GetFloat("act1_beta", 0)};
  l.weights.push_back(plan_.AddWeights(w1->fdata.data(), w1->fdata.size() * 4));
  l.weights.push_back(plan_.AddWeights(b1.data(), b1.size() * 4));
  l.weights.push_back(plan_.AddWeights(w2->fdata.data(), w2->fdata.size() * 4));
  l.weights.push_back(plan_.AddWeights(b2.data(), b2.size() * 4));
  return Status::Ok();
}

// True when the kernel's output (x's physical order with `reduced` axes kept as 1 or dropped)
// has the memory order of y.
static bool SameOrderAfterReduce(const Value& x, const std::vector<int>& reduced, bool keepdims,
                                 const Value& y) {
  std::vector<int> xorder;  // x logical axes, physical order, minus reduced and unit axes
  for (int a : PhysOrder(x)) {
    if (std::find(reduced.begin(), reduced.end(), a) != reduced.end()) continue;
    if (x.shape[a] == Dim::Const(1)) continue;
    xorder.push_back(a);
  }
  // y logical axis → x logical axis.
  std::vector<int> ymap;
  for (int a = 0; a < static_cast<int>(x.shape.size()); ++a) {
    const bool red = std::find(reduced.begin(), reduced.end(), a) != reduced.end();
    if (keepdims || !red) ymap.push_back(a);
  }
  if (ymap.size() != y.shape.size()) return false;
  std::vector<int> yorder;
  for (int a : PhysOrder(y)) {
    const int xa = ymap[a];
    if (std::find(reduced.begin(), reduced.end(), xa) != reduced.end()) continue;
    if (x.shape[xa] == Dim::Const(1)) continue;
    yorder.push_back(xa);
  }
  return xorder == yorder;
}

static std::vector<int> NormAxes(const std::vector<int64_t>& axes, int rank) {
  std::vector<int> out;
  for (int64_t a : axes) out.push_back(static_cast<int>(a < 0 ? a + rank : a));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Status Builder::ReduceMeanOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  std::vector<int64_t> axes_raw = n.GetInts("axes");
  if (HasInput(n, 1)) {
    const Value* c = ConstInput(n, 1);
    if (!c) return Unsupported(n, "axes must be constant");
    axes_raw = c->idata;
  }
  std::vector<int> axes;
  if (axes_raw.empty()) {
    if (n.GetInt("noop_with_empty_axes", 0)) return AliasOp(n);
    for (int a = 0; a < rank; ++a) axes.push_back(a);
  } else {
    axes = NormAxes(axes_raw, rank);
  }
  const bool keep = n.GetInt("keepdims", 1) != 0;
  for (int a : axes) {
    if (a < 0 || a >= rank) return Unsupported(n, "axis out of range");
  }
  if (!SameOrderAfterReduce(x, axes, keep, y))
    return Unsupported(n, "the output layout differs from the input's");
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  if (IsNhwc(x) && axes == std::vector<int>{2, 3}) {
    AddLayer(n, LayerKind::kGlobalAvgPool, {xb}, {Out(n.outputs[0])});
    return Status::Ok();
  }
  std::vector<int64_t> paxes;
  for (int a : axes) paxes.push_back(PhysicalAxis(x, a));
  std::sort(paxes.begin(), paxes.end());
  PlanLayer& l = AddLayer(n, LayerKind::kReduceMean, {xb}, {Out(n.outputs[0])});
  l.ints["axes"] = paxes;
  return Status::Ok();
}

Status Builder::ResizeOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  if (!IsNhwc(x) || !IsNhwc(y))
    return Unsupported(n, "only 4-D NCHW resizes (over H and W) are supported");
  if (!(x.shape[1] == y.shape[1]) || !(x.shape[0] == y.shape[0])) {
    return Unsupported(n, "only H and W may be resized");
  }
  const bool upsample = n.op == "Upsample";
  const bool new_style = !upsample && g_.opset >= 11;
  std::string mode = n.GetString("mode", "nearest");
  gpu::ResizeArgs ra;
  if (mode == "nearest") {
    ra.mode = gpu::ResizeMode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    ra.mode = gpu::ResizeMode::kLinear;
  } else {
    return Unsupported(n, "mode '" + mode + "' is not supported");
  }
  std::vector<float> scales;
  if (upsample) {
    if (HasInput(n, 1)) {
      const Value* s = ConstInput(n, 1);
      if (!s) return Unsupported(n, "scales must be constant");
      scales = s->fdata;
    } else {
      scales = n.GetFloats("scales");
    }
  } else {
    const size_t si = new_style ? 2 : 1;
    if (HasInput(n, si)) {
      const Value* s = ConstInput(n, si);
      if (!s) return Unsupported(n, "scales must be constant");
      scales = s->fdata;
    }
    if (new_style && HasInput(n, 3)) {
      // Sizes win; shape inference already gave the output its (possibly batch-dependent) shape,
      // and the kernel derives the scale from the shapes.
      scales.clear();
    }
  }
  if (!scales.empty()) {
    if (scales.size() != 4 || scales[0] != 1.f || scales[1] != 1.f) {
      return Unsupported(n, "only H and W may be scaled");
    }
    ra.scale_h = scales[2];
    ra.scale_w = scales[3];
  }
  if (new_style) {
    const std::string ct = n.GetString("coordinate_transformation_mode", "half_pixel");
    if (ct == "half_pixel")
      ra.coord = gpu::CoordMode::kHalfPixel;
    else if (ct == "pytorch_half_pixel")
      ra.coord = gpu::CoordMode::kPytorchHalfPixel;
    else if (ct == "align_corners")
      ra.coord = gpu::CoordMode::kAlignCorners;
    else if (ct == "asymmetric")
      ra.coord = gpu::CoordMode::kAsymmetric;
    else if (ct == "tf_half_pixel_for_nn")
      ra.coord = gpu::CoordMode::kTfHalfPixelForNN;
    else
      return Unsupported(n, "coordinate_transformation_mode '" + ct + "' is not supported");
    const std::string nm = n.GetString("nearest_mode", "round_prefer_floor");
    if (nm == "round_prefer_floor")
      ra.nearest = gpu::NearestMode::kRoundPreferFloor;
    else if (nm == "round_prefer_ceil")
      ra.nearest = gpu::NearestMode::kRoundPreferCeil;
    else if (nm == "floor")
      ra.nearest = gpu::NearestMode::kFloor;
    else if (nm == "ceil")
      ra.nearest = gpu::NearestMode::kCeil;
    else
      return Unsupported(n, "nearest_mode '" + nm + "' is not supported");
    if (mode == "cubic" || n.GetInt("antialias", 0) != 0)
      return Unsupported(n, "antialiasing is not supported");
  } else {
    // Upsample and Resize-10: asymmetric coordinates; nearest takes the floor when enlarging.
    ra.coord = gpu::CoordMode::kAsymmetric;
    const bool down = y.shape[2].c < x.shape[2].c || y.shape[3].c < x.shape[3].c;
    ra.nearest = down ? gpu::NearestMode::kCeil : gpu::NearestMode::kFloor;
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], true, n));
  PlanLayer& l = AddLayer(n, LayerKind::kResize, {xb}, {Out(n.outputs[0])});
  l.ints["mode"] = {static_cast<int64_t>(ra.mode)};
  l.ints["coord"] = {static_cast<int64_t>(ra.coord)};
  l.ints["nearest"] = {static_cast<int64_t>(ra.nearest)};
  l.floats["scales"] = {ra.scale_h, ra.scale_w};
  return Status::Ok();
}

// ---- data movement ------------------------------------------------------------------------------

Status Builder::ConcatOp(const Node& n) {
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(y.shape.size());
  int64_t axis = n.GetInt("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Unsupported(n, "axis out of range");
  std::vector<int32_t> ins;
  for (int v : n.inputs) {
    if (v < 0) continue;
    const Value& val = V(v);
    if (!val.is_const && IsNhwc(val) != IsNhwc(y))
      return Unsupported(n, "inputs in different layouts");
    if (Elements(val.shape, opt_.max_batch) == 0) continue;
    VRSEG_ASSIGN_OR_RETURN(int32_t b, In(v, IsNhwc(y), n));
    ins.push_back(b);
  }
  if (ins.empty()) return Unsupported(n, "every input is empty");
  PlanLayer& l = AddLayer(n, LayerKind::kConcat, ins, {Out(n.outputs[0])});
  l.ints["axis"] = {PhysicalAxis(y, static_cast<int>(axis))};
  return Status::Ok();
}

Status Builder::Copy(const Node& n, int32_t src, int32_t dst) {
  PlanLayer& l = AddLayer(n, LayerKind::kSlice, {src}, {dst});
  const size_t rank = plan_.buffers[dst].dims.size();
  if (plan_.buffers[src].dims != plan_.buffers[dst].dims) {
    // Copy between different shapes of one element count: view the source with the target's dims.
    PlanBuffer view = plan_.buffers[dst];
    view.name = plan_.buffers[src].name + "/view";
    view.kind = BufferKind::kAlias;
    view.index = src;
    plan_.buffers.push_back(view);
    plan_.layers.back().inputs = {static_cast<int32_t>(plan_.buffers.size() - 1)};
  }
  l.ints["starts"] = std::vector<int64_t>(rank, 0);
  l.ints["steps"] = std::vector<int64_t>(rank, 1);
  return Status::Ok();
}

Status Builder::SliceOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  if (IsNhwc(x) != IsNhwc(y)) return Unsupported(n, "input and output layouts differ");
  std::vector<int64_t> starts, ends, axes, steps;
  auto ints_in = [&](size_t i, std::vector<int64_t>* out) -> Status {
    if (!HasInput(n, i)) return Status::Ok();
    const Value* c = ConstInput(n, i);
    if (!c) return Unsupported(n, "starts/ends/axes/steps must be constant");
    *out = c->idata;
    return Status::Ok();
  };
  if (n.inputs.size() > 1) {
    VRSEG_RETURN_IF_ERROR(ints_in(1, &starts));
    VRSEG_RETURN_IF_ERROR(ints_in(2, &ends));
    VRSEG_RETURN_IF_ERROR(ints_in(3, &axes));
    VRSEG_RETURN_IF_ERROR(ints_in(4, &steps));
  } else {
    starts = n.GetInts("starts");
    ends = n.GetInts("ends");
    axes = n.GetInts("axes");
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return Unsupported(n, "starts/ends/axes/steps differ in length");
  }
  std::vector<int64_t> pstart(rank, 0), pstep(rank, 1);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (a < 0 || a >= rank) return Unsupported(n, "axis out of range");
    int64_t st = starts[i], en = ends[i], sp = steps[i];
    if (sp == 0) return Unsupported(n, "step 0");
    if (!x.shape[a].is_const()) {
      if (st == 0 && sp == 1 && en >= (int64_t{1} << 31)) continue;  // whole batch axis
      return Unsupported(n, "slicing the batch axis is not supported");
    }
    const int64_t dim = x.shape[a].c;
    if (st < 0) st += dim;
    if (en < 0) en += dim;
    if (sp > 0) {
      st = std::clamp<int64_t>(st, 0, dim);
    } else {
      st = std::clamp<int64_t>(st, 0, dim - 1);
    }
    const int pa = PhysicalAxis(x, static_cast<int>(a));
    pstart[pa] = st;
    pstep[pa] = sp;
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  PlanLayer& l = AddLayer(n, LayerKind::kSlice, {xb}, {Out(n.outputs[0])});
  l.ints["starts"] = pstart;
  l.ints["steps"] = pstep;
  return Status::Ok();
}

Status Builder::SplitOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  int64_t axis = n.GetInt("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Unsupported(n, "axis out of range");
  if (!x.shape[axis].is_const()) return Unsupported(n, "splitting the batch axis is not supported");
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  const int pa = PhysicalAxis(x, static_cast<int>(axis));
  int64_t offset = 0;
  for (int o : n.outputs) {
    if (o < 0) continue;
    const Value& y = V(o);
    if (IsNhwc(y) != IsNhwc(x)) return Unsupported(n, "input and output layouts differ");
    const int64_t len = y.shape[axis].c;
    if (Used(o)) {
      PlanLayer& l = AddLayer(n, LayerKind::kSlice, {xb}, {Out(o)});
      std::vector<int64_t> st(rank, 0);
      st[pa] = offset;
      l.ints["starts"] = st;
      l.ints["steps"] = std::vector<int64_t>(rank, 1);
    }
    offset += len;
  }
  return Status::Ok();
}

// Transpose (and LayoutConvert, a Transpose whose logical permutation is the identity) as a
// physical permutation; an identity physical permutation becomes an alias.
Status Builder::TransposeOp(const Node& n, const std::vector<int64_t>& perm) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  if (static_cast<int>(perm.size()) != rank || static_cast<int>(y.shape.size()) != rank) {
    return Unsupported(n, "perm does not match the rank");
  }
  const std::vector<int> yorder = PhysOrder(y);  // physical position j holds logical axis yorder[j]
  std::vector<int64_t> pperm(rank);
  bool identity = true;
  for (int j = 0; j < rank; ++j) {
    const int64_t la = perm[yorder[j]];
    if (la < 0 || la >= rank) return Unsupported(n, "perm out of range");
    pperm[j] = PhysicalAxis(x, static_cast<int>(la));
    // Unit axes may move freely without changing memory order.
  }
  {
    std::vector<int64_t> nonunit;
    const Shape xs = PhysShape(x);
    for (int j = 0; j < rank; ++j) {
      if (!(xs[pperm[j]] == Dim::Const(1))) nonunit.push_back(pperm[j]);
    }
    identity = std::is_sorted(nonunit.begin(), nonunit.end());
  }
  if (identity) return AliasOp(n, /*same_memory_order=*/true);
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  PlanLayer& l = AddLayer(n, LayerKind::kTranspose, {xb}, {Out(n.outputs[0])});
  l.ints["perm"] = pperm;
  return Status::Ok();
}

Status Builder::PadOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  if (IsNhwc(x) != IsNhwc(y)) return Unsupported(n, "input and output layouts differ");
  std::vector<int64_t> pads = n.GetInts("pads");
  float value = n.GetFloat("value", 0.f);
  if (HasInput(n, 1)) {
    const Value* c = ConstInput(n, 1);
    if (!c) return Unsupported(n, "pads must be constant");
    pads = c->idata;
  }
  if (HasInput(n, 2)) {
    const Value* c = ConstInput(n, 2);
    if (!c) return Unsupported(n, "constant_value must be constant");
    value = c->fdata.empty() ? 0.f : c->fdata[0];
  }
  if (HasInput(n, 3)) return Unsupported(n, "the axes input is not supported");
  if (static_cast<int>(pads.size()) != 2 * rank)
    return Unsupported(n, "pads must have 2*rank entries");
  const std::string mode = n.GetString("mode", "constant");
  gpu::PadMode pm;
  if (mode == "constant")
    pm = gpu::PadMode::kConstant;
  else if (mode == "reflect")
    pm = gpu::PadMode::kReflect;
  else if (mode == "edge")
    pm = gpu::PadMode::kEdge;
  else
    return Unsupported(n, "mode '" + mode + "' is not supported");
  std::vector<int64_t> begin(rank, 0);
  for (int a = 0; a < rank; ++a) {
    if (pads[a] < 0 || pads[a + rank] < 0) return Unsupported(n, "negative pads are not supported");
    begin[PhysicalAxis(x, a)] = pads[a];
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  PlanLayer& l = AddLayer(n, LayerKind::kPad, {xb}, {Out(n.outputs[0])});
  l.ints["pads_begin"] = begin;
  l.ints["mode"] = {static_cast<int64_t>(pm)};
  l.floats["value"] = {value};
  return Status::Ok();
}

Status Builder::SoftmaxOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  if (IsNhwc(x) != IsNhwc(y)) return Unsupported(n, "input and output layouts differ");
  int64_t axis = n.GetInt("axis", g_.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Unsupported(n, "axis out of range");
  if (g_.opset < 13) {
    // Softmax-1/11 normalises over all axes from `axis` on: one axis only when the rest are 1.
    for (int a = static_cast<int>(axis) + 1; a < rank; ++a) {
      if (!(x.shape[a] == Dim::Const(1)))
        return Unsupported(n, "softmax over several axes (opset < 13)");
    }
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  PlanLayer& l = AddLayer(n, LayerKind::kSoftmax, {xb}, {Out(n.outputs[0])});
  l.ints["axis"] = {PhysicalAxis(x, static_cast<int>(axis))};
  l.ints["log"] = {n.op == "LogSoftmax"};
  return Status::Ok();
}

Status Builder::ArgMaxOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const int rank = static_cast<int>(x.shape.size());
  int64_t axis = n.GetInt("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Unsupported(n, "axis out of range");
  const bool keep = n.GetInt("keepdims", 1) != 0;
  if (!SameOrderAfterReduce(x, {static_cast<int>(axis)}, keep, y)) {
    return Unsupported(n, "the output layout differs from the input's");
  }
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  PlanLayer& l = AddLayer(n, LayerKind::kArgMax, {xb}, {Out(n.outputs[0])});
  l.ints["axis"] = {PhysicalAxis(x, static_cast<int>(axis))};
  l.ints["select_last_index"] = {n.GetInt("select_last_index", 0)};
  return Status::Ok();
}

Status Builder::GatherOp(const Node& n) {
  const Value& x = V(n.inputs[0]);
  const Value& y = V(n.outputs[0]);
  const Value* idx = ConstInput(n, 1);
  if (!idx) return Unsupported(n, "indices must be constant");
  if (x.is_const) return Unsupported(n, "a constant gather was not folded");
  const int rank = static_cast<int>(x.shape.size());
  int64_t axis = n.GetInt("axis", 0);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return Unsupported(n, "axis out of range");
  if (!x.shape[axis].is_const())
    return Unsupported(n, "gathering along the batch axis is not supported");
  const bool plain = !IsNhwc(x) && !IsNhwc(y);
  const bool nhwc_same = IsNhwc(x) && IsNhwc(y) && idx->shape.size() == 1;
  if (!plain && !nhwc_same) return Unsupported(n, "the output layout differs from the input's");
  if (idx->shape.size() > 1) return Unsupported(n, "indices of rank > 1");
  VRSEG_ASSIGN_OR_RETURN(int32_t idb, In(n.inputs[1], false, n));
  VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(n.inputs[0], IsNhwc(x), n));
  PlanLayer& l = AddLayer(n, LayerKind::kGather, {xb, idb}, {Out(n.outputs[0])});
  l.ints["axis"] = {PhysicalAxis(x, static_cast<int>(axis))};
  return Status::Ok();
}

// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, no-op Cast: the output shares the
// input's memory when the memory order allows; a layout change in between costs one transpose.
Status Builder::AliasOp(const Node& n, bool same_memory_order) {
  const int xv = n.inputs[0];
  const int yv = n.outputs[0];
  const Value& x = V(xv);
  const Value& y = V(yv);
  if (n.outputs.size() > 1) {
    for (size_t i = 1; i < n.outputs.size(); ++i) {
      if (n.outputs[i] >= 0 && Used(n.outputs[i]))
        return Unsupported(n, "a second output (Dropout mask) is not supported");
    }
  }
  if (DTOf(x) != DTOf(y)) return Unsupported(n, "changes the element type");
  int32_t src = -1;
  // NHWC with C == 1 or H == W == 1 has the memory order of its logical (row-major) shape.
  auto plainish = [](const Value& v) {
    return !IsNhwc(v) || v.shape[1] == Dim::Const(1) ||
           (v.shape[2] == Dim::Const(1) && v.shape[3] == Dim::Const(1));
  };
  const bool same_order = same_memory_order || (plainish(x) && plainish(y)) ||
                          (IsNhwc(x) && IsNhwc(y) && x.shape == y.shape) ||
                          (x.shape == y.shape && x.layout == y.layout);
  if (same_order) {
    VRSEG_ASSIGN_OR_RETURN(src, In(xv, IsNhwc(x), n));
  } else if (IsNhwc(x)) {
    // NHWC → logical row-major first (a transpose into a fresh buffer), then a plain view.
    VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(xv, true, n));
    PlanBuffer t;
    t.name = x.name + "/nchw";
    t.dtype = DTOf(x);
    t.dims = x.shape;
    t.kind = BufferKind::kArena;
    plan_.buffers.push_back(t);
    src = static_cast<int32_t>(plan_.buffers.size() - 1);
    PlanLayer& l = AddLayer(n, LayerKind::kTranspose, {xb}, {src});
    l.ints["perm"] = {0, 3, 1, 2};
  } else if (IsNhwc(y)) {
    // Row-major data viewed as logical NCHW, then transposed into y's NHWC buffer.
    VRSEG_ASSIGN_OR_RETURN(int32_t xb, In(xv, false, n));
    PlanBuffer view;
    view.name = y.name + "/nchw";
    view.dtype = DTOf(y);
    view.dims = y.shape;
    view.kind = BufferKind::kAlias;
    view.index = xb;
    plan_.buffers.push_back(view);
    const int32_t vb = static_cast<int32_t>(plan_.buffers.size() - 1);
    PlanLayer& l = AddLayer(n, LayerKind::kTranspose, {vb}, {Out(yv)});
    l.ints["perm"] = {0, 2, 3, 1};
    return Status::Ok();
  }
  if (buf_[yv] >= 0) {
    // y is a graph output with its own buffer. When x lives in the arena and nothing else reads
    // it, its producer writes straight into the output buffer instead (no copy).
    PlanBuffer& sb = plan_.buffers[src];
    const bool only_use = consumers_[xv].size() == 1 &&
                          std::find(g_.outputs.begin(), g_.outputs.end(), xv) == g_.outputs.end();
    if (sb.kind == BufferKind::kArena && only_use && !x.is_const &&
        sb.Bytes(1) == plan_.buffers[buf_[yv]].Bytes(1) &&
        sb.Bytes(2) == plan_.buffers[buf_[yv]].Bytes(2)) {
      sb.kind = BufferKind::kAlias;
      sb.index = buf_[yv];
      return Status::Ok();
    }
    return Copy(n, src, buf_[yv]);
  }
  PlanBuffer a;
  a.name = y.name;
  a.dtype = DTOf(y);
  a.dims = PhysShape(y);
  a.kind = BufferKind::kAlias;
  a.index = src;
  plan_.buffers.push_back(a);
  buf_[yv] = static_cast<int32_t>(plan_.buffers.size() - 1);
  return Status::Ok();
}

Status Builder::Node_(const Node& n) {
  const std::string& op = n.op;
  if (op == "Conv" || op == "ConvTranspose") return Conv(n);
  if (op == "MatMul" || op == "Gemm") return Gemm(n);
  if (op == "Add") return BinaryOp(n, BinOp::kAdd);
  if (op == "Sub") return BinaryOp(n, BinOp::kSub);
  if (op == "Mul") return BinaryOp(n, BinOp::kMul);
  if (op == "Div") return BinaryOp(n, BinOp::kDiv);
  if (op == "Pow") return BinaryOp(n, BinOp::kPow);
  if (op == "Max") return n.inputs.size() == 1 ? AliasOp(n) : BinaryOp(n, BinOp::kMax);
  if (op == "Min") return n.inputs.size() == 1 ? AliasOp(n) : BinaryOp(n, BinOp::kMin);
  if (op == "BatchNormalization") return BatchNorm(n);
  if (op == "MaxPool" || op == "AveragePool") return Pool(n);
  if (op == "GlobalAveragePool") return GlobalPool(n);
  if (op == "SqueezeExcite") return SqueezeExciteOp(n);
  if (op == "ReduceMean") return ReduceMeanOp(n);
  if (op == "Resize" || op == "Upsample") return ResizeOp(n);
  if (op == "Concat") return ConcatOp(n);
  if (op == "Slice") return SliceOp(n);
  if (op == "Split") return SplitOp(n);
  if (op == "Pad") return PadOp(n);
  if (op == "Softmax" || op == "LogSoftmax") return SoftmaxOp(n);
  if (op == "ArgMax") return ArgMaxOp(n);
  if (op == "Gather") return GatherOp(n);
  if (op == "Transpose") {
    const int rank = static_cast<int>(V(n.inputs[0]).shape.size());
    std::vector<int64_t> perm = n.GetInts("perm");
    if (perm.empty()) {
      for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
    }
    return TransposeOp(n, perm);
  }
  if (op == "LayoutConvert") {
    std::vector<int64_t> perm;
    for (size_t i = 0; i < V(n.inputs[0]).shape.size(); ++i)
      perm.push_back(static_cast<int64_t>(i));
    return TransposeOp(n, perm);
  }
  if (op == "Dropout") {
    const Value* training = ConstInput(n, 2);
    const Value* ratio = ConstInput(n, 1);
    const bool zero_ratio = ratio && !ratio->fdata.empty() && ratio->fdata[0] == 0.f;
    if (HasInput(n, 2) && !zero_ratio &&
        (!training || (!training->idata.empty() && training->idata[0] != 0))) {
      return Unsupported(n, "Dropout in training mode is not supported (inference only)");
    }
    return AliasOp(n);
  }
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
      op == "Identity") {
    return AliasOp(n);
  }
  if (op == "Cast") {
    if (V(n.inputs[0]).type == V(n.outputs[0]).type) return AliasOp(n);
    return Unsupported(n, "casts between element types are not supported on the GPU");
  }
  return UnaryLayer(n);  // activations and math; refuses anything else, naming the op and node
}

// Liveness over layer indices, then greedy best-fit placement (largest first) in one arena.
Status Builder::PlaceArena() {
  const size_t nb = plan_.buffers.size();
  auto root = [&](int32_t id) {
    for (int d = 0; d < 64 && plan_.buffers[id].kind == BufferKind::kAlias; ++d)
      id = plan_.buffers[id].index;
    return id;
  };
  std::vector<int64_t> first(nb, -1), last(nb, -1);
  for (size_t li = 0; li < plan_.layers.size(); ++li) {
    const PlanLayer& l = plan_.layers[li];
    for (const auto* ids : {&l.inputs, &l.outputs}) {
      for (int32_t id : *ids) {
        if (id < 0) continue;
        const int32_t r = root(id);
        if (first[r] < 0) first[r] = static_cast<int64_t>(li);
        last[r] = static_cast<int64_t>(li);
      }
    }
  }
  struct Item {
    int32_t id;
    int64_t size, first, last;
  };
  std::vector<Item> items;
  uint64_t naive = 0;
  for (size_t i = 0; i < nb; ++i) {
    const PlanBuffer& b = plan_.buffers[i];
    if (b.kind != BufferKind::kArena) continue;
    if (first[i] < 0) {
      first[i] = last[i] = 0;  // never touched (should not happen): still give it memory
    }
    const int64_t size = AlignUp(std::max<int64_t>(b.Bytes(opt_.max_batch), 1));
    naive += size;
    items.push_back({static_cast<int32_t>(i), size, first[i], last[i]});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.size != b.size ? a.size > b.size : a.first < b.first;
  });
  struct Placed {
    int64_t off, size, first, last;
  };
  std::vector<Placed> placed;
  uint64_t total = 0;
  for (const Item& it : items) {
    std::vector<std::pair<int64_t, int64_t>> busy;  // [off, end) of lifetime-overlapping buffers
    for (const Placed& p : placed) {
      if (p.first <= it.last && it.first <= p.last) busy.push_back({p.off, p.off + p.size});
    }
    std::sort(busy.begin(), busy.end());
    int64_t cur = 0, best_off = -1, best_gap = std::numeric_limits<int64_t>::max();
    for (const auto& [off, end] : busy) {
      if (off > cur) {
        const int64_t gap = off - cur;
        if (gap >= it.size && gap < best_gap) {
          best_gap = gap;
          best_off = cur;
        }
      }
      cur = std::max(cur, end);
    }
    if (best_off < 0) best_off = cur;
    placed.push_back({best_off, it.size, it.first, it.last});
    plan_.buffers[it.id].offset = static_cast<uint64_t>(best_off);
    total = std::max<uint64_t>(total, static_cast<uint64_t>(best_off + it.size));
  }
  plan_.arena_bytes = total;
  plan_.naive_bytes = naive;
  return Status::Ok();
}

// Memory traffic of each layer (inputs, outputs, weights), affine in the batch.
void Builder::Costs() {
  for (PlanLayer& l : plan_.layers) {
    double b1 = 0, b2 = 0;
    for (const auto* ids : {&l.inputs, &l.outputs}) {
      for (int32_t id : *ids) {
        if (id < 0) continue;
        b1 += static_cast<double>(plan_.buffers[id].Bytes(1));
        b2 += static_cast<double>(plan_.buffers[id].Bytes(2));
      }
    }
    double w = 0;
    for (const WeightRef& r : l.weights) w += static_cast<double>(r.size);
    l.bytes_per_sample = b2 - b1;
    l.bytes_fixed = b1 - l.bytes_per_sample + w;
    if (l.flops_per_sample == 0 && (l.kind == LayerKind::kBinary || l.kind == LayerKind::kUnary ||
                                    l.kind == LayerKind::kChannelAffine)) {
      const PlanBuffer& y = plan_.buffers[l.outputs[0]];
      l.flops_per_sample = static_cast<double>(y.Bytes(2) - y.Bytes(1)) / PlanDTypeSize(y.dtype);
    }
  }
}

Result<Plan> Builder::Build() {
  const auto t0 = std::chrono::steady_clock::now();
  if (opt_.precision != PlanDType::kF32 && opt_.precision != PlanDType::kF16) {
    return Status::InvalidArgument("engine build: precision must be fp32 or fp16");
  }
  if (opt_.min_batch < 1 || opt_.min_batch > opt_.opt_batch || opt_.opt_batch > opt_.max_batch) {
    return Status::InvalidArgument("engine build: batch range " + std::to_string(opt_.min_batch) +
                                   ":" + std::to_string(opt_.opt_batch) + ":" +
                                   std::to_string(opt_.max_batch) +
                                   " must satisfy 1 <= min <= opt <= max");
  }
  fdt_ = opt_.precision;
  gdt_ = static_cast<gpu::DT>(static_cast<uint8_t>(fdt_));
  B_CUDA(cudaSetDevice(ctx_->device()), "selecting the device");
  B_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "creating a stream");
  B_CUDA(cudaEventCreate(&e0_), "creating events");
  B_CUDA(cudaEventCreate(&e1_), "creating events");

  PlanKey& key = plan_.key;
  key.gpu_name = ctx_->gpu_name();
  key.compute_capability = ctx_->cc();
  key.cuda_runtime_version = ctx_->cuda_runtime_version();
  key.cudnn_version = static_cast<int64_t>(ctx_->cudnn_version());
  key.cublas_version = ctx_->cublas_version();
  key.precision = PlanDTypeName(fdt_);
  key.min_batch = opt_.min_batch;
  key.opt_batch = opt_.opt_batch;
  key.max_batch = opt_.max_batch;
  plan_.metadata = g_.metadata;

  buf_.assign(g_.values.size(), -1);
  consumers_ = g_.Consumers();
  for (size_t i = 0; i < g_.inputs.size(); ++i) {
    const Value& v = V(g_.inputs[i]);
    const int32_t b = NewBuffer(v, BufferKind::kInput, static_cast<int32_t>(i));
    buf_[g_.inputs[i]] = b;
    plan_.inputs.push_back({v.name, DTOf(v), v.shape, v.layout, b});
  }
  // Outputs produced by a node get their own buffer up front (the node writes straight into it);
  // an output that is a graph input, a constant or listed twice is copied at the end.
  std::vector<std::pair<int, int32_t>> late_copies;
  for (size_t i = 0; i < g_.outputs.size(); ++i) {
    const int vi = g_.outputs[i];
    const Value& v = V(vi);
    if (v.has_sym)
      return Status::Unsupported("engine: output '" + v.name + "' is a shape computation");
    const int32_t b = NewBuffer(v, BufferKind::kOutput, static_cast<int32_t>(i));
    plan_.outputs.push_back({v.name, DTOf(v), v.shape, v.layout, b});
    if (v.is_const || buf_[vi] >= 0) {
      late_copies.push_back({vi, b});
    } else {
      buf_[vi] = b;
    }
  }

  for (const Node& n : g_.nodes) {
    if (n.dead) continue;
    bool live = false, all_const = true;
    for (int o : n.outputs) {
      if (o < 0) continue;
      if (!V(o).is_const) all_const = false;
      if (Used(o)) live = true;
    }
    if (all_const || !live) continue;
    if (n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty() || n.outputs[0] < 0) {
      return Unsupported(n, "missing input or output");
    }
    Status st = Node_(n);
    if (!st.ok()) return st;
  }
  for (const auto& [vi, b] : late_copies) {
    Node n;
    n.name = "copy:" + V(vi).name;
    n.op = "Identity";
    VRSEG_ASSIGN_OR_RETURN(int32_t src, In(vi, false, n));
    VRSEG_RETURN_IF_ERROR(Copy(n, src, b));
  }
  VRSEG_RETURN_IF_ERROR(PlaceArena());
  Costs();
  char mem[160];
  std::snprintf(mem, sizeof(mem), "arena %.2f MiB (naive %.2f MiB), weights %.2f MiB",
                plan_.arena_bytes / 1048576.0, plan_.naive_bytes / 1048576.0,
                plan_.weights.size() / 1048576.0);
  Log(mem);

  // Time every layer once at the opt batch through the runtime (also proves the plan runs).
  {
    RuntimeOptions ro;
    ro.use_graphs = false;
    auto rt = Runtime::Create(plan_, ctx_, ro);
    if (!rt.ok()) return rt.status().WithContext("engine build: loading the new plan");
    auto prof = (*rt)->Profile(opt_.opt_batch, opt_.timed_iterations, stream_);
    if (!prof.ok()) return prof.status().WithContext("engine build: timing the layers");
    for (size_t i = 0; i < plan_.layers.size() && i < prof->size(); ++i) {
      if (plan_.layers[i].tactic.kind == TacticKind::kKernel)
        plan_.layers[i].time_ms = (*prof)[i].ms;
    }
  }
  plan_.build_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::move(plan_);
}

}  // namespace

Result<Plan> BuildPlan(const Graph& g, const BuilderOptions& options,
                       std::shared_ptr<gpu::GpuContext> ctx, std::vector<std::string>* log) {
  if (!ctx) return Status::InvalidArgument("engine build: no GPU context");
  Builder b(g, options, std::move(ctx), log);
  return b.Build();
}

}  // namespace vrseg::engine

#endif  // VRSEG_HAVE_CUDA
