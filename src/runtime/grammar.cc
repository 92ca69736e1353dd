#include "runtime/grammar.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <unordered_set>

namespace edgelm {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr uint32_t kSurrogateFirst = 0xD800;
constexpr uint32_t kSurrogateLast = 0xDFFF;
constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581, stands for ' ' in pieces

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Decodes the (already validated) UTF-8 character at text[*pos] and moves past it.
uint32_t DecodeUtf8(std::string_view text, size_t* pos) {
  const auto lead = static_cast<unsigned char>(text[*pos]);
  const size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  uint32_t code_point = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t k = 1; k < length; ++k) code_point = code_point << 6 | (static_cast<unsigned char>(text[*pos + k]) & 0x3F);
  *pos += length;
  return code_point;
}

// The smallest code point a UTF-8 character of `length` bytes may encode (shorter forms are overlong).
uint32_t MinCodePointOfLength(int length) {
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  return kMin[length];
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Parsing

// Builds a Grammar from text: rules are collected as drafts (alternatives of elements, rule references by
// id), repetitions and groups become generated rules, then drafts are checked (undefined rules, left
// recursion) and flattened.
class GrammarParser {
 public:
  GrammarParser(std::string_view text, Grammar* grammar) : text_(text), grammar_(grammar) {}

  Status Parse() {
    if (text_.size() > kMaxGrammarTextBytes)
      return InvalidArgument("grammar text is " + std::to_string(text_.size()) + " bytes, more than the limit of " +
                             std::to_string(kMaxGrammarTextBytes));
    const Status utf8 = ValidateUtf8(text_);
    if (!utf8.ok()) return InvalidArgument("grammar text: " + utf8.message());
    SkipSpace();
    while (pos_ < text_.size()) {
      const size_t rule_start = pos_;
      std::string name = ParseName();
      if (name.empty()) return Error("expected a rule name");
      SkipSpace();
      if (text_.substr(pos_, 3) != "::=") return Error("expected '::=' after the rule name '" + name + "'");
      pos_ += 3;
      const int rule = RuleId(name, rule_start);
      if (drafts_[rule].defined) return ErrorAt(rule_start, "rule '" + name + "' is defined twice");
      drafts_[rule].defined = true;
      drafts_[rule].position = rule_start;
      std::vector<std::vector<Grammar::Element>> alternatives;
      EDGELM_RETURN_IF_ERROR(ParseAlternatives(/*nested=*/false, &alternatives));
      drafts_[rule].alternatives = std::move(alternatives);
    }
    if (drafts_.empty()) return ErrorAt(0, "the grammar has no rules");
    for (const RuleDraft& draft : drafts_)
      if (!draft.defined) return ErrorAt(draft.position, "rule '" + draft.name + "' is used but not defined");
    const auto root = rule_ids_.find("root");
    if (root == rule_ids_.end()) return ErrorAt(0, "the grammar has no 'root' rule");
    EDGELM_RETURN_IF_ERROR(CheckLeftRecursion());
    Flatten(root->second);
    return Status::Ok();
  }

 private:
  using Element = Grammar::Element;
  using Kind = Grammar::ElementKind;
  using Sequence = std::vector<Element>;

  struct RuleDraft {
    std::string name;  // empty for rules generated from groups, repetitions and special literals
    size_t position = 0;  // where it is defined (generated: written), or first used while undefined
    bool defined = false;
    std::vector<Sequence> alternatives;
  };

  Status ErrorAt(size_t offset, const std::string& what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) {
        ++column;
      }
    }
    return InvalidArgument("grammar " + std::to_string(line) + ":" + std::to_string(column) + ": " + what);
  }
  Status Error(const std::string& what) const { return ErrorAt(pos_, what); }

  void SkipSpace() {
    while (pos_ < text_.size()) {
      if (IsSpace(text_[pos_])) {
        ++pos_;
      } else if (text_[pos_] == '#') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  std::string ParseName() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }
  // Whether a `name ::=` (the next rule) starts at pos_.
  bool AtRuleStart() const {
    size_t p = pos_;
    while (p < text_.size() && IsNameChar(text_[p])) ++p;
    if (p == pos_) return false;
    while (p < text_.size() && IsSpace(text_[p])) ++p;
    return text_.substr(p, 3) == "::=";
  }

  int RuleId(const std::string& name, size_t position) {
    const auto it = rule_ids_.find(name);
    if (it != rule_ids_.end()) return it->second;
    drafts_.push_back(RuleDraft{name, position, false, {}});
    rule_ids_.emplace(name, static_cast<int>(drafts_.size() - 1));
    return static_cast<int>(drafts_.size() - 1);
  }
  int NewRule(size_t position, std::vector<Sequence> alternatives) {
    drafts_.push_back(RuleDraft{"", position, true, std::move(alternatives)});
    return static_cast<int>(drafts_.size() - 1);
  }

  Status CountElements(size_t added) {
    element_count_ += added;
    if (element_count_ > kMaxGrammarElements)
      return Error("the grammar needs more than " + std::to_string(kMaxGrammarElements) + " elements");
    return Status::Ok();
  }
  Status Push(Sequence* sequence, Element element) {
    EDGELM_RETURN_IF_ERROR(CountElements(1));
    sequence->push_back(element);
    return Status::Ok();
  }

  Status ParseAlternatives(bool nested, std::vector<Sequence>* alternatives) {
    alternatives->assign(1, Sequence());
    for (;;) {
      SkipSpace();
      if (pos_ == text_.size()) break;
      const char c = text_[pos_];
      if (c == '|') {
        ++pos_;
        alternatives->emplace_back();
      } else if (c == ')') {
        if (nested) break;
        return Error("')' without a matching '('");
      } else if (AtRuleStart()) {
        break;
      } else {
        EDGELM_RETURN_IF_ERROR(ParseItem(&alternatives->back()));
      }
    }
    return Status::Ok();
  }

  Status ParseItem(Sequence* sequence) {
    const size_t item_start = pos_;
    const size_t first = sequence->size();
    const char c = text_[pos_];
    if (c == '"') {
      std::vector<uint32_t> code_points;
      EDGELM_RETURN_IF_ERROR(ParseLiteral(&code_points));
      for (uint32_t code_point : code_points) EDGELM_RETURN_IF_ERROR(Push(sequence, CharElement(code_point, code_point)));
    } else if (c == '@') {
      ++pos_;
      if (pos_ == text_.size() || text_[pos_] != '"') return Error("expected '\"' after '@'");
      std::vector<uint32_t> code_points;
      EDGELM_RETURN_IF_ERROR(ParseLiteral(&code_points));
      if (code_points.empty()) return ErrorAt(item_start, "empty special literal");
      EDGELM_RETURN_IF_ERROR(PushSpecial(item_start, code_points, sequence));
    } else if (c == '[') {
      std::vector<Grammar::CodePointRange> ranges;
      bool negated = false;
      EDGELM_RETURN_IF_ERROR(ParseClass(&ranges, &negated));
      EDGELM_RETURN_IF_ERROR(Push(sequence, ClassElement(std::move(ranges), negated)));
    } else if (c == '.') {
      ++pos_;
      EDGELM_RETURN_IF_ERROR(Push(sequence, CharElement(0, kMaxCodePoint)));
    } else if (c == '(') {
      ++pos_;
      std::vector<Sequence> alternatives;
      EDGELM_RETURN_IF_ERROR(ParseAlternatives(/*nested=*/true, &alternatives));
      if (pos_ == text_.size()) return ErrorAt(item_start, "'(' without a matching ')'");
      ++pos_;
      EDGELM_RETURN_IF_ERROR(Push(sequence, {Kind::kRule, NewRule(item_start, std::move(alternatives))}));
    } else if (IsNameChar(c)) {
      const std::string name = ParseName();
      EDGELM_RETURN_IF_ERROR(Push(sequence, {Kind::kRule, RuleId(name, item_start)}));
    } else {
      return Error(std::string("unexpected character '") + c + "'");
    }
    return ParsePostfix(item_start, first, sequence);
  }

  // A postfix operator applies to the elements the item appended at sequence[first..].
  Status ParsePostfix(size_t item_start, size_t first, Sequence* sequence) {
    if (pos_ == text_.size()) return Status::Ok();
    const size_t operator_start = pos_;
    int min_count = 0, max_count = -1;  // -1: unbounded
    switch (text_[pos_]) {
      case '*': ++pos_; break;
      case '+': ++pos_; min_count = 1; break;
      case '?': ++pos_; max_count = 1; break;
      case '{': EDGELM_RETURN_IF_ERROR(ParseCounts(&min_count, &max_count)); break;
      default: return Status::Ok();
    }
    if (pos_ < text_.size() && (text_[pos_] == '*' || text_[pos_] == '+' || text_[pos_] == '?' || text_[pos_] == '{'))
      return Error("repeated repetition operator: group the item first");
    if (sequence->size() == first) return ErrorAt(operator_start, "nothing to repeat (the item matches only empty text)");
    Element item = (*sequence)[first];
    if (sequence->size() - first > 1) {
      // A literal of several characters repeats as a whole.
      Sequence whole(sequence->begin() + static_cast<std::ptrdiff_t>(first), sequence->end());
      item = {Kind::kRule, NewRule(item_start, {std::move(whole)})};
    }
    if (sequence->size() - first == 1) --element_count_;  // a wrapped literal's characters stay, in the new rule
    sequence->resize(first);
    const size_t optional_count = max_count < 0 ? 1 : static_cast<size_t>(max_count - min_count);
    EDGELM_RETURN_IF_ERROR(CountElements(static_cast<size_t>(min_count) + 3 * optional_count));
    sequence->insert(sequence->end(), static_cast<size_t>(min_count), item);
    if (max_count < 0) {
      // x* as R ::= x R | (empty): right recursion, constant stack depth.
      const int rule = NewRule(item_start, {});
      drafts_[rule].alternatives = {{item, {Kind::kRule, rule}}, {}};
      sequence->push_back({Kind::kRule, rule});
    } else if (max_count > min_count) {
      // Up to k more as O_k ::= x O_(k-1) | (empty), O_1 ::= x | (empty).
      int inner = NewRule(item_start, {{item}, {}});
      for (int k = 2; k <= max_count - min_count; ++k)
        inner = NewRule(item_start, {{item, {Kind::kRule, inner}}, {}});
      sequence->push_back({Kind::kRule, inner});
    }
    return Status::Ok();
  }

  Status ParseCount(int* count) {
    const size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      value = value * 10 + (text_[pos_] - '0');
      if (value > kMaxGrammarRepetition)
        return ErrorAt(start, "repetition count above the limit of " + std::to_string(kMaxGrammarRepetition));
      ++pos_;
    }
    if (pos_ == start) return Error("expected a repetition count");
    *count = static_cast<int>(value);
    return Status::Ok();
  }
  Status ParseCounts(int* min_count, int* max_count) {
    const size_t start = pos_;
    ++pos_;  // '{'
    EDGELM_RETURN_IF_ERROR(ParseCount(min_count));
    *max_count = *min_count;
    if (pos_ < text_.size() && text_[pos_] == ',') {
      ++pos_;
      *max_count = -1;
      if (pos_ < text_.size() && text_[pos_] != '}') EDGELM_RETURN_IF_ERROR(ParseCount(max_count));
    }
    if (pos_ == text_.size() || text_[pos_] != '}') return Error("expected '}' to close the repetition count");
    ++pos_;
    if (*max_count >= 0 && *max_count < *min_count) return ErrorAt(start, "repetition maximum below its minimum");
    return Status::Ok();
  }

  // One character of a literal or class at pos_ (an escape or a UTF-8 character).
  Status ParseChar(bool in_class, uint32_t* code_point) {
    if (text_[pos_] != '\\') {
      *code_point = DecodeUtf8(text_, &pos_);
      return Status::Ok();
    }
    const size_t escape_start = pos_;
    if (++pos_ == text_.size()) return ErrorAt(escape_start, "unfinished escape");
    const char c = text_[pos_++];
    int hex_digits = 0;
    switch (c) {
      case 'n': *code_point = '\n'; return Status::Ok();
      case 'r': *code_point = '\r'; return Status::Ok();
      case 't': *code_point = '\t'; return Status::Ok();
      case '\\': case '"': case '\'': *code_point = static_cast<uint32_t>(c); return Status::Ok();
      case 'x': hex_digits = 2; break;
      case 'u': hex_digits = 4; break;
      case 'U': hex_digits = 8; break;
      default:
        if (in_class && (c == '[' || c == ']' || c == '-' || c == '^')) {
          *code_point = static_cast<uint32_t>(c);
          return Status::Ok();
        }
        return ErrorAt(escape_start, std::string("unknown escape '\\") + c + "'");
    }
    uint32_t value = 0;
    for (int k = 0; k < hex_digits; ++k, ++pos_) {
      if (pos_ == text_.size()) return ErrorAt(escape_start, "unfinished escape");
      const char h = text_[pos_];
      const int digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (digit < 0) return ErrorAt(escape_start, "escape needs " + std::to_string(hex_digits) + " hex digits");
      value = value << 4 | static_cast<uint32_t>(digit);
    }
    if (value > kMaxCodePoint || (value >= kSurrogateFirst && value <= kSurrogateLast))
      return ErrorAt(escape_start, "escape is not a Unicode scalar value");
    *code_point = value;
    return Status::Ok();
  }

  Status ParseLiteral(std::vector<uint32_t>* code_points) {
    const size_t start = pos_;
    ++pos_;  // '"'
    for (;;) {
      if (pos_ == text_.size()) return ErrorAt(start, "unterminated literal");
      if (text_[pos_] == '"') break;
      uint32_t code_point = 0;
      EDGELM_RETURN_IF_ERROR(ParseChar(/*in_class=*/false, &code_point));
      code_points->push_back(code_point);
    }
    ++pos_;
    return Status::Ok();
  }

  Status ParseClass(std::vector<Grammar::CodePointRange>* ranges, bool* negated) {
    const size_t start = pos_;
    ++pos_;  // '['
    if (pos_ < text_.size() && text_[pos_] == '^') {
      *negated = true;
      ++pos_;
    }
    for (;;) {
      if (pos_ == text_.size()) return ErrorAt(start, "unterminated character class");
      if (text_[pos_] == ']') break;
      const size_t range_start = pos_;
      uint32_t first = 0;
      EDGELM_RETURN_IF_ERROR(ParseChar(/*in_class=*/true, &first));
      uint32_t last = first;
      if (pos_ + 1 < text_.size() && text_[pos_] == '-' && text_[pos_ + 1] != ']') {
        ++pos_;
        EDGELM_RETURN_IF_ERROR(ParseChar(/*in_class=*/true, &last));
        if (last < first) return ErrorAt(range_start, "character range with its end before its start");
      }
      ranges->push_back({first, last});
    }
    ++pos_;
    if (ranges->empty()) return ErrorAt(start, "empty character class");
    return Status::Ok();
  }

  Element CharElement(uint32_t first, uint32_t last) { return ClassElement({{first, last}}, false); }

  // Sorts, merges, negates and removes surrogates; classes with the same ranges share an index.
  Element ClassElement(std::vector<Grammar::CodePointRange> ranges, bool negated) {
    std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Grammar::CodePointRange> merged;
    for (const auto& r : ranges) {
      if (!merged.empty() && r.first <= merged.back().last + 1)
        merged.back().last = std::max(merged.back().last, r.last);
      else
        merged.push_back(r);
    }
    if (negated) {
      std::vector<Grammar::CodePointRange> complement;
      uint32_t next = 0;
      for (const auto& r : merged) {
        if (r.first > next) complement.push_back({next, r.first - 1});
        next = r.last + 1;
      }
      if (next <= kMaxCodePoint) complement.push_back({next, kMaxCodePoint});
      merged = std::move(complement);
    }
    std::vector<Grammar::CodePointRange> scalar;
    for (const auto& r : merged) {
      if (r.last < kSurrogateFirst || r.first > kSurrogateLast) {
        scalar.push_back(r);
        continue;
      }
      if (r.first < kSurrogateFirst) scalar.push_back({r.first, kSurrogateFirst - 1});
      if (r.last > kSurrogateLast) scalar.push_back({kSurrogateLast + 1, r.last});
    }
    std::string key(reinterpret_cast<const char*>(scalar.data()), scalar.size() * sizeof(scalar[0]));
    const auto it = class_ids_.find(key);
    if (it != class_ids_.end()) return {Kind::kChars, it->second};
    if (grammar_->class_ranges_.empty()) grammar_->class_ranges_.push_back(0);
    const auto class_index = static_cast<int32_t>(grammar_->class_ranges_.size()) - 1;
    grammar_->ranges_.insert(grammar_->ranges_.end(), scalar.begin(), scalar.end());
    grammar_->class_ranges_.push_back(static_cast<int32_t>(grammar_->ranges_.size()));
    class_ids_.emplace(std::move(key), class_index);
    return {Kind::kChars, class_index};
  }

  Status PushSpecial(size_t position, const std::vector<uint32_t>& code_points, Sequence* sequence) {
    Sequence spelled;
    std::string text;
    for (uint32_t code_point : code_points) {
      spelled.push_back(CharElement(code_point, code_point));
      AppendUtf8(code_point, &text);
    }
    EDGELM_RETURN_IF_ERROR(CountElements(spelled.size()));
    const int fallback = NewRule(position, {std::move(spelled)});
    grammar_->specials_.push_back({std::move(text), fallback});
    return Push(sequence, {Kind::kSpecial, static_cast<int32_t>(grammar_->specials_.size() - 1)});
  }

  // The rule references reachable from rule r before anything is consumed form a graph; a cycle in it
  // is left recursion, which the matcher's expansion could never finish.
  Status CheckLeftRecursion() {
    const size_t rule_count = drafts_.size();
    // Nullable rules by a worklist: an alternative becomes nullable once all its rule references are.
    std::vector<bool> nullable(rule_count, false);
    std::vector<std::vector<std::pair<int, int>>> uses(rule_count);  // rule -> (rule, alternative) using it
    std::vector<std::vector<int>> pending(rule_count);
    std::vector<int> worklist;
    for (size_t r = 0; r < rule_count; ++r) {
      const auto& alternatives = drafts_[r].alternatives;
      pending[r].assign(alternatives.size(), 0);
      for (size_t a = 0; a < alternatives.size(); ++a) {
        bool terminal = false;
        for (const Element& e : alternatives[a]) terminal |= e.kind != Kind::kRule;
        if (terminal) {
          pending[r][a] = -1;
          continue;
        }
        for (const Element& e : alternatives[a]) {
          uses[e.value].push_back({static_cast<int>(r), static_cast<int>(a)});
          ++pending[r][a];
        }
        if (pending[r][a] == 0 && !nullable[r]) {
          nullable[r] = true;
          worklist.push_back(static_cast<int>(r));
        }
      }
    }
    while (!worklist.empty()) {
      const int r = worklist.back();
      worklist.pop_back();
      for (const auto& [user, alternative] : uses[r]) {
        if (--pending[user][alternative] == 0 && !nullable[user]) {
          nullable[user] = true;
          worklist.push_back(user);
        }
      }
    }
    std::vector<std::vector<int>> left_edges(rule_count);
    for (size_t r = 0; r < rule_count; ++r) {
      for (const Sequence& alternative : drafts_[r].alternatives) {
        for (const Element& e : alternative) {
          if (e.kind != Kind::kRule) break;
          left_edges[r].push_back(e.value);
          if (!nullable[e.value]) break;
        }
      }
    }
    // Iterative depth-first search: 0 unvisited, 1 on the path, 2 done.
    std::vector<uint8_t> color(rule_count, 0);
    std::vector<std::pair<int, size_t>> path;
    for (size_t start = 0; start < rule_count; ++start) {
      if (color[start] != 0) continue;
      path.push_back({static_cast<int>(start), 0});
      color[start] = 1;
      while (!path.empty()) {
        auto& [rule, next_edge] = path.back();
        if (next_edge == left_edges[rule].size()) {
          color[rule] = 2;
          path.pop_back();
          continue;
        }
        const int target = left_edges[rule][next_edge++];
        if (color[target] == 1) {
          const RuleDraft& draft = drafts_[target];
          if (!draft.name.empty())
            return ErrorAt(draft.position, "left recursion: rule '" + draft.name + "' can reach itself before consuming input");
          return ErrorAt(draft.position, "left recursion: this group or repetition can repeat without consuming input");
        }
        if (color[target] == 0) {
          color[target] = 1;
          path.push_back({target, 0});
        }
      }
    }
    return Status::Ok();
  }

  void Flatten(int root) {
    Grammar& g = *grammar_;
    if (g.class_ranges_.empty()) g.class_ranges_.push_back(0);
    g.root_rule_ = root;
    g.rule_alternatives_.push_back(0);
    for (const RuleDraft& draft : drafts_) {
      for (const Sequence& alternative : draft.alternatives) {
        g.alternative_starts_.push_back(static_cast<int32_t>(g.elements_.size()));
        g.elements_.insert(g.elements_.end(), alternative.begin(), alternative.end());
        g.elements_.push_back({Kind::kEnd, 0});
      }
      g.rule_alternatives_.push_back(static_cast<int32_t>(g.alternative_starts_.size()));
    }
  }

  std::string_view text_;
  Grammar* grammar_;
  size_t pos_ = 0;
  size_t element_count_ = 0;
  std::vector<RuleDraft> drafts_;
  std::unordered_map<std::string, int> rule_ids_;
  std::unordered_map<std::string, int32_t> class_ids_;
};

