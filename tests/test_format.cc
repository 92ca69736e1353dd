// The .edgelm container and converter: exact round trips of float, bf16 and QAT tensors, and clear
// errors (never crashes) for corrupt, truncated or hostile files.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include "convert/safetensors.h"
#include "format/container.h"
#include "format/packed_weights_file.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

using testing::ReadFileBytes;
using testing::SharedPath;
using testing::WriteFileBytes;

std::string ConvertOrFail(const std::string& input, const std::string& format) {
  Status s;
  const std::string path = testing::Converted(input, format, &s);
  INFO(s.message());
  REQUIRE(s.ok());
  return path;
}

std::unique_ptr<ModelFile> Open(const std::string& path, Status* s) {
  std::unique_ptr<ModelFile> f;
  *s = ModelFile::Open(path, &f);
  return f;
}

// Loads `path` and, if that works, binds the Gemma 4 graph: the status of the whole load.
Status LoadStatus(const std::string& path) {
  Status s;
  testing::LoadModel(path, &s);
  return s;
}

TEST_CASE("f32 and bf16 conversion round-trips every tensor exactly") {
  std::unique_ptr<SafetensorsCheckpoint> ck;
  REQUIRE(SafetensorsCheckpoint::Open(SharedPath("fixtures/gemma4-tiny-e2b"), &ck).ok());
  for (const char* format : {"f32", "bf16"}) {
    Status s;
    auto file = Open(ConvertOrFail(SharedPath("fixtures/gemma4-tiny-e2b"), format), &s);
    REQUIRE(s.ok());
    CHECK(file->tensors().size() == 160);  // every fixture tensor, none invented
    size_t mismatches = 0;
    for (const TensorView& t : file->tensors()) {
      const StTensor* src = ck->Find("model." + t.name);
      REQUIRE(src != nullptr);
      REQUIRE(src->numel() == t.numel());
      std::vector<float> row(static_cast<size_t>(t.cols()));
      for (int64_t r = 0; r < t.rows(); ++r) {
        DequantizeRow(t, r, row.data());
        for (int64_t c = 0; c < t.cols(); ++c) {
          const float want = src->Get(r * t.cols() + c);
          const float expect = t.dtype == DType::BF16 ? BF16ToFloat(FloatToBF16(want)) : want;
          mismatches += std::memcmp(&row[c], &expect, 4) != 0;
        }
      }
    }
    INFO(format);
    CHECK(mismatches == 0);
  }
}

TEST_CASE("QAT checkpoints keep their codes, scales and static input scales bit-exact") {
  for (const char* recipe : {"qat-mobile", "qat-q4_0"}) {
    const std::string dir = SharedPath(std::string("models/brown-tiny/") + recipe);
    std::unique_ptr<SafetensorsCheckpoint> ck;
    REQUIRE(SafetensorsCheckpoint::Open(dir, &ck).ok());
    Status s;
    auto file = Open(ConvertOrFail(dir, "bf16"), &s);  // the format is ignored: QAT input keeps its recipe
    REQUIRE(s.ok());
    size_t checked = 0, mismatches = 0;
    for (const TensorView& t : file->tensors()) {
      std::string base = "model." + t.name;
      if (base.size() > 7 && base.compare(base.size() - 7, 7, ".weight") == 0) base.resize(base.size() - 7);
      const StTensor* q = ck->Find(base + ".qweight");
      if (!q) continue;
      const StTensor* scale = ck->Find(base + ".scale");
      REQUIRE(scale != nullptr);
      const int64_t cols = t.cols(), blocks = cols / 32;
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < t.rows(); ++r) {
        DequantizeRow(t, r, row.data());
        for (int64_t c = 0; c < cols; ++c) {
          const float sc = t.dtype == DType::Q4_0 ? scale->Get(r * blocks + c / 32) : scale->Get(r);
          const float want = q->Get(r * cols + c) * sc;
          mismatches += row[c] != want;
        }
      }
      if (const StTensor* in = ck->Find(base + ".input_scale")) {
        CHECK(t.activation == ActivationQuant::StaticInt8);
        CHECK(t.input_scale == in->Get(0));
      }
      ++checked;
    }
    INFO(recipe);
    CHECK(checked > 60);
    CHECK(mismatches == 0);
  }
}

