#include "convert/hf_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace edgelm {
namespace {

using nlohmann::json;

int IntOr(const json& j, const char* key, int fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<int>();
}

double NumOr(const json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<double>();
}

// per_layer_config keyed by layer index: transformers writes the keys zero-padded to the width of the
// largest index ("05" once there are ten or more layers); older writers did not pad. Accepts either
// spelling, and refuses a key that names no layer or a layer named twice ("5" and "05").
Status PerLayerOverrides(const json& per_layer, int num_layers, std::vector<const json*>* by_layer) {
  by_layer->assign(static_cast<size_t>(num_layers), nullptr);
  if (!per_layer.is_object()) return Status::Ok();
  const size_t padded_width = std::to_string(num_layers - 1).size();
  for (const auto& kv : per_layer.items()) {
    const std::string& key = kv.key();
    const bool digits = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
    const bool well_formed = digits && (key.size() == 1 || key[0] != '0' || key.size() == padded_width);
    const int layer = well_formed && key.size() <= 9 ? std::stoi(key) : -1;
    if (layer < 0 || layer >= num_layers)
      return InvalidArgument("per_layer_config key '" + key + "' is not a layer index below " + std::to_string(num_layers));
    if ((*by_layer)[layer])
      return InvalidArgument("per_layer_config names layer " + std::to_string(layer) + " twice");
    (*by_layer)[layer] = &kv.value();
  }
  return Status::Ok();
}

RopeConfig ParseRope(const json& text, const char* layer_type, bool full) {
  RopeConfig r;
  r.type = full ? RopeType::Proportional : RopeType::Default;
  r.theta = full ? 1e6 : 1e4;
  r.partial_rotary_factor = full ? 0.25f : 1.0f;
  auto params = text.find("rope_parameters");
  if (params != text.end() && params->is_object() && params->contains(layer_type)) {
    const json& p = params->at(layer_type);
    const std::string type = p.value("rope_type", full ? "proportional" : "default");
    r.type = type == "proportional" ? RopeType::Proportional : RopeType::Default;
    r.theta = NumOr(p, "rope_theta", r.theta);
    r.partial_rotary_factor = static_cast<float>(NumOr(p, "partial_rotary_factor", type == "proportional" ? 0.25 : 1.0));
    r.factor = static_cast<float>(NumOr(p, "factor", 1.0));
  } else {
    r.theta = NumOr(text, full ? "rope_theta" : "rope_local_base_freq", r.theta);
  }
  return r;
}

Status ParseText(const json& root, ModelConfig* config, HfSpecialIds* ids) {
  const json& text = root.contains("text_config") ? root.at("text_config") : root;
  const std::string model_type = text.value("model_type", root.value("model_type", ""));
  if (model_type.rfind("gemma4", 0) != 0)
    return Unsupported("model_type '" + model_type + "' is not a Gemma 4 text model");
  if (text.value("attention_k_eq_v", false)) return Unsupported("attention_k_eq_v (31B/26B) is not supported");
  if (text.value("enable_moe_block", false)) return Unsupported("MoE blocks are not supported");
  const std::string act = text.value("hidden_activation", "gelu_pytorch_tanh");
  if (act != "gelu_pytorch_tanh") return Unsupported("hidden_activation '" + act + "'");

  ModelConfig c;
  c.vocab_size = text.at("vocab_size").get<int>();
  c.hidden_size = text.at("hidden_size").get<int>();
  c.num_heads = text.at("num_attention_heads").get<int>();
  c.ple_dim = IntOr(text, "hidden_size_per_layer_input", 0);
  c.ple_vocab_size = c.ple_dim > 0 ? IntOr(text, "vocab_size_per_layer_input", c.vocab_size) : 0;
  c.rms_norm_eps = static_cast<float>(NumOr(text, "rms_norm_eps", 1e-6));
  c.final_logit_softcap = static_cast<float>(NumOr(text, "final_logit_softcapping", 0.0));
  c.embed_scale = static_cast<float>(std::sqrt(static_cast<double>(c.hidden_size)));
  c.max_position_embeddings = IntOr(text, "max_position_embeddings", 131072);

  const int L = text.at("num_hidden_layers").get<int>();
  if (L <= 0 || L > 1024) return InvalidArgument("num_hidden_layers out of range");
  std::vector<std::string> types;
  if (text.contains("layer_types") && text.at("layer_types").is_array()) {
    types = text.at("layer_types").get<std::vector<std::string>>();
    if (static_cast<int>(types.size()) != L) return InvalidArgument("layer_types length differs from num_hidden_layers");
  } else {
    for (int i = 0; i < L; ++i) types.push_back((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
  }
  types.back() = "full_attention";  // the reference config forces the last layer to be full

  const int head_dim = text.at("head_dim").get<int>();
  const int global_head_dim = IntOr(text, "global_head_dim", head_dim);
  const int kv_heads = IntOr(text, "num_key_value_heads", c.num_heads);
  const int global_kv_heads = IntOr(text, "num_global_key_value_heads", kv_heads);
  const int window = IntOr(text, "sliding_window", 0);
  const int intermediate = text.at("intermediate_size").get<int>();
  const bool double_wide = text.value("use_double_wide_mlp", false);
  const int shared = IntOr(text, "num_kv_shared_layers", 0);
  if (shared < 0 || shared >= L) return InvalidArgument("num_kv_shared_layers out of range");
  const int first_shared = L - shared;
  const json per_layer_config = text.value("per_layer_config", json::object());
  std::vector<const json*> per_layer;
  EDGELM_RETURN_IF_ERROR(PerLayerOverrides(per_layer_config, L, &per_layer));

  for (int i = 0; i < L; ++i) {
    LayerConfig l;
    bool full;
    if (types[i] == "full_attention") full = true;
    else if (types[i] == "sliding_attention") full = false;
    else return Unsupported("layer type '" + types[i] + "'");
    l.attention = full ? AttentionType::Full : AttentionType::Sliding;
    l.head_dim = full ? global_head_dim : head_dim;
    l.num_kv_heads = full ? global_kv_heads : kv_heads;
    if (per_layer[i]) {
      l.head_dim = IntOr(*per_layer[i], "head_dim", l.head_dim);
      l.num_kv_heads = IntOr(*per_layer[i], "num_key_value_heads", l.num_kv_heads);
    }
    l.sliding_window = full ? 0 : window;
    l.rope = ParseRope(text, full ? "full_attention" : "sliding_attention", full);
    const bool consumer = shared > 0 && i >= first_shared;
    l.intermediate_size = intermediate * (double_wide && consumer ? 2 : 1);
    l.kv_source = i;
    if (consumer) {
      l.kv_source = -1;
      for (int j = first_shared - 1; j >= 0; --j)
        if (types[j] == types[i]) {
          l.kv_source = j;
          break;
        }
      if (l.kv_source < 0) return InvalidArgument("KV-shared layer " + std::to_string(i) + " has no earlier layer of its type");
    }
    c.layers.push_back(l);
  }

  auto read_id = [](const json& j, const char* key, int* id, std::vector<int>* list) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    if (it->is_array()) {
      for (const auto& v : *it) {
        if (list) list->push_back(v.get<int>());
      }
      if (!it->empty()) *id = it->at(0).get<int>();
    } else {
      *id = it->get<int>();
      if (list) list->push_back(*id);
    }
  };
  HfSpecialIds s;
  const json& id_src = text.contains("bos_token_id") ? text : root;
  read_id(id_src, "bos_token_id", &s.bos, nullptr);
  read_id(id_src, "eos_token_id", &s.eos, &s.eos_list);
  read_id(id_src, "pad_token_id", &s.pad, nullptr);

  EDGELM_RETURN_IF_ERROR(c.Validate());
  *config = std::move(c);
  if (ids) *ids = s;
  return Status::Ok();
}

}  // namespace

Status ParseHfConfigText(const std::string& json_text, ModelConfig* config, HfSpecialIds* ids) {
  try {
    return ParseText(json::parse(json_text), config, ids);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("config.json: ") + e.what());
  }
}

Status ParseHfConfigFile(const std::string& path, ModelConfig* config, HfSpecialIds* ids) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  Status s = ParseHfConfigText(ss.str(), config, ids);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  return Status::Ok();
}

}  // namespace edgelm
