// The plan file format (see plan.h). Plain C++: built and tested everywhere.
#include "engine/plan.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vrseg::engine {
namespace {

constexpr char kMagic[8] = {'V', 'R', 'S', 'E', 'G', 'P', 'L', 'N'};
constexpr size_t kHeaderBytes = 8 + 4 + 8;
constexpr size_t kChecksumBytes = 8;

// Record tags (u32). Append only.
enum RecordTag : uint32_t {
  kRecKey = 1,
  kRecLayer = 2,
  kRecBuffer = 3,
  kRecInput = 4,
  kRecOutput = 5,
  kRecMetadata = 6,
  kRecStats = 7,
  kRecReport = 8,
  kRecWeights = 9,
};

// ---- writing ------------------------------------------------------------------------------------

class Writer {
 public:
  std::vector<uint8_t>& bytes() { return b_; }
  void Raw(const void* p, size_t n) {
    const auto* c = static_cast<const uint8_t*>(p);
    b_.insert(b_.end(), c, c + n);
  }
  template <typename T>
  void Pod(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
    Raw(tmp, sizeof(T));
  }
  void Str(const std::string& s) {
    Pod<uint32_t>(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }
  // A field (u16 tag, u32 length, payload) whose payload `fill` writes.
  template <typename F>
  void Field(uint16_t tag, F&& fill) {
    Pod<uint16_t>(tag);
    const size_t at = b_.size();
    Pod<uint32_t>(0);
    fill();
    const uint32_t len = static_cast<uint32_t>(b_.size() - at - 4);
    std::memcpy(b_.data() + at, &len, 4);
  }
  // A record (u32 tag, u64 length, payload).
  template <typename F>
  void Record(uint32_t tag, F&& fill) {
    Pod<uint32_t>(tag);
    const size_t at = b_.size();
    Pod<uint64_t>(0);
    fill();
    const uint64_t len = b_.size() - at - 8;
    std::memcpy(b_.data() + at, &len, 8);
  }
  void StrField(uint16_t tag, const std::string& s) {
    Field(tag, [&] { Raw(s.data(), s.size()); });
  }
  template <typename T>
  void PodField(uint16_t tag, T v) {
    Field(tag, [&] { Pod<T>(v); });
  }
  void ShapeField(uint16_t tag, const Shape& s) {
    Field(tag, [&] {
      for (const Dim& d : s) {
        Pod<int64_t>(d.n);
        Pod<int64_t>(d.c);
      }
    });
  }

 private:
  std::vector<uint8_t> b_;
};

// ---- reading ------------------------------------------------------------------------------------

// Bounds-checked cursor over a byte range; every failure says what was being read.
class Reader {
 public:
  Reader(const uint8_t* p, size_t n, const std::string* err_prefix)
      : p_(p), n_(n), pre_(err_prefix) {}
  size_t left() const { return n_ - at_; }
  bool done() const { return at_ == n_; }
  Status Need(size_t k, const char* what) const {
    if (k > left()) {
      return Status::InvalidModel(*pre_ + std::string(what) + " needs " + std::to_string(k) +
                                  " bytes, " + std::to_string(left()) + " left");
    }
    return Status::Ok();
  }
  template <typename T>
  Status Pod(T* v, const char* what) {
    VRSEG_RETURN_IF_ERROR(Need(sizeof(T), what));
    std::memcpy(v, p_ + at_, sizeof(T));
    at_ += sizeof(T);
    return Status::Ok();
  }
  Status Bytes(size_t k, const uint8_t** out, const char* what) {
    VRSEG_RETURN_IF_ERROR(Need(k, what));
    *out = p_ + at_;
    at_ += k;
    return Status::Ok();
  }
  Status Str(std::string* s, const char* what) {
    uint32_t len = 0;
    VRSEG_RETURN_IF_ERROR(Pod(&len, what));
    const uint8_t* d = nullptr;
    VRSEG_RETURN_IF_ERROR(Bytes(len, &d, what));
    s->assign(reinterpret_cast<const char*>(d), len);
    return Status::Ok();
  }
  Status Rest(std::string* s) {
    s->assign(reinterpret_cast<const char*>(p_ + at_), left());
    at_ = n_;
    return Status::Ok();
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t at_ = 0;
  const std::string* pre_;
};

// Iterates the fields of a record: calls fn(tag, Reader over the payload) for each.
template <typename F>
Status ForEachField(Reader& r, const std::string* pre, const char* what, F&& fn) {
  while (!r.done()) {
    uint16_t tag = 0;
    uint32_t len = 0;
    VRSEG_RETURN_IF_ERROR(r.Pod(&tag, what));
    VRSEG_RETURN_IF_ERROR(r.Pod(&len, what));
    const uint8_t* d = nullptr;
    VRSEG_RETURN_IF_ERROR(r.Bytes(len, &d, what));
    Reader sub(d, len, pre);
    VRSEG_RETURN_IF_ERROR(fn(tag, sub));
  }
  return Status::Ok();
}

template <typename T>
Status ExactPod(Reader& r, T* v, const char* what) {
  VRSEG_RETURN_IF_ERROR(r.Pod(v, what));
  if (!r.done()) return r.Need(r.left() + 1 + sizeof(T), what);  // length disagrees with the type
  return Status::Ok();
}

Status ReadShape(Reader& r, Shape* s, const char* what) {
  if (r.left() % 16 != 0) return r.Need(r.left() + 16, what);
  s->clear();
  while (!r.done()) {
    Dim d;
    VRSEG_RETURN_IF_ERROR(r.Pod(&d.n, what));
    VRSEG_RETURN_IF_ERROR(r.Pod(&d.c, what));
    s->push_back(d);
  }
  return Status::Ok();
}

template <typename T>
Status ReadVec(Reader& r, std::vector<T>* v, const char* what) {
  uint32_t count = 0;
  VRSEG_RETURN_IF_ERROR(r.Pod(&count, what));
  VRSEG_RETURN_IF_ERROR(r.Need(static_cast<size_t>(count) * sizeof(T), what));
  v->resize(count);
  for (auto& x : *v) VRSEG_RETURN_IF_ERROR(r.Pod(&x, what));
  return Status::Ok();
}
template <typename T>
void WriteVec(Writer& w, const std::vector<T>& v) {
  w.Pod<uint32_t>(static_cast<uint32_t>(v.size()));
  for (const T& x : v) w.Pod<T>(x);
}

// Field tags. Append only; a reader skips tags it does not know.
namespace key_tag {
enum : uint16_t {
  kSha = 1,
  kGpu,
  kCc,
  kCuda,
  kCudnn,
  kCublas,
  kPrecision,
  kMin,
  kOpt,
  kMax,
  kEngine
};
}
namespace layer_tag {
enum : uint16_t {
  kName = 1,
  kOp,
  kKind,
  kInts,
  kFloats,
  kInputs,
  kOutputs,
  kTacticKind,
  kTacticAlgo,
  kTacticSub,
  kTacticName,
  kTime,
  kFlops,
  kBytesFixed,
  kBytesPerSample,
  kWeight
};
}
namespace buffer_tag {
enum : uint16_t { kName = 1, kDtype, kDims, kKind, kOffset, kIndex };
}
namespace io_tag {
enum : uint16_t { kName = 1, kDtype, kShape, kLayout, kBuffer };
}
namespace stats_tag {
enum : uint16_t { kArena = 1, kNaive, kBuildSeconds };
}

void WriteKey(Writer& w, const PlanKey& k) {
  using namespace key_tag;
  w.StrField(kSha, k.model_sha256);
  w.StrField(kGpu, k.gpu_name);
  w.PodField<int32_t>(kCc, k.compute_capability);
  w.PodField<int32_t>(kCuda, k.cuda_runtime_version);
  w.PodField<int64_t>(kCudnn, k.cudnn_version);
  w.PodField<int32_t>(kCublas, k.cublas_version);
  w.StrField(kPrecision, k.precision);
  w.PodField<int32_t>(kMin, k.min_batch);
  w.PodField<int32_t>(kOpt, k.opt_batch);
  w.PodField<int32_t>(kMax, k.max_batch);
  w.StrField(kEngine, k.engine_version);
}

Status ReadKey(Reader& r, const std::string* pre, PlanKey* k) {
  using namespace key_tag;
  const char* what = "the key";
  return ForEachField(r, pre, what, [&](uint16_t tag, Reader& f) -> Status {
    switch (tag) {
      case kSha:
        return f.Rest(&k->model_sha256);
      case kGpu:
        return f.Rest(&k->gpu_name);
      case kCc:
        return ExactPod(f, &k->compute_capability, what);
      case kCuda:
        return ExactPod(f, &k->cuda_runtime_version, what);
      case kCudnn:
        return ExactPod(f, &k->cudnn_version, what);
      case kCublas:
        return ExactPod(f, &k->cublas_version, what);
      case kPrecision:
        return f.Rest(&k->precision);
      case kMin:
        return ExactPod(f, &k->min_batch, what);
      case kOpt:
        return ExactPod(f, &k->opt_batch, what);
      case kMax:
        return ExactPod(f, &k->max_batch, what);
      case kEngine:
        return f.Rest(&k->engine_version);
      default:
        return Status::Ok();
    }
  });
}

void WriteLayer(Writer& w, const PlanLayer& l) {
  using namespace layer_tag;
  w.StrField(kName, l.name);
  w.StrField(kOp, l.op);
  w.PodField<uint16_t>(kKind, static_cast<uint16_t>(l.kind));
  for (const auto& [k, v] : l.ints) {
    w.Field(kInts, [&] {
      w.Str(k);
      WriteVec(w, v);
    });
  }
  for (const auto& [k, v] : l.floats) {
    w.Field(kFloats, [&] {
      w.Str(k);
      WriteVec(w, v);
    });
  }
  w.Field(kInputs, [&] { WriteVec(w, l.inputs); });
  w.Field(kOutputs, [&] { WriteVec(w, l.outputs); });
  w.PodField<uint8_t>(kTacticKind, static_cast<uint8_t>(l.tactic.kind));
  w.PodField<int32_t>(kTacticAlgo, l.tactic.algo);
  w.PodField<int32_t>(kTacticSub, l.tactic.sub);
  w.StrField(kTacticName, l.tactic.name);
  w.PodField<double>(kTime, l.time_ms);
  w.PodField<double>(kFlops, l.flops_per_sample);
  w.PodField<double>(kBytesFixed, l.bytes_fixed);
  w.PodField<double>(kBytesPerSample, l.bytes_per_sample);
  for (const WeightRef& wr : l.weights) {
    w.Field(kWeight, [&] {
      w.Pod<uint64_t>(wr.offset);
      w.Pod<uint64_t>(wr.size);
    });
  }
}

Status ReadLayer(Reader& r, const std::string* pre, PlanLayer* l) {
  using namespace layer_tag;
  const char* what = "a layer";
  return ForEachField(r, pre, what, [&](uint16_t tag, Reader& f) -> Status {
    switch (tag) {
      case kName:
        return f.Rest(&l->name);
      case kOp:
        return f.Rest(&l->op);
      case kKind: {
        uint16_t k = 0;
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &k, what));
        l->kind = static_cast<LayerKind>(k);
        return Status::Ok();
      }
      case kInts: {
        std::string k;
        std::vector<int64_t> v;
        VRSEG_RETURN_IF_ERROR(f.Str(&k, what));
        VRSEG_RETURN_IF_ERROR(ReadVec(f, &v, what));
        l->ints[k] = std::move(v);
        return Status::Ok();
      }
      case kFloats: {
        std::string k;
        std::vector<double> v;
        VRSEG_RETURN_IF_ERROR(f.Str(&k, what));
        VRSEG_RETURN_IF_ERROR(ReadVec(f, &v, what));
        l->floats[k] = std::move(v);
        return Status::Ok();
      }
      case kInputs:
        return ReadVec(f, &l->inputs, what);
      case kOutputs:
        return ReadVec(f, &l->outputs, what);
      case kTacticKind: {
        uint8_t k = 0;
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &k, what));
        l->tactic.kind = static_cast<TacticKind>(k);
        return Status::Ok();
      }
      case kTacticAlgo:
        return ExactPod(f, &l->tactic.algo, what);
      case kTacticSub:
        return ExactPod(f, &l->tactic.sub, what);
      case kTacticName:
        return f.Rest(&l->tactic.name);
      case kTime:
        return ExactPod(f, &l->time_ms, what);
      case kFlops:
        return ExactPod(f, &l->flops_per_sample, what);
      case kBytesFixed:
        return ExactPod(f, &l->bytes_fixed, what);
      case kBytesPerSample:
        return ExactPod(f, &l->bytes_per_sample, what);
      case kWeight: {
        WeightRef wr;
        VRSEG_RETURN_IF_ERROR(f.Pod(&wr.offset, what));
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &wr.size, what));
        l->weights.push_back(wr);
        return Status::Ok();
      }
      default:
        return Status::Ok();
    }
  });
}

