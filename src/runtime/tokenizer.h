// Gemma SentencePiece-style BPE tokenizer: raw-text special-token split, spaces -> U+2581, merges by
// rank over Unicode code points, byte fallback. Encodes UTF-8 text to token ids and decodes back.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "format/tokenizer_data.h"

namespace edgelm {

// InvalidArgument naming the byte offset of the first byte that is not part of a valid UTF-8
// character (overlong forms, surrogates and code points above U+10FFFF included).
Status ValidateUtf8(std::string_view text);
// Appends the UTF-8 encoding of `code_point` (a Unicode scalar value) to *out.
void AppendUtf8(uint32_t code_point, std::string* out);

struct EncodeOptions {
  // Prepend bos_id. Never doubled: if the text itself starts with the BOS piece (parse_special), it is kept once.
  bool add_bos = false;
  // Match Control and UserDefined pieces (e.g. "<|turn>") atomically in the raw text. Off for untrusted
  // text: then such strings are tokenized as plain characters and can never become control tokens.
  bool parse_special = false;
};

struct DecodeOptions {
  bool skip_control = false;  // drop Control pieces (bos, turn markers, ...) instead of printing their text
};

// Immutable after Create: every method is const and safe to call from several threads at once.
class Tokenizer {
 public:
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Copies what it needs from `data` (which may be freed afterwards). Fails on invalid data: merges whose
  // result is not a piece, or a vocabulary with neither byte fallback nor an unknown piece.
  static Status Create(const TokenizerData& data, std::unique_ptr<Tokenizer>* out);
  // Heap bytes Create(data) will hold (pieces, piece index, merge table), estimated before building.
  static uint64_t EstimateHeapBytes(const TokenizerData& data);

  // Replaces *ids (not appends) with the tokens of `text`, which must be valid UTF-8 (else kInvalidArgument
  // naming the byte offset). O(n log n) in the text length.
  Status Encode(std::string_view text, const EncodeOptions& options, std::vector<int>* ids) const;

  // Replaces *text with the decoded ids: U+2581 -> space, <0xNN> runs reassembled, every byte that does
  // not form valid UTF-8 -> U+FFFD. An id outside [0, vocab_size()) gives kOutOfRange.
  Status Decode(const std::vector<int>& ids, const DecodeOptions& options, std::string* text) const;

  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  // The piece text (U+2581 for spaces); empty for an id out of range.
  std::string_view piece(int id) const;
  // Id of `piece` (the lowest id if the vocabulary spells it twice), or -1.
  int PieceToId(std::string_view piece) const;
  bool IsControl(int id) const { return InRange(id) && types_[id] == PieceType::Control; }
  bool IsStop(int id) const;
  // The same pieces with the same ids and types (a draft model may then guess this one's tokens).
  bool SameVocabulary(const Tokenizer& other) const { return pieces_ == other.pieces_ && types_ == other.types_; }

  int bos_id() const { return bos_id_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  int unk_id() const { return unk_id_; }
  int turn_start_id() const { return turn_start_id_; }
  int turn_end_id() const { return turn_end_id_; }
  const std::vector<int>& stop_ids() const { return stop_ids_; }
  bool add_bos_by_default() const { return add_bos_; }
  const std::string& chat_template() const { return chat_template_; }

 private:
  friend class TokenStreamDecoder;
  struct Merge {
    int right;  // id of the right piece (the left one is the CSR row)
    int rank;   // position in the merge list: lower merges first
    int result;
  };
  struct IndexSlot {
    uint32_t hash;
    int id;  // -1: empty
  };

  Tokenizer() = default;
  void BuildPieceIndex();
  Status BuildMerges(const std::vector<std::pair<int, int>>& merges);  // fails on a merge without a result piece
  void BuildAtomicTrie();
  bool InRange(int id) const { return id >= 0 && id < vocab_size(); }
  // The merge of the pair (left, right), or null.
  const Merge* FindMerge(int left, int right) const;
  // Id a BPE symbol may take for `text`: Normal/UserDefined pieces only, so BPE never yields control tokens.
  int SymbolId(std::string_view text) const;
  // Longest atomic (Control/UserDefined) piece starting at text[pos]: its byte length, or 0.
  size_t MatchAtomic(std::string_view text, size_t pos, int* id) const;
  // BPE on one chunk without atomic pieces; appends to *ids.
  void EncodeChunk(std::string_view chunk, std::vector<int>* ids) const;
  // Appends the raw bytes of `id` to *bytes (a byte piece as that byte; nothing for a skipped control);
  // kOutOfRange for an id outside the vocabulary.
  Status AppendPieceBytes(int id, const DecodeOptions& options, std::string* bytes) const;

  std::vector<std::string> pieces_;
  std::vector<PieceType> types_;
  // Piece -> lowest id, open addressing with linear probing: a flat table builds and probes several times
  // faster than std::unordered_map for 262k pieces. Size is a power of two, at least twice the vocabulary.
  std::vector<IndexSlot> piece_index_;
  // Merges by left id, compact for the 515k Gemma merges: merges_[merge_begin_[left] .. merge_begin_[left + 1])
  // sorted by right id, lowest rank first among equal pairs.
  std::vector<uint32_t> merge_begin_;
  std::vector<Merge> merges_;
  // Byte trie of the atomic pieces: edge key is node << 8 | byte; atomic_ids_[node] is the piece ending there.
  std::unordered_map<uint64_t, int> atomic_edges_;
  std::vector<int> atomic_ids_;
  int bos_id_ = -1;
  int eos_id_ = -1;
  int pad_id_ = -1;
  int unk_id_ = -1;
  int byte_fallback_base_ = -1;
  int turn_start_id_ = -1;
  int turn_end_id_ = -1;
  std::vector<int> stop_ids_;
  bool add_bos_ = false;
  std::string chat_template_;
};

// Incremental decoding for streaming output: emits only complete UTF-8 characters and holds back the start
// of a multi-byte character split across byte tokens. The tokenizer must outlive the decoder.
class TokenStreamDecoder {
 public:
  explicit TokenStreamDecoder(const Tokenizer& tokenizer, const DecodeOptions& options = {})
      : tokenizer_(tokenizer), options_(options) {}

  // Replaces *text with the characters completed by `id` (often empty while a character is incomplete).
  Status Push(int id, std::string* text);
  // Ends the stream: returns held-back bytes (an unfinished character) as U+FFFD and resets.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  DecodeOptions options_;
  std::string pending_;  // bytes received but not yet emitted
};

}  // namespace edgelm
