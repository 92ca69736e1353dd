// The .litertlm importer: Google's small LiteRT-LM test files parsed to the facts recorded in
// ../shared/fixtures/litertlm/expectations.json (and refused for conversion: none holds a Gemma 4 text
// model), brown-tiny's re-encoded mobile bundle converted with every code and scale kept exactly, and
// damaged bundles refused with a message instead of a crash, and the same bundle re-encoded in
// TFLite's other two weight layouts (offset/size in the model, external buffers in a TFLiteWeights
// section) converted to the same file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "common/npy.h"
#include "convert/importer.h"
#include "convert/litertlm_reader.h"
#include "convert/tflite_reader.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

using nlohmann::json;
using testing::SharedPath;
using testing::TempDir;

const std::string kFixtures = "fixtures/litertlm/";
const std::string kBrownTiny = "models/brown-tiny/published/brown-tiny-mobile.litertlm";
const std::string kBrownTinyConfig = "models/brown-tiny/float/config.json";

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// The facts a parsed TFLite model exposes, in the shape of expectations.json's entries.
void CheckTflite(const tflite::Model& model, const json& want) {
  const auto& root = model.root();
  CHECK(root.version() == want.at("version").get<uint32_t>());
  CHECK(root.buffers()->size() == want.at("buffers").get<uint32_t>());
  if (want.contains("description")) CHECK(root.description()->str() == want.at("description").get<std::string>());
  REQUIRE(root.signature_defs()->size() == want.at("signatures").size());
  for (size_t i = 0; i < want.at("signatures").size(); ++i) {
    const json& sig = want.at("signatures")[i];
    uint32_t sg = 99;
    REQUIRE(model.FindSubgraph(sig.at("key").get<std::string>(), &sg).ok());
    CHECK(sg == sig.at("subgraph_index").get<uint32_t>());
    std::map<std::string, uint32_t> inputs;
    for (const auto* m : *root.signature_defs()->Get(static_cast<uint32_t>(i))->inputs()) inputs[m->name()->str()] = m->tensor_index();
    CHECK(inputs == sig.at("inputs").get<std::map<std::string, uint32_t>>());
  }
  REQUIRE(model.num_subgraphs() >= want.at("subgraphs").size());
  for (const json& s : want.at("subgraphs")) {
    const auto& sg = model.subgraph(s.at("index").get<uint32_t>());
    INFO("subgraph " << s.at("name"));
    CHECK(sg.name()->str() == s.at("name").get<std::string>());
    CHECK(sg.tensors()->size() == s.at("tensors").get<uint32_t>());
    CHECK((sg.operators() ? sg.operators()->size() : 0) == s.at("operators").get<uint32_t>());
    std::map<std::string, int> histogram, types;
    if (sg.operators())
      for (const auto* op : *sg.operators()) ++histogram[tflite::BuiltinOpName(model.OpCode(*op))];
    for (const auto* t : *sg.tensors()) ++types[tflite::TensorTypeName(t->type())];
    if (s.contains("op_histogram")) CHECK(histogram == s.at("op_histogram").get<std::map<std::string, int>>());
    if (s.contains("tensor_types")) CHECK(types == s.at("tensor_types").get<std::map<std::string, int>>());
  }
}

Status ConvertBundle(const std::string& input, const std::string& output, const std::string& config = "") {
  ConvertOptions o;
  o.input = input;
  o.output = output;
  o.hf_config = config;
  return Convert(o, nullptr);
}

