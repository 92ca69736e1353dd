// Assistant features of a session on the bundled brown-tiny model (issue 16): thinking with a budget and
// the history pruned as the template renders it, the tool loop (calls constrained to their schemas,
// results in the same model turn), and JSON-schema constrained replies that always validate.
//
// brown-tiny's vocabulary has no thought or tool control tokens, so its markers are spelled as text
// (runtime/chat_markers.h); the same code paths run with Gemma 4's control tokens.
#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <set>

#include "runtime/chat_markers.h"
#include "runtime/json.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

const LoadedModel& Bundled() {
  static const std::unique_ptr<LoadedModel> model = [] {
    Status status;
    auto m = testing::LoadModel(std::string(EDGELM_SOURCE_DIR) + "/models/brown-tiny-mobile.edgelm", &status);
    REQUIRE(status.ok());
    return m;
  }();
  return *model;
}

std::unique_ptr<Session> NewSession(const SessionOptions& options) {
  const LoadedModel& m = Bundled();
  std::unique_ptr<Session> s;
  const Status status = Session::Create(m.model(), m.tokenizer(), m.chat(), options, &s);
  INFO(status.message());
  REQUIRE(status.ok());
  return s;
}

std::string Text(const std::vector<int>& ids) {
  std::string text;
  REQUIRE(Bundled().tokenizer()->Decode(ids, DecodeOptions(), &text).ok());
  return text;
}

struct Reply {
  std::vector<int> tokens;
  std::string answer, thought;
};

Reply Generate(Session& s, const GenerateParams& params) {
  Reply r;
  const Status status = s.Generate(
      params,
      [&](int token, std::string_view text) {
        if (token >= 0) r.tokens.push_back(token);
        r.answer += text;
        return false;
      },
      [&](int, std::string_view text) {
        r.thought += text;
        return false;
      });
  INFO(status.message());
  REQUIRE(status.ok());
  return r;
}

TEST_CASE("thinking: the budget closes the thought, thoughts stream apart and leave the history", "[assistant]") {
  SessionOptions options;
  options.enable_thinking = true;
  options.context_length = 1024;
  for (int budget : {0, 3, 12}) {
    auto s = NewSession(options);
    const ChatMessage user{"user", "What did the jury say?"};
    REQUIRE(s->AppendMessage(user).ok());
    // brown-tiny never thinks by itself: a grammar makes its reply open a thought, then the budget
    // closes it. The grammar does not see thought tokens.
    GenerateParams params;
    params.max_tokens = 60;
    params.thinking_budget = budget;
    params.sampling.temperature = 0.0f;
    params.grammar = "root ::= \"<|channel>\" [a-z ]{1,30}";
    const Reply reply = Generate(*s, params);
    INFO("budget " << budget << ", reply " << Text(reply.tokens));

    // Exactly `budget` tokens between the completed "<|channel>" and the forced "<channel|>".
    std::vector<int> close;
    REQUIRE(Bundled().tokenizer()->Encode(markers::kChannelEnd, EncodeOptions(), &close).ok());
    size_t opened = 0, closed = 0;
    for (size_t i = 1; i <= reply.tokens.size(); ++i) {
      const std::string prefix = Text(std::vector<int>(reply.tokens.begin(), reply.tokens.begin() + static_cast<std::ptrdiff_t>(i)));
      if (!opened && prefix.find(markers::kChannelStart) != std::string::npos) opened = i;
      if (!closed && prefix.find(markers::kChannelEnd) != std::string::npos) closed = i;
    }
    REQUIRE(opened > 0);
    REQUIRE(closed > opened);
    CHECK(closed - close.size() - opened == static_cast<size_t>(budget));
    CHECK(std::equal(close.begin(), close.end(), reply.tokens.begin() + static_cast<std::ptrdiff_t>(closed - close.size())));

    // The answer stream has neither markers nor thought; the thought stream has no channel header.
    CHECK(reply.answer.find('<') == std::string::npos);
    CHECK(reply.thought.rfind(markers::kThoughtChannel, 0) != 0);
    const std::string full = Text(reply.tokens);
    CHECK(full.find(reply.thought) != std::string::npos);

    // Closing the turn drops the thought: the history is exactly the template's rendering of the
    // conversation with the reply's answer, and the KV cache keeps everything before the reply.
    const size_t before_reply = s->tokens().size() - reply.tokens.size();
    const ChatMessage next{"user", "And then?"};
    REQUIRE(s->AppendMessage(next).ok());
    std::vector<int> rendered;
    ConversationOptions conversation;
    conversation.thinking = true;
    REQUIRE(Bundled().chat()->Apply({user, {"model", reply.answer}, next}, false, &rendered, conversation).ok());
    CHECK(Text(s->tokens()) == Text(rendered));
    CHECK(s->tokens() == rendered);
    CHECK(s->tokens().size() - s->pending_tokens() >= before_reply - Bundled().chat()->GenerationPrompt().size());
  }
}

