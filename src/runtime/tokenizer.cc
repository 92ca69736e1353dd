#include "runtime/tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <queue>

namespace edgelm {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";    // U+2581, stands for ' ' in pieces
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Byte length of the UTF-8 character at s[pos], or 0 if it is not valid UTF-8 (overlong forms, surrogates
// and code points above U+10FFFF included). *truncated tells that `s` ends inside a character that could
// still become valid.
size_t Utf8CharLength(std::string_view s, size_t pos, bool* truncated) {
  *truncated = false;
  const auto lead = static_cast<unsigned char>(s[pos]);
  if (lead < 0x80) return 1;
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    if (pos + k >= s.size()) {
      *truncated = true;
      return 0;
    }
    const auto c = static_cast<unsigned char>(s[pos + k]);
    if (c < low || c > high) return 0;
    low = 0x80;
    high = 0xBF;
  }
  return length;
}

// Appends `bytes` to *out with every byte outside a valid UTF-8 character replaced by U+FFFD. Unless
// `end_of_stream`, stops before an unfinished character at the end. Returns the number of bytes consumed.
size_t AppendValidUtf8(std::string_view bytes, bool end_of_stream, std::string* out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    bool truncated;
    const size_t length = Utf8CharLength(bytes, pos, &truncated);
    if (length > 0) {
      out->append(bytes, pos, length);
      pos += length;
      continue;
    }
    if (truncated && !end_of_stream) break;
    out->append(kReplacement);
    ++pos;
  }
  return pos;
}

uint32_t HashPiece(std::string_view piece) { return static_cast<uint32_t>(std::hash<std::string_view>()(piece)); }

// Size of the open-addressing piece index: a power of two, at least twice the vocabulary.
size_t PieceIndexSlots(size_t pieces) {
  size_t slots = 1;
  while (slots < 2 * pieces) slots <<= 1;
  return slots;
}

// Pieces that plain-text BPE may produce. Control, byte and unknown pieces come only from atomic matches,
// byte fallback or the caller, so user text can never forge a turn marker.
bool IsBpeType(PieceType type) { return type == PieceType::Normal || type == PieceType::UserDefined; }

}  // namespace

Status Tokenizer::Create(const TokenizerData& data, std::unique_ptr<Tokenizer>* out) {
  EDGELM_RETURN_IF_ERROR(data.Validate());
  if (data.byte_fallback_base < 0 && data.unk_id < 0)
    return CorruptModel("tokenizer has neither byte fallback nor an unknown piece");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->pieces_ = data.pieces;
  t->types_ = data.types;
  t->BuildPieceIndex();
  EDGELM_RETURN_IF_ERROR(t->BuildMerges(data.merges));
  t->BuildAtomicTrie();
  t->bos_id_ = data.bos_id;
  t->eos_id_ = data.eos_id;
  t->pad_id_ = data.pad_id;
  t->unk_id_ = data.unk_id;
  t->byte_fallback_base_ = data.byte_fallback_base;
  t->turn_start_id_ = data.turn_start_id;
  t->turn_end_id_ = data.turn_end_id;
  t->stop_ids_ = data.stop_ids;
  t->add_bos_ = data.add_bos;
  t->chat_template_ = data.chat_template;
  *out = std::move(t);
  return Status::Ok();
}

uint64_t Tokenizer::EstimateHeapBytes(const TokenizerData& data) {
  // Copies of data's pieces and types (all it holds but the merge list), the piece index, and a merge
  // table of at most one entry per merge.
  return data.HeapBytes() - data.merges.size() * sizeof(data.merges[0]) +
         PieceIndexSlots(data.pieces.size()) * sizeof(IndexSlot) + (data.pieces.size() + 1) * sizeof(uint32_t) +
         data.merges.size() * sizeof(Merge);
}

void Tokenizer::BuildPieceIndex() {
  const size_t slots = PieceIndexSlots(pieces_.size());
  const size_t mask = slots - 1;
  piece_index_.assign(slots, IndexSlot{0, -1});
  for (int id = 0; id < vocab_size(); ++id) {
    const uint32_t hash = HashPiece(pieces_[id]);
    for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
      IndexSlot& entry = piece_index_[slot];
      if (entry.id < 0) entry = IndexSlot{hash, id};
      if (entry.hash == hash && pieces_[entry.id] == pieces_[id]) break;  // a repeated piece keeps its lowest id
    }
  }
}

