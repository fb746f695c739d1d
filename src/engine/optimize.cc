// The graph optimiser (see ir.h): no-op removal, BatchNormalization and per-channel Mul/Add folding
// into conv weights, activation and residual fusion into conv/gemm/add epilogues, decomposed
// HardSwish recognition. Every rewrite keeps the graph's results (tests compare with RunReference).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <set>

#include "engine/ir.h"

namespace vrseg::engine {
namespace {

bool IsGraphOutput(const Graph& g, int v) {
  for (int o : g.outputs) {
    if (o == v) return true;
  }
  return false;
}
bool IsGraphInput(const Graph& g, int v) {
  for (int i : g.inputs) {
    if (i == v) return true;
  }
  return false;
}

// Live nodes and the residual epilogue reading `from` read `to` instead.
void ReplaceUses(Graph& g, int from, int to) {
  for (Node& n : g.nodes) {
    if (n.dead) continue;
    for (int& v : n.inputs) {
      if (v == from) v = to;
    }
    if (n.epi.residual == from) n.epi.residual = to;
  }
}

// Node `ni` passes `in` through to `out` unchanged: remove it. When `out` is a graph output the
// producer of `in` writes `out` instead (the graph's output names stay). False if it must stay.
bool Bypass(Graph& g, int ni, int in, int out) {
  if (IsGraphOutput(g, out)) {
    const Value& vi = g.values[in];
    if (IsGraphOutput(g, in) || IsGraphInput(g, in) || vi.is_const || vi.has_sym || vi.producer < 0) return false;
    Node& p = g.nodes[vi.producer];
    if (p.dead) return false;
    for (int& o : p.outputs) {
      if (o == in) o = out;
    }
    g.values[out].producer = vi.producer;
    g.nodes[ni].dead = true;
    ReplaceUses(g, in, out);
    return true;
  }
  g.nodes[ni].dead = true;
  ReplaceUses(g, out, in);
  return true;
}

bool AllEqual(const Value& v, float want, float tol = 1e-6f) {
  if (!v.is_const || v.type != ElemType::kFloat || v.fdata.empty()) return false;
  for (float x : v.fdata) {
    if (std::fabs(x - want) > tol * std::max(1.f, std::fabs(want))) return false;
  }
  return true;
}

bool IsConstant(const Graph& g, int v) { return v >= 0 && (g.values[v].is_const || g.values[v].has_sym); }

// The single live consumer of `v`, or -1 (none, several, or `v` is a graph output).
int SoleConsumer(const Graph& g, const std::vector<std::vector<int>>& cons, int v) {
  if (IsGraphOutput(g, v) || cons[v].size() != 1) return -1;
  return cons[v][0];
}

// Clip bounds from attributes (opset < 11) or constant inputs; false if not constant.
bool ClipBounds(const Graph& g, const Node& n, float* lo, float* hi) {
  *lo = -FLT_MAX;
  *hi = FLT_MAX;
  if (g.opset < 11) {
    *lo = n.GetFloat("min", -FLT_MAX);
    *hi = n.GetFloat("max", FLT_MAX);
    return true;
  }
  for (int i = 1; i < 3; ++i) {
    if (static_cast<int>(n.inputs.size()) <= i || n.inputs[i] < 0) continue;
    const Value& b = g.values[n.inputs[i]];
    if (!b.is_const || b.fdata.size() != 1) return false;
    (i == 1 ? *lo : *hi) = b.fdata[0];
  }
  return true;
}

// ---- remove_noops -------------------------------------------------------------------------------

int RemoveNoops(Graph& g) {
  int removed = 0;
  const auto cons = g.Consumers();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.dead || n.inputs.empty() || n.inputs[0] < 0 || n.outputs.empty()) continue;
    const int in = n.inputs[0], out = n.outputs[0];
    const Value& vi = g.values[in];
    const Value& vo = g.values[out];
    bool noop = false;
    if (n.op == "Identity") {
      noop = true;
    } else if (n.op == "Dropout") {
      noop = n.outputs.size() == 1 || (cons[n.outputs[1]].empty() && !IsGraphOutput(g, n.outputs[1]));
    } else if (n.op == "Cast") {
      noop = vi.type == vo.type;
    } else if (n.op == "Reshape" || n.op == "Flatten" || n.op == "Squeeze" || n.op == "Unsqueeze") {
      noop = vi.shape == vo.shape;
    } else if (n.op == "Transpose") {
      const auto perm = n.GetInts("perm");
      noop = !perm.empty();
      for (size_t k = 0; k < perm.size(); ++k) noop = noop && perm[k] == static_cast<int64_t>(k);
      noop = noop || vi.shape.size() <= 1;
    } else if (n.op == "Pad") {
      std::vector<int64_t> pads = n.GetInts("pads");
      if (g.opset >= 11) {
        pads.clear();
        if (n.inputs.size() >= 2 && n.inputs[1] >= 0 && g.values[n.inputs[1]].is_const) {
          pads = g.values[n.inputs[1]].idata;
        } else {
          continue;
        }
      }
      noop = true;
      for (int64_t p : pads) noop = noop && p == 0;
    } else if (n.op == "Slice") {
      noop = vi.shape == vo.shape;
      if (g.opset >= 10 && n.inputs.size() >= 5 && n.inputs[4] >= 0) {
        const Value& st = g.values[n.inputs[4]];
        if (!st.is_const) continue;
        for (int64_t s : st.idata) noop = noop && s == 1;
      }
    }
    if (noop && vi.shape == vo.shape && vi.type == vo.type && Bypass(g, static_cast<int>(i), in, out)) ++removed;
  }
  return removed;
}