TEST_CASE("thinking: a pruned history gives the same next reply as a fresh session of its rendering", "[assistant]") {
  SessionOptions options;
  options.enable_thinking = true;
  options.context_length = 1024;
  auto s = NewSession(options);
  REQUIRE(s->AppendMessage({"user", "Who won?"}).ok());
  GenerateParams params;
  params.max_tokens = 40;
  params.thinking_budget = 5;
  params.sampling.temperature = 0.0f;
  params.grammar = "root ::= \"<|channel>\" [a-z ]{1,20}";
  Generate(*s, params);
  REQUIRE(s->AppendMessage({"user", "Why?"}).ok());
  GenerateParams plain;
  plain.max_tokens = 12;
  plain.sampling.temperature = 0.0f;
  const Reply pruned = Generate(*s, plain);

  auto fresh = NewSession(options);
  REQUIRE(fresh->AppendTokens(s->tokens().data(), s->tokens().size() - pruned.tokens.size()).ok());
  const Reply again = Generate(*fresh, plain);
  CHECK(again.tokens == pruned.tokens);
}

TEST_CASE("thinking: a thought is pruned after the overflow policy dropped turns mid-reply", "[assistant]") {
  SessionOptions options;
  options.enable_thinking = true;
  options.context_length = 192;
  options.prefill_chunk = 32;
  options.overflow = OverflowPolicy::kDropOldestTurns;
  auto s = NewSession(options);
  for (int turn = 0; turn < 4; ++turn) {
    REQUIRE(s->AppendMessage({"user", "Tell me about the old jury and the city council."}).ok());
    REQUIRE(s->AppendMessage({"model", "The jury said the city council was fine and well run."}).ok());
  }
  REQUIRE(s->AppendMessage({"user", "And the election?"}).ok());
  GenerateParams params;
  params.max_tokens = 120;  // past the context: older turns give way while the reply is written
  params.thinking_budget = 40;
  params.sampling.temperature = 0.0f;
  params.grammar = "root ::= \"<|channel>\" [a-z]{1,4}";  // complete: the library ends the turn itself
  const size_t before = s->tokens().size();
  const Reply reply = Generate(*s, params);
  REQUIRE(s->stats().stop_reason == StopReason::kStopToken);
  REQUIRE(before + reply.tokens.size() > 192);  // the overflow policy ran during the reply
  REQUIRE(s->AppendMessage({"user", "Thanks."}).ok());
  const std::string history = Text(s->tokens());
  INFO(history);
  CHECK(history.find(markers::kChannelStart) == std::string::npos);
  CHECK(history.rfind("<s><|turn>system\n<|think|>\n<turn|>\n", 0) == 0);
  CHECK(s->tokens().size() <= 192);
}

