#include "convert/tflite_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace edgelm::tflite {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 40;  // bounds products of shapes far above any model
constexpr size_t kMaxTables = 1u << 26;              // the verifier's table budget (E2B has ~10^5)

}  // namespace

const char* TensorTypeName(int type) {
  switch (type) {
    case kFloat32: return "FLOAT32";
    case kFloat16: return "FLOAT16";
    case kInt32: return "INT32";
    case kUInt8: return "UINT8";
    case kInt64: return "INT64";
    case kBool: return "BOOL";
    case kInt16: return "INT16";
    case kInt8: return "INT8";
    case kInt4: return "INT4";
    case kBFloat16: return "BFLOAT16";
    case kInt2: return "INT2";
    default: return "other";
  }
}

const char* BuiltinOpName(int code) {
  switch (code) {
    case kOpAdd: return "ADD";
    case kOpConcatenation: return "CONCATENATION";
    case kOpDequantize: return "DEQUANTIZE";
    case kOpEmbeddingLookup: return "EMBEDDING_LOOKUP";
    case kOpFullyConnected: return "FULLY_CONNECTED";
    case kOpMul: return "MUL";
    case kOpReshape: return "RESHAPE";
    case 25: return "SOFTMAX";
    case kOpTanh: return "TANH";
    case kOpGather: return "GATHER";
    case 39: return "TRANSPOSE";
    case 40: return "MEAN";
    case 41: return "SUB";
    case 45: return "STRIDED_SLICE";
    case 53: return "CAST";
    case 65: return "SLICE";
    case 66: return "SIN";
    case 76: return "RSQRT";
    case 95: return "FLOOR_MOD";
    case 108: return "COS";
    case kOpQuantize: return "QUANTIZE";
    case 122: return "SCATTER_ND";
    case kOpBatchMatmul: return "BATCH_MATMUL";
    case kOpGelu: return "GELU";
    case 151: return "DYNAMIC_UPDATE_SLICE";
    case kOpStablehloComposite: return "STABLEHLO_COMPOSITE";
    default: return "other";
  }
}

int IntegerBits(int tensor_type) {
  switch (tensor_type) {
    case kInt8: return 8;
    case kInt4: return 4;
    case kInt2: return 2;
    default: return 0;
  }
}

Status Model::Open(std::string where, Bytes model, Bytes external_weights, Model* out) {
  Model m;
  m.where_ = std::move(where);
  m.model_ = model;
  m.external_ = external_weights;
  if (model.size < 8 || std::memcmp(model.data + 4, "TFL3", 4) != 0) return m.Error("not a TFLite model (no TFL3 identifier)");
  // Offsets in a FlatBuffer are 32-bit: verifying the first 2 GiB covers everything it can reach.
  const size_t verify_size = static_cast<size_t>(std::min<uint64_t>(model.size, FLATBUFFERS_MAX_BUFFER_SIZE - 1));
  flatbuffers::Verifier verifier(model.data, verify_size, /*max_depth=*/64, kMaxTables);
  if (!verifier.VerifyBuffer<fb::Model>("TFL3")) return m.Error("the TFLite FlatBuffer fails verification");
  m.root_ = flatbuffers::GetRoot<fb::Model>(model.data);
  EDGELM_RETURN_IF_ERROR(m.CheckIndices());
  // Every tensor's bytes are located once here: HasData cannot report a range outside the model or
  // its weights section, and the importer would read such a tensor as having no data.
  for (const fb::SubGraph* sg : *m.root_->subgraphs())
    for (const fb::Tensor* t : *sg->tensors()) {
      Bytes located;
      EDGELM_RETURN_IF_ERROR(m.Locate(*t, &located));
    }
  *out = std::move(m);
  return Status::Ok();
}