Status Tokenizer::BuildMerges(const std::vector<std::pair<int, int>>& merges) {
  // Result of every merge (-1: a piece BPE must not produce), then a counting sort by left id.
  const int n = vocab_size();
  std::vector<int> results(merges.size());
  merge_begin_.assign(n + 1, 0);
  std::string joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto [left, right] = merges[rank];
    joined = pieces_[left];
    joined += pieces_[right];
    const int result = PieceToId(joined);
    if (result < 0)
      return CorruptModel("tokenizer merge " + std::to_string(rank) + " (" + pieces_[left] + " + " + pieces_[right] +
                          ") does not produce a piece");
    results[rank] = IsBpeType(types_[result]) ? result : -1;
    if (results[rank] >= 0) ++merge_begin_[left + 1];
  }
  for (int id = 0; id < n; ++id) merge_begin_[id + 1] += merge_begin_[id];
  merges_.resize(merge_begin_[n]);
  std::vector<uint32_t> row_end(merge_begin_.begin(), merge_begin_.end() - 1);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    if (results[rank] < 0) continue;
    const auto [left, right] = merges[rank];
    merges_[row_end[left]++] = Merge{right, static_cast<int>(rank), results[rank]};
  }
  for (int id = 0; id < n; ++id)  // stable: a repeated pair keeps its lowest rank first
    std::stable_sort(merges_.begin() + merge_begin_[id], merges_.begin() + merge_begin_[id + 1],
                     [](const Merge& a, const Merge& b) { return a.right < b.right; });
  return Status::Ok();
}

void Tokenizer::BuildAtomicTrie() {
  atomic_ids_.assign(1, -1);  // the root
  for (int id = 0; id < vocab_size(); ++id) {
    const std::string& piece = pieces_[id];
    if ((types_[id] != PieceType::Control && types_[id] != PieceType::UserDefined) || piece.empty()) continue;
    uint64_t node = 0;
    for (unsigned char byte : piece) {
      const auto [edge, added] = atomic_edges_.emplace(node << 8 | byte, static_cast<int>(atomic_ids_.size()));
      if (added) atomic_ids_.push_back(-1);
      node = edge->second;
    }
    if (atomic_ids_[node] < 0) atomic_ids_[node] = id;  // a repeated piece keeps its lowest id
  }
}

std::string_view Tokenizer::piece(int id) const { return InRange(id) ? std::string_view(pieces_[id]) : ""; }

int Tokenizer::PieceToId(std::string_view piece) const {
  const uint32_t hash = HashPiece(piece);
  const size_t mask = piece_index_.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const IndexSlot& entry = piece_index_[slot];
    if (entry.id < 0) return -1;
    if (entry.hash == hash && pieces_[entry.id] == piece) return entry.id;
  }
}

bool Tokenizer::IsStop(int id) const { return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end(); }

const Tokenizer::Merge* Tokenizer::FindMerge(int left, int right) const {
  const auto first = merges_.begin() + merge_begin_[left], last = merges_.begin() + merge_begin_[left + 1];
  const auto merge =
      std::lower_bound(first, last, right, [](const Merge& m, int wanted) { return m.right < wanted; });
  return merge != last && merge->right == right ? &*merge : nullptr;
}

int Tokenizer::SymbolId(std::string_view text) const {
  const int id = PieceToId(text);
  return id >= 0 && IsBpeType(types_[id]) ? id : -1;
}

