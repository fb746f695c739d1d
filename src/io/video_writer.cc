// VideoWriter: swscale conversion + FFmpeg encode + mux, with audio packet copy.

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "io/ffmpeg_common.h"
#include "vrseg/io.h"
#include "vrseg/log.h"

extern "C" {
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/version.h>
#include <libswresample/version.h>
#include <libswscale/version.h>
}

namespace vrseg {
namespace {

int Cores() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

// The frame geometry, timing and colour of an encoder, copied onto another before it is opened.
void CopySettings(const AVCodecContext* from, AVCodecContext* to) {
  to->width = from->width;
  to->height = from->height;
  to->pix_fmt = from->pix_fmt;
  to->time_base = from->time_base;
  to->framerate = from->framerate;
  to->sample_aspect_ratio = from->sample_aspect_ratio;
  to->color_range = from->color_range;
  to->color_primaries = from->color_primaries;
  to->color_trc = from->color_trc;
  to->colorspace = from->colorspace;
}

bool LargeFrame(int width, int height) { return static_cast<int64_t>(width) * height >= 640 * 480; }

// FFV1 encoders that encode frames side by side (WriterOptions::encoders; 0: auto = a quarter of
// the cores, 1..4, for frames of 640x480 and up; else 1).
int Ffv1Encoders(const WriterOptions& o, int width, int height) {
  if (o.encoders > 0) return std::min(o.encoders, 16);
  if (!LargeFrame(width, height)) return 1;
  return std::clamp(Cores() / 4, 1, 4);
}

// FFV1 slices for a frame size and a core budget: 4 below 640x480; else one per core (at least
// 4), rounded down to a count FFV1 level 3 lays out (4, 6, 9, 12, 16, 24).
int Ffv1Slices(int width, int height, int cores) {
  if (!LargeFrame(width, height)) return 4;
  int slices = 4;
  for (int n : {6, 9, 12, 16, 24}) {
    if (n <= cores) slices = n;
  }
  return slices;
}

using namespace io_internal;  // NOLINT(build/namespaces)

struct OutputDeleter {
  void operator()(AVFormatContext* c) const {
    if (c->pb && !(c->oformat->flags & AVFMT_NOFILE)) avio_closep(&c->pb);
    avformat_free_context(c);
  }
};
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

const char* ContentName(OutputContent c) {
  switch (c) {
    case OutputContent::kMask:
      return "mask";
    case OutputContent::kAlpha:
      return "alpha";
    case OutputContent::kComposite:
      return "composite";
  }
  return "?";
}

// What one (container, content) pair is encoded as.
struct EncodeChoice {
  const char* muxer = nullptr;
  const char* encoder = nullptr;
  AVPixelFormat pix_fmt = AV_PIX_FMT_NONE;
};

Result<EncodeChoice> ChooseEncoding(OutputContainer c, OutputContent content,
                                    const std::string& path) {
  const bool mask = content == OutputContent::kMask;
  const bool alpha = content == OutputContent::kAlpha;
  switch (c) {
    case OutputContainer::kMkvFfv1:
      return EncodeChoice{"matroska", "ffv1",
                          mask ? AV_PIX_FMT_GRAY8 : (alpha ? AV_PIX_FMT_BGRA : AV_PIX_FMT_0RGB32)};
    case OutputContainer::kMp4H264:
      if (alpha) {
        return Status::Unsupported(path +
                                   ": H.264/MP4 cannot carry alpha; write alpha as .mov "
                                   "(ProRes 4444), .webm (VP9), .mkv (FFV1) or PNG");
      }
      return EncodeChoice{"mp4", "libx264", AV_PIX_FMT_YUV420P};
    case OutputContainer::kMovProRes4444:
      return EncodeChoice{"mov", "prores_ks",
                          alpha ? AV_PIX_FMT_YUVA444P10LE : AV_PIX_FMT_YUV444P10LE};
    case OutputContainer::kWebmVp9Alpha:
      return EncodeChoice{"webm", "libvpx-vp9", alpha ? AV_PIX_FMT_YUVA420P : AV_PIX_FMT_YUV420P};
    case OutputContainer::kPngSequence:
    case OutputContainer::kPngImage:
      return EncodeChoice{"image2", "png",
                          mask ? AV_PIX_FMT_GRAY8 : (alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24)};
  }
  return Status::Internal(path + ": unknown container");
}

bool IsRgbOrGray(AVPixelFormat f) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(f);
  return d && ((d->flags & AV_PIX_FMT_FLAG_RGB) || d->nb_components <= 2);
}

class FfmpegWriter final : public VideoWriter {
 public:
  FfmpegWriter(std::string path, VideoInfo input, WriterOptions options)
      : path_(std::move(path)), input_(std::move(input)), options_(std::move(options)) {}
  ~FfmpegWriter() override {
    Status s = Close();
    if (!s.ok()) LogError("closing " + path_ + ": " + s.ToString());
    for (auto& h : helpers_) {
      {
        std::lock_guard<std::mutex> lock(h->mu);
        h->quit = true;
      }
      h->cv.notify_all();
      if (h->thread.joinable()) h->thread.join();
    }
    // A file created by an Open() that failed before its header holds nothing playable.
    if (created_file_ && !header_written_) std::remove(path_.c_str());
  }