void WriteBuffer(Writer& w, const PlanBuffer& b) {
  using namespace buffer_tag;
  w.StrField(kName, b.name);
  w.PodField<uint8_t>(kDtype, static_cast<uint8_t>(b.dtype));
  w.ShapeField(kDims, b.dims);
  w.PodField<uint8_t>(kKind, static_cast<uint8_t>(b.kind));
  w.PodField<uint64_t>(kOffset, b.offset);
  w.PodField<int32_t>(kIndex, b.index);
}

Status ReadBuffer(Reader& r, const std::string* pre, PlanBuffer* b) {
  using namespace buffer_tag;
  const char* what = "a buffer";
  return ForEachField(r, pre, what, [&](uint16_t tag, Reader& f) -> Status {
    switch (tag) {
      case kName:
        return f.Rest(&b->name);
      case kDtype: {
        uint8_t v = 0;
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &v, what));
        b->dtype = static_cast<PlanDType>(v);
        return Status::Ok();
      }
      case kDims:
        return ReadShape(f, &b->dims, what);
      case kKind: {
        uint8_t v = 0;
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &v, what));
        b->kind = static_cast<BufferKind>(v);
        return Status::Ok();
      }
      case kOffset:
        return ExactPod(f, &b->offset, what);
      case kIndex:
        return ExactPod(f, &b->index, what);
      default:
        return Status::Ok();
    }
  });
}