const char* kWeatherTools = R"([{"type":"function","function":{"name":"get_weather",
  "description":"Get current weather","parameters":{"type":"object","properties":{
  "city":{"type":"string","description":"City name","maxLength":16},
  "unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}])";

TEST_CASE("tools: required calls parse, validate, and results continue the same model turn", "[assistant]") {
  SessionOptions options;
  options.tools_json = kWeatherTools;
  options.context_length = 1024;
  int calls_seen = 0;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    auto s = NewSession(options);
    REQUIRE(s->AppendMessage({"user", "Weather in Paris?"}).ok());
    GenerateParams params;
    params.max_tokens = 200;
    params.sampling.seed = seed;
    params.tool_choice = ToolChoice::kRequired;
    const Reply reply = Generate(*s, params);
    INFO("seed " << seed << ": " << Text(reply.tokens));
    CHECK(reply.answer.empty());  // tool-call text is not answer text
    if (s->stats().stop_reason == StopReason::kMaxTokens) continue;  // a long city name
    REQUIRE(s->stats().stop_reason == StopReason::kToolCall);
    REQUIRE_FALSE(s->tool_calls().empty());
    for (const ToolCall& call : s->tool_calls()) {
      INFO(call.raw << " " << call.error);
      REQUIRE(call.error.empty());
      CHECK(call.name == "get_weather");
      JsonValue arguments;
      REQUIRE(ParseJson(call.arguments_json, &arguments).ok());
      REQUIRE(arguments.is_object());
      const JsonValue* city = arguments.Find("city");
      REQUIRE(city);
      CHECK(city->is_string());
      if (const JsonValue* unit = arguments.Find("unit")) CHECK((unit->text == "c" || unit->text == "f"));
      ++calls_seen;
    }
    const size_t before = s->tokens().size();
    for (size_t i = 0; i < s->tool_calls().size(); ++i) REQUIRE(s->AppendMessage({"tool", R"({"temp":22,"sky":"clear"})"}).ok());
    CHECK(s->AppendMessage({"tool", "{}"}).code() == StatusCode::kInvalidArgument);  // nothing left to answer
    const std::string results = Text(std::vector<int>(s->tokens().begin() + static_cast<std::ptrdiff_t>(before), s->tokens().end()));
    CHECK(results.find("response:get_weather{sky:<|\"|>clear<|\"|>,temp:22}<tool_response|>") != std::string::npos);
    // The model goes on in the same turn: no new turn is opened for it.
    GenerateParams answer;
    answer.max_tokens = 8;
    answer.sampling.seed = seed;
    const size_t at = s->tokens().size();
    Generate(*s, answer);
    CHECK(s->tokens()[at] != Bundled().tokenizer()->turn_start_id());
  }
  CHECK(calls_seen >= 6);
}

// A tiny Gemma 4 model with Gemma 4's real vocabulary (random weights): its markers are control tokens.
const LoadedModel& GemmaVocabularyModel() {
  static const std::unique_ptr<LoadedModel> model = [] {
    std::ifstream in(testing::SharedPath("fixtures/gemma4-tiny-e2b/config.json"));
    std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    config = std::regex_replace(config, std::regex(R"re("(vocab_size|vocab_size_per_layer_input)": 2048)re"), "\"$1\": 262144");
    const std::string config_path = testing::TempDir() + "/gemma-vocabulary-config.json";
    std::ofstream(config_path) << config;
    ConvertOptions o;
    o.synthesize_config = config_path;
    o.tokenizer = std::string(EDGELM_SOURCE_DIR) + "/third_party/gemma_tokenizer/tokenizer.json";
    o.format = "q4_0";
    o.output = testing::TempDir() + "/gemma-vocabulary.edgelm";
    Status status = Convert(o, nullptr);
    INFO(status.message());
    REQUIRE(status.ok());
    auto m = testing::LoadModel(o.output, &status);
    REQUIRE(status.ok());
    return m;
  }();
  return *model;
}

TEST_CASE("tools: a call the model opens with <|tool_call> always parses and fits its schema", "[assistant]") {
  const LoadedModel& m = GemmaVocabularyModel();
  const Tokenizer& tokenizer = *m.tokenizer();
  const int call_start = tokenizer.PieceToId(markers::kToolCallStart);
  REQUIRE(tokenizer.IsControl(call_start));
  auto calls_in = [&](const std::vector<int>& ids) {
    std::string text;
    REQUIRE(tokenizer.Decode(ids, DecodeOptions(), &text).ok());
    std::vector<ToolCall> calls;
    ParseToolCalls(text, &calls);
    return calls;
  };
  int parsed = 0, free_malformed = 0;
  for (bool with_tools : {true, false}) {
    SessionOptions options;
    options.context_length = 1024;
    if (with_tools) options.tools_json = kWeatherTools;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      std::unique_ptr<Session> s;
      REQUIRE(Session::Create(m.model(), m.tokenizer(), m.chat(), options, &s).ok());
      REQUIRE(s->AppendMessage({"user", "Weather in Paris?"}).ok());
      GenerateParams params;
      params.max_tokens = 160;
      params.sampling.seed = seed;
      params.sampling.logit_bias = {{call_start, 30.0f}};  // a random model calls only when pushed
      const size_t before = s->tokens().size();
      REQUIRE(s->Generate(params, nullptr).ok());
      const std::vector<ToolCall> calls = calls_in(std::vector<int>(s->tokens().begin() + static_cast<std::ptrdiff_t>(before), s->tokens().end()));
      for (const ToolCall& call : calls) {
        INFO("seed " << seed << ": " << call.raw << " " << call.error);
        if (!with_tools) {
          free_malformed += !call.error.empty();
          continue;
        }
        if (call.error.find("without <tool_call|>") != std::string::npos) continue;  // cut by max_tokens
        REQUIRE(call.error.empty());
        CHECK(call.name == "get_weather");
        JsonValue arguments;
        REQUIRE(ParseJson(call.arguments_json, &arguments).ok());
        const JsonValue* city = arguments.Find("city");
        REQUIRE(city);
        CHECK(city->is_string());
        ++parsed;
      }
    }
  }
  CHECK(parsed >= 3);
  CHECK(free_malformed >= 1);  // without the grammar the random model's calls are garbage
}