// ---- weight folding -----------------------------------------------------------------------------

// A private copy of constant `v` (weights may be shared between nodes).
int CloneConst(Graph& g, int v, const std::string& suffix) {
  Value c = g.values[v];
  c.name += suffix;
  c.producer = -1;
  return g.AddValue(std::move(c));
}

// Output channel of weight row r (dim 0) / col m (dim 1): Conv weights are [K, C/g, ...]; ConvTranspose
// weights are [C, K/g, ...].
struct ConvWeights {
  int64_t k = 0;          // output channels
  int64_t d0 = 0, d1 = 0; // weight dims 0, 1
  int64_t inner = 1;      // elements per (d0, d1) pair
  int64_t group = 1;
  bool transposed = false;
  int64_t Channel(int64_t r, int64_t m) const {
    if (!transposed) return r;
    return (r / (d0 / group)) * d1 + m;
  }
};

bool ReadConvWeights(const Graph& g, const Node& conv, ConvWeights* cw) {
  if (conv.inputs.size() < 2 || !g.values[conv.inputs[1]].is_const) return false;
  const Value& w = g.values[conv.inputs[1]];
  if (w.shape.size() < 3) return false;
  cw->transposed = conv.op == "ConvTranspose";
  cw->group = conv.GetInt("group", 1);
  cw->d0 = w.shape[0].c;
  cw->d1 = w.shape[1].c;
  cw->inner = 1;
  for (size_t i = 2; i < w.shape.size(); ++i) cw->inner *= w.shape[i].c;
  cw->k = cw->transposed ? cw->d1 * cw->group : cw->d0;
  if (conv.inputs.size() >= 3 && conv.inputs[2] >= 0 && !g.values[conv.inputs[2]].is_const) return false;
  return static_cast<int64_t>(w.fdata.size()) == cw->d0 * cw->d1 * cw->inner;
}

// conv weights *= scale[k], bias = bias * scale[k] + shift[k] (fresh weight and bias values).
void ApplyChannelAffine(Graph& g, int ni, const ConvWeights& cw, const std::vector<float>& scale,
                        const std::vector<float>& shift) {
  const int wv = CloneConst(g, g.nodes[ni].inputs[1], "/folded");
  std::vector<float>& w = g.values[wv].fdata;
  for (int64_t r = 0; r < cw.d0; ++r) {
    for (int64_t m = 0; m < cw.d1; ++m) {
      const float s = scale[cw.Channel(r, m)];
      float* p = w.data() + (r * cw.d1 + m) * cw.inner;
      for (int64_t e = 0; e < cw.inner; ++e) p[e] *= s;
    }
  }
  Node& n = g.nodes[ni];
  std::vector<float> bias(cw.k, 0.f);
  if (n.inputs.size() >= 3 && n.inputs[2] >= 0) bias = g.values[n.inputs[2]].fdata;
  for (int64_t k = 0; k < cw.k; ++k) bias[k] = bias[k] * scale[k] + shift[k];
  Value b;
  b.name = n.name + "/bias_folded";
  b.type = ElemType::kFloat;
  b.shape = {Dim::Const(cw.k)};
  b.shape_known = true;
  b.is_const = true;
  b.fdata = std::move(bias);
  const int bv = g.AddValue(std::move(b));
  Node& nn = g.nodes[ni];
  nn.inputs[1] = wv;
  if (nn.inputs.size() < 3) nn.inputs.resize(3, -1);
  nn.inputs[2] = bv;
}

// The conv's output now comes out of `later` (a folded node's output).
void TakeOverOutput(Graph& g, int conv, int later) {
  const int out = g.nodes[later].outputs[0];
  g.nodes[conv].outputs[0] = out;
  g.values[out].producer = conv;
  g.nodes[later].dead = true;
}

bool IsConvOp(const std::string& op) { return op == "Conv" || op == "ConvTranspose"; }