// Q4_0 maps the block's extreme to code -8, so the opposite extreme can clip at +7: one step at most.
TEST_CASE("q4_0 conversion from float stays within one quantization step") {
  std::unique_ptr<SafetensorsCheckpoint> ck;
  REQUIRE(SafetensorsCheckpoint::Open(SharedPath("fixtures/gemma4-tiny-e2b"), &ck).ok());
  Status s;
  auto file = Open(ConvertOrFail(SharedPath("fixtures/gemma4-tiny-e2b"), "q4_0"), &s);
  REQUIRE(s.ok());
  const TensorView* t = file->FindTensor("layers.0.mlp.up_proj.weight");
  REQUIRE(t != nullptr);
  REQUIRE(t->dtype == DType::Q4_0);
  const StTensor* src = ck->Find("model.layers.0.mlp.up_proj.weight");
  std::vector<float> row(static_cast<size_t>(t->cols()));
  for (int64_t r = 0; r < t->rows(); ++r) {
    DequantizeRow(*t, r, row.data());
    for (int64_t b = 0; b < t->cols() / 32; ++b) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(src->Get(r * t->cols() + b * 32 + j)));
      const float step = amax / 8.0f;
      for (int j = 0; j < 32; ++j)
        REQUIRE(std::fabs(row[b * 32 + j] - src->Get(r * t->cols() + b * 32 + j)) <= step * 1.01f + 1e-7f);
    }
  }
}

TEST_CASE("unusable paths give clear errors") {
  CHECK(LoadStatus("/nonexistent/model.edgelm").code() == StatusCode::kNotFound);
  CHECK(LoadStatus(testing::TempDir()).code() == StatusCode::kInvalidArgument);  // a directory
  const std::string empty = testing::TempDir() + "/empty.edgelm";
  WriteFileBytes(empty, {});
  const Status e = LoadStatus(empty);
  CHECK(e.code() == StatusCode::kCorruptModel);
  CHECK(e.message().find("empty.edgelm") != std::string::npos);  // the message names the file
  const Status j = LoadStatus(SharedPath("fixtures/gemma4-tiny-e2b/config.json"));
  CHECK(j.code() == StatusCode::kCorruptModel);
  CHECK(j.message().find("not an edgelm model file") != std::string::npos);
}

