// VideoReader: FFmpeg demux + decode + swscale conversion.
//
// Truncation/corruption policy: every frame that decodes cleanly is delivered, then kDataLoss
// names the file and the index of the first frame that could not be delivered. The error is
// sticky; a clean end returns false, so a caller tells "ended early/corrupt" from "clean end".
//  - Damage seen by the demuxer (a read error, a packet marked corrupt or cut short, a JPEG
//    without its end marker): the packets before it are intact, so the decoder is drained and
//    the frames it still holds are handed out before the error.
//  - Damage seen by the decoder (an error, a frame flagged corrupt or concealed): the error
//    comes at once; frames still inside the decoder may depend on the broken one.
//  - A stream that ends cleanly but before the frame count (MP4/MOV) or the video duration
//    (Matroska's DURATION tag, or the file's duration when video is its only stream) its
//    container states: kDataLoss after the last frame.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "io/ffmpeg_common.h"
#include "io/nvdec_reader.h"
#include "vrseg/io.h"
#include "vrseg/log.h"

extern "C" {
#include <libavutil/dict.h>
#include <libavutil/pixdesc.h>
}

namespace vrseg {
namespace {

using namespace io_internal;  // NOLINT(build/namespaces)

// Checks that a plain path exists, is readable and is not empty.
Status CheckFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::NotFound(path + ": no such file");
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) return Status::IoError(path + ": is a directory, not a media file");
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::IoError(path + ": cannot read: " + std::strerror(errno));
  }
  if (S_ISREG(st.st_mode) && st.st_size == 0) {
    return Status::DataLoss(path + ": empty file (0 bytes), no frame decoded (frame 0)");
  }
  return Status::Ok();
}

// For a pattern, checks that one of the first numbers the image2 demuxer tries exists.
Status CheckPattern(const std::string& pattern) {
  char name[4096];
  for (int n = 0; n < 5; ++n) {
    if (av_get_frame_filename2(name, sizeof(name), pattern.c_str(), n, 0) < 0) {
      return Status::InvalidArgument(pattern + ": not a valid image-sequence pattern");
    }
    if (::access(name, F_OK) == 0) return CheckFile(name);
  }
  return Status::NotFound(pattern + ": no image matches the sequence pattern (tried numbers 0-4)");
}

ColorInfo ColorFrom(int range, int primaries, int transfer, int matrix) {
  ColorInfo c;
  c.range = range;
  c.primaries = primaries;
  c.transfer = transfer;
  c.matrix = matrix;
  return c;
}

bool EndsWithJpegEoi(const uint8_t* data, int size) {
  // The EOI marker (FF D9) closes a complete JPEG; allow a little trailing padding.
  const int from = size > 34 ? size - 34 : 0;
  for (int i = size - 2; i >= from; --i) {
    if (data[i] == 0xFF && data[i + 1] == 0xD9) return true;
  }
  return false;
}

// "HH:MM:SS.fraction" (Matroska's DURATION tag) in seconds; 0 when it does not parse.
double ParseClock(const char* s) {
  int h = 0, m = 0;
  double sec = 0;
  if (std::sscanf(s, "%d:%d:%lf", &h, &m, &sec) != 3) return 0;
  return h * 3600.0 + m * 60.0 + sec;
}
class FfmpegReader final : public VideoReader {
 public:
  FfmpegReader(std::string path, const ReaderOptions& options, bool nvdec)
      : path_(std::move(path)), options_(options), use_nvdec_(nvdec) {}
  ~FfmpegReader() override {
    // Decoded frames and the decoder go before the NVDEC session (its stream and device).
    held_.clear();
    av_frame_unref(frame_.get());
    stash_ = Frame{};
    dec_.reset();  // no more decoder log lines can name the counter
    UnregisterErrorCounter(&decoder_errors_);
    nvdec_.reset();
  }

  Status Init();
  // NVDEC: decodes the first frame now, so that a stream NVDEC refuses fails at Open(); what it
  // gives (frame, end or error) is handed out by the first Read().
  Status Probe();
  const VideoInfo& info() const override { return info_; }
  Result<bool> Read(Frame* out) override;

