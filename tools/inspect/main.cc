// edgelm-inspect: what is inside a .edgelm file, and what each format would weigh for a config.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/progress.h"
#include "convert/hf_config.h"
#include "convert/recipe.h"
#include "format/model_file.h"
#include "model/gemma4_tensors.h"
#include "model/kv_cache.h"

namespace edgelm {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const char* ActivationName(ActivationQuant a) {
  switch (a) {
    case ActivationQuant::None: return "float";
    case ActivationQuant::StaticInt8: return "static-int8";
    case ActivationQuant::DynamicInt8: return "dynamic-int8";
    case ActivationQuant::StaticInt8Full: return "static-int8-full";
    case ActivationQuant::DynamicInt8Asymmetric: return "dynamic-int8-asym";
  }
  return "?";
}

ordered_json ArchitectureJson(const ModelConfig& c) {
  ordered_json a = {{"family", c.family}, {"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
                    {"num_layers", c.num_layers()}, {"num_heads", c.num_heads}, {"ple_dim", c.ple_dim},
                    {"ple_vocab_size", c.ple_vocab_size}, {"rms_norm_eps", c.rms_norm_eps},
                    {"final_logit_softcap", c.final_logit_softcap}, {"embed_scale", c.embed_scale}};
  ordered_json layers = ordered_json::array();
  for (const LayerConfig& l : c.layers)
    layers.push_back({{"attention", l.attention == AttentionType::Full ? "full" : "sliding"},
                      {"head_dim", l.head_dim}, {"kv_heads", l.num_kv_heads}, {"kv_source", l.kv_source},
                      {"mlp", l.intermediate_size}, {"window", l.sliding_window},
                      {"rope", l.rope.type == RopeType::Proportional ? "proportional" : "default"},
                      {"rope_theta", l.rope.theta}, {"partial_rotary", l.rope.partial_rotary_factor}});
  a["layers"] = layers;
  return a;
}

void PrintArchitecture(const ModelConfig& c) {
  std::printf("architecture: %s, vocab %d, hidden %d, %d layers, %d heads, PLE dim %d, softcap %g, eps %g, embed scale %.6g\n",
              c.family.c_str(), c.vocab_size, c.hidden_size, c.num_layers(), c.num_heads, c.ple_dim,
              c.final_logit_softcap, c.rms_norm_eps, c.embed_scale);
  std::printf("  %-5s %-8s %8s %8s %9s %8s %7s %-13s %10s\n", "layer", "type", "head_dim", "kv_heads", "kv_source",
              "mlp", "window", "rope", "theta");
  for (int i = 0; i < c.num_layers(); ++i) {
    const LayerConfig& l = c.layers[i];
    std::printf("  %-5d %-8s %8d %8d %9s %8d %7d %-13s %10g\n", i, l.attention == AttentionType::Full ? "full" : "sliding",
                l.head_dim, l.num_kv_heads, l.kv_source == i ? "own" : std::to_string(l.kv_source).c_str(),
                l.intermediate_size, l.sliding_window,
                l.rope.type == RopeType::Proportional ? "proportional" : "default", l.rope.theta);
  }
}

// The opened file, or null after printing why it does not open.
std::unique_ptr<ModelFile> OpenOrReport(const std::string& path) {
  std::unique_ptr<ModelFile> file;
  const Status s = ModelFile::Open(path, &file);
  if (!s.ok()) std::fprintf(stderr, "edgelm-inspect: %s\n", s.message().c_str());
  return file;
}

// Reads every tensor and compares it with its recorded checksum; names each damaged one.
// Exit status: 0 all match, 1 damage or a read error, 3 the file carries no checksums.
int VerifyFile(const std::string& path, bool as_json) {
  const std::unique_ptr<ModelFile> file = OpenOrReport(path);
  if (!file) return 1;
  if (!file->has_checksums()) {
    if (as_json) std::printf("%s\n", ordered_json{{"file", path}, {"checksums", "none"}}.dump(1).c_str());
    else std::printf("%s carries no weight checksums (converted before edgelm-convert 1.1): nothing to verify\n", path.c_str());
    return 3;
  }
  const auto start = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  ordered_json damaged = ordered_json::array();
  for (const TensorView& t : file->tensors()) {
    const Status v = file->VerifyTensor(t);
    bytes += t.size + (t.scales ? static_cast<uint64_t>(t.rows() * t.scales_per_row()) * 4 : 0);
    if (!v.ok()) {
      damaged.push_back({{"tensor", t.name}, {"error", v.message()}});
      if (!as_json) std::printf("DAMAGED %s\n", v.message().c_str());
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (as_json) {
    std::printf("%s\n", ordered_json{{"file", path}, {"checksums", "crc32"}, {"tensors", file->tensors().size()},
                                     {"bytes", bytes}, {"seconds", seconds}, {"damaged", damaged}}.dump(1).c_str());
  } else {
    std::printf("%s: %zu tensors, %s verified in %.2f s (%.2f GB/s): %s\n", path.c_str(), file->tensors().size(),
                FormatBytes(static_cast<double>(bytes)).c_str(), seconds, bytes / seconds * 1e-9,
                damaged.empty() ? "every tensor matches its checksum" : (std::to_string(damaged.size()) + " damaged").c_str());
  }
  return damaged.empty() ? 0 : 1;
}

int InspectFile(const std::string& path, bool as_json) {
  const std::unique_ptr<ModelFile> file = OpenOrReport(path);
  if (!file) return 1;
  const ModelConfig& c = file->config();
  std::map<std::string, const TensorInfo*> infos;
  const std::vector<TensorInfo> manifest = Gemma4TensorManifest(c);
  for (const TensorInfo& t : manifest) infos[t.name] = &t;
  std::map<std::string, uint64_t> by_role, by_dtype;
  // The recipe per tensor group: what each group is stored as, across its layers.
  std::map<std::string, std::map<std::string, int>> recipe_groups;
  ordered_json tensors = ordered_json::array();
  for (const TensorView& t : file->tensors()) {
    auto it = infos.find(t.name);
    const TensorInfo* info = it == infos.end() ? nullptr : it->second;
    const std::string role = info ? TensorRoleName(info->role) : "unknown";
    const uint64_t bytes = t.size + (t.scales ? static_cast<uint64_t>(t.rows() * t.scales_per_row()) * 4 : 0);
    by_role[role] += bytes;
    by_dtype[DTypeName(t.dtype)] += bytes;
    if (info && info->role != TensorRole::kNorm) {
      const bool by_sharing = info->role == TensorRole::kMlp || info->role == TensorRole::kAttention;
      const std::string group = role + (by_sharing ? (info->kv_consumer ? " (KV-sharing layers)" : " (KV-owner layers)") : "");
      std::string how = std::string(DTypeName(t.dtype)) + (t.scale_group_size > 0 ? "/g" + std::to_string(t.scale_group_size) : "");
      if (t.activation != ActivationQuant::None) how += " x " + std::string(ActivationName(t.activation));
      if (t.output_scale > 0.0f) how += " -> int8 out";
      ++recipe_groups[group][how];
    }
    tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"dtype", DTypeName(t.dtype)}, {"role", role},
                       {"bytes", bytes}, {"activation", ActivationName(t.activation)},
                       {"input_scale", t.input_scale}, {"output_scale", t.output_scale}});
  }
  auto group_text = [](const std::map<std::string, int>& hows) {
    std::string s;
    for (const auto& [how, count] : hows) s += (s.empty() ? "" : ", ") + how + " (" + std::to_string(count) + ")";
    return s;
  };
  const schema::Model& meta = file->metadata();
  auto str = [](const flatbuffers::String* s) { return s ? s->str() : std::string(); };
  const TokenizerData* tok = file->tokenizer();
  if (as_json) {
    ordered_json j;
    j["file"] = path;
    j["file_bytes"] = file->file_size();
    j["format_version"] = file->header().format_version;
    j["checksums"] = file->has_checksums() ? "crc32" : "none";
    j["recipe"] = meta.quantization() ? str(meta.quantization()->recipe()) : "";
    if (meta.provenance())
      j["provenance"] = {{"source", str(meta.provenance()->source())},
                         {"source_format", str(meta.provenance()->source_format())},
                         {"source_sha256", str(meta.provenance()->source_sha256())},
                         {"converter", str(meta.provenance()->converter())},
                         {"created_utc", str(meta.provenance()->created_utc())}};
    ordered_json groups;
    for (const auto& [group, hows] : recipe_groups) groups[group] = group_text(hows);
    j["recipe_by_group"] = groups;
    j["architecture"] = ArchitectureJson(c);
    if (tok)
      j["tokenizer"] = {{"pieces", tok->pieces.size()}, {"merges", tok->merges.size()}, {"bos", tok->bos_id},
                        {"eos", tok->eos_id}, {"stop_ids", tok->stop_ids}, {"chat_template", tok->chat_template}};
    j["bytes_by_role"] = by_role;
    j["bytes_by_dtype"] = by_dtype;
    j["tensors"] = tensors;
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  std::printf("file: %s (%s, format version %u)\n", path.c_str(), FormatBytes(static_cast<double>(file->file_size())).c_str(),
              file->header().format_version);
  std::printf("weight checksums: %s\n", file->has_checksums() ? "CRC-32 per tensor (edgelm-inspect --verify checks them)"
                                                              : "none (converted before edgelm-convert 1.1)");
  if (meta.quantization())
    std::printf("recipe: %s — %s\n", str(meta.quantization()->recipe()).c_str(), str(meta.quantization()->description()).c_str());
  if (meta.provenance()) {
    const std::string format = str(meta.provenance()->source_format()), sha = str(meta.provenance()->source_sha256());
    std::printf("source: %s%s (%s, %s)\n", str(meta.provenance()->source()).c_str(),
                format.empty() ? "" : (" [" + format + "]").c_str(), str(meta.provenance()->converter()).c_str(),
                str(meta.provenance()->created_utc()).c_str());
    if (!sha.empty()) std::printf("source sha256: %s\n", sha.c_str());
  }
  std::printf("recipe by tensor group:\n");
  for (const auto& [group, hows] : recipe_groups) std::printf("  %-36s %s\n", group.c_str(), group_text(hows).c_str());
  PrintArchitecture(c);
  if (tok)
    std::printf("tokenizer: %zu pieces, %zu merges, bos %d, eos %d, %zu stop ids, template '%s'\n", tok->pieces.size(),
                tok->merges.size(), tok->bos_id, tok->eos_id, tok->stop_ids.size(), tok->chat_template.c_str());
  else
    std::printf("tokenizer: none (token ids only)\n");
  std::printf("tensors: %zu\n  %-48s %-14s %-6s %-17s %12s  %-12s %s\n", file->tensors().size(), "name", "shape", "dtype",
              "activation", "bytes", "input_scale", "output_scale");
  for (const auto& t : tensors)
    std::printf("  %-48s %-14s %-6s %-17s %12llu  %-12g %g\n", t["name"].get<std::string>().c_str(),
                ShapeString(t["shape"].get<std::vector<int64_t>>()).c_str(), t["dtype"].get<std::string>().c_str(),
                t["activation"].get<std::string>().c_str(), static_cast<unsigned long long>(t["bytes"].get<uint64_t>()),
                t["input_scale"].get<float>(), t["output_scale"].get<float>());
  std::printf("bytes by component:\n");
  for (const auto& kv : by_role) std::printf("  %-16s %s\n", kv.first.c_str(), FormatBytes(static_cast<double>(kv.second)).c_str());
  std::printf("bytes by dtype:\n");
  for (const auto& kv : by_dtype) std::printf("  %-16s %s\n", kv.first.c_str(), FormatBytes(static_cast<double>(kv.second)).c_str());
  return 0;
}

int Estimate(const std::string& config_path, bool as_json) {
  ModelConfig c;
  Status s = ParseHfConfigFile(config_path, &c, nullptr);
  if (!s.ok()) {
    std::fprintf(stderr, "edgelm-inspect: %s\n", s.message().c_str());
    return 1;
  }
  const std::vector<TensorInfo> manifest = Gemma4TensorManifest(c);
  ordered_json out = ordered_json::array();
  for (const char* format : {"f32", "bf16", "q4_0", "mobile", "mobile-int4", "published"}) {
    Recipe recipe;
    (void)Recipe::Create(format, {}, &recipe);
    WeightBytes weights;
    s = SumWeightBytes(manifest, c.tie_word_embeddings, [&recipe](const TensorInfo& t, StoredAs* how) {
      const TensorEncoding e = recipe.Choose(t);
      *how = StoredAs{e.dtype, e.scale_group_size};
      return true;
    }, &weights);
    if (!s.ok()) {
      std::fprintf(stderr, "edgelm-inspect: %s\n", s.message().c_str());
      return 1;
    }
    std::map<std::string, uint64_t> by_role;
    for (const auto& [role, bytes] : weights.by_role) by_role[TensorRoleName(role)] = bytes;
    out.push_back({{"format", format}, {"file_bytes", weights.file}, {"resident_bytes", weights.resident()},
                   {"gathered_table_bytes", weights.gathered},
                   {"bytes_by_role", by_role}});
  }
  if (as_json) {
    std::printf("%s\n", out.dump(1).c_str());
    return 0;
  }
  std::printf("size estimate for %s (hidden %d, %d layers, vocab %d):\n", config_path.c_str(), c.hidden_size,
              c.num_layers(), c.vocab_size);
  std::printf("  %-12s %12s %26s\n", "format", "file", "resident (tables gathered)");
  for (const auto& r : out)
    std::printf("  %-12s %12s %26s\n", r["format"].get<std::string>().c_str(),
                FormatBytes(static_cast<double>(r["file_bytes"].get<uint64_t>())).c_str(),
                FormatBytes(static_cast<double>(r["resident_bytes"].get<uint64_t>())).c_str());
  return 0;
}

// KV cache memory for a config or model: bytes per token and totals at a context length.
int KvReport(const std::string& source, int context, const std::string& type_name, int chunk, bool as_json) {
  ModelConfig c;
  Status s;
  if (source.size() > 5 && source.compare(source.size() - 5, 5, ".json") == 0) {
    s = ParseHfConfigFile(source, &c, nullptr);
  } else {
    std::unique_ptr<ModelFile> file;
    s = ModelFile::Open(source, &file);
    if (s.ok()) c = file->config();
  }
  KvType type;
  if (s.ok() && !KvTypeFromName(type_name, &type)) s = InvalidArgument("--kv-type takes f32, bf16, int8 or int4");
  std::unique_ptr<KvCache> kv;
  if (s.ok()) s = KvCache::Create(c, KvCacheOptions{context, chunk, type}, &kv);
  if (!s.ok()) {
    std::fprintf(stderr, "edgelm-inspect: %s\n", s.message().c_str());
    return 1;
  }
  uint64_t per_token = 0, codes_per_token = 0, total = 0, sliding_total = 0, full_total = 0;
  int owners = 0;
  const double code_bytes = type == KvType::kF32 ? 4 : type == KvType::kBF16 ? 2 : type == KvType::kInt8 ? 1 : 0.5;
  for (int i = 0; i < c.num_layers(); ++i) {
    if (!c.owns_kv(i)) continue;
    ++owners;
    const LayerConfig& l = c.layers[i];
    per_token += kv->row_bytes(i);
    codes_per_token += static_cast<uint64_t>(2.0 * l.num_kv_heads * l.head_dim * code_bytes);
    const uint64_t held = kv->layer_bytes_at_full_context(i);
    total += held;
    (l.sliding_window > 0 ? sliding_total : full_total) += held;
  }
  if (as_json) {
    ordered_json j = {{"source", source}, {"kv_type", KvTypeName(type)}, {"context", context}, {"prefill_chunk", chunk},
                      {"owner_layers", owners}, {"bytes_per_token", per_token}, {"code_bytes_per_token", codes_per_token},
                      {"scale_bytes_per_token", per_token - codes_per_token}, {"sliding_bytes", sliding_total},
                      {"full_bytes", full_total}, {"total_bytes", total}};
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  std::printf("KV cache of %s, %s, context %d tokens (prefill chunk %d):\n", source.c_str(), KvTypeName(type), context, chunk);
  std::printf("  %d KV-owner layers of %d; per token (all owners): %llu bytes = %llu code bytes + %llu scale bytes\n",
              owners, c.num_layers(), static_cast<unsigned long long>(per_token),
              static_cast<unsigned long long>(codes_per_token), static_cast<unsigned long long>(per_token - codes_per_token));
  std::printf("  sliding layers (capped at window + chunk - 1): %s; full layers: %s; total %s\n",
              FormatBytes(static_cast<double>(sliding_total)).c_str(), FormatBytes(static_cast<double>(full_total)).c_str(),
              FormatBytes(static_cast<double>(total)).c_str());
  return 0;
}

}  // namespace
}  // namespace edgelm

int main(int argc, char** argv) {
  bool as_json = false, verify = false;
  std::string file, estimate, kv_source, kv_type = "int8";
  int context = 4096, chunk = 128;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") as_json = true;
    else if (a == "--verify") verify = true;
    else if (a == "--estimate" && i + 1 < argc) estimate = argv[++i];
    else if (a == "--kv" && i + 1 < argc) kv_source = argv[++i];
    else if (a == "--context" && i + 1 < argc) context = std::atoi(argv[++i]);
    else if (a == "--kv-type" && i + 1 < argc) kv_type = argv[++i];
    else if (a == "--chunk" && i + 1 < argc) chunk = std::atoi(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::printf("usage: edgelm-inspect [--json] MODEL.edgelm\n"
                  "       edgelm-inspect [--json] --verify MODEL.edgelm   (every tensor against its checksum)\n"
                  "       edgelm-inspect [--json] --estimate CONFIG.json\n"
                  "       edgelm-inspect [--json] --kv CONFIG.json|MODEL.edgelm [--context N] [--kv-type int8] [--chunk 128]\n");
      return 0;
    } else if (!a.empty() && a[0] != '-' && file.empty()) file = a;
    else {
      std::fprintf(stderr, "edgelm-inspect: bad argument %s (see --help)\n", a.c_str());
      return 2;
    }
  }
  if (!estimate.empty()) return edgelm::Estimate(estimate, as_json);
  if (!kv_source.empty()) return edgelm::KvReport(kv_source, context, kv_type, chunk, as_json);
  if (file.empty()) {
    std::fprintf(stderr, "usage: edgelm-inspect [--json] MODEL.edgelm | --estimate CONFIG.json\n");
    return 2;
  }
  return verify ? edgelm::VerifyFile(file, as_json) : edgelm::InspectFile(file, as_json);
}