// Every index a later accessor follows: subgraph and tensor vectors present, opcode indices,
// operator inputs/outputs, tensor buffers and external buffers, signature tensors and subgraphs.
Status Model::CheckIndices() const {
  const auto* subgraphs = root_->subgraphs();
  if (!subgraphs || subgraphs->size() == 0) return Error("no subgraphs");
  const uint32_t num_codes = root_->operator_codes() ? root_->operator_codes()->size() : 0;
  const uint32_t num_buffers = root_->buffers() ? root_->buffers()->size() : 0;
  if (root_->operator_codes())
    for (uint32_t i = 0; i < num_codes; ++i)
      if (!root_->operator_codes()->Get(i)) return Error("operator code " + std::to_string(i) + " is null");
  if (root_->buffers())
    for (uint32_t i = 0; i < num_buffers; ++i)
      if (!root_->buffers()->Get(i)) return Error("buffer " + std::to_string(i) + " is null");
  if (const auto* ext = root_->external_buffers())
    for (const fb::ExternalBuffer* e : *ext)
      if (!e) return Error("null external buffer");
  for (uint32_t g = 0; g < subgraphs->size(); ++g) {
    const fb::SubGraph* sg = subgraphs->Get(g);
    const std::string at = "subgraph " + std::to_string(g);
    if (!sg || !sg->tensors()) return Error(at + " has no tensor list");
    const int64_t num_tensors = sg->tensors()->size();
    for (uint32_t t = 0; t < sg->tensors()->size(); ++t) {
      const fb::Tensor* tensor = sg->tensors()->Get(t);
      if (!tensor) return Error(at + ": tensor " + std::to_string(t) + " is null");
      if (tensor->buffer() >= num_buffers && tensor->buffer() != 0)
        return Error(at + ": tensor " + std::to_string(t) + " names buffer " + std::to_string(tensor->buffer()) +
                     " of " + std::to_string(num_buffers));
      if (NumElements(*tensor) < 0) return Error(at + ": tensor " + std::to_string(t) + " has a bad shape");
    }
    // -1 marks an omitted optional input; an operator's outputs must all exist, as they are read as tensors.
    const auto check_list = [&](const flatbuffers::Vector<int32_t>* list, const std::string& what, int32_t lowest = -1) {
      if (list)
        for (int32_t i : *list)
          if (i < lowest || i >= num_tensors) return Error(at + ": " + what + " names tensor " + std::to_string(i));
      return Status::Ok();
    };
    EDGELM_RETURN_IF_ERROR(check_list(sg->inputs(), "an input"));
    EDGELM_RETURN_IF_ERROR(check_list(sg->outputs(), "an output"));
    if (!sg->operators()) continue;
    for (uint32_t o = 0; o < sg->operators()->size(); ++o) {
      const fb::Operator* op = sg->operators()->Get(o);
      const std::string op_at = "operator " + std::to_string(o);
      if (!op) return Error(at + ": " + op_at + " is null");
      if (!op->inputs() || !op->outputs()) return Error(at + ": " + op_at + " has no input or output list");
      if (op->opcode_index() >= num_codes) return Error(at + ": " + op_at + " has opcode index " + std::to_string(op->opcode_index()));
      EDGELM_RETURN_IF_ERROR(check_list(op->inputs(), op_at + " input"));
      EDGELM_RETURN_IF_ERROR(check_list(op->outputs(), op_at + " output", /*lowest=*/0));
    }
  }
  if (const auto* sigs = root_->signature_defs()) {
    for (const fb::SignatureDef* sig : *sigs) {
      if (!sig || sig->subgraph_index() >= subgraphs->size()) return Error("a signature names a missing subgraph");
      const int64_t num_tensors = subgraphs->Get(sig->subgraph_index())->tensors()->size();
      for (const auto* maps : {sig->inputs(), sig->outputs()})
        if (maps)
          for (const fb::TensorMap* m : *maps)
            if (!m || m->tensor_index() >= num_tensors) return Error("a signature names a missing tensor");
    }
  }
  return Status::Ok();
}

Status Model::FindSubgraph(std::string_view key, uint32_t* index) const {
  if (const auto* sigs = root_->signature_defs())
    for (const fb::SignatureDef* sig : *sigs)
      if (sig->signature_key() && sig->signature_key()->string_view() == key) {
        *index = sig->subgraph_index();
        return Status::Ok();
      }
  for (uint32_t g = 0; g < num_subgraphs(); ++g)
    if (subgraph(g).name() && subgraph(g).name()->string_view() == key) {
      *index = g;
      return Status::Ok();
    }
  return NotFound(where_ + ": no signature or subgraph '" + std::string(key) + "'");
}