Status Grammar::Parse(std::string_view text, std::unique_ptr<Grammar>* out) {
  std::unique_ptr<Grammar> grammar(new Grammar());
  EDGELM_RETURN_IF_ERROR(GrammarParser(text, grammar.get()).Parse());
  *out = std::move(grammar);
  return Status::Ok();
}

bool Grammar::ClassContains(int class_index, uint32_t code_point) const {
  return ClassContainsRange(class_index, code_point, code_point);
}

bool Grammar::ClassContainsRange(int class_index, uint32_t first, uint32_t last) const {
  const CodePointRange* begin = ranges_.data() + class_ranges_[class_index];
  const CodePointRange* end = ranges_.data() + class_ranges_[class_index + 1];
  const CodePointRange* it = std::lower_bound(begin, end, first, [](const CodePointRange& r, uint32_t v) { return r.last < v; });
  return it != end && it->first <= first && it->last >= last;
}

bool Grammar::ClassIntersects(int class_index, uint32_t first, uint32_t last) const {
  const CodePointRange* begin = ranges_.data() + class_ranges_[class_index];
  const CodePointRange* end = ranges_.data() + class_ranges_[class_index + 1];
  // The first range ending at or after `first`; it intersects if it starts at or before `last`.
  const CodePointRange* it = std::lower_bound(begin, end, first, [](const CodePointRange& r, uint32_t v) { return r.last < v; });
  return it != end && it->first <= last;
}

