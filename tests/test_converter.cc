// Converter inputs: both Hugging Face config styles resolved to the same per-layer geometry, the
// multimodal layout (nested text_config, "model.language_model." prefix, vision tensors) and unused
// KV-consumer K/V tensors skipped, and clear errors for checkpoints that do not fit their config.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "convert/hf_config.h"
#include "convert/importer.h"
#include "model/gemma4_tensors.h"
#include "convert/safetensors.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

using nlohmann::json;
using testing::SharedPath;

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

TEST_CASE("the real E2B and E4B configs resolve to the published geometry") {
  ModelConfig e2b, e4b;
  REQUIRE(ParseHfConfigFile(SharedPath("docs/e2b_config.json"), &e2b, nullptr).ok());
  REQUIRE(ParseHfConfigFile(SharedPath("docs/e4b_config.json"), &e4b, nullptr).ok());
  REQUIRE(e2b.num_layers() == 35);
  for (int i = 0; i < 35; ++i) {
    const bool full = i % 5 == 4;
    INFO("E2B layer " << i);
    CHECK((e2b.layers[i].attention == AttentionType::Full) == full);
    CHECK(e2b.layers[i].head_dim == (full ? 512 : 256));
    CHECK(e2b.layers[i].kv_source == (i < 15 ? i : full ? 14 : 13));
    CHECK(e2b.layers[i].intermediate_size == (i < 15 ? 6144 : 12288));
  }
  CHECK(e2b.layers[4].rope.type == RopeType::Proportional);
  CHECK(e2b.layers[4].rope.partial_rotary_factor == 0.25f);
  CHECK(e2b.ple_dim == 256);
  REQUIRE(e4b.num_layers() == 42);
  CHECK(e4b.layers[24].kv_source == 22);
  CHECK(e4b.layers[41].kv_source == 23);
  CHECK(e4b.layers[30].num_kv_heads == 2);
  CHECK(e4b.layers[30].intermediate_size == 10240);
}

TEST_CASE("flat global_head_dim and per_layer_config styles agree") {
  json flat = ReadJson(SharedPath("fixtures/gemma4-tiny-e2b/config.json"));
  ModelConfig from_file, from_flat;
  REQUIRE(ParseHfConfigText(flat.dump(), &from_file, nullptr).ok());
  REQUIRE(flat.contains("per_layer_config"));
  flat.erase("per_layer_config");
  flat["global_head_dim"] = 128;
  REQUIRE(ParseHfConfigText(flat.dump(), &from_flat, nullptr).ok());
  for (int i = 0; i < from_file.num_layers(); ++i) {
    CHECK(from_file.layers[i].head_dim == from_flat.layers[i].head_dim);
    CHECK(from_file.layers[i].kv_source == from_flat.layers[i].kv_source);
  }
  CHECK(from_file.layers[4].head_dim == 128);
}

// Writes a safetensors file of f32 tensors.
void WriteSafetensors(const std::string& path, const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>>& tensors) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& kv : tensors) {
    const uint64_t bytes = kv.second.second.size() * 4;
    header[kv.first] = {{"dtype", "F32"}, {"shape", kv.second.first}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  const std::string text = header.dump();
  const uint64_t len = text.size();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(len));
  for (const auto& kv : tensors)
    out.write(reinterpret_cast<const char*>(kv.second.second.data()), static_cast<std::streamsize>(kv.second.second.size() * 4));
}