 private:
  Result<bool> ReadFrame(Frame* out);
  Status DataLossAt(const std::string& what) const { return DataLossAt(what, next_index_); }
  Status DataLossAt(const std::string& what, int64_t index) const {
    return Status::DataLoss(path_ + ": " + what + " at frame " + std::to_string(index) + " (" +
                            std::to_string(index) + " frame(s) decoded cleanly)");
  }
  // Stops feeding the decoder after damage; frames already decoded are still handed out, and
  // the error (naming the first frame not delivered) comes after them.
  void Damage(std::string what) {
    if (damage_.empty()) damage_ = std::move(what);
    StartDraining();
  }
  // Sends the flush packet. FFmpeg may answer it with the error of the next frame in order
  // (frame threading); that error is reported after the frames held so far.
  void StartDraining() {
    if (draining_) return;
    draining_ = true;
    const int ret = avcodec_send_packet(dec_.get(), nullptr);
    if (ret < 0 && ret != AVERROR_EOF) last_decode_error_ = ret;
    if (ret < 0 && ret != AVERROR_EOF && after_held_.ok()) {
      after_held_ = DataLossAt("decoding failed (" + AvError(ret) + ")",
                               next_index_ + static_cast<int64_t>(held_.size()));
    }
  }
  // At a clean end of the stream: did it end before its container said it would?
  std::string EndedEarly() const;
  Status Convert(Frame* out);
  Result<Frame> PooledFrame();

  std::string path_;
  ReaderOptions options_;
  bool use_nvdec_ = false;
  std::unique_ptr<NvdecSession> nvdec_;  // NVDEC decoding (hwaccel), else null
  int last_decode_error_ = 0;            // the decoder's last error code (for NVDEC's reasons)
  bool has_stash_ = false;               // Probe()'s result, for the first Read()
  Frame stash_;
  Result<bool> stash_result_{false};
  VideoInfo info_;
  InputPtr fmt_;
  CodecPtr dec_;
  AvFramePtr frame_{av_frame_alloc()};
  PacketPtr pkt_{av_packet_alloc()};
  SwsPtr sws_;
  AVPixelFormat sws_src_ = AV_PIX_FMT_NONE;
  int sws_w_ = 0, sws_h_ = 0, sws_matrix_ = -1;
  bool sws_full_ = false;
  int stream_index_ = -1;
  AVRational tb_{1, 1};
  bool is_jpeg_ = false;
  bool draining_ = false;      // flush packet sent; no more input goes to the decoder
  std::string damage_;         // damage found while demuxing/decoding, reported after draining
  double expected_end_s_ = 0;  // the video stream's duration the container states; 0 unknown
  int64_t first_pts_ = AV_NOPTS_VALUE;
  Status sticky_;  // error already returned; returned again
  bool ended_ = false;
  int64_t next_index_ = 0;
  int64_t last_pts_ = AV_NOPTS_VALUE;
  int64_t last_duration_ = 0;
  // Output buffers. A slot is lent out with a fresh reference count whose release marks it free
  // again (release/acquire, so the last reader's accesses happen before the next decode into
  // it); a slot outlives the reader while any frame still uses it.
  struct PoolSlot {
    Frame pixels;  // owns the memory
    std::atomic<bool> in_use{false};
  };
  std::vector<std::shared_ptr<PoolSlot>> pool_;
  DecoderErrorCounter decoder_errors_;  // errors the decoder logged (see ffmpeg_common.h)
  int errors_before_first_ = 0;
  // Suspect mode: the decoder logged an error but handed out a frame. With frame threading the
  // log line may belong to a later frame, so the reader stops feeding, holds the frames that
  // still come out, and waits: an error return from the decoder pins the broken frame exactly
  // (the held frames before it are delivered); a clean drain means the damage was concealed
  // somewhere in the held frames, reported at the first of them.
  bool suspect_ = false;
  std::vector<AvFramePtr> held_;
  size_t held_next_ = 0;
  Status after_held_;  // reported once the held frames are delivered
};