// ---------------------------------------------------------------------------------------------------------
// Vocabulary

Status GrammarVocabulary::Shared(const Tokenizer& tokenizer, std::shared_ptr<const GrammarVocabulary>* out) {
  static std::mutex mutex;
  static std::unordered_map<const Tokenizer*, std::weak_ptr<const GrammarVocabulary>> shared;
  std::lock_guard<std::mutex> lock(mutex);  // held while building: a second session waits, then shares
  for (auto it = shared.begin(); it != shared.end();) it = it->second.expired() ? shared.erase(it) : std::next(it);
  auto& slot = shared[&tokenizer];
  if ((*out = slot.lock())) return Status::Ok();
  std::unique_ptr<GrammarVocabulary> built;
  EDGELM_RETURN_IF_ERROR(Create(tokenizer, &built));
  *out = std::move(built);
  slot = *out;
  return Status::Ok();
}

Status GrammarVocabulary::Create(const Tokenizer& tokenizer, std::unique_ptr<GrammarVocabulary>* out) {
  std::unique_ptr<GrammarVocabulary> v(new GrammarVocabulary());
  const int vocab = tokenizer.vocab_size();
  v->vocab_size_ = vocab;
  // Byte pieces <0x00>..<0xFF> are consecutive ids (TokenizerData::Validate); each spells its byte.
  int byte_base = tokenizer.PieceToId("<0x00>");
  for (int b = 0; byte_base >= 0 && b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof(piece), "<0x%02X>", b);
    if (tokenizer.piece(byte_base + b) != piece) byte_base = -1;
  }
  v->token_offsets_.assign(static_cast<size_t>(vocab) + 1, 0);
  for (int id = 0; id < vocab; ++id) {
    const std::string_view piece = tokenizer.piece(id);
    if (tokenizer.IsControl(id)) {
      v->control_ids_.emplace(std::string(piece), id);  // keeps the lowest id of a repeated piece
    } else if (byte_base >= 0 && id >= byte_base && id < byte_base + 256) {
      v->token_text_.push_back(static_cast<char>(id - byte_base));
    } else if (id != tokenizer.unk_id()) {
      for (size_t pos = 0;;) {
        const size_t mark = piece.find(kSpaceMark, pos);
        v->token_text_.append(piece.substr(pos, mark - pos));
        if (mark == std::string_view::npos) break;
        v->token_text_.push_back(' ');
        pos = mark + kSpaceMark.size();
      }
    }
    v->token_offsets_[id + 1] = static_cast<uint32_t>(v->token_text_.size());
  }

  std::vector<int32_t>& sorted = v->sorted_tokens_;
  for (int id = 0; id < vocab; ++id) {
    const std::string_view bytes = v->TokenBytes(id);
    if (bytes.empty()) {
      v->outside_trie_.push_back(id);
      continue;
    }
    if (bytes.size() > UINT16_MAX)
      return InvalidArgument("token " + std::to_string(id) + " spells more than " + std::to_string(UINT16_MAX) + " bytes");
    sorted.push_back(id);
  }
  std::sort(sorted.begin(), sorted.end(), [&](int32_t a, int32_t b) {
    const std::string_view x = v->TokenBytes(a), y = v->TokenBytes(b);
    return x != y ? x < y : a < b;
  });
  // Lexicographic order is the trie's preorder: each token adds the nodes of its bytes past the longest
  // prefix it shares with the previous one, and closes the deeper nodes of the previous one.
  std::vector<int32_t> open;  // open[d - 1]: the node at depth d on the current path
  std::vector<uint16_t> own_categories;  // by node: its byte's category, kInvalidUtf8 on invalid paths
  std::string_view previous;
  for (size_t k = 0; k < sorted.size(); ++k) {
    const std::string_view bytes = v->TokenBytes(sorted[k]);
    size_t shared = 0;
    while (shared < previous.size() && shared < bytes.size() && previous[shared] == bytes[shared]) ++shared;
    for (size_t d = shared; d < open.size(); ++d) v->trie_[open[d]].subtree_end = static_cast<int32_t>(v->trie_.size());
    open.resize(shared);
    for (size_t d = shared; d < bytes.size(); ++d) {
      open.push_back(static_cast<int32_t>(v->trie_.size()));
      v->trie_.push_back({static_cast<uint8_t>(bytes[d]), static_cast<uint16_t>(d + 1), 0, 0, static_cast<int32_t>(k)});
      own_categories.push_back(CategoryOf(static_cast<uint8_t>(bytes[d])));
    }
    // A single byte may be part of a character; longer tokens must be whole characters to be taken whole.
    if (bytes.size() > 1 && !ValidateUtf8(bytes).ok())
      for (int32_t node : open) own_categories[node] |= kInvalidUtf8;
    v->max_depth_ = std::max<uint16_t>(v->max_depth_, static_cast<uint16_t>(bytes.size()));
    previous = bytes;
  }
  for (int32_t node : open) v->trie_[node].subtree_end = static_cast<int32_t>(v->trie_.size());
  v->trie_.shrink_to_fit();
  // Children of node i are i + 1, then each previous child's subtree_end, up to i's subtree_end.
  for (auto i = static_cast<int32_t>(v->trie_.size()) - 1; i >= 0; --i) {
    uint16_t below = 0;
    for (int32_t child = i + 1; child < v->trie_[i].subtree_end; child = v->trie_[child].subtree_end)
      below |= own_categories[child] | v->trie_[child].below_categories;
    v->trie_[i].below_categories = below;
  }
  *out = std::move(v);
  return Status::Ok();
}