TEST_CASE("Google's LiteRT-LM test files parse to their recorded facts and are refused for conversion") {
  const json expectations = ReadJson(SharedPath(kFixtures + "expectations.json"));
  for (const json& file : expectations.at("files")) {
    const std::string path = SharedPath(kFixtures + file.at("path").get<std::string>());
    INFO(path);
    if (file.contains("container")) {
      const json& want = file.at("container");
      std::shared_ptr<const litertlm::Bundle> bundle;
      const Status opened = litertlm::Bundle::Open(path, &bundle);
      REQUIRE(opened.ok());
      CHECK(bundle->major_version() == want.at("version")[0].get<uint32_t>());
      CHECK(bundle->minor_version() == want.at("version")[1].get<uint32_t>());
      CHECK(bundle->patch_version() == want.at("version")[2].get<uint32_t>());
      CHECK(bundle->header_end() == want.at("header_end").get<uint64_t>());
      CHECK(bundle->file_size() == want.at("file_size").get<uint64_t>());
      REQUIRE(bundle->system_metadata().size() == want.at("system_metadata").size());
      for (size_t i = 0; i < bundle->system_metadata().size(); ++i) {
        CHECK(bundle->system_metadata()[i].key == want.at("system_metadata")[i].at("key").get<std::string>());
        CHECK(bundle->system_metadata()[i].type == want.at("system_metadata")[i].at("type").get<std::string>());
        CHECK(bundle->system_metadata()[i].value == want.at("system_metadata")[i].at("value").get<std::string>());
      }
      REQUIRE(bundle->sections().size() == want.at("sections").size());
      for (size_t i = 0; i < bundle->sections().size(); ++i) {
        const litertlm::Section& s = bundle->sections()[i];
        const json& w = want.at("sections")[i];
        CHECK(s.data_type == w.at("data_type").get<int>());
        CHECK(litertlm::SectionTypeName(s.data_type) == w.at("data_type_name").get<std::string>());
        CHECK(s.begin == w.at("begin").get<uint64_t>());
        CHECK(s.end == w.at("end").get<uint64_t>());
        CHECK(s.model_type == (w.at("model_type").is_null() ? "" : w.at("model_type").get<std::string>()));
        const json& payload = w.at("payload");
        if (s.is(litertlm::SectionType::kTFLiteModel)) {
          tflite::Model model;
          REQUIRE(tflite::Model::Open(path, {bundle->data(s), s.size()}, {}, &model).ok());
          CheckTflite(model, payload);
        } else if (s.is(litertlm::SectionType::kLlmMetadataProto)) {
          litertlm::LlmMetadata md;
          REQUIRE(litertlm::ParseLlmMetadata(bundle->bytes(s), &md).ok());
          const json& decoded = payload.at("decoded");
          CHECK(md.start_token.text == decoded.at("start_token").at("token_str").get<std::string>());
          REQUIRE(md.stop_tokens.size() == decoded.at("stop_tokens").size());
          for (size_t k = 0; k < md.stop_tokens.size(); ++k)
            CHECK(md.stop_tokens[k].text == decoded.at("stop_tokens")[k].at("token_str").get<std::string>());
        }
      }
      const Status converted = ConvertBundle(path, TempDir() + "/refused.edgelm");
      CHECK_FALSE(converted.ok());
      INFO(converted.message());
      CHECK(converted.message().find(path) != std::string::npos);
      CHECK((converted.message().find("Gemma 4") != std::string::npos));
    } else if (file.contains("tflite")) {
      const std::string bytes = ReadBytes(path);
      tflite::Model model;
      REQUIRE(tflite::Model::Open(path, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, {}, &model).ok());
      CheckTflite(model, file.at("tflite"));
      for (const json& fc : file.at("fully_connected")) {
        const auto& sg = model.subgraph(0);
        const auto* op = sg.operators()->Get(fc.at("op").get<uint32_t>());
        CHECK(model.OpCode(*op) == tflite::kOpFullyConnected);
        CHECK(std::vector<int>(op->inputs()->begin(), op->inputs()->end()) == fc.at("inputs").get<std::vector<int>>());
        const auto& weight = model.tensor(sg, op->inputs()->Get(1));
        CHECK(tflite::Model::Shape(weight) == fc.at("weight_shape").get<std::vector<int64_t>>());
        tflite::Bytes data;
        REQUIRE(model.Data(weight, &data).ok());
        CHECK(data.size == fc.at("weight_bytes").get<uint64_t>());
      }
      const Status converted = ConvertBundle(path, TempDir() + "/refused.edgelm");
      CHECK_FALSE(converted.ok());
    } else {
      litertlm::LlmMetadata md;
      REQUIRE(litertlm::ParseLlmMetadata(ReadBytes(path), &md).ok());
      CHECK(md.start_token.text == file.at("decoded").at("start_token").at("token_str").get<std::string>());
      CHECK(md.stop_tokens.size() == file.at("decoded").at("stop_tokens").size());
    }
  }
}

TEST_CASE("LlmMetadata: ids packed and unpacked, text tokens, max_num_tokens, model type") {
  // brown-tiny's section 0: start "<s>", stops {ids [1]} and "<turn|>", max 4096, gemma4 {}.
  const std::string hex = "0a0512033c733e12050a030a0101120912073c7475726e7c3e28802032024200";
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  litertlm::LlmMetadata md;
  REQUIRE(litertlm::ParseLlmMetadata(bytes, &md).ok());
  CHECK(md.start_token.text == "<s>");
  REQUIRE(md.stop_tokens.size() == 2);
  CHECK(md.stop_tokens[0].ids == std::vector<int>{1});
  CHECK(md.stop_tokens[1].text == "<turn|>");
  CHECK(md.max_num_tokens == 4096);
  CHECK(md.llm_model_type == litertlm::kLlmModelTypeGemma4);
  // The same stop ids unpacked (one varint field per id) and two of them packed.
  litertlm::LlmMetadata unpacked, packed;
  REQUIRE(litertlm::ParseLlmMetadata(std::string("\x12\x06\x0a\x04\x08\x01\x08\x6a", 8), &unpacked).ok());
  CHECK(unpacked.stop_tokens.at(0).ids == std::vector<int>{1, 106});
  REQUIRE(litertlm::ParseLlmMetadata(std::string("\x12\x05\x0a\x03\x0a\x01\x01", 7), &packed).ok());
  CHECK(packed.stop_tokens.at(0).ids == std::vector<int>{1});
  CHECK_FALSE(litertlm::ParseLlmMetadata(std::string("\x12\x09\x0a", 3), &md).ok());  // length past the end
}

TEST_CASE("TFLite packing: INT4 and INT2 codes keep their order when rows are repacked") {
  // §6.2: INT4 {0x12,0x34} = {2,1,4,3}; INT2 0x12 = crumbs {2,0,1,0}.
  const uint8_t int4[] = {0x12, 0x34};
  uint8_t rows[4] = {};
  tflite::CopyPackedRows(int4, 4, 3, 0, 1, rows);  // [1,3] from a flattened [4]: 2,1,4 -> row bytes 0x12 0x04
  CHECK(rows[0] == 0x12);
  CHECK((rows[1] & 0x0F) == 0x04);
  const uint8_t int2[] = {0x12, 0xFF};
  uint8_t out[2] = {};
  tflite::CopyPackedRows(int2, 2, 3, 1, 2, out);  // row 1 of [2,3] = flattened elements 3,4,5 = 0,3,3
  CHECK((out[0] & 0x3F) == (0u | 3u << 2 | 3u << 4));
}

