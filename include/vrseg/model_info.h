// vrseg/model_info.h — what a model expects and what its output means.
//
// Stored as ONNX metadata_props (keys "vrseg.*", see ToMetadata) by `vrseg convert`; backends read
// it when they load a model and never guess. A model without vrseg metadata is refused unless the
// caller supplies a ModelInfo.
#pragma once

#include <array>
#include <map>
#include <string>

#include "vrseg/status.h"

namespace vrseg {

enum class TensorLayout : int { kNHWC = 0, kNCHW };

enum class OutputKind : int {
  kSigmoidProbability = 0,  // one channel, already a probability in [0,1]
  kSigmoidLogit,            // one channel of logits; apply a sigmoid
  kTwoClassLogits,          // two channels (background, person); softmax over channels
  kClassLogits,             // N classes; softmax, keep `person_channel`
  kAlphaMatte,              // one channel alpha in [0,1] (matting models)
};

const char* OutputKindName(OutputKind k);

struct ModelInfo {
  std::string name;                // "selfie", "landscape", or the file's stem
  std::string input_name;          // the image input tensor
  std::string output_name;         // the mask output tensor
  int input_width = 0;
  int input_height = 0;
  TensorLayout input_layout = TensorLayout::kNHWC;
  TensorLayout output_layout = TensorLayout::kNHWC;
  bool input_bgr = false;          // channel order the model wants (false: RGB)
  // Normalisation: value = (pixel / 255 - mean[c]) / std[c], c in the model's channel order.
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};
  // Resize convention the model was trained/fed with (TF.js resizeBilinear: false).
  bool resize_half_pixel = false;
  OutputKind output_kind = OutputKind::kSigmoidProbability;
  int output_channels = 1;
  int person_channel = 0;          // which output channel is "person"
  std::string licence;             // e.g. "Apache-2.0"
  std::string source;              // where the weights came from

  // ONNX metadata_props entries ("vrseg.input_width" -> "256", ...).
  std::map<std::string, std::string> ToMetadata() const;
  // Parses the entries written by ToMetadata. Errors name the offending key.
  static Result<ModelInfo> FromMetadata(const std::map<std::string, std::string>& props);
};

}  // namespace vrseg
