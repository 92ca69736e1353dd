// Grammar engine (runtime/grammar.h) and JSON schema -> grammar (runtime/json_schema.h): the parser and its
// errors, matching at the character level, masking over real tokenizers against a brute-force reference,
// special literals with and without their control token, and random masked generations that must always
// yield schema-valid JSON.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <random>

#include "convert/tokenizer_import.h"
#include "runtime/grammar.h"
#include "runtime/json.h"
#include "runtime/json_schema.h"
#include "runtime/tokenizer.h"
#include "support/tokenizers.h"

namespace edgelm {
namespace {


std::unique_ptr<Grammar> MustParse(const std::string& text) {
  std::unique_ptr<Grammar> grammar;
  const Status status = Grammar::Parse(text, &grammar);
  INFO(text << "\n-> " << status.message());
  REQUIRE(status.ok());
  return grammar;
}

using testing::MakeTokenizer;

std::unique_ptr<GrammarVocabulary> MakeVocabulary(const Tokenizer& tokenizer) {
  std::unique_ptr<GrammarVocabulary> vocabulary;
  REQUIRE(GrammarVocabulary::Create(tokenizer, &vocabulary).ok());
  return vocabulary;
}

// A vocabulary of the 256 byte pieces (ids 4..259) after pad/eos/bos/unk, then `extra` pieces with their
// types: text is fed byte by byte, so matching is checked at the character level.
constexpr int kByteBase = 4;
TokenizerData ByteData(const std::vector<std::pair<std::string, PieceType>>& extra = {}) {
  TokenizerData data;
  data.pieces = {"<pad>", "<eos>", "<bos>", "<unk>"};
  data.types = {PieceType::Control, PieceType::Control, PieceType::Control, PieceType::Unknown};
  data.pad_id = 0;
  data.eos_id = 1;
  data.bos_id = 2;
  data.unk_id = 3;
  data.stop_ids = {1};
  data.byte_fallback_base = kByteBase;
  for (int b = 0; b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof(piece), "<0x%02X>", b);
    data.pieces.push_back(piece);
    data.types.push_back(PieceType::Byte);
  }
  for (const auto& [piece, type] : extra) {
    data.pieces.push_back(piece);
    data.types.push_back(type);
  }
  return data;
}

const Tokenizer& ByteTokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = MakeTokenizer(ByteData());
  return *tokenizer;
}
const GrammarVocabulary& ByteVocabulary() {
  static const std::unique_ptr<GrammarVocabulary> vocabulary = MakeVocabulary(ByteTokenizer());
  return *vocabulary;
}

// Feeds `text` byte by byte; false at the first byte the grammar rejects.
bool FeedBytes(GrammarMatcher* matcher, std::string_view text) {
  for (char c : text)
    if (!matcher->AcceptToken(kByteBase + static_cast<unsigned char>(c)).ok()) return false;
  return true;
}

// Whether `text` is a complete sentence of the grammar.
bool Matches(const Grammar& grammar, std::string_view text) {
  GrammarMatcher matcher(grammar, ByteVocabulary());
  return FeedBytes(&matcher, text) && matcher.CanEnd();
}
// Whether `text` is a prefix of some sentence.
bool IsPrefix(const Grammar& grammar, std::string_view text) {
  GrammarMatcher matcher(grammar, ByteVocabulary());
  return FeedBytes(&matcher, text);
}

const Tokenizer& BrownTokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = MakeTokenizer(testing::BrownChatData());
  return *tokenizer;
}

// The bytes a token spells as the grammar sees them (control tokens: none).
std::string TokenText(const Tokenizer& tokenizer, int id) {
  if (tokenizer.IsControl(id)) return "";
  const std::string_view piece = tokenizer.piece(id);
  unsigned byte = 0;
  if (piece.size() == 6 && std::sscanf(std::string(piece).c_str(), "<0x%02X>", &byte) == 1) return std::string(1, static_cast<char>(byte));
  std::string text;
  for (size_t pos = 0; pos < piece.size();) {
    if (piece.compare(pos, 3, "\xE2\x96\x81") == 0) {
      text.push_back(' ');
      pos += 3;
    } else {
      text.push_back(piece[pos++]);
    }
  }
  return text;
}

std::string SchemaGrammar(const std::string& schema_json, SchemaGrammarOptions::Syntax syntax = SchemaGrammarOptions::Syntax::kJson) {
  JsonValue schema;
  REQUIRE(ParseJson(schema_json, &schema).ok());
  SchemaGrammarOptions options;
  options.syntax = syntax;
  std::string text = "root ::= value\n";
  const Status status = JsonSchemaToGrammar(schema, options, "value", &text);
  INFO(schema_json << " -> " << status.message());
  REQUIRE(status.ok());
  return text;
}

Status SchemaStatus(const std::string& schema_json) {
  JsonValue schema;
  REQUIRE(ParseJson(schema_json, &schema).ok());
  std::string text;
  return JsonSchemaToGrammar(schema, {}, "value", &text);
}

// ------------------------------------------------------------------------------------------------------
// Parser

TEST_CASE("grammar: valid grammars parse", "[grammar]") {
  MustParse("root ::= \"a\"");
  MustParse("root ::=");  // the empty sentence only
  MustParse("# a comment\nroot ::= item+ # trailing\n  | \"x\"\nitem ::= [a-z] | \"-\" # more\n");
  MustParse("root ::= (\"a\" | b)* c? d{2} e{1,} f{0,3}\nb ::= \"b\"\nc ::= [^\\n\\]\\-]\nd ::= .\ne ::= \"\\x41\\u00e9\\U0001F600\"\nf ::= \"\\\"\\\\\\t\\r\"");
  MustParse("root ::= @\"<|tool_call>\" value @\"<tool_call|>\"\nvalue ::= [0-9]+");
  MustParse("root ::= a\na ::= \"x\" a | \"\"");  // right recursion
  MustParse("root::=\"a\"|\"b\"");               // no spaces needed
  MustParse("root ::= \"é\" [α-ω]");
}