// What the converted brown-tiny must hold: every FC's codes and scales as in the bundle.
struct Converted {
  Status status;
  std::string path;
};

const Converted& BrownTiny() {
  static const Converted converted = [] {
    Converted c;
    c.path = TempDir() + "/brown-tiny-published.edgelm";
    c.status = ConvertBundle(SharedPath(kBrownTiny), c.path, SharedPath(kBrownTinyConfig));
    return c;
  }();
  return converted;
}

std::string ManifestName(const std::string& canonical) {
  if (canonical == "lm_head") return "lm_head.weight";
  return canonical.substr(std::strlen("model.")) + ".weight";
}

TEST_CASE("brown-tiny's bundle converts with every code and scale of the bundle") {
  const Converted& c = BrownTiny();
  INFO(c.status.message());
  REQUIRE(c.status.ok());
  Status s;
  const auto file = testing::OpenFile(c.path, &s);
  REQUIRE(s.ok());
  const json want = ReadJson(SharedPath("models/brown-tiny/published/expectations.json"));

  // The bundle's own view of each FC weight, to compare codes byte for byte.
  std::shared_ptr<const litertlm::Bundle> bundle;
  REQUIRE(litertlm::Bundle::Open(SharedPath(kBrownTiny), &bundle).ok());
  const litertlm::Section* decode_section = nullptr;
  REQUIRE(bundle->Find(litertlm::SectionType::kTFLiteModel, "TF_LITE_PREFILL_DECODE", &decode_section).ok());
  REQUIRE(decode_section);
  tflite::Model decode;
  REQUIRE(tflite::Model::Open("decode", {bundle->data(*decode_section), decode_section->size()}, {}, &decode).ok());
  CheckTflite(decode, want.at("models").at("tf_lite_prefill_decode"));
  const auto& sg = decode.subgraph(0);

  REQUIRE(want.at("decode_fully_connected").size() == 66);
  for (const json& fc : want.at("decode_fully_connected")) {
    const std::string name = ManifestName(fc.at("canonical").get<std::string>());
    INFO(name);
    const TensorView* t = file->FindTensor(name);
    REQUIRE(t);
    const std::string dtype = fc.at("dtype").get<std::string>();
    CHECK(t->dtype == (dtype == "INT8" ? DType::I8 : dtype == "INT4" ? DType::I4 : DType::I2));
    CHECK(t->shape == fc.at("shape").get<std::vector<int64_t>>());
    CHECK(t->scales[0] == fc.at("weight_scale_first").get<float>());
    if (fc.at("input_scale").is_null()) {
      CHECK(t->activation == ActivationQuant::DynamicInt8Asymmetric);  // asymmetric_quantize_inputs is set
      CHECK(t->output_scale == 0.0f);
    } else {
      CHECK(t->activation == ActivationQuant::StaticInt8Full);
      CHECK(t->input_scale == fc.at("input_scale").get<float>());
      CHECK(t->output_scale == fc.at("output_scale").get<float>());
    }
    const auto& weight = decode.tensor(sg, fc.at("weight_tensor").get<int>());
    CHECK(tflite::Model::Name(weight) == fc.at("weight_name").get<std::string>());
    tflite::Bytes codes;
    REQUIRE(decode.Data(weight, &codes).ok());
    REQUIRE(t->size == codes.size);  // rows are byte aligned here: the bytes are TFLite's
    CHECK(std::memcmp(t->data, codes.data, codes.size) == 0);
    std::vector<float> scales;
    REQUIRE(decode.PerRowScales(weight, &scales).ok());
    CHECK(std::memcmp(t->scales, scales.data(), scales.size() * sizeof(float)) == 0);
  }

  const ModelConfig& config = file->config();
  REQUIRE(config.num_layers() == 8);
  CHECK_FALSE(config.tie_word_embeddings);
  CHECK(config.final_logit_softcap == want.at("softcap").at("cap").get<float>());
  CHECK(config.final_logit_softcap_reciprocal == want.at("softcap").at("reciprocal").get<float>());
  CHECK(config.ple_projection_scale == 1.0f);
  CHECK(config.embed_scale == 16.0f);
  CHECK(config.hidden_size == 256);
  CHECK(config.vocab_size == 4096);
  CHECK(config.ple_dim == 64);
  for (int i = 0; i < 8; ++i) {
    INFO("layer " << i);
    const LayerConfig& l = config.layers[i];
    CHECK(l.kv_source == want.at("kv_sharing").at(std::to_string(i)).get<int>());
    CHECK(l.head_dim == (i % 4 == 3 ? 128 : 64));
    CHECK(l.attention == (i % 4 == 3 ? AttentionType::Full : AttentionType::Sliding));
    CHECK(l.sliding_window == (i % 4 == 3 ? 0 : 128));  // from config.json: the graph's masks are inputs
    CHECK(l.kv_int8_full_range);
    if (l.kv_source == i) {
      const json& kv = want.at("kv_scales").at(std::to_string(i));
      CHECK(l.kv_k_scale == kv.at("key_scale").get<float>());
      CHECK(l.kv_v_scale == kv.at("value_scale").get<float>());
    }
    const TensorView* scalar = file->FindTensor("layers." + std::to_string(i) + ".layer_scalar");
    REQUIRE(scalar);
    CHECK(reinterpret_cast<const float*>(scalar->data)[0] == want.at("layer_scalars").at(std::to_string(i)).get<float>());
  }
  for (const json& norm : want.at("norms")) CHECK(file->FindTensor(norm.get<std::string>().substr(6)));

  CHECK(testing::LoadModel(c.path, &s) != nullptr);
  CHECK(s.ok());

  // The tables: token table INT4 gathered without activation quantization, PLE [vocab, 8·64] with
  // one scale per token and layer.
  const TensorView* embed = file->FindTensor("embed_tokens.weight");
  REQUIRE(embed);
  CHECK(embed->dtype == DType::I4);
  CHECK(embed->activation == ActivationQuant::None);
  const TensorView* ple = file->FindTensor("embed_tokens_per_layer.weight");
  REQUIRE(ple);
  CHECK(ple->shape == std::vector<int64_t>{4096, 512});
  CHECK(ple->scale_group_size == 64);

  const TokenizerData* tok = file->tokenizer();
  REQUIRE(tok);
  CHECK(tok->bos_id == 2);
  CHECK(tok->stop_ids == std::vector<int>{1, 5});
  CHECK(tok->chat_template == "gemma4");
  CHECK(file->metadata().provenance()->source_format()->str() == "litertlm");
  // The SHA-256 of the converted file, to match against the publisher's (the fixture's README).
  CHECK(file->metadata().provenance()->source_sha256()->str() ==
        "99f9b8285ea13ca0b6b4c235ef85ef7172d182101fab31b66c233d0444da8eae");
}