int FoldBatchNorm(Graph& g) {
  int folded = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto cons = g.Consumers();
    if (g.nodes[i].dead || g.nodes[i].op != "BatchNormalization") continue;
    const Node& bn = g.nodes[i];
    const int x = bn.inputs[0];
    const int pi = g.values[x].producer;
    if (pi < 0 || !IsConvOp(g.nodes[pi].op) || g.nodes[pi].dead) continue;
    const Node& conv = g.nodes[pi];
    if (conv.epi.act != Act::kNone || conv.epi.residual >= 0 || SoleConsumer(g, cons, x) != static_cast<int>(i)) continue;
    bool consts = true;
    for (int k = 1; k < 5; ++k) consts = consts && g.values[bn.inputs[k]].is_const;
    ConvWeights cw;
    if (!consts || !ReadConvWeights(g, conv, &cw)) continue;
    const auto& sc = g.values[bn.inputs[1]].fdata;
    const auto& bb = g.values[bn.inputs[2]].fdata;
    const auto& mean = g.values[bn.inputs[3]].fdata;
    const auto& var = g.values[bn.inputs[4]].fdata;
    if (static_cast<int64_t>(sc.size()) != cw.k || static_cast<int64_t>(bb.size()) != cw.k ||
        static_cast<int64_t>(mean.size()) != cw.k || static_cast<int64_t>(var.size()) != cw.k) {
      continue;
    }
    const float eps = bn.GetFloat("epsilon", 1e-5f);
    std::vector<float> scale(cw.k), shift(cw.k);
    for (int64_t k = 0; k < cw.k; ++k) {
      const double s = static_cast<double>(sc[k]) / std::sqrt(static_cast<double>(var[k]) + eps);
      scale[k] = static_cast<float>(s);
      shift[k] = static_cast<float>(static_cast<double>(bb[k]) - static_cast<double>(mean[k]) * s);
    }
    ApplyChannelAffine(g, pi, cw, scale, shift);
    TakeOverOutput(g, pi, static_cast<int>(i));
    ++folded;
  }
  return folded;
}

// A constant that broadcasts per output channel against a conv output of rank r: all dims 1
// except (right-aligned) the channel dim, which is 1 or K. Returns per-channel values.
bool PerChannel(const Value& c, size_t out_rank, int64_t k, std::vector<float>* per) {
  if (!c.is_const || c.type != ElemType::kFloat || c.shape.size() > out_rank) return false;
  const size_t off = out_rank - c.shape.size();
  int64_t ch = 1;
  for (size_t i = 0; i < c.shape.size(); ++i) {
    const int64_t d = c.shape[i].c;
    if (i + off == 1) {
      if (d != 1 && d != k) return false;
      ch = d;
    } else if (d != 1) {
      return false;
    }
  }
  per->assign(k, 0.f);
  for (int64_t j = 0; j < k; ++j) (*per)[j] = c.fdata[ch == 1 ? 0 : j];
  return true;
}

int FoldConstMulAdd(Graph& g) {
  int folded = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto cons = g.Consumers();
    Node& n = g.nodes[i];
    if (n.dead || n.inputs.size() != 2) continue;
    if (n.op != "Mul" && n.op != "Add" && n.op != "Sub" && n.op != "Div") continue;
    for (int side = 0; side < 2; ++side) {
      if ((n.op == "Sub" || n.op == "Div") && side == 1) break;
      const int x = n.inputs[side], c = n.inputs[1 - side];
      int pi = g.values[x].producer;
      if (pi < 0 || g.nodes[pi].dead || IsConstant(g, x)) continue;
      if (n.op == "Add" && g.nodes[pi].op == "Add" && g.nodes[pi].epi == Epilogue{} &&
          g.nodes[pi].inputs.size() == 2 && SoleConsumer(g, cons, x) == static_cast<int>(i)) {
        // (conv + b) + c  →  (conv + c) + b: the constant moves into the conv's bias, the inner Add
        // (later a residual epilogue) takes over the outer one's output.
        const Node& inner = g.nodes[pi];
        int host = -1;
        for (int k = 0; k < 2 && host < 0; ++k) {
          const int a = inner.inputs[k];
          const int ap = a >= 0 ? g.values[a].producer : -1;
          if (ap >= 0 && !g.nodes[ap].dead && g.nodes[ap].op == "Conv" && g.nodes[ap].epi == Epilogue{} &&
              SoleConsumer(g, cons, a) == pi && g.values[a].shape == g.values[x].shape) {
            host = ap;
          }
        }
        ConvWeights cw;
        std::vector<float> per;
        if (host < 0 || !ReadConvWeights(g, g.nodes[host], &cw) ||
            !PerChannel(g.values[c], g.values[x].shape.size(), cw.k, &per) ||
            !(g.values[n.outputs[0]].shape == g.values[x].shape)) {
          continue;
        }
        ApplyChannelAffine(g, host, cw, std::vector<float>(cw.k, 1.f), per);
        TakeOverOutput(g, pi, static_cast<int>(i));
        ++folded;
        break;
      }
      if (g.nodes[pi].op != "Conv") continue;
      const Node& conv = g.nodes[pi];
      if (conv.epi.act != Act::kNone || conv.epi.residual >= 0 || SoleConsumer(g, cons, x) != static_cast<int>(i)) continue;
      if (!(g.values[n.outputs[0]].shape == g.values[x].shape)) continue;
      ConvWeights cw;
      std::vector<float> per;
      if (!ReadConvWeights(g, conv, &cw) || !PerChannel(g.values[c], g.values[x].shape.size(), cw.k, &per)) continue;
      std::vector<float> scale(cw.k, 1.f), shift(cw.k, 0.f);
      bool ok = true;
      for (int64_t k = 0; k < cw.k; ++k) {
        if (n.op == "Mul") scale[k] = per[k];
        if (n.op == "Div") {
          ok = ok && per[k] != 0.f;
          scale[k] = 1.f / per[k];
        }
        if (n.op == "Add") shift[k] = per[k];
        if (n.op == "Sub") shift[k] = -per[k];
      }
      if (!ok) continue;
      ApplyChannelAffine(g, pi, cw, scale, shift);
      TakeOverOutput(g, pi, static_cast<int>(i));
      ++folded;
      break;
    }
  }
  return folded;
}

