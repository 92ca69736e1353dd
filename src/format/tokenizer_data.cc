#include "format/tokenizer_data.h"

#include <cstdio>
#include <unordered_map>

namespace edgelm {

Status TokenizerData::Validate() const {
  const int n = static_cast<int>(pieces.size());
  if (n == 0) return CorruptModel("tokenizer has no pieces");
  if (types.size() != pieces.size()) return CorruptModel("tokenizer piece types do not match pieces");
  auto id_ok = [n](int id) { return id >= -1 && id < n; };
  if (!id_ok(bos_id) || !id_ok(eos_id) || !id_ok(pad_id) || !id_ok(unk_id) || !id_ok(turn_start_id) ||
      !id_ok(turn_end_id))
    return CorruptModel("tokenizer special id out of range");
  for (int id : stop_ids)
    if (id < 0 || id >= n) return CorruptModel("tokenizer stop id out of range");
  for (const auto& m : merges)
    if (m.first < 0 || m.first >= n || m.second < 0 || m.second >= n)
      return CorruptModel("tokenizer merge id out of range");
  if (byte_fallback_base != -1) {
    if (byte_fallback_base < 0 || byte_fallback_base > n - 256) return CorruptModel("byte fallback ids out of range");
    for (int b = 0; b < 256; ++b) {
      char want[8];
      std::snprintf(want, sizeof want, "<0x%02X>", b);
      if (pieces[byte_fallback_base + b] != want) return CorruptModel("byte fallback pieces are not <0x00>..<0xFF>");
    }
  }
  return Status::Ok();
}

uint64_t TokenizerData::HeapBytes() const {
  uint64_t bytes = pieces.size() * sizeof(std::string) + types.size() * sizeof(PieceType) +
                   merges.size() * sizeof(merges[0]) + stop_ids.size() * sizeof(int) + chat_template.size();
  for (const std::string& piece : pieces) bytes += piece.size();
  return bytes;
}

Status TokenizerFromSchema(const schema::Tokenizer& t, TokenizerData* out) {
  TokenizerData d;
  if (!t.pieces() || !t.types()) return CorruptModel("tokenizer without pieces");
  d.pieces.reserve(t.pieces()->size());
  for (const flatbuffers::String* s : *t.pieces()) d.pieces.emplace_back(s ? s->str() : std::string());
  for (auto ty : *t.types()) {
    if (ty > PieceType::MAX) return CorruptModel("unknown tokenizer piece type");
    d.types.push_back(ty);
  }
  const size_t nl = t.merge_left() ? t.merge_left()->size() : 0;
  const size_t nr = t.merge_right() ? t.merge_right()->size() : 0;
  if (nl != nr) return CorruptModel("tokenizer merge lists differ in length");
  d.merges.reserve(nl);
  for (size_t i = 0; i < nl; ++i) d.merges.emplace_back(t.merge_left()->Get(i), t.merge_right()->Get(i));
  d.bos_id = t.bos_id();
  d.eos_id = t.eos_id();
  d.pad_id = t.pad_id();
  d.unk_id = t.unk_id();
  if (t.stop_ids()) d.stop_ids.assign(t.stop_ids()->begin(), t.stop_ids()->end());
  d.byte_fallback_base = t.byte_fallback_base();
  d.add_bos = t.add_bos();
  d.chat_template = t.chat_template() ? t.chat_template()->str() : "";
  d.turn_start_id = t.turn_start_id();
  d.turn_end_id = t.turn_end_id();
  EDGELM_RETURN_IF_ERROR(d.Validate());
  *out = std::move(d);
  return Status::Ok();
}

flatbuffers::Offset<schema::Tokenizer> TokenizerToSchema(flatbuffers::FlatBufferBuilder& fbb,
                                                         const TokenizerData& t) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> pieces;
  pieces.reserve(t.pieces.size());
  for (const std::string& p : t.pieces) pieces.push_back(fbb.CreateString(p));
  std::vector<uint8_t> types;
  for (PieceType ty : t.types) types.push_back(static_cast<uint8_t>(ty));
  std::vector<int32_t> left, right;
  for (const auto& m : t.merges) {
    left.push_back(m.first);
    right.push_back(m.second);
  }
  auto types_vec = fbb.CreateVector(types);
  return schema::CreateTokenizer(fbb, fbb.CreateVector(pieces),
                                 flatbuffers::Offset<flatbuffers::Vector<PieceType>>(types_vec.o),
                                 fbb.CreateVector(left), fbb.CreateVector(right), t.bos_id, t.eos_id, t.pad_id,
                                 t.unk_id, fbb.CreateVector(t.stop_ids), t.byte_fallback_base, t.add_bos,
                                 fbb.CreateString(t.chat_template), t.turn_start_id, t.turn_end_id);
}

}  // namespace edgelm