  Status Init();
  Status Write(const Frame& frame) override;
  Status Close() override;
  int64_t frames_written() const override { return frames_written_; }

 private:
  Status OpenAudio();
  Status Fill(const Frame& frame, AVFrame* dst);
  Status Drain(bool flushing);
  Status CopyAudioUntil(int64_t end, AVRational end_tb);
  Status OpenEncoder(const AVCodec* codec, AVCodecContext* enc, int threads);
  Status OpenFile();
  Status StartHelpers(const AVCodec* codec, int count);
  Status MuxNext();
  Status WritePacket(AVPacket* pkt, int64_t end_pts);
  Status Error(const std::string& what) const {
    return Status::IoError(path_ + ": " + what + " at frame " + std::to_string(frames_written_));
  }

  std::string path_;
  VideoInfo input_;
  WriterOptions options_;
  OutputContainer container_ = OutputContainer::kMkvFfv1;
  EncodeChoice choice_;
  OutputPtr oc_;
  CodecPtr enc_;
  AVStream* vst_ = nullptr;
  AvFramePtr enc_frame_{av_frame_alloc()};
  PacketPtr pkt_{av_packet_alloc()};
  SwsPtr sws_;
  AVPixelFormat sws_src_ = AV_PIX_FMT_NONE;
  ColorInfo out_color_;
  int yuv_matrix_ = 0;
  bool yuv_full_ = false;
  bool header_written_ = false;
  bool created_file_ = false;
  bool closed_ = false;
  int64_t frames_written_ = 0;
  int64_t last_pts_ = AV_NOPTS_VALUE;  // encoder time base
  int64_t end_pts_ = 0;                // end of the last frame written, encoder time base
  // Frame-parallel FFV1 (every frame is a key frame that stands alone): `helpers_` encoders, each
  // on a thread of its own, take frames in turn; their packets are muxed here in frame order.
  // Empty: enc_ encodes on the calling thread.
  struct Helper {
    CodecPtr enc;
    AvFramePtr frame{av_frame_alloc()};
    PacketPtr pkt{av_packet_alloc()};
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    bool job = false, done = false, quit = false;
    int ret = 0;
    int64_t end_pts = 0;
  };
  std::vector<std::unique_ptr<Helper>> helpers_;
  int64_t muxed_ = 0;  // frames whose packet was written (parallel mode)
  // Audio copy.
  InputPtr audio_in_;
  int audio_index_ = -1;
  AVStream* ast_ = nullptr;
  PacketPtr apkt_;
  bool apkt_held_ = false;
  bool audio_eof_ = false;
};

Status FfmpegWriter::Init() {
  if (!enc_frame_ || !pkt_) return Status::OutOfMemory(path_ + ": cannot allocate encoder frame");
  VRSEG_ASSIGN_OR_RETURN(container_, OutputContainerFor(path_));
  VRSEG_ASSIGN_OR_RETURN(choice_, ChooseEncoding(container_, options_.content, path_));
  if (input_.width <= 0 || input_.height <= 0) {
    return Status::InvalidArgument(path_ + ": output size " + std::to_string(input_.width) + "x" +
                                   std::to_string(input_.height) + " is not valid");
  }
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(choice_.pix_fmt);
  if ((desc->log2_chroma_w && input_.width % 2) || (desc->log2_chroma_h && input_.height % 2)) {
    return Status::Unsupported(path_ + ": " + std::to_string(input_.width) + "x" +
                               std::to_string(input_.height) + " is odd; " +
                               av_get_pix_fmt_name(choice_.pix_fmt) +
                               " needs even sizes "
                               "(use .mkv or .mov)");
  }
  AVRational tb{input_.time_base.num, input_.time_base.den};
  if (!input_.time_base.valid()) {
    tb = input_.frame_rate.valid() ? AVRational{input_.frame_rate.den, input_.frame_rate.num}
                                   : AVRational{1, 25};
  }
  AVRational rate{input_.frame_rate.num, input_.frame_rate.den};
  if (!input_.frame_rate.valid()) rate = AVRational{25, 1};

  const AVCodec* codec = avcodec_find_encoder_by_name(choice_.encoder);
  if (!codec) {
    return Status::Unsupported(path_ + ": this FFmpeg has no " + choice_.encoder + " encoder");
  }
  AVFormatContext* raw = nullptr;
  int ret = avformat_alloc_output_context2(&raw, nullptr, choice_.muxer, path_.c_str());
  if (ret < 0 || !raw) {
    return Status::Unsupported(path_ + ": cannot create a " + choice_.muxer +
                               " output: " + AvError(ret));
  }
  oc_.reset(raw);
  enc_.reset(avcodec_alloc_context3(codec));
  if (!enc_) return Status::OutOfMemory(path_ + ": cannot allocate encoder");

  // Colour: YUV outputs are converted with, and tagged as, the input's description; masks hold
  // mask values on the full 0-255 scale, so they are tagged full range; RGB-coded outputs are
  // tagged with the RGB matrix.
  out_color_ = input_.color;
  if (input_.color.matrix == AVCOL_SPC_RGB && !IsRgbOrGray(choice_.pix_fmt)) {
    // An RGB source (PNG, ...) going to YUV: the usual video convention, said explicitly:
    // limited range, BT.709 from 720 rows up, BT.601 below.
    out_color_.matrix = input_.height >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
    out_color_.range = AVCOL_RANGE_MPEG;
  }
  yuv_matrix_ = SwsMatrixFor(out_color_, input_.height);
  yuv_full_ = IsFullRange(out_color_);
  if (container_ == OutputContainer::kMovProRes4444) {
    // ProRes has no range flag: it is always limited range, so convert to that.
    out_color_.range = AVCOL_RANGE_MPEG;
    yuv_full_ = false;
  } else if (options_.content == OutputContent::kMask) {
    out_color_.range = AVCOL_RANGE_JPEG;
  } else if (IsRgbOrGray(choice_.pix_fmt)) {
    out_color_.range = AVCOL_RANGE_JPEG;
    out_color_.matrix = AVCOL_SPC_RGB;
  } else if (out_color_.range == AVCOL_RANGE_UNSPECIFIED) {
    out_color_.range = AVCOL_RANGE_MPEG;  // what the conversion assumed; say it
  }

  enc_->width = input_.width;
  enc_->height = input_.height;
  enc_->pix_fmt = choice_.pix_fmt;
  enc_->time_base = tb;
  enc_->framerate = rate;
  enc_->sample_aspect_ratio = AVRational{1, 1};
  enc_->color_range = static_cast<AVColorRange>(out_color_.range);
  enc_->color_primaries = static_cast<AVColorPrimaries>(out_color_.primaries);
  enc_->color_trc = static_cast<AVColorTransferCharacteristic>(out_color_.transfer);
  enc_->colorspace = static_cast<AVColorSpace>(out_color_.matrix);
  const int encoders = container_ == OutputContainer::kMkvFfv1
                           ? Ffv1Encoders(options_, input_.width, input_.height)
                           : 1;
  // Another encoder than the container's own: WriterOptions::encoder, or NVENC where asked to
  // prefer it and the machine has one (else the container's own, said once in the log).
  std::string other = options_.encoder;
  const bool optional = other.empty() && options_.prefer_nvenc &&
                        container_ == OutputContainer::kMp4H264;
  if (optional) other = "h264_nvenc";
  bool opened = false;
  if (!other.empty() && other != choice_.encoder) {
    const AVCodec* alt = avcodec_find_encoder_by_name(other.c_str());
    Status st = alt ? Status::Ok()
                    : Status::Unsupported(path_ + ": this FFmpeg has no " + other + " encoder");
    if (alt) {
      CodecPtr ctx(avcodec_alloc_context3(alt));
      if (!ctx) return Status::OutOfMemory(path_ + ": cannot allocate encoder");
      CopySettings(enc_.get(), ctx.get());
      st = OpenEncoder(alt, ctx.get(), 0);
      if (st.ok()) {
        enc_ = std::move(ctx);
        opened = true;
      }
    }
    if (!opened && !optional) return st;
    if (!opened) {
      LogInfo(path_ + ": no usable NVENC here (" + st.message() + "); encoding with " +
              choice_.encoder);
    }
  }
  if (!opened) {
    VRSEG_RETURN_IF_ERROR(OpenEncoder(
        codec, enc_.get(),
        encoders > 1 ? (options_.threads > 0 ? options_.threads : std::max(1, Cores() / encoders))
                     : 0));
  }
  vst_ = avformat_new_stream(oc_.get(), nullptr);
  if (!vst_) return Status::OutOfMemory(path_ + ": cannot add a video stream");
  ret = avcodec_parameters_from_context(vst_->codecpar, enc_.get());
  if (ret < 0) return Status::Internal(path_ + ": encoder parameters: " + AvError(ret));
  vst_->time_base = tb;
  vst_->avg_frame_rate = rate;
  vst_->r_frame_rate = rate;
  if (encoders > 1 && !opened) VRSEG_RETURN_IF_ERROR(StartHelpers(codec, encoders));

  if (options_.copy_audio && input_.has_audio && !input_.path.empty()) {
    VRSEG_RETURN_IF_ERROR(OpenAudio());
  }
  return OpenFile();
}

// Sets the codec options of this output on `enc` (whose size, format, time base and colour are
// set) and opens it. `threads` > 0: FFV1 in frame-parallel mode, the cores of one encoder.
Status FfmpegWriter::OpenEncoder(const AVCodec* codec, AVCodecContext* enc, int threads) {
  enc->thread_count = threads > 0 ? threads : options_.threads;
  if (oc_->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  if (std::string(codec->name) != choice_.encoder) {
    // An encoder named by the caller: only the quality setting where it has one.
    if (std::string(codec->name).find("nvenc") != std::string::npos) {
      av_dict_set(&opts, "preset", "p4", 0);
      av_dict_set(&opts, "rc", "vbr", 0);
      av_dict_set_int(&opts, "cq", options_.crf, 0);
    }
  } else switch (container_) {
    case OutputContainer::kMkvFfv1: {
      av_dict_set(&opts, "level", "3", 0);
      // Independent slices: robust (each has its CRC) and encoded in parallel, one thread per
      // slice. FFV1 is the mask writer of the GPU path, where this encoder is the slowest stage
      // (about 120 frames/s of 1080p with 4 slices on a 16-core host), so frames of 640x480 and
      // up get a slice per core of their encoder, up to 24 (a count FFV1 level 3 can lay out).
      const int slices = Ffv1Slices(enc->width, enc->height, threads > 0 ? threads : Cores());
      av_dict_set(&opts, "slices", std::to_string(slices).c_str(), 0);
      av_dict_set(&opts, "slicecrc", "1", 0);
      enc->thread_type = FF_THREAD_SLICE;
      enc->gop_size = 1;
      break;
    }
    case OutputContainer::kMp4H264:
      av_dict_set(&opts, "preset", options_.preset.c_str(), 0);
      av_dict_set_int(&opts, "crf", options_.crf, 0);
      break;
    case OutputContainer::kMovProRes4444:
      av_dict_set(&opts, "profile", "4444", 0);
      av_dict_set(&opts, "vendor", "apl0", 0);
      break;
    case OutputContainer::kWebmVp9Alpha:
      enc_->bit_rate = 0;
      av_dict_set_int(&opts, "crf", options_.crf, 0);
      av_dict_set(&opts, "deadline", "realtime", 0);
      av_dict_set(&opts, "cpu-used", "8", 0);
      av_dict_set(&opts, "row-mt", "1", 0);
      break;
    case OutputContainer::kPngSequence:
    case OutputContainer::kPngImage:
      break;
  }
  const int ret = avcodec_open2(enc, codec, &opts);
  av_dict_free(&opts);
  if (ret < 0) {
    return Status::Unsupported(path_ + ": cannot open the " + codec->name + " encoder (" +
                               av_get_pix_fmt_name(choice_.pix_fmt) + "): " + AvError(ret));
  }
  return Status::Ok();
}

// Opens `count` more encoders like enc_ (same settings, so the same stream header: checked) and
// starts their threads. Where a header differs, falls back to encoding on the calling thread.
Status FfmpegWriter::StartHelpers(const AVCodec* codec, int count) {
  const int threads = options_.threads > 0 ? options_.threads : std::max(1, Cores() / count);
  for (int i = 0; i < count; ++i) {
    auto h = std::make_unique<Helper>();
    h->enc.reset(avcodec_alloc_context3(codec));
    if (!h->enc) return Status::OutOfMemory(path_ + ": cannot allocate encoder");
    AVCodecContext* e = h->enc.get();
    CopySettings(enc_.get(), e);
    VRSEG_RETURN_IF_ERROR(OpenEncoder(codec, e, threads));
    if (e->extradata_size != enc_->extradata_size ||
        (e->extradata_size > 0 &&
         std::memcmp(e->extradata, enc_->extradata, static_cast<size_t>(e->extradata_size)) != 0)) {
      LogDebug(path_ + ": parallel FFV1 encoders disagree on the stream header; encoding serially");
      helpers_.clear();
      return Status::Ok();
    }
    h->frame->format = choice_.pix_fmt;
    h->frame->width = input_.width;
    h->frame->height = input_.height;
    if (av_frame_get_buffer(h->frame.get(), 0) < 0) {
      return Status::OutOfMemory(path_ + ": cannot allocate an encoder frame");
    }
    helpers_.push_back(std::move(h));
  }
  for (auto& hp : helpers_) {
    Helper* h = hp.get();
    h->thread = std::thread([h] {
      std::unique_lock<std::mutex> lock(h->mu);
      for (;;) {
        h->cv.wait(lock, [h] { return h->job || h->quit; });
        if (h->quit) return;
        lock.unlock();
        int ret = avcodec_send_frame(h->enc.get(), h->frame.get());
        if (ret >= 0) ret = avcodec_receive_packet(h->enc.get(), h->pkt.get());
        lock.lock();
        h->ret = ret;
        h->job = false;
        h->done = true;
        h->cv.notify_all();
      }
    });
  }
  return Status::Ok();
}

// Writes the packet of frame muxed_ (parallel mode), waiting for its encoder.
Status FfmpegWriter::MuxNext() {
  Helper& h = *helpers_[static_cast<size_t>(muxed_ % static_cast<int64_t>(helpers_.size()))];
  {
    std::unique_lock<std::mutex> lock(h.mu);
    h.cv.wait(lock, [&] { return h.done; });
    h.done = false;
  }
  ++muxed_;
  if (h.ret < 0) return Error("encoding failed (" + AvError(h.ret) + ")");
  return WritePacket(h.pkt.get(), h.end_pts);
}

// Audio due before the end of this packet's frames, then the packet (encoder time base).
Status FfmpegWriter::WritePacket(AVPacket* pkt, int64_t end_pts) {
  VRSEG_RETURN_IF_ERROR(CopyAudioUntil(end_pts, enc_->time_base));
  pkt->stream_index = vst_->index;
  av_packet_rescale_ts(pkt, enc_->time_base, vst_->time_base);
  const int ret = av_interleaved_write_frame(oc_.get(), pkt);
  if (ret < 0) return Error("writing video failed (" + AvError(ret) + ")");
  return Status::Ok();
}

Status FfmpegWriter::OpenFile() {
  int ret = 0;
  if (!(oc_->oformat->flags & AVFMT_NOFILE)) {
    ret = avio_open(&oc_->pb, path_.c_str(), AVIO_FLAG_WRITE);
    created_file_ = ret >= 0;
    if (ret < 0) {
      if (ret == AVERROR(ENOENT)) {
        return Status::NotFound(path_ + ": cannot create the file (no such folder)");
      }
      return Status::IoError(path_ + ": cannot create the file: " + AvError(ret));
    }
  }
  AVDictionary* mux_opts = nullptr;
  if (container_ == OutputContainer::kPngImage) av_dict_set(&mux_opts, "update", "1", 0);
  ret = avformat_write_header(oc_.get(), &mux_opts);
  av_dict_free(&mux_opts);
  if (ret < 0) {
    return Status::IoError(path_ + ": cannot write the " + choice_.muxer +
                           " header: " + AvError(ret));
  }
  header_written_ = true;

  // One reusable frame for the encoder's input.
  enc_frame_->format = choice_.pix_fmt;
  enc_frame_->width = input_.width;
  enc_frame_->height = input_.height;
  ret = av_frame_get_buffer(enc_frame_.get(), 0);
  if (ret < 0) return Status::OutOfMemory(path_ + ": cannot allocate the encoder frame");
  return Status::Ok();
}

Status FfmpegWriter::OpenAudio() {
  const std::string ext = path_.substr(path_.find_last_of('.') + 1);
  AVFormatContext* raw = nullptr;
  int ret = avformat_open_input(&raw, input_.path.c_str(), nullptr, nullptr);
  if (ret < 0) {
    LogWarning(path_ + ": cannot reopen " + input_.path + " for its audio (" + AvError(ret) +
               "); the output has no audio");
    return Status::Ok();
  }
  audio_in_.reset(raw);
  if (avformat_find_stream_info(audio_in_.get(), nullptr) < 0) {
    LogWarning(path_ + ": cannot read the streams of " + input_.path + "; the output has no audio");
    audio_in_.reset();
    return Status::Ok();
  }
  audio_index_ = av_find_best_stream(audio_in_.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (audio_index_ < 0) {
    audio_in_.reset();
    return Status::Ok();
  }
  AVStream* in = audio_in_->streams[audio_index_];
  const char* cname = avcodec_get_name(in->codecpar->codec_id);
  if (avformat_query_codec(oc_->oformat, in->codecpar->codec_id, FF_COMPLIANCE_NORMAL) != 1) {
    LogWarning(path_ + ": the input's " + cname + " audio cannot be copied into ." + ext + " (" +
               choice_.muxer + "); the output has no audio");
    audio_in_.reset();
    return Status::Ok();
  }
  for (unsigned i = 0; i < audio_in_->nb_streams; ++i) {
    if (static_cast<int>(i) != audio_index_) audio_in_->streams[i]->discard = AVDISCARD_ALL;
  }
  ast_ = avformat_new_stream(oc_.get(), nullptr);
  if (!ast_) return Status::OutOfMemory(path_ + ": cannot add an audio stream");
  ret = avcodec_parameters_copy(ast_->codecpar, in->codecpar);
  if (ret < 0) return Status::Internal(path_ + ": audio parameters: " + AvError(ret));
  ast_->codecpar->codec_tag = 0;
  ast_->time_base = in->time_base;
  apkt_.reset(av_packet_alloc());
  if (!apkt_) return Status::OutOfMemory(path_ + ": cannot allocate an audio packet");
  LogDebug(path_ + ": copying " + cname + " audio from " + input_.path);
  return Status::Ok();
}

Status FfmpegWriter::CopyAudioUntil(int64_t end, AVRational end_tb) {
  if (!audio_in_ || audio_eof_) return Status::Ok();
  AVStream* in = audio_in_->streams[audio_index_];
  for (;;) {
    if (!apkt_held_) {
      int ret = av_read_frame(audio_in_.get(), apkt_.get());
      if (ret < 0) {
        if (ret != AVERROR_EOF) {
          LogWarning(path_ + ": audio of " + input_.path + " ends early: " + AvError(ret));
        }
        audio_eof_ = true;
        return Status::Ok();
      }
      if (apkt_->stream_index != audio_index_) {
        av_packet_unref(apkt_.get());
        continue;
      }
      apkt_held_ = true;
    }
    const int64_t ts = apkt_->pts != AV_NOPTS_VALUE ? apkt_->pts : apkt_->dts;
    if (ts != AV_NOPTS_VALUE && av_compare_ts(ts, in->time_base, end, end_tb) >= 0) {
      return Status::Ok();  // starts after the video written so far; keep it for later
    }
    apkt_->stream_index = ast_->index;
    av_packet_rescale_ts(apkt_.get(), in->time_base, ast_->time_base);
    apkt_->pos = -1;
    apkt_held_ = false;
    const int ret = av_interleaved_write_frame(oc_.get(), apkt_.get());
    if (ret < 0) return Error("writing audio failed: " + AvError(ret));
  }
}

Status FfmpegWriter::Fill(const Frame& frame, AVFrame* dst) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(choice_.pix_fmt);
  const bool mask = options_.content == OutputContent::kMask;
  if (mask && choice_.pix_fmt == AV_PIX_FMT_GRAY8) {
    for (int y = 0; y < frame.height; ++y) {
      std::memcpy(dst->data[0] + y * dst->linesize[0], frame.data[0] + y * frame.pitch[0],
                  frame.width);
    }
    return Status::Ok();
  }
  if (mask) {
    // A mask in a YUV format: the mask values as luma, neutral chroma, opaque alpha.
    const int depth = d->comp[0].depth;
    const int cw = AV_CEIL_RSHIFT(frame.width, d->log2_chroma_w);
    const int ch = AV_CEIL_RSHIFT(frame.height, d->log2_chroma_h);
    const bool has_alpha = d->flags & AV_PIX_FMT_FLAG_ALPHA;
    if (depth == 8) {
      for (int y = 0; y < frame.height; ++y) {
        std::memcpy(dst->data[0] + y * dst->linesize[0], frame.data[0] + y * frame.pitch[0],
                    frame.width);
        if (has_alpha) std::memset(dst->data[3] + y * dst->linesize[3], 255, frame.width);
      }
      for (int y = 0; y < ch; ++y) {
        std::memset(dst->data[1] + y * dst->linesize[1], 128, cw);
        std::memset(dst->data[2] + y * dst->linesize[2], 128, cw);
      }
    } else {  // 10-bit little-endian (ProRes): limited range, 0..255 -> 64..940
      uint16_t lut[256];
      for (int v = 0; v < 256; ++v) lut[v] = static_cast<uint16_t>(64 + (v * 876 + 127) / 255);
      for (int y = 0; y < frame.height; ++y) {
        auto* row = reinterpret_cast<uint16_t*>(dst->data[0] + y * dst->linesize[0]);
        auto* arow =
            has_alpha ? reinterpret_cast<uint16_t*>(dst->data[3] + y * dst->linesize[3]) : nullptr;
        const uint8_t* m = frame.data[0] + y * frame.pitch[0];
        for (int x = 0; x < frame.width; ++x) {
          row[x] = lut[m[x]];
          if (arow) arow[x] = 1023;
        }
      }
      for (int y = 0; y < ch; ++y) {
        auto* u = reinterpret_cast<uint16_t*>(dst->data[1] + y * dst->linesize[1]);
        auto* v = reinterpret_cast<uint16_t*>(dst->data[2] + y * dst->linesize[2]);
        std::fill(u, u + cw, 512);
        std::fill(v, v + cw, 512);
      }
    }
    return Status::Ok();
  }
  const AVPixelFormat src = ToAvPixelFormat(frame.format);
  if (!sws_ || src != sws_src_) {
    sws_.reset(
        MakeConverter(frame.width, frame.height, src, choice_.pix_fmt, yuv_matrix_, yuv_full_, 1));
    if (!sws_) {
      return Status::Unsupported(path_ + ": cannot convert " +
                                 std::string(PixelFormatName(frame.format)) + " to " +
                                 av_get_pix_fmt_name(choice_.pix_fmt));
    }
    sws_src_ = src;
  }
  uint8_t* sdata[4];
  int sls[4];
  FramePlanes(frame, sdata, sls);
  sws_scale(sws_.get(), sdata, sls, 0, frame.height, dst->data, dst->linesize);
  return Status::Ok();
}

Status FfmpegWriter::Drain(bool flushing) {
  for (;;) {
    int ret = avcodec_receive_packet(enc_.get(), pkt_.get());
    if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return Status::Ok();
    if (ret < 0) return Error("encoding failed (" + AvError(ret) + ")");
    // Audio that starts before this packet's frames ends goes in first, so the muxer can
    // interleave without waiting.
    if (!flushing) VRSEG_RETURN_IF_ERROR(CopyAudioUntil(end_pts_, enc_->time_base));
    pkt_->stream_index = vst_->index;
    av_packet_rescale_ts(pkt_.get(), enc_->time_base, vst_->time_base);
    ret = av_interleaved_write_frame(oc_.get(), pkt_.get());
    if (ret < 0) return Error("writing video failed (" + AvError(ret) + ")");
  }
}

Status FfmpegWriter::Write(const Frame& frame) {
  if (closed_) return Status::InvalidArgument(path_ + ": Write after Close");
  if (!header_written_) return Status::Internal(path_ + ": writer not open");
  if (container_ == OutputContainer::kPngImage && frames_written_ >= 1) {
    return Status::InvalidArgument(path_ +
                                   ": a single .png output takes one frame; use a "
                                   "pattern such as out_%04d.png for a sequence");
  }
  if (frame.memory == MemoryKind::kDevice || frame.empty()) {
    return Status::InvalidArgument(path_ + ": frame " + std::to_string(frame.index) +
                                   " has no host pixels");
  }
  if (frame.width != input_.width || frame.height != input_.height) {
    return Status::InvalidArgument(
        path_ + ": frame " + std::to_string(frame.index) + " is " + std::to_string(frame.width) +
        "x" + std::to_string(frame.height) + ", the output is " + std::to_string(input_.width) +
        "x" + std::to_string(input_.height));
  }
  bool format_ok = false;
  switch (options_.content) {
    case OutputContent::kMask:
      format_ok = frame.format == PixelFormat::kGray8;
      break;
    case OutputContent::kAlpha:
      format_ok = frame.format == PixelFormat::kRGBA || frame.format == PixelFormat::kBGRA;
      break;
    case OutputContent::kComposite:
      format_ok = frame.format == PixelFormat::kRGB24 || frame.format == PixelFormat::kBGR24 ||
                  frame.format == PixelFormat::kRGBA || frame.format == PixelFormat::kBGRA;
      break;
  }
  if (!format_ok) {
    return Status::InvalidArgument(path_ + ": frame " + std::to_string(frame.index) + " is " +
                                   std::string(PixelFormatName(frame.format)) + ", a " +
                                   ContentName(options_.content) + " output takes " +
                                   (options_.content == OutputContent::kMask    ? "gray8"
                                    : options_.content == OutputContent::kAlpha ? "rgba/bgra"
                                                                                : "rgb24/bgr24"));
  }
  // Timestamps: the frame's pts in the output's (the input's) time base.
  int64_t pts = frame.pts;
  int64_t dur = frame.duration;
  const AVRational ftb{frame.time_base.num, frame.time_base.den};
  if (frame.time_base.valid() && av_cmp_q(ftb, enc_->time_base) != 0) {
    pts = av_rescale_q(frame.pts, ftb, enc_->time_base);
    dur = av_rescale_q(frame.duration, ftb, enc_->time_base);
  }
  if (dur <= 0)
    dur = std::max<int64_t>(1, av_rescale_q(1, av_inv_q(enc_->framerate), enc_->time_base));
  if (last_pts_ != AV_NOPTS_VALUE && pts <= last_pts_) {
    return Status::InvalidArgument(path_ + ": frame " + std::to_string(frame.index) + " pts " +
                                   std::to_string(frame.pts) +
                                   " does not increase (previous frame ended earlier)");
  }
  if (!helpers_.empty()) {
    // Frame n goes to encoder n % K once that encoder's previous frame (n - K) is muxed.
    const int64_t n = frames_written_;
    const int64_t k = static_cast<int64_t>(helpers_.size());
    while (muxed_ <= n - k) VRSEG_RETURN_IF_ERROR(MuxNext());
    Helper& h = *helpers_[static_cast<size_t>(n % k)];
    if (av_frame_make_writable(h.frame.get()) < 0) {
      return Status::OutOfMemory(path_ + ": cannot get an encoder frame");
    }
    VRSEG_RETURN_IF_ERROR(Fill(frame, h.frame.get()));
    h.frame->pts = pts;
    h.frame->pkt_duration = dur;
    h.frame->color_range = static_cast<AVColorRange>(out_color_.range);
    h.frame->color_primaries = static_cast<AVColorPrimaries>(out_color_.primaries);
    h.frame->color_trc = static_cast<AVColorTransferCharacteristic>(out_color_.transfer);
    h.frame->colorspace = static_cast<AVColorSpace>(out_color_.matrix);
    h.end_pts = pts + dur;
    {
      std::lock_guard<std::mutex> lock(h.mu);
      h.job = true;
    }
    h.cv.notify_all();
    last_pts_ = pts;
    end_pts_ = pts + dur;
    ++frames_written_;
    return Status::Ok();
  }
  int ret = av_frame_make_writable(enc_frame_.get());
  if (ret < 0) return Status::OutOfMemory(path_ + ": cannot get an encoder frame");
  VRSEG_RETURN_IF_ERROR(Fill(frame, enc_frame_.get()));
  enc_frame_->pts = pts;
  enc_frame_->pkt_duration = dur;
  enc_frame_->color_range = static_cast<AVColorRange>(out_color_.range);
  enc_frame_->color_primaries = static_cast<AVColorPrimaries>(out_color_.primaries);
  enc_frame_->color_trc = static_cast<AVColorTransferCharacteristic>(out_color_.transfer);
  enc_frame_->colorspace = static_cast<AVColorSpace>(out_color_.matrix);
  ret = avcodec_send_frame(enc_.get(), enc_frame_.get());
  if (ret < 0) return Error("the encoder refused the frame (" + AvError(ret) + ")");
  last_pts_ = pts;
  end_pts_ = pts + dur;
  ++frames_written_;
  return Drain(false);
}

Status FfmpegWriter::Close() {
  if (closed_) return Status::Ok();
  closed_ = true;
  if (!header_written_) return Status::Ok();
  Status status;
  while (!helpers_.empty() && muxed_ < frames_written_) {
    Status m = MuxNext();
    if (!m.ok() && status.ok()) status = m;
  }
  int ret = avcodec_send_frame(enc_.get(), nullptr);
  if (ret < 0 && ret != AVERROR_EOF) status = Error("flushing the encoder failed: " + AvError(ret));
  if (status.ok()) status = Drain(true);
  // The rest of the audio, up to the end of the last video frame written.
  if (frames_written_ > 0) {
    Status a = CopyAudioUntil(end_pts_, enc_->time_base);
    if (status.ok()) status = a;
  }
  ret = av_write_trailer(oc_.get());
  if (ret < 0 && status.ok()) status = Error("writing the trailer failed: " + AvError(ret));
  if (oc_->pb && !(oc_->oformat->flags & AVFMT_NOFILE)) {
    ret = avio_closep(&oc_->pb);
    if (ret < 0 && status.ok()) status = Error("closing the file failed: " + AvError(ret));
  }
  return status;
}

}  // namespace

Result<OutputContainer> OutputContainerFor(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of('/');
  const std::string ext = (dot == std::string::npos || (slash != std::string::npos && dot < slash))
                              ? ""
                              : Lower(path.substr(dot + 1));
  const bool pattern = IsPattern(path);
  if (ext == "png") return pattern ? OutputContainer::kPngSequence : OutputContainer::kPngImage;
  if (!pattern) {
    if (ext == "mkv") return OutputContainer::kMkvFfv1;
    if (ext == "mp4") return OutputContainer::kMp4H264;
    if (ext == "mov") return OutputContainer::kMovProRes4444;
    if (ext == "webm") return OutputContainer::kWebmVp9Alpha;
  }
  return Status::InvalidArgument(
      path + ": unknown output type" + (ext.empty() ? "" : " '." + ext + "'") +
      (pattern && ext != "png" ? " (a %d pattern needs .png)" : "") +
      "; known: .mkv (FFV1), .mp4 (H.264), .mov (ProRes 4444), .webm (VP9), .png, "
      "name_%04d.png (PNG sequence)");
}

Result<std::unique_ptr<VideoWriter>> VideoWriter::Open(const std::string& path,
                                                       const VideoInfo& input,
                                                       const WriterOptions& options) {
  io_internal::RouteFfmpegLogs();
  auto writer = std::make_unique<FfmpegWriter>(path, input, options);
  Status s = writer->Init();
  if (!s.ok()) return s;  // the destructor closes whatever was opened
  return std::unique_ptr<VideoWriter>(std::move(writer));
}

namespace {
std::string Version(const char* name, unsigned v) {
  return std::string(name) + " " + std::to_string(AV_VERSION_MAJOR(v)) + "." +
         std::to_string(AV_VERSION_MINOR(v)) + "." + std::to_string(AV_VERSION_MICRO(v));
}
}  // namespace

std::string FfmpegVersions() {
  return "FFmpeg " + std::string(av_version_info()) + " (" +
         Version("libavformat", avformat_version()) + ", " +
         Version("libavcodec", avcodec_version()) + ", " + Version("libavutil", avutil_version()) +
         ", " + Version("libswscale", swscale_version()) + ")";
}

}  // namespace vrseg
