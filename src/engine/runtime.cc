// Executes a plan (see runtime.h).
#ifdef VRSEG_HAVE_CUDA

#include "engine/runtime.h"

#include <algorithm>
#include <functional>

#include "engine/kernels.h"

namespace vrseg::engine {

namespace {

Status CudaErr(cudaError_t e, const char* call, const std::string& what) {
  if (e == cudaSuccess) return Status::Ok();
  const std::string msg = "engine: " + what + ": " + call + " failed: " + cudaGetErrorString(e);
  if (e == cudaErrorMemoryAllocation) return Status::OutOfMemory(msg);
  return Status::Internal(msg);
}
#define RT_CUDA(call, what) VRSEG_RETURN_IF_ERROR(CudaErr((call), #call, (what)))

gpu::DT ToDT(PlanDType t) { return static_cast<gpu::DT>(static_cast<uint8_t>(t)); }

using Step = std::function<Status(cudaStream_t)>;

}  // namespace

struct Runtime::BatchExec {
  int batch = 0;
  std::vector<Step> steps;  // one per plan layer
  std::vector<std::unique_ptr<gpu::ConvRunner>> convs;
  std::vector<std::unique_ptr<gpu::GemmRunner>> gemms;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  bool warmed = false;
  cudaGraphExec_t graph = nullptr;
};

Runtime::~Runtime() {
  for (auto& ex : execs_) {
    if (ex && ex->graph) cudaGraphExecDestroy(ex->graph);
  }
  execs_.clear();  // runners before the memory they point into
  for (void* p : io_in_) cudaFree(p);
  for (void* p : io_out_) cudaFree(p);
  for (void* p : extra_allocs_) cudaFree(p);
  if (workspace_) cudaFree(workspace_);
  if (arena_) cudaFree(arena_);
  if (weights_) cudaFree(weights_);
  if (own_stream_) cudaStreamDestroy(own_stream_);
}

Result<std::unique_ptr<Runtime>> Runtime::Create(Plan plan, std::shared_ptr<gpu::GpuContext> ctx,
                                                 const RuntimeOptions& options) {
  if (!ctx) return Status::InvalidArgument("engine runtime: no GPU context");
  std::unique_ptr<Runtime> rt(new Runtime());
  rt->plan_ = std::move(plan);
  rt->ctx_ = std::move(ctx);
  rt->options_ = options;
  const Plan& p = rt->plan_;
  RT_CUDA(cudaSetDevice(rt->ctx_->device()), "selecting the device");
  for (const PlanLayer& l : p.layers) {
    if (static_cast<uint16_t>(l.kind) < 1 ||
        static_cast<uint16_t>(l.kind) > static_cast<uint16_t>(LayerKind::kSqueezeExcite)) {
      return Status::Unsupported("engine: layer '" + l.name + "' has kind " +
                                 std::to_string(static_cast<int>(l.kind)) +
                                 ", unknown to this engine (a plan from a newer vrseg?)");
    }
  }
  const size_t wbytes = std::max<size_t>(p.weights.size(), 256);
  RT_CUDA(cudaMalloc(&rt->weights_, wbytes), "weights (" + std::to_string(wbytes) + " bytes)");
  if (!p.weights.empty()) {
    RT_CUDA(cudaMemcpy(rt->weights_, p.weights.data(), p.weights.size(), cudaMemcpyHostToDevice),
            "uploading weights");
  }
  rt->device_bytes_ += wbytes;
  rt->plan_.weights.clear();
  rt->plan_.weights.shrink_to_fit();
  const size_t abytes = std::max<uint64_t>(p.arena_bytes, 256);
  RT_CUDA(cudaMalloc(&rt->arena_, abytes),
          "activation arena (" + std::to_string(abytes) + " bytes)");
  rt->device_bytes_ += abytes;
  for (const auto* ios : {&p.inputs, &p.outputs}) {
    for (const PlanIO& io : *ios) {
      const size_t bytes = std::max<int64_t>(p.buffers[io.buffer].Bytes(p.key.max_batch), 256);
      void* mem = nullptr;
      RT_CUDA(cudaMalloc(&mem, bytes), "buffer of '" + io.name + "'");
      (ios == &p.inputs ? rt->io_in_ : rt->io_out_).push_back(mem);
      RT_CUDA(cudaMemset(mem, 0, bytes), "clearing '" + io.name + "'");
      rt->device_bytes_ += bytes;
    }
  }
  // A stream for callers that pass none: blocking, so ordered with the legacy default stream.
  RT_CUDA(cudaStreamCreate(&rt->own_stream_), "creating a stream");
  rt->execs_.resize(p.key.max_batch + 1);
  // The max batch's runners size the shared workspace (other sizes rarely need more; those that
  // do get their own).
  auto ex = rt->ExecFor(p.key.max_batch);
  if (!ex.ok()) return ex.status();
  RT_CUDA(cudaDeviceSynchronize(), "loading the plan");
  return rt;
}

int64_t Runtime::input_bytes(int i, int batch) const {
  return plan_.buffers[plan_.inputs[i].buffer].Bytes(batch);
}
int64_t Runtime::output_bytes(int i, int batch) const {
  return plan_.buffers[plan_.outputs[i].buffer].Bytes(batch);
}

void* Runtime::BufferPtr(int32_t id) const {
  for (int depth = 0; depth < 64 && id >= 0; ++depth) {
    const PlanBuffer& b = plan_.buffers[id];
    switch (b.kind) {
      case BufferKind::kArena:
        return static_cast<uint8_t*>(arena_) + b.offset;
      case BufferKind::kInput:
        return io_in_[b.index];
      case BufferKind::kOutput:
        return io_out_[b.index];
      case BufferKind::kConst:
        return static_cast<uint8_t*>(weights_) + b.offset;
      case BufferKind::kAlias:
        id = b.index;
        break;
    }
  }
  return nullptr;
}

Result<Runtime::BatchExec*> Runtime::ExecFor(int batch) {
  if (batch < plan_.key.min_batch || batch > plan_.key.max_batch) {
    return Status::InvalidArgument(
        "engine: batch " + std::to_string(batch) + " outside the plan's range [" +
        std::to_string(plan_.key.min_batch) + "," + std::to_string(plan_.key.max_batch) + "]");
  }
  auto& slot = execs_[batch];
  if (!slot) {
    auto ex = std::make_unique<BatchExec>();
    ex->batch = batch;
    VRSEG_RETURN_IF_ERROR(MakeExec(batch, ex.get()));
    slot = std::move(ex);
  }
  return slot.get();
}

Status Runtime::MakeExec(int batch, BatchExec* ex) {
  const Plan& p = plan_;
  auto arg = [&](int32_t id) {
    gpu::TensorArg a;
    if (id < 0) return a;
    const PlanBuffer& b = p.buffers[id];
    a.data = BufferPtr(id);
    a.dt = ToDT(b.dtype);
    a.dims = Concrete(b.dims, batch);
    return a;
  };
  auto wptr = [&](const PlanLayer& l, size_t i) -> const void* {
    if (i >= l.weights.size() || l.weights[i].size == 0) return nullptr;
    return static_cast<const uint8_t*>(weights_) + l.weights[i].offset;
  };
  auto in = [](const PlanLayer& l, size_t i) { return i < l.inputs.size() ? l.inputs[i] : -1; };
  // Workspace pointers are bound after every runner exists (their sizes decide the allocation).
  size_t ws_needed = 0;
  void** ws_slot = &ex->workspace;

  for (size_t li = 0; li < p.layers.size(); ++li) {
    const PlanLayer& l = p.layers[li];
    const std::string what = "layer '" + l.name + "' (" + l.op + ")";
    auto fail = [&](const Status& s) {
      return s.WithContext("engine: " + what + " at batch " + std::to_string(batch));
    };
    if (l.outputs.empty()) return fail(Status::InvalidModel("no outputs"));
    const gpu::TensorArg y = arg(l.outputs[0]);
    const Act act = static_cast<Act>(l.Int("act"));
    const float aa = static_cast<float>(l.Float("act_alpha"));
    const float ab = static_cast<float>(l.Float("act_beta"));
    Step step;
    switch (l.kind) {
      case LayerKind::kConv: {
        const std::vector<int64_t> s = l.Ints("shape");
        if (s.size() != 18 || l.tactic.kind != TacticKind::kConv) {
          return fail(Status::InvalidModel("conv parameters incomplete"));
        }
        gpu::ConvDesc d;
        ConvShape& cs = d.shape;
        cs.n = batch;
        cs.h = s[0];
        cs.w = s[1];
        cs.c = s[2];
        cs.k = s[3];
        cs.r = s[4];
        cs.s = s[5];
        cs.groups = s[6];
        cs.stride_h = s[7];
        cs.stride_w = s[8];
        cs.pad_top = s[9];
        cs.pad_left = s[10];
        cs.pad_bottom = s[11];
        cs.pad_right = s[12];
        cs.dil_h = s[13];
        cs.dil_w = s[14];
        cs.transposed = s[15] != 0;
        cs.out_pad_h = s[16];
        cs.out_pad_w = s[17];
        d.dt = y.dt;
        d.has_bias = l.Int("has_bias") != 0;
        d.act = act;
        d.alpha = aa;
        d.beta = ab;
        d.has_residual = in(l, 1) >= 0;
        d.residual_after_act = l.Int("residual_after_act") != 0;
        gpu::ConvTactic t{static_cast<gpu::ConvAlgo>(l.tactic.algo), l.tactic.sub};
        auto r = gpu::ConvRunner::Create(*ctx_, d, t, batch);
        if (!r.ok()) return fail(r.status());
        ws_needed = std::max(ws_needed, (*r)->workspace_bytes());
        gpu::ConvRunner* runner = r->get();
        ex->convs.push_back(std::move(*r));
        const void* x = BufferPtr(in(l, 0));
        const void* res = in(l, 1) >= 0 ? BufferPtr(in(l, 1)) : nullptr;
        const void* w = wptr(l, 0);
        const void* bias = wptr(l, 1);
        void* yp = y.data;
        step = [runner, x, res, w, bias, yp, ws_slot](cudaStream_t st) {
          return runner->Run(x, w, bias, res, yp, *ws_slot, st);
        };
        break;
      }
      case LayerKind::kGemm: {
        gpu::GemmDesc d;
        const gpu::TensorArg a = arg(in(l, 0));
        d.trans_a = l.Int("trans_a") != 0;
        d.trans_b = l.Int("trans_b") != 0;
        d.b_broadcast = l.Int("b_broadcast", 1) != 0;
        d.alpha = static_cast<float>(l.Float("alpha", 1.0));
        d.bias_scale = static_cast<float>(l.Float("bias_scale", 1.0));
        d.dt = y.dt;
        d.has_bias = l.Int("has_bias") != 0;
        d.act = act;
        d.act_alpha = aa;
        d.act_beta = ab;
        d.has_residual = in(l, 2) >= 0;
        d.residual_after_act = l.Int("residual_after_act") != 0;
        d.k = l.Int("k");
        d.n = l.Int("n");
        const int64_t a_elems = a.elements();
        if (l.Int("batched") != 0) {
          d.m = l.Int("m");
          if (d.m <= 0 || d.k <= 0 || a_elems % (d.m * d.k) != 0) {
            return fail(Status::InvalidModel("gemm dims do not divide the input"));
          }
          d.batch_count = a_elems / (d.m * d.k);
        } else {
          if (d.k <= 0 || a_elems % d.k != 0)
            return fail(Status::InvalidModel("gemm k does not divide the input"));
          d.m = a_elems / d.k;
          d.batch_count = 1;
        }
        gpu::GemmTactic t{l.tactic.sub};
        auto r = gpu::GemmRunner::Create(*ctx_, d, t);
        if (!r.ok()) return fail(r.status());
        ws_needed = std::max(ws_needed, (*r)->workspace_bytes());
        gpu::GemmRunner* runner = r->get();
        ex->gemms.push_back(std::move(*r));
        const void* ap = a.data;
        const void* bp = in(l, 1) >= 0 ? BufferPtr(in(l, 1)) : wptr(l, 0);
        const void* bias = wptr(l, 1);
        const void* res = in(l, 2) >= 0 ? BufferPtr(in(l, 2)) : nullptr;
        void* yp = y.data;
        step = [runner, ap, bp, bias, res, yp, ws_slot](cudaStream_t st) {
          return runner->Run(ap, bp, bias, res, yp, *ws_slot, st);
        };
        break;
      }
      case LayerKind::kBinary: {
        const BinOp op = static_cast<BinOp>(l.Int("op"));
        const gpu::TensorArg a = arg(in(l, 0)), b = arg(in(l, 1));
        if (in(l, 2) >= 0) {
          const gpu::TensorArg res = arg(in(l, 2));
          const bool after = l.Int("residual_after_act") != 0;
          step = [=](cudaStream_t st) -> Status {
            VRSEG_RETURN_IF_ERROR(gpu::Binary(op, a, b, y, after ? act : Act::kNone, aa, ab, st));
            return gpu::Binary(BinOp::kAdd, y, res, y, after ? Act::kNone : act, aa, ab, st);
          };
        } else {
          step = [=](cudaStream_t st) { return gpu::Binary(op, a, b, y, act, aa, ab, st); };
        }
        break;
      }
      case LayerKind::kUnary: {
        const auto op = static_cast<gpu::UnaryOp>(l.Int("unary"));
        const gpu::TensorArg x = arg(in(l, 0));
        step = [=](cudaStream_t st) { return gpu::Unary(op, act, aa, ab, x, y, st); };
        break;
      }
      case LayerKind::kChannelAffine: {
        const gpu::TensorArg x = arg(in(l, 0));
        const auto* scale = static_cast<const float*>(wptr(l, 0));
        const auto* shift = static_cast<const float*>(wptr(l, 1));
        if (!scale || !shift) return fail(Status::InvalidModel("scale/shift missing"));
        step = [=](cudaStream_t st) {
          return gpu::ChannelAffine(x, scale, shift, y, act, aa, ab, st);
        };
        break;
      }
      case LayerKind::kCast: {
        const gpu::TensorArg x = arg(in(l, 0));
        step = [=](cudaStream_t st) { return gpu::Cast(x, y, st); };
        break;
      }
      case LayerKind::kPool: {
        gpu::PoolArgs pa;
        pa.kind = static_cast<gpu::PoolKind>(l.Int("pool"));
        const auto k = l.Ints("kernel"), s = l.Ints("strides"), pd = l.Ints("pads"),
                   dl = l.Ints("dilations");
        if (k.size() != 2 || s.size() != 2 || (pd.size() != 2 && pd.size() != 4) ||
            dl.size() != 2) {
          return fail(Status::InvalidModel("pool parameters incomplete"));
        }
        pa.kh = k[0];
        pa.kw = k[1];
        pa.stride_h = s[0];
        pa.stride_w = s[1];
        pa.pad_top = pd[0];
        pa.pad_left = pd[1];
        pa.dil_h = dl[0];
        pa.dil_w = dl[1];
        if (pd.size() == 4) {
          pa.pad_bottom = pd[2];
          pa.pad_right = pd[3];
        }
        pa.count_include_pad = l.Int("count_include_pad") != 0;
        const gpu::TensorArg x = arg(in(l, 0));
        step = [=](cudaStream_t st) { return gpu::Pool2D(pa, x, y, st); };
        break;
      }
      case LayerKind::kGlobalAvgPool: {
        const gpu::TensorArg x = arg(in(l, 0));
        step = [=](cudaStream_t st) { return gpu::GlobalAvgPool(x, y, st); };
        break;
      }
      case LayerKind::kSqueezeExcite: {
        const gpu::TensorArg x = arg(in(l, 0));
        const std::vector<int64_t> ch = l.Ints("channels");
        gpu::SqueezeExciteArgs se;
        se.w1 = static_cast<const float*>(wptr(l, 0));
        se.b1 = static_cast<const float*>(wptr(l, 1));
        se.w2 = static_cast<const float*>(wptr(l, 2));
        se.b2 = static_cast<const float*>(wptr(l, 3));
        if (ch.size() != 3 || !se.w1 || !se.b1 || !se.w2 || !se.b2) {
          return fail(Status::InvalidModel("squeeze-excite channels or weights missing"));
        }
        se.c1 = static_cast<int>(ch[1]);
        se.act1 = static_cast<Act>(l.Int("act1"));
        se.act1_alpha = static_cast<float>(l.Float("act1_alpha"));
        se.act1_beta = static_cast<float>(l.Float("act1_beta"));
        se.act2 = act;
        se.act2_alpha = aa;
        se.act2_beta = ab;
        step = [=](cudaStream_t st) { return gpu::SqueezeExcite(se, x, y, st); };
        break;
      }
      case LayerKind::kResize: {
        gpu::ResizeArgs ra;
        ra.mode = static_cast<gpu::ResizeMode>(l.Int("mode"));
        ra.coord = static_cast<gpu::CoordMode>(l.Int("coord"));
        ra.nearest = static_cast<gpu::NearestMode>(l.Int("nearest"));
        auto it = l.floats.find("scales");
        if (it != l.floats.end() && it->second.size() == 2) {
          ra.scale_h = static_cast<float>(it->second[0]);
          ra.scale_w = static_cast<float>(it->second[1]);
        }
        const gpu::TensorArg x = arg(in(l, 0));
        step = [=](cudaStream_t st) { return gpu::Resize2D(ra, x, y, st); };
        break;
      }
      case LayerKind::kConcat: {
        std::vector<gpu::TensorArg> xs;
        for (int32_t id : l.inputs) xs.push_back(arg(id));
        const int axis = static_cast<int>(l.Int("axis"));
        step = [=](cudaStream_t st) { return gpu::Concat(xs, axis, y, st); };
        break;
      }
      case LayerKind::kSlice: {
        const gpu::TensorArg x = arg(in(l, 0));
        const auto starts = l.Ints("starts"), steps = l.Ints("steps");
        if (starts.size() != x.dims.size() || steps.size() != x.dims.size()) {
          return fail(Status::InvalidModel("slice parameters do not match the input's rank"));
        }
        step = [=](cudaStream_t st) { return gpu::Slice(x, starts, steps, y, st); };
        break;
      }
      case LayerKind::kTranspose: {
        const gpu::TensorArg x = arg(in(l, 0));
        std::vector<int> perm;
        for (int64_t v : l.Ints("perm")) perm.push_back(static_cast<int>(v));
        step = [=](cudaStream_t st) { return gpu::Transpose(x, perm, y, st); };
        break;
      }
      case LayerKind::kPad: {
        const gpu::TensorArg x = arg(in(l, 0));
        const auto begin = l.Ints("pads_begin");
        const auto mode = static_cast<gpu::PadMode>(l.Int("mode"));
        const float value = static_cast<float>(l.Float("value"));
        step = [=](cudaStream_t st) { return gpu::Pad(x, begin, mode, value, y, st); };
        break;
      }
      case LayerKind::kSoftmax: {
        const gpu::TensorArg x = arg(in(l, 0));
        const int axis = static_cast<int>(l.Int("axis"));
        const bool log = l.Int("log") != 0;
        step = [=](cudaStream_t st) { return gpu::Softmax(x, axis, log, y, st); };
        break;
      }
      case LayerKind::kArgMax: {
        const gpu::TensorArg x = arg(in(l, 0));
        const int axis = static_cast<int>(l.Int("axis"));
        const bool last = l.Int("select_last_index") != 0;
        gpu::TensorArg out = y;
        out.dims = x.dims;
        if (axis < 0 || axis >= static_cast<int>(out.dims.size()))
          return fail(Status::InvalidModel("bad axis"));
        out.dims[axis] = 1;
        step = [=](cudaStream_t st) { return gpu::ArgMax(x, axis, last, out, st); };
        break;
      }
      case LayerKind::kReduceMean: {
        const gpu::TensorArg x = arg(in(l, 0));
        std::vector<int> axes;
        gpu::TensorArg out = y;
        out.dims = x.dims;
        for (int64_t v : l.Ints("axes")) {
          if (v < 0 || v >= static_cast<int64_t>(out.dims.size()))
            return fail(Status::InvalidModel("bad axis"));
          axes.push_back(static_cast<int>(v));
          out.dims[v] = 1;
        }
        step = [=](cudaStream_t st) { return gpu::ReduceMean(x, axes, out, st); };
        break;
      }
      case LayerKind::kGather: {
        const gpu::TensorArg x = arg(in(l, 0));
        const gpu::TensorArg idx = arg(in(l, 1));
        const int axis = static_cast<int>(l.Int("axis"));
        gpu::TensorArg out = y;
        out.dims = x.dims;
        if (axis < 0 || axis >= static_cast<int>(out.dims.size()))
          return fail(Status::InvalidModel("bad axis"));
        out.dims[axis] = idx.elements();
        const auto* ip = static_cast<const int64_t*>(idx.data);
        const int64_t count = idx.elements();
        step = [=](cudaStream_t st) { return gpu::GatherConst(x, axis, ip, count, out, st); };
        break;
      }
      default:
        return fail(Status::Unsupported("unknown layer kind"));
    }
    ex->steps.push_back(std::move(step));
  }
  // Bind the workspace: the shared one when big enough (or when this is the first exec, which
  // sizes it), else one of this batch's own.
  if (!workspace_ && ws_needed > 0) {
    workspace_bytes_ = ws_needed;
    RT_CUDA(cudaMalloc(&workspace_, workspace_bytes_),
            "workspace (" + std::to_string(ws_needed) + " bytes)");
    device_bytes_ += workspace_bytes_;
  }
  if (ws_needed <= workspace_bytes_) {
    ex->workspace = workspace_;
    ex->workspace_bytes = workspace_bytes_;
  } else {
    void* mem = nullptr;
    RT_CUDA(cudaMalloc(&mem, ws_needed), "workspace for batch " + std::to_string(batch));
    extra_allocs_.push_back(mem);
    device_bytes_ += ws_needed;
    ex->workspace = mem;
    ex->workspace_bytes = ws_needed;
  }
  return Status::Ok();
}

Status Runtime::RunEager(BatchExec& ex, cudaStream_t s) {
  for (size_t i = 0; i < ex.steps.size(); ++i) {
    Status st = ex.steps[i](s);
    if (!st.ok()) {
      const PlanLayer& l = plan_.layers[i];
      return st.WithContext("engine: layer '" + l.name + "' (" + l.op + ", " + l.tactic.name +
                            ") at batch " + std::to_string(ex.batch));
    }
  }
  return Status::Ok();
}

Status Runtime::Run(int batch, cudaStream_t stream) {
  VRSEG_ASSIGN_OR_RETURN(BatchExec * ex, ExecFor(batch));
  cudaStream_t s = stream ? stream : own_stream_;
  if (!options_.use_graphs) return RunEager(*ex, s);
  if (ex->graph) {
    RT_CUDA(cudaGraphLaunch(ex->graph, s), "replaying the graph of batch " + std::to_string(batch));
    return Status::Ok();
  }
  // First use of this batch size: an eager run (its results are this call's), then capture.
  VRSEG_RETURN_IF_ERROR(RunEager(*ex, s));
  RT_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal),
          "capturing batch " + std::to_string(batch));
  Status launched = RunEager(*ex, s);
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(s, &graph);
  if (!launched.ok()) {
    if (graph) cudaGraphDestroy(graph);
    return launched.WithContext("capturing a CUDA graph");
  }
  if (end != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    return CudaErr(end, "cudaStreamEndCapture", "capturing batch " + std::to_string(batch));
  }
  const cudaError_t inst = cudaGraphInstantiate(&ex->graph, graph, 0);
  cudaGraphDestroy(graph);
  if (inst != cudaSuccess) {
    ex->graph = nullptr;
    return CudaErr(inst, "cudaGraphInstantiate", "batch " + std::to_string(batch));
  }
  return Status::Ok();
}

