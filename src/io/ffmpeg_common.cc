#include "io/ffmpeg_common.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

#include <cstdarg>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "vrseg/log.h"

namespace vrseg::io_internal {

namespace {
std::mutex g_counters_mu;
std::unordered_set<void*>& Counters() {
  static auto* set = new std::unordered_set<void*>();
  return *set;
}

void CountDecoderError(void* avcl) {
  const AVClass* cls = avcl ? *static_cast<const AVClass**>(avcl) : nullptr;
  if (!cls || std::strcmp(cls->class_name, "AVCodecContext") != 0) return;
  void* opaque = static_cast<AVCodecContext*>(avcl)->opaque;
  if (!opaque) return;
  std::lock_guard<std::mutex> lock(g_counters_mu);
  if (Counters().count(opaque)) static_cast<DecoderErrorCounter*>(opaque)->errors++;
}

void FfmpegLogCallback(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_WARNING) return;
  if (level <= AV_LOG_ERROR) CountDecoderError(avcl);
  if (GetLogLevel() > LogLevel::kDebug) return;
  thread_local int print_prefix = 1;
  char line[1024];
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &print_prefix);
  std::string text = line;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) LogDebug("ffmpeg: " + text);
}
}  // namespace

void RegisterErrorCounter(DecoderErrorCounter* counter) {
  std::lock_guard<std::mutex> lock(g_counters_mu);
  Counters().insert(counter);
}

void UnregisterErrorCounter(DecoderErrorCounter* counter) {
  std::lock_guard<std::mutex> lock(g_counters_mu);
  Counters().erase(counter);
}

void RouteFfmpegLogs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(FfmpegLogCallback); });
}

bool IsPattern(const std::string& path) {
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    if (path[i] != '%') continue;
    size_t j = i + 1;
    while (j < path.size() && path[j] >= '0' && path[j] <= '9') ++j;
    if (j < path.size() && path[j] == 'd') return true;
  }
  return false;
}

std::string AvError(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

AVPixelFormat ToAvPixelFormat(PixelFormat f) {
  switch (f) {
    case PixelFormat::kGray8:
      return AV_PIX_FMT_GRAY8;
    case PixelFormat::kRGB24:
      return AV_PIX_FMT_RGB24;
    case PixelFormat::kBGR24:
      return AV_PIX_FMT_BGR24;
    case PixelFormat::kRGBA:
      return AV_PIX_FMT_RGBA;
    case PixelFormat::kBGRA:
      return AV_PIX_FMT_BGRA;
    case PixelFormat::kNV12:
      return AV_PIX_FMT_NV12;
    case PixelFormat::kI420:
      return AV_PIX_FMT_YUV420P;
    case PixelFormat::kGrayF32:
    case PixelFormat::kUnknown:
      return AV_PIX_FMT_NONE;
  }
  return AV_PIX_FMT_NONE;
}

AVPixelFormat DejpegFormat(AVPixelFormat f, bool* full_range) {
  AVPixelFormat out = f;
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      out = AV_PIX_FMT_YUV420P;
      break;
    case AV_PIX_FMT_YUVJ422P:
      out = AV_PIX_FMT_YUV422P;
      break;
    case AV_PIX_FMT_YUVJ444P:
      out = AV_PIX_FMT_YUV444P;
      break;
    case AV_PIX_FMT_YUVJ440P:
      out = AV_PIX_FMT_YUV440P;
      break;
    case AV_PIX_FMT_YUVJ411P:
      out = AV_PIX_FMT_YUV411P;
      break;
    default:
      break;
  }
  if (out != f && full_range) *full_range = true;
  return out;
}

int SwsMatrixFor(const ColorInfo& color, int height) {
  switch (color.matrix) {
    case AVCOL_SPC_BT709:
      return SWS_CS_ITU709;
    case AVCOL_SPC_FCC:
      return SWS_CS_FCC;
    case AVCOL_SPC_BT470BG:
    case AVCOL_SPC_SMPTE170M:
      return SWS_CS_ITU601;
    case AVCOL_SPC_SMPTE240M:
      return SWS_CS_SMPTE240M;
    case AVCOL_SPC_BT2020_NCL:
    case AVCOL_SPC_BT2020_CL:
      return SWS_CS_BT2020;
    default:
      return height >= 720 ? SWS_CS_ITU709 : SWS_CS_ITU601;
  }
}

bool IsFullRange(const ColorInfo& color) { return color.range == AVCOL_RANGE_JPEG; }

namespace {
bool IsYuv(AVPixelFormat f) {
  const AVPixFmtDescriptor* d = av_pix_fmt_desc_get(f);
  return d && !(d->flags & AV_PIX_FMT_FLAG_RGB) && d->nb_components >= 3;
}
}  // namespace

SwsContext* MakeConverter(int width, int height, AVPixelFormat src, AVPixelFormat dst,
                          int yuv_matrix, bool yuv_full_range, int threads) {
  SwsContext* ctx = sws_alloc_context();
  if (!ctx) return nullptr;
  // Same size in and out, so the flags only choose the code path. Without SWS_ACCURATE_RND
  // swscale uses its SIMD special converters (what the ffmpeg CLI does by default): 720p
  // yuv420p -> rgb24 costs ~0.3 ms instead of ~2.3 ms; chroma is upsampled by replication.
  const int flags = SWS_BILINEAR;
  av_opt_set_int(ctx, "srcw", width, 0);
  av_opt_set_int(ctx, "srch", height, 0);
  av_opt_set_int(ctx, "src_format", src, 0);
  av_opt_set_int(ctx, "dstw", width, 0);
  av_opt_set_int(ctx, "dsth", height, 0);
  av_opt_set_int(ctx, "dst_format", dst, 0);
  av_opt_set_int(ctx, "sws_flags", flags, 0);
  if (threads > 1) av_opt_set_int(ctx, "threads", threads, 0);
  // Ranges are set before init so that swscale picks the right (range-converting or copying)
  // path; the matrix can only be set afterwards.
  const int src_range = IsYuv(src) ? (yuv_full_range ? 1 : 0) : 1;
  const int dst_range = IsYuv(dst) ? (yuv_full_range ? 1 : 0) : 1;
  av_opt_set_int(ctx, "src_range", src_range, 0);
  av_opt_set_int(ctx, "dst_range", dst_range, 0);
  if (sws_init_context(ctx, nullptr, nullptr) < 0) {
    sws_freeContext(ctx);
    return nullptr;
  }
  const int* coeffs = sws_getCoefficients(yuv_matrix);
  // brightness 0, contrast 1.0 and saturation 1.0 in 16.16 fixed point.
  sws_setColorspaceDetails(ctx, coeffs, src_range, coeffs, dst_range, 0, 1 << 16, 1 << 16);
  return ctx;
}

void FramePlanes(const Frame& f, uint8_t* data[4], int linesize[4]) {
  for (int p = 0; p < 4; ++p) {
    data[p] = f.data[p];
    linesize[p] = static_cast<int>(f.pitch[p]);
  }
}

}  // namespace vrseg::io_internal
