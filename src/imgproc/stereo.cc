// Stereo helpers: views into one frame carrying two eyes, and the merge back.

#include <algorithm>
#include <cstring>
#include <string>

#include "imgproc/internal.h"
#include "vrseg/imgproc.h"

namespace vrseg {

using imgproc_internal::CheckHostFrameAnyFormat;

namespace {

bool IsPlanar(PixelFormat f) { return f == PixelFormat::kNV12 || f == PixelFormat::kI420; }

// A view of `f` starting at pixel (x, y), size w x h (x, y even for planar formats).
Frame View(const Frame& f, int x, int y, int w, int h) {
  Frame v = f;  // shares storage and copies metadata
  v.width = w;
  v.height = h;
  for (int p = 0; p < PlaneCount(f.format); ++p) {
    int64_t xb, yr;
    if (p == 0) {
      xb = static_cast<int64_t>(x) * BytesPerPixel(f.format);
      yr = y;
    } else {
      xb = f.format == PixelFormat::kNV12 ? x : x / 2;  // NV12: (x/2) UV pairs of 2 bytes
      yr = y / 2;
    }
    v.data[p] = f.data[p] + yr * f.pitch[p] + xb;
  }
  return v;
}

}  // namespace

Status SplitStereo(const Frame& frame, StereoLayout layout, Frame* left, Frame* right) {
  if (left == nullptr || right == nullptr) return Status::InvalidArgument("SplitStereo: null view");
  if (frame.empty() || frame.format == PixelFormat::kUnknown || frame.width <= 0 ||
      frame.height <= 0) {
    return Status::InvalidArgument("SplitStereo: empty " + DescribeFrame(frame));
  }
  const bool sbs = layout == StereoLayout::kSideBySide;
  const int n = sbs ? frame.width : frame.height;
  if (n < 2) {
    return Status::InvalidArgument("SplitStereo: " + DescribeFrame(frame) + " is too small to split " +
                                   (sbs ? "side by side" : "top-bottom"));
  }
  const int half = n / 2;
  if (IsPlanar(frame.format) && half % 2 != 0) {
    return Status::InvalidArgument("SplitStereo: " + DescribeFrame(frame) + " splits at " +
                                   std::to_string(half) + ", which must be even for 4:2:0 chroma");
  }
  if (sbs) {
    *left = View(frame, 0, 0, half, frame.height);
    *right = View(frame, half, 0, frame.width - half, frame.height);
  } else {
    *left = View(frame, 0, 0, frame.width, half);
    *right = View(frame, 0, half, frame.width, frame.height - half);
  }
  return Status::Ok();
}

Status MergeStereo(const Frame& left, const Frame& right, StereoLayout layout, Frame* out) {
  if (out == nullptr) return Status::InvalidArgument("MergeStereo: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrameAnyFormat(left, "MergeStereo left"));
  VRSEG_RETURN_IF_ERROR(CheckHostFrameAnyFormat(right, "MergeStereo right"));
  if (IsPlanar(left.format)) {
    return Status::Unsupported("MergeStereo: planar " + DescribeFrame(left) + " (packed formats only)");
  }
  if (left.format != right.format) {
    return Status::InvalidArgument("MergeStereo: left " + DescribeFrame(left) + " and right " +
                                   DescribeFrame(right) + " differ in format");
  }
  const bool sbs = layout == StereoLayout::kSideBySide;
  if (sbs ? left.height != right.height : left.width != right.width) {
    return Status::InvalidArgument("MergeStereo: left " + DescribeFrame(left) + " and right " +
                                   DescribeFrame(right) +
                                   (sbs ? " differ in height" : " differ in width"));
  }
  const int W = sbs ? left.width + right.width : left.width;
  const int H = sbs ? left.height : left.height + right.height;
  if (out->empty() || out->format != left.format || out->width != W || out->height != H ||
      out->memory == MemoryKind::kDevice) {
    VRSEG_ASSIGN_OR_RETURN(*out, Frame::Allocate(left.format, W, H));
  }
  out->CopyMetadataFrom(left);
  const int bpp = BytesPerPixel(left.format);
  const int64_t lrow = static_cast<int64_t>(left.width) * bpp;
  const int64_t rrow = static_cast<int64_t>(right.width) * bpp;
  for (int y = 0; y < left.height; ++y) {
    std::memmove(out->data[0] + y * out->pitch[0], left.data[0] + y * left.pitch[0], lrow);
  }
  for (int y = 0; y < right.height; ++y) {
    uint8_t* dst = sbs ? out->data[0] + y * out->pitch[0] + lrow
                       : out->data[0] + (left.height + y) * out->pitch[0];
    std::memmove(dst, right.data[0] + y * right.pitch[0], rrow);
  }
  return Status::Ok();
}

}  // namespace vrseg
