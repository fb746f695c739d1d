// convert_internal.h (private to src/model and its tests) — the converter without the checks that
// make a model a person-segmentation model.
#pragma once

#include <string>

#include "vrseg/convert.h"

namespace vrseg::model {

// ConvertTfjsToOnnx; with any_io the input may have any channel count and the output any shape
// (ModelInfo then holds only names and input size). Tests use it to check single ops.
Result<ConvertReport> ConvertTfjsToOnnxImpl(const std::string& model_json,
                                            const std::string& onnx_out,
                                            const ConvertOptions& options, bool any_io);

}  // namespace vrseg::model