void WriteIO(Writer& w, const PlanIO& io) {
  using namespace io_tag;
  w.StrField(kName, io.name);
  w.PodField<uint8_t>(kDtype, static_cast<uint8_t>(io.dtype));
  w.ShapeField(kShape, io.shape);
  w.PodField<uint8_t>(kLayout, static_cast<uint8_t>(io.layout));
  w.PodField<int32_t>(kBuffer, io.buffer);
}

Status ReadIO(Reader& r, const std::string* pre, PlanIO* io) {
  using namespace io_tag;
  const char* what = "an input/output";
  return ForEachField(r, pre, what, [&](uint16_t tag, Reader& f) -> Status {
    switch (tag) {
      case kName:
        return f.Rest(&io->name);
      case kDtype: {
        uint8_t v = 0;
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &v, what));
        io->dtype = static_cast<PlanDType>(v);
        return Status::Ok();
      }
      case kShape:
        return ReadShape(f, &io->shape, what);
      case kLayout: {
        uint8_t v = 0;
        VRSEG_RETURN_IF_ERROR(ExactPod(f, &v, what));
        io->layout = static_cast<Layout>(v);
        return Status::Ok();
      }
      case kBuffer:
        return ExactPod(f, &io->buffer, what);
      default:
        return Status::Ok();
    }
  });
}

