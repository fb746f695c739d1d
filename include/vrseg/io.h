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
  Rational frame_rate{0, 1};  // exact, e.g. 24000/1001; 0/1 when unknown
  Rational time_base{1, 1};   // of the timestamps in Frame::pts
  int64_t frame_count = -1;   // from the container; -1 when unknown
  double duration_s = 0.0;    // 0 when unknown
  ColorInfo color;
  std::string codec;  // "h264", "png", ...
  bool has_audio = false;
  bool is_image = false;     // a single still image
  bool is_sequence = false;  // a numbered image sequence
};

struct ReaderOptions {
  PixelFormat format = PixelFormat::kRGB24;  // what Read() hands out (any but kGrayF32)
  int threads = 0;    // decoder threads (frame + slice threading); 0: FFmpeg's choice (all cores)
  int stream_id = 0;  // stamped on every frame
  // Hardware decoding (see "Device frames" below):
  //   ""      decode on the CPU (default); frames are host frames of `format`.
  //   "cuda"  decode with NVDEC (FFmpeg's cuda hwaccel); frames stay on the GPU as NV12 device
  //           frames, whatever `format` says. Open() fails where NVDEC cannot decode the input:
  //           kUnavailable (vrseg or FFmpeg built without CUDA, no driver or no such device),
  //           kUnsupported (codec without NVDEC support, or not 8-bit 4:2:0: 10-bit/P010,
  //           4:2:2 and 4:4:4 sources are refused for now, or NVDEC refused the stream).
  //   "auto"  "cuda" where it works, else the CPU path (host frames of `format`), saying so in
  //           one info line of the log; callers check Frame::memory.
  // Anything else is kInvalidArgument.
  std::string hwaccel;
  int device = 0;  // CUDA device for hwaccel "cuda"/"auto"
  // hwaccel: decoder surfaces added for the caller (0 to 16): how many frames from Read() the
  // caller may keep alive at once without a copy (see "Device frames"). Each costs one NV12
  // surface of device memory; NVDEC allows about 32 surfaces in all, the stream's own included.
  int device_frames = 8;
};

