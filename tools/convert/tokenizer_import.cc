#include "convert/tokenizer_import.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace edgelm {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581
constexpr int kMaxPieces = 1 << 24;  // far above any real vocabulary; bounds the tables a bad file can ask for
constexpr int kGemmaVocabSize = 262144;
constexpr int kGemma4TurnStart = 105;
constexpr int kGemma4TurnEnd = 106;

Status ReadFile(const std::string& path, std::string* bytes) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) return NotFound(path + ": cannot open");
  bytes->resize(static_cast<size_t>(file.tellg()));
  file.seekg(0);
  if (!file.read(&(*bytes)[0], static_cast<std::streamsize>(bytes->size()))) return IoError(path + ": read failed");
  return Status::Ok();
}

// "<0x00>" ... "<0xFF>", the spelling of byte-fallback pieces.
bool IsBytePiece(const std::string& piece) {
  const auto upper_hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && upper_hex(piece[3]) && upper_hex(piece[4]) &&
         piece[5] == '>';
}

// Lowest id whose piece is `piece`, or -1.
int FindPiece(const TokenizerData& data, std::string_view piece) {
  const auto it = std::find(data.pieces.begin(), data.pieces.end(), piece);
  return it == data.pieces.end() ? -1 : static_cast<int>(it - data.pieces.begin());
}

// Lowest-id Control piece among `names`, or -1.
int FindControl(const TokenizerData& data, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    const int id = FindPiece(data, name);
    if (id >= 0 && data.types[id] == PieceType::Control) return id;
  }
  return -1;
}

// Sets the byte fallback base and stop ids = {eos}, then validates; errors name the file.
Status FinishImport(const std::string& path, bool byte_fallback, TokenizerData* data) {
  data->byte_fallback_base = -1;
  if (byte_fallback) {
    data->byte_fallback_base = FindPiece(*data, "<0x00>");
    if (data->byte_fallback_base < 0) return CorruptModel(path + ": byte fallback without a <0x00> piece");
  }
  data->stop_ids.clear();
  if (data->eos_id >= 0) data->stop_ids.push_back(data->eos_id);
  const Status valid = data->Validate();
  if (!valid.ok()) return Status(valid.code(), path + ": " + valid.message());
  return Status::Ok();
}

// Parses the tokenizer.json document; throws nlohmann::json exceptions on a wrong structure.
Status ParseTokenizerJson(const std::string& path, const Json& root, TokenizerData* out) {
  const Json& model = root.at("model");
  if (model.at("type").get<std::string>() != "BPE") return Unsupported(path + ": tokenizer model is not BPE");
  const Json& normalizer = root.at("normalizer");
  if (normalizer.is_null() || normalizer.value("type", "") != "Replace" ||
      normalizer.at("pattern").value("String", "") != " " || normalizer.at("content").get<std::string>() != kSpaceMark)
    return Unsupported(path + ": only the normalizer that replaces ' ' with U+2581 is supported");

  // Tables are sized by the largest id: added tokens may lie beyond the model vocabulary.
  std::unordered_map<std::string, int> ids;
  int size = 0;
  const auto take_id = [&size](const Json& id) {
    const int64_t value = id.get<int64_t>();
    if (value < 0 || value >= kMaxPieces) return -1;
    size = std::max(size, static_cast<int>(value) + 1);
    return static_cast<int>(value);
  };
  for (const auto& [piece, id] : model.at("vocab").items()) {
    const int checked = take_id(id);
    if (checked < 0) return CorruptModel(path + ": id out of range for piece " + piece);
    ids.emplace(piece, checked);
  }
  const Json& added = root.at("added_tokens");
  for (const Json& token : added)
    if (take_id(token.at("id")) < 0) return CorruptModel(path + ": added-token id out of range");

  TokenizerData data;
  data.pieces.resize(size);
  data.types.assign(size, PieceType::Normal);
  std::vector<bool> present(size, false);
  for (const auto& [piece, id] : ids) {
    data.pieces[id] = piece;
    present[id] = true;
  }
  for (const Json& token : added) {
    const int id = token.at("id").get<int>();
    data.pieces[id] = token.at("content").get<std::string>();
    data.types[id] = token.at("special").get<bool>() ? PieceType::Control : PieceType::UserDefined;
    present[id] = true;
    ids.emplace(data.pieces[id], id);
  }
  for (int id = 0; id < size; ++id) {
    if (!present[id]) return CorruptModel(path + ": no piece for id " + std::to_string(id));
    if (data.types[id] == PieceType::Normal && IsBytePiece(data.pieces[id])) data.types[id] = PieceType::Byte;
  }

  const auto id_of = [&ids](const std::string& piece) {
    const auto it = ids.find(piece);
    return it == ids.end() ? -1 : it->second;
  };
  const Json& unk = model.at("unk_token");
  if (!unk.is_null()) {
    data.unk_id = id_of(unk.get<std::string>());
    if (data.unk_id < 0) return CorruptModel(path + ": unk_token is not in the vocabulary");
    data.types[data.unk_id] = PieceType::Unknown;
  }

  const Json& merges = model.at("merges");
  data.merges.reserve(merges.size());
  for (const Json& merge : merges) {
    std::string left, right;
    if (merge.is_string()) {  // "left right"; pieces never contain ' ' (spaces are U+2581)
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) return CorruptModel(path + ": merge without a space: " + text);
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else {
      left = merge.at(0).get<std::string>();
      right = merge.at(1).get<std::string>();
    }
    const int left_id = id_of(left), right_id = id_of(right);
    if (left_id < 0 || right_id < 0)
      return CorruptModel(path + ": merge of unknown pieces: " + left + " " + right);
    data.merges.emplace_back(left_id, right_id);
  }

  // A leading special token in the post-processor's template is the BOS that HF adds by default.
  data.add_bos = false;
  const Json& post = root.at("post_processor");
  if (!post.is_null() && post.value("type", "") == "TemplateProcessing" && !post.at("single").empty() &&
      post.at("single").at(0).contains("SpecialToken")) {
    data.bos_id = id_of(post.at("single").at(0).at("SpecialToken").at("id").get<std::string>());
    data.add_bos = data.bos_id >= 0;
  }
  if (data.bos_id < 0) data.bos_id = FindControl(data, {"<bos>", "<s>"});
  data.eos_id = FindControl(data, {"<eos>", "</s>"});
  data.pad_id = FindControl(data, {"<pad>"});
  EDGELM_RETURN_IF_ERROR(FinishImport(path, model.value("byte_fallback", false), &data));
  *out = std::move(data);
  return Status::Ok();
}