TEST_CASE("truncation at any offset is detected") {
  const std::vector<uint8_t> good = ReadFileBytes(ConvertOrFail(SharedPath("fixtures/gemma4-tiny-e2b"), "bf16"));
  const std::string path = testing::TempDir() + "/truncated.edgelm";
  std::mt19937_64 rng(7);
  std::vector<size_t> cuts = {1, 8, 63, 64, 65, 1000, good.size() / 2, good.size() - 1};
  for (int i = 0; i < 40; ++i) cuts.push_back(rng() % good.size());
  for (size_t cut : cuts) {
    WriteFileBytes(path, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
    const Status s = LoadStatus(path);
    INFO("cut at " << cut << ": " << s.message());
    CHECK(s.code() == StatusCode::kCorruptModel);
  }
}

TEST_CASE("flipped header and metadata bytes are detected") {
  const std::vector<uint8_t> good = ReadFileBytes(ConvertOrFail(SharedPath("fixtures/gemma4-tiny-e2b"), "bf16"));
  FileHeader h;
  std::memcpy(&h, good.data(), sizeof h);
  const std::string path = testing::TempDir() + "/flipped.edgelm";
  std::mt19937_64 rng(11);
  std::vector<size_t> offsets;
  for (size_t i = 0; i < kHeaderSize; ++i) offsets.push_back(i);
  for (int i = 0; i < 64; ++i) offsets.push_back(kHeaderSize + rng() % h.metadata_size);
  for (size_t off : offsets) {
    std::vector<uint8_t> bad = good;
    bad[off] ^= static_cast<uint8_t>(1u << (rng() % 8));
    WriteFileBytes(path, bad);
    const Status s = LoadStatus(path);
    INFO("flip at " << off << ": " << s.message());
    CHECK(!s.ok());
  }
}

// Rewrites a valid file's metadata through the flatbuffers object API with a valid checksum, so the
// validation behind the checksum is what gets tested.
std::string Mutated(const std::string& name, const std::function<void(schema::ModelT&)>& mutate) {
  const std::vector<uint8_t> good = ReadFileBytes(ConvertOrFail(SharedPath("fixtures/gemma4-tiny-e2b"), "bf16"));
  FileHeader h;
  std::memcpy(&h, good.data(), sizeof h);
  std::unique_ptr<schema::ModelT> model(schema::GetModel(good.data() + h.metadata_offset)->UnPack());
  mutate(*model);
  flatbuffers::FlatBufferBuilder fbb;
  fbb.Finish(schema::Model::Pack(fbb, model.get()), schema::ModelIdentifier());
  FileHeader out = h;
  out.metadata_size = fbb.GetSize();
  out.data_offset = (kHeaderSize + out.metadata_size + kDataAlignment - 1) / kDataAlignment * kDataAlignment;
  out.file_size = out.data_offset + h.data_size;
  out.metadata_checksum = Fnv1a64(fbb.GetBufferPointer(), fbb.GetSize());
  std::vector<uint8_t> bytes(out.file_size, 0);
  std::memcpy(bytes.data(), &out, sizeof out);
  std::memcpy(bytes.data() + kHeaderSize, fbb.GetBufferPointer(), fbb.GetSize());
  std::memcpy(bytes.data() + out.data_offset, good.data() + h.data_offset, h.data_size);
  const std::string path = testing::TempDir() + "/" + name + ".edgelm";
  WriteFileBytes(path, bytes);
  return path;
}

schema::TensorT& TensorNamed(schema::ModelT& m, const std::string& name) {
  for (auto& t : m.tensors)
    if (t->name == name) return *t;
  FAIL("no tensor " << name);
  return *m.tensors[0];
}

TEST_CASE("hostile metadata behind a valid checksum gives errors, not crashes") {
  CHECK(LoadStatus(Mutated("identity", [](schema::ModelT&) {})).ok());
  struct Case {
    const char* name;
    std::function<void(schema::ModelT&)> mutate;
  };
  const std::string w = "layers.0.mlp.up_proj.weight";
  const Case cases[] = {
      {"huge-dims", [&](schema::ModelT& m) { TensorNamed(m, w).shape = {1ull << 62, 1ull << 62}; }},
      {"zero-dim", [&](schema::ModelT& m) { TensorNamed(m, w).shape = {0, 128}; }},
      {"rank3", [&](schema::ModelT& m) { TensorNamed(m, w).shape = {2, 2, 2}; }},
      {"bad-dtype", [&](schema::ModelT& m) { TensorNamed(m, w).dtype = static_cast<DType>(99); }},
      {"wrong-dtype-size", [&](schema::ModelT& m) { TensorNamed(m, w).dtype = DType::F32; }},
      {"offset-past-end", [&](schema::ModelT& m) { TensorNamed(m, w).offset = 1ull << 40; }},
      {"offset-overflow", [&](schema::ModelT& m) { TensorNamed(m, w).offset = UINT64_MAX - 63; }},
      {"misaligned", [&](schema::ModelT& m) { TensorNamed(m, w).offset += 1; }},
      {"int-without-scales", [&](schema::ModelT& m) {
         TensorNamed(m, w).dtype = DType::I8;
         TensorNamed(m, w).size /= 2;
       }},
      {"shape-vs-architecture", [&](schema::ModelT& m) {
         auto& t = TensorNamed(m, w);
         t.shape = {t.shape[1], t.shape[0]};
       }},
      {"norm-not-f32", [&](schema::ModelT& m) {
         auto& t = TensorNamed(m, "norm.weight");
         t.dtype = DType::BF16;
         t.size /= 2;
       }},
      {"missing-tensor", [&](schema::ModelT& m) { TensorNamed(m, w).name = "something.else"; }},
      {"duplicate-tensor", [&](schema::ModelT& m) { TensorNamed(m, w).name = "norm.weight"; }},
      {"no-layers", [](schema::ModelT& m) { m.architecture->layers.clear(); }},
      {"kv-source-forward", [](schema::ModelT& m) { m.architecture->layers[1]->kv_source = 5; }},
      {"kv-heads-not-dividing", [](schema::ModelT& m) { m.architecture->layers[0]->num_kv_heads = 3; }},
      {"huge-hidden", [](schema::ModelT& m) { m.architecture->hidden_size = 1u << 31; }},
      {"nan-eps", [](schema::ModelT& m) { m.architecture->rms_norm_eps = NAN; }},
      {"bad-family", [](schema::ModelT& m) { m.architecture->family = "llama"; }},
      {"static-scale-zero", [&](schema::ModelT& m) {
         TensorNamed(m, w).activation = ActivationQuant::StaticInt8;
         TensorNamed(m, w).input_scale = 0.0f;
       }},
  };
  for (const Case& c : cases) {
    const Status s = LoadStatus(Mutated(c.name, c.mutate));
    INFO(c.name << ": " << s.message());
    CHECK(!s.ok());
    CHECK(!s.message().empty());
  }
}

TEST_CASE("random metadata corruption with a recomputed checksum never crashes") {
  const std::vector<uint8_t> good = ReadFileBytes(ConvertOrFail(SharedPath("fixtures/gemma4-tiny-e2b"), "bf16"));
  FileHeader h;
  std::memcpy(&h, good.data(), sizeof h);
  const std::string path = testing::TempDir() + "/fuzzed.edgelm";
  std::mt19937_64 rng(1234);
  int rejected = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> bad = good;
    for (int k = 0; k < 4; ++k) bad[kHeaderSize + rng() % h.metadata_size] ^= static_cast<uint8_t>(rng());
    FileHeader bh = h;
    bh.metadata_checksum = Fnv1a64(bad.data() + kHeaderSize, h.metadata_size);
    std::memcpy(bad.data(), &bh, sizeof bh);
    WriteFileBytes(path, bad);
    rejected += !LoadStatus(path).ok();  // loading must return; either verdict is fine
  }
  CHECK(rejected > 0);
}

