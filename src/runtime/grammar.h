// A grammar engine for constrained decoding: a context-free grammar (GBNF-like text) compiled once, a
// per-tokenizer table of what every token spells, and a matcher that tells, at each step of a generation,
// which tokens keep the text a prefix of some sentence of the grammar.
//
// Grammar syntax (the start rule is `root`):
//   name ::= alternatives      a rule; names are [A-Za-z0-9_-]+. A rule may span lines: the next rule
//                              starts where `name ::=` appears. Each name is defined once.
//   # comment                  to the end of the line
//   a b                        sequence;  a | b  alternatives;  ( ... )  grouping; an empty alternative
//                              matches the empty text
//   x*  x+  x?  x{m}  x{m,}  x{m,n}   repetition, counts at most kMaxGrammarRepetition
//   "text"                     literal, UTF-8; escapes \n \r \t \\ \" \' \xHH \uHHHH \UHHHHHHHH
//   [a-z0-9_]  [^"\\]          character class: characters and ranges, ^ negates; the literal escapes plus
//                              \[ \] \- \^
//   .                          any character
//   @"<|tool_call>"            special literal: the control token whose piece is exactly this text if the
//                              vocabulary has one (then that single token, and only it, matches here),
//                              otherwise this text spelled by ordinary tokens
// Matching is over Unicode code points (scalar values: surrogates never match). Left recursion (a rule
// reaching itself before consuming input, e.g. the repetition of something that can match empty text) is
// refused; right recursion runs in constant stack depth.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"
#include "runtime/tokenizer.h"

namespace edgelm {

constexpr size_t kMaxGrammarTextBytes = 1 << 20;
constexpr size_t kMaxGrammarElements = 100000;  // after repetitions are expanded
constexpr int kMaxGrammarRepetition = 10000;

// Compiled grammar: immutable after Parse, shareable across threads.
class Grammar {
 public:
  // The start rule is `root`. kInvalidArgument naming line:column for syntax errors, undefined or
  // redefined rules, left recursion, a missing root, and text or element counts above the limits.
  static Status Parse(std::string_view text, std::unique_ptr<Grammar>* out);

  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;

 private:
  friend class GrammarParser;
  friend class GrammarMatcher;

  enum class ElementKind : uint8_t {
    kEnd,      // end of an alternative
    kChars,    // one code point of classes_[value]
    kRule,     // rules_[value]
    kSpecial,  // specials_[value]
  };
  struct Element {
    ElementKind kind;
    int32_t value;
  };
  struct Special {
    std::string text;
    int32_t fallback_rule;  // the text as ordinary characters, used when the vocabulary has no such control token
  };
  struct CodePointRange {
    uint32_t first, last;  // inclusive
  };

  Grammar() = default;
  bool ClassContains(int class_index, uint32_t code_point) const;
  bool ClassIntersects(int class_index, uint32_t first, uint32_t last) const;
  bool ClassContainsRange(int class_index, uint32_t first, uint32_t last) const;

  // Every alternative of every rule, each ended by kEnd; a grammar position is an index here.
  std::vector<Element> elements_;
  // Rule r's alternatives start at elements_[alternative_starts_[k]] for k in
  // [rule_alternatives_[r], rule_alternatives_[r + 1]).
  std::vector<int32_t> rule_alternatives_;
  std::vector<int32_t> alternative_starts_;
  // Class c is ranges_[class_ranges_[c] .. class_ranges_[c + 1]), sorted, disjoint, without surrogates.
  std::vector<int32_t> class_ranges_;
  std::vector<CodePointRange> ranges_;
  std::vector<Special> specials_;
  int32_t root_rule_ = 0;
};

// What every token of a tokenizer spells, as the grammar sees it, precomputed once per tokenizer
// (immutable, shareable across threads): the bytes of each text token (U+2581 -> space, byte pieces ->
// that byte) in a byte trie for masking, and the control tokens by piece text. Control tokens, the unknown
// token and tokens spelling nothing are not in the trie: only a special literal can match them.
class GrammarVocabulary {
 public:
  static Status Create(const Tokenizer& tokenizer, std::unique_ptr<GrammarVocabulary>* out);
  // The one vocabulary of `tokenizer` while anything holds it: sessions of a model share one (15.6 MB
  // for Gemma's 262k vocabulary) instead of building their own. Thread-safe. The tokenizer must outlive
  // every holder (as it outlives the sessions that use it).
  static Status Shared(const Tokenizer& tokenizer, std::shared_ptr<const GrammarVocabulary>* out);
  uint64_t heap_bytes() const;