Status FfmpegReader::Init() {
  if (!frame_ || !pkt_) return Status::OutOfMemory(path_ + ": cannot allocate decoder frame");
  const bool pattern = IsPattern(path_);
  VRSEG_RETURN_IF_ERROR(pattern ? CheckPattern(path_) : CheckFile(path_));
  if (ToAvPixelFormat(options_.format) == AV_PIX_FMT_NONE) {
    return Status::InvalidArgument(path_ + ": reader output format " +
                                   std::string(PixelFormatName(options_.format)) +
                                   " is not supported (use rgb24, bgr24, rgba, bgra, nv12, i420 "
                                   "or gray8)");
  }

  const AVInputFormat* ifmt = pattern ? av_find_input_format("image2") : nullptr;
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, path_.c_str(), ifmt, nullptr);
  if (ret < 0) {
    if (ret == AVERROR(ENOENT)) return Status::NotFound(path_ + ": no such file");
    if (ret == AVERROR(EACCES) || ret == AVERROR(EIO)) {
      return Status::IoError(path_ + ": cannot read: " + AvError(ret));
    }
    return Status::DataLoss(path_ + ": not a readable media file (" + AvError(ret) +
                            "), frame 0 reached");
  }
  fmt_.reset(raw);
  const std::string demuxer = fmt_->iformat->name;
  if (demuxer == "tty") {  // FFmpeg opens any text file as ANSI art; that is not media for us
    return Status::DataLoss(path_ + ": not a video or image file (text), frame 0 reached");
  }
  ret = avformat_find_stream_info(fmt_.get(), nullptr);
  if (ret < 0) {
    return Status::DataLoss(path_ + ": cannot read stream information (" + AvError(ret) +
                            "), frame 0 reached");
  }
  const AVCodec* codec = nullptr;
  stream_index_ = av_find_best_stream(fmt_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_index_ == AVERROR_STREAM_NOT_FOUND) {
    return Status::Unsupported(path_ + ": has no video stream");
  }
  if (stream_index_ < 0 || !codec) {
    return Status::Unsupported(path_ + ": no decoder for its video stream");
  }
  for (unsigned i = 0; i < fmt_->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index_) fmt_->streams[i]->discard = AVDISCARD_ALL;
    if (fmt_->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) info_.has_audio = true;
  }
  AVStream* st = fmt_->streams[stream_index_];
  const AVCodecParameters* par = st->codecpar;
  if (par->width <= 0 || par->height <= 0) {
    return Status::DataLoss(path_ +
                            ": not a readable video or image (no picture size found), "
                            "frame 0 reached");
  }
  // VP9 with alpha (WebM BlockAdditional): FFmpeg's own VP9 decoder drops the alpha plane,
  // libvpx keeps it.
  if (par->codec_id == AV_CODEC_ID_VP9) {
    const AVDictionaryEntry* e = av_dict_get(st->metadata, "alpha_mode", nullptr, 0);
    if (e && std::string(e->value) == "1") {
      if (const AVCodec* vpx = avcodec_find_decoder_by_name("libvpx-vp9")) codec = vpx;
    }
  }
  dec_.reset(avcodec_alloc_context3(codec));
  if (!dec_) return Status::OutOfMemory(path_ + ": cannot allocate decoder");
  ret = avcodec_parameters_to_context(dec_.get(), par);
  if (ret < 0) return Status::Unsupported(path_ + ": decoder parameters: " + AvError(ret));
  dec_->thread_count = options_.threads;
  dec_->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  if (use_nvdec_) {
    VRSEG_ASSIGN_OR_RETURN(nvdec_, NvdecSession::Attach(dec_.get(), codec, par, path_, options_));
  }
  dec_->pkt_timebase = st->time_base;
  dec_->err_recognition |= AV_EF_CRCCHECK;  // check the CRCs a stream carries (FFV1 slices)
  dec_->opaque = &decoder_errors_;
  RegisterErrorCounter(&decoder_errors_);
  ret = avcodec_open2(dec_.get(), codec, nullptr);
  if (ret < 0) {
    if (nvdec_) VRSEG_RETURN_IF_ERROR(nvdec_->DecoderFailure(dec_.get(), ret, 0));
    return Status::Unsupported(path_ + ": cannot open the " + codec->name +
                               " decoder: " + AvError(ret));
  }

  tb_ = st->time_base;
  info_.path = path_;
  info_.width = par->width;
  info_.height = par->height;
  info_.is_sequence = pattern;
  info_.is_image = !pattern && (demuxer == "image2" || demuxer.find("_pipe") != std::string::npos);
  const AVRational fr = av_guess_frame_rate(fmt_.get(), st, nullptr);
  if (fr.num > 0 && fr.den > 0) info_.frame_rate = {fr.num, fr.den};
  info_.time_base = {st->time_base.num, st->time_base.den};
  if (info_.is_image) {
    info_.frame_count = 1;
  } else if (pattern && st->duration > 0) {
    // image2 sets the duration in frames (its time base is 1/frame rate).
    info_.frame_count = st->duration;
  } else if (st->nb_frames > 0) {
    info_.frame_count = st->nb_frames;
  }
  if (st->duration > 0 && st->duration != AV_NOPTS_VALUE) {
    info_.duration_s = st->duration * av_q2d(st->time_base);
  } else if (fmt_->duration > 0) {
    info_.duration_s = fmt_->duration / static_cast<double>(AV_TIME_BASE);
  }
  bool full = false;
  DejpegFormat(static_cast<AVPixelFormat>(par->format), &full);
  info_.color = ColorFrom(full ? AVCOL_RANGE_JPEG : par->color_range, par->color_primaries,
                          par->color_trc, par->color_space);
  // RGB-coded sources (PNG, FFV1 bgr0, ...) say so: matrix "rgb", full range.
  const AVPixFmtDescriptor* src_desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(par->format));
  if (src_desc && (src_desc->flags & AV_PIX_FMT_FLAG_RGB) &&
      info_.color.matrix == AVCOL_SPC_UNSPECIFIED) {
    info_.color.matrix = AVCOL_SPC_RGB;
    info_.color.range = AVCOL_RANGE_JPEG;
  }
  info_.codec = avcodec_get_name(par->codec_id);
  // The stated duration of the video, to tell a cut file from a clean end where no frame count
  // is stored: Matroska's per-track DURATION tag (FFmpeg writes it), else the Matroska segment's
  // duration when the video is its only stream.
  if (const AVDictionaryEntry* n =
          av_dict_get(st->metadata, "NUMBER_OF_FRAMES", nullptr, AV_DICT_IGNORE_SUFFIX);
      n && info_.frame_count < 0 && std::atoll(n->value) > 0) {
    info_.frame_count = std::atoll(n->value);  // mkvmerge's statistics tags
  }
  if (const AVDictionaryEntry* e =
          av_dict_get(st->metadata, "DURATION", nullptr, AV_DICT_IGNORE_SUFFIX)) {
    expected_end_s_ = ParseClock(e->value);
  } else if (demuxer == "matroska,webm" && fmt_->nb_streams == 1 && fmt_->duration > 0) {
    // Matroska states its duration in the header; other formats' durations are estimates.
    expected_end_s_ = fmt_->duration / static_cast<double>(AV_TIME_BASE);
  }
  is_jpeg_ = par->codec_id == AV_CODEC_ID_MJPEG &&
             (demuxer == "image2" || demuxer.find("_pipe") != std::string::npos);
  return Status::Ok();
}

