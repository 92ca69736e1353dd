// Reader of Google's .litertlm container (LiteRT-LM): the fixed preamble, the LiteRTLMMetaData
// FlatBuffer (verified), the section table with each section's role, and the LlmMetadata proto.
// Every offset is checked against the file before anything reads through it.
// Facts: ../shared/docs/published_mobile_format.md §1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace edgelm::litertlm {

// AnySectionDataType (append-only: newer files may carry values this reader does not know).
enum class SectionType : uint8_t {
  kNone = 0,
  kGenericBinaryData = 1,
  kDeprecated = 2,
  kTFLiteModel = 3,
  kSpTokenizer = 4,
  kLlmMetadataProto = 5,
  kHfTokenizerZlib = 6,
  kTFLiteWeights = 7,
  kEmbeddingMetadataProto = 8,
  kExecutorMetadataProto = 9,
};
// "TFLiteModel", ...; "unknown" for values this reader does not know.
const char* SectionTypeName(uint8_t data_type);

// One KeyValuePair of the header: the value rendered as text ("1.5", "true", the string itself).
struct MetadataEntry {
  std::string key;
  std::string type;  // the VData member: "StringValue", "Int32", ...
  std::string value;
};

struct Section {
  int index = 0;
  uint8_t data_type = 0;  // SectionType, possibly a value newer than this reader
  uint64_t begin = 0;     // absolute file offsets, [begin, end)
  uint64_t end = 0;
  std::vector<MetadataEntry> items;
  // Lower-cased `model_type` item; a TFLiteModel without one is "tf_lite_prefill_decode". Empty otherwise.
  std::string model_type;

  uint64_t size() const { return end - begin; }
  bool is(SectionType type) const { return data_type == static_cast<uint8_t>(type); }
};

class Bundle {
 public:
  ~Bundle();
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;

  // Maps `path` and validates the preamble, the header FlatBuffer and every section's range.
  static Status Open(const std::string& path, std::shared_ptr<const Bundle>* out);

  const std::string& path() const { return path_; }
  uint32_t major_version() const { return version_[0]; }
  uint32_t minor_version() const { return version_[1]; }
  uint32_t patch_version() const { return version_[2]; }
  uint64_t header_end() const { return header_end_; }
  uint64_t file_size() const { return size_; }
  const std::vector<MetadataEntry>& system_metadata() const { return system_metadata_; }
  const std::vector<Section>& sections() const { return sections_; }

  const uint8_t* data(const Section& section) const { return base_ + section.begin; }
  std::string_view bytes(const Section& section) const {
    return {reinterpret_cast<const char*>(data(section)), static_cast<size_t>(section.size())};
  }

  // The section of `type` (and, if given, `model_type`, compared case-insensitively); nullptr if
  // there is none; kCorruptModel if there are several.
  Status Find(SectionType type, std::string_view model_type, const Section** out) const;

 private:
  Bundle() = default;
  Status Parse();

  std::string path_;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  uint32_t version_[3] = {};
  uint64_t header_end_ = 0;
  std::vector<MetadataEntry> system_metadata_;
  std::vector<Section> sections_;
};

// A TokenUnion: token ids, or a token's text (resolved through the vocabulary by the caller).
struct TokenRef {
  std::vector<int> ids;
  std::string text;
  bool is_text = false;
};

// litert.lm.proto.LlmMetadata, the fields an importer needs.
struct LlmMetadata {
  bool has_start_token = false;
  TokenRef start_token;
  std::vector<TokenRef> stop_tokens;
  int max_num_tokens = 0;
  int llm_model_type = 0;  // the LlmModelType oneof field number: 8 = gemma4, 1 = generic, 0 = absent
  std::string jinja_prompt_template;
};
constexpr int kLlmModelTypeGemma4 = 8;

// Decodes the proto wire format (packed and unpacked repeated ids); the message names what is malformed.
Status ParseLlmMetadata(std::string_view bytes, LlmMetadata* out);

}  // namespace edgelm::litertlm
