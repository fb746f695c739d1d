// NVDEC through FFmpeg's cuda hwaccel: set-up checks, the get_format choice, and wrapping decoded
// surfaces as device frames. See nvdec_reader.h.

#include "io/nvdec_reader.h"

extern "C" {
#include <libavutil/buffer.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>
}

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/ffmpeg_common.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <dlfcn.h>
extern "C" {
#include <libavutil/hwcontext_cuda.h>
}
#endif

namespace vrseg::io_internal {

Result<HwAccel> ParseHwAccel(const std::string& value, const std::string& path) {
  if (value.empty()) return HwAccel::kNone;
  if (value == "cuda") return HwAccel::kCuda;
  if (value == "auto") return HwAccel::kAuto;
  return Status::InvalidArgument(path + ": unknown hwaccel \"" + value +
                                 "\" (use \"\" for the CPU, \"cuda\" or \"auto\")");
}

namespace {

const char* PixFmtName(int f) {
  const char* n = av_get_pix_fmt_name(static_cast<AVPixelFormat>(f));
  return n ? n : "unknown";
}

// 8-bit 4:2:0, which NVDEC outputs as NV12. (Full-range JPEG twins included.)
bool IsNv12Source(int f) {
  return f == AV_PIX_FMT_YUV420P || f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_NV12;
}

std::string RefusedFormat(const std::string& path, int f) {
  return path + ": NVDEC decoding of " + PixFmtName(f) +
         " is not supported (only 8-bit 4:2:0 sources, handed out as NV12; 10-bit (P010), "
         "4:2:2 and 4:4:4 sources are refused for now: decode them on the CPU)";
}

}  // namespace

#ifdef VRSEG_HAVE_CUDA

namespace {

std::string CudaError(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
}

// A CUDA stream that frames keep alive: FFmpeg's post-processing runs on it.
struct StreamHolder {
  cudaStream_t stream = nullptr;
  ~StreamHolder() {
    if (stream) cudaStreamDestroy(stream);
  }
};

struct BufferRefDeleter {
  void operator()(AVBufferRef* b) const { av_buffer_unref(&b); }
};

// A device NV12 buffer (one allocation, chroma after luma) for frames copied out of the decoder's
// surfaces; lent out like the CPU reader's pool slots, freed when the last user lets go.
struct CopySlot {
  uint8_t* pixels = nullptr;
  size_t pitch = 0;
  int width = 0, height = 0;
  std::atomic<bool> in_use{false};
  ~CopySlot() {
    if (pixels) cudaFree(pixels);
  }
};

}  // namespace

struct NvdecSession::Impl {
  std::string path;
  int device = 0;
  const AVCodecContext* dec = nullptr;
  std::unique_ptr<AVBufferRef, BufferRefDeleter> device_ref;
  std::shared_ptr<StreamHolder> stream;
  // Set by get_format when it had to refuse: CUDA was not offered (the hwaccel failed to
  // initialise for this stream) or the stream is not 8-bit 4:2:0.
  std::atomic<int> refused_sw_format{AV_PIX_FMT_NONE};
  std::atomic<bool> refused{false};
  // Decoder surfaces the caller holds now (released on any thread), and the most it may: past
  // that, frames are copied out of the surface so that the decoder never runs dry.
  std::shared_ptr<std::atomic<int>> surfaces_out = std::make_shared<std::atomic<int>>(0);
  int max_surfaces_out = 8;
  std::vector<std::shared_ptr<CopySlot>> copies;
};

namespace {

// get_format has only the codec context to go by: sessions are found through it.
std::mutex g_sessions_mu;
std::unordered_map<const AVCodecContext*, NvdecSession::Impl*>& Sessions() {
  static auto* map = new std::unordered_map<const AVCodecContext*, NvdecSession::Impl*>();
  return *map;
}

// Picks AV_PIX_FMT_CUDA when FFmpeg offers it for an 8-bit 4:2:0 stream. Anything else fails the
// decoder (AV_PIX_FMT_NONE) rather than let FFmpeg fall back to software decoding unseen.
AVPixelFormat PickCuda(AVCodecContext* ctx, const AVPixelFormat* offered) {
  bool has_cuda = false;
  for (const AVPixelFormat* p = offered; *p != AV_PIX_FMT_NONE; ++p) {
    if (*p == AV_PIX_FMT_CUDA) has_cuda = true;
  }
  if (has_cuda && IsNv12Source(ctx->sw_pix_fmt)) return AV_PIX_FMT_CUDA;
  std::lock_guard<std::mutex> lock(g_sessions_mu);
  auto it = Sessions().find(ctx);
  if (it != Sessions().end()) {
    it->second->refused_sw_format = ctx->sw_pix_fmt;
    it->second->refused = true;
  }
  return AV_PIX_FMT_NONE;
}

}  // namespace

NvdecSession::NvdecSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NvdecSession::~NvdecSession() {
  // The codec context is gone by now, and a new one of another reader may have its address.
  std::lock_guard<std::mutex> lock(g_sessions_mu);
  auto it = Sessions().find(impl_->dec);
  if (it != Sessions().end() && it->second == impl_.get()) Sessions().erase(it);
}

Result<std::unique_ptr<NvdecSession>> NvdecSession::Attach(AVCodecContext* dec,
                                                           const AVCodec* codec,
                                                           const AVCodecParameters* par,
                                                           const std::string& path,
                                                           const ReaderOptions& options) {
  // The codec: FFmpeg must have a cuda hwaccel for it.
  bool has_config = false;
  for (int i = 0;; ++i) {
    const AVCodecHWConfig* config = avcodec_get_hw_config(codec, i);
    if (!config) break;
    if (config->device_type == AV_HWDEVICE_TYPE_CUDA &&
        (config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
        config->pix_fmt == AV_PIX_FMT_CUDA) {
      has_config = true;
    }
  }
  if (!has_config) {
    return Status::Unsupported(path + ": NVDEC cannot decode " + avcodec_get_name(par->codec_id) +
                               " (FFmpeg's " + codec->name +
                               " decoder has no cuda hwaccel for it)");
  }
  // The pixel format, where the container says it (otherwise get_format checks it).
  if (par->format != AV_PIX_FMT_NONE && !IsNv12Source(par->format)) {
    return Status::Unsupported(RefusedFormat(path, par->format));
  }
  if (options.device < 0) {
    return Status::InvalidArgument(path + ": CUDA device " + std::to_string(options.device) +
                                   " is not a device index");
  }
  if (options.device_frames < 0 || options.device_frames > 16) {
    return Status::InvalidArgument(path + ": device_frames " +
                                   std::to_string(options.device_frames) +
                                   " is out of range (0 to 16)");
  }
  bool ffmpeg_has_cuda = false;
  for (AVHWDeviceType t = av_hwdevice_iterate_types(AV_HWDEVICE_TYPE_NONE);
       t != AV_HWDEVICE_TYPE_NONE; t = av_hwdevice_iterate_types(t)) {
    if (t == AV_HWDEVICE_TYPE_CUDA) ffmpeg_has_cuda = true;
  }
  if (!ffmpeg_has_cuda) {
    return Status::Unavailable(path + ": this FFmpeg was built without CUDA, so NVDEC is not "
                                      "available");
  }

  // FFmpeg loads NVDEC's library only when the decoder starts; a driver installed without its
  // video part has none, which is "unavailable", not a problem of the stream.
  if (void* cuvid = dlopen("libnvcuvid.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    dlclose(cuvid);
  } else {
    const char* why = dlerror();
    return Status::Unavailable(path + ": NVDEC's library cannot be loaded (" +
                               std::string(why ? why : "libnvcuvid.so.1 not found") +
                               "): no NVIDIA driver, or one installed without video decoding");
  }

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->device = options.device;
  impl->max_surfaces_out = options.device_frames;
  impl->dec = dec;
  // The device: its primary context, the CUDA runtime's (and so the rest of vrseg's), made current
  // here through the runtime and handed to FFmpeg as a context of the caller's. (FFmpeg's own
  // "primary context" option would insist on its own scheduling flags, and fail where the runtime
  // already made the context with the default ones.) A stream of our own for FFmpeg's work.
  int previous = 0;
  cudaError_t err = cudaGetDevice(&previous);
  if (err == cudaSuccess) err = cudaSetDevice(options.device);
  if (err == cudaSuccess) err = cudaFree(nullptr);  // creates the primary context if need be
  CUcontext context = nullptr;
  if (err == cudaSuccess) {
    using GetCurrentFn = CUresult (*)(CUcontext*);
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    err = cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 4000, cudaEnableDefault,
                                           &found);
    if (err == cudaSuccess && (found != cudaDriverEntryPointSuccess || !fn ||
                               reinterpret_cast<GetCurrentFn>(fn)(&context) != CUDA_SUCCESS ||
                               !context)) {
      err = cudaErrorDeviceUninitialized;  // no current context
    }
  }
  cudaStream_t stream = nullptr;
  if (err == cudaSuccess) err = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  if (previous != options.device) cudaSetDevice(previous);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return Status::Unavailable(path + ": cannot use CUDA device " +
                               std::to_string(options.device) + " for NVDEC decoding (" +
                               CudaError(err) + ")");
  }
  impl->stream = std::make_shared<StreamHolder>();
  impl->stream->stream = stream;

  AVBufferRef* device_ref = av_hwdevice_ctx_alloc(AV_HWDEVICE_TYPE_CUDA);
  if (!device_ref) return Status::OutOfMemory(path + ": cannot allocate a CUDA device context");
  impl->device_ref.reset(device_ref);
  auto* hw = reinterpret_cast<AVHWDeviceContext*>(device_ref->data);
  auto* cuda_hw = static_cast<AVCUDADeviceContext*>(hw->hwctx);
  cuda_hw->cuda_ctx = context;
  cuda_hw->stream = stream;
  const int ret = av_hwdevice_ctx_init(device_ref);
  if (ret < 0) {
    return Status::Unavailable(path + ": FFmpeg cannot use CUDA device " +
                               std::to_string(options.device) + " for NVDEC decoding (" +
                               AvError(ret) + ")");
  }

  dec->hw_device_ctx = av_buffer_ref(impl->device_ref.get());
  if (!dec->hw_device_ctx) return Status::OutOfMemory(path + ": cannot reference the CUDA device");
  dec->get_format = PickCuda;
  dec->extra_hw_frames = options.device_frames;
  // NVDEC does the decoding; frame threads would only add surfaces and delay.
  dec->thread_count = 1;
  dec->thread_type = 0;
  {
    std::lock_guard<std::mutex> lock(g_sessions_mu);
    Sessions()[dec] = impl.get();
  }
  return std::unique_ptr<NvdecSession>(new NvdecSession(std::move(impl)));
}

Status NvdecSession::DecoderFailure(const AVCodecContext* dec, int err, int64_t frame_index) const {
  const std::string at = " at frame " + std::to_string(frame_index);
  if (impl_->refused.load()) {
    const int sw = impl_->refused_sw_format.load();
    if (sw != AV_PIX_FMT_NONE && !IsNv12Source(sw)) {
      return Status::Unsupported(RefusedFormat(impl_->path, sw) + at);
    }
    return Status::Unsupported(impl_->path + ": NVDEC cannot decode this " +
                               avcodec_get_name(dec->codec_id) + " stream (" +
                               PixFmtName(dec->sw_pix_fmt) + ", " +
                               std::to_string(dec->coded_width) + "x" +
                               std::to_string(dec->coded_height) + ", profile " +
                               std::to_string(dec->profile) +
                               "): FFmpeg's cuda hwaccel failed to start" + at +
                               " (its log at debug level says why)");
  }
  if (err == AVERROR(ENOMEM)) {
    return Status::OutOfMemory(impl_->path + ": the NVDEC decoder ran out of memory" + at +
                               " (device memory exhausted, or no decoder surface left)");
  }
  return Status::Ok();
}

Result<Frame> NvdecSession::Wrap(AVFrame* src, int64_t frame_index) {
  const std::string at = " at frame " + std::to_string(frame_index);
  if (src->format != AV_PIX_FMT_CUDA || !src->hw_frames_ctx) {
    return Status::Internal(impl_->path + ": the NVDEC decoder handed out a " +
                            PixFmtName(src->format) + " frame instead of a CUDA one" + at);
  }
  const auto* frames = reinterpret_cast<const AVHWFramesContext*>(src->hw_frames_ctx->data);
  if (frames->sw_format != AV_PIX_FMT_NV12) {
    return Status::Unsupported(RefusedFormat(impl_->path, frames->sw_format) + at);
  }
  if (!src->data[0] || !src->data[1] || src->linesize[0] < src->width ||
      src->linesize[1] < src->width) {
    return Status::Internal(impl_->path + ": the NVDEC frame has no NV12 planes" + at);
  }
  const cudaError_t err = cudaStreamSynchronize(impl_->stream->stream);
  if (err != cudaSuccess) {
    cudaGetLastError();
    const std::string what = impl_->path + ": waiting for the NVDEC decoder on CUDA device " +
                             std::to_string(impl_->device) + at + " failed (" + CudaError(err) +
                             ")";
    return err == cudaErrorMemoryAllocation ? Status::OutOfMemory(what) : Status::Internal(what);
  }
  if (impl_->surfaces_out->load(std::memory_order_acquire) >= impl_->max_surfaces_out) {
    return CopyOut(src, frame_index);
  }
  AVFrame* keep = av_frame_alloc();
  if (!keep) return Status::OutOfMemory(impl_->path + ": cannot hold a decoded frame" + at);
  av_frame_move_ref(keep, src);

  Frame f;
  f.format = PixelFormat::kNV12;
  f.width = keep->width;
  f.height = keep->height;
  f.data[0] = keep->data[0];
  f.data[1] = keep->data[1];
  f.pitch[0] = keep->linesize[0];
  f.pitch[1] = keep->linesize[1];
  f.memory = MemoryKind::kDevice;
  f.device = impl_->device;
  // The FFmpeg reference goes first, then (maybe) the stream its decoder ran on.
  impl_->surfaces_out->fetch_add(1, std::memory_order_relaxed);
  f.storage = std::shared_ptr<void>(
      keep, [stream = impl_->stream, out = impl_->surfaces_out](void* p) {
        auto* frame = static_cast<AVFrame*>(p);
        av_frame_free(&frame);
        out->fetch_sub(1, std::memory_order_release);
      });
  return f;
}

Result<Frame> NvdecSession::CopyOut(AVFrame* src, int64_t frame_index) {
  const int w = src->width, h = src->height;
  const size_t row = static_cast<size_t>(PlaneRowBytes(PixelFormat::kNV12, w, 0));
  const size_t chroma_row = static_cast<size_t>(PlaneRowBytes(PixelFormat::kNV12, w, 1));
  const size_t chroma_rows = static_cast<size_t>(PlaneRows(PixelFormat::kNV12, h, 1));
  std::shared_ptr<CopySlot> slot;
  for (const auto& c : impl_->copies) {
    if (c->width == w && c->height == h && !c->in_use.load(std::memory_order_acquire)) {
      slot = c;
      break;
    }
  }
  auto fail = [&](const char* what, cudaError_t err) -> Status {
    cudaGetLastError();
    const std::string msg = impl_->path + ": " + what + " at frame " +
                            std::to_string(frame_index) + " on CUDA device " +
                            std::to_string(impl_->device) + " failed (" + CudaError(err) + ")";
    return err == cudaErrorMemoryAllocation ? Status::OutOfMemory(msg) : Status::Internal(msg);
  };
  int previous = 0;
  cudaGetDevice(&previous);
  if (previous != impl_->device) cudaSetDevice(impl_->device);
  cudaError_t err = cudaSuccess;
  if (!slot) {
    slot = std::make_shared<CopySlot>();
    slot->width = w;
    slot->height = h;
    void* p = nullptr;
    err = cudaMallocPitch(&p, &slot->pitch, std::max(row, chroma_row),
                          static_cast<size_t>(h) + chroma_rows);
    slot->pixels = static_cast<uint8_t*>(p);
    if (err == cudaSuccess) impl_->copies.push_back(slot);
  }
  uint8_t* chroma = slot->pixels + slot->pitch * static_cast<size_t>(h);
  const cudaStream_t stream = impl_->stream->stream;
  if (err == cudaSuccess) {
    err = cudaMemcpy2DAsync(slot->pixels, slot->pitch, src->data[0], src->linesize[0], row, h,
                            cudaMemcpyDeviceToDevice, stream);
  }
  if (err == cudaSuccess) {
    err = cudaMemcpy2DAsync(chroma, slot->pitch, src->data[1], src->linesize[1], chroma_row,
                            chroma_rows, cudaMemcpyDeviceToDevice, stream);
  }
  if (err == cudaSuccess) err = cudaStreamSynchronize(stream);
  if (previous != impl_->device) cudaSetDevice(previous);
  if (err != cudaSuccess) return fail("copying a frame out of the NVDEC surface", err);
  av_frame_unref(src);  // the surface goes back to the decoder

  slot->in_use.store(true, std::memory_order_relaxed);
  Frame f;
  f.format = PixelFormat::kNV12;
  f.width = w;
  f.height = h;
  f.data[0] = slot->pixels;
  f.data[1] = chroma;
  f.pitch[0] = static_cast<int64_t>(slot->pitch);
  f.pitch[1] = static_cast<int64_t>(slot->pitch);
  f.memory = MemoryKind::kDevice;
  f.device = impl_->device;
  f.storage = std::shared_ptr<void>(slot->pixels, [slot](void*) {
    slot->in_use.store(false, std::memory_order_release);
  });
  return f;
}

#else  // !VRSEG_HAVE_CUDA

struct NvdecSession::Impl {};

NvdecSession::NvdecSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NvdecSession::~NvdecSession() = default;

Result<std::unique_ptr<NvdecSession>> NvdecSession::Attach(AVCodecContext*, const AVCodec* codec,
                                                           const AVCodecParameters* par,
                                                           const std::string& path,
                                                           const ReaderOptions&) {
  (void)codec;
  (void)par;
  return Status::Unavailable(path + ": this build of vrseg has no CUDA support, so NVDEC "
                                    "decoding is not available");
}

Status NvdecSession::DecoderFailure(const AVCodecContext*, int, int64_t) const {
  return Status::Ok();
}

Result<Frame> NvdecSession::Wrap(AVFrame*, int64_t) {
  return Status::Internal("NVDEC frames without CUDA support");
}

Result<Frame> NvdecSession::CopyOut(AVFrame*, int64_t) {
  return Status::Internal("NVDEC frames without CUDA support");
}

#endif  // VRSEG_HAVE_CUDA

}  // namespace vrseg::io_internal