  int vocab_size() const { return vocab_size_; }
  // Id of the control token whose piece is `text`, or -1.
  int ControlTokenId(std::string_view text) const;

 private:
  friend class GrammarMatcher;
  // Bytes by category, so a walk can take a whole subtree at once when the state loops on every byte
  // below it (e.g. inside a JSON string). kNonAscii stands for whole UTF-8 characters; kInvalidUtf8 marks
  // paths of tokens that are not valid UTF-8 and is never looped on.
  enum ByteCategory : uint16_t {
    kLower = 1 << 0, kUpper = 1 << 1, kDigit = 1 << 2, kSpace = 1 << 3, kQuote = 1 << 4, kBackslash = 1 << 5,
    kControl = 1 << 6, kComma = 1 << 7, kColon = 1 << 8, kBrace = 1 << 9, kBracket = 1 << 10,
    kAngleOrBar = 1 << 11, kOtherPunctuation = 1 << 12, kNonAscii = 1 << 13, kInvalidUtf8 = 1 << 14,
  };
  static constexpr int kAsciiCategoryCount = 13;
  static uint16_t CategoryOf(uint8_t byte);

  // Trie nodes in preorder (children by increasing byte), the root excluded: a node's subtree is
  // [index, subtree_end). Sorting the tokens by their bytes puts those ending at node i in
  // sorted_tokens_[token_begin .. next node's token_begin), and those of its subtree in
  // sorted_tokens_[token_begin .. token_begin of node subtree_end).
  struct TrieNode {
    uint8_t byte;
    uint16_t depth;  // 1 for children of the root
    uint16_t below_categories;  // categories of every byte strictly below this node
    int32_t subtree_end;
    int32_t token_begin;
  };

  GrammarVocabulary() = default;
  // The bytes token `id` spells; empty for tokens outside the trie.
  std::string_view TokenBytes(int id) const;

  int vocab_size_ = 0;
  std::vector<TrieNode> trie_;
  std::vector<int32_t> sorted_tokens_;
  std::vector<int32_t> outside_trie_;  // ids spelling nothing: control and unknown tokens
  // Token id's bytes are token_text_[token_offsets_[id] .. token_offsets_[id + 1]).
  std::string token_text_;
  std::vector<uint32_t> token_offsets_;
  std::unordered_map<std::string, int> control_ids_;
  uint16_t max_depth_ = 0;
};

// The state of one generation against a grammar: a set of parse stacks, advanced one token at a time.
// States reached are cached as a lazily built byte automaton (up to kMaxCachedStates between tokens,
// 1 KiB of transitions each, then rebuilt from the current state), so a state that recurs costs array
// look-ups. Not thread-safe, including the const methods (they fill that cache). The grammar and the
// vocabulary must outlive the matcher.
class GrammarMatcher {
 public:
  GrammarMatcher(const Grammar& grammar, const GrammarVocabulary& vocabulary);

  // Would `id` keep the text a prefix of a sentence of the grammar? Microseconds: one automaton step
  // per byte of the token. False for ids outside the vocabulary.
  bool AcceptsToken(int id) const;
  // Sets logits[id] = -INFINITY for every id in [0, vocab) AcceptsToken rejects: among them every control
  // token (stop tokens included) the grammar does not name by a special literal, and every id outside the
  // tokenizer's vocabulary. Other logits are left as they are. One walk over the vocabulary trie with
  // prefixes shared; subtrees that die or that the state loops on throughout are not entered (262k
  // Gemma tokens inside a JSON string: ~26k nodes).
  void MaskLogits(float* logits, int vocab) const;
  // How many of ids[0 .. count), taken in order from here, the grammar accepts (the state is left as
  // it is): the tokens a speculative draft may keep, since a refused one is never sampled.
  int AcceptedPrefix(const int* ids, int count) const;
  // Advances past `id`; kInvalidArgument (state unchanged) if AcceptsToken(id) is false.
  Status AcceptToken(int id);
  // The text so far is a complete sentence of `root` (no character left unfinished).
  bool CanEnd() const;
  // Complete, and nothing may follow.
  bool MustEnd() const;