uint16_t GrammarVocabulary::CategoryOf(uint8_t byte) {
  if (byte >= 'a' && byte <= 'z') return kLower;
  if (byte >= 'A' && byte <= 'Z') return kUpper;
  if (byte >= '0' && byte <= '9') return kDigit;
  if (byte >= 0x80) return kNonAscii;
  if (byte < 0x20 || byte == 0x7F) return kControl;
  switch (byte) {
    case ' ': return kSpace;
    case '"': return kQuote;
    case '\\': return kBackslash;
    case ',': return kComma;
    case ':': return kColon;
    case '{': case '}': return kBrace;
    case '[': case ']': return kBracket;
    case '<': case '>': case '|': return kAngleOrBar;
    default: return kOtherPunctuation;
  }
}

std::string_view GrammarVocabulary::TokenBytes(int id) const {
  return std::string_view(token_text_).substr(token_offsets_[id], token_offsets_[id + 1] - token_offsets_[id]);
}

int GrammarVocabulary::ControlTokenId(std::string_view text) const {
  const auto it = control_ids_.find(std::string(text));
  return it == control_ids_.end() ? -1 : it->second;
}

uint64_t GrammarVocabulary::heap_bytes() const {
  uint64_t bytes = trie_.capacity() * sizeof(TrieNode) + sorted_tokens_.capacity() * sizeof(int32_t) +
                   token_offsets_.capacity() * sizeof(uint32_t) + token_text_.capacity() +
                   outside_trie_.capacity() * sizeof(int32_t);
  for (const auto& [text, id] : control_ids_) bytes += sizeof(text) + text.capacity() + sizeof(id) + 2 * sizeof(void*);
  return bytes + control_ids_.bucket_count() * sizeof(void*);
}