Status Corrupt(const std::string& source, const std::string& why) {
  return Status::InvalidModel("plan " + source + " is corrupt: " + why);
}

// Cross-checks references once everything is read.
Status CheckPlan(const Plan& p, const std::string& source) {
  const int32_t nb = static_cast<int32_t>(p.buffers.size());
  auto bad_weight = [&](const WeightRef& w) {
    return w.offset > p.weights.size() || w.size > p.weights.size() - w.offset;
  };
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    const PlanBuffer& b = p.buffers[i];
    if (static_cast<uint8_t>(b.dtype) > static_cast<uint8_t>(PlanDType::kBool) ||
        static_cast<uint8_t>(b.kind) > static_cast<uint8_t>(BufferKind::kConst)) {
      return Corrupt(source, "buffer " + std::to_string(i) + " has an unknown type or kind");
    }
    if (b.kind == BufferKind::kAlias && (b.index < 0 || b.index >= nb || b.index == (int32_t)i)) {
      return Corrupt(source, "buffer " + std::to_string(i) + " aliases a missing buffer");
    }
    if (b.kind == BufferKind::kConst && bad_weight({b.offset, (uint64_t)b.Bytes(0)})) {
      return Corrupt(source, "constant buffer '" + b.name + "' lies outside the weights");
    }
    if (b.kind == BufferKind::kArena &&
        b.offset + (uint64_t)b.Bytes(p.key.max_batch) > p.arena_bytes) {
      return Corrupt(source, "buffer '" + b.name + "' lies outside the arena");
    }
  }
  for (const PlanLayer& l : p.layers) {
    for (int32_t id : l.inputs) {
      if (id < -1 || id >= nb)
        return Corrupt(source, "layer '" + l.name + "' names a missing buffer");
    }
    for (int32_t id : l.outputs) {
      if (id < 0 || id >= nb)
        return Corrupt(source, "layer '" + l.name + "' names a missing buffer");
    }
    for (const WeightRef& w : l.weights) {
      if (bad_weight(w))
        return Corrupt(source, "layer '" + l.name + "' has weights outside the blob");
    }
  }
  for (const auto* ios : {&p.inputs, &p.outputs}) {
    for (const PlanIO& io : *ios) {
      if (io.buffer < 0 || io.buffer >= nb) {
        return Corrupt(source, "input/output '" + io.name + "' names a missing buffer");
      }
    }
  }
  if (p.key.min_batch < 1 || p.key.min_batch > p.key.opt_batch ||
      p.key.opt_batch > p.key.max_batch) {
    return Corrupt(source, "batch range " + std::to_string(p.key.min_batch) + ":" +
                               std::to_string(p.key.opt_batch) + ":" +
                               std::to_string(p.key.max_batch) + " is not ordered");
  }
  return Status::Ok();
}

}  // namespace