TEST_CASE("tools: a tool result needs an open call; declarations are validated", "[assistant]") {
  SessionOptions options;
  options.tools_json = kWeatherTools;
  auto s = NewSession(options);
  REQUIRE(s->AppendMessage({"user", "Hi"}).ok());
  CHECK(s->AppendMessage({"tool", "{}"}).code() == StatusCode::kInvalidArgument);
  options.tools_json = "[{\"name\":\"bad name\"}]";
  std::unique_ptr<Session> bad;
  CHECK(Session::Create(Bundled().model(), Bundled().tokenizer(), Bundled().chat(), options, &bad).code() ==
        StatusCode::kInvalidArgument);
  GenerateParams required;
  required.tool_choice = ToolChoice::kRequired;
  auto no_tools = NewSession(SessionOptions());
  REQUIRE(no_tools->AppendMessage({"user", "Hi"}).ok());
  CHECK(no_tools->Generate(required, nullptr).code() == StatusCode::kInvalidArgument);
}

// The schema's rules, checked on a parsed reply.
bool ValidPerson(const JsonValue& v) {
  if (!v.is_object()) return false;
  std::set<std::string> keys;
  for (const auto& [key, value] : v.members) {
    if (!keys.insert(key).second) return false;
    if (key == "name") {
      if (!value.is_string() || value.text.size() > 40) return false;
    } else if (key == "age") {
      if (!value.is_number() || value.text.find_first_of(".eE") != std::string::npos) return false;
    } else if (key == "tags") {
      if (!value.is_array() || value.items.size() > 3) return false;
      for (const JsonValue& tag : value.items)
        if (!tag.is_string() || (tag.text != "red" && tag.text != "green" && tag.text != "blue")) return false;
    } else if (key == "member") {
      if (!value.is_bool()) return false;
    } else {
      return false;
    }
  }
  return keys.count("name") && keys.count("age");
}

TEST_CASE("JSON schema: every constrained reply over many seeds parses and validates", "[assistant]") {
  const std::string schema = R"({"type":"object","properties":{
    "name":{"type":"string","maxLength":10},"age":{"type":"integer"},
    "tags":{"type":"array","items":{"enum":["red","green","blue"]},"maxItems":3},
    "member":{"type":"boolean"}},"required":["name","age"]})";
  SessionOptions options;
  options.context_length = 512;
  int complete = 0;
  const int seeds = 24;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    auto s = NewSession(options);
    REQUIRE(s->AppendMessage({"user", "Describe a person as JSON."}).ok());
    GenerateParams params;
    params.max_tokens = 120;
    params.sampling.seed = seed;
    params.sampling.temperature = 1.0f;
    params.json_schema = schema;
    const Reply reply = Generate(*s, params);
    INFO("seed " << seed << ": " << reply.answer);
    if (s->stats().stop_reason == StopReason::kMaxTokens) continue;
    CHECK(s->stats().stop_reason == StopReason::kStopToken);
    JsonValue value;
    REQUIRE(ParseJson(reply.answer, &value).ok());
    CHECK(ValidPerson(value));
    ++complete;
  }
  CHECK(complete >= seeds * 3 / 4);

  // max_tokens wins over an unfinished sentence, and says so.
  auto s = NewSession(options);
  REQUIRE(s->AppendMessage({"user", "JSON please."}).ok());
  GenerateParams short_params;
  short_params.max_tokens = 3;
  short_params.json_schema = schema;
  const Reply cut = Generate(*s, short_params);
  CHECK(cut.tokens.size() == 3);
  CHECK(s->stats().stop_reason == StopReason::kMaxTokens);

  GenerateParams both;
  both.grammar = "root ::= \"a\"";
  both.json_schema = schema;
  CHECK(s->Generate(both, nullptr).code() == StatusCode::kInvalidArgument);
  GenerateParams broken;
  broken.grammar = "root ::= (";
  CHECK(s->Generate(broken, nullptr).code() == StatusCode::kInvalidArgument);
  broken.grammar.clear();
  broken.json_schema = "{not json";
  CHECK(s->Generate(broken, nullptr).code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgelm
