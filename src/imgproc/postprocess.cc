// Postprocessing: model output → probability → full-resolution mask.
// The formulas are those of vrseg/imgproc.h; keep them in step.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "imgproc/internal.h"
#include "vrseg/imgproc.h"

namespace vrseg {

using imgproc_internal::CheckHostFrame;
using imgproc_internal::HalfPixelTable;

PostprocessOptions PostprocessOptionsFor(const ModelInfo& info) {
  PostprocessOptions o;
  o.kind = info.output_kind;
  o.layout = info.output_layout;
  o.model_width = info.input_width;
  o.model_height = info.input_height;
  o.channels = info.output_channels;
  o.person_channel = info.person_channel;
  return o;
}

namespace {

// Local copy of the kind names: OutputKindName lives in the model layer, which imgproc must not
// depend on (only core).
const char* KindName(OutputKind k) {
  switch (k) {
    case OutputKind::kSigmoidProbability:
      return "sigmoid_probability";
    case OutputKind::kSigmoidLogit:
      return "sigmoid_logit";
    case OutputKind::kTwoClassLogits:
      return "two_class_logits";
    case OutputKind::kClassLogits:
      return "class_logits";
    case OutputKind::kAlphaMatte:
      return "alpha_matte";
  }
  return "unknown";
}

Status CheckPostOptions(const PostprocessOptions& o) {
  if (o.model_width <= 0 || o.model_height <= 0) {
    return Status::InvalidArgument(
        "PostprocessOptions: model_width/model_height must be > 0, got " +
        std::to_string(o.model_width) + "x" + std::to_string(o.model_height));
  }
  bool ok_channels = false;
  switch (o.kind) {
    case OutputKind::kSigmoidProbability:
    case OutputKind::kSigmoidLogit:
    case OutputKind::kAlphaMatte:
      ok_channels = o.channels == 1;
      break;
    case OutputKind::kTwoClassLogits:
      ok_channels = o.channels == 2;
      break;
    case OutputKind::kClassLogits:
      ok_channels = o.channels >= 2;
      break;
  }
  if (!ok_channels) {
    return Status::InvalidArgument(std::string("PostprocessOptions: channels = ") +
                                   std::to_string(o.channels) + " does not fit output kind " +
                                   KindName(o.kind));
  }
  if (o.person_channel < 0 || o.person_channel >= o.channels) {
    return Status::InvalidArgument("PostprocessOptions: person_channel " +
                                   std::to_string(o.person_channel) + " out of range [0," +
                                   std::to_string(o.channels) + ")");
  }
  return Status::Ok();
}

// One row of the soft mask: out = floor(clamp(lerp(top, bot, w), 0, 1) * 255 + 0.5), NaN → 0.
void SoftRow(const float* top, const float* bot, float w, uint8_t* out, int n) {
  int x = 0;
#if defined(__SSE2__)
  // The compiler does not vectorise the clamps itself (-ftrapping-math); max_ps(v, 0) gives 0 for
  // NaN.
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.f), k255 = _mm_set1_ps(255.f),
               half = _mm_set1_ps(0.5f), wv = _mm_set1_ps(w);
  auto quad = [&](int i) {
    const __m128 t = _mm_loadu_ps(top + i), b = _mm_loadu_ps(bot + i);
    __m128 v = _mm_add_ps(t, _mm_mul_ps(_mm_sub_ps(b, t), wv));
    v = _mm_min_ps(_mm_max_ps(v, zero), one);
    return _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(v, k255), half));
  };
  for (; x + 16 <= n; x += 16) {
    const __m128i a = _mm_packs_epi32(quad(x), quad(x + 4));
    const __m128i b = _mm_packs_epi32(quad(x + 8), quad(x + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), _mm_packus_epi16(a, b));
  }
#endif
  for (; x < n; ++x) {
    const float v = imgproc_internal::Clamp(top[x] + (bot[x] - top[x]) * w, 0.f, 1.f);
    out[x] = static_cast<uint8_t>(static_cast<int>(v * 255.f + 0.5f));
  }
}

}  // namespace