// Reads one video stream (the "best" one FFmpeg finds) and hands out its frames in order.
//
// Conversion: frames are converted with swscale to ReaderOptions::format using the stream's
// matrix and range (BT.601/709/2020, limited/full; an unspecified matrix means BT.709 from 720
// rows up, BT.601 below). YUV outputs (I420, NV12) keep the source's range and matrix (no range
// conversion); RGB and gray outputs are full range. Frame::color always describes the source;
// an RGB-coded source (PNG, FFV1 RGB) with no matrix tag is described as matrix 0 ("rgb"), full
// range.
//
// Buffers: Read() hands out frames whose pixels come from a pool owned by the reader. A frame's
// pixels stay valid and unchanged for as long as any copy of that Frame (its `storage`) is alive,
// on any thread; once every copy is gone the buffer goes back to the pool and is reused, so no
// pixel memory is allocated per frame once warm (only the small reference-count block of
// `storage`). A caller that keeps k frames alive makes the pool grow to about k+1 buffers; they
// are freed with the reader, or later, when the last frame using one is dropped.
//
// End and damage: Read() returns false at a clean end. On damage it delivers every frame that
// decoded cleanly, then returns kDataLoss naming the file and the index of the first frame it
// could not deliver; the error is sticky. Damage is: a demuxer read error or a packet cut short,
// a JPEG without its end marker, a decoder error (including errors FFmpeg only logs, such as an
// FFV1 slice CRC mismatch), a frame the decoder flags corrupt or concealed, or a stream that ends
// before the frame count (MP4/MOV) or video duration (Matroska/WebM) its container states.
// Decoder complaints before the first frame (a stream cut before its first key frame) are not
// damage. Damage known only from FFmpeg's log is pinned to its frame when the decoder also returns
// an error; when it is fully concealed (FFV1 CRC), it is reported at the first frame that may
// hold it, which under frame threading can be up to `threads` frames early. A
// file cut before its index (an MP4 whose moov atom is at the end) fails at Open() with kDataLoss.
//
// Device frames (ReaderOptions::hwaccel "cuda", or "auto" where NVDEC decodes the input): Read()
// hands out kNV12 frames with memory kDevice and `device` set, whose plane pointers and pitches
// point into the NVDEC decoder's output surface (no copy is made, but see below): the luma plane
// is data[0] (pitch[0]), the interleaved chroma plane data[1] (pitch[1]). The pixels are complete
// when Read() returns (the decoder's work is synchronised), so any CUDA stream of the same device
// may read them at once, through the CUDA primary context (the runtime API's). They must not be
// written.
// `storage` keeps the decoded surface (an FFmpeg frame reference) alive; it may be released on
// any thread and may outlive the reader. The decoder's surfaces are a fixed pool, so while the
// caller holds ReaderOptions::device_frames of them, further frames are handed out as device
// copies instead (one device-to-device copy each, into buffers pooled by the reader like the CPU
// path's, same layout rules) and their surface goes back to the decoder at once: holding frames
// never stalls or fails decoding, it only costs copies past device_frames. Frame count,
// timestamps, colour description and the damage rules are those of the CPU path. Open() decodes
// the first frame already, so that an input NVDEC refuses fails there.
class VideoReader {
 public:
  // Opens a video file, a still image or an image-sequence pattern ("dir/%04d.png", numbered
  // from 0-4 upwards as FFmpeg's image2 demuxer does). Errors: kNotFound (missing file, or no
  // image matches the pattern), kIoError (unreadable, a folder), kDataLoss (empty, corrupt, cut
  // short or not media; names "frame 0"), kUnsupported (no video stream, no decoder),
  // kInvalidArgument (options.format is kGrayF32/kUnknown, unknown options.hwaccel, device or
  // device_frames out of range); with
  // options.hwaccel "cuda" also kUnavailable/kUnsupported (see ReaderOptions::hwaccel).
  static Result<std::unique_ptr<VideoReader>> Open(const std::string& path,
                                                   const ReaderOptions& options = {});
  virtual ~VideoReader() = default;
  virtual const VideoInfo& info() const = 0;
  // Decodes the next frame into `out` (converted to options.format, with stream id, index, pts,
  // duration, time base and colour set). `out`'s previous contents are released first. Returns
  // true with a frame, false at a clean end, kDataLoss on damage (see above).
  virtual Result<bool> Read(Frame* out) = 0;
};

enum class OutputContent : int {
  kMask = 0,   // gray mask (Gray8 frames)
  kAlpha,      // the input's pixels with the mask as alpha (RGBA frames)
  kComposite,  // the person over a new background (RGB24 frames)
};

// What each container holds, by content (mask / alpha / composite):
//   .mkv   FFV1 level 3, 4 slices with CRCs, lossless: gray8 / bgra / bgr0 (RGB)
//   .mp4   H.264 (libx264, WriterOptions::preset and crf), yuv420p: mask as luma with neutral
//          chroma / (alpha refused: kUnsupported) / composite; sizes must be even
//   .mov   ProRes 4444 (prores_ks): yuv444p10le / yuva444p10le / yuv444p10le; always limited
//          range (ProRes has no full-range flag)
//   .webm  VP9 (libvpx-vp9, realtime, crf): yuv420p / yuva420p (alpha as WebM BlockAdditional;
//          read it back with the libvpx decoder, which VideoReader picks by itself) / yuv420p
//   PNG    gray / rgba / rgb24; a name with %d is a sequence numbered from 1, a plain name takes
//          exactly one frame
// Colour tags: YUV outputs are converted with, and tagged with, the input's range, primaries,
// transfer and matrix (an unspecified range is written, and tagged, as limited); masks keep the
// input's primaries/transfer/matrix but are tagged full range, since mask values use the whole
// 0-255 scale (except ProRes: limited); RGB-coded outputs (FFV1 bgra/bgr0) are tagged full range
// with the RGB matrix. An RGB source (matrix "rgb") going to YUV is converted to, and tagged as,
// limited range BT.709 (720 rows or more) or BT.601 (SMPTE 170M) below.
enum class OutputContainer : int {
  kMkvFfv1 = 0,    // .mkv: FFV1, lossless (gray8, or bgra for alpha)
  kMp4H264,        // .mp4: H.264 (libx264), yuv420p
  kMovProRes4444,  // .mov: ProRes 4444 with alpha (yuva444p10le)
  kWebmVp9Alpha,   // .webm: VP9 with alpha (yuva420p)
  kPngSequence,    // a pattern with %d and .png: one PNG per frame (gray or rgba)
  kPngImage,       // a single .png (for a single still input)
};