std::string FfmpegReader::EndedEarly() const {
  if (info_.frame_count > 0 && next_index_ < info_.frame_count) {
    return "the stream ended early (its container promises " + std::to_string(info_.frame_count) +
           " frames)";
  }
  if (info_.frame_count <= 0 && expected_end_s_ > 0) {
    // No frame count (Matroska, WebM): compare the time covered with the stated duration,
    // allowing one and a half frames for rounding.
    const double frame_s = info_.frame_rate.valid() ? 1.0 / info_.frame_rate.ToDouble() : 0.04;
    double covered = 0;
    if (last_pts_ != AV_NOPTS_VALUE) {
      covered = (last_pts_ + last_duration_ - first_pts_) * av_q2d(tb_);
    }
    if (covered + 1.5 * frame_s + 0.002 < expected_end_s_) {
      char buf[128];
      std::snprintf(buf, sizeof(buf),
                    "the stream ended early (%.3f s of the %.3f s its "
                    "container states)",
                    covered, expected_end_s_);
      return buf;
    }
  }
  return "";
}

Result<Frame> FfmpegReader::PooledFrame() {
  std::shared_ptr<PoolSlot> slot;
  for (const auto& candidate : pool_) {
    if (candidate->pixels.width == frame_->width && candidate->pixels.height == frame_->height &&
        !candidate->in_use.load(std::memory_order_acquire)) {
      slot = candidate;
      break;
    }
  }
  if (!slot) {
    slot = std::make_shared<PoolSlot>();
    VRSEG_ASSIGN_OR_RETURN(slot->pixels,
                           Frame::Allocate(options_.format, frame_->width, frame_->height));
    pool_.push_back(slot);
  }
  slot->in_use.store(true, std::memory_order_relaxed);
  Frame f = slot->pixels;
  // The only per-frame allocation: this small reference-count block (the pixels are pooled).
  f.storage = std::shared_ptr<void>(slot->pixels.data[0], [slot](void*) {
    slot->in_use.store(false, std::memory_order_release);
  });
  return f;
}