Status ProbabilityFromOutput(const float* slot, const PostprocessOptions& options, Frame* prob) {
  VRSEG_RETURN_IF_ERROR(CheckPostOptions(options));
  if (slot == nullptr || prob == nullptr) {
    return Status::InvalidArgument("ProbabilityFromOutput: null output slot or probability frame");
  }
  const int W = options.model_width, H = options.model_height, C = options.channels;
  if (prob->empty() || prob->format != PixelFormat::kGrayF32 || prob->width != W ||
      prob->height != H || prob->memory == MemoryKind::kDevice) {
    VRSEG_ASSIGN_OR_RETURN(*prob, Frame::Allocate(PixelFormat::kGrayF32, W, H));
  }
  const int64_t plane = static_cast<int64_t>(W) * H;
  const bool nchw = options.layout == TensorLayout::kNCHW;
  const int pc = options.person_channel;
  // Element (pixel i, channel c) of the slot.
  const int64_t cstride = nchw ? plane : 1;
  const int64_t pstride = nchw ? 1 : C;
  for (int y = 0; y < H; ++y) {
    float* out = reinterpret_cast<float*>(prob->data[0] + y * prob->pitch[0]);
    const float* in = slot + static_cast<int64_t>(y) * W * pstride;
    switch (options.kind) {
      case OutputKind::kSigmoidProbability:
      case OutputKind::kAlphaMatte:
        for (int x = 0; x < W; ++x) out[x] = in[x * pstride + pc * cstride];
        break;
      case OutputKind::kSigmoidLogit:
        for (int x = 0; x < W; ++x)
          out[x] = 1.f / (1.f + std::exp(-in[x * pstride + pc * cstride]));
        break;
      case OutputKind::kTwoClassLogits: {
        const int64_t other = (1 - pc) * cstride, person = pc * cstride;
        for (int x = 0; x < W; ++x) {
          const float* p = in + x * pstride;
          out[x] = 1.f / (1.f + std::exp(p[other] - p[person]));
        }
        break;
      }
      case OutputKind::kClassLogits:
        for (int x = 0; x < W; ++x) {
          const float* p = in + x * pstride;
          float m = p[0];
          for (int c = 1; c < C; ++c) m = std::max(m, p[c * cstride]);
          float sum = 0.f;
          for (int c = 0; c < C; ++c) sum += std::exp(p[c * cstride] - m);
          out[x] = std::exp(p[pc * cstride] - m) / sum;
        }
        break;
    }
  }
  return Status::Ok();
}

Status UpsampleMask(const Frame& prob, const PostprocessOptions& options, Frame* mask) {
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(prob, PixelFormat::kGrayF32, "UpsampleMask probability"));
  if (mask == nullptr) return Status::InvalidArgument("UpsampleMask: null mask");
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*mask, PixelFormat::kGray8, "UpsampleMask mask"));
  LetterboxRect r = options.roi;
  if (r.width <= 0 || r.height <= 0) r = {0, 0, prob.width, prob.height};
  if (r.x < 0 || r.y < 0 || r.x + r.width > prob.width || r.y + r.height > prob.height) {
    return Status::InvalidArgument("UpsampleMask: roi " + std::to_string(r.x) + "," +
                                   std::to_string(r.y) + " " + std::to_string(r.width) + "x" +
                                   std::to_string(r.height) + " outside the probability " +
                                   DescribeFrame(prob));
  }
  const int W = mask->width, H = mask->height;
  // Tables; small (W + H entries), allocated per call.
  std::vector<int> x0(W), x1(W), y0(H), y1(H);
  std::vector<float> wx(W), wy(H);
  HalfPixelTable(W, r.width, static_cast<double>(r.width) / W, 0.0, x0.data(), x1.data(),
                 wx.data());
  HalfPixelTable(H, r.height, static_cast<double>(r.height) / H, 0.0, y0.data(), y1.data(),
                 wy.data());
  // Separable: each needed source row is interpolated horizontally once (cached in two rows),
  // then rows are blended; this is the same float arithmetic as the 4-tap form.
  std::vector<float> hrow_a(W), hrow_b(W);
  int row_a = -1, row_b = -1;
  auto horizontal = [&](int sy, float* dst) {
    const float* src =
        reinterpret_cast<const float*>(prob.data[0] + (r.y + sy) * prob.pitch[0]) + r.x;
    for (int x = 0; x < W; ++x) {
      const float a = src[x0[x]], b = src[x1[x]];
      dst[x] = a + (b - a) * wx[x];
    }
  };
  const bool thr = options.threshold;
  const float t = options.threshold_value;
  for (int y = 0; y < H; ++y) {
    const int ya = y0[y], yb = y1[y];
    if (ya != row_a) {
      if (ya == row_b) {
        std::swap(hrow_a, hrow_b);
        std::swap(row_a, row_b);
      } else {
        horizontal(ya, hrow_a.data());
        row_a = ya;
      }
    }
    if (yb != row_b) {
      if (yb == row_a) {
        // Only when ya == yb (bottom edge): the same row twice.
        hrow_b = hrow_a;
      } else {
        horizontal(yb, hrow_b.data());
      }
      row_b = yb;
    }
    const float w = wy[y];
    const float* top = hrow_a.data();
    const float* bot = hrow_b.data();
    uint8_t* out = mask->data[0] + y * mask->pitch[0];
    if (thr) {
      for (int x = 0; x < W; ++x) {
        const float v = top[x] + (bot[x] - top[x]) * w;
        out[x] = v >= t ? 255 : 0;
      }
    } else {
      SoftRow(top, bot, w, out, W);
    }
  }
  return Status::Ok();
}

Status Postprocess(const float* slot, const PostprocessOptions& options, Frame* mask) {
  Frame prob;
  VRSEG_RETURN_IF_ERROR(ProbabilityFromOutput(slot, options, &prob));
  return UpsampleMask(prob, options, mask);
}

}  // namespace vrseg