TEST_CASE("a multimodal checkpoint converts: nested config, language_model prefix, extra tensors skipped") {
  const std::string src = SharedPath("fixtures/gemma4-tiny-e2b");
  std::unique_ptr<SafetensorsCheckpoint> ck;
  REQUIRE(SafetensorsCheckpoint::Open(src, &ck).ok());
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;
  for (const auto& kv : ck->tensors()) {
    std::vector<float> values(static_cast<size_t>(kv.second.numel()));
    kv.second.Read(0, kv.second.numel(), values.data());
    tensors["model.language_model." + kv.first.substr(6)] = {kv.second.shape, values};
  }
  tensors["model.vision_tower.patch.weight"] = {{4, 4}, std::vector<float>(16, 1.0f)};
  // The original E2B upload carried unused K/V projections on KV-sharing layers.
  tensors["model.language_model.layers.7.self_attn.k_proj.weight"] = {{128, 128}, std::vector<float>(128 * 128, 9.0f)};
  const std::string dir = testing::TempDir() + "/multimodal";
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  WriteSafetensors(dir + "/model.safetensors", tensors);
  json text = ReadJson(src + "/config.json");
  text["model_type"] = "gemma4_text";
  const json config = {{"model_type", "gemma4"}, {"architectures", {"Gemma4ForConditionalGeneration"}}, {"text_config", text},
                       {"vision_config", {{"hidden_size", 4}}}};
  std::ofstream(dir + "/config.json") << config.dump();

  Status s;
  const std::string converted = testing::Converted(dir, "f32", &s);
  INFO(s.message());
  REQUIRE(s.ok());
  const std::string reference = testing::Converted(src, "f32", &s);
  REQUIRE(s.ok());
  std::shared_ptr<const ModelFile> a = testing::OpenFile(converted, &s), b = testing::OpenFile(reference, &s);
  REQUIRE(a->tensors().size() == b->tensors().size());
  for (size_t i = 0; i < a->tensors().size(); ++i) {
    const TensorView &x = a->tensors()[i], &y = b->tensors()[i];
    CHECK(x.name == y.name);
    CHECK((x.size == y.size && std::memcmp(x.data, y.data, x.size) == 0));
  }
  CHECK(a->FindTensor("layers.7.self_attn.k_proj.weight") == nullptr);
}

TEST_CASE("checkpoints that do not match their config give clear errors") {
  const std::string dir = testing::TempDir() + "/mismatch";
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  std::ofstream(dir + "/config.json") << ReadJson(SharedPath("fixtures/gemma4-tiny-e2b/config.json")).dump();
  WriteSafetensors(dir + "/model.safetensors", {{"model.embed_tokens.weight", {{3, 3}, std::vector<float>(9, 0.0f)}}});
  Status s;
  testing::Converted(dir, "bf16", &s);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("embed_tokens") != std::string::npos);

  std::ofstream(dir + "/config.json") << R"({"model_type": "llama", "hidden_size": 8})";
  testing::Converted(dir, "f32", &s);
  CHECK(s.code() == StatusCode::kUnsupported);
  std::ofstream(dir + "/config.json") << "{ not json";
  testing::Converted(dir, "q4_0", &s);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("config.json") != std::string::npos);
  testing::Converted(testing::TempDir() + "/no-such-dir", "f32", &s);
  CHECK(!s.ok());
  testing::Converted(SharedPath("models/brown-tiny/float"), "mobile", &s);  // static scales need calibration
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("--calibration") != std::string::npos);
}

TEST_CASE("per_layer_config keys: zero-padded as transformers writes them or unpadded, duplicates and strays refused") {
  json config = ReadJson(SharedPath("docs/e2b_config.json"));
  json& text = config.contains("text_config") ? config["text_config"] : config;
  ModelConfig flat;
  REQUIRE(ParseHfConfigText(config.dump(), &flat, nullptr).ok());
  text.erase("global_head_dim");
  for (const bool padded : {true, false}) {
    json per_layer = json::object();
    for (int i = 0; i < flat.num_layers(); ++i) {
      const std::string key = (padded && i < 10 ? "0" : "") + std::to_string(i);
      if (flat.layers[i].attention == AttentionType::Full) per_layer[key] = {{"head_dim", 512}};
    }
    text["per_layer_config"] = per_layer;
    ModelConfig c;
    const Status s = ParseHfConfigText(config.dump(), &c, nullptr);
    INFO("padded " << padded << ": " << s.message());
    REQUIRE(s.ok());
    for (int i = 0; i < c.num_layers(); ++i) CHECK(c.layers[i].head_dim == flat.layers[i].head_dim);
  }
  CHECK(text["per_layer_config"].contains("4"));
  text["per_layer_config"]["04"] = {{"head_dim", 512}};  // layer 4 in both spellings
  ModelConfig c;
  Status s = ParseHfConfigText(config.dump(), &c, nullptr);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("names layer 4 twice") != std::string::npos);
  text["per_layer_config"].erase("04");
  for (const char* stray : {"35", "004", "x", "-1"}) {
    INFO(stray);
    json bad = config;
    (bad.contains("text_config") ? bad["text_config"] : bad)["per_layer_config"][stray] = {{"head_dim", 512}};
    s = ParseHfConfigText(bad.dump(), &c, nullptr);
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK(s.message().find(std::string("per_layer_config key '") + stray + "'") != std::string::npos);
  }
}

}  // namespace
}  // namespace edgelm

