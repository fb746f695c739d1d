// The CPU reference: tensors, whole-graph execution, and the physical-data single ops (see ref.h).
// The per-node operators live in ref_ops.cc.
#include "engine/ref.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "engine/ref_util.h"

namespace vrseg::engine {

using refutil::DimsString;
using refutil::Numel;

int64_t HostTensor::elements() const { return Numel(dims); }

// ---- single ops on physical data ----------------------------------------------------------------

static double BinaryOp(BinOp op, double a, double b) {
  switch (op) {
    case BinOp::kAdd:
      return a + b;
    case BinOp::kSub:
      return a - b;
    case BinOp::kMul:
      return a * b;
    case BinOp::kDiv:
      return a / b;
    case BinOp::kPow:
      return std::pow(a, b);
    case BinOp::kMax:
      return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case BinOp::kMin:
      return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
  }
  return 0;
}

void RefBinary(BinOp op, const float* a, const std::vector<int64_t>& adims, const float* b,
               const std::vector<int64_t>& bdims, float* out, const std::vector<int64_t>& odims,
               Act act, float alpha, float beta) {
  std::vector<int64_t> ia = refutil::BroadcastIndex(adims, odims);
  std::vector<int64_t> ib = refutil::BroadcastIndex(bdims, odims);
  for (size_t e = 0; e < ia.size(); ++e) {
    float v = static_cast<float>(BinaryOp(op, a[ia[e]], b[ib[e]]));
    out[e] = ApplyAct(act, v, alpha, beta);
  }
}

int64_t ConvShape::OutH() const {
  if (transposed)
    return (h - 1) * stride_h - pad_top - pad_bottom + dil_h * (r - 1) + 1 + out_pad_h;
  return (h + pad_top + pad_bottom - dil_h * (r - 1) - 1) / stride_h + 1;
}

int64_t ConvShape::OutW() const {
  if (transposed)
    return (w - 1) * stride_w - pad_left - pad_right + dil_w * (s - 1) + 1 + out_pad_w;
  return (w + pad_left + pad_right - dil_w * (s - 1) - 1) / stride_w + 1;
}

// y = acc [+ residual before] → act → [+ residual after].
static float Epi(const Epilogue& epi, double acc, const float* residual, int64_t at) {
  float v = static_cast<float>(acc);
  if (residual && !epi.residual_after_act) v += residual[at];
  v = ApplyAct(epi.act, v, epi.alpha, epi.beta);
  if (residual && epi.residual_after_act) v += residual[at];
  return v;
}

void RefConvNHWC(const ConvShape& cs, const float* x, const float* w, const float* bias,
                 const float* residual, float* y, const Epilogue& epi) {
  const int64_t oh_n = cs.OutH(), ow_n = cs.OutW();
  const int64_t cpg = cs.c / cs.groups, kpg = cs.k / cs.groups;
  if (!cs.transposed) {
    for (int64_t n = 0; n < cs.n; ++n) {
      for (int64_t oh = 0; oh < oh_n; ++oh) {
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          const int64_t obase = ((n * oh_n + oh) * ow_n + ow) * cs.k;
          for (int64_t k = 0; k < cs.k; ++k) {
            const int64_t g = k / kpg;
            double acc = bias ? bias[k] : 0.0;
            for (int64_t r = 0; r < cs.r; ++r) {
              const int64_t ih = oh * cs.stride_h - cs.pad_top + r * cs.dil_h;
              if (ih < 0 || ih >= cs.h) continue;
              for (int64_t s = 0; s < cs.s; ++s) {
                const int64_t iw = ow * cs.stride_w - cs.pad_left + s * cs.dil_w;
                if (iw < 0 || iw >= cs.w) continue;
                const float* xp = x + ((n * cs.h + ih) * cs.w + iw) * cs.c + g * cpg;
                const float* wp = w + ((k * cs.r + r) * cs.s + s) * cpg;
                for (int64_t c = 0; c < cpg; ++c) acc += static_cast<double>(xp[c]) * wp[c];
              }
            }
            y[obase + k] = Epi(epi, acc, residual, obase + k);
          }
        }
      }
    }
    return;
  }
  // Transposed: every input pixel scatters its kernel footprint into the output.
  std::vector<double> acc(static_cast<size_t>(cs.n * oh_n * ow_n * cs.k), 0.0);
  for (int64_t n = 0; n < cs.n; ++n) {
    for (int64_t ih = 0; ih < cs.h; ++ih) {
      for (int64_t iw = 0; iw < cs.w; ++iw) {
        const float* xp = x + ((n * cs.h + ih) * cs.w + iw) * cs.c;
        for (int64_t r = 0; r < cs.r; ++r) {
          const int64_t oh = ih * cs.stride_h - cs.pad_top + r * cs.dil_h;
          if (oh < 0 || oh >= oh_n) continue;
          for (int64_t s = 0; s < cs.s; ++s) {
            const int64_t ow = iw * cs.stride_w - cs.pad_left + s * cs.dil_w;
            if (ow < 0 || ow >= ow_n) continue;
            double* ap = acc.data() + ((n * oh_n + oh) * ow_n + ow) * cs.k;
            for (int64_t c = 0; c < cs.c; ++c) {
              const int64_t g = c / cpg;
              const double xv = xp[c];
              const float* wp = w + ((c * cs.r + r) * cs.s + s) * kpg;
              for (int64_t kk = 0; kk < kpg; ++kk) ap[g * kpg + kk] += xv * wp[kk];
            }
          }
        }
      }
    }
  }
  for (size_t e = 0; e < acc.size(); ++e) {
    const int64_t k = static_cast<int64_t>(e) % cs.k;
    y[e] = Epi(epi, acc[e] + (bias ? bias[k] : 0.0), residual, static_cast<int64_t>(e));
  }
}