TEST_CASE("grammar: syntax errors name their line and column", "[grammar]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "1:1: the grammar has no rules"},
      {"# only a comment\n", "1:1: the grammar has no rules"},
      {"foo ::= \"a\"", "has no 'root' rule"},
      {"root ::= \"abc", "1:10: unterminated literal"},
      {"root ::= [a-", "1:10: unterminated character class"},
      {"root ::= [z-a]", "1:11: character range with its end before its start"},
      {"root ::= []", "1:10: empty character class"},
      {"root ::= \"\\q\"", "1:11: unknown escape"},
      {"root ::= \"\\x4\"", "1:11: escape needs 2 hex digits"},
      {"root ::= \"\\uD800\"", "1:11: escape is not a Unicode scalar value"},
      {"root ::= \"\\U00110000\"", "1:11: escape is not a Unicode scalar value"},
      {"root ::= (\"a\"", "1:10: '(' without a matching ')'"},
      {"root ::= \"a\")", "1:13: ')' without a matching '('"},
      {"root ::= foo", "1:10: rule 'foo' is used but not defined"},
      {"root ::= \"a\"\nroot ::= \"b\"", "2:1: rule 'root' is defined twice"},
      {"root ::= \"a\"{3,2}", "1:13: repetition maximum below its minimum"},
      {"root ::= \"a\"{99999}", "1:14: repetition count above the limit"},
      {"root ::= \"a\"{x}", "1:14: expected a repetition count"},
      {"root ::= \"a\"{2", "1:15: expected '}'"},
      {"root ::= \"a\"**", "1:14: repeated repetition operator"},
      {"root ::= \"\"*", "1:12: nothing to repeat"},
      {"root ::= @\"\"", "1:10: empty special literal"},
      {"root ::= @x", "1:11: expected '\"' after '@'"},
      {"root ::= %", "1:10: unexpected character '%'"},
      {"::= \"a\"", "1:1: expected a rule name"},
      {"root \"a\"", "1:6: expected '::=' after the rule name 'root'"},
      {"root ::= root \"a\"", "1:1: left recursion: rule 'root' can reach itself"},
      {"root ::= a\na ::= b \"x\"\nb ::= \"\" | a", "left recursion"},
      {"root ::= (\"a\"?)*", "1:10: left recursion: this group or repetition can repeat without consuming input"},
      {"root ::= \"x\"\n  | [b-a]", "2:6: character range"},
  };
  for (const auto& [text, message] : cases) {
    std::unique_ptr<Grammar> grammar;
    const Status status = Grammar::Parse(text, &grammar);
    INFO("grammar: " << text << "\nmessage: " << status.message());
    CHECK(status.code() == StatusCode::kInvalidArgument);
    CHECK(status.message().find(message) != std::string::npos);
    CHECK(grammar == nullptr);
  }
}

