// vrseg/tensor.h — typed, shaped views over model inputs and outputs.
//
// A Tensor never owns memory by itself; `storage` (optional) keeps the buffer alive. Backends hand
// out tensors over their preallocated buffers so that preprocessing writes into batch slot i in
// place and postprocessing reads the output in place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vrseg/frame.h"

namespace vrseg {

enum class DType : int { kFloat32 = 0, kFloat16, kUInt8, kInt32, kInt64 };

int DTypeSize(DType t);
const char* DTypeName(DType t);

// Shape entries of -1 are dynamic (the batch dimension of most models).
struct TensorDesc {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
};

int64_t ShapeElements(const std::vector<int64_t>& shape);  // product; -1 entries count as 1
std::string ShapeToString(const std::vector<int64_t>& shape);  // "[1,256,256,3]"

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  MemoryKind memory = MemoryKind::kHost;
  std::shared_ptr<void> storage;

  int64_t elements() const { return ShapeElements(shape); }
  int64_t bytes() const { return elements() * DTypeSize(dtype); }
  template <typename T>
  T* as() const { return static_cast<T*>(data); }
  // Bytes of one batch entry (all dimensions but the first).
  int64_t slot_bytes() const;
  // Pointer to the start of batch entry i.
  void* slot(int64_t i) const { return static_cast<uint8_t*>(data) + i * slot_bytes(); }
};

}  // namespace vrseg