// ---- whole graphs -------------------------------------------------------------------------------

static HostTensor ConstTensor(const Value& v, int64_t batch) {
  HostTensor t;
  t.type = v.type;
  t.dims = Concrete(v.shape, batch);
  if (v.has_sym) {
    t.type = ElemType::kInt64;
    for (const Dim& d : v.sym) t.i.push_back(d.At(batch));
  } else if (v.type == ElemType::kFloat) {
    t.f = v.fdata;
  } else {
    t.i = v.idata;
  }
  return t;
}

Result<std::map<std::string, HostTensor>> RunReference(
    const Graph& g, const std::map<std::string, HostTensor>& feeds) {
  const std::string where = "reference run of " + (g.source.empty() ? "graph" : g.source);
  // The batch: solve dim 0 of the first graph input (n*N + c) for N from its feed.
  int64_t batch = 1;
  if (!g.inputs.empty()) {
    const Value& in0 = g.values[g.inputs[0]];
    auto it = feeds.find(in0.name);
    if (it != feeds.end() && !it->second.dims.empty() && !in0.shape.empty() &&
        in0.shape[0].n != 0) {
      batch = (it->second.dims[0] - in0.shape[0].c) / in0.shape[0].n;
    }
  }

  const size_t nv = g.values.size();
  std::vector<HostTensor> env(nv);
  std::vector<char> have(nv, 0);
  for (int vi : g.inputs) {
    const Value& v = g.values[vi];
    auto it = feeds.find(v.name);
    if (it == feeds.end()) {
      return Status::InvalidArgument(where + ": no feed for graph input '" + v.name + "'");
    }
    const HostTensor& t = it->second;
    if (t.type != v.type) {
      return Status::InvalidArgument(where + ": graph input '" + v.name + "' is " +
                                     ElemTypeName(v.type) + ", the feed is " +
                                     ElemTypeName(t.type));
    }
    if (v.shape_known && t.dims != Concrete(v.shape, batch)) {
      return Status::InvalidArgument(where + ": graph input '" + v.name + "' has shape " +
                                     ShapeString(v.shape) + " (batch " + std::to_string(batch) +
                                     "), the feed is " + DimsString(t.dims));
    }
    const size_t want = static_cast<size_t>(t.elements());
    if ((t.type == ElemType::kFloat ? t.f.size() : t.i.size()) != want) {
      return Status::InvalidArgument(where + ": feed '" + v.name + "' holds the wrong number of " +
                                     "elements for " + DimsString(t.dims));
    }
    env[vi] = t;
    have[vi] = 1;
  }

  // Remaining uses, so intermediate tensors are freed after their last consumer.
  std::vector<int> uses(nv, 0);
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    for (int v : n.inputs) {
      if (v >= 0) ++uses[v];
    }
    if (n.epi.residual >= 0) ++uses[n.epi.residual];
  }
  std::vector<char> is_output(nv, 0);
  for (int v : g.outputs) is_output[v] = 1;

  auto fetch = [&](int vi) -> const HostTensor* {
    if (vi < 0 || static_cast<size_t>(vi) >= nv) return nullptr;
    if (!have[vi]) {
      const Value& v = g.values[vi];
      if (!v.is_const && !v.has_sym) return nullptr;
      env[vi] = ConstTensor(v, batch);
      have[vi] = 1;
    }
    return &env[vi];
  };

  for (const Node& node : g.nodes) {
    if (node.dead) continue;
    std::vector<const HostTensor*> ins;
    std::vector<int> ids = node.inputs;
    if (node.epi.residual >= 0) ids.push_back(node.epi.residual);
    for (int vi : ids) {
      if (vi < 0) {
        ins.push_back(nullptr);
        continue;
      }
      const HostTensor* t = fetch(vi);
      if (!t) {
        return Status::Internal(where + ": " + node.op + " node '" + node.name + "' reads '" +
                                g.values[vi].name + "', which nothing produced");
      }
      ins.push_back(t);
    }
    std::vector<HostTensor> outs;
    VRSEG_RETURN_IF_ERROR(RefRunNode(g, node, ins, &outs).WithContext(where));
    for (size_t o = 0; o < node.outputs.size() && o < outs.size(); ++o) {
      const int vi = node.outputs[o];
      if (vi < 0) continue;
      const Value& v = g.values[vi];
      if (v.shape_known && outs[o].dims != Concrete(v.shape, batch)) {
        return Status::Internal(where + ": " + node.op + " node '" + node.name + "' output '" +
                                v.name + "': shape inference says " + ShapeString(v.shape) +
                                " (batch " + std::to_string(batch) + "), the reference computed " +
                                DimsString(outs[o].dims));
      }
      env[vi] = std::move(outs[o]);
      have[vi] = 1;
    }
    for (int vi : ids) {
      if (vi >= 0 && --uses[vi] == 0 && !is_output[vi]) {
        env[vi] = HostTensor();
        have[vi] = 0;
      }
    }
  }

  std::map<std::string, HostTensor> result;
  for (int vi : g.outputs) {
    const HostTensor* t = fetch(vi);
    if (!t) {
      return Status::Internal(where + ": graph output '" + g.values[vi].name +
                              "' was never produced");
    }
    result[g.values[vi].name] = *t;
  }
  return result;
}

}  // namespace vrseg::engine