int Model::OpCode(const fb::Operator& op) const {
  const fb::OperatorCode* code = root_->operator_codes()->Get(op.opcode_index());
  return std::max<int>(code->builtin_code(), code->deprecated_builtin_code());
}

std::string_view Model::CompositeName(const fb::Operator& op) const {
  if (OpCode(op) != kOpStablehloComposite) return {};
  const fb::StableHLOCompositeOptions* options = op.builtin_options_2_as_StableHLOCompositeOptions();
  return options && options->name() ? options->name()->string_view() : std::string_view();
}

std::string_view Model::Name(const fb::Tensor& t) { return t.name() ? t.name()->string_view() : std::string_view(); }

std::vector<int64_t> Model::Shape(const fb::Tensor& t) {
  std::vector<int64_t> shape;
  if (t.shape()) shape.assign(t.shape()->begin(), t.shape()->end());
  return shape;
}

int64_t Model::NumElements(const fb::Tensor& t) {
  int64_t n = 1;
  if (t.shape())
    for (int32_t d : *t.shape()) {
      if (d < 0 || (d > 0 && n > kMaxElements / d)) return -1;
      n *= d;
    }
  return n;
}

Status Model::Locate(const fb::Tensor& t, Bytes* out) const {
  *out = Bytes{};
  if (t.buffer() != 0) {
    const fb::Buffer* b = root_->buffers()->Get(t.buffer());
    if (b->data() && b->data()->size() > 0) {
      *out = Bytes{b->data()->data(), b->data()->size()};
      return Status::Ok();
    }
    if (b->offset() > 1) {  // the >2 GB layout: relative to the model's first byte
      if (b->size() > model_.size || b->offset() > model_.size - b->size())
        return Error("buffer " + std::to_string(t.buffer()) + " of tensor '" + std::string(Name(t)) + "' lies outside the model");
      *out = Bytes{model_.data + b->offset(), b->size()};
      return Status::Ok();
    }
  }
  if (t.external_buffer() != 0) {
    const auto* ext = root_->external_buffers();
    const fb::ExternalBuffer* found = nullptr;
    if (ext)
      for (const fb::ExternalBuffer* e : *ext)
        if (e->id() == t.external_buffer()) found = e;
    const std::string name(Name(t));
    if (!found) return Error("tensor '" + name + "' names external buffer " + std::to_string(t.external_buffer()) + ", which is not listed");
    const auto* groups = root_->external_buffer_groups();
    if (!groups || found->group() >= groups->size()) return Error("external buffer of tensor '" + name + "' names a missing group");
    if (!external_.data) return Error("tensor '" + name + "' lives in a TFLiteWeights section, and the file has none for this model");
    if (found->length() > external_.size || found->offset() > external_.size - found->length())
      return Error("external buffer of tensor '" + name + "' lies outside its TFLiteWeights section");
    *out = Bytes{external_.data + found->offset(), found->length()};
  }
  return Status::Ok();
}

bool Model::HasData(const fb::Tensor& t) const {
  Bytes b;
  return Locate(t, &b).ok() && b.data != nullptr;
}

Status Model::Data(const fb::Tensor& t, Bytes* out) const {
  EDGELM_RETURN_IF_ERROR(Locate(t, out));
  const std::string name(Name(t));
  if (!out->data) return NotFound(where_ + ": tensor '" + name + "' has no data");
  const int64_t n = NumElements(t);
  uint64_t expected = 0;
  switch (t.type()) {
    case kFloat32: case kInt32: expected = static_cast<uint64_t>(n) * 4; break;
    case kFloat16: case kBFloat16: case kInt16: expected = static_cast<uint64_t>(n) * 2; break;
    case kInt64: expected = static_cast<uint64_t>(n) * 8; break;
    case kInt8: case kUInt8: case kBool: expected = static_cast<uint64_t>(n); break;
    case kInt4: expected = (static_cast<uint64_t>(n) + 1) / 2; break;
    case kInt2: expected = (static_cast<uint64_t>(n) + 3) / 4; break;
    default: return Unsupported(where_ + ": tensor '" + name + "' has type " + std::to_string(t.type()));
  }
  if (out->size != expected)
    return Error("tensor '" + name + "' (" + TensorTypeName(t.type()) + ", " + std::to_string(n) + " elements) has " +
                 std::to_string(out->size) + " bytes, expected " + std::to_string(expected));
  return Status::Ok();
}