// Sanitizers reserve terabytes of address space for their shadow memory: an address-space limit
// would stop them, not the mmap under test.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EDGELM_UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EDGELM_UNDER_SANITIZER 1
#endif
#endif

// Bytes of address space this process maps now (VmSize in /proc/self/status).
uint64_t MappedBytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmSize:") {
      uint64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
    status.ignore(1 << 16, '\n');
  }
  return 0;
}

TEST_CASE("a failed mmap is reported as out of memory, not a crash") {
#ifdef EDGELM_UNDER_SANITIZER
  WARN("skipped under a sanitizer");
#else
  const std::string model = std::string(EDGELM_SOURCE_DIR) + "/models/brown-tiny-mobile.edgelm";
  REQUIRE(MappedBytes() > 0);
  // In a child: the address space is capped 2 MB above what is mapped, below the 6 MB model.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const uint64_t cap = MappedBytes() + (2u << 20);
    const rlimit limit{cap, cap};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(2);
    std::unique_ptr<ModelFile> file;
    const Status s = ModelFile::Open(model, &file);
    const bool reported = s.code() == StatusCode::kOutOfMemory && s.message().find("mmap failed") != std::string::npos &&
                          s.message().find(model) != std::string::npos;
    _exit(reported ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
#endif
}

// A copy of `good` with 4 bytes flipped at file offset `offset`; the path of the copy.
std::string Damaged(const std::vector<uint8_t>& good, uint64_t offset, const std::string& name) {
  std::vector<uint8_t> bad = good;
  for (uint64_t k = offset; k < offset + 4; ++k) bad[k] ^= 0x5a;
  const std::string path = testing::TempDir() + "/" + name + ".edgelm";
  WriteFileBytes(path, bad);
  return path;
}

// File offsets of tensor i's codes and scales.
uint64_t CodesOffset(const ModelFile& f, size_t i) {
  return f.header().data_offset + f.metadata().tensors()->Get(static_cast<uint32_t>(i))->offset();
}
uint64_t ScalesOffset(const ModelFile& f, size_t i) {
  return f.header().data_offset + f.metadata().tensors()->Get(static_cast<uint32_t>(i))->scales_offset();
}

TEST_CASE("weight checksums name the damaged tensor, at load, in the background and in old files") {
  // The published recipe: int8, int4 and int2 codes with per-row scales (synthetic weights).
  Status s;
  const std::string good_path = testing::Converted(SharedPath("fixtures/gemma4-tiny-e2b/config.json"), "published", &s,
                                                   /*synthesize=*/true);
  REQUIRE(s.ok());
  const std::vector<uint8_t> good = ReadFileBytes(good_path);
  std::unique_ptr<ModelFile> file = Open(good_path, &s);
  REQUIRE(s.ok());
  REQUIRE(file->has_checksums());
  CHECK(file->VerifyAllTensors(2).ok());
  const std::vector<TensorView>& tensors = file->tensors();

  SECTION("every few tensors: 4 bytes of its codes, then of its scales") {
    int checked = 0;
    for (size_t i = 0; i < tensors.size(); i += 5) {
      const TensorView& t = tensors[i];
      std::vector<uint64_t> offsets = {CodesOffset(*file, i) + (t.size - 4) / 2};
      if (t.scales) offsets.push_back(ScalesOffset(*file, i));
      for (uint64_t offset : offsets) {
        std::unique_ptr<ModelFile> bad = Open(Damaged(good, offset, "damaged"), &s);
        REQUIRE(s.ok());  // the container is valid: only the checksums can tell
        const Status v = bad->VerifyAllTensors(2);
        INFO(t.name << ": " << v.message());
        CHECK(v.code() == StatusCode::kCorruptModel);
        CHECK(v.message().find("'" + t.name + "'") != std::string::npos);
        CHECK(bad->VerifyTensor(bad->tensors()[i]).code() == StatusCode::kCorruptModel);
        ++checked;
      }
    }
    CHECK(checked > 5);
  }

  SECTION("verification at load refuses the file, in the background it stops Forward; without it loads") {
    const size_t last = tensors.size() - 1;
    const std::string path = Damaged(good, CodesOffset(*file, last), "damaged-load");
    LoadOptions options;
    options.num_threads = 1;
    std::unique_ptr<LoadedModel> model;
    REQUIRE(LoadedModel::Open(path, options, &model).ok());
    model.reset();

    options.verify = LoadOptions::Verify::kAtLoad;
    const Status at_load = LoadedModel::Open(path, options, &model);
    INFO(at_load.message());
    CHECK(at_load.code() == StatusCode::kCorruptModel);
    CHECK(at_load.message().find(tensors[last].name) != std::string::npos);
    CHECK(model == nullptr);

    options.verify = LoadOptions::Verify::kBackground;
    REQUIRE(LoadedModel::Open(path, options, &model).ok());
    for (int i = 0; i < 2000 && model->file().verification() == ModelFile::Verification::kRunning; ++i) usleep(1000);
    CHECK(model->file().verification() == ModelFile::Verification::kFailed);
    std::unique_ptr<Session> session;
    REQUIRE(Session::Create(model->model(), nullptr, nullptr, SessionOptions{}, &session).ok());
    const int tokens[] = {2, 17};
    REQUIRE(session->AppendTokens(tokens, 2).ok());
    std::vector<float> logits(static_cast<size_t>(model->config().vocab_size));
    const Status forward = session->EvaluateLast(logits.data());
    CHECK(forward.code() == StatusCode::kCorruptModel);
    CHECK(forward.message().find(tensors[last].name) != std::string::npos);

    options.verify = LoadOptions::Verify::kBackground;
    REQUIRE(LoadedModel::Open(good_path, options, &model).ok());
    for (int i = 0; i < 2000 && model->file().verification() == ModelFile::Verification::kRunning; ++i) usleep(1000);
    CHECK(model->file().verification() == ModelFile::Verification::kPassed);
  }

  SECTION("a file without checksums (converted before 1.1) loads and says so") {
    const std::string old = Mutated("no-checksums", [](schema::ModelT& m) { m.tensor_checksums = schema::ChecksumKind::None; });
    std::unique_ptr<ModelFile> f = Open(old, &s);
    REQUIRE(s.ok());
    CHECK_FALSE(f->has_checksums());
    CHECK(f->VerifyAllTensors(1).code() == StatusCode::kUnsupported);
    LoadOptions options;
    options.num_threads = 1;
    options.verify = LoadOptions::Verify::kAtLoad;
    std::unique_ptr<LoadedModel> model;
    CHECK(LoadedModel::Open(old, options, &model).ok());
    CHECK_FALSE(model->weights_verified_at_load());
  }
}

TEST_CASE("the packed-weights cache file round-trips, and refuses truncation, flipped bytes and another identity") {
  PackedWeightsIdentity id;
  for (size_t i = 0; i < sizeof id.engine_build; ++i) id.engine_build[i] = static_cast<uint8_t>(i * 7 + 1);
  id.model_checksum = 0x0123456789abcdefull;
  id.model_bytes = 123456789;
  std::vector<std::vector<uint8_t>> blobs = {std::vector<uint8_t>(1000), std::vector<uint8_t>(1), std::vector<uint8_t>(4097)};
  std::vector<PackedEntry> entries;
  for (size_t i = 0; i < blobs.size(); ++i) {
    for (size_t b = 0; b < blobs[i].size(); ++b) blobs[i][b] = static_cast<uint8_t>(b * 31 + i);
    PackedEntry e;
    e.tensor = static_cast<uint32_t>(10 + i);
    e.op = static_cast<uint32_t>(i + 1);
    e.seed = 0xdead0000u + static_cast<uint32_t>(i);
    e.fingerprint = 0x40000u + static_cast<uint32_t>(i);
    e.layout = 0xfeedfacecafebeefull ^ i;
    e.data = blobs[i].data();
    e.size = blobs[i].size();
    entries.push_back(e);
  }
  const std::string path = testing::TempDir() + "/cache.packed";
  REQUIRE(WritePackedWeightsFile(path, id, entries).ok());
  std::unique_ptr<PackedWeightsFile> f;
  REQUIRE(PackedWeightsFile::Open(path, id, /*verify_data=*/true, &f).ok());
  REQUIRE(f->entries().size() == entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const PackedEntry& got = f->entries()[i];
    CHECK(got.tensor == entries[i].tensor);
    CHECK(got.op == entries[i].op);
    CHECK(got.seed == entries[i].seed);
    CHECK(got.fingerprint == entries[i].fingerprint);
    CHECK(got.layout == entries[i].layout);
    CHECK(reinterpret_cast<uintptr_t>(got.data) % 64 == 0);  // XNNPACK loads packed weights aligned
    REQUIRE(got.size == entries[i].size);
    CHECK(std::memcmp(got.data, blobs[i].data(), blobs[i].size()) == 0);
  }
  f.reset();

  const std::vector<uint8_t> good = ReadFileBytes(path);
  const std::string bad_path = testing::TempDir() + "/bad.packed";
  SECTION("absent, or written for another model or engine build") {
    CHECK(PackedWeightsFile::Open(testing::TempDir() + "/none.packed", id, true, &f).code() == StatusCode::kNotFound);
    PackedWeightsIdentity other = id;
    other.model_checksum ^= 1;
    CHECK(PackedWeightsFile::Open(path, other, false, &f).code() == StatusCode::kUnsupported);
    other = id;
    other.model_bytes += 1;
    CHECK(PackedWeightsFile::Open(path, other, false, &f).code() == StatusCode::kUnsupported);
    other = id;
    other.engine_build[31] ^= 0x80;
    const Status s = PackedWeightsFile::Open(path, other, false, &f);
    CHECK(s.code() == StatusCode::kUnsupported);
    CHECK(s.message().find("another XNNPACK build") != std::string::npos);
  }
  SECTION("every truncation") {
    for (size_t cut = 0; cut < good.size(); cut += cut < 200 ? 1 : 97) {
      WriteFileBytes(bad_path, std::vector<uint8_t>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
      const Status s = PackedWeightsFile::Open(bad_path, id, false, &f);
      INFO("cut at " << cut << ": " << s.message());
      CHECK(s.code() == StatusCode::kCorruptModel);
    }
  }
  SECTION("a flipped bit anywhere: in the header and table always, in the data with verification") {
    std::mt19937_64 rng(5);
    for (size_t off = 0; off < good.size(); off += off < 300 ? 1 : 61) {
      std::vector<uint8_t> bad = good;
      bad[off] ^= static_cast<uint8_t>(1u << (rng() % 8));
      WriteFileBytes(bad_path, bad);
      const Status s = PackedWeightsFile::Open(bad_path, id, /*verify_data=*/true, &f);
      // The 88-byte header and 48-byte entries (docs/format.md), then each entry's bytes at the
      // offset its entry gives; the alignment padding between them is never read.
      bool read = off < 88 + entries.size() * 48;
      for (size_t i = 0; i < entries.size() && !read; ++i) {
        uint64_t offset = 0;
        std::memcpy(&offset, good.data() + 88 + i * 48 + 24, sizeof offset);
        read = off >= offset && off < offset + entries[i].size;
      }
      INFO("flip at " << off << ": " << s.message());
      if (read) CHECK(s.code() == StatusCode::kCorruptModel);
    }
  }
}

}  // namespace
}  // namespace edgelm