// Minimal protobuf wire-format reader: just enough for sentencepiece's ModelProto.
struct WireField {
  uint32_t number = 0;
  uint64_t value = 0;      // varint and fixed-width fields
  std::string_view bytes;  // length-delimited fields
};

class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}

  // Reads the next field; false at the end or on malformed input (then malformed() is true).
  bool Next(WireField* field) {
    if (pos_ == data_.size()) return false;
    uint64_t key;
    if (!ReadVarint(&key)) return Fail();
    field->number = static_cast<uint32_t>(key >> 3);
    field->bytes = {};
    switch (key & 7) {
      case 0:
        return ReadVarint(&field->value) || Fail();
      case 1:
        return ReadFixed(8, &field->value) || Fail();
      case 2: {
        uint64_t length;
        if (!ReadVarint(&length) || length > data_.size() - pos_) return Fail();
        field->bytes = data_.substr(pos_, length);
        pos_ += length;
        return true;
      }
      case 5:
        return ReadFixed(4, &field->value) || Fail();
      default:  // groups are not used by sentencepiece
        return Fail();
    }
  }
  bool malformed() const { return malformed_; }

 private:
  bool Fail() {
    malformed_ = true;
    return false;
  }
  bool ReadVarint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64 && pos_ < data_.size(); shift += 7) {
      const auto byte = static_cast<uint8_t>(data_[pos_++]);
      *value |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (byte < 0x80) return true;
    }
    return false;
  }
  bool ReadFixed(size_t width, uint64_t* value) {  // little endian
    if (data_.size() - pos_ < width) return false;
    *value = 0;
    for (size_t i = 0; i < width; ++i) *value |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += width;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
  bool malformed_ = false;
};

int32_t AsInt32(uint64_t varint) { return static_cast<int32_t>(static_cast<int64_t>(varint)); }