TEST_CASE("grammar: size limits", "[grammar]") {
  std::unique_ptr<Grammar> grammar;
  // 4 x ~30,000 elements after the bounded repetitions are expanded.
  Status status = Grammar::Parse("root ::= [a]{0,10000} [b]{0,10000} [c]{0,10000} [d]{0,10000}", &grammar);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK(status.message().find("elements") != std::string::npos);
  std::string huge = "root ::= \"a\"\n#" + std::string(kMaxGrammarTextBytes, 'x');
  status = Grammar::Parse(huge, &grammar);
  CHECK(status.code() == StatusCode::kInvalidArgument);
  CHECK(status.message().find("limit") != std::string::npos);
  status = Grammar::Parse("root ::= \"\xFF\"", &grammar);
  CHECK(status.code() == StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------------------------------------------
// Matching, character level

TEST_CASE("grammar: literals, alternatives, CanEnd and MustEnd", "[grammar]") {
  const auto g = MustParse("root ::= \"cat\" | \"car\" \"s\"? | num\nnum ::= [0-9]+");
  CHECK(Matches(*g, "cat"));
  CHECK(Matches(*g, "car"));
  CHECK(Matches(*g, "cars"));
  CHECK(Matches(*g, "0042"));
  CHECK_FALSE(Matches(*g, "ca"));
  CHECK_FALSE(IsPrefix(*g, "cats"));
  CHECK_FALSE(IsPrefix(*g, "dog"));
  CHECK_FALSE(Matches(*g, ""));

  GrammarMatcher m(*g, ByteVocabulary());
  CHECK_FALSE(m.CanEnd());
  REQUIRE(FeedBytes(&m, "car"));
  CHECK(m.CanEnd());
  CHECK_FALSE(m.MustEnd());  // "s" may follow
  REQUIRE(FeedBytes(&m, "s"));
  CHECK(m.MustEnd());
  CHECK_FALSE(m.AcceptsToken(kByteBase + 's'));
  const Status rejected = m.AcceptToken(kByteBase + 's');
  CHECK(rejected.code() == StatusCode::kInvalidArgument);
  CHECK(m.MustEnd());  // state unchanged

  GrammarMatcher digits(*g, ByteVocabulary());
  REQUIRE(FeedBytes(&digits, "12"));
  CHECK(digits.CanEnd());
  CHECK_FALSE(digits.MustEnd());
  // Out of range, control and unknown tokens are never accepted by a grammar that does not name them.
  CHECK_FALSE(digits.AcceptsToken(-1));
  CHECK_FALSE(digits.AcceptsToken(100000));
  CHECK_FALSE(digits.AcceptsToken(1));  // eos
  CHECK_FALSE(digits.AcceptsToken(3));  // unk

  const auto empty = MustParse("root ::=");
  GrammarMatcher done(*empty, ByteVocabulary());
  CHECK(done.MustEnd());
}

TEST_CASE("grammar: AcceptedPrefix counts the tokens accepted in order, and leaves the state as it is", "[grammar]") {
  const auto g = MustParse("root ::= \"car\" \"s\"? | [0-9]+");
  GrammarMatcher m(*g, ByteVocabulary());
  const auto ids = [](const std::string& text) {
    std::vector<int> out;
    for (unsigned char c : text) out.push_back(kByteBase + c);
    return out;
  };
  const std::vector<int> cars = ids("cars"), cat = ids("cat"), digits = ids("12x4");
  CHECK(m.AcceptedPrefix(cars.data(), 4) == 4);
  CHECK(m.AcceptedPrefix(cat.data(), 3) == 2);     // "ca", then no "t"
  CHECK(m.AcceptedPrefix(digits.data(), 4) == 2);  // "12", then no "x" (nor the "4" after it)
  CHECK(m.AcceptedPrefix(cars.data(), 0) == 0);
  const int eos_and_more[] = {1, kByteBase + 'c'};  // a control token the grammar does not name
  CHECK(m.AcceptedPrefix(eos_and_more, 2) == 0);
  const int out_of_range[] = {-1, 100000};
  CHECK(m.AcceptedPrefix(out_of_range, 2) == 0);
  // Unchanged: the walk above took no token.
  CHECK(m.AcceptsToken(kByteBase + 'c'));
  CHECK(m.AcceptsToken(kByteBase + '7'));
  REQUIRE(FeedBytes(&m, "car"));
  const std::vector<int> s_then_s = ids("ss");
  CHECK(m.AcceptedPrefix(s_then_s.data(), 2) == 1);
  CHECK_FALSE(m.MustEnd());
}

TEST_CASE("grammar: repetition bounds", "[grammar]") {
  const auto g = MustParse("root ::= \"a\"{2,4} \"b\"{3} (\"cd\"){1,} \"e\"{0,2} \"f\"{2,}");
  CHECK(Matches(*g, "aabbbcdff"));
  CHECK(Matches(*g, "aaaabbbcdcdcdeefff"));
  CHECK_FALSE(Matches(*g, "abbbcdff"));       // a < 2
  CHECK_FALSE(IsPrefix(*g, "aaaaa"));         // a > 4
  CHECK_FALSE(Matches(*g, "aabbcdff"));       // b != 3
  CHECK_FALSE(Matches(*g, "aabbbff"));        // cd < 1
  CHECK_FALSE(IsPrefix(*g, "aabbbcdeee"));    // e > 2
  CHECK_FALSE(Matches(*g, "aabbbcdf"));       // f < 2
  CHECK_FALSE(IsPrefix(*g, "aabbbcdc" "e"));  // "cd" repeats as a whole
}

TEST_CASE("grammar: right recursion and long repetitions run in constant stack depth", "[grammar]") {
  const auto g = MustParse("root ::= list \".\"\nlist ::= [a-z] list | [a-z]");
  GrammarMatcher m(*g, ByteVocabulary());
  REQUIRE(FeedBytes(&m, std::string(200000, 'q')));
  CHECK_FALSE(m.CanEnd());
  REQUIRE(FeedBytes(&m, "."));
  CHECK(m.MustEnd());
  const auto star = MustParse("root ::= \"[\" ([0-9] \",\")* \"]\"");
  std::string long_list = "[";
  for (int i = 0; i < 50000; ++i) long_list += "7,";
  CHECK(Matches(*star, long_list + "]"));
}

TEST_CASE("grammar: the state cache is rebuilt from the current state when it outgrows its limit", "[grammar]") {
  // Each letter reaches a new state (how many more may follow), past the cache's 4096 states.
  const auto g = MustParse("root ::= [a-z]{0,6000} \".\"");
  GrammarMatcher m(*g, ByteVocabulary());
  std::vector<float> logits(ByteTokenizer().vocab_size());
  for (int k = 0; k < 6000; ++k) {
    if (k % 1000 == 999) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      m.MaskLogits(logits.data(), ByteTokenizer().vocab_size());
      for (int id = 0; id < ByteTokenizer().vocab_size(); ++id) REQUIRE(std::isinf(logits[id]) != m.AcceptsToken(id));
      CHECK(m.AcceptsToken(kByteBase + 'z'));
    }
    REQUIRE(m.AcceptToken(kByteBase + 'a' + k % 26).ok());
  }
  CHECK_FALSE(m.AcceptsToken(kByteBase + 'a'));
  REQUIRE(m.AcceptToken(kByteBase + '.').ok());
  CHECK(m.MustEnd());
}

TEST_CASE("grammar: UTF-8 characters, classes and partial characters", "[grammar]") {
  const auto greek = MustParse("root ::= [α-ω]+");
  CHECK(Matches(*greek, "αβγ"));
  CHECK_FALSE(IsPrefix(*greek, "a"));
  CHECK_FALSE(IsPrefix(*greek, "€"));
  // The lead byte of α (CE) starts characters in U+0380..U+03BF: some are in α-ω, so it is kept.
  CHECK(IsPrefix(*greek, "\xCE"));
  CHECK_FALSE(Matches(*greek, "\xCE"));  // a character left unfinished is not an end
  // E2 starts U+2000..U+2FFF: none is Greek.
  CHECK_FALSE(IsPrefix(*greek, "\xE2"));
  // CF 8A is ϊ (U+03CA), past ω (U+03C9).
  CHECK(IsPrefix(*greek, "\xCF"));
  CHECK_FALSE(IsPrefix(*greek, "\xCF\x8A"));

  const auto negated = MustParse("root ::= [^a-z\"]*");
  CHECK(Matches(*negated, "ABC é 😀 \n"));
  CHECK_FALSE(IsPrefix(*negated, "Ab"));
  CHECK_FALSE(IsPrefix(*negated, "A\""));

  const auto any = MustParse("root ::= . . .");
  CHECK(Matches(*any, "a😀é"));
  CHECK_FALSE(Matches(*any, "ab"));
  // Invalid UTF-8 is never accepted: a lone continuation byte, C0/C1/F5+ leads, an overlong form, a
  // surrogate, a code point above U+10FFFF, a lead byte followed by a non-continuation byte.
  for (const char* bad : {"\x80", "\xC0\x80", "\xC1", "\xF5", "\xFF", "\xE0\x80", "\xED\xA0", "\xF4\x90", "\xC3" "a"}) {
    INFO(bad);
    CHECK_FALSE(IsPrefix(*any, bad));
  }

  const auto literal = MustParse("root ::= \"日本\" [\\u00e0-\\u00ff]");
  CHECK(Matches(*literal, "日本é"));
  CHECK_FALSE(IsPrefix(*literal, "日日"));
  CHECK_FALSE(Matches(*literal, "日本e"));
}

TEST_CASE("grammar: a token ending inside a multi-byte character", "[grammar]") {
  // Pieces that split "é" (C3 A9) and "😀" (F0 9F 98 80) across tokens.
  TokenizerData data = ByteData({{"ab", PieceType::Normal}, {"x\xC3", PieceType::Normal}});
  const auto tokenizer = MakeTokenizer(data);
  const auto vocabulary = MakeVocabulary(*tokenizer);
  const int ab = tokenizer->PieceToId("ab");
  const int x_lead = tokenizer->PieceToId("x\xC3");
  const auto g = MustParse("root ::= \"ab\"? \"x\" [à-ÿ] \"!\"");
  GrammarMatcher m(*g, *vocabulary);
  REQUIRE(m.AcceptToken(ab).ok());
  REQUIRE(m.AcceptToken(x_lead).ok());  // C3 starts U+00C0..U+00FF: some are in à-ÿ
  CHECK_FALSE(m.CanEnd());
  CHECK_FALSE(m.AcceptsToken(kByteBase + '!'));
  CHECK_FALSE(m.AcceptsToken(kByteBase + 0x80));  // C3 80 is À, not in à-ÿ
  REQUIRE(m.AcceptToken(kByteBase + 0xA9).ok());  // é
  REQUIRE(m.AcceptToken(kByteBase + '!').ok());
  CHECK(m.MustEnd());

  const auto capitals = MustParse("root ::= \"x\" [A-Z]");
  GrammarMatcher c(*capitals, *vocabulary);
  CHECK_FALSE(c.AcceptsToken(x_lead));  // no character starting with C3 is in A-Z
}

// ------------------------------------------------------------------------------------------------------
// Special literals

TEST_CASE("grammar: special literal with its control token in the vocabulary", "[grammar]") {
  const TokenizerData data = ByteData({{"<|\"|>", PieceType::Control}, {"<|tool_call>", PieceType::Control}, {"<|", PieceType::Normal}});
  const auto tokenizer = MakeTokenizer(data);
  const auto vocabulary = MakeVocabulary(*tokenizer);
  const int quote = tokenizer->PieceToId("<|\"|>");
  const int tool_call = tokenizer->PieceToId("<|tool_call>");
  const int open = tokenizer->PieceToId("<|");
  REQUIRE(vocabulary->ControlTokenId("<|\"|>") == quote);
  const auto g = MustParse("root ::= @\"<|\\\"|>\" [a-z<|]* @\"<|\\\"|>\"");
  GrammarMatcher m(*g, *vocabulary);
  CHECK(m.AcceptsToken(quote));
  CHECK_FALSE(m.AcceptsToken(tool_call));     // a control token the grammar does not name
  CHECK_FALSE(m.AcceptsToken(open));          // the text is not the token
  CHECK_FALSE(m.AcceptsToken(kByteBase + '<'));
  std::vector<float> logits(tokenizer->vocab_size(), 0.0f);
  m.MaskLogits(logits.data(), tokenizer->vocab_size());
  for (int id = 0; id < tokenizer->vocab_size(); ++id) CHECK(std::isinf(logits[id]) == (id != quote));
  REQUIRE(m.AcceptToken(quote).ok());
  REQUIRE(m.AcceptToken(open).ok());  // "<|" is content: only the control token closes the string
  REQUIRE(m.AcceptToken(kByteBase + 'a').ok());
  CHECK(m.AcceptsToken(quote));
  REQUIRE(m.AcceptToken(quote).ok());
  CHECK(m.MustEnd());
}

TEST_CASE("grammar: special literal spelled by ordinary tokens without its control token", "[grammar]") {
  const TokenizerData data = ByteData({{"<|", PieceType::Normal}, {"\"|>", PieceType::Normal}, {"<|turn>", PieceType::Control}});
  const auto tokenizer = MakeTokenizer(data);
  const auto vocabulary = MakeVocabulary(*tokenizer);
  CHECK(vocabulary->ControlTokenId("<|\"|>") == -1);
  const auto g = MustParse("root ::= @\"<|\\\"|>\" [a-z]* @\"<|\\\"|>\"");
  GrammarMatcher m(*g, *vocabulary);
  CHECK(m.AcceptsToken(tokenizer->PieceToId("<|")));
  CHECK(m.AcceptsToken(kByteBase + '<'));
  CHECK_FALSE(m.AcceptsToken(tokenizer->PieceToId("<|turn>")));
  REQUIRE(FeedBytes(&m, "<|\"|>ab"));
  REQUIRE(m.AcceptToken(tokenizer->PieceToId("<|")).ok());
  REQUIRE(m.AcceptToken(tokenizer->PieceToId("\"|>")).ok());
  CHECK(m.MustEnd());
}

// ------------------------------------------------------------------------------------------------------
// Masking against a brute-force reference

// Checks MaskLogits in the matcher's current state against AcceptsToken for every id, and against a fresh
// matcher over the byte vocabulary fed `history` then the token's bytes (no cache shared with `m`).
void CheckMaskAgainstReference(const GrammarMatcher& m, const Grammar& grammar, const Tokenizer& tokenizer,
                               const std::string& history, bool replay) {
  const int vocab = tokenizer.vocab_size();
  std::vector<float> logits(vocab + 3, 1.0f);  // three ids past the tokenizer: always rejected
  m.MaskLogits(logits.data(), vocab + 3);
  int allowed = 0;
  for (int id = 0; id < vocab + 3; ++id) {
    const bool masked_in = logits[id] == 1.0f;
    CHECK((std::isinf(logits[id]) && logits[id] < 0) != masked_in);
    INFO("token " << id << " '" << tokenizer.piece(id) << "' after '" << history << "'");
    REQUIRE(masked_in == m.AcceptsToken(id));
    allowed += masked_in;
    if (!replay || id >= vocab) continue;
    const std::string bytes = TokenText(tokenizer, id);
    bool reference = false;
    if (!bytes.empty() && tokenizer.unk_id() != id) {
      GrammarMatcher fresh(grammar, ByteVocabulary());
      reference = FeedBytes(&fresh, history) && FeedBytes(&fresh, bytes);
    }
    REQUIRE(masked_in == reference);
  }
  CHECK((allowed > 0) != m.MustEnd());
}

TEST_CASE("grammar: MaskLogits agrees with a brute-force reference on brown-tiny", "[grammar][tokenizer]") {
  const Tokenizer& tokenizer = BrownTokenizer();
  const auto vocabulary = MakeVocabulary(tokenizer);
  CHECK(vocabulary->heap_bytes() > 0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {SchemaGrammar(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
                        "tags":{"type":"array","items":{"enum":["the","jury","said"]}}},"required":["name"]})"),
       "{\"name\": \"The jury \\u00e9 said\", \"age\": -120, \"tags\": [\"jury\", \"said\"]}"},
      {"root ::= ([a-z ]+ \". \")+ [A-Z]?", "the jury said. it was. A"},
      {"root ::= [^aeiou]* \"é\"", "th jry sd é"},
  };
  for (const auto& [grammar_text, text] : cases) {
    const auto grammar = MustParse(grammar_text);
    std::vector<int> ids;
    REQUIRE(tokenizer.Encode(text, {}, &ids).ok());
    GrammarMatcher m(*grammar, *vocabulary);
    std::string history;
    for (size_t k = 0; k <= ids.size(); ++k) {
      CheckMaskAgainstReference(m, *grammar, tokenizer, history, /*replay=*/k % 3 == 0 || k == ids.size());
      if (k == ids.size()) break;
      INFO(text << " at token " << k);
      REQUIRE(m.AcceptToken(ids[k]).ok());
      history += TokenText(tokenizer, ids[k]);
    }
    CHECK(m.CanEnd());
  }
}