// ---- decomposed HardSwish -----------------------------------------------------------------------

// Recognises x * HardSigmoid(x) (alpha 1/6, beta 1/2) and x * Clip(x + 3, 0, 6) / 6 (or * 1/6, in
// any association and operand order) and rewrites the last node as HardSwish(x).
int FuseHardSwish(Graph& g) {
  int fused = 0;
  auto producer = [&](int v, const char* op) -> int {
    if (v < 0) return -1;
    const int p = g.values[v].producer;
    return p >= 0 && !g.nodes[p].dead && g.nodes[p].op == op ? p : -1;
  };
  // Clip(x + 3, 0, 6) (or HardSigmoid-like is handled apart): returns x, or -1.
  auto relu6_x_plus_3 = [&](int v, const std::vector<std::vector<int>>& cons, std::vector<int>* chain) -> int {
    const int ci = producer(v, "Clip");
    if (ci < 0 || SoleConsumer(g, cons, v) < 0) return -1;
    float lo, hi;
    if (!ClipBounds(g, g.nodes[ci], &lo, &hi) || lo != 0.f || hi != 6.f) return -1;
    const int a = g.nodes[ci].inputs[0];
    const int ai = producer(a, "Add");
    if (ai < 0 || SoleConsumer(g, cons, a) != ci) return -1;
    const Node& add = g.nodes[ai];
    for (int s = 0; s < 2; ++s) {
      if (AllEqual(g.values[add.inputs[1 - s]], 3.f) && !IsConstant(g, add.inputs[s])) {
        chain->push_back(ci);
        chain->push_back(ai);
        return add.inputs[s];
      }
    }
    return -1;
  };
  // v = y * (1/6) or y / 6 → y, else -1. Exporters round 1/6 (fp16: 0.166626); *factor receives
  // the exact ratio to 1/6, which the rewrite keeps as a scale after the HardSwish.
  auto sixth = [&](const Node& n, double* factor) -> int {
    if (n.inputs.size() != 2) return -1;
    if (n.op == "Div" && AllEqual(g.values[n.inputs[1]], 6.f, 1e-3f)) {
      *factor = 6.0 / g.values[n.inputs[1]].fdata[0];
      return n.inputs[0];
    }
    if (n.op == "Mul") {
      for (int s = 0; s < 2; ++s) {
        if (AllEqual(g.values[n.inputs[1 - s]], 1.f / 6.f, 1e-3f)) {
          *factor = 6.0 * g.values[n.inputs[1 - s]].fdata[0];
          return n.inputs[s];
        }
      }
    }
    return -1;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto cons = g.Consumers();
    Node& n = g.nodes[i];
    if (n.dead || n.inputs.size() != 2 || (n.op != "Mul" && n.op != "Div")) continue;
    std::vector<int> chain;
    int x = -1;
    double factor = 1.0;
    if (n.op == "Mul") {
      // x * HardSigmoid(x)
      for (int s = 0; s < 2 && x < 0; ++s) {
        const int h = n.inputs[1 - s];
        const int hi = producer(h, "HardSigmoid");
        if (hi >= 0 && g.nodes[hi].inputs[0] == n.inputs[s] && SoleConsumer(g, cons, h) == static_cast<int>(i) &&
            std::fabs(g.nodes[hi].GetFloat("alpha", 0.2f) - 1.f / 6.f) < 1e-6f &&
            std::fabs(g.nodes[hi].GetFloat("beta", 0.5f) - 0.5f) < 1e-6f) {
          x = n.inputs[s];
          chain = {hi};
        }
      }
      // x * (Clip(x+3,0,6) / 6)
      for (int s = 0; s < 2 && x < 0; ++s) {
        const int q = n.inputs[1 - s];
        const int qi = g.values[q].producer;
        if (qi < 0 || g.nodes[qi].dead || SoleConsumer(g, cons, q) != static_cast<int>(i)) continue;
        const int y = sixth(g.nodes[qi], &factor);
        std::vector<int> c2;
        if (y >= 0 && relu6_x_plus_3(y, cons, &c2) == n.inputs[s]) {
          x = n.inputs[s];
          chain = c2;
          chain.push_back(qi);
        }
      }
    }
    if (n.op == "Mul") {
      // (x * (1/6)) * Clip(x+3,0,6), or (x / 6) * Clip(...)
      for (int s = 0; s < 2 && x < 0; ++s) {
        std::vector<int> c2;
        const int cx = relu6_x_plus_3(n.inputs[1 - s], cons, &c2);
        const int m = n.inputs[s];
        const int mi = m >= 0 ? g.values[m].producer : -1;
        if (cx < 0 || mi < 0 || g.nodes[mi].dead || SoleConsumer(g, cons, m) != static_cast<int>(i)) continue;
        if (sixth(g.nodes[mi], &factor) == cx) {
          x = cx;
          chain = c2;
          chain.push_back(mi);
        }
      }
    }
    if (x < 0) {
      // (x * Clip(x+3,0,6)) / 6 or * (1/6)
      const int m = sixth(n, &factor);
      const int mi = producer(m, "Mul");
      if (mi >= 0 && SoleConsumer(g, cons, m) == static_cast<int>(i)) {
        const Node& mul = g.nodes[mi];
        for (int s = 0; s < 2 && x < 0; ++s) {
          std::vector<int> c2;
          if (relu6_x_plus_3(mul.inputs[1 - s], cons, &c2) == mul.inputs[s] && mul.inputs[s] >= 0) {
            x = mul.inputs[s];
            chain = c2;
            chain.push_back(mi);
          }
        }
      }
    }
    if (x < 0 || !(g.values[x].shape == g.values[n.outputs[0]].shape)) continue;
    for (int c : chain) g.nodes[c].dead = true;
    if (std::fabs(factor - 1.0) < 1e-7) {
      Node& h = g.nodes[i];
      h.op = "HardSwish";
      h.inputs = {x};
      h.attrs.clear();
    } else {
      // HardSwish(x) * factor: the last chain node becomes the HardSwish, this node the scale
      // (fold_scale_into_conv may move it into the next conv's weights).
      const int host = *std::max_element(chain.begin(), chain.end());
      Value hv = g.values[n.outputs[0]];
      hv.name = g.nodes[i].name + "/hardswish";
      hv.producer = host;
      const int hs = g.AddValue(std::move(hv));
      Value sv;
      sv.name = g.nodes[i].name + "/scale";
      sv.shape_known = true;
      sv.is_const = true;
      sv.fdata = {static_cast<float>(factor)};
      const int sc = g.AddValue(std::move(sv));
      Node& h = g.nodes[host];
      h.dead = false;
      h.op = "HardSwish";
      h.name = g.nodes[i].name + "/hardswish";
      h.inputs = {x};
      h.outputs = {hs};
      h.attrs.clear();
      h.epi = Epilogue{};
      Node& m = g.nodes[i];
      m.op = "Mul";
      m.inputs = {hs, sc};
      m.attrs.clear();
    }
    ++fused;
  }
  return fused;
}

