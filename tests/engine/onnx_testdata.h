// Reading ONNX TensorProto files (the input_N.pb / output_N.pb of ONNX's backend test data) into
// the engine's HostTensor. Header-only (the test binary globs only *_test.cc files).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "engine/ref.h"
#include "vrseg/status.h"

namespace vrseg::engine::testing {

// "FLOAT", "INT32", ... for an ONNX data type code.
inline std::string OnnxTypeName(int32_t type) {
  if (onnx::TensorProto_DataType_IsValid(type)) {
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(type));
  }
  return "type " + std::to_string(type);
}

// Converts a TensorProto of FLOAT, INT64 or BOOL; other element types give kUnsupported naming
// the type (the engine has only these three), external data gives kUnsupported too.
inline Result<HostTensor> TensorFromProto(const onnx::TensorProto& p, const std::string& what) {
  HostTensor t;
  for (int64_t d : p.dims()) t.dims.push_back(d);
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    return Status::Unsupported(what + ": external tensor data");
  }
  const size_t n = static_cast<size_t>(t.elements());
  const std::string& raw = p.raw_data();
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT:
      t.type = ElemType::kFloat;
      if (p.has_raw_data()) {
        if (raw.size() != n * 4) return Status::DataLoss(what + ": raw_data size does not match");
        t.f.resize(n);
        if (n) std::memcpy(t.f.data(), raw.data(), n * 4);
      } else {
        t.f.assign(p.float_data().begin(), p.float_data().end());
      }
      if (t.f.size() != n) return Status::DataLoss(what + ": element count does not match dims");
      return t;
    case onnx::TensorProto::INT64:
      t.type = ElemType::kInt64;
      if (p.has_raw_data()) {
        if (raw.size() != n * 8) return Status::DataLoss(what + ": raw_data size does not match");
        t.i.resize(n);
        if (n) std::memcpy(t.i.data(), raw.data(), n * 8);
      } else {
        t.i.assign(p.int64_data().begin(), p.int64_data().end());
      }
      if (t.i.size() != n) return Status::DataLoss(what + ": element count does not match dims");
      return t;
    case onnx::TensorProto::BOOL:
      t.type = ElemType::kBool;
      if (p.has_raw_data()) {
        if (raw.size() != n) return Status::DataLoss(what + ": raw_data size does not match");
        for (char c : raw) t.i.push_back(c != 0);
      } else {
        for (int32_t v : p.int32_data()) t.i.push_back(v != 0);
      }
      if (t.i.size() != n) return Status::DataLoss(what + ": element count does not match dims");
      return t;
    default:
      return Status::Unsupported(what + ": element type " + OnnxTypeName(p.data_type()));
  }
}

// Reads a serialized TensorProto file; `name` (optional) receives the tensor's name.
inline Result<HostTensor> ReadTensorFile(const std::string& path, std::string* name = nullptr) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound(path + ": cannot open");
  onnx::TensorProto p;
  if (!p.ParseFromIstream(&f)) return Status::DataLoss(path + ": not a TensorProto");
  if (name) *name = p.name();
  return TensorFromProto(p, path);
}

// Reads a ModelProto file.
inline Result<onnx::ModelProto> ReadModelFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound(path + ": cannot open");
  onnx::ModelProto m;
  if (!m.ParseFromIstream(&f)) return Status::InvalidModel(path + ": not an ONNX model");
  return m;
}

}  // namespace vrseg::engine::testing