TEST_CASE("grammar: MaskLogits agrees with AcceptsToken on the 262k Gemma vocabulary", "[grammar][gemma]") {
  // As published (Gemma 3 pieces: the markers are text), and with Gemma 4's control tokens (<|"|> is
  // then one token, which only the special literal may produce).
  for (bool gemma4 : {false, true}) {
    INFO((gemma4 ? "Gemma 4 control tokens" : "Gemma 3 pieces"));
    TokenizerData data = testing::GemmaData();
    if (gemma4) REQUIRE(ApplyGemma4Overlay(&data).ok());
    const auto tokenizer = MakeTokenizer(data);
    const auto vocabulary = MakeVocabulary(*tokenizer);
    const auto grammar = MustParse(SchemaGrammar(
        R"({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},"units":{"enum":["metric","imperial"]}},"required":["city"]})",
        SchemaGrammarOptions::Syntax::kGemmaToolArguments));
    const int quote = tokenizer->PieceToId("<|\"|>");
    EncodeOptions special;
    special.parse_special = true;
    std::vector<int> ids;
    REQUIRE(tokenizer->Encode("{city:<|\"|>Zürich, 日本<|\"|>,days:12,units:<|\"|>metric<|\"|>}", special, &ids).ok());
    if (quote >= 0) CHECK(std::count(ids.begin(), ids.end(), quote) == 4);
    GrammarMatcher m(*grammar, *vocabulary);
    std::vector<float> logits(tokenizer->vocab_size());
    for (size_t k = 0; k <= ids.size(); ++k) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      m.MaskLogits(logits.data(), tokenizer->vocab_size());
      for (int id = 0; id < tokenizer->vocab_size(); ++id) {
        if (std::isinf(logits[id]) == m.AcceptsToken(id)) {
          FAIL("token " << id << " '" << tokenizer->piece(id) << "' at step " << k);
        }
      }
      if (k == ids.size()) break;
      REQUIRE(m.AcceptToken(ids[k]).ok());
    }
    CHECK(m.MustEnd());
    if (gemma4) CHECK(tokenizer->IsControl(quote));
  }
}

