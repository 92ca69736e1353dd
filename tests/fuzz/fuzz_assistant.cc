// libFuzzer target: the assistant features' readers of untrusted text. The first byte picks one:
//   0  JSON (ParseJson; what parses prints and parses again to the same text)
//   1  tool declarations (ParseToolDeclarations, then rendering)
//   2  a model turn's tool calls (ParseToolCalls; every parsed call's arguments are valid JSON)
//   3  a grammar, '\0', a text: the text's tokens against the grammar (accept, mask, end)
//   4  a JSON schema, '\0', a text: the schema's grammar (JSON syntax and Gemma's), then as 3
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/grammar.h"
#include "runtime/json.h"
#include "runtime/json_schema.h"
#include "runtime/loaded_model.h"
#include "runtime/tool_calls.h"

namespace {

struct Vocabulary {
  std::unique_ptr<edgelm::LoadedModel> model;
  std::unique_ptr<edgelm::GrammarVocabulary> grammar;
};

const Vocabulary& TheVocabulary() {
  static const Vocabulary vocabulary = [] {
    Vocabulary v;
    if (!edgelm::LoadedModel::Open(EDGELM_MODEL_PATH, edgelm::LoadOptions{}, &v.model).ok() || !v.model->tokenizer() ||
        !edgelm::GrammarVocabulary::Create(*v.model->tokenizer(), &v.grammar).ok())
      __builtin_trap();
    return v;
  }();
  return vocabulary;
}

// Feeds `text`'s tokens to a matcher of `grammar_text` while the grammar accepts them; checks that the
// mask agrees with AcceptsToken for the token it is about to take.
void MatchText(const std::string& grammar_text, std::string_view text) {
  std::unique_ptr<edgelm::Grammar> grammar;
  if (!edgelm::Grammar::Parse(grammar_text, &grammar).ok()) return;
  const Vocabulary& v = TheVocabulary();
  std::vector<int> ids;
  if (!v.model->tokenizer()->Encode(text, edgelm::EncodeOptions(), &ids).ok()) return;
  edgelm::GrammarMatcher matcher(*grammar, *v.grammar);
  std::vector<float> logits(static_cast<size_t>(v.model->tokenizer()->vocab_size()));
  for (int id : ids) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    matcher.MaskLogits(logits.data(), static_cast<int>(logits.size()));
    const bool accepted = matcher.AcceptsToken(id);
    if (accepted != std::isfinite(logits[static_cast<size_t>(id)])) __builtin_trap();
    if (!accepted) break;
    if (!matcher.AcceptToken(id).ok()) __builtin_trap();
  }
  (void)matcher.CanEnd();
  (void)matcher.MustEnd();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t split = input.find('\0');
  const std::string_view head = input.substr(0, split), tail = split == std::string_view::npos ? "" : input.substr(split + 1);
  switch (data[0] % 5) {
    case 0: {
      edgelm::JsonValue value, again;
      if (!edgelm::ParseJson(input, &value).ok()) break;
      std::string printed, reprinted;
      edgelm::AppendJson(value, &printed);
      if (!edgelm::ParseJson(printed, &again).ok()) __builtin_trap();
      edgelm::AppendJson(again, &reprinted);
      if (printed != reprinted) __builtin_trap();
      break;
    }
    case 1: {
      std::vector<edgelm::ToolDeclaration> tools;
      if (!edgelm::ParseToolDeclarations(input, &tools).ok()) break;
      std::vector<edgelm::TemplatePiece> pieces;
      edgelm::RenderToolDeclarations(tools, &pieces);
      break;
    }
    case 2: {
      std::vector<edgelm::ToolCall> calls;
      edgelm::ParseToolCalls(input, &calls);
      for (const edgelm::ToolCall& call : calls) {
        edgelm::JsonValue arguments;
        if (call.error.empty() && !edgelm::ParseJson(call.arguments_json, &arguments).ok()) __builtin_trap();
        std::vector<edgelm::TemplatePiece> pieces;
        if (call.error.empty()) edgelm::RenderToolResponse(call.name, call.arguments_json, &pieces);
      }
      break;
    }
    case 3: MatchText(std::string(head), tail); break;
    case 4: {
      edgelm::JsonValue schema;
      if (!edgelm::ParseJson(head, &schema).ok()) break;
      for (auto syntax : {edgelm::SchemaGrammarOptions::Syntax::kJson, edgelm::SchemaGrammarOptions::Syntax::kGemmaToolArguments}) {
        edgelm::SchemaGrammarOptions options;
        options.syntax = syntax;
        std::string grammar_text;
        if (edgelm::JsonSchemaToGrammar(schema, options, "root", &grammar_text).ok()) MatchText(grammar_text, tail);
      }
      break;
    }
  }
  return 0;
}
