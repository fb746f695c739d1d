// vrseg/convert.h — TF.js graph model -> ONNX converter (`vrseg convert`, scripts/setup.sh).
//
// Reads a TF.js "graph-model" (model.json + its binary weight shards), dequantises its weights
// (float16, uint8, uint16) to float32 and writes an ONNX model (opset 17, IR version 8) with the
// vrseg metadata (ModelInfo::ToMetadata) in metadata_props.
//
// The converted graph keeps the TF model's layout at its boundary and is NCHW inside:
//   - the graph input and output keep the TF node NAMES with TF's ":0" suffix stripped
//     ("input_1:0" -> "input_1", "activation_10:0" -> "activation_10") and their NHWC SHAPES;
//     a Transpose follows the input and precedes the output;
//   - Conv, DepthwiseConv, ConvTranspose, AveragePool and Resize run in NCHW with OIHW weights
//     (the transposes are folded into the weights, not emitted as nodes);
//   - with dynamic_batch the batch dimension is the symbolic "N", and Reshape constants that
//     hard-code TF's batch of 1 are rewritten (-1 or 0) so any batch runs.
// TF SAME padding is reproduced exactly (explicit, possibly asymmetric pads); ResizeBilinear's
// align_corners / half_pixel_centers map to ONNX Resize's coordinate_transformation_mode (exact
// ratios such as 2x as constant `scales`, others as `sizes`). A per-channel constant added to a
// Conv / ConvTranspose output that nothing else reads becomes that node's bias input.
// Ops in the output: Transpose (2), Conv, ConvTranspose, AveragePool, MaxPool, Resize, MatMul,
// Reshape, Concat, Add, Sub, Mul, Div, Max, Min, Sum, Relu, Clip, Sigmoid, Tanh, Identity, and
// for Resize with an inexact ratio Shape, Slice and Concat.
//
// Supported TF ops: Placeholder, Const, Identity, Conv2D, DepthwiseConv2dNative,
// Conv2DBackpropInput, AvgPool, MaxPool, ResizeBilinear, MatMul, BiasAdd, Add, AddV2, AddN, Sub,
// Mul, RealDiv, Maximum, Minimum, Relu, Relu6, Sigmoid, Tanh, Reshape, ConcatV2. Anything else
// (e.g. the control flow of RVM) is refused with kUnsupported naming the first such op and node.
//
// Thread safety: the functions are reentrant; distinct calls may run concurrently.
#pragma once

#include <string>
#include <vector>

#include "vrseg/model_info.h"
#include "vrseg/status.h"

namespace vrseg {

struct ConvertOptions {
  // ModelInfo::name; "" uses the stem of the model.json file name.
  std::string name;
  // ModelInfo::licence (e.g. "Apache-2.0"); "" records none.
  std::string licence;
  // ModelInfo::source; "" uses the model.json "generatedBy" field, else the json path.
  std::string source;
  // true: batch dimension "N" (any batch); false: the batch the TF model declares (usually 1).
  bool dynamic_batch = true;
};

struct ConvertReport {
  int tfjs_nodes = 0;                 // nodes in modelTopology (Const included)
  int onnx_nodes = 0;                 // nodes in the written ONNX graph
  std::vector<std::string> ops_used;  // distinct TF ops of the converted graph, sorted
  ModelInfo info;                     // what was written to metadata_props
};

// Converts `model_json` (weight shard paths are relative to its folder) to the ONNX file
// `onnx_out` (overwritten). The model must have one image input [1|-1, H, W, 3] and one output
// [.., H', W', C] with C == 1 (sigmoid probability when produced by a Sigmoid, else sigmoid
// logits) or C == 2 (two-class logits, person channel 1).
// Errors: kNotFound (json or a shard missing), kIoError (unreadable / unwritable), kInvalidModel
// (malformed JSON, inconsistent manifest, shape mismatch), kDataLoss (a shard shorter than its
// manifest), kUnsupported (an op, dtype or attribute we do not handle; names op and node).
// Every message names the file (and node or weight where there is one).
Result<ConvertReport> ConvertTfjsToOnnx(const std::string& model_json, const std::string& onnx_out,
                                        const ConvertOptions& options);

}  // namespace vrseg
