// Regressions of the published-file importers found by tests/fuzz/fuzz_published_files.cc (and by
// reading the code it drives): each input, as small as it can be made, must be refused or read with a
// status, never crash.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "convert/litertlm_reader.h"
#include "convert/tflite_reader.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

std::string WriteTemp(const std::string& name, const std::string& bytes) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

TEST_CASE("a metadata entry whose union type comes without its value reads as an empty value") {
  // The FlatBuffer verifier accepts a union type without its value; reading it dereferenced null.
  namespace hfb = litertlm_subset::header;
  const auto header = [](uint64_t header_end) {
    flatbuffers::FlatBufferBuilder b;
    const auto entry = hfb::CreateKeyValuePair(b, b.CreateString("k"), hfb::VData::UInt8, /*value=*/0);
    const auto system = hfb::CreateSystemMetadata(b, b.CreateVector(&entry, 1));
    const auto section = hfb::CreateSectionObject(b, 0, header_end, header_end + 8, /*GenericBinaryData*/ 1);
    b.Finish(hfb::CreateLiteRTLMMetaData(b, system, hfb::CreateSectionMetadata(b, b.CreateVector(&section, 1))));
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()), b.GetSize());
  };
  const uint64_t header_end = 32 + header(1).size();  // any nonzero offset: the same size as the real one
  const uint32_t version[4] = {1, 0, 0, 0};  // major, minor, patch, then 4 bytes of padding to offset 24
  std::string file = "LITERTLM";
  file.append(reinterpret_cast<const char*>(version), sizeof version);
  file.append(reinterpret_cast<const char*>(&header_end), sizeof header_end);
  file += header(header_end) + std::string(8, '\0');
  std::shared_ptr<const litertlm::Bundle> bundle;
  const Status s = litertlm::Bundle::Open(WriteTemp("union-without-value.litertlm", file), &bundle);
  INFO(s.message());
  REQUIRE(s.ok());
  REQUIRE(bundle->system_metadata().size() == 1);
  CHECK(bundle->system_metadata()[0].key == "k");
  CHECK(bundle->system_metadata()[0].value.empty());
}

TEST_CASE("a TFLite operator output of -1 is refused at Open; an omitted optional input is not") {
  // The importer reads every operator output as a tensor: -1 there read before the tensor vector.
  namespace tfb = tflite::fb;
  const auto model = [](std::vector<int32_t> inputs, std::vector<int32_t> outputs) {
    flatbuffers::FlatBufferBuilder b;
    const auto code = tfb::CreateOperatorCode(b, 0, 0, 1, tflite::kOpAdd);
    const std::vector<int32_t> shape{1};
    const auto tensor = tfb::CreateTensorDirect(b, &shape, tflite::kFloat32, 0, "x");
    const auto op = tfb::CreateOperatorDirect(b, 0, &inputs, &outputs);
    const auto subgraph = tfb::CreateSubGraph(b, b.CreateVector(&tensor, 1), 0, 0, b.CreateVector(&op, 1));
    const auto buffer = tfb::CreateBuffer(b);
    b.Finish(tfb::CreateModel(b, 3, b.CreateVector(&code, 1), b.CreateVector(&subgraph, 1), 0, b.CreateVector(&buffer, 1)),
             tfb::ModelIdentifier());
    return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
  };
  const auto open = [](const std::vector<uint8_t>& bytes) {
    tflite::Model m;
    return tflite::Model::Open("crafted", tflite::Bytes{bytes.data(), bytes.size()}, tflite::Bytes{}, &m);
  };
  const Status bad = open(model({0, 0}, {-1}));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.message().find("operator 0 output names tensor -1") != std::string::npos);
  const Status optional = open(model({0, -1}, {0}));
  INFO(optional.message());
  CHECK(optional.ok());
}

}  // namespace
}  // namespace edgelm