// The imported bundle run through the runtime against brown-tiny's float64 reference of the published
// arithmetic (static int8 inputs in [-128,127], int8 outputs, static int8 KV, asymmetric int8 head).
// The requantizations make it discontinuous: float32 noise alone flips 1/64 argmaxes at seq64 (the
// reference's own float32 run, README §4), while each semantic error costs >= 0.05 mean |Δ|.
testing::LogitComparison RunAndCompare(const LoadedModel& model, const std::vector<int>& ids, const std::vector<float>& ref) {
  SessionOptions so;
  so.context_length = 512;
  so.prefill_chunk = 128;
  so.kv_type = KvType::kInt8;  // the bundle's static KV scales
  std::unique_ptr<Session> session;
  REQUIRE(Session::Create(model.model(), nullptr, nullptr, so, &session).ok());
  REQUIRE(session->AppendTokens(ids.data(), ids.size()).ok());
  std::vector<float> logits;
  REQUIRE(testing::EvaluateAll(*session, model.config().vocab_size, &logits).ok());
  REQUIRE(logits.size() == ref.size());
  return testing::CompareLogits(logits, ref, static_cast<size_t>(model.config().vocab_size));
}

TEST_CASE("brown-tiny's bundle runs the published arithmetic: logits of the float64 reference") {
  const Converted& c = BrownTiny();
  REQUIRE(c.status.ok());
  Status s;
  std::unique_ptr<LoadedModel> model = testing::LoadModel(c.path, &s);
  INFO(s.message());
  REQUIRE(s.ok());
  const std::string ref = SharedPath("models/brown-tiny/published/reference/");
  for (const char* seq : {"8", "64", "256"}) {
    NpyArray ids, logits;
    REQUIRE(ReadNpy(ref + "ids_seq" + seq + ".npy", &ids).ok());
    REQUIRE(ReadNpy(ref + "logits_seq" + seq + ".npy", &logits).ok());
    const testing::LogitComparison m =
        RunAndCompare(*model, std::vector<int>(ids.ints.begin(), ids.ints.end()), logits.floats);
    INFO("seq" << seq << ": mean |Δ| " << m.mean_abs << ", argmax " << m.argmax_agree << "/" << m.rows);
    if (m.rows <= 64) {
      CHECK(m.mean_abs <= 0.02);
      CHECK(m.argmax_agree + 2 >= m.rows);
    } else {  // statistical: the requantization flips compound over positions
      CHECK(m.mean_abs <= 0.1);
      CHECK(m.argmax_agree >= m.rows * 95 / 100);
    }
  }

}