size_t Tokenizer::MatchAtomic(std::string_view text, size_t pos, int* id) const {
  size_t longest = 0;
  uint64_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto edge = atomic_edges_.find(node << 8 | static_cast<unsigned char>(text[i]));
    if (edge == atomic_edges_.end()) break;
    node = edge->second;
    if (atomic_ids_[node] >= 0) {
      longest = i + 1 - pos;
      *id = atomic_ids_[node];
    }
  }
  return longest;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | code_point >> 6));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | code_point >> 12));
    out->push_back(static_cast<char>(0x80 | (code_point >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | code_point >> 18));
    out->push_back(static_cast<char>(0x80 | (code_point >> 12 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point >> 6 & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

Status ValidateUtf8(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    bool truncated;
    const size_t length = Utf8CharLength(text, pos, &truncated);
    if (length == 0) return InvalidArgument("text is not valid UTF-8 at byte offset " + std::to_string(pos));
    pos += length;
  }
  return Status::Ok();
}

Status Tokenizer::Encode(std::string_view text, const EncodeOptions& options, std::vector<int>* ids) const {
  EDGELM_RETURN_IF_ERROR(ValidateUtf8(text));
  ids->clear();
  const bool add_bos = options.add_bos && bos_id_ >= 0;
  if (add_bos) ids->push_back(bos_id_);
  size_t chunk_start = 0;
  if (options.parse_special && !atomic_edges_.empty()) {
    for (size_t pos = 0; pos < text.size();) {
      int id;
      const size_t length = MatchAtomic(text, pos, &id);
      if (length == 0) {
        ++pos;
        continue;
      }
      EncodeChunk(text.substr(chunk_start, pos - chunk_start), ids);
      ids->push_back(id);
      pos += length;
      chunk_start = pos;
    }
  }
  EncodeChunk(text.substr(chunk_start), ids);
  // A text that starts with its own BOS piece keeps only that one.
  if (add_bos && ids->size() >= 2 && (*ids)[1] == bos_id_) ids->erase(ids->begin());
  return Status::Ok();
}

void Tokenizer::EncodeChunk(std::string_view chunk, std::vector<int>* ids) const {
  if (chunk.empty()) return;
  // One symbol per code point in a doubly linked list; a merge folds the right symbol into the left one.
  constexpr int kMergedAway = -2;
  struct Symbol {
    int id;  // -1: no piece (byte fallback), kMergedAway: folded into its left neighbour
    int prev;
    int next;
    uint32_t offset;  // of the code point in `chunk`, for byte fallback
    uint32_t length;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(chunk.size());
  for (size_t pos = 0; pos < chunk.size();) {
    bool truncated;
    const size_t length = Utf8CharLength(chunk, pos, &truncated);  // valid: Encode checked the text
    const std::string_view character = chunk.substr(pos, length);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({SymbolId(character == " " ? kSpaceMark : character), index - 1, index + 1,
                       static_cast<uint32_t>(pos), static_cast<uint32_t>(length)});
    pos += length;
  }
  symbols.back().next = -1;

  // Candidate merges ordered by rank, then leftmost; entries made stale by earlier merges are skipped.
  struct Candidate {
    int rank;
    int left;
    int right;
    int left_id;
    int right_id;
    int result;
  };
  const auto after = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  };
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(after)> queue(after);
  const auto consider = [&](int left) {
    if (left < 0) return;
    const int right = symbols[left].next;
    if (right < 0) return;
    const int left_id = symbols[left].id, right_id = symbols[right].id;
    if (left_id < 0 || right_id < 0) return;
    if (const Merge* merge = FindMerge(left_id, right_id))
      queue.push({merge->rank, left, right, left_id, right_id, merge->result});
  };
  for (int i = 0; i < static_cast<int>(symbols.size()); ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    if (left.id != c.left_id || left.next != c.right || right.id != c.right_id) continue;
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = kMergedAway;
    consider(left.prev);
    consider(c.left);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) {  // symbol 0 is never merged away
    const Symbol& symbol = symbols[i];
    if (symbol.id >= 0) {
      ids->push_back(symbol.id);
    } else if (byte_fallback_base_ < 0) {
      ids->push_back(unk_id_);
    } else {
      std::string_view bytes = chunk.substr(symbol.offset, symbol.length);
      if (bytes == " ") bytes = kSpaceMark;
      for (unsigned char byte : bytes) ids->push_back(byte_fallback_base_ + byte);
    }
  }
}

Status Tokenizer::AppendPieceBytes(int id, const DecodeOptions& options, std::string* bytes) const {
  if (!InRange(id))
    return OutOfRange("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                      std::to_string(vocab_size()) + ")");
  if (options.skip_control && types_[id] == PieceType::Control) return Status::Ok();
  if (byte_fallback_base_ >= 0 && id >= byte_fallback_base_ && id < byte_fallback_base_ + 256) {
    bytes->push_back(static_cast<char>(id - byte_fallback_base_));
    return Status::Ok();
  }
  const std::string_view piece = pieces_[id];
  for (size_t pos = 0;;) {
    const size_t mark = piece.find(kSpaceMark, pos);
    bytes->append(piece.substr(pos, mark - pos));
    if (mark == std::string_view::npos) break;
    bytes->push_back(' ');
    pos = mark + kSpaceMark.size();
  }
  return Status::Ok();
}

Status Tokenizer::Decode(const std::vector<int>& ids, const DecodeOptions& options, std::string* text) const {
  std::string bytes;
  for (int id : ids) EDGELM_RETURN_IF_ERROR(AppendPieceBytes(id, options, &bytes));
  text->clear();
  AppendValidUtf8(bytes, /*end_of_stream=*/true, text);
  return Status::Ok();
}

Status TokenStreamDecoder::Push(int id, std::string* text) {
  text->clear();
  EDGELM_RETURN_IF_ERROR(tokenizer_.AppendPieceBytes(id, options_, &pending_));
  pending_.erase(0, AppendValidUtf8(pending_, /*end_of_stream=*/false, text));
  return Status::Ok();
}

std::string TokenStreamDecoder::Flush() {
  std::string text;
  AppendValidUtf8(pending_, /*end_of_stream=*/true, &text);
  pending_.clear();
  return text;
}

}  // namespace edgelm
