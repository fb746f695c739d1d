// vrseg/frame.h — pixels and where they came from.
//
// A Frame is a cheap-to-copy handle: copies share the same pixels (reference-counted `storage`),
// never duplicate them. The pixels live on the host or on a CUDA device (`memory`). A Frame carries
// its stream id, frame index and timestamp through every stage so that outputs keep the input's
// timing exactly.
//
// Thread safety: a Frame may be handed between threads; writers must own the pixels exclusively
// (a freshly allocated frame, or one the stage knows no one else reads).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "vrseg/status.h"

namespace vrseg {

enum class PixelFormat : int {
  kUnknown = 0,
  kGray8,    // one plane, 1 byte per pixel (masks, alpha)
  kRGB24,    // packed R,G,B
  kBGR24,    // packed B,G,R
  kRGBA,     // packed R,G,B,A
  kBGRA,     // packed B,G,R,A
  kNV12,     // Y plane, then interleaved U,V plane at half resolution
  kI420,     // Y, U, V planes; U and V at half resolution (yuv420p)
  kGrayF32,  // one plane, float32 per pixel (soft masks in [0,1])
};

std::string_view PixelFormatName(PixelFormat f);
// True for one-plane formats of 8-bit samples (Gray8, RGB24, BGR24, RGBA, BGRA).
bool IsPacked8(PixelFormat f);
// Number of planes (1 for packed formats).
int PlaneCount(PixelFormat f);
// Bytes per pixel of packed formats and of plane 0 of planar ones.
int BytesPerPixel(PixelFormat f);
// Bytes of one row of plane `plane` for a frame `width` pixels wide (no padding).
int64_t PlaneRowBytes(PixelFormat f, int width, int plane);
// Rows of plane `plane` for a frame `height` pixels high.
int PlaneRows(PixelFormat f, int height, int plane);

// An exact rational number (frame rates, time bases). 24000/1001 stays 24000/1001.
struct Rational {
  int num = 0;
  int den = 1;
  double ToDouble() const { return den ? static_cast<double>(num) / den : 0.0; }
  bool valid() const { return num > 0 && den > 0; }
  friend bool operator==(const Rational&, const Rational&) = default;
};

// Colour description, using the ISO/IEC 23091-4 (H.273) code points FFmpeg also uses.
// 0/2 mean unspecified.
struct ColorInfo {
  int range = 0;      // 0 unspecified, 1 limited (tv), 2 full (pc)  [FFmpeg's AVColorRange]
  int primaries = 2;  // 1 BT.709, 5/6 BT.601, 9 BT.2020 ...          [AVColorPrimaries]
  int transfer = 2;   // 1 BT.709, 13 sRGB, 16 PQ, 18 HLG ...           [AVColorTransferCharacteristic]
  int matrix = 2;     // 1 BT.709, 5/6 BT.601, 9 BT.2020 NCL ...        [AVColorSpace]
  friend bool operator==(const ColorInfo&, const ColorInfo&) = default;
};

enum class MemoryKind : int { kHost = 0, kPinnedHost, kDevice };

struct Frame {
  PixelFormat format = PixelFormat::kUnknown;
  int width = 0;
  int height = 0;
  std::array<uint8_t*, 4> data{};  // plane pointers
  std::array<int64_t, 4> pitch{};  // bytes per row of each plane
  MemoryKind memory = MemoryKind::kHost;
  int device = -1;                 // CUDA device of device frames
  std::shared_ptr<void> storage;   // keeps the pixels alive; null for borrowed views

  int stream_id = 0;               // which input stream this frame belongs to
  int64_t index = 0;               // 0-based frame number within its stream
  int64_t pts = 0;                 // presentation timestamp in `time_base` units
  int64_t duration = 0;            // in `time_base` units; 0 when unknown
  Rational time_base{1, 1};
  ColorInfo color;

  bool empty() const { return data[0] == nullptr; }

  // Allocates host pixels (rows aligned to 64 bytes). Metadata fields are left at defaults.
  static Result<Frame> Allocate(PixelFormat format, int width, int height);
  // A view over caller-owned memory; the caller keeps it alive while the frame is used.
  static Frame Wrap(PixelFormat format, int width, int height, uint8_t* data, int64_t pitch);

  // Deep copy of the pixels (host frames only); metadata copied.
  Result<Frame> Clone() const;
  // Copies timing and identity (stream, index, pts, duration, time base, colour) from `other`.
  void CopyMetadataFrom(const Frame& other);
};

// "frame 12 (stream 0, 1280x720 rgb24)": how error messages name a frame.
std::string DescribeFrame(const Frame& f);
// OK when a and b have the same width and height; else kInvalidArgument
// "WHAT: <a> and <b> differ in size".
Status CheckSameSize(const Frame& a, const Frame& b, std::string_view what);

}  // namespace vrseg