// ---------------------------------------------------------------------------------------------------------
// Matching

GrammarMatcher::GrammarMatcher(const Grammar& grammar, const GrammarVocabulary& vocabulary)
    : grammar_(grammar), vocabulary_(vocabulary) {
  for (const Grammar::Special& special : grammar_.specials_) special_tokens_.push_back(vocabulary_.ControlTokenId(special.text));
  current_ = StartState();
}

int32_t GrammarMatcher::StartState() const {
  InternState(State());  // kDeadState
  State start;
  const int32_t root = grammar_.root_rule_;
  for (int32_t k = grammar_.rule_alternatives_[root]; k < grammar_.rule_alternatives_[root + 1]; ++k)
    Expand(grammar_.alternative_starts_[k], -1, &start.stacks);
  return InternState(std::move(start));
}

int32_t GrammarMatcher::InternFrame(int32_t position, int32_t below) const {
  const uint64_t key = static_cast<uint64_t>(static_cast<uint32_t>(position)) << 32 | static_cast<uint32_t>(below);
  const auto [it, inserted] = frame_index_.emplace(key, static_cast<int32_t>(frames_.size()));
  if (inserted) frames_.push_back({position, below});
  return it->second;
}

int32_t GrammarMatcher::InternState(State state) const {
  std::sort(state.stacks.begin(), state.stacks.end());
  state.stacks.erase(std::unique(state.stacks.begin(), state.stacks.end()), state.stacks.end());
  if (state.stacks.empty()) state.partial = PartialChar();
  std::string key(reinterpret_cast<const char*>(state.stacks.data()), state.stacks.size() * sizeof(Stack));
  key.append(reinterpret_cast<const char*>(&state.partial.bits), sizeof(state.partial.bits));
  key.push_back(static_cast<char>(state.partial.missing));
  key.push_back(static_cast<char>(state.partial.length));
  const auto [it, inserted] = state_index_.emplace(std::move(key), static_cast<int32_t>(states_.size()));
  if (inserted) {
    states_.push_back(std::move(state));
    transitions_.resize(states_.size() * 256, kUnknownTransition);
    loop_categories_.push_back(kUnknownLoop);
  }
  return it->second;
}