 private:
  // A parse stack: the grammar position of the next terminal (kChars or a kSpecial resolved to a token)
  // and the interned frames below it, or the accepted stack (position kAccepted, no frames).
  struct Stack {
    int32_t position;
    int32_t frames;  // index into frames_, -1: none
    bool operator<(const Stack& o) const { return position != o.position ? position < o.position : frames < o.frames; }
    bool operator==(const Stack& o) const { return position == o.position && frames == o.frames; }
  };
  // Where a rule returns to: a grammar position after a rule reference (never kEnd) and the frames below.
  struct Frame {
    int32_t position;
    int32_t below;
  };
  // A UTF-8 character begun but not finished: the bits so far and what is missing. When every stack
  // accepts every character these bytes can still become, the bits no longer matter and become
  // kAnyCharacter, so the states of all such prefixes are one.
  static constexpr uint32_t kAnyCharacter = 0xFFFFFFFF;
  struct PartialChar {
    uint32_t bits = 0;
    uint8_t missing = 0;  // continuation bytes still to come; 0: at a character boundary
    uint8_t length = 0;   // total bytes of the character
    bool operator==(const PartialChar& o) const {
      return bits == o.bits && missing == o.missing && length == o.length;
    }
  };
  struct State {
    std::vector<Stack> stacks;  // sorted, unique; empty: dead
    PartialChar partial;
  };

  static constexpr int32_t kAccepted = -1;
  static constexpr int32_t kDeadState = 0;
  static constexpr int32_t kUnknownTransition = -1;
  static constexpr uint16_t kUnknownLoop = 0xFFFF;
  // Past these the cache is rebuilt from the current state after a token (a state costs 1 KiB of
  // transitions; a frame 8 bytes plus its index entry).
  static constexpr size_t kMaxCachedStates = 4096;
  static constexpr size_t kMaxCachedFrames = 1 << 18;

  int32_t StartState() const;
  int32_t InternFrame(int32_t position, int32_t below) const;
  int32_t InternState(State state) const;
  // Appends to *out the stacks that continue from grammar position `position` over `frames` once every
  // rule reference and finished alternative is resolved.
  void Expand(int32_t position, int32_t frames, std::vector<Stack>* out) const;
  int32_t Step(int32_t state, uint8_t byte) const {
    const int32_t next = transitions_[static_cast<size_t>(state) * 256 + byte];
    return next != kUnknownTransition ? next : ComputeStep(state, byte);
  }
  int32_t ComputeStep(int32_t state, uint8_t byte) const;
  // The state after control token `id` (kDeadState if no stack waits for it).
  int32_t StepControl(int32_t state, int id) const;
  // The byte categories (GrammarVocabulary::ByteCategory) on which `state` steps to itself, computed once.
  uint16_t LoopCategories(int32_t state) const;
  int32_t StateAfterToken(int32_t state, int id) const;
  // Drops the cache when it has grown past its limits, keeping only the current state.
  void TrimCache();

  const Grammar& grammar_;
  const GrammarVocabulary& vocabulary_;
  std::vector<int32_t> special_tokens_;  // by special literal: its control token id, or -1

  int32_t current_ = kDeadState;
  // The cache: interned frames and states, and transitions_[state * 256 + byte].
  mutable std::vector<Frame> frames_;
  mutable std::unordered_map<uint64_t, int32_t> frame_index_;
  mutable std::vector<State> states_;
  mutable std::unordered_map<std::string, int32_t> state_index_;
  mutable std::vector<int32_t> transitions_;
  mutable std::vector<uint16_t> loop_categories_;  // by state; kUnknownLoop until computed
  // Scratch for MaskLogits.
  mutable std::vector<int32_t> walk_states_;
  mutable std::vector<std::pair<int32_t, int32_t>> allowed_ranges_;  // [first, end) of sorted_tokens_
  mutable std::vector<int32_t> allowed_specials_;
  mutable std::vector<std::pair<int32_t, float>> saved_logits_;
};

}  // namespace edgelm
