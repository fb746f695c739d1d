// engine/ref_util.h (private to the CPU reference) — shape and broadcasting helpers shared by
// ref.cc and ref_ops.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ref.h"

namespace vrseg::engine::refutil {

inline int64_t Numel(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Row-major strides of `dims`.
inline std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

inline std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

// Numpy broadcast of two shapes (right-aligned); false when they are incompatible.
inline bool BroadcastDims(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                          std::vector<int64_t>* out) {
  size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1) {
      (*out)[i] = da;
    } else if (da == 1) {
      (*out)[i] = db;
    } else {
      return false;
    }
  }
  return true;
}

// For each element of the output shape `odims`, the offset into an input of shape `idims`
// broadcast to it (idims right-aligned, size-1 dims repeated). Precondition: broadcastable.
inline std::vector<int64_t> BroadcastIndex(const std::vector<int64_t>& idims,
                                           const std::vector<int64_t>& odims) {
  const size_t r = odims.size();
  std::vector<int64_t> bstride(r, 0);
  std::vector<int64_t> istr = Strides(idims);
  for (size_t i = 0; i < idims.size(); ++i) {
    size_t o = r - idims.size() + i;
    bstride[o] = idims[i] == 1 ? 0 : istr[i];
  }
  const int64_t n = Numel(odims);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<int64_t> counter(r, 0);
  int64_t off = 0;
  for (int64_t e = 0; e < n; ++e) {
    idx[e] = off;
    // Increment the multi-index, carrying.
    for (int d = static_cast<int>(r) - 1; d >= 0; --d) {
      ++counter[d];
      off += bstride[d];
      if (counter[d] < odims[d]) break;
      off -= bstride[d] * counter[d];
      counter[d] = 0;
    }
  }
  return idx;
}

}  // namespace vrseg::engine::refutil