// ---- activation and residual fusion -------------------------------------------------------------

bool ActOf(const Graph& g, const Node& n, Epilogue* e) {
  e->alpha = 0;
  e->beta = 0;
  if (n.op == "Relu") {
    e->act = Act::kRelu;
  } else if (n.op == "Clip") {
    if (!ClipBounds(g, n, &e->alpha, &e->beta)) return false;
    e->act = Act::kClip;
  } else if (n.op == "HardSwish") {
    e->act = Act::kHardSwish;
  } else if (n.op == "HardSigmoid") {
    e->act = Act::kHardSigmoid;
    e->alpha = n.GetFloat("alpha", 0.2f);
    e->beta = n.GetFloat("beta", 0.5f);
  } else if (n.op == "Sigmoid") {
    e->act = Act::kSigmoid;
  } else if (n.op == "Tanh") {
    e->act = Act::kTanh;
  } else if (n.op == "LeakyRelu") {
    e->act = Act::kLeakyRelu;
    e->alpha = n.GetFloat("alpha", 0.01f);
  } else {
    return false;
  }
  return true;
}

int FuseActivations(Graph& g) {
  static const std::set<std::string> kHosts = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add"};
  int fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto cons = g.Consumers();
    Node& a = g.nodes[i];
    if (a.dead || a.inputs.empty() || a.inputs[0] < 0) continue;
    Epilogue e;
    if (!ActOf(g, a, &e)) continue;
    const int x = a.inputs[0];
    const int pi = g.values[x].producer;
    if (pi < 0 || g.nodes[pi].dead || !kHosts.count(g.nodes[pi].op)) continue;
    Node& p = g.nodes[pi];
    if (p.epi.act != Act::kNone || (p.epi.residual >= 0 && p.epi.residual_after_act)) continue;
    if (SoleConsumer(g, cons, x) != static_cast<int>(i) || g.values[x].type != ElemType::kFloat) continue;
    if (p.op == "Add" && (IsConstant(g, p.inputs[0]) && IsConstant(g, p.inputs[1]))) continue;
    p.epi.act = e.act;
    p.epi.alpha = e.alpha;
    p.epi.beta = e.beta;
    TakeOverOutput(g, pi, static_cast<int>(i));
    ++fused;
  }
  return fused;
}

