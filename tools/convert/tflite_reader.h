// Reader of a TFLite model held in memory (a .litertlm TFLiteModel section): the FlatBuffer is
// verified, then every operator, tensor, buffer and external-buffer index and every tensor's byte
// range are checked once at Open, so the accessors below can be used without further range checks.
// Tensor bytes are located by the three rules of TFLite (inline Buffer.data, Buffer offset/size in
// the model, an external buffer in the TFLiteWeights section) and checked against the tensor's shape
// and type.
// Facts: ../shared/docs/published_mobile_format.md §2.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "litertlm_subset_generated.h"

namespace edgelm::tflite {

namespace fb = litertlm_subset::tflite;

// TensorType, schema values (not the runtime's TfLiteType numbers).
enum TensorType : int {
  kFloat32 = 0, kFloat16 = 1, kInt32 = 2, kUInt8 = 3, kInt64 = 4, kBool = 6, kInt16 = 7, kInt8 = 9,
  kInt4 = 17, kBFloat16 = 18, kInt2 = 19,
};
const char* TensorTypeName(int type);  // "INT8", ...; "other" for types not listed here

// BuiltinOperator codes this importer looks for.
enum BuiltinOp : int {
  kOpAdd = 0, kOpConcatenation = 2, kOpDequantize = 6, kOpEmbeddingLookup = 7, kOpFullyConnected = 9,
  kOpMul = 18, kOpReshape = 22, kOpTanh = 28, kOpGather = 36, kOpQuantize = 114, kOpBatchMatmul = 126,
  kOpGelu = 150, kOpStablehloComposite = 206,
};
const char* BuiltinOpName(int code);  // the ones above and the others Gemma 4 graphs use; "other" otherwise

struct Bytes {
  const uint8_t* data = nullptr;
  uint64_t size = 0;
};

class Model {
 public:
  // `model`: the whole TFLite model; `external_weights`: the TFLiteWeights section of the same model
  // type, or empty. `where` prefixes every message ("bundle.litertlm: tf_lite_embedder").
  static Status Open(std::string where, Bytes model, Bytes external_weights, Model* out);

  const std::string& where() const { return where_; }
  const fb::Model& root() const { return *root_; }
  uint32_t num_subgraphs() const { return root_->subgraphs()->size(); }
  const fb::SubGraph& subgraph(uint32_t index) const { return *root_->subgraphs()->Get(index); }

  // The subgraph of the signature `key`, else of the subgraph named `key`; kNotFound if neither.
  Status FindSubgraph(std::string_view key, uint32_t* index) const;

  // Effective builtin code: max(builtin_code, deprecated_builtin_code).
  int OpCode(const fb::Operator& op) const;
  // STABLEHLO_COMPOSITE's name ("odml.rms_norm"), empty for other ops.
  std::string_view CompositeName(const fb::Operator& op) const;
  const fb::FullyConnectedOptions* FullyConnectedOptions(const fb::Operator& op) const {
    return op.builtin_options_as_FullyConnectedOptions();
  }

  // Tensor `index` of subgraph `sg`; indices come from checked operator inputs/outputs (>= 0).
  const fb::Tensor& tensor(const fb::SubGraph& sg, int index) const { return *sg.tensors()->Get(static_cast<uint32_t>(index)); }
  static std::string_view Name(const fb::Tensor& t);
  static std::vector<int64_t> Shape(const fb::Tensor& t);
  static int64_t NumElements(const fb::Tensor& t);

  // True if the tensor has constant data by any of the three rules.
  bool HasData(const fb::Tensor& t) const;
  // The tensor's bytes; kCorruptModel if its size differs from what shape and type imply, kNotFound
  // if it has no data.
  Status Data(const fb::Tensor& t, Bytes* out) const;
  // A constant fp32 tensor of exactly `count` elements.
  Status Floats(const fb::Tensor& t, int64_t count, std::vector<float>* out) const;

  // Exactly one quantization scale with zero point 0 (static activations, KV caches).
  Status PerTensorScale(const fb::Tensor& t, float* scale) const;
  // One positive scale per output row (quantized_dimension 0), zero points 0.
  Status PerRowScales(const fb::Tensor& t, std::vector<float>* scales) const;

 private:
  Status CheckIndices() const;
  Status Locate(const fb::Tensor& t, Bytes* out) const;
  Status Error(const std::string& what) const { return CorruptModel(where_ + ": " + what); }

  std::string where_;
  Bytes model_;
  Bytes external_;
  const fb::Model* root_ = nullptr;
};

// Bits per element of a packed integer type (8, 4, 2), 0 for others.
int IntegerBits(int tensor_type);

// Copies `count` codes of `bits` bits (8, 4, 2; low bits first within a byte, TFLite's packing and
// edgelm's) from element `src_index` of `src` to element `dst_index` of `dst`; a plain memcpy when
// both ends fall on byte boundaries.
void CopyCodes(const uint8_t* src, int64_t src_index, uint8_t* dst, int64_t dst_index, int64_t count, int bits);

// Rows [r0, r1) of a [rows, cols] tensor that TFLite packs over the flattened tensor, written as rows
// that each start on a byte boundary (edgelm's layout; they differ when cols * bits % 8 != 0). Row
// padding bits keep their value in `dst` (the writer hands out zeroed chunks).
void CopyPackedRows(const uint8_t* packed, int bits, int64_t cols, int64_t r0, int64_t r1, uint8_t* dst);

}  // namespace edgelm::tflite