// ------------------------------------------------------------------------------------------------------
// JSON schema -> grammar

TEST_CASE("json schema: objects, required and optional properties, whitespace", "[grammar][schema]") {
  const auto g = MustParse(SchemaGrammar(R"({"type":"object","properties":{
      "name":{"type":"string","description":"ignored"},"age":{"type":"integer","minimum":0},
      "tags":{"type":"array","items":{"type":"string"},"maxItems":2},
      "address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string"}},"required":["city"]}},
    "required":["name"]})"));
  CHECK(Matches(*g, R"({"name":"Bob"})"));
  CHECK(Matches(*g, R"({"name": "Bob", "age": 42})"));
  CHECK(Matches(*g, R"({"name":"Bob","tags":["a", "b"],"address":{"city":"Paris"}})"));
  CHECK(Matches(*g, R"({"name":"Bob","age":-7,"tags":[],"address":{"city":"Paris","zip":"75001"}})"));
  CHECK_FALSE(Matches(*g, R"({"age":42})"));                        // name is required
  CHECK_FALSE(Matches(*g, R"({"age":42,"name":"Bob"})"));           // declared order
  CHECK_FALSE(Matches(*g, R"({"name":"Bob","extra":1})"));          // undeclared property
  CHECK_FALSE(Matches(*g, R"({"name":"Bob",  "age":1})"));          // at most one space
  CHECK_FALSE(Matches(*g, R"({ "name":"Bob"})"));
  CHECK_FALSE(Matches(*g, "{\"name\":\"Bob\"}\n"));
  CHECK_FALSE(Matches(*g, R"({"name":"Bob","tags":["a","b","c"]})"));  // maxItems
  CHECK_FALSE(Matches(*g, R"({"name":"Bob","age":4.5})"));            // integer
  CHECK_FALSE(Matches(*g, R"({"name":"Bob","address":{"zip":"1"}})"));
  CHECK_FALSE(Matches(*g, R"({"name":"Bob",})"));
}

