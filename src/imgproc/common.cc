#include <algorithm>
#include <cmath>
#include <string>

#include "imgproc/internal.h"

namespace vrseg::imgproc_internal {

std::string Describe(const Frame& f) {
  return "frame " + std::to_string(f.index) + " (stream " + std::to_string(f.stream_id) + ", " +
         std::to_string(f.width) + "x" + std::to_string(f.height) + " " +
         std::string(PixelFormatName(f.format)) + ")";
}

Status CheckHostFrameAnyFormat(const Frame& f, const char* what) {
  if (f.empty() || f.width <= 0 || f.height <= 0) {
    return Status::InvalidArgument(std::string(what) + ": empty " + Describe(f));
  }
  if (f.memory == MemoryKind::kDevice) {
    return Status::InvalidArgument(std::string(what) + ": " + Describe(f) +
                                   " is a device frame; this is the host path");
  }
  if (f.format == PixelFormat::kUnknown) {
    return Status::Unsupported(std::string(what) + ": " + Describe(f) + " has no pixel format");
  }
  for (int p = 0; p < PlaneCount(f.format); ++p) {
    if (f.data[p] == nullptr) {
      return Status::InvalidArgument(std::string(what) + ": " + Describe(f) + " plane " +
                                     std::to_string(p) + " is null");
    }
    const int64_t row = PlaneRowBytes(f.format, f.width, p);
    if (f.pitch[p] < row) {
      return Status::InvalidArgument(std::string(what) + ": " + Describe(f) + " plane " +
                                     std::to_string(p) + " pitch " + std::to_string(f.pitch[p]) +
                                     " < row bytes " + std::to_string(row));
    }
  }
  return Status::Ok();
}

Status CheckHostFrame(const Frame& f, PixelFormat format, const char* what) {
  if (!f.empty() && f.format != format) {
    return Status::InvalidArgument(std::string(what) + ": " + Describe(f) + " must be " +
                                   std::string(PixelFormatName(format)));
  }
  return CheckHostFrameAnyFormat(f, what);
}

void HalfPixelTable(int out_n, int in_n, double ratio, double offset, int* i0, int* i1, float* w) {
  for (int d = 0; d < out_n; ++d) {
    double s = offset + (d + 0.5) * ratio - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(in_n - 1));
    const int a = static_cast<int>(std::floor(s));
    i0[d] = a;
    i1[d] = std::min(a + 1, in_n - 1);
    w[d] = static_cast<float>(s - a);
  }
}

}  // namespace vrseg::imgproc_internal