// Re-sorts the live nodes topologically, keeping the present order wherever it is already valid
// (each node goes as early as its inputs allow, ties in the old order); dead nodes go last.
void StableTopoSort(Graph& g) {
  const size_t n = g.nodes.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (size_t i = 0; i < n; ++i) {
    const Node& nd = g.nodes[i];
    if (nd.dead) continue;
    std::vector<int> reads = nd.inputs;
    if (nd.epi.residual >= 0) reads.push_back(nd.epi.residual);
    for (int v : reads) {
      const int p = v >= 0 ? g.values[v].producer : -1;
      if (p >= 0 && p != static_cast<int>(i) && !g.nodes[p].dead) {
        ++pending[i];
        users[p].push_back(static_cast<int>(i));
      }
    }
  }
  std::set<int> ready;
  for (size_t i = 0; i < n; ++i) {
    if (!g.nodes[i].dead && pending[i] == 0) ready.insert(static_cast<int>(i));
  }
  std::vector<int> order;
  while (!ready.empty()) {
    const int i = *ready.begin();
    ready.erase(ready.begin());
    order.push_back(i);
    for (int u : users[i]) {
      if (--pending[u] == 0) ready.insert(u);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (g.nodes[i].dead) order.push_back(static_cast<int>(i));
  }
  if (order.size() != n) return;  // a cycle: leave the graph as it is (Validate reports it)
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
  for (Value& v : g.values) v.producer = -1;
  for (size_t i = 0; i < n; ++i) {
    if (g.nodes[i].dead) continue;
    for (int o : g.nodes[i].outputs) {
      if (o >= 0) g.values[o].producer = static_cast<int>(i);
    }
  }
}

int FuseResidual(Graph& g) {
  int fused = 0;
  bool reorder = false;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto cons = g.Consumers();
    Node& add = g.nodes[i];
    if (add.dead || add.op != "Add" || add.inputs.size() != 2 || add.epi.residual >= 0) continue;
    // First a conv that runs after b (no reordering), then one that runs before it.
    for (int k = 0; k < 4; ++k) {
      const int s = k % 2;
      const bool later_b = k >= 2;
      const int a = add.inputs[s], b = add.inputs[1 - s];
      if (a < 0 || b < 0 || IsConstant(g, b)) continue;
      const int pi = g.values[a].producer;
      if (pi < 0 || g.nodes[pi].dead) continue;
      Node& p = g.nodes[pi];
      if (p.op != "Conv" && p.op != "ConvTranspose" && p.op != "Gemm") continue;
      if (p.epi.residual >= 0 || SoleConsumer(g, cons, a) != static_cast<int>(i)) continue;
      if (!(g.values[a].shape == g.values[b].shape) || !(g.values[add.outputs[0]].shape == g.values[a].shape)) continue;
      // b need not come before the conv in node order: the conv's output feeds only this Add,
      // so b cannot depend on it, and the nodes are re-sorted below (the conv moves after b).
      const int bp = g.values[b].producer;
      if ((bp > pi) != later_b) continue;
      if (later_b) reorder = true;
      Epilogue e = p.epi;
      e.residual = b;
      e.residual_after_act = p.epi.act != Act::kNone;
      if (add.epi.act != Act::kNone) {
        if (p.epi.act != Act::kNone) continue;  // act2(act1(conv) + b): not one epilogue
        e.act = add.epi.act;
        e.alpha = add.epi.alpha;
        e.beta = add.epi.beta;
        e.residual_after_act = false;
      }
      p.epi = e;
      TakeOverOutput(g, pi, static_cast<int>(i));
      ++fused;
      break;
    }
  }
  if (reorder) StableTopoSort(g);
  return fused;
}

// Where a scalar factor s on value v can be absorbed: every consumer is a Conv reading v as its
// data input (its weights take s; also MatMul/Gemm with constant B), or commutes with the scale (average pools, resize, max pool for
// s > 0, reshapes, a Mul by another value) and passes it on. Convs that take s are collected in `convs`; a
// node reached twice (s would be squared) or anything else fails.
bool Absorbs(const Graph& g, const std::vector<std::vector<int>>& cons, int v, float s, std::set<int>* seen,
             std::vector<int>* convs) {
  if (IsGraphOutput(g, v) || cons[v].empty()) return false;
  for (int ci : cons[v]) {
    if (!seen->insert(ci).second) return false;
    const Node& c = g.nodes[ci];
    if (c.epi.residual == v) return false;
    if (c.op == "Conv" || c.op == "MatMul" || c.op == "Gemm") {
      if (c.inputs[0] != v || c.inputs.size() < 2 || !g.values[c.inputs[1]].is_const) return false;
      if (c.op == "Gemm" && c.GetInt("transA", 0) != 0) return false;
      for (size_t k = 1; k < c.inputs.size(); ++k) {
        if (c.inputs[k] == v) return false;
      }
      convs->push_back(ci);
      continue;
    }
    const bool pass = c.op == "AveragePool" || c.op == "GlobalAveragePool" || c.op == "Resize" ||
                      c.op == "Reshape" || c.op == "Flatten" || c.op == "Squeeze" || c.op == "Unsqueeze" ||
                      c.op == "Upsample" || (c.op == "MaxPool" && s > 0) ||
                      (c.op == "Mul" && c.inputs.size() == 2 && c.epi == Epilogue{} &&
                       (c.inputs[0] == v) != (c.inputs[1] == v) && !IsConstant(g, c.inputs[0]) &&
                       !IsConstant(g, c.inputs[1]));
    if (!pass || c.outputs.size() != 1) return false;
    if (c.op != "Mul") {
      if (c.inputs[0] != v) return false;
      for (size_t k = 1; k < c.inputs.size(); ++k) {
        if (c.inputs[k] == v) return false;
      }
    }
    if (g.values[c.outputs[0]].type != ElemType::kFloat) return false;
    if (!Absorbs(g, cons, c.outputs[0], s, seen, convs)) return false;
  }
  return true;
}