Status Model::Floats(const fb::Tensor& t, int64_t count, std::vector<float>* out) const {
  const std::string name(Name(t));
  if (t.type() != kFloat32) return Error("tensor '" + name + "' is " + TensorTypeName(t.type()) + ", expected FLOAT32");
  if (NumElements(t) != count)
    return Error("tensor '" + name + "' has " + std::to_string(NumElements(t)) + " elements, expected " + std::to_string(count));
  Bytes b;
  EDGELM_RETURN_IF_ERROR(Data(t, &b));
  out->resize(static_cast<size_t>(count));
  std::memcpy(out->data(), b.data, b.size);
  return Status::Ok();
}

Status Model::PerTensorScale(const fb::Tensor& t, float* scale) const {
  const std::string name(Name(t));
  const fb::QuantizationParameters* q = t.quantization();
  if (!q || !q->scale() || q->scale()->size() != 1)
    return Error("tensor '" + name + "' should carry exactly one quantization scale");
  if (q->zero_point() && (q->zero_point()->size() > 1 || (q->zero_point()->size() == 1 && q->zero_point()->Get(0) != 0)))
    return Error("tensor '" + name + "' has a nonzero zero point");
  *scale = q->scale()->Get(0);
  if (!(std::isfinite(*scale) && *scale > 0)) return Error("tensor '" + name + "' has a scale that is not positive and finite");
  return Status::Ok();
}

Status Model::PerRowScales(const fb::Tensor& t, std::vector<float>* scales) const {
  const std::string name(Name(t));
  const fb::QuantizationParameters* q = t.quantization();
  const int64_t rows = t.shape() && t.shape()->size() > 0 ? t.shape()->Get(0) : 0;
  if (!q || !q->scale() || static_cast<int64_t>(q->scale()->size()) != rows || q->quantized_dimension() != 0)
    return Error("tensor '" + name + "' should have one scale per output row (quantized dimension 0)");
  if (q->zero_point())
    for (int64_t zp : *q->zero_point())
      if (zp != 0) return Error("tensor '" + name + "' has a nonzero zero point");
  scales->assign(q->scale()->begin(), q->scale()->end());
  for (float s : *scales)
    if (!(std::isfinite(s) && s > 0)) return Error("tensor '" + name + "' has a scale that is not positive and finite");
  return Status::Ok();
}

void CopyCodes(const uint8_t* src, int64_t src_index, uint8_t* dst, int64_t dst_index, int64_t count, int bits) {
  const int64_t per_byte = 8 / bits;
  if (src_index % per_byte == 0 && dst_index % per_byte == 0 && count % per_byte == 0) {
    std::memcpy(dst + dst_index / per_byte, src + src_index / per_byte, static_cast<size_t>(count / per_byte));
    return;
  }
  const unsigned mask = (1u << bits) - 1;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t s = src_index + k, d = dst_index + k;
    const unsigned code = (src[s / per_byte] >> ((s % per_byte) * bits)) & mask;
    const int shift = static_cast<int>((d % per_byte) * bits);
    uint8_t& out = dst[d / per_byte];
    out = static_cast<uint8_t>((out & ~(mask << shift)) | (code << shift));
  }
}

void CopyPackedRows(const uint8_t* packed, int bits, int64_t cols, int64_t r0, int64_t r1, uint8_t* dst) {
  const int64_t per_byte = 8 / bits;
  const int64_t row_elements = (cols + per_byte - 1) / per_byte * per_byte;  // a row's span in dst, padding included
  for (int64_t r = r0; r < r1; ++r) CopyCodes(packed, r * cols, dst, (r - r0) * row_elements, cols, bits);
}

}  // namespace edgelm::tflite