void GrammarMatcher::Expand(int32_t position, int32_t frames, std::vector<Stack>* out) const {
  using Kind = Grammar::ElementKind;
  // Without left recursion this terminates; `seen` keeps alternatives that meet again from multiplying.
  std::vector<Stack> work = {{position, frames}};
  std::unordered_set<uint64_t> seen;
  while (!work.empty()) {
    const Stack item = work.back();
    work.pop_back();
    if (!seen.insert(static_cast<uint64_t>(static_cast<uint32_t>(item.position)) << 32 | static_cast<uint32_t>(item.frames)).second)
      continue;
    const Grammar::Element& element = grammar_.elements_[item.position];
    int32_t rule = -1;
    switch (element.kind) {
      case Kind::kEnd:
        if (item.frames < 0) {
          out->push_back({kAccepted, -1});
        } else {
          const Frame frame = frames_[item.frames];
          work.push_back({frame.position, frame.below});
        }
        continue;
      case Kind::kChars:
        out->push_back(item);
        continue;
      case Kind::kSpecial:
        if (special_tokens_[element.value] >= 0) {
          out->push_back(item);
          continue;
        }
        rule = grammar_.specials_[element.value].fallback_rule;
        break;
      case Kind::kRule:
        rule = element.value;
        break;
    }
    // A reference in tail position returns straight to the frames below: right recursion stays flat.
    const int32_t next = item.position + 1;
    const int32_t below = grammar_.elements_[next].kind == Kind::kEnd ? item.frames : InternFrame(next, item.frames);
    for (int32_t k = grammar_.rule_alternatives_[rule]; k < grammar_.rule_alternatives_[rule + 1]; ++k)
      work.push_back({grammar_.alternative_starts_[k], below});
  }
}

