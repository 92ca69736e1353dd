#include "convert/recipe.h"

namespace edgelm {

Status Recipe::Create(const std::string& name, const std::vector<std::string>& overrides, Recipe* out) {
  static const char* kNames[] = {"f32", "bf16", "f16", "q4_0", "mobile", "mobile-int4", "published"};
  bool known = false;
  for (const char* n : kNames) known |= name == n;
  if (!known)
    return InvalidArgument("unknown output format '" + name + "' (f32, bf16, f16, q4_0, mobile, mobile-int4, published)");
  Recipe r;
  r.name_ = name;
  for (const std::string& o : overrides) {
    const size_t eq = o.rfind('=');
    DType dtype;
    if (eq == std::string::npos || !DTypeFromName(o.substr(eq + 1), &dtype))
      return InvalidArgument("--tensor-type '" + o + "': expected REGEX=dtype with dtype f32|f16|bf16|int8|int4|int2|q4_0");
    try {
      r.overrides_.emplace_back(std::regex(o.substr(0, eq)), dtype);
    } catch (const std::regex_error& e) {
      return InvalidArgument("--tensor-type '" + o + "': bad regex: " + e.what());
    }
  }
  *out = std::move(r);
  return Status::Ok();
}

std::string Recipe::description() const {
  if (name_ == "mobile")
    return "attention, PLE projections and KV-owner MLPs int8 per-channel with static int8 inputs; KV-consumer MLPs "
           "int2 per-channel with static int8 inputs; embedding/tied head int4 per-row (dynamic int8 head inputs); "
           "PLE table int4 per-row";
  if (name_ == "mobile-int4")
    return "as mobile, with int4 per-channel weights wherever mobile uses int8";
  if (published())
    return "Google's published mobile allocation: attention and KV-owner MLPs int4, KV-sharing MLPs int2, PLE gate/"
           "projection and model projection int8, all per-channel with static int8 inputs in [-128,127] and int8 "
           "outputs (calibrated input and output scales); embedding/tied head int2 per-row with asymmetric per-token "
           "int8 head inputs; PLE table int4 per-row; static int8 KV scales";
  if (name_ == "q4_0") return "all linears, embedding and PLE table Q4_0 (llama.cpp blocks); norms f32";
  return "linears and embeddings " + name_ + "; norms f32";
}

TensorEncoding Recipe::Choose(const TensorInfo& t) const {
  TensorEncoding e;
  if (t.role == TensorRole::kNorm) return e;  // norms and scalars stay f32 in every recipe
  if (name_ == "f32") e.dtype = DType::F32;
  else if (name_ == "bf16") e.dtype = DType::BF16;
  else if (name_ == "f16") e.dtype = DType::F16;
  else if (name_ == "q4_0") e.dtype = DType::Q4_0;
  else if (published()) {
    const ActivationQuant in = ActivationQuant::StaticInt8Full;
    switch (t.role) {
      case TensorRole::kEmbedding:
      case TensorRole::kLmHead: e = {DType::I2, ActivationQuant::DynamicInt8Asymmetric}; break;
      case TensorRole::kPleTable: e = {DType::I4, ActivationQuant::None, false, t.slice_cols}; break;  // per token and layer
      case TensorRole::kAttention: e = {DType::I4, in, true}; break;
      case TensorRole::kMlp: e = {t.kv_consumer ? DType::I2 : DType::I4, in, true}; break;
      default: e = {DType::I8, in, true}; break;  // PLE gate, PLE projection, model projection
    }
  } else {
    const DType wide = name_ == "mobile" ? DType::I8 : DType::I4;
    switch (t.role) {
      case TensorRole::kEmbedding:
      case TensorRole::kLmHead: e = {DType::I4, ActivationQuant::DynamicInt8}; break;
      case TensorRole::kPleTable: e = {DType::I4, ActivationQuant::None}; break;
      case TensorRole::kMlp: e = {t.kv_consumer ? DType::I2 : wide, ActivationQuant::StaticInt8}; break;
      default: e = {wide, ActivationQuant::StaticInt8}; break;
    }
  }
  for (const auto& o : overrides_) {
    if (std::regex_search(t.name, o.first)) {
      e.dtype = o.second;
      const bool int_codes = e.dtype == DType::I8 || e.dtype == DType::I4 || e.dtype == DType::I2;
      // Float weights take float activations; integer weights keep the recipe's activation mode
      // (static int8 when the recipe has scales, dynamic per token otherwise).
      if (!int_codes) e = {e.dtype, ActivationQuant::None, false, 0};
      else if (e.activation == ActivationQuant::None && t.role != TensorRole::kPleTable)
        e.activation = ActivationQuant::DynamicInt8;
    }
  }
  return e;
}

}  // namespace edgelm
