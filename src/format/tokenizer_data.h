// The tokenizer as stored in a model file: pieces, piece types and BPE merges in rank order.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "edgelm_generated.h"

namespace edgelm {

using schema::PieceType;

struct TokenizerData {
  std::vector<std::string> pieces;            // id -> piece (U+2581 for spaces)
  std::vector<PieceType> types;               // parallel to pieces
  std::vector<std::pair<int, int>> merges;    // rank order: (left id, right id) -> piece left+right
  int bos_id = -1;
  int eos_id = -1;
  int pad_id = -1;
  int unk_id = -1;
  std::vector<int> stop_ids;
  int byte_fallback_base = -1;                // id of <0x00>
  bool add_bos = true;
  std::string chat_template;                  // "gemma4" = the built-in Gemma 4 turn template
  int turn_start_id = -1;
  int turn_end_id = -1;

  // Ids in range, merge results present in the vocabulary, byte pieces contiguous.
  Status Validate() const;
  // Heap bytes this object holds (an upper bound: short pieces live inside their string object).
  uint64_t HeapBytes() const;
};

Status TokenizerFromSchema(const schema::Tokenizer& t, TokenizerData* out);
flatbuffers::Offset<schema::Tokenizer> TokenizerToSchema(flatbuffers::FlatBufferBuilder& fbb,
                                                         const TokenizerData& t);

}  // namespace edgelm