int32_t GrammarMatcher::ComputeStep(int32_t state_id, uint8_t byte) const {
  // Copies: interning below may reallocate states_.
  const std::vector<Stack> stacks = states_[state_id].stacks;
  PartialChar partial = states_[state_id].partial;
  int32_t next = kDeadState;
  bool complete = false;
  if (partial.missing == 0) {
    if (byte < 0x80) {
      partial = {byte, 0, 1};
      complete = true;
    } else if (byte >= 0xC2 && byte <= 0xF4) {
      partial.length = byte < 0xE0 ? 2 : byte < 0xF0 ? 3 : 4;
      partial.bits = byte & (0x7F >> partial.length);
      partial.missing = static_cast<uint8_t>(partial.length - 1);
    } else {
      partial.length = 0;  // continuation byte or a lead byte no valid character has
    }
  } else if ((byte & 0xC0) == 0x80) {
    if (partial.bits != kAnyCharacter) partial.bits = partial.bits << 6 | (byte & 0x3F);
    complete = --partial.missing == 0;
  } else {
    partial.length = 0;
  }
  if (partial.length != 0) {
    State result;
    if (complete && partial.bits == kAnyCharacter) {
      // Every stack here accepts whatever character this is.
      for (const Stack& s : stacks) Expand(s.position + 1, s.frames, &result.stacks);
    } else if (complete) {
      const uint32_t code_point = partial.bits;
      const bool valid = code_point >= MinCodePointOfLength(partial.length) && code_point <= kMaxCodePoint &&
                         !(code_point >= kSurrogateFirst && code_point <= kSurrogateLast);
      for (const Stack& s : stacks) {
        if (!valid || s.position == kAccepted) continue;
        const Grammar::Element& e = grammar_.elements_[s.position];
        if (e.kind == Grammar::ElementKind::kChars && grammar_.ClassContains(e.value, code_point))
          Expand(s.position + 1, s.frames, &result.stacks);
      }
    } else if (partial.bits == kAnyCharacter) {
      result.stacks = stacks;
      result.partial = partial;
    } else {
      // Keep the stacks some character starting with these bytes could advance.
      const int shift = 6 * partial.missing;
      const uint32_t lowest = partial.bits << shift, highest = lowest | ((1u << shift) - 1);
      const uint32_t first = std::max(lowest, MinCodePointOfLength(partial.length));
      const uint32_t last = std::min(highest, kMaxCodePoint);
      // Every continuation gives a valid character when no bound above cut the range and it holds no surrogate.
      bool any_continuation = first == lowest && last == highest && (last < kSurrogateFirst || first > kSurrogateLast);
      for (const Stack& s : stacks) {
        if (first > last || s.position == kAccepted) continue;
        const Grammar::Element& e = grammar_.elements_[s.position];
        if (e.kind != Grammar::ElementKind::kChars || !grammar_.ClassIntersects(e.value, first, last)) continue;
        result.stacks.push_back(s);
        any_continuation &= grammar_.ClassContainsRange(e.value, first, last);
      }
      result.partial = partial;
      if (any_continuation) result.partial.bits = kAnyCharacter;
    }
    next = InternState(std::move(result));
  }
  transitions_[static_cast<size_t>(state_id) * 256 + byte] = next;
  return next;
}

int32_t GrammarMatcher::StepControl(int32_t state_id, int id) const {
  const State& state = states_[state_id];
  if (state.partial.missing != 0) return kDeadState;
  State result;
  for (const Stack& s : state.stacks) {
    if (s.position == kAccepted) continue;
    const Grammar::Element& e = grammar_.elements_[s.position];
    if (e.kind == Grammar::ElementKind::kSpecial && special_tokens_[e.value] == id)
      Expand(s.position + 1, s.frames, &result.stacks);
  }
  return InternState(std::move(result));
}

int32_t GrammarMatcher::StateAfterToken(int32_t state, int id) const {
  if (id < 0 || id >= vocabulary_.vocab_size()) return kDeadState;
  const std::string_view bytes = vocabulary_.TokenBytes(id);
  if (bytes.empty()) {
    if (std::find(special_tokens_.begin(), special_tokens_.end(), id) == special_tokens_.end()) return kDeadState;
    return StepControl(state, id);
  }
  for (char c : bytes) {
    state = Step(state, static_cast<uint8_t>(c));
    if (state == kDeadState) break;
  }
  return state;
}

uint16_t GrammarMatcher::LoopCategories(int32_t state_id) const {
  if (loop_categories_[state_id] != kUnknownLoop) return loop_categories_[state_id];
  uint16_t loops = 0;
  if (state_id != kDeadState && states_[state_id].partial.missing == 0) {
    for (int category = 0; category < GrammarVocabulary::kAsciiCategoryCount; ++category) {
      bool all = true;
      for (int byte = 0; byte < 0x80 && all; ++byte)
        if (GrammarVocabulary::CategoryOf(static_cast<uint8_t>(byte)) == 1 << category) all = Step(state_id, static_cast<uint8_t>(byte)) == state_id;
      if (all) loops |= static_cast<uint16_t>(1 << category);
    }
    // Every non-ASCII character leads to the same state when each stack accepts all of them or none; that
    // state is the one U+0080 (C2 80) leads to.
    bool uniform = true;
    for (const Stack& s : states_[state_id].stacks) {
      if (s.position == kAccepted) continue;
      const Grammar::Element& e = grammar_.elements_[s.position];
      if (e.kind != Grammar::ElementKind::kChars) continue;
      const bool all = grammar_.ClassContainsRange(e.value, 0x80, kSurrogateFirst - 1) &&
                       grammar_.ClassContainsRange(e.value, kSurrogateLast + 1, kMaxCodePoint);
      const bool none = !grammar_.ClassIntersects(e.value, 0x80, kMaxCodePoint);
      uniform &= all || none;
    }
    if (uniform && Step(Step(state_id, 0xC2), 0x80) == state_id) loops |= GrammarVocabulary::kNonAscii;
  }
  loop_categories_[state_id] = loops;
  return loops;
}