int PlanDTypeSize(PlanDType t) {
  switch (t) {
    case PlanDType::kF32:
      return 4;
    case PlanDType::kF16:
      return 2;
    case PlanDType::kI64:
      return 8;
    case PlanDType::kBool:
      return 1;
  }
  return 0;
}

const char* PlanDTypeName(PlanDType t) {
  switch (t) {
    case PlanDType::kF32:
      return "fp32";
    case PlanDType::kF16:
      return "fp16";
    case PlanDType::kI64:
      return "int64";
    case PlanDType::kBool:
      return "bool";
  }
  return "?";
}

const char* LayerKindName(LayerKind k) {
  switch (k) {
    case LayerKind::kConv:
      return "conv";
    case LayerKind::kGemm:
      return "gemm";
    case LayerKind::kBinary:
      return "binary";
    case LayerKind::kUnary:
      return "unary";
    case LayerKind::kChannelAffine:
      return "channel_affine";
    case LayerKind::kCast:
      return "cast";
    case LayerKind::kPool:
      return "pool";
    case LayerKind::kGlobalAvgPool:
      return "global_avg_pool";
    case LayerKind::kSqueezeExcite:
      return "squeeze_excite";
    case LayerKind::kResize:
      return "resize";
    case LayerKind::kConcat:
      return "concat";
    case LayerKind::kSlice:
      return "slice";
    case LayerKind::kTranspose:
      return "transpose";
    case LayerKind::kPad:
      return "pad";
    case LayerKind::kSoftmax:
      return "softmax";
    case LayerKind::kArgMax:
      return "argmax";
    case LayerKind::kReduceMean:
      return "reduce_mean";
    case LayerKind::kGather:
      return "gather";
  }
  return "unknown";
}

std::string KeyDifference(const PlanKey& have, const PlanKey& want) {
  std::string out;
  auto add = [&](const char* field, const std::string& a, const std::string& b) {
    if (a == b) return;
    if (!out.empty()) out += ", ";
    out += std::string(field) + " '" + a + "' != '" + b + "'";
  };
  add("model_sha256", have.model_sha256, want.model_sha256);
  add("gpu_name", have.gpu_name, want.gpu_name);
  add("compute_capability", std::to_string(have.compute_capability),
      std::to_string(want.compute_capability));
  add("cuda_runtime_version", std::to_string(have.cuda_runtime_version),
      std::to_string(want.cuda_runtime_version));
  add("cudnn_version", std::to_string(have.cudnn_version), std::to_string(want.cudnn_version));
  add("cublas_version", std::to_string(have.cublas_version), std::to_string(want.cublas_version));
  add("precision", have.precision, want.precision);
  add("batch",
      std::to_string(have.min_batch) + ":" + std::to_string(have.opt_batch) + ":" +
          std::to_string(have.max_batch),
      std::to_string(want.min_batch) + ":" + std::to_string(want.opt_batch) + ":" +
          std::to_string(want.max_batch));
  add("engine_version", have.engine_version, want.engine_version);
  return out;
}