TEST_CASE("brown-tiny's bundle runs the published arithmetic: perplexity of the float64 reference") {
  const Converted& c = BrownTiny();
  REQUIRE(c.status.ok());
  Status s;
  std::unique_ptr<LoadedModel> model = testing::LoadModel(c.path, &s);
  REQUIRE(s.ok());
  const std::string ref = SharedPath("models/brown-tiny/published/reference/");
  // Perplexity over the reference's 40 windows: [bos] + stream[256w, 256w+255] predicts stream[256w, 256w+256).
  NpyArray stream;
  REQUIRE(ReadNpy(ref + "ppl_tokens.npy", &stream).ok());
  SessionOptions so;
  so.context_length = 256;
  so.prefill_chunk = 256;
  so.kv_type = KvType::kInt8;
  const size_t vocab = static_cast<size_t>(model->config().vocab_size), window = 256;
  double nll = 0;
  size_t count = 0;
  for (size_t w = 0; (w + 1) * window <= stream.ints.size(); ++w) {
    std::vector<int> input = {model->tokenizer()->bos_id()};
    for (size_t i = 0; i + 1 < window; ++i) input.push_back(static_cast<int>(stream.ints[w * window + i]));
    std::unique_ptr<Session> session;
    REQUIRE(Session::Create(model->model(), nullptr, nullptr, so, &session).ok());
    REQUIRE(session->AppendTokens(input.data(), input.size()).ok());
    std::vector<float> logits;
    REQUIRE(testing::EvaluateAll(*session, model->config().vocab_size, &logits).ok());
    for (size_t r = 0; r < window; ++r) {
      const float* row = logits.data() + r * vocab;
      const float top = *std::max_element(row, row + vocab);
      double sum = 0;
      for (size_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - top);
      nll += std::log(sum) + top - row[stream.ints[w * window + r]];
      ++count;
    }
  }
  const double ppl = std::exp(nll / static_cast<double>(count));
  INFO("perplexity " << ppl << " over " << count << " tokens; reference 63.248");
  CHECK(count == 10240);
  CHECK(std::fabs(ppl / 63.248 - 1.0) <= 0.005);
}

TEST_CASE("brown-tiny's bundle loads and converts without config.json (Gemma 4 defaults)") {
  ImportedModel model;
  const Status s = ImportLitertlm(SharedPath(kBrownTiny), ImportOptions{}, &model);
  INFO(s.message());
  REQUIRE(s.ok());
  CHECK(model.meta.config.layers[0].sliding_window == 512);
  CHECK(model.meta.config.layers[3].rope.theta == 1e6);
  CHECK(model.meta.config.max_position_embeddings == 4096);  // LlmMetadata max_num_tokens
}

TEST_CASE("config.json facts that contradict the bundle are refused, naming the field") {
  json config = ReadJson(SharedPath(kBrownTinyConfig));
  config["intermediate_size"] = 768;
  const std::string path = WriteTemp("wrong_config.json", config.dump());
  ImportedModel model;
  ImportOptions options;
  options.hf_config = path;
  const Status s = ImportLitertlm(SharedPath(kBrownTiny), options, &model);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("intermediate_size") != std::string::npos);
}

// Damaged copies of brown-tiny's bundle: every one is refused with a message, none crashes.
Status ImportBytes(const std::string& name, const std::string& bytes) {
  ImportedModel model;
  return ImportLitertlm(WriteTemp(name, bytes), ImportOptions{}, &model);
}

TEST_CASE("truncated, corrupted and unusual bundles") {
  const std::string good = ReadBytes(SharedPath(kBrownTiny));
  REQUIRE(good.size() == 7561712);

  SECTION("truncated at several lengths") {
    for (size_t length : {size_t{0}, size_t{7}, size_t{31}, size_t{100}, size_t{840}, size_t{20000}, size_t{98304 + 100},
                          size_t{2146304 + 5000}, good.size() - 1}) {
      INFO("length " << length);
      const Status s = ImportBytes("truncated.litertlm", good.substr(0, length));
      CHECK_FALSE(s.ok());
      CHECK_FALSE(s.message().empty());
    }
  }
  SECTION("flipped bytes in the header") {
    for (size_t at : {size_t{0}, size_t{8}, size_t{24}, size_t{32}, size_t{36}, size_t{100}, size_t{400}, size_t{700}}) {
      std::string bad = good;
      bad[at] = static_cast<char>(bad[at] ^ 0xFF);
      INFO("byte " << at);
      const Status s = ImportBytes("flipped.litertlm", bad);
      if (!s.ok()) CHECK_FALSE(s.message().empty());  // some flips hit padding or names and are harmless
    }
    std::string bad_magic = good;
    bad_magic[3] = 'X';
    CHECK_FALSE(ImportBytes("magic.litertlm", bad_magic).ok());
    std::string bad_major = good;
    bad_major[8] = 2;
    const Status major = ImportBytes("major.litertlm", bad_major);
    CHECK(major.code() == StatusCode::kUnsupported);
  }
  SECTION("flipped bytes in the decoder section: refused or imported, never a crash") {
    for (size_t offset : {size_t{0}, size_t{4}, size_t{16}, size_t{64}, size_t{1000}, size_t{5000}, size_t{20000}}) {
      std::string bad = good;
      const size_t at = 2146304 + offset;
      bad[at] = static_cast<char>(bad[at] ^ 0x5A);
      INFO("section byte " << offset);
      const Status s = ImportBytes("flipped_section.litertlm", bad);
      if (!s.ok()) CHECK_FALSE(s.message().empty());
    }
  }
}

// Writes a header FlatBuffer by hand-editing the good one is fragile; instead patch a section's
// fields in place: the data_type byte and end offset have fixed positions we can find by value.
size_t FindU64(const std::string& bytes, uint64_t value, size_t from, size_t to) {
  for (size_t i = from; i + 8 <= to; ++i) {
    uint64_t v;
    std::memcpy(&v, bytes.data() + i, 8);
    if (v == value) return i;
  }
  return std::string::npos;
}