bool GrammarMatcher::AcceptsToken(int id) const { return StateAfterToken(current_, id) != kDeadState; }

int GrammarMatcher::AcceptedPrefix(const int* ids, int count) const {
  int32_t state = current_;
  for (int i = 0; i < count; ++i) {
    state = StateAfterToken(state, ids[i]);
    if (state == kDeadState) return i;
  }
  return count;
}

Status GrammarMatcher::AcceptToken(int id) {
  const int32_t next = StateAfterToken(current_, id);
  if (next == kDeadState) return InvalidArgument("token " + std::to_string(id) + " is not allowed by the grammar here");
  current_ = next;
  TrimCache();
  return Status::Ok();
}

void GrammarMatcher::MaskLogits(float* logits, int vocab) const {
  const auto& trie = vocabulary_.trie_;
  const auto& sorted = vocabulary_.sorted_tokens_;
  const auto node_count = static_cast<int32_t>(trie.size());
  const auto sorted_count = static_cast<int32_t>(sorted.size());
  const auto token_begin = [&](int32_t node) { return node < node_count ? trie[node].token_begin : sorted_count; };
  // Preorder walk: a node's state is its parent's stepped by its byte; a dead node skips its subtree, and
  // a node whose state loops on every byte below it takes its whole subtree. The accepted tokens come out
  // as ranges of sorted_tokens_ in increasing order.
  allowed_ranges_.clear();
  walk_states_.resize(static_cast<size_t>(vocabulary_.max_depth_) + 1);
  walk_states_[0] = current_;
  int64_t allowed_count = 0;
  for (int32_t i = 0; i < node_count;) {
    const GrammarVocabulary::TrieNode& node = trie[i];
    const int32_t state = Step(walk_states_[node.depth - 1], node.byte);
    if (state == kDeadState) {
      i = node.subtree_end;
      continue;
    }
    const bool take_subtree = (node.below_categories & ~LoopCategories(state)) == 0;
    const int32_t next = take_subtree ? node.subtree_end : i + 1;
    const int32_t first = node.token_begin, end = token_begin(next);
    if (first < end) {
      if (!allowed_ranges_.empty() && allowed_ranges_.back().second == first)
        allowed_ranges_.back().second = end;
      else
        allowed_ranges_.push_back({first, end});
      allowed_count += end - first;
    }
    walk_states_[node.depth] = state;
    i = next;
  }
  allowed_specials_.clear();
  for (int32_t id : special_tokens_)
    if (id >= 0 && id < vocab && StepControl(current_, id) != kDeadState) allowed_specials_.push_back(id);

  const float rejected = -INFINITY;
  if (allowed_count < sorted_count / 2) {
    // Few allowed: keep their logits, reject everything, put them back.
    saved_logits_.clear();
    for (const auto& [first, end] : allowed_ranges_)
      for (int32_t k = first; k < end; ++k)
        if (sorted[k] < vocab) saved_logits_.push_back({sorted[k], logits[sorted[k]]});
    for (int32_t id : allowed_specials_) saved_logits_.push_back({id, logits[id]});
    std::fill(logits, logits + vocab, rejected);
    for (const auto& [id, logit] : saved_logits_) logits[id] = logit;
    return;
  }
  // Most allowed: reject the gaps between the ranges, and the tokens outside the trie.
  int32_t k = 0;
  for (const auto& [first, end] : allowed_ranges_) {
    for (; k < first; ++k)
      if (sorted[k] < vocab) logits[sorted[k]] = rejected;
    k = end;
  }
  for (; k < sorted_count; ++k)
    if (sorted[k] < vocab) logits[sorted[k]] = rejected;
  for (int32_t id : vocabulary_.outside_trie_)
    if (id < vocab && std::find(allowed_specials_.begin(), allowed_specials_.end(), id) == allowed_specials_.end())
      logits[id] = rejected;
  for (int id = vocabulary_.vocab_size(); id < vocab; ++id) logits[id] = rejected;
}

bool GrammarMatcher::CanEnd() const {
  const State& state = states_[current_];
  return state.partial.missing == 0 && !state.stacks.empty() && state.stacks.front().position == kAccepted;
}

bool GrammarMatcher::MustEnd() const { return CanEnd() && states_[current_].stacks.size() == 1; }

void GrammarMatcher::TrimCache() {
  if (states_.size() <= kMaxCachedStates && frames_.size() <= kMaxCachedFrames) return;
  // Re-intern the current state alone: its stacks' frame chains are copied out, then rebuilt.
  const State current = states_[current_];
  std::vector<std::vector<Frame>> chains;
  for (const Stack& s : current.stacks) {
    chains.emplace_back();
    for (int32_t f = s.frames; f >= 0; f = frames_[f].below) chains.back().push_back(frames_[f]);
  }
  frames_.clear();
  frame_index_.clear();
  states_.clear();
  state_index_.clear();
  transitions_.clear();
  loop_categories_.clear();
  InternState(State());  // kDeadState
  State rebuilt;
  rebuilt.partial = current.partial;
  for (size_t k = 0; k < current.stacks.size(); ++k) {
    int32_t below = -1;
    for (auto it = chains[k].rbegin(); it != chains[k].rend(); ++it) below = InternFrame(it->position, below);
    rebuilt.stacks.push_back({current.stacks[k].position, below});
  }
  current_ = InternState(std::move(rebuilt));
}

}  // namespace edgelm