TEST_CASE("json schema: strings, numbers and literals", "[grammar][schema]") {
  const auto s = MustParse(SchemaGrammar(R"({"type":"string"})"));
  CHECK(Matches(*s, R"("")"));
  CHECK(Matches(*s, R"("a\"b\\c\/\n\t\u00e9 é 😀")"));
  CHECK(Matches(*s, R"("\uD83D\uDE00")"));  // a surrogate pair
  CHECK_FALSE(IsPrefix(*s, R"("\uD83D")" ""));  // unpaired high surrogate
  CHECK_FALSE(IsPrefix(*s, R"("\uDC00)"));
  CHECK_FALSE(IsPrefix(*s, "\"a\nb"));  // raw control character
  CHECK_FALSE(IsPrefix(*s, R"("\q)"));
  CHECK_FALSE(Matches(*s, R"("a" )"));

  const auto bounded = MustParse(SchemaGrammar(R"({"type":"string","minLength":2,"maxLength":3})"));
  CHECK(Matches(*bounded, R"("ab")"));
  CHECK(Matches(*bounded, R"("a\u00e9é")"));  // an escape is one character
  CHECK_FALSE(Matches(*bounded, R"("a")"));
  CHECK_FALSE(Matches(*bounded, R"("abcd")"));

  const auto n = MustParse(SchemaGrammar(R"({"type":"number"})"));
  for (const char* ok : {"0", "-0", "12", "-3.25", "1e5", "6.02E+23", "1.5e-7"}) CHECK(Matches(*n, ok));
  for (const char* bad : {"012", "1.", ".5", "+1", "1e", "--1", "1.5.2", "123456789012345678901"}) {
    INFO(bad);
    CHECK_FALSE(Matches(*n, bad));
  }
  const auto i = MustParse(SchemaGrammar(R"({"type":"integer"})"));
  CHECK(Matches(*i, "-42"));
  CHECK_FALSE(Matches(*i, "4.0"));

  const auto e = MustParse(SchemaGrammar(R"({"type":"string","enum":["red","green",1,null,{"a":[true]}]})"));
  for (const char* ok : {R"("red")", R"("green")", "1", "null", R"({"a":[true]})"}) CHECK(Matches(*e, ok));
  for (const char* bad : {R"("blue")", "2", "true", R"({"a":[false]})"}) CHECK_FALSE(Matches(*e, bad));
  const auto c = MustParse(SchemaGrammar(R"({"const":"fixed \"q\""})"));
  CHECK(Matches(*c, R"("fixed \"q\"")"));
  CHECK_FALSE(Matches(*c, R"("fixed")"));
  const auto b = MustParse(SchemaGrammar(R"({"type":["boolean","null"]})"));
  CHECK(Matches(*b, "true"));
  CHECK(Matches(*b, "null"));
  CHECK_FALSE(Matches(*b, "0"));
}

TEST_CASE("json schema: arrays, anyOf, nullable, $ref recursion, any value", "[grammar][schema]") {
  const auto a = MustParse(SchemaGrammar(R"({"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":3})"));
  CHECK(Matches(*a, "[1,2]"));
  CHECK(Matches(*a, "[1, 2, 3]"));
  CHECK_FALSE(Matches(*a, "[1]"));
  CHECK_FALSE(Matches(*a, "[1,2,3,4]"));
  CHECK_FALSE(Matches(*a, "[]"));
  CHECK_FALSE(Matches(*a, "[1,\"x\"]"));

  const auto any_of = MustParse(SchemaGrammar(R"({"anyOf":[{"type":"string"},{"type":"array","items":{"type":"number"}}]})"));
  CHECK(Matches(*any_of, R"("x")"));
  CHECK(Matches(*any_of, "[1.5, 2]"));
  CHECK_FALSE(Matches(*any_of, "3"));

  const auto nullable = MustParse(SchemaGrammar(R"({"type":["string","null"],"maxLength":1})"));
  CHECK(Matches(*nullable, "null"));
  CHECK(Matches(*nullable, R"("a")"));
  CHECK_FALSE(Matches(*nullable, R"("ab")"));

  const auto tree = MustParse(SchemaGrammar(R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object",
      "properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},
      "required":["value"]}}})"));
  CHECK(Matches(*tree, R"({"value":1})"));
  CHECK(Matches(*tree, R"({"value":1,"children":[{"value":2,"children":[{"value":3}]},{"value":4,"children":[]}]})"));
  CHECK_FALSE(Matches(*tree, R"({"value":1,"children":[{"children":[]}]})"));

  const auto self = MustParse(SchemaGrammar(R"({"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}},"required":["next"]})"));
  CHECK(Matches(*self, R"({"next":{"next":null}})"));

  const auto definitions = MustParse(SchemaGrammar(R"({"definitions":{"a/b":{"type":"boolean"}},"items":{"$ref":"#/definitions/a~1b"}})"));
  CHECK(Matches(*definitions, "[true, false]"));

  const auto any = MustParse(SchemaGrammar("{}"));
  CHECK(Matches(*any, R"([1, {"a": null, "b": [true, "x"]}, -2.5, "é", {}])"));
  CHECK_FALSE(Matches(*any, R"({"a" : 1})"));
  CHECK_FALSE(Matches(*any, "[1,]"));

  const auto map = MustParse(SchemaGrammar(R"({"type":"object","additionalProperties":{"type":"integer"}})"));
  CHECK(Matches(*map, R"({"x":1, "y":2})"));
  CHECK_FALSE(Matches(*map, R"({"x":"1"})"));
  const auto closed = MustParse(SchemaGrammar(R"({"type":"object","additionalProperties":false})"));
  CHECK(Matches(*closed, "{}"));
  CHECK_FALSE(Matches(*closed, R"({"x":1})"));
}

TEST_CASE("json schema: several schemas share one grammar text", "[grammar][schema]") {
  std::string text = "root ::= first | second\n";
  JsonValue a, b;
  REQUIRE(ParseJson(R"({"type":"object","properties":{"x":{"type":"string"}},"required":["x"]})", &a).ok());
  REQUIRE(ParseJson(R"({"type":"array","items":{"type":"string"}})", &b).ok());
  REQUIRE(JsonSchemaToGrammar(a, {}, "first", &text).ok());
  REQUIRE(JsonSchemaToGrammar(b, {}, "second", &text).ok());
  const auto g = MustParse(text);
  CHECK(Matches(*g, R"({"x":"1"})"));
  CHECK(Matches(*g, R"(["1"])"));
}

TEST_CASE("json schema: what it cannot express names the schema path", "[grammar][schema]") {
  const std::vector<std::tuple<std::string, StatusCode, std::string>> cases = {
      {R"({"type":"object","properties":{"id":{"type":"string","pattern":"^[a-z]+$"}}})", StatusCode::kUnsupported, "#/properties/id': keyword 'pattern'"},
      {R"({"not":{"type":"string"}})", StatusCode::kUnsupported, "keyword 'not'"},
      {R"({"type":"array","items":false})", StatusCode::kUnsupported, "#/items'"},
      {R"({"$ref":"https://example.com/schema"})", StatusCode::kUnsupported, "#/$ref'"},
      {R"({"$ref":"#/$defs/missing"})", StatusCode::kInvalidArgument, "names no definition"},
      {R"({"type":"strin"})", StatusCode::kInvalidArgument, "unknown type 'strin'"},
      {R"({"type":42})", StatusCode::kInvalidArgument, "#/type'"},
      {R"({"enum":[]})", StatusCode::kInvalidArgument, "#/enum'"},
      {R"({"type":"array","maxItems":100000})", StatusCode::kUnsupported, "#/maxItems'"},
      {R"({"type":"array","minItems":3,"maxItems":2})", StatusCode::kInvalidArgument, "maxItems is below minItems"},
      {R"({"type":"string","maxLength":-1})", StatusCode::kInvalidArgument, "#/maxLength'"},
      {R"({"type":"object","required":["a"]})", StatusCode::kUnsupported, "#/required'"},
      {R"({"anyOf":[{"type":"string"}],"minLength":3})", StatusCode::kUnsupported, "combined"},
      {R"({"allOf":[{"type":"string"},{"minLength":3}]})", StatusCode::kUnsupported, "allOf with more than one"},
      {"[1]", StatusCode::kInvalidArgument, "must be an object or a boolean"},
  };
  for (const auto& [schema, code, message] : cases) {
    const Status status = SchemaStatus(schema);
    INFO(schema << " -> " << status.message());
    CHECK(status.code() == code);
    CHECK(status.message().find(message) != std::string::npos);
  }
  JsonValue schema;
  REQUIRE(ParseJson("{}", &schema).ok());
  std::string text = "unchanged";
  CHECK(JsonSchemaToGrammar(schema, {}, "bad name", &text).code() == StatusCode::kInvalidArgument);
  CHECK(text == "unchanged");
}

TEST_CASE("json schema: Gemma tool-argument syntax", "[grammar][schema]") {
  const auto kGemma = SchemaGrammarOptions::Syntax::kGemmaToolArguments;
  const auto city = MustParse(SchemaGrammar(R"({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]})", kGemma));
  CHECK(Matches(*city, "{city:<|\"|>London<|\"|>}"));
  CHECK(Matches(*city, "{city:<|\"|>a \"quoted\" <| text, {x}<|\"|>}"));
  CHECK_FALSE(IsPrefix(*city, "{\"city\""));
  CHECK_FALSE(IsPrefix(*city, "{city: "));
  CHECK_FALSE(Matches(*city, "{city:<|\"|>a<|\"|>b<|\"|>}"));  // the delimiter ends the string
  CHECK_FALSE(Matches(*city, "{}"));

  const auto empty = MustParse(SchemaGrammar(R"({"type":"object","properties":{}})", kGemma));
  CHECK(Matches(*empty, "{}"));
  const auto number = MustParse(SchemaGrammar(R"({"type":"object","properties":{"arg1":{"type":"integer"}}})", kGemma));
  CHECK(Matches(*number, "{arg1:42}"));
  CHECK(Matches(*number, "{}"));
  const auto flag = MustParse(SchemaGrammar(R"({"type":"object","properties":{"enabled":{"type":"boolean"}},"required":["enabled"]})", kGemma));
  CHECK(Matches(*flag, "{enabled:true}"));
  CHECK_FALSE(Matches(*flag, "{enabled:1}"));

  // Keys in sorted order whatever the declared order; arrays, enums and nested objects.
  const auto sorted = MustParse(SchemaGrammar(R"({"type":"object","properties":{
      "zeta":{"type":"array","items":{"type":"string"}},"alpha":{"enum":["x",2]},
      "mid":{"type":"object","properties":{"b":{"type":"null"},"a":{"type":"number"}}}},"required":["zeta","alpha"]})", kGemma));
  CHECK(Matches(*sorted, "{alpha:<|\"|>x<|\"|>,zeta:[<|\"|>p<|\"|>,<|\"|><|\"|>]}"));
  CHECK(Matches(*sorted, "{alpha:2,mid:{a:1.5,b:null},zeta:[]}"));
  CHECK_FALSE(Matches(*sorted, "{zeta:[],alpha:2}"));
  CHECK_FALSE(Matches(*sorted, "{alpha:2, zeta:[]}"));

  // A length-bounded string holds no '<', so it can never spell the delimiter.
  const auto bounded = MustParse(SchemaGrammar(R"({"type":"object","properties":{"c":{"type":"string","minLength":1,"maxLength":3}},"required":["c"]})", kGemma));
  CHECK(Matches(*bounded, "{c:<|\"|>abc<|\"|>}"));
  CHECK_FALSE(Matches(*bounded, "{c:<|\"|><|\"|>}"));
  CHECK_FALSE(Matches(*bounded, "{c:<|\"|>abcd<|\"|>}"));
  CHECK(IsPrefix(*bounded, "{c:<|\"|>a<"));  // the start of the closing delimiter
  CHECK_FALSE(IsPrefix(*bounded, "{c:<|\"|>a<x"));

  const auto any = MustParse(SchemaGrammar("{}", kGemma));
  CHECK(Matches(*any, "{q:[1,<|\"|>s<|\"|>,{k:true}]}"));

  JsonValue schema;
  REQUIRE(ParseJson(R"({"type":"object","properties":{"a b":{"type":"string"}}})", &schema).ok());
  std::string text;
  SchemaGrammarOptions options;
  options.syntax = kGemma;
  CHECK(JsonSchemaToGrammar(schema, options, "v", &text).code() == StatusCode::kUnsupported);
}

// ------------------------------------------------------------------------------------------------------
// Property test: random masked generations always give valid JSON

size_t CodePointCount(const std::string& text) {
  size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

bool SameJson(const JsonValue& a, const JsonValue& b) {
  std::string x, y;
  AppendJson(a, &x);
  AppendJson(b, &y);
  return x == y;
}

// A validator for the keywords the converter supports (ignored ones stay ignored).
bool Validates(const JsonValue& value, const JsonValue& schema, const JsonValue& root) {
  if (schema.is_bool()) return schema.boolean;
  if (const JsonValue* ref = schema.Find("$ref")) {
    if (ref->text == "#") return Validates(value, root, root);
    const std::string prefix = "#/$defs/";
    return Validates(value, *root.Find("$defs")->Find(ref->text.substr(prefix.size())), root);
  }
  if (const JsonValue* c = schema.Find("const")) return SameJson(value, *c);
  if (const JsonValue* e = schema.Find("enum")) {
    for (const JsonValue& option : e->items)
      if (SameJson(value, option)) return true;
    return false;
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (const JsonValue* options = schema.Find(key)) {
      for (const JsonValue& option : options->items)
        if (Validates(value, option, root)) return true;
      return false;
    }
  }
  if (const JsonValue* type = schema.Find("type")) {
    std::vector<std::string> types;
    if (type->is_string()) types.push_back(type->text);
    for (const JsonValue& t : type->items) types.push_back(t.text);
    bool any = false;
    for (const std::string& t : types) {
      any |= (t == "string" && value.is_string()) || (t == "number" && value.is_number()) ||
             (t == "integer" && value.is_number() && value.text.find_first_of(".eE") == std::string::npos) ||
             (t == "boolean" && value.is_bool()) || (t == "null" && value.is_null()) ||
             (t == "object" && value.is_object()) || (t == "array" && value.is_array());
    }
    if (!any) return false;
  }
  if (value.is_string()) {
    if (const JsonValue* min = schema.Find("minLength"); min && CodePointCount(value.text) < min->number()) return false;
    if (const JsonValue* max = schema.Find("maxLength"); max && CodePointCount(value.text) > max->number()) return false;
  }
  if (value.is_array()) {
    if (const JsonValue* min = schema.Find("minItems"); min && value.items.size() < min->number()) return false;
    if (const JsonValue* max = schema.Find("maxItems"); max && value.items.size() > max->number()) return false;
    if (const JsonValue* items = schema.Find("items"))
      for (const JsonValue& item : value.items)
        if (!Validates(item, *items, root)) return false;
  }
  if (value.is_object()) {
    const JsonValue* properties = schema.Find("properties");
    if (const JsonValue* required = schema.Find("required"))
      for (const JsonValue& name : required->items)
        if (value.Find(name.text) == nullptr) return false;
    for (const auto& [name, member] : value.members) {
      const JsonValue* property = properties ? properties->Find(name) : nullptr;
      if (property == nullptr) {
        const JsonValue* additional = schema.Find("additionalProperties");
        if (additional != nullptr && additional->is_bool() && !additional->boolean) return false;
        if (additional != nullptr && additional->is_object() && !Validates(member, *additional, root)) return false;
        continue;
      }
      if (!Validates(member, *property, root)) return false;
    }
  }
  return true;
}

TEST_CASE("json schema: random masked generations always parse and validate", "[grammar][schema][property]") {
  const std::vector<std::string> schemas = {
      R"({"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer"},
          "ok":{"type":"boolean"}},"required":["name","ok"],"additionalProperties":false})",
      R"({"type":"array","items":{"enum":["the","jury",3,null,true]},"maxItems":4})",
      R"({"anyOf":[{"type":"number"},{"type":"string","minLength":1,"maxLength":3},{"type":"null"}]})",
      R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
          "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]}}})",
      R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":4},"minItems":1,"maxItems":3},
          "score":{"type":["number","null"]},"kind":{"const":"x"}},"required":["kind"]})",
      R"({"type":"object","additionalProperties":{"type":"array","items":{"type":"boolean"},"maxItems":2},"properties":{}})",
      R"({"type":"string","maxLength":12})",
  };
  const Tokenizer& tokenizer = BrownTokenizer();
  const auto vocabulary = MakeVocabulary(tokenizer);
  std::vector<JsonValue> parsed(schemas.size());
  std::vector<std::unique_ptr<Grammar>> grammars;
  for (size_t k = 0; k < schemas.size(); ++k) {
    REQUIRE(ParseJson(schemas[k], &parsed[k]).ok());
    grammars.push_back(MustParse(SchemaGrammar(schemas[k])));
  }
  constexpr int kSeeds = 200, kMaxTokens = 120;
  int completed = 0;
  std::vector<float> logits(tokenizer.vocab_size());
  std::vector<int> allowed;
  for (int seed = 0; seed < kSeeds; ++seed) {
    const size_t which = static_cast<size_t>(seed) % schemas.size();
    std::mt19937 rng(static_cast<uint32_t>(seed));
    GrammarMatcher m(*grammars[which], *vocabulary);
    std::string text;
    bool ended = false;
    for (int step = 0; step < kMaxTokens && !ended; ++step) {
      if (m.MustEnd() || (m.CanEnd() && std::uniform_real_distribution<double>(0, 1)(rng) < 0.2)) {
        ended = true;
        break;
      }
      std::fill(logits.begin(), logits.end(), 0.0f);
      m.MaskLogits(logits.data(), tokenizer.vocab_size());
      allowed.clear();
      for (int id = 0; id < tokenizer.vocab_size(); ++id)
        if (!std::isinf(logits[id])) allowed.push_back(id);
      REQUIRE_FALSE(allowed.empty());
      const int id = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      REQUIRE(m.AcceptToken(id).ok());
      text += TokenText(tokenizer, id);
    }
    ended |= m.CanEnd();
    if (!ended) continue;
    ++completed;
    INFO("seed " << seed << " schema " << schemas[which] << "\ntext: " << text);
    JsonValue value;
    const Status status = ParseJson(text, &value);
    INFO(status.message());
    REQUIRE(status.ok());
    REQUIRE(Validates(value, parsed[which], parsed[which]));
  }
  // Most generations finish within the cap (the schemas bound their strings and arrays).
  INFO(completed << " of " << kSeeds << " generations finished");
  CHECK(completed > kSeeds * 3 / 4);
}

}  // namespace
}  // namespace edgelm