// Mul(h, scalar s) whose result is absorbed downstream (see Absorbs): the scale moves into the
// weights of the convs that read it (conv(s*x) = conv'(x): zero padding scales too; bias and
// epilogue unchanged) and the Mul goes away.
int FoldScaleIntoConv(Graph& g) {
  int folded = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto cons = g.Consumers();
    Node& n = g.nodes[i];
    if (n.dead || n.op != "Mul" || n.inputs.size() != 2 || n.epi.act != Act::kNone) continue;
    for (int side = 0; side < 2; ++side) {
      const int h = n.inputs[side], c = n.inputs[1 - side];
      const Value& cv = g.values[c];
      if (IsConstant(g, h) || !cv.is_const || cv.type != ElemType::kFloat || cv.fdata.size() != 1) continue;
      const int out = n.outputs[0];
      if (!(g.values[h].shape == g.values[out].shape)) continue;
      const float s = cv.fdata[0];
      std::set<int> seen;
      std::vector<int> convs;
      if (!Absorbs(g, cons, out, s, &seen, &convs)) continue;
      for (int ci : convs) {
        const int wv = CloneConst(g, g.nodes[ci].inputs[1], "/scaled");
        for (float& w : g.values[wv].fdata) w *= s;
        g.nodes[ci].inputs[1] = wv;
      }
      g.nodes[i].dead = true;
      ReplaceUses(g, out, h);
      ++folded;
      break;
    }
  }
  return folded;
}

// ---- squeeze-excite -----------------------------------------------------------------------------

// A 1x1, stride-1, unpadded, ungrouped Conv with constant weights (and bias) and no residual.
bool PointwiseConv(const Graph& g, const Node& n) {
  if (n.op != "Conv" || n.epi.residual >= 0 || n.inputs.size() < 2) return false;
  if (!IsConstant(g, n.inputs[1])) return false;
  if (n.inputs.size() > 2 && n.inputs[2] >= 0 && !IsConstant(g, n.inputs[2])) return false;
  const Shape& w = g.values[n.inputs[1]].shape;
  if (w.size() != 4 || !(w[2] == Dim::Const(1)) || !(w[3] == Dim::Const(1))) return false;
  if (n.GetInt("group", 1) != 1) return false;
  for (int64_t v : n.GetInts("strides", {1, 1})) {
    if (v != 1) return false;
  }
  for (int64_t v : n.GetInts("pads", {0, 0, 0, 0})) {
    if (v != 0) return false;
  }
  const std::string ap = n.GetString("auto_pad", "NOTSET");
  return ap == "NOTSET" || ap == "VALID";
}

// Global average pool (GlobalAveragePool, or an AveragePool whose window is the whole unpadded
// image) → 1x1 conv (+ activation) → 1x1 conv (+ activation), each result read only by the next:
// one SqueezeExcite node (ir.h), one kernel instead of three (at batch 1 each is a few
// microseconds of launch and dependency wait for almost no work).
int FuseSqueezeExcite(Graph& g) {
  int fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& pool = g.nodes[i];
    if (pool.dead || pool.inputs.empty() || pool.outputs.empty() || pool.epi.act != Act::kNone) {
      continue;
    }
    const Value& x = g.values[pool.inputs[0]];
    if (x.shape.size() != 4 || x.type != ElemType::kFloat) continue;
    bool global = pool.op == "GlobalAveragePool";
    if (pool.op == "AveragePool") {
      const auto k = pool.GetInts("kernel_shape");
      const auto pads = pool.GetInts("pads", {0, 0, 0, 0});
      global = k.size() == 2 && x.shape[2] == Dim::Const(k[0]) && x.shape[3] == Dim::Const(k[1]) &&
               std::all_of(pads.begin(), pads.end(), [](int64_t v) { return v == 0; }) &&
               pool.GetString("auto_pad", "NOTSET") != "SAME_UPPER" &&
               pool.GetString("auto_pad", "NOTSET") != "SAME_LOWER";
    }
    if (!global || !x.shape[1].is_const() || !x.shape[2].is_const() || !x.shape[3].is_const()) {
      continue;
    }
    // One block an image pools the input in the fused kernel: past this size a separate pool
    // spread over many blocks is faster than the launches the fusion saves (lraspp's 128x128x72
    // gate took 4x longer fused on an H200).
    if (x.shape[1].c * x.shape[2].c * x.shape[3].c > kMaxFusedSqueezeExciteElements) continue;
    const auto cons = g.Consumers();  // only for pools that qualify so far
    const int p = pool.outputs[0];
    const int ci1 = SoleConsumer(g, cons, p);
    if (ci1 < 0 || !PointwiseConv(g, g.nodes[ci1]) || g.nodes[ci1].inputs[0] != p) continue;
    const int q = g.nodes[ci1].outputs[0];
    const int ci2 = SoleConsumer(g, cons, q);
    if (ci2 < 0 || !PointwiseConv(g, g.nodes[ci2]) || g.nodes[ci2].inputs[0] != q) continue;
    Node& c1 = g.nodes[ci1];
    Node& c2 = g.nodes[ci2];
    if (!(g.values[c1.inputs[1]].shape[1] == x.shape[1])) continue;
    const int64_t ch1 = g.values[c1.inputs[1]].shape[0].c, ch2 = g.values[c2.inputs[1]].shape[0].c;
    if (SqueezeExciteSharedBytes(x.shape[1].c, ch1, ch2) > kSqueezeExciteMaxSharedBytes) continue;
    Node se;
    se.name = c2.name + "/squeeze_excite";
    se.op = "SqueezeExcite";
    auto opt = [](const Node& n, size_t k) { return k < n.inputs.size() ? n.inputs[k] : -1; };
    se.inputs = {pool.inputs[0], c1.inputs[1], opt(c1, 2), c2.inputs[1], opt(c2, 2)};
    se.outputs = {c2.outputs[0]};
    Attr a;
    a.kind = Attr::kInt;
    a.i = static_cast<int64_t>(c1.epi.act);
    se.attrs["act1"] = a;
    a.kind = Attr::kFloat;
    a.f = c1.epi.alpha;
    se.attrs["act1_alpha"] = a;
    a.f = c1.epi.beta;
    se.attrs["act1_beta"] = a;
    se.epi.act = c2.epi.act;
    se.epi.alpha = c2.epi.alpha;
    se.epi.beta = c2.epi.beta;
    // The node takes the second conv's place (its inputs are all defined before it).
    g.values[c2.outputs[0]].producer = ci2;
    c1.dead = true;
    pool.dead = true;
    g.nodes[ci2] = std::move(se);
    ++fused;
  }
  return fused;
}

}  // namespace

