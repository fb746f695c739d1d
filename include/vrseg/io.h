// vrseg/io.h — reading and writing video, images and image sequences (FFmpeg).
//
// Inputs: any container/codec FFmpeg reads, single PNG/JPEG images, and numbered image sequences
// given as a printf pattern ("frames/%04d.png"). Outputs: masks, alpha or composites in the
// container the extension names (see OutputContainerFor). Outputs keep the input's frame count,
// rational frame rate, timestamps and colour description, and copy the input's audio unchanged
// where the container allows.
//
// Errors name the file and, where one is involved, the frame index. A VideoWriter is finalised by
// Close() (or its destructor) whatever happened before, so that what was written stays playable.
//
// Thread safety: a reader or writer is used by one thread at a time; distinct ones may run on
// different threads. The first Open() routes FFmpeg's own log lines (process-wide) to vrseg's log
// at debug level; vrseg's Status already carries what failed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/status.h"

namespace vrseg {

struct VideoInfo {
  std::string path;
  int width = 0;
  int height = 0;
  Rational frame_rate{0, 1};   // exact, e.g. 24000/1001; 0/1 when unknown
  Rational time_base{1, 1};    // of the timestamps in Frame::pts
  int64_t frame_count = -1;    // from the container; -1 when unknown
  double duration_s = 0.0;     // 0 when unknown
  ColorInfo color;
  std::string codec;           // "h264", "png", ...
  bool has_audio = false;
  bool is_image = false;       // a single still image
  bool is_sequence = false;    // a numbered image sequence
};

struct ReaderOptions {
  PixelFormat format = PixelFormat::kRGB24;  // what Read() hands out
  int threads = 0;                           // decoder threads; 0: FFmpeg's choice
  int stream_id = 0;                         // stamped on every frame
};

class VideoReader {
 public:
  // Opens a video file, a still image or an image-sequence pattern. Errors: kNotFound (missing),
  // kIoError (unreadable), kDataLoss (empty, corrupt or not media), kUnsupported (no decoder).
  static Result<std::unique_ptr<VideoReader>> Open(const std::string& path,
                                                   const ReaderOptions& options = {});
  virtual ~VideoReader() = default;
  virtual const VideoInfo& info() const = 0;
  // Decodes the next frame into `out` (converted to options.format, with stream id, index, pts,
  // duration, time base and colour set). Returns false at the end of the input. A corrupt or
  // truncated input gives kDataLoss naming the file and the frame index reached.
  virtual Result<bool> Read(Frame* out) = 0;
};

enum class OutputContent : int {
  kMask = 0,   // gray mask (Gray8 frames)
  kAlpha,      // the input's pixels with the mask as alpha (RGBA frames)
  kComposite,  // the person over a new background (RGB24 frames)
};

enum class OutputContainer : int {
  kMkvFfv1 = 0,   // .mkv: FFV1, lossless (gray8, or bgra for alpha)
  kMp4H264,       // .mp4: H.264 (libx264), yuv420p
  kMovProRes4444, // .mov: ProRes 4444 with alpha (yuva444p10le)
  kWebmVp9Alpha,  // .webm: VP9 with alpha (yuva420p)
  kPngSequence,   // a pattern with %d and .png: one PNG per frame (gray or rgba)
  kPngImage,      // a single .png (for a single still input)
};

// The container an output path means. Errors name the path and list the known extensions.
Result<OutputContainer> OutputContainerFor(const std::string& path);

struct WriterOptions {
  OutputContent content = OutputContent::kMask;
  bool copy_audio = true;   // copy the audio of `input.path`, unchanged, where the container allows
  int crf = 18;             // H.264/VP9 quality (lower is better; 0-51 H.264, 0-63 VP9)
  std::string preset = "veryfast";  // libx264 preset (H.264 only); "medium" packs tighter, slower
  int threads = 0;          // encoder threads; 0: FFmpeg's choice
};

class VideoWriter {
 public:
  // Creates the output file(s), taking size, frame rate, time base and colour from `input`.
  static Result<std::unique_ptr<VideoWriter>> Open(const std::string& path, const VideoInfo& input,
                                                   const WriterOptions& options);
  virtual ~VideoWriter() = default;  // finalises like Close() if it was not called
  // Encodes one frame: Gray8 for kMask, RGBA for kAlpha, RGB24 for kComposite. Its pts (in the
  // input's time base) is kept. Errors name the output file and the frame index.
  virtual Status Write(const Frame& frame) = 0;
  // Flushes the encoder, copies the rest of the audio up to the last frame written, and writes
  // the trailer. Idempotent.
  virtual Status Close() = 0;
  virtual int64_t frames_written() const = 0;
};

// FFmpeg library versions, for `vrseg info` ("libavcodec 59.37.100, ...").
std::string FfmpegVersions();

}  // namespace vrseg