namespace edgelm {
namespace {

TEST_CASE("the published recipe: Google's mobile allocation with output, KV and per-layer PLE scales") {
  // Synthetic weights of the tiny E2B-shaped fixture take fixed plausible scales (no calibration text).
  Status s;
  const std::string path = testing::Converted(testing::SharedPath("fixtures/gemma4-tiny-e2b/config.json"), "published", &s,
                                              /*synthesize=*/true);
  INFO(s.message());
  REQUIRE(s.ok());
  const std::shared_ptr<const ModelFile> file = testing::OpenFile(path, &s);
  REQUIRE(s.ok());
  const ModelConfig& c = file->config();
  for (const TensorInfo& info : Gemma4TensorManifest(c)) {
    const TensorView* t = file->FindTensor(info.name);
    REQUIRE(t);
    INFO(info.name);
    switch (info.role) {
      case TensorRole::kEmbedding:
        CHECK(t->dtype == DType::I2);
        CHECK(t->activation == ActivationQuant::DynamicInt8Asymmetric);
        break;
      case TensorRole::kPleTable:
        CHECK(t->dtype == DType::I4);
        CHECK(t->scale_group_size == c.ple_dim);
        break;
      case TensorRole::kAttention:
      case TensorRole::kMlp:
      case TensorRole::kPleLayer:
      case TensorRole::kPleProjection:
        CHECK(t->dtype == (info.role == TensorRole::kAttention ? DType::I4
                           : info.role == TensorRole::kMlp     ? (info.kv_consumer ? DType::I2 : DType::I4)
                                                               : DType::I8));
        CHECK(t->activation == ActivationQuant::StaticInt8Full);
        CHECK(t->output_scale > 0.0f);
        break;
      default: CHECK(t->dtype == DType::F32); break;
    }
  }
  for (const LayerConfig& l : c.layers) {
    CHECK(l.kv_k_scale > 0.0f);
    CHECK(l.kv_v_scale > 0.0f);
    CHECK(l.kv_int8_full_range);
  }
  std::unique_ptr<LoadedModel> model = testing::LoadModel(path, &s);
  REQUIRE(s.ok());
  std::unique_ptr<Session> session;
  REQUIRE(Session::Create(model->model(), nullptr, nullptr, SessionOptions{}, &session).ok());
  const int tokens[] = {2, 17, 300, 5};
  REQUIRE(session->AppendTokens(tokens, 4).ok());
  std::vector<float> logits;
  REQUIRE(testing::EvaluateAll(*session, c.vocab_size, &logits).ok());
  for (float v : logits) REQUIRE(std::isfinite(v));
}

TEST_CASE("inputs are recognized by content, and published files refuse re-quantization options") {
  CHECK(DetectSourceFormat(testing::SharedPath("models/brown-tiny/published/brown-tiny-mobile.litertlm")) == SourceFormat::kLitertlm);
  CHECK(DetectSourceFormat(testing::SharedPath("fixtures/gguf/gemma4-tiny-e2b-f32.gguf")) == SourceFormat::kGguf);
  CHECK(DetectSourceFormat(testing::SharedPath("models/brown-tiny/published/ct")) == SourceFormat::kCompressedTensors);
  CHECK(DetectSourceFormat(testing::SharedPath("models/brown-tiny/qat-mobile")) == SourceFormat::kQatExport);
  CHECK(DetectSourceFormat(testing::SharedPath("models/brown-tiny/float")) == SourceFormat::kHfCheckpoint);
  CHECK(DetectSourceFormat(testing::SharedPath("models/brown-tiny/text/valid.txt")) == SourceFormat::kUnknown);
  CHECK(DetectSourceFormat(testing::TempDir() + "/missing") == SourceFormat::kUnknown);

  ConvertOptions o;
  o.input = testing::SharedPath("fixtures/gguf/gemma4-tiny-e2b-f32.gguf");
  o.output = testing::TempDir() + "/refused.edgelm";
  o.format = "mobile";
  o.format_given = true;
  Status s = Convert(o, nullptr);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("keeps its published quantization") != std::string::npos);
  o.input = testing::SharedPath("models/brown-tiny/text/valid.txt");
  o.format_given = false;
  s = Convert(o, nullptr);
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.message().find("not a checkpoint directory") != std::string::npos);
}

}  // namespace
}  // namespace edgelm