int64_t PlanLayer::Int(const std::string& k, int64_t def) const {
  auto it = ints.find(k);
  return it == ints.end() || it->second.empty() ? def : it->second[0];
}
std::vector<int64_t> PlanLayer::Ints(const std::string& k) const {
  auto it = ints.find(k);
  return it == ints.end() ? std::vector<int64_t>{} : it->second;
}
double PlanLayer::Float(const std::string& k, double def) const {
  auto it = floats.find(k);
  return it == floats.end() || it->second.empty() ? def : it->second[0];
}

int64_t PlanBuffer::Bytes(int64_t batch) const {
  int64_t n = PlanDTypeSize(dtype);
  for (const Dim& d : dims) n *= d.At(batch);
  return n;
}

WeightRef Plan::AddWeights(const void* data, size_t size) {
  const size_t at = (weights.size() + 255) / 256 * 256;
  weights.resize(at + size);
  if (size) std::memcpy(weights.data() + at, data, size);
  return WeightRef{at, size};
}

std::vector<uint8_t> SerializePlan(const Plan& p) {
  Writer w;
  w.Raw(kMagic, 8);
  w.Pod<uint32_t>(kPlanFormatVersion);
  w.Pod<uint64_t>(0);  // total length, patched below
  w.Record(kRecKey, [&] { WriteKey(w, p.key); });
  for (const PlanLayer& l : p.layers) w.Record(kRecLayer, [&] { WriteLayer(w, l); });
  for (const PlanBuffer& b : p.buffers) w.Record(kRecBuffer, [&] { WriteBuffer(w, b); });
  for (const PlanIO& io : p.inputs) w.Record(kRecInput, [&] { WriteIO(w, io); });
  for (const PlanIO& io : p.outputs) w.Record(kRecOutput, [&] { WriteIO(w, io); });
  w.Record(kRecMetadata, [&] {
    for (const auto& [k, v] : p.metadata) {
      w.Field(1, [&] {
        w.Str(k);
        w.Str(v);
      });
    }
  });
  w.Record(kRecStats, [&] {
    w.PodField<uint64_t>(stats_tag::kArena, p.arena_bytes);
    w.PodField<uint64_t>(stats_tag::kNaive, p.naive_bytes);
    w.PodField<double>(stats_tag::kBuildSeconds, p.build_seconds);
  });
  w.Record(kRecReport, [&] {
    for (const std::string& s : p.optimizer_report) w.StrField(1, s);
  });
  w.Record(kRecWeights, [&] { w.Raw(p.weights.data(), p.weights.size()); });
  std::vector<uint8_t>& b = w.bytes();
  const uint64_t total = b.size() + kChecksumBytes;
  std::memcpy(b.data() + 12, &total, 8);
  const uint64_t sum = Fnv1a64(b.data(), b.size());
  w.Pod<uint64_t>(sum);
  return std::move(b);
}

