#include "vrseg/frame.h"

#include <cstdlib>
#include <cstring>

namespace vrseg {

std::string_view PixelFormatName(PixelFormat f) {
  switch (f) {
    case PixelFormat::kUnknown: return "unknown";
    case PixelFormat::kGray8: return "gray8";
    case PixelFormat::kRGB24: return "rgb24";
    case PixelFormat::kBGR24: return "bgr24";
    case PixelFormat::kRGBA: return "rgba";
    case PixelFormat::kBGRA: return "bgra";
    case PixelFormat::kNV12: return "nv12";
    case PixelFormat::kI420: return "i420";
    case PixelFormat::kGrayF32: return "grayf32";
  }
  return "unknown";
}

bool IsPacked8(PixelFormat f) {
  return f == PixelFormat::kGray8 || f == PixelFormat::kRGB24 || f == PixelFormat::kBGR24 ||
         f == PixelFormat::kRGBA || f == PixelFormat::kBGRA;
}

int PlaneCount(PixelFormat f) {
  switch (f) {
    case PixelFormat::kNV12: return 2;
    case PixelFormat::kI420: return 3;
    case PixelFormat::kUnknown: return 0;
    default: return 1;
  }
}

int BytesPerPixel(PixelFormat f) {
  switch (f) {
    case PixelFormat::kGray8:
    case PixelFormat::kNV12:
    case PixelFormat::kI420: return 1;
    case PixelFormat::kRGB24:
    case PixelFormat::kBGR24: return 3;
    case PixelFormat::kRGBA:
    case PixelFormat::kBGRA:
    case PixelFormat::kGrayF32: return 4;
    case PixelFormat::kUnknown: return 0;
  }
  return 0;
}

int64_t PlaneRowBytes(PixelFormat f, int width, int plane) {
  if (plane == 0) return static_cast<int64_t>(width) * BytesPerPixel(f);
  const int64_t half = (width + 1) / 2;
  if (f == PixelFormat::kNV12 && plane == 1) return half * 2;
  if (f == PixelFormat::kI420 && plane <= 2) return half;
  return 0;
}

int PlaneRows(PixelFormat f, int height, int plane) {
  if (plane == 0) return height;
  if (plane < PlaneCount(f)) return (height + 1) / 2;
  return 0;
}

namespace {
int64_t AlignUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }
}  // namespace

Result<Frame> Frame::Allocate(PixelFormat format, int width, int height) {
  if (format == PixelFormat::kUnknown || width <= 0 || height <= 0) {
    return Status::InvalidArgument("Frame::Allocate: bad format or size " + std::to_string(width) +
                                   "x" + std::to_string(height));
  }
  Frame f;
  f.format = format;
  f.width = width;
  f.height = height;
  int64_t total = 0;
  std::array<int64_t, 4> offsets{};
  for (int p = 0; p < PlaneCount(format); ++p) {
    f.pitch[p] = AlignUp(PlaneRowBytes(format, width, p), 64);
    offsets[p] = total;
    total += f.pitch[p] * PlaneRows(format, height, p);
  }
  void* mem = std::aligned_alloc(64, static_cast<size_t>(AlignUp(total, 64)));
  if (!mem) return Status::OutOfMemory("Frame::Allocate: " + std::to_string(total) + " bytes");
  f.storage = std::shared_ptr<void>(mem, [](void* m) { std::free(m); });
  for (int p = 0; p < PlaneCount(format); ++p) f.data[p] = static_cast<uint8_t*>(mem) + offsets[p];
  return f;
}

Frame Frame::Wrap(PixelFormat format, int width, int height, uint8_t* data, int64_t pitch) {
  Frame f;
  f.format = format;
  f.width = width;
  f.height = height;
  f.data[0] = data;
  f.pitch[0] = pitch;
  // Planar formats wrapped from one buffer: planes follow each other with the same pitch rule.
  uint8_t* next = data + pitch * height;
  for (int p = 1; p < PlaneCount(format); ++p) {
    const int64_t pp = (format == PixelFormat::kNV12) ? pitch : (pitch + 1) / 2;
    f.data[p] = next;
    f.pitch[p] = pp;
    next += pp * PlaneRows(format, height, p);
  }
  return f;
}

Result<Frame> Frame::Clone() const {
  if (memory == MemoryKind::kDevice) return Status::Unsupported("Frame::Clone of a device frame");
  auto out = Allocate(format, width, height);
  if (!out.ok()) return out;
  for (int p = 0; p < PlaneCount(format); ++p) {
    const int64_t row = PlaneRowBytes(format, width, p);
    for (int y = 0; y < PlaneRows(format, height, p); ++y) {
      std::memcpy(out->data[p] + y * out->pitch[p], data[p] + y * pitch[p], row);
    }
  }
  out->CopyMetadataFrom(*this);
  return out;
}

void Frame::CopyMetadataFrom(const Frame& o) {
  stream_id = o.stream_id;
  index = o.index;
  pts = o.pts;
  duration = o.duration;
  time_base = o.time_base;
  color = o.color;
}

std::string DescribeFrame(const Frame& f) {
  return "frame " + std::to_string(f.index) + " (stream " + std::to_string(f.stream_id) + ", " +
         std::to_string(f.width) + "x" + std::to_string(f.height) + " " +
         std::string(PixelFormatName(f.format)) + ")";
}

Status CheckSameSize(const Frame& a, const Frame& b, std::string_view what) {
  if (a.width != b.width || a.height != b.height) {
    return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(a) + " and " +
                                   DescribeFrame(b) + " differ in size");
  }
  return Status::Ok();
}

}  // namespace vrseg