Result<std::vector<std::string>> Optimize(Graph& g, const OptimizeOptions& options) {
  std::vector<std::string> report;
  g.Compact();
  if (options.remove_noops) {
    const int n = RemoveNoops(g);
    report.push_back("remove_noops: " + std::to_string(n) + " removed");
  }
  if (options.fold_batchnorm) {
    const int n = FoldBatchNorm(g);
    report.push_back("fold_batchnorm: " + std::to_string(n) + " folded");
  }
  if (options.fold_const_mul_add) {
    const int n = FoldConstMulAdd(g);
    report.push_back("fold_const_mul_add: " + std::to_string(n) + " folded");
  }
  if (options.fuse_activations) {
    const int h = FuseHardSwish(g);
    report.push_back("hardswish_patterns: " + std::to_string(h) + " recognised");
  }
  int acts = 0;
  if (options.fuse_activations) acts += FuseActivations(g);
  if (options.fuse_residual) {
    const int n = FuseResidual(g);
    report.push_back("fuse_residual: " + std::to_string(n) + " fused");
  }
  if (options.fuse_activations) {
    acts += FuseActivations(g);
    report.push_back("fuse_activations: " + std::to_string(acts) + " fused");
  }
  if (options.fold_const_mul_add) {
    const int n = FoldScaleIntoConv(g);
    report.push_back("fold_scale_into_conv: " + std::to_string(n) + " folded");
  }
  if (options.fuse_squeeze_excite) {
    const int n = FuseSqueezeExcite(g);
    report.push_back("fuse_squeeze_excite: " + std::to_string(n) + " fused");
  }
  g.Compact();
  Status s = g.Validate();
  if (!s.ok()) return Status::Internal("optimised graph is inconsistent: " + s.message());
  return report;
}

Result<Graph> LoadAndOptimize(const std::string& path, const FrontendOptions& options,
                              std::vector<std::string>* report) {
  VRSEG_ASSIGN_OR_RETURN(Graph g, ImportOnnx(path, options.import));
  VRSEG_RETURN_IF_ERROR(InferShapes(g));
  g.Compact();
  // Every dimension must stay non-negative over the batch range (e.g. a Reshape to [N-2, ...]).
  for (const Value& v : g.values) {
    for (int64_t b : {options.import.min_batch, options.import.max_batch}) {
      for (const Dim& d : v.shape) {
        if (d.At(b) < 0) {
          return Status::InvalidModel(path + ": value '" + v.name + "' " + ShapeString(v.shape) +
                                      " has a negative dimension at batch " + std::to_string(b));
        }
      }
    }
  }
  VRSEG_ASSIGN_OR_RETURN(std::vector<std::string> lines, Optimize(g, options.optimize));
  if (options.assign_layouts) VRSEG_RETURN_IF_ERROR(AssignLayouts(g));
  if (report) {
    int live = 0;
    for (const Node& n : g.nodes) live += n.dead ? 0 : 1;
    lines.push_back("graph: " + std::to_string(live) + " nodes, " + std::to_string(g.values.size()) + " values");
    *report = std::move(lines);
  }
  return g;
}

}  // namespace vrseg::engine