Result<Plan> ParsePlan(const std::vector<uint8_t>& bytes, const std::string& source) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    if (bytes.size() < 8 && std::memcmp(bytes.data(), kMagic, bytes.size()) == 0) {
      return Corrupt(source, "truncated to " + std::to_string(bytes.size()) + " bytes");
    }
    return Status::InvalidModel("plan " + source + " is not a vrseg plan (no VRSEGPLN magic)");
  }
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return Corrupt(source, "truncated to " + std::to_string(bytes.size()) + " bytes");
  }
  uint32_t version = 0;
  uint64_t total = 0;
  std::memcpy(&version, bytes.data() + 8, 4);
  std::memcpy(&total, bytes.data() + 12, 8);
  if (version != kPlanFormatVersion) {
    return Status::InvalidModel("plan " + source + " has format version " +
                                std::to_string(version) + ", this engine reads version " +
                                std::to_string(kPlanFormatVersion) + ": rebuild it");
  }
  if (total != bytes.size()) {
    return Corrupt(source, (total > bytes.size() ? "truncated: " : "wrong length: ") +
                               std::to_string(bytes.size()) + " bytes, the header says " +
                               std::to_string(total));
  }
  const size_t body = bytes.size() - kChecksumBytes;
  uint64_t stored = 0;
  std::memcpy(&stored, bytes.data() + body, 8);
  if (Fnv1a64(bytes.data(), body) != stored) return Corrupt(source, "checksum mismatch");

  const std::string prefix = "plan " + source + " is corrupt: ";
  Plan p;
  bool have_key = false, have_weights = false;
  Reader r(bytes.data() + kHeaderBytes, body - kHeaderBytes, &prefix);
  while (!r.done()) {
    uint32_t tag = 0;
    uint64_t len = 0;
    VRSEG_RETURN_IF_ERROR(r.Pod(&tag, "a record header"));
    VRSEG_RETURN_IF_ERROR(r.Pod(&len, "a record header"));
    const uint8_t* d = nullptr;
    VRSEG_RETURN_IF_ERROR(r.Bytes(len, &d, "a record"));
    Reader rec(d, len, &prefix);
    switch (tag) {
      case kRecKey:
        VRSEG_RETURN_IF_ERROR(ReadKey(rec, &prefix, &p.key));
        have_key = true;
        break;
      case kRecLayer:
        p.layers.emplace_back();
        VRSEG_RETURN_IF_ERROR(ReadLayer(rec, &prefix, &p.layers.back()));
        break;
      case kRecBuffer:
        p.buffers.emplace_back();
        VRSEG_RETURN_IF_ERROR(ReadBuffer(rec, &prefix, &p.buffers.back()));
        break;
      case kRecInput:
      case kRecOutput: {
        auto& list = tag == kRecInput ? p.inputs : p.outputs;
        list.emplace_back();
        VRSEG_RETURN_IF_ERROR(ReadIO(rec, &prefix, &list.back()));
        break;
      }
      case kRecMetadata:
        VRSEG_RETURN_IF_ERROR(ForEachField(rec, &prefix, "metadata", [&](uint16_t, Reader& f) {
          std::string k, v;
          VRSEG_RETURN_IF_ERROR(f.Str(&k, "metadata"));
          VRSEG_RETURN_IF_ERROR(f.Str(&v, "metadata"));
          p.metadata[k] = v;
          return Status::Ok();
        }));
        break;
      case kRecStats:
        VRSEG_RETURN_IF_ERROR(ForEachField(rec, &prefix, "stats", [&](uint16_t t, Reader& f) {
          switch (t) {
            case stats_tag::kArena:
              return ExactPod(f, &p.arena_bytes, "stats");
            case stats_tag::kNaive:
              return ExactPod(f, &p.naive_bytes, "stats");
            case stats_tag::kBuildSeconds:
              return ExactPod(f, &p.build_seconds, "stats");
            default:
              return Status::Ok();
          }
        }));
        break;
      case kRecReport:
        VRSEG_RETURN_IF_ERROR(ForEachField(rec, &prefix, "report", [&](uint16_t, Reader& f) {
          std::string s;
          VRSEG_RETURN_IF_ERROR(f.Rest(&s));
          p.optimizer_report.push_back(std::move(s));
          return Status::Ok();
        }));
        break;
      case kRecWeights:
        p.weights.assign(d, d + len);
        have_weights = true;
        break;
      default:
        break;  // a record of a newer writer: skipped
    }
  }
  if (!have_key) return Corrupt(source, "no key record");
  if (!have_weights) return Corrupt(source, "no weights record");
  VRSEG_RETURN_IF_ERROR(CheckPlan(p, source));
  return p;
}

Status WritePlanFile(const Plan& plan, const std::string& path) {
  const std::vector<uint8_t> bytes = SerializePlan(plan);
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::IoError("cannot write plan " + tmp);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return Status::IoError("writing plan " + tmp + " failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status::IoError("cannot move plan into place at " + path + ": " + ec.message());
  }
  return Status::Ok();
}

