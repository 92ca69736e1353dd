// The GGUF importer against ../shared/fixtures/gguf (see its README, "What an importer test should
// assert"): the F32 file reproduces the transformers logits; Google's Q4_0 recipe (Q8_0 embeddings) and
// the synthetic Q6_K model reproduce the exact reference of their stored weights, which the importer keeps
// byte for byte; the architecture is derived as llama.cpp derives it; and malformed files of every kind
// give a status that names the file, never a crash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "common/npy.h"
#include "common/sha256.h"
#include "convert/gguf_reader.h"
#include "convert/importer.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

using testing::SharedPath;

constexpr float kLogitTolerance = 1e-4f;  // README: exact mode, |Δ| <= 1e-4 and identical argmax

nlohmann::json ReadJson(const std::string& rel) {
  std::ifstream in(SharedPath(rel));
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

// Each fixture converted once per process through the converter's GGUF path.
std::string Converted(const std::string& rel) {
  static std::map<std::string, std::string> done;
  auto it = done.find(rel);
  if (it != done.end()) return it->second;
  ConvertOptions o;
  o.input = SharedPath(rel);
  o.output = testing::TempDir() + "/gguf" + std::to_string(done.size()) + ".edgelm";
  const Status s = Convert(o, nullptr);
  INFO(s.message());
  REQUIRE(s.ok());
  return done[rel] = o.output;
}

struct Fixture {
  const char* gguf;       // under fixtures/
  const char* tokens;     // tokens.json
  const char* reference;  // logits prefix: <reference><k>.npy
};
const Fixture kF32 = {"fixtures/gguf/gemma4-tiny-e2b-f32.gguf", "fixtures/gguf/tokens.json",
                      "fixtures/gemma4-tiny-e2b/logits_seq"};
const Fixture kQ4_0 = {"fixtures/gguf/gemma4-tiny-e2b-q4_0-google.gguf", "fixtures/gguf/tokens.json",
                       "fixtures/gguf/ref-exact_q4_0-google_seq"};
const Fixture kSynthQ6_K = {"fixtures/gguf/synth-q6k/gemma4-synth-q6k-q4_0-google.gguf",
                            "fixtures/gguf/synth-q6k/tokens.json", "fixtures/gguf/synth-q6k/ref-exact_q4_0-google_seq"};

// Every position's logits of every sequence against the reference: max |Δ| and argmax per position.
void CheckLogits(const Fixture& fx) {
  Status s;
  const std::unique_ptr<LoadedModel> loaded = testing::LoadModel(Converted(fx.gguf), &s);
  INFO(s.message());
  REQUIRE(s.ok());
  const Gemma4Model& model = loaded->model();
  const int vocab = model.config().vocab_size;
  const nlohmann::json sequences = ReadJson(fx.tokens)["sequences"];
  for (size_t k = 0; k < sequences.size(); ++k) {
    const std::vector<int> tokens = sequences[k]["tokens"].get<std::vector<int>>();
    const int T = static_cast<int>(tokens.size());
    std::unique_ptr<KvCache> kv;
    REQUIRE(KvCache::Create(model.config(), KvCacheOptions{T, T, KvType::kF32}, &kv).ok());
    WorkspacePtr ws = model.NewWorkspace(nullptr);
    std::vector<float> logits(static_cast<size_t>(T) * vocab);
    s = model.Forward(tokens.data(), T, LogitsMode::kAll, kv.get(), ws.get(), logits.data(), nullptr);
    INFO(s.message());
    REQUIRE(s.ok());
    NpyArray ref;
    s = ReadNpy(SharedPath(fx.reference + std::to_string(k) + ".npy"), &ref);
    INFO(s.message());
    REQUIRE(s.ok());
    REQUIRE(ref.floats.size() == logits.size());
    const testing::LogitComparison c = testing::CompareLogits(logits, ref.floats, static_cast<size_t>(vocab));
    WARN(fx.gguf << " seq" << k << " (T=" << T << "): max |logit - reference| = " << c.max_abs);
    CHECK(c.max_abs <= kLogitTolerance);
    CHECK(c.argmax_agree == c.rows);
  }
}

TEST_CASE("GGUF F32: logits match the transformers fixture") { CheckLogits(kF32); }

TEST_CASE("GGUF Q4_0 (Google's recipe, Q8_0 embeddings): logits match the exact reference of the stored weights") {
  CheckLogits(kQ4_0);
}

TEST_CASE("GGUF with Q6_K embeddings (synth-q6k): logits match the exact reference of the stored weights") {
  CheckLogits(kSynthQ6_K);
}

// dequant_checksums_*.json per tensor: the imported tensor holds the GGUF's bytes exactly (the same
// bytes as the source tensor, n_bytes long), and DequantizeRow decodes them to ggml's values: sum and
// sum of squares to 1e-6 relative, the first eight values exactly.
void CheckTensors(const char* gguf_rel, const char* checksums_rel) {
  std::unique_ptr<GgufFile> source;
  Status s = GgufFile::Open(SharedPath(gguf_rel), &source);
  INFO(s.message());
  REQUIRE(s.ok());
  std::unique_ptr<ModelFile> imported;
  s = ModelFile::Open(Converted(gguf_rel), &imported);
  INFO(s.message());
  REQUIRE(s.ok());
  const nlohmann::json checksums = ReadJson(checksums_rel);
  int matched = 0;
  for (const nlohmann::json& entry : checksums["tensors"]) {
    const std::string name = entry["name"];
    INFO("tensor " << name << " (" << entry["type"].get<std::string>() << ")");
    const GgufTensor* t = source->FindTensor(name);
    REQUIRE(t != nullptr);
    REQUIRE(t->size == entry["n_bytes"].get<uint64_t>());
    if (name == "rope_freqs.weight") continue;  // read into the config, not imported
    const auto same_bytes = [&](const TensorView& v) { return v.size == t->size && std::memcmp(v.data, t->data, t->size) == 0; };
    const auto it = std::find_if(imported->tensors().begin(), imported->tensors().end(), same_bytes);
    REQUIRE(it != imported->tensors().end());
    std::string ggml_type = GgmlTypeName(t->type);  // "Q6_K"; the .edgelm name is "q6_k"
    std::transform(ggml_type.begin(), ggml_type.end(), ggml_type.begin(), [](unsigned char ch) { return std::tolower(ch); });
    CHECK(DTypeName(it->dtype) == ggml_type);
    double sum = 0, sum_abs = 0, sum_sq = 0;
    std::vector<float> row(static_cast<size_t>(it->cols()));
    std::vector<float> first;
    Sha256 decoded;  // of ggml's dequantized f32 with -0 written as +0
    for (int64_t r = 0; r < it->rows(); ++r) {
      DequantizeRow(*it, r, row.data());
      for (float& v : row) v = v == 0.0f ? 0.0f : v;
      decoded.Update(row.data(), row.size() * sizeof(float));
      for (float v : row) {
        sum += v;
        sum_abs += std::fabs(v);
        sum_sq += static_cast<double>(v) * v;
        if (first.size() < 8) first.push_back(v);
      }
    }
    CHECK(decoded.HexDigest() == entry["sha256_f32_pos0"].get<std::string>());
    CHECK(std::fabs(sum - entry["sum"].get<double>()) <= 1e-6 * sum_abs);
    CHECK(std::fabs(sum_sq - entry["sumsq"].get<double>()) <= 1e-6 * sum_sq);
    for (size_t i = 0; i < first.size(); ++i) CHECK(first[i] == static_cast<float>(entry["first8"][i].get<double>()));
    ++matched;
  }
  CHECK(matched == static_cast<int>(checksums["tensors"].size()) - 1);
}

TEST_CASE("GGUF tensors are imported byte for byte and decode to ggml's values") {
  SECTION("Q4_0 / Q8_0 / F16 / F32") {
    CheckTensors(kQ4_0.gguf, "fixtures/gguf/dequant_checksums_q4_0-google.json");
  }
  SECTION("Q6_K") { CheckTensors(kSynthQ6_K.gguf, "fixtures/gguf/synth-q6k/dequant_checksums_q4_0-google.json"); }
}

TEST_CASE("GGUF structure: KV sharing, tied head, partial RoPE, double-wide MLP and the tokenizer as llama.cpp reads them") {
  std::unique_ptr<ModelFile> f;
  const Status s = ModelFile::Open(Converted(kQ4_0.gguf), &f);
  INFO(s.message());
  REQUIRE(s.ok());
  const ModelConfig& c = f->config();
  REQUIRE(c.num_layers() == 10);
  CHECK(c.vocab_size == 2048);
  CHECK(c.hidden_size == 128);
  CHECK(c.ple_dim == 32);
  CHECK(c.final_logit_softcap == 30.0f);
  CHECK(c.tie_word_embeddings);
  CHECK(f->FindTensor("lm_head.weight") == nullptr);
  CHECK(f->FindTensor("embed_tokens.weight")->dtype == DType::Q8_0);
  for (int i = 0; i < 10; ++i) {
    INFO("layer " << i);
    const LayerConfig& l = c.layers[i];
    const bool full = i == 4 || i == 9;
    CHECK(l.attention == (full ? AttentionType::Full : AttentionType::Sliding));
    CHECK(l.head_dim == (full ? 128 : 64));
    CHECK(l.num_kv_heads == 2);
    CHECK(l.intermediate_size == (i < 5 ? 256 : 512));
    CHECK(l.sliding_window == (full ? 0 : 16));
    CHECK(l.kv_source == (i < 5 ? i : full ? 4 : 3));
    CHECK((f->FindTensor("layers." + std::to_string(i) + ".self_attn.k_proj.weight") != nullptr) == (i < 5));
    CHECK((f->FindTensor("layers." + std::to_string(i) + ".self_attn.v_proj.weight") != nullptr) == (i < 5));
    CHECK(l.rope.type == (full ? RopeType::Proportional : RopeType::Default));
    CHECK(l.rope.partial_rotary_factor == (full ? 0.25f : 1.0f));
    CHECK(l.rope.theta == (full ? 1e6 : 1e4));
  }
  CHECK(f->recipe().find("gguf:q4_0") != std::string::npos);
  const TokenizerData* tok = f->tokenizer();
  REQUIRE(tok != nullptr);
  CHECK(tok->pieces.size() == 2048);
  CHECK(tok->bos_id == 2);
  CHECK(tok->eos_id == 1);
  CHECK(tok->pad_id == 0);
  CHECK(tok->unk_id == 3);
  CHECK(tok->byte_fallback_base == 5);
  CHECK(tok->add_bos);
  CHECK(tok->merges.size() == 1);
  CHECK(tok->stop_ids == std::vector<int>{1});
}

// --- malformed files ----------------------------------------------------------------------------

// The importer on `bytes` written to a file: never a crash; a failure names the file.
Status ImportBytes(const std::string& bytes) {
  const std::string path = testing::TempDir() + "/bad.gguf";
  WriteBytes(path, bytes);
  ImportedModel model;
  const Status s = ImportGguf(path, ImportOptions{}, &model);
  if (!s.ok()) CHECK(s.message().rfind(path + ": ", 0) == 0);
  return s;
}

// Offset of the tensor info of `name` (its 8-byte name length) in a GGUF image.
size_t TensorInfoOffset(const std::string& bytes, const std::string& name) {
  uint64_t length = name.size();
  std::string key(reinterpret_cast<const char*>(&length), 8);
  const size_t at = bytes.find(key + name);
  REQUIRE(at != std::string::npos);
  return at;
}

template <typename T>
void Poke(std::string* bytes, size_t offset, T value) {
  REQUIRE(offset + sizeof(T) <= bytes->size());
  std::memcpy(&(*bytes)[offset], &value, sizeof(T));
}

TEST_CASE("malformed GGUF files give a status naming the file and the problem") {
  const std::string good = ReadBytes(SharedPath(kQ4_0.gguf));
  std::unique_ptr<GgufFile> parsed;
  REQUIRE(GgufFile::Open(SharedPath(kQ4_0.gguf), &parsed).ok());
  const size_t data_offset = parsed->data_offset();
  REQUIRE(ImportBytes(good).ok());

  SECTION("truncated anywhere") {
    std::vector<size_t> lengths = {0, 3, 4, 7, 8, 12, 16, 23, 24, 25, 40, 100, data_offset - 1, data_offset,
                                   data_offset + 1, good.size() / 2, good.size() - 1};
    for (size_t n = 200; n < data_offset; n += data_offset / 53) lengths.push_back(n);
    for (size_t n : lengths) {
      INFO("length " << n);
      const Status s = ImportBytes(good.substr(0, n));
      CHECK(!s.ok());
    }
    CHECK(ImportBytes(good.substr(0, 30)).message().find("impossible for the file size") != std::string::npos);
    const size_t in_dims = TensorInfoOffset(good, "blk.9.post_norm.weight") + 8 + 22 + 2;  // inside n_dims
    const std::string truncated = ImportBytes(good.substr(0, in_dims)).message();
    INFO(truncated);
    CHECK(truncated.find("truncated at byte") != std::string::npos);
    CHECK(ImportBytes(good.substr(0, good.size() - 1)).message().find("outside the file") != std::string::npos);
  }

  SECTION("flipped bytes in the header, metadata and tensor infos") {
    // Every outcome is allowed except a crash (a flipped token character still imports).
    int refused = 0;
    for (size_t at = 0; at < data_offset; at += 1 + at / 8) {
      std::string bad = good;
      bad[at] = static_cast<char>(bad[at] ^ 0xff);
      refused += !ImportBytes(bad).ok();
    }
    CHECK(refused > 0);
  }

  SECTION("specific corruptions") {
    std::string bad = good;
    Poke<uint32_t>(&bad, 4, 1);
    CHECK(ImportBytes(bad).message().find("GGUF version 1") != std::string::npos);
    bad = good;
    Poke<int64_t>(&bad, 8, int64_t{1} << 40);
    CHECK(ImportBytes(bad).message().find("tensor count") != std::string::npos);
    bad = good;
    Poke<int64_t>(&bad, 16, -1);
    CHECK(ImportBytes(bad).message().find("metadata count") != std::string::npos);
    bad = good;
    Poke<uint64_t>(&bad, 24, uint64_t{1} << 40);  // the first key's length
    CHECK(ImportBytes(bad).message().find("beyond the end of the file") != std::string::npos);
    bad = good;
    const size_t info = TensorInfoOffset(good, "blk.0.attn_q.weight") + 8 + 19;
    Poke<uint32_t>(&bad, info, 3);  // n_dims: reads the type as a dimension and so on
    CHECK(!ImportBytes(bad).ok());
    bad = good;
    Poke<int64_t>(&bad, info + 4 + 8, 1 << 20);  // ne[1]: data beyond the file
    CHECK(ImportBytes(bad).message().find("outside the file") != std::string::npos);
    bad = good;
    Poke<int64_t>(&bad, info + 4 + 8, int64_t{1} << 62);  // ne[1]: bytes would overflow
    CHECK(ImportBytes(bad).message().find("dimensions out of range") != std::string::npos);
    bad = good;
    Poke<int64_t>(&bad, info + 4, 129);  // ne[0] not a multiple of the block
    CHECK(ImportBytes(bad).message().find("not a multiple") != std::string::npos);
  }

  SECTION("an unknown or unsupported tensor type names the tensor and the type") {
    const size_t type_at = TensorInfoOffset(good, "blk.0.attn_q.weight") + 8 + 19 + 4 + 16;
    REQUIRE(good[type_at] == 2);  // Q4_0
    std::string bad = good;
    Poke<uint32_t>(&bad, type_at, 99);
    const std::string unknown = ImportBytes(bad).message();
    CHECK(unknown.find("blk.0.attn_q.weight") != std::string::npos);
    CHECK(unknown.find("unknown ggml type 99") != std::string::npos);
    Poke<uint32_t>(&bad, type_at, 3);  // Q4_1: parses, but edgelm does not keep it
    const std::string q4_1 = ImportBytes(bad).message();
    CHECK(q4_1.find("blk.0.attn_q.weight") != std::string::npos);
    CHECK(q4_1.find("Q4_1") != std::string::npos);
  }

  SECTION("wrong architecture, shape mismatch, missing tensor") {
    const std::string arch = "gemma4";
    std::string bad = good;
    const size_t at = bad.find("general.architecture");
    REQUIRE(at != std::string::npos);
    const size_t value = bad.find(arch, at);
    bad.replace(value, arch.size(), "gemma3");
    CHECK(ImportBytes(bad).message().find("general.architecture is 'gemma3'") != std::string::npos);

    bad = good;
    const size_t key = bad.find("gemma4.embedding_length_per_layer_input");
    REQUIRE(key != std::string::npos);
    Poke<uint32_t>(&bad, key + std::strlen("gemma4.embedding_length_per_layer_input") + 4, 16);  // P 32 -> 16
    CHECK(ImportBytes(bad).message().find("per_layer_token_embd.weight' has ggml shape {320, 2048}") != std::string::npos);

    bad = good;
    const size_t name = TensorInfoOffset(good, "blk.3.attn_v.weight") + 8;
    bad[name + 11] = 'x';  // blk.3.attn_x.weight
    const std::string missing = ImportBytes(bad).message();
    CHECK(missing.find("missing tensor 'blk.3.attn_v.weight'") != std::string::npos);
  }
}

}  // namespace
}  // namespace edgelm