Result<std::vector<LayerProfile>> Runtime::Profile(int batch, int iterations, cudaStream_t stream) {
  VRSEG_ASSIGN_OR_RETURN(BatchExec * ex, ExecFor(batch));
  cudaStream_t s = stream ? stream : own_stream_;
  iterations = std::max(1, iterations);
  VRSEG_RETURN_IF_ERROR(RunEager(*ex, s));
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  RT_CUDA(cudaEventCreate(&e0), "profiling");
  Status st = CudaErr(cudaEventCreate(&e1), "cudaEventCreate", "profiling");
  std::vector<LayerProfile> out;
  for (size_t i = 0; st.ok() && i < ex->steps.size(); ++i) {
    const PlanLayer& l = plan_.layers[i];
    st = ex->steps[i](s);  // one untimed launch (caches)
    if (!st.ok()) break;
    // The iterations are captured into one graph, as Run replays them: the time is the device's,
    // without the host's per-launch overhead.
    st = CudaErr(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal),
                 "cudaStreamBeginCapture", "profiling");
    if (!st.ok()) break;
    for (int it = 0; st.ok() && it < iterations; ++it) st = ex->steps[i](s);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(s, &graph);
    if (st.ok()) st = CudaErr(end, "cudaStreamEndCapture", "profiling");
    cudaGraphExec_t exec = nullptr;
    if (st.ok())
      st = CudaErr(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate", "profiling");
    if (graph) cudaGraphDestroy(graph);
    if (st.ok()) st = CudaErr(cudaGraphLaunch(exec, s), "cudaGraphLaunch", "profiling");
    if (st.ok()) st = CudaErr(cudaEventRecord(e0, s), "cudaEventRecord", "profiling");
    if (st.ok()) st = CudaErr(cudaGraphLaunch(exec, s), "cudaGraphLaunch", "profiling");
    if (st.ok()) st = CudaErr(cudaEventRecord(e1, s), "cudaEventRecord", "profiling");
    if (st.ok()) st = CudaErr(cudaEventSynchronize(e1), "cudaEventSynchronize", "profiling");
    if (exec) cudaGraphExecDestroy(exec);
    float ms = 0;
    if (st.ok())
      st = CudaErr(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime", "profiling");
    if (!st.ok()) {
      st = st.WithContext("engine: profiling layer '" + l.name + "'");
      break;
    }
    LayerProfile lp;
    lp.name = l.name;
    lp.op = l.op;
    lp.kind = LayerKindName(l.kind);
    lp.tactic = l.tactic.name.empty() ? "own kernel" : l.tactic.name;
    lp.ms = ms / iterations;
    if (lp.ms > 0) {
      lp.gbps = (l.bytes_fixed + l.bytes_per_sample * batch) / (lp.ms * 1e6);
      lp.tflops = l.flops_per_sample * batch / (lp.ms * 1e9);
    }
    out.push_back(std::move(lp));
  }
  cudaEventDestroy(e0);
  if (e1) cudaEventDestroy(e1);
  if (!st.ok()) return st;
  return out;
}

}  // namespace vrseg::engine

#endif  // VRSEG_HAVE_CUDA