float AsFloat(uint64_t fixed32) {
  const auto bits = static_cast<uint32_t>(fixed32);
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// sentencepiece ModelProto.SentencePiece.Type (NORMAL = 1 ... BYTE = 6).
bool ToPieceType(uint64_t spm_type, PieceType* type) {
  static constexpr PieceType kTypes[] = {PieceType::Normal, PieceType::Unknown, PieceType::Control,
                                         PieceType::UserDefined, PieceType::Unused, PieceType::Byte};
  if (spm_type < 1 || spm_type > 6) return false;
  *type = kTypes[spm_type - 1];
  return true;
}

// The merges HF's SentencePiece converter derives; see ImportSentencePieceModel.
std::vector<std::pair<int, int>> DeriveMerges(const TokenizerData& data, const std::vector<float>& scores) {
  std::unordered_map<std::string_view, int> normal_ids;  // lowest id wins
  for (int id = 0; id < static_cast<int>(data.pieces.size()); ++id)
    if (data.types[id] == PieceType::Normal) normal_ids.emplace(data.pieces[id], id);
  struct Candidate {
    float score;
    int left;
    int right;
  };
  std::vector<Candidate> candidates;
  for (const auto& [piece, id] : normal_ids) {
    for (size_t split = 1; split < piece.size(); ++split) {
      if ((static_cast<unsigned char>(piece[split]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
      const auto left = normal_ids.find(piece.substr(0, split));
      const auto right = normal_ids.find(piece.substr(split));
      if (left != normal_ids.end() && right != normal_ids.end())
        candidates.push_back({scores[id], left->second, right->second});
    }
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.left != b.left ? a.left < b.left : a.right < b.right;
  });
  std::vector<std::pair<int, int>> merges;
  merges.reserve(candidates.size());
  for (const Candidate& c : candidates) merges.emplace_back(c.left, c.right);
  return merges;
}

// Parses a serialized sentencepiece ModelProto: pieces, trainer_spec ids, normalizer_spec flags.
Status ParseModelProto(const std::string& path, std::string_view bytes, TokenizerData* out) {
  const Status corrupt = CorruptModel(path + ": malformed sentencepiece model");
  TokenizerData data;
  std::vector<float> scores;
  // proto2 defaults of the fields read below.
  int64_t model_type = 1;  // UNIGRAM
  bool byte_fallback = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true, has_charsmap = false;

  WireReader model(bytes);
  WireField field;
  while (model.Next(&field)) {
    WireReader message(field.bytes);
    WireField sub;
    if (field.number == 1) {  // pieces {piece = 1, score = 2, type = 3}
      std::string piece;
      float score = 0;
      uint64_t type = 1;
      while (message.Next(&sub)) {
        if (sub.number == 1) piece = std::string(sub.bytes);
        if (sub.number == 2) score = AsFloat(sub.value);
        if (sub.number == 3) type = sub.value;
      }
      data.pieces.push_back(std::move(piece));
      scores.push_back(score);
      data.types.emplace_back();
      if (!ToPieceType(type, &data.types.back()))
        return CorruptModel(path + ": unknown type of piece " + std::to_string(data.pieces.size() - 1));
    } else if (field.number == 2) {  // trainer_spec
      while (message.Next(&sub)) {
        if (sub.number == 3) model_type = static_cast<int64_t>(sub.value);
        if (sub.number == 35) byte_fallback = sub.value != 0;
        if (sub.number == 40) unk_id = AsInt32(sub.value);
        if (sub.number == 41) bos_id = AsInt32(sub.value);
        if (sub.number == 42) eos_id = AsInt32(sub.value);
        if (sub.number == 43) pad_id = AsInt32(sub.value);
      }
    } else if (field.number == 3) {  // normalizer_spec
      while (message.Next(&sub)) {
        if (sub.number == 2) has_charsmap = !sub.bytes.empty();
        if (sub.number == 3) add_dummy_prefix = sub.value != 0;
        if (sub.number == 4) remove_extra_whitespaces = sub.value != 0;
        if (sub.number == 5) escape_whitespaces = sub.value != 0;
      }
    }
    if (message.malformed()) return corrupt;
  }
  if (model.malformed() || data.pieces.empty()) return corrupt;
  if (model_type != 2) return Unsupported(path + ": not a BPE sentencepiece model");
  if (add_dummy_prefix || remove_extra_whitespaces || !escape_whitespaces || has_charsmap)
    return Unsupported(path + ": only the identity normalizer without dummy prefix is supported");

  const int size = static_cast<int>(data.pieces.size());
  const auto known = [size](int32_t id) { return id >= 0 && id < size ? id : -1; };  // -1 disables an id
  data.unk_id = known(unk_id);
  data.bos_id = known(bos_id);
  data.eos_id = known(eos_id);
  data.pad_id = known(pad_id);
  data.add_bos = data.bos_id >= 0;
  data.merges = DeriveMerges(data, scores);
  EDGELM_RETURN_IF_ERROR(FinishImport(path, byte_fallback, &data));
  *out = std::move(data);
  return Status::Ok();
}

// Gemma 4's reserved slots in the Gemma 3 vocabulary: id, Gemma 3 piece, Gemma 4 piece.
struct RenamedPiece {
  int id;
  std::string_view gemma3;
  std::string_view gemma4;
};
constexpr RenamedPiece kGemma4ControlPieces[] = {
    {0, "<pad>", "<pad>"},
    {1, "<eos>", "<eos>"},
    {2, "<bos>", "<bos>"},
    {3, "<unk>", "<unk>"},
    {4, "<mask>", "<mask>"},
    {46, "<unused40>", "<|tool>"},
    {47, "<unused41>", "<tool|>"},
    {48, "<unused42>", "<|tool_call>"},
    {49, "<unused43>", "<tool_call|>"},
    {50, "<unused44>", "<|tool_response>"},
    {51, "<unused45>", "<tool_response|>"},
    {52, "<unused46>", "<|\"|>"},
    {98, "<unused92>", "<|think|>"},
    {100, "<unused94>", "<|channel>"},
    {101, "<unused95>", "<channel|>"},
    {kGemma4TurnStart, "<start_of_turn>", "<|turn>"},
    {kGemma4TurnEnd, "<end_of_turn>", "<turn|>"},
    {255999, "<start_of_image>", "<|image>"},
    {256000, "<end_of_image>", "<|audio>"},
    {258880, "<unused2978>", "<|image|>"},
    {258881, "<unused2979>", "<|audio|>"},
    {258882, "<unused2980>", "<image|>"},
    {258883, "<unused2981>", "<audio|>"},
    {258884, "<unused2982>", "<|video|>"},
};

void SetGemma4Turns(int turn_start, int turn_end, TokenizerData* data) {
  data->turn_start_id = turn_start;
  data->turn_end_id = turn_end;
  data->types[turn_start] = PieceType::Control;
  data->types[turn_end] = PieceType::Control;
  if (std::find(data->stop_ids.begin(), data->stop_ids.end(), turn_end) == data->stop_ids.end())
    data->stop_ids.push_back(turn_end);
  data->chat_template = "gemma4";
}

}  // namespace

Status ImportTokenizerJson(const std::string& path, TokenizerData* out) {
  std::string text;
  EDGELM_RETURN_IF_ERROR(ReadFile(path, &text));
  return ImportTokenizerJsonText(path, text, out);
}

Status ImportTokenizerJsonText(const std::string& name, const std::string& text, TokenizerData* out) {
  // nlohmann reports errors by throwing; they stop here.
  try {
    return ParseTokenizerJson(name, Json::parse(text), out);
  } catch (const Json::parse_error& e) {
    return CorruptModel(name + ": invalid JSON: " + e.what());
  } catch (const std::exception& e) {
    return CorruptModel(name + ": unexpected tokenizer.json structure: " + e.what());
  }
}

Status ImportSentencePieceModel(const std::string& path, TokenizerData* out) {
  std::string bytes;
  EDGELM_RETURN_IF_ERROR(ReadFile(path, &bytes));
  return ParseModelProto(path, bytes, out);
}

Status ImportSentencePieceModelBytes(const std::string& name, std::string_view bytes, TokenizerData* out) {
  return ParseModelProto(name, bytes, out);
}

Status ApplyGemma4Overlay(TokenizerData* data) {
  if (static_cast<int>(data->pieces.size()) < kGemmaVocabSize)
    return InvalidArgument("the Gemma 4 overlay needs the 262,144-piece Gemma vocabulary, got " +
                           std::to_string(data->pieces.size()) + " pieces");
  for (const RenamedPiece& slot : kGemma4ControlPieces) {
    const std::string& piece = data->pieces[slot.id];
    if (piece != slot.gemma3 && piece != slot.gemma4)
      return InvalidArgument("not the Gemma vocabulary: id " + std::to_string(slot.id) + " is '" + piece + "'");
  }
  // Gemma 4 has no ids beyond 262,144; its reserved pieces other than the control set are plain text.
  data->pieces.resize(kGemmaVocabSize);
  data->types.resize(kGemmaVocabSize);
  for (PieceType& type : data->types)
    if (type != PieceType::Byte) type = PieceType::Normal;
  for (const RenamedPiece& slot : kGemma4ControlPieces) {
    data->pieces[slot.id] = std::string(slot.gemma4);
    data->types[slot.id] = PieceType::Control;
  }
  data->pad_id = 0;
  data->eos_id = 1;
  data->bos_id = 2;
  data->unk_id = 3;
  data->add_bos = false;
  data->stop_ids = {data->eos_id};
  SetGemma4Turns(kGemma4TurnStart, kGemma4TurnEnd, data);
  return data->Validate();
}

Status ApplyGemma4TurnTokens(const ConfigTokenIds& config, TokenizerData* data) {
  const int turn_start = FindPiece(*data, "<|turn>");
  const int turn_end = FindPiece(*data, "<turn|>");
  if (turn_start < 0 || turn_end < 0) return NotFound("the vocabulary has no <|turn> / <turn|> pieces");
  if (config.bos_id >= 0) data->bos_id = config.bos_id;
  if (config.pad_id >= 0) data->pad_id = config.pad_id;
  if (!config.eos_ids.empty()) {
    data->eos_id = config.eos_ids.front();
    data->stop_ids = config.eos_ids;
  }
  SetGemma4Turns(turn_start, turn_end, data);
  return data->Validate();
}

}  // namespace edgelm