static Result<std::vector<uint8_t>> ReadAll(const std::string& path, const char* what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status::NotFound(std::string(what) + " not found: " + path);
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IoError(std::string("cannot open ") + what + " " + path);
  std::vector<uint8_t> bytes;
  f.seekg(0, std::ios::end);
  const std::streamoff n = f.tellg();
  if (n < 0) return Status::IoError(std::string("cannot read ") + what + " " + path);
  f.seekg(0);
  bytes.resize(static_cast<size_t>(n));
  f.read(reinterpret_cast<char*>(bytes.data()), n);
  if (!f) return Status::IoError(std::string("cannot read ") + what + " " + path);
  return bytes;
}

Result<Plan> ReadPlanFile(const std::string& path) {
  VRSEG_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadAll(path, "plan"));
  return ParsePlan(bytes, path);
}

uint64_t Fnv1a64(const uint8_t* data, size_t size, uint64_t h) {
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

// ---- SHA-256 (FIPS 180-4) ----------------------------------------------------------------------

namespace {
constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

struct Sha256 {
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t buf[64];
  size_t fill = 0;
  uint64_t total = 0;

  void Block(const uint8_t* p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t(p[4 * i]) << 24) | (uint32_t(p[4 * i + 1]) << 16) |
             (uint32_t(p[4 * i + 2]) << 8) | uint32_t(p[4 * i + 3]);
    }
    for (int i = 16; i < 64; ++i) {
      const uint32_t s0 = Rotr(w[i - 15], 7) ^ Rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      const uint32_t s1 = Rotr(w[i - 2], 17) ^ Rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      const uint32_t t1 =
          hh + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
      const uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }
  void Update(const uint8_t* p, size_t n) {
    total += n;
    while (n > 0) {
      if (fill == 0 && n >= 64) {
        Block(p);
        p += 64;
        n -= 64;
        continue;
      }
      const size_t k = std::min(n, 64 - fill);
      std::memcpy(buf + fill, p, k);
      fill += k;
      p += k;
      n -= k;
      if (fill == 64) {
        Block(buf);
        fill = 0;
      }
    }
  }
  std::string Hex() {
    const uint64_t bits = total * 8;
    const uint8_t one = 0x80, zero = 0;
    Update(&one, 1);
    while (fill != 56) Update(&zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    Update(len, 8);
    std::string out;
    char tmp[9];
    for (uint32_t v : h) {
      std::snprintf(tmp, sizeof(tmp), "%08x", v);
      out += tmp;
    }
    return out;
  }
};
}  // namespace

std::string Sha256Hex(const uint8_t* data, size_t size) {
  Sha256 s;
  s.Update(data, size);
  return s.Hex();
}

Result<std::string> Sha256File(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound("model file not found: " + path);
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IoError("cannot open " + path);
  Sha256 s;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize got = f.gcount();
    if (got > 0) s.Update(reinterpret_cast<const uint8_t*>(buf.data()), static_cast<size_t>(got));
  }
  if (f.bad()) return Status::IoError("cannot read " + path);
  return s.Hex();
}

std::string DescribePlan(const Plan& p) {
  std::ostringstream os;
  os << "plan: " << p.layers.size() << " layers, precision " << p.key.precision << ", batch "
     << p.key.min_batch << ":" << p.key.opt_batch << ":" << p.key.max_batch << ", gpu "
     << p.key.gpu_name << " (sm_" << p.key.compute_capability << ")\n";
  double total_ms = 0;
  char line[512];
  for (size_t i = 0; i < p.layers.size(); ++i) {
    const PlanLayer& l = p.layers[i];
    total_ms += l.time_ms;
    std::snprintf(line, sizeof(line), "  %3zu %-14s %-28.28s %-32.32s %8.4f ms\n", i,
                  LayerKindName(l.kind), l.name.c_str(),
                  l.tactic.name.empty() ? "-" : l.tactic.name.c_str(), l.time_ms);
    os << line;
  }
  std::snprintf(line, sizeof(line),
                "  layers' timed sum %.4f ms at batch %d\n  activation arena %.2f MiB (naive %.2f "
                "MiB), weights %.2f MiB\n",
                total_ms, p.key.opt_batch, p.arena_bytes / 1048576.0, p.naive_bytes / 1048576.0,
                p.weights.size() / 1048576.0);
  os << line;
  return os.str();
}

}  // namespace vrseg::engine