Status FfmpegReader::Convert(Frame* out) {
  AVFrame* src = frame_.get();
  bool full = src->color_range == AVCOL_RANGE_JPEG;
  const AVPixelFormat src_fmt = DejpegFormat(static_cast<AVPixelFormat>(src->format), &full);
  ColorInfo color = ColorFrom(full ? AVCOL_RANGE_JPEG : src->color_range, src->color_primaries,
                              src->color_trc, src->colorspace);
  if (color.range == 0) color.range = info_.color.range;
  if (color.matrix == AVCOL_SPC_UNSPECIFIED) color.matrix = info_.color.matrix;
  if (color.primaries == AVCOL_PRI_UNSPECIFIED) color.primaries = info_.color.primaries;
  if (color.transfer == AVCOL_TRC_UNSPECIFIED) color.transfer = info_.color.transfer;
  const int matrix = SwsMatrixFor(color, src->height);
  full = IsFullRange(color);
  // NVDEC frames are handed out as they are; host frames are converted.
  if (!nvdec_ && (!sws_ || src_fmt != sws_src_ || src->width != sws_w_ ||
                  src->height != sws_h_ || matrix != sws_matrix_ || full != sws_full_)) {
    sws_.reset(MakeConverter(src->width, src->height, src_fmt, ToAvPixelFormat(options_.format),
                             matrix, full, 1));
    if (!sws_) {
      return Status::Unsupported(
          path_ + ": cannot convert " +
          (av_get_pix_fmt_name(src_fmt) ? av_get_pix_fmt_name(src_fmt) : "?") + " to " +
          std::string(PixelFormatName(options_.format)) + " at frame " +
          std::to_string(next_index_));
    }
    sws_src_ = src_fmt;
    sws_w_ = src->width;
    sws_h_ = src->height;
    sws_matrix_ = matrix;
    sws_full_ = full;
  }
  *out = Frame{};  // lets go of the caller's previous frame so its buffer can be reused
  Frame f;
  if (nvdec_) {
    // NVDEC: the decoder's surface itself, no conversion (the frame's references move into f).
    VRSEG_ASSIGN_OR_RETURN(f, nvdec_->Wrap(src, next_index_));
  } else {
    VRSEG_ASSIGN_OR_RETURN(f, PooledFrame());
    uint8_t* dst[4];
    int dst_ls[4];
    FramePlanes(f, dst, dst_ls);
    sws_scale(sws_.get(), src->data, src->linesize, 0, src->height, dst, dst_ls);
  }

  int64_t pts = src->best_effort_timestamp;
  int64_t duration = src->pkt_duration;
  if (duration <= 0 && info_.frame_rate.valid()) {
    duration = av_rescale_q(1, AVRational{info_.frame_rate.den, info_.frame_rate.num}, tb_);
  }
  if (pts == AV_NOPTS_VALUE) {
    pts = last_pts_ == AV_NOPTS_VALUE ? 0 : last_pts_ + last_duration_;
  }
  if (first_pts_ == AV_NOPTS_VALUE) first_pts_ = pts;
  last_pts_ = pts;
  last_duration_ = duration;
  f.stream_id = options_.stream_id;
  f.index = next_index_++;
  f.pts = pts;
  f.duration = duration;
  f.time_base = info_.time_base;
  f.color = color;
  *out = std::move(f);
  return Status::Ok();
}

