// vrseg/model_registry.h — where converted models live and what they are.
//
// Models are ONNX files carrying vrseg metadata (see model_info.h, convert.h). Known names:
//   "selfie"               -> <ModelDir()>/selfie.onnx
//   "landscape" or "meet"  -> <ModelDir()>/landscape.onnx
// Anything else is taken as a path to an .onnx file.
//
// Thread safety: all functions are reentrant. ModelDir() reads the environment on every call;
// do not change VRSEG_MODEL_DIR while another thread resolves a model.
#pragma once

#include <string>
#include <vector>

#include "vrseg/model_info.h"
#include "vrseg/status.h"

namespace vrseg {

// $VRSEG_MODEL_DIR if set and non-empty, else the directory compiled in (CMake VRSEG_MODEL_DIR).
std::string ModelDir();

// The known model names, in listing order: {"selfie", "landscape", "meet"}.
const std::vector<std::string>& KnownModelNames();

// A known name -> its file in ModelDir() (which must exist); anything else -> that path (which
// must be an existing regular file). kNotFound otherwise; the message lists the known names and
// the model directory. kInvalidArgument for an empty name.
Result<std::string> ResolveModelPath(const std::string& name_or_path);

// Reads the vrseg metadata of an ONNX file. kNotFound: no such file; kIoError: unreadable;
// kInvalidModel: not an ONNX model, or without (or with bad) vrseg metadata. Messages name the
// file.
Result<ModelInfo> ReadModelInfo(const std::string& onnx_path);

struct InstalledModel {
  std::string name;  // the file stem ("selfie" for selfie.onnx)
  std::string path;  // full path of the .onnx file
  ModelInfo info;    // its metadata
};

// The .onnx files directly in ModelDir() that carry valid vrseg metadata, sorted by name. Files
// without (valid) metadata and a missing directory are skipped silently: an empty list is valid.
std::vector<InstalledModel> InstalledModels();

}  // namespace vrseg
