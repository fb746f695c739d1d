// Private helpers shared by the io layer: RAII owners for FFmpeg handles, error text, pixel
// format and colour mapping. Not part of the public API.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

#include <atomic>
#include <memory>
#include <string>

#include "vrseg/frame.h"
#include "vrseg/status.h"

namespace vrseg::io_internal {

struct FormatInputDeleter {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsDeleter {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

using InputPtr = std::unique_ptr<AVFormatContext, FormatInputDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using AvFramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using SwsPtr = std::unique_ptr<SwsContext, SwsDeleter>;

// True when `path` holds a printf frame-number pattern (%d, %04d, ...).
bool IsPattern(const std::string& path);

// Routes FFmpeg's own log lines (warnings and errors only) to vrseg's log at debug level, once per
// process. vrseg reports failures through Status; FFmpeg's chatter would only repeat them.
void RouteFfmpegLogs();

// Counts the errors FFmpeg logs for one decoder. Decoders such as FFV1 (slice CRC mismatch) hide
// damage by concealment without flagging the frame; their log line is the only sign. A counter is
// tied to a codec context through its `opaque` field (FFmpeg copies it to frame-thread copies).
// Register before decoding, unregister before the counter dies. Thread-safe.
struct DecoderErrorCounter {
  std::atomic<int> errors{0};
};
void RegisterErrorCounter(DecoderErrorCounter* counter);
void UnregisterErrorCounter(DecoderErrorCounter* counter);

// av_strerror as a std::string.
std::string AvError(int err);

// The FFmpeg pixel format of a vrseg one (AV_PIX_FMT_NONE for kUnknown/kGrayF32).
AVPixelFormat ToAvPixelFormat(PixelFormat f);

// Replaces the deprecated full-range "yuvj" formats by their plain twins; sets *full_range when
// it did.
AVPixelFormat DejpegFormat(AVPixelFormat f, bool* full_range);

// The YUV<->RGB matrix (an SWS_CS_* value) to use for a stream's colour description. Unspecified
// matrices follow the common player convention: BT.709 for frames 720 rows or taller, BT.601
// below.
int SwsMatrixFor(const ColorInfo& color, int height);
// True when the colour description means full-range ("pc") YUV. Unspecified means limited.
bool IsFullRange(const ColorInfo& color);

// Creates a converter between two pixel formats of one size, setting the YUV matrix and ranges.
// `yuv_matrix`/`yuv_full_range` describe whichever side is YUV; RGB and gray sides are full range.
// Returns null on failure. `threads` > 1 lets swscale slice the work.
SwsContext* MakeConverter(int width, int height, AVPixelFormat src, AVPixelFormat dst,
                          int yuv_matrix, bool yuv_full_range, int threads);

// Copies the layout of a vrseg frame into pointer/stride arrays FFmpeg understands.
void FramePlanes(const Frame& f, uint8_t* data[4], int linesize[4]);

}  // namespace vrseg::io_internal
