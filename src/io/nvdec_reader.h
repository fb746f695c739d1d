// NVDEC decoding for VideoReader (ReaderOptions::hwaccel "cuda"/"auto"), through FFmpeg's cuda
// hwaccel: the decoder's output surfaces are handed out as NV12 device frames, without a copy.
// Private to the io layer.
//
// How it fits the reader (src/io/video_reader.cc): before the decoder is opened, NvdecSession::
// Attach checks that NVDEC can take the stream (codec, pixel format, device) and sets the codec
// context up for it (device context, get_format, surface count, one decoder thread). Decoded
// frames come out in AV_PIX_FMT_CUDA; Wrap() turns each into a vrseg device Frame. The reader's
// demuxing, timestamps, colour and damage handling are shared with the CPU path.
//
// Synchronisation: FFmpeg's NVDEC code runs its post-processing (the surface mapping) on the CUDA
// stream of its device context. The session gives that context a stream of its own (non-blocking,
// on the primary context) and waits for it in Wrap(), so a frame's pixels are complete when the
// reader hands it out, for any stream of the device.
//
// Without CUDA (VRSEG_HAVE_CUDA undefined, e.g. the ThreadSanitizer twin) Attach fails with
// kUnavailable.
//
// Thread safety: a session belongs to one reader (one thread at a time); the frames it wraps may
// be released on any thread.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
}

#include <memory>
#include <string>

#include "vrseg/frame.h"
#include "vrseg/io.h"
#include "vrseg/status.h"

namespace vrseg::io_internal {

enum class HwAccel : int { kNone = 0, kCuda, kAuto };

// Parses ReaderOptions::hwaccel ("", "cuda", "auto"); kInvalidArgument naming `path` otherwise.
Result<HwAccel> ParseHwAccel(const std::string& value, const std::string& path);

class NvdecSession {
 public:
  // Checks that NVDEC may decode the stream `par` with `codec`, then prepares `dec` (allocated,
  // parameters set, not yet opened) for it. Errors name `path`: kUnsupported (codec without a
  // cuda hwaccel, pixel format other than 8-bit 4:2:0), kUnavailable (no CUDA in this build or
  // in FFmpeg, no driver, no device `options.device`).
  static Result<std::unique_ptr<NvdecSession>> Attach(AVCodecContext* dec, const AVCodec* codec,
                                                      const AVCodecParameters* par,
                                                      const std::string& path,
                                                      const ReaderOptions& options);
  ~NvdecSession();
  NvdecSession(const NvdecSession&) = delete;
  NvdecSession& operator=(const NvdecSession&) = delete;

  // After the decoder failed with `err`: the reason when it is NVDEC's rather than the stream's —
  // kUnsupported when the hwaccel could not be set up for the stream (FFmpeg's log at debug level
  // says why), kOutOfMemory when the decoder ran out of memory — naming `path` and
  // `frame_index`; OK when the failure is the stream's own.
  Status DecoderFailure(const AVCodecContext* dec, int err, int64_t frame_index) const;

  // Turns a decoded AV_PIX_FMT_CUDA frame into an NV12 device Frame (planes, pitches, size,
  // memory, device; no metadata), taking over `src`'s references (`src` is left blank). Waits
  // for the decoder's post-processing of the frame. The frame is the decoder's surface itself
  // while the caller holds fewer than ReaderOptions::device_frames of them; past that it is a
  // device copy (from a pool of the session's), so that the decoder never runs out of surfaces. Errors: kUnsupported (a 10-bit or non-4:2:0
  // surface), kInternal/kUnavailable (a CUDA error), naming `path` and `frame_index`.
  Result<Frame> Wrap(AVFrame* src, int64_t frame_index);

  struct Impl;  // defined in nvdec_reader.cc (public only so that its helpers can name it)

 private:
  explicit NvdecSession(std::unique_ptr<Impl> impl);
  // Wrap() once the caller holds device_frames surfaces: a copy of the frame in a pooled device
  // buffer of the session's, and the surface goes back to the decoder.
  Result<Frame> CopyOut(AVFrame* src, int64_t frame_index);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vrseg::io_internal
