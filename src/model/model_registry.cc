#include "vrseg/model_registry.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#ifndef VRSEG_MODEL_DIR
#define VRSEG_MODEL_DIR "models"
#endif

namespace vrseg {

namespace fs = std::filesystem;

std::string ModelDir() {
  const char* env = std::getenv("VRSEG_MODEL_DIR");
  if (env != nullptr && env[0] != '\0') return env;
  return VRSEG_MODEL_DIR;
}

const std::vector<std::string>& KnownModelNames() {
  static const std::vector<std::string> names = {"selfie", "landscape", "meet"};
  return names;
}

namespace {

// The file stem a known name maps to, or "" for an unknown name.
std::string KnownFile(const std::string& name) {
  if (name == "selfie") return "selfie.onnx";
  if (name == "landscape" || name == "meet") return "landscape.onnx";
  return "";
}

std::string KnownList() {
  std::string s;
  for (const auto& n : KnownModelNames()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

Result<std::string> ResolveModelPath(const std::string& name_or_path) {
  if (name_or_path.empty()) {
    return Status::InvalidArgument("empty model name (known models: " + KnownList() + ")");
  }
  const std::string dir = ModelDir();
  std::error_code ec;
  const std::string known = KnownFile(name_or_path);
  if (!known.empty()) {
    const std::string path = (fs::path(dir) / known).string();
    if (fs::is_regular_file(path, ec)) return path;
    return Status::NotFound("model '" + name_or_path + "' is not installed: '" + path +
                            "' does not exist (model directory '" + dir +
                            "', from $VRSEG_MODEL_DIR or the build; run scripts/setup.sh or "
                            "`vrseg convert`)");
  }
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  return Status::NotFound("model '" + name_or_path + "' is neither a known model name (" +
                          KnownList() + "; installed in '" + dir + "') nor an existing file");
}

Result<ModelInfo> ReadModelInfo(const std::string& onnx_path) {
  std::error_code ec;
  if (!fs::exists(onnx_path, ec))
    return Status::NotFound("ONNX model '" + onnx_path + "' does not exist");
  if (!fs::is_regular_file(onnx_path, ec))
    return Status::IoError("ONNX model '" + onnx_path + "' is not a file");
  std::ifstream f(onnx_path, std::ios::binary);
  if (!f) return Status::IoError("cannot open ONNX model '" + onnx_path + "'");
  onnx::ModelProto m;
  if (!m.ParseFromIstream(&f)) {
    return Status::InvalidModel("'" + onnx_path + "' is not an ONNX model (protobuf parse failed)");
  }
  if (!m.has_graph() || m.opset_import_size() == 0) {
    return Status::InvalidModel("'" + onnx_path + "' is not an ONNX model (no graph or opset)");
  }
  std::map<std::string, std::string> props;
  for (const auto& p : m.metadata_props()) props[p.key()] = p.value();
  Result<ModelInfo> info = ModelInfo::FromMetadata(props);
  if (!info.ok()) return info.status().WithContext("ONNX model '" + onnx_path + "'");
  return info;
}

std::vector<InstalledModel> InstalledModels() {
  std::vector<InstalledModel> out;
  std::error_code ec;
  const fs::path dir = ModelDir();
  if (!fs::is_directory(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (p.extension() != ".onnx" || !it->is_regular_file(ec)) continue;
    Result<ModelInfo> info = ReadModelInfo(p.string());
    if (!info.ok()) continue;
    out.push_back({p.stem().string(), p.string(), std::move(info).value()});
  }
  std::sort(out.begin(), out.end(),
            [](const InstalledModel& a, const InstalledModel& b) { return a.name < b.name; });
  return out;
}

}  // namespace vrseg