TEST_CASE("an unknown section type is skipped; a section past the end of the file is refused") {
  const std::string good = ReadBytes(SharedPath(kBrownTiny));
  std::shared_ptr<const litertlm::Bundle> bundle;
  REQUIRE(litertlm::Bundle::Open(SharedPath(kBrownTiny), &bundle).ok());
  const size_t header_end = bundle->header_end();

  SECTION("section past EOF") {
    const size_t at = FindU64(good, 7561712, 32, header_end);  // the last section's end offset
    REQUIRE(at != std::string::npos);
    std::string bad = good;
    const uint64_t past = 7561712 + 4096;
    std::memcpy(&bad[at], &past, 8);
    const Status s = ImportBytes("past_eof.litertlm", bad);
    REQUIRE_FALSE(s.ok());
    CHECK(s.message().find("past the end of the file") != std::string::npos);
  }
  SECTION("unknown data type on the LlmMetadata section") {
    // The LlmMetadata section [16384, 16416): its SectionObject holds begin 16384 then end 16416 and,
    // after the offsets, the data_type byte 5. Retype it as 200, a value from the future.
    const size_t begin_at = FindU64(good, 16384, 32, header_end);
    REQUIRE(begin_at != std::string::npos);
    size_t type_at = std::string::npos;
    for (size_t i = 32; i < header_end; ++i)
      if (good[i] == 5 && (i < begin_at || i >= begin_at + 16)) {
        // The data_type field of that object: verify by parsing after the patch.
        std::string patched = good;
        patched[i] = static_cast<char>(200);
        std::shared_ptr<const litertlm::Bundle> b;
        const std::string path = WriteTemp("retyped.litertlm", patched);
        if (litertlm::Bundle::Open(path, &b).ok() && b->sections()[0].data_type == 200) {
          type_at = i;
          break;
        }
      }
    REQUIRE(type_at != std::string::npos);
    std::shared_ptr<const litertlm::Bundle> b;
    REQUIRE(litertlm::Bundle::Open(TempDir() + "/retyped.litertlm", &b).ok());
    CHECK(std::string(litertlm::SectionTypeName(b->sections()[0].data_type)) == "unknown");
    ImportedModel model;
    const Status s = ImportLitertlm(TempDir() + "/retyped.litertlm", ImportOptions{}, &model);
    INFO(s.message());
    CHECK(s.ok());  // skipped: the start and stop tokens then come from the tokenizer itself
  }
}

// --- brown-tiny's bundle re-encoded in TFLite's other two weight layouts (format doc §2.3) ---------
// The fixture holds every weight inline (Buffer.data). The re-encoding goes through the object API of
// the importer's schema subset, so fields outside the subset are dropped: the importer never reads
// them, and the conversions below must still come out identical.

namespace hdr = litertlm_subset::header;
namespace tfl = litertlm_subset::tflite;

enum class Layout {
  kModelOffset,     // Buffer.offset/size, relative to the model's first byte (the ">2 GB" layout)
  kExternalBuffer,  // Tensor.external_buffer -> Model.external_buffers -> a TFLiteWeights section
};

// Done to the location of one tensor's bytes.
enum class Damage {
  kNone,
  kPastEnd,       // the range ends one byte past its section
  kWrapping,      // offset + size wraps around 2^64
  kMissingGroup,  // the external buffer names a group that is not listed
};

constexpr uint64_t kSectionBlock = 16 * 1024;  // sections start at multiples of this (§1.3)
constexpr uint64_t kHeaderBegin = 32;