Status FfmpegReader::Probe() {
  stash_result_ = Read(&stash_);
  has_stash_ = true;
  if (!stash_result_.ok() && (stash_result_.status().code() == StatusCode::kUnsupported ||
                              stash_result_.status().code() == StatusCode::kUnavailable)) {
    return stash_result_.status();
  }
  return Status::Ok();
}

Result<bool> FfmpegReader::Read(Frame* out) {
  if (has_stash_) {
    has_stash_ = false;
    *out = std::move(stash_);
    stash_ = Frame{};
    return std::move(stash_result_);
  }
  Result<bool> got = ReadFrame(out);
  if (!got.ok() && nvdec_ && got.status().code() == StatusCode::kDataLoss) {
    // A decoder failure may be NVDEC's (set-up refused, surfaces exhausted) rather than damage.
    Status why = nvdec_->DecoderFailure(dec_.get(), last_decode_error_, next_index_);
    if (!why.ok()) {
      sticky_ = why;
      return why;
    }
  }
  return got;
}

Result<bool> FfmpegReader::ReadFrame(Frame* out) {
  if (!sticky_.ok()) return sticky_;
  if (ended_) return false;
  for (;;) {
    if (!after_held_.ok()) {  // deliver the frames held in suspect mode, then the error
      if (held_next_ < held_.size()) {
        av_frame_move_ref(frame_.get(), held_[held_next_++].get());
        Status s = Convert(out);
        av_frame_unref(frame_.get());
        if (!s.ok()) {
          sticky_ = s;
          return s;
        }
        return true;
      }
      held_.clear();
      sticky_ = after_held_;
      return sticky_;
    }
    int ret = avcodec_receive_frame(dec_.get(), frame_.get());
    if (ret == 0) {
      // Errors logged before the first frame comes out are the decoder skipping to its first
      // decodable frame (a stream cut before a key frame, a broadcast capture) and are not
      // counted; any later one marks damage.
      if (next_index_ == 0 && held_.empty()) {
        errors_before_first_ = decoder_errors_.errors.load();
      }
      const int64_t this_index = next_index_ + static_cast<int64_t>(held_.size());
      if ((frame_->flags & AV_FRAME_FLAG_CORRUPT) || frame_->decode_error_flags) {
        av_frame_unref(frame_.get());
        after_held_ = DataLossAt("the decoder flagged a damaged frame", this_index);
        if (held_.empty()) sticky_ = after_held_;
        if (held_.empty()) return sticky_;
        continue;  // deliver the held frames first
      }
      if (!suspect_ && decoder_errors_.errors.load() > errors_before_first_) suspect_ = true;
      if (suspect_) {
        AvFramePtr keep(av_frame_alloc());
        if (!keep) {
          sticky_ = Status::OutOfMemory(path_ + ": cannot hold a decoded frame");
          return sticky_;
        }
        av_frame_move_ref(keep.get(), frame_.get());
        held_.push_back(std::move(keep));
        StartDraining();
        continue;
      }
      Status s = Convert(out);
      av_frame_unref(frame_.get());
      if (!s.ok()) {
        sticky_ = s;
        return s;
      }
      return true;
    }
    if (ret == AVERROR_EOF) {
      if (suspect_) {  // no frame was pinned: the damage was concealed in one of the held ones
        held_.clear();
        sticky_ = DataLossAt(
            "the decoder reported damage (FFmpeg's log at debug level says "
            "more)");
        return sticky_;
      }
      std::string early = damage_.empty() ? EndedEarly() : damage_;
      if (!early.empty()) {
        sticky_ = DataLossAt(early);
        return sticky_;
      }
      ended_ = true;
      return false;
    }
    if (ret != AVERROR(EAGAIN)) last_decode_error_ = ret;
    if (suspect_ && ret != AVERROR(EAGAIN)) {  // the broken frame, pinned
      after_held_ = DataLossAt("decoding failed (" + AvError(ret) + ")",
                               next_index_ + static_cast<int64_t>(held_.size()));
      continue;
    }
    if (ret != AVERROR(EAGAIN)) {
      sticky_ = DataLossAt("decoding failed (" + AvError(ret) + ")");
      return sticky_;
    }
    if (draining_) {  // cannot happen: a draining decoder answers frames or EOF
      sticky_ = Status::Internal(path_ + ": decoder asked for input while draining");
      return sticky_;
    }
    ret = av_read_frame(fmt_.get(), pkt_.get());
    if (ret == AVERROR_EOF) {
      if (fmt_->pb && fmt_->pb->error < 0 && fmt_->pb->error != AVERROR_EOF) {
        Damage("read error (" + AvError(fmt_->pb->error) + ")");
      } else {
        StartDraining();
      }
      continue;
    }
    if (ret < 0) {
      Damage("the file is damaged or cut short (" + AvError(ret) + ")");
      continue;
    }
    if (pkt_->stream_index != stream_index_) {
      av_packet_unref(pkt_.get());
      continue;
    }
    if (pkt_->flags & AV_PKT_FLAG_CORRUPT) {
      av_packet_unref(pkt_.get());
      Damage("the file is cut short or damaged (incomplete packet)");
      continue;
    }
    if (is_jpeg_ && !EndsWithJpegEoi(pkt_->data, pkt_->size)) {
      av_packet_unref(pkt_.get());
      Damage("truncated JPEG (no end-of-image marker)");
      continue;
    }
    ret = avcodec_send_packet(dec_.get(), pkt_.get());
    av_packet_unref(pkt_.get());
    if (ret < 0 && ret != AVERROR(EAGAIN)) last_decode_error_ = ret;
    if (ret < 0 && ret != AVERROR(EAGAIN)) {
      // A decoder error belongs to the next frame in output order (with frame threading it
      // surfaces a few packets later); frames still inside the decoder may depend on the broken
      // one, so stop here rather than drain.
      sticky_ = DataLossAt("decoding failed (" + AvError(ret) + ")");
      return sticky_;
    }
  }
}

}  // namespace

Result<std::unique_ptr<VideoReader>> VideoReader::Open(const std::string& path,
                                                       const ReaderOptions& options) {
  io_internal::RouteFfmpegLogs();
  VRSEG_ASSIGN_OR_RETURN(const io_internal::HwAccel hw,
                         io_internal::ParseHwAccel(options.hwaccel, path));
  if (hw != io_internal::HwAccel::kNone) {
    auto reader = std::make_unique<FfmpegReader>(path, options, /*nvdec=*/true);
    Status s = reader->Init();
    if (s.ok()) s = reader->Probe();
    if (s.ok()) return std::unique_ptr<VideoReader>(std::move(reader));
    const bool nvdec_refused =
        s.code() == StatusCode::kUnsupported || s.code() == StatusCode::kUnavailable;
    if (hw == io_internal::HwAccel::kCuda || !nvdec_refused) return s;
    LogInfo(path + ": decoding on the CPU, NVDEC cannot be used (" + s.message() + ")");
  }
  auto reader = std::make_unique<FfmpegReader>(path, options, /*nvdec=*/false);
  VRSEG_RETURN_IF_ERROR(reader->Init());
  return std::unique_ptr<VideoReader>(std::move(reader));
}

}  // namespace vrseg