// The container an output path means. Errors name the path and list the known extensions.
Result<OutputContainer> OutputContainerFor(const std::string& path);

struct WriterOptions {
  OutputContent content = OutputContent::kMask;
  bool copy_audio = true;  // copy the audio of `input.path`, unchanged, where the container allows
  int crf = 18;            // H.264/VP9 quality (lower is better; 0-51 H.264, 0-63 VP9)
  std::string preset = "veryfast";  // libx264 preset (H.264 only); "medium" packs tighter, slower
  int threads = 0;                  // encoder threads; 0: FFmpeg's choice
  // FFV1 (.mkv) only: encoders working on successive frames side by side (every FFV1 frame is a
  // key frame that stands alone; their packets are muxed in order, the file is the same kind).
  // 0: auto = a quarter of the cores, 1..4, for frames of 640x480 and up (else 1). Each encoder
  // gets `threads` slice threads, or with threads 0 its share of the cores.
  int encoders = 0;
  // An FFmpeg encoder to use instead of the container's own ("h264_nvenc", "hevc_nvenc", ...; it
  // must fit the container and take its pixel format). "": the container's own. Open() fails with
  // kUnsupported naming it where FFmpeg lacks it or it cannot open (no NVENC on this GPU).
  std::string encoder;
  // .mp4 with no `encoder`: use h264_nvenc where it opens (a GPU with NVENC), else libx264, said
  // in the log. The GPU path sets it.
  bool prefer_nvenc = false;
};

// Encodes frames into one output. Timing: the output's time base is the input's (a muxer may
// refine it, e.g. Matroska stores milliseconds, MP4 a multiple of the rate); each frame's pts is
// written as given (rescaled from Frame::time_base when that differs), so frame count, rate and
// timestamps follow the input. Audio: with copy_audio, the best audio stream of `input.path` is
// copied packet for packet (no re-encode) when the container accepts its codec, up to the end of
// the last video frame written, interleaved by the muxer; when it does not fit, a warning is
// logged and the output has no audio.
class VideoWriter {
 public:
  // Creates the output file(s), taking size, frame rate, time base and colour from `input`.
  // Errors: kInvalidArgument (unknown extension, bad size), kUnsupported (content the container
  // cannot hold, odd size for 4:2:0, missing encoder), kNotFound (the folder does not exist),
  // kIoError (cannot create or write the file).
  static Result<std::unique_ptr<VideoWriter>> Open(const std::string& path, const VideoInfo& input,
                                                   const WriterOptions& options);
  virtual ~VideoWriter() = default;  // finalises like Close() if it was not called
  // Encodes one frame: Gray8 for kMask, RGBA/BGRA for kAlpha, RGB24/BGR24/RGBA/BGRA for
  // kComposite, of the input's size, with a pts greater than the previous frame's. The frame is
  // not kept after the call. Errors (kInvalidArgument for a wrong frame, kIoError for encoding or
  // writing) name the output file and the frame index; a refused frame is not counted.
  virtual Status Write(const Frame& frame) = 0;
  // Flushes the encoder, copies the rest of the audio up to the end of the last frame written,
  // and writes the trailer, whatever happened before. Idempotent; Write after Close is refused.
  virtual Status Close() = 0;
  virtual int64_t frames_written() const = 0;
};

// FFmpeg library versions, for `vrseg info`: "FFmpeg 5.1.x (libavformat 59.27.100, libavcodec
// 59.37.100, libavutil 57.28.100, libswscale 6.7.100)". Thread-safe.
std::string FfmpegVersions();

}  // namespace vrseg