uint64_t RoundUp(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

template <typename T>
std::string Pack(const T& object, const char* identifier) {
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(T::TableType::Pack(fbb, &object), identifier);
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// Packs `object` to be stored at `start` with data after it at the next multiple of `align`, whose
// offsets `place(data_begin)` writes into the object. FlatBuffers omits only scalars equal to their
// default (0), and nonzero offsets take the same bytes whatever their value: a first pack with a
// stand-in begin measures the size, a second writes the real offsets.
template <typename T>
std::string PackBefore(T* object, uint64_t start, uint64_t align, const std::function<void(uint64_t)>& place,
                       const char* identifier) {
  place(align);
  const size_t measured = Pack(*object, identifier).size();
  place(RoundUp(start + measured, align));
  std::string bytes = Pack(*object, identifier);
  REQUIRE(bytes.size() == measured);
  return bytes;
}

// Where a buffer's bytes went in the blob that MoveDataOut builds; size 0 for buffers without data.
struct Span {
  uint64_t offset = 0, size = 0;
};

// Empties every Buffer.data of `model` into `blob`, each 16-byte aligned as TFLite aligns inline data.
std::vector<Span> MoveDataOut(tfl::ModelT* model, std::string* blob) {
  std::vector<Span> spans(model->buffers.size());
  for (size_t i = 0; i < spans.size(); ++i) {
    std::vector<uint8_t>& data = model->buffers[i]->data;
    if (data.empty()) continue;
    blob->resize(RoundUp(blob->size(), 16));
    spans[i] = {blob->size(), data.size()};
    blob->append(data.begin(), data.end());
    data = {};
  }
  return spans;
}

// The buffer index of the tensor named `name`, or -1 if `model` has no such tensor.
int64_t BufferOf(const tfl::ModelT& model, const std::string& name) {
  for (const auto& sg : model.subgraphs)
    for (const auto& t : sg->tensors)
      if (t->name == name) return t->buffer;
  return -1;
}

// Puts the range [offset, offset + size) of a damaged tensor where `damage` says, in a region of
// `region` bytes. kMissingGroup leaves the range alone.
void DamageRange(Damage damage, uint64_t region, uint64_t size, uint64_t* offset) {
  if (damage == Damage::kPastEnd) *offset = region - size + 1;
  if (damage == Damage::kWrapping) *offset = ~uint64_t{0} - size + 2;
}

// The model section's payload in layout 2: the FlatBuffer, then its buffers' bytes.
std::string WithModelOffsets(tfl::ModelT* model, Damage damage, int64_t damaged_buffer) {
  std::string blob;
  const std::vector<Span> spans = MoveDataOut(model, &blob);
  std::string payload = PackBefore(model, 0, 16, [&](uint64_t data_begin) {
    for (size_t i = 0; i < spans.size(); ++i) {
      if (spans[i].size == 0) continue;
      tfl::BufferT& b = *model->buffers[i];
      b.offset = data_begin + spans[i].offset;  // always > 1, the reader's rule for this layout
      b.size = spans[i].size;
      if (static_cast<int64_t>(i) == damaged_buffer) DamageRange(damage, data_begin + blob.size(), b.size, &b.offset);
    }
  }, tfl::ModelIdentifier());
  payload.resize(RoundUp(payload.size(), 16));
  return payload + blob;
}

// The model section's payload in layout 3; its buffers' bytes go to `weights`, the TFLiteWeights
// section. Buffers keep their (now empty) entries, so tensors keep their buffer indices.
std::string WithExternalBuffers(tfl::ModelT* model, Damage damage, int64_t damaged_buffer, std::string* weights) {
  const std::vector<Span> spans = MoveDataOut(model, weights);
  model->external_buffer_groups.push_back(std::make_unique<tfl::ExternalBufferGroupT>());
  model->external_buffer_groups.back()->name = "tflite_weights";
  std::map<uint32_t, uint32_t> id_of_buffer;  // tensors sharing a buffer share its external buffer
  for (const auto& sg : model->subgraphs)
    for (const auto& t : sg->tensors) {
      if (t->buffer >= spans.size() || spans[t->buffer].size == 0) continue;
      auto [it, added] = id_of_buffer.emplace(t->buffer, static_cast<uint32_t>(model->external_buffers.size() + 1));
      if (added) {
        auto e = std::make_unique<tfl::ExternalBufferT>();
        e->id = it->second;  // ids start at 1: 0 means none
        e->offset = spans[t->buffer].offset;
        e->length = spans[t->buffer].size;
        if (t->buffer == damaged_buffer) {
          DamageRange(damage, weights->size(), e->length, &e->offset);
          if (damage == Damage::kMissingGroup) e->group = 1;
        }
        model->external_buffers.push_back(std::move(e));
      }
      t->external_buffer = it->second;
    }
  return Pack(*model, tfl::ModelIdentifier());
}

// The container around `payloads` (one per header section): the original preamble's magic and
// version, the header FlatBuffer at byte 32, sections at multiples of 16 KiB.
std::string Container(const std::string& original, hdr::LiteRTLMMetaDataT* header, const std::vector<std::string>& payloads) {
  auto& objects = header->section_metadata->objects;
  const std::string packed = PackBefore(header, kHeaderBegin, kSectionBlock, [&](uint64_t first) {
    for (size_t i = 0; i < objects.size(); ++i) {
      objects[i]->begin_offset = i == 0 ? first : RoundUp(objects[i - 1]->end_offset, kSectionBlock);
      objects[i]->end_offset = objects[i]->begin_offset + payloads[i].size();
    }
  }, nullptr);
  std::string out = original.substr(0, 24);  // magic, version, padding
  const uint64_t header_end = kHeaderBegin + packed.size();
  out.append(reinterpret_cast<const char*>(&header_end), 8);
  out += packed;
  for (size_t i = 0; i < objects.size(); ++i) {
    out.resize(objects[i]->begin_offset);
    out += payloads[i];
  }
  return out;
}

// brown-tiny's bundle with every TFLite weight moved to `layout`, and `damage` done to the location
// of the tensor named `damaged`.
std::string Relayout(Layout layout, Damage damage = Damage::kNone, const std::string& damaged = "") {
  const std::string original = ReadBytes(SharedPath(kBrownTiny));
  std::unique_ptr<hdr::LiteRTLMMetaDataT> header(
      flatbuffers::GetRoot<hdr::LiteRTLMMetaData>(original.data() + kHeaderBegin)->UnPack());
  std::vector<std::unique_ptr<hdr::SectionObjectT>> objects;
  std::vector<std::string> payloads;
  for (auto& object : header->section_metadata->objects) {
    std::string payload = original.substr(object->begin_offset, object->end_offset - object->begin_offset);
    std::unique_ptr<hdr::SectionObjectT> weights_object;
    std::string weights;
    if (object->data_type == static_cast<uint8_t>(litertlm::SectionType::kTFLiteModel)) {
      std::unique_ptr<tfl::ModelT> model(tfl::GetModel(payload.data())->UnPack());
      const int64_t damaged_buffer = damage == Damage::kNone ? -1 : BufferOf(*model, damaged);
      if (layout == Layout::kModelOffset) {
        payload = WithModelOffsets(model.get(), damage, damaged_buffer);
      } else {
        payload = WithExternalBuffers(model.get(), damage, damaged_buffer, &weights);
        // The copied items (model_type) tie the weights to this model.
        weights_object = std::make_unique<hdr::SectionObjectT>(*object);
        weights_object->data_type = static_cast<uint8_t>(litertlm::SectionType::kTFLiteWeights);
      }
    }
    objects.push_back(std::move(object));
    payloads.push_back(std::move(payload));
    if (weights_object) {
      objects.push_back(std::move(weights_object));
      payloads.push_back(std::move(weights));
    }
  }
  header->section_metadata->objects = std::move(objects);
  return Container(original, header.get(), payloads);
}

// The metadata without the provenance fields that name the source file.
std::string MetadataWithoutSource(const ModelFile& file) {
  std::unique_ptr<schema::ModelT> m(file.metadata().UnPack());
  REQUIRE(m->provenance);
  m->provenance->source.clear();
  m->provenance->source_sha256.clear();
  m->provenance->created_utc.clear();
  return Pack(*m, nullptr);
}

// Every tensor's bytes and scales, and all other metadata, equal apart from the source's name and hash.
void CheckSameConversion(const std::string& want_path, const std::string& got_path) {
  Status s;
  const auto want = testing::OpenFile(want_path, &s);
  REQUIRE(s.ok());
  const auto got = testing::OpenFile(got_path, &s);
  REQUIRE(s.ok());
  CHECK(got->header().data_size == want->header().data_size);
  REQUIRE(got->tensors().size() == want->tensors().size());
  for (const TensorView& w : want->tensors()) {
    INFO(w.name);
    const TensorView* g = got->FindTensor(w.name);
    REQUIRE(g);
    REQUIRE(g->size == w.size);
    CHECK(std::memcmp(g->data, w.data, w.size) == 0);
    REQUIRE((g->scales == nullptr) == (w.scales == nullptr));
    if (w.scales) CHECK(std::memcmp(g->scales, w.scales, sizeof(float) * w.rows() * w.scales_per_row()) == 0);
  }
  CHECK(MetadataWithoutSource(*got) == MetadataWithoutSource(*want));
  CHECK(got->metadata().provenance()->source_sha256()->str() != want->metadata().provenance()->source_sha256()->str());
}

TEST_CASE("brown-tiny's bundle with its weights at Buffer offsets or in a TFLiteWeights section converts to the same file") {
  const Converted& inline_weights = BrownTiny();
  REQUIRE(inline_weights.status.ok());
  for (const Layout layout : {Layout::kModelOffset, Layout::kExternalBuffer}) {
    const bool external = layout == Layout::kExternalBuffer;
    INFO((external ? "external buffers" : "buffer offsets"));
    const std::string bundle = WriteTemp(external ? "external.litertlm" : "offsets.litertlm", Relayout(layout));

    // The re-encoding really moved the weights: no Buffer.data left anywhere.
    std::shared_ptr<const litertlm::Bundle> b;
    REQUIRE(litertlm::Bundle::Open(bundle, &b).ok());
    CHECK(b->sections().size() == (external ? 8u : 5u));
    for (const litertlm::Section& section : b->sections()) {
      CHECK(section.begin % kSectionBlock == 0);
      if (!section.is(litertlm::SectionType::kTFLiteModel)) continue;
      const tfl::Model* model = tfl::GetModel(b->data(section));
      for (const tfl::Buffer* buffer : *model->buffers()) CHECK((!buffer->data() || buffer->data()->size() == 0));
      CHECK((model->external_buffers() != nullptr) == external);
    }

    const std::string out = TempDir() + (external ? "/external.edgelm" : "/offsets.edgelm");
    const Status s = ConvertBundle(bundle, out, SharedPath(kBrownTinyConfig));
    INFO(s.message());
    REQUIRE(s.ok());
    CheckSameConversion(inline_weights.path, out);
  }
}

TEST_CASE("a weight located outside its section or in a missing group is refused, naming the tensor") {
  // An FC weight of the decoder, the embedder's token table and a layer scalar: the importer reads
  // each by a different path.
  const std::pair<const char*, const char*> tensors[] = {
      {"tf_lite_prefill_decode", "transformer/per_layer_model_projection/w"},
      {"tf_lite_embedder", "transformer/embedder/input_embedding"},
      {"tf_lite_prefill_decode", "transformer/layer_2/skip_scale"},
  };
  const std::tuple<const char*, Layout, Damage, const char*> cases[] = {
      {"offset one byte past the model", Layout::kModelOffset, Damage::kPastEnd, "outside"},
      {"offset + size wrapping", Layout::kModelOffset, Damage::kWrapping, "outside"},
      {"external one byte past the weights", Layout::kExternalBuffer, Damage::kPastEnd, "outside"},
      {"external offset + length wrapping", Layout::kExternalBuffer, Damage::kWrapping, "outside"},
      {"external in a missing group", Layout::kExternalBuffer, Damage::kMissingGroup, "missing group"},
  };
  for (const auto& [model_type, tensor] : tensors)
    for (const auto& [name, layout, damage, what] : cases) {
      INFO(model_type << " '" << tensor << "': " << name);
      const Status s = ImportBytes("damaged_layout.litertlm", Relayout(layout, damage, tensor));
      INFO(s.message());
      CHECK(s.code() == StatusCode::kCorruptModel);
      CHECK(s.message().find(model_type) != std::string::npos);
      CHECK(s.message().find(std::string("'") + tensor + "'") != std::string::npos);
      CHECK(s.message().find(what) != std::string::npos);
    }
}

}  // namespace
}  // namespace edgelm
