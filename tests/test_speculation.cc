// Speculative decoding (issue 17) leaves the output unchanged: greedy and sampled replies with prompt
// lookup or a draft model equal plain decoding's token for token, on the Hugging Face fixture (against
// its own greedy tokens too) and on brown-tiny over many prompts and seeds; sampled tokens follow the
// model's distribution where their logits came from a verified draft; drafts are really verified and
// accepted along the way; and a forked or cancelled speculating session stays exact.
#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "support/test_models.h"

namespace edgelm {
namespace {

using testing::SharedPath;

std::string BrownTinyPath() { return std::string(EDGELM_SOURCE_DIR) + "/models/brown-tiny-mobile.edgelm"; }

const LoadedModel& Load(const std::string& path) {
  static std::map<std::string, std::unique_ptr<LoadedModel>> cache;
  auto it = cache.find(path);
  if (it == cache.end()) {
    Status status;
    auto m = testing::LoadModel(path, &status);
    INFO(path << ": " << status.message());
    REQUIRE(status.ok());
    it = cache.emplace(path, std::move(m)).first;
  }
  return *it->second;
}

// brown-tiny's float checkpoint as Q4_0: a draft that shares the bundled model's tokenizer.
const LoadedModel& BrownTinyDraft() {
  Status status;
  const std::string path = testing::Converted(SharedPath("models/brown-tiny/float"), "q4_0", &status);
  INFO(status.message());
  REQUIRE(status.ok());
  return Load(path);
}

const LoadedModel& FixtureModel(const std::string& format) {
  Status status;
  const std::string path = testing::Converted(SharedPath("fixtures/gemma4-tiny-e2b"), format, &status);
  INFO(status.message());
  REQUIRE(status.ok());
  return Load(path);
}

SessionOptions Speculating(SpeculationMode mode, const LoadedModel* draft, bool adaptive = false) {
  SessionOptions options;
  options.context_length = 512;
  options.prefill_chunk = 32;
  options.speculation.mode = mode;
  options.speculation.draft_model = draft ? &draft->model() : nullptr;
  options.speculation.max_draft_tokens = 6;
  options.speculation.adaptive = adaptive;  // always draft: the paths under test run on every step
  return options;
}

std::unique_ptr<Session> NewSession(const LoadedModel& m, const SessionOptions& options) {
  std::unique_ptr<Session> s;
  const Status status = Session::Create(m.model(), m.tokenizer(), m.chat(), options, &s);
  INFO(status.message());
  REQUIRE(status.ok());
  return s;
}

std::vector<int> Generate(Session& s, const std::vector<int>& prompt, const GenerateParams& params) {
  REQUIRE(s.AppendTokens(prompt.data(), prompt.size()).ok());
  std::vector<int> out;
  const Status status = s.Generate(params, [&](int token, std::string_view) {
    if (token >= 0) out.push_back(token);
    return false;
  });
  INFO(status.message());
  REQUIRE(status.ok());
  return out;
}

// Greedy for seed 0, else sampled (temperature 0.9, top-p 0.95) with a seed for this prompt and seed.
GenerateParams ReplyParams(int max_tokens, int seed, size_t prompt) {
  GenerateParams params;
  params.max_tokens = max_tokens;
  if (seed == 0) {
    params.sampling.temperature = 0.0f;
  } else {
    params.sampling.temperature = 0.9f;
    params.sampling.top_p = 0.95f;
    params.sampling.seed = static_cast<uint64_t>(seed * 1000) + prompt;
  }
  return params;
}

struct PlainAndSpeculating {
  std::unique_ptr<Session> plain, fast;
};

// The reply to `prompt` from a plain session and from one with `speculating` options: checks that the
// replies and the histories are equal, and returns both sessions to go on with.
PlainAndSpeculating GenerateBoth(const LoadedModel& target, const SessionOptions& speculating,
                                 const std::vector<int>& prompt, const GenerateParams& params) {
  PlainAndSpeculating s{NewSession(target, SessionOptions{}), NewSession(target, speculating)};
  CHECK(Generate(*s.fast, prompt, params) == Generate(*s.plain, prompt, params));
  CHECK(s.fast->tokens() == s.plain->tokens());
  return s;
}

// Prompts from brown-tiny's validation text: plain openings (drafts mostly fail), and passages given twice
// and then begun a third time (prompt lookup should quote them).
std::vector<std::vector<int>> BrownPrompts(const Tokenizer& tokenizer, int count) {
  std::ifstream in(SharedPath("models/brown-tiny/text/valid.txt"));
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line) && static_cast<int>(lines.size()) < count;)
    if (line.size() > 80) lines.push_back(line.substr(0, 240));
  REQUIRE(static_cast<int>(lines.size()) == count);
  std::vector<std::vector<int>> prompts;
  for (size_t i = 0; i < lines.size(); ++i) {
    // Cut at a space, so that the prompt's last token is the one the passage has there.
    const std::string& line = lines[i];
    const std::string text = i % 2 ? line + "\n" + line + "\n" + line.substr(0, line.rfind(' ', 40))
                                   : line.substr(0, line.rfind(' ', 120));
    std::vector<int> ids;
    EncodeOptions options;
    options.add_bos = true;
    REQUIRE(tokenizer.Encode(text, options, &ids).ok());
    prompts.push_back(ids);
  }
  return prompts;
}

TEST_CASE("greedy speculation on the HF fixture gives the fixture's tokens", "[speculation]") {
  std::ifstream in(SharedPath("fixtures/gemma4-tiny-e2b/fixtures.json"));
  const nlohmann::json fx = nlohmann::json::parse(in);
  const LoadedModel& target = FixtureModel("f32");
  const LoadedModel& draft = FixtureModel("q4_0");
  for (SpeculationMode mode : {SpeculationMode::kPromptLookup, SpeculationMode::kDraftModel}) {
    int64_t accepted = 0;
    for (int k = 0; k < 3; ++k) {
      const nlohmann::json& seq = fx["sequences"][k];
      const std::vector<int> prompt = seq["tokens"].get<std::vector<int>>();
      const std::vector<int> want = seq["greedy"]["tokens_manual_cache"].get<std::vector<int>>();
      GenerateParams params;
      params.max_tokens = static_cast<int>(want.size());
      params.ignore_stop = true;
      params.sampling.temperature = 0.0f;
      SessionOptions options = Speculating(mode, &draft);
      options.kv_type = KvType::kF32;  // the fixture's arithmetic (int8 K/V flips its near-ties)
      auto s = NewSession(target, options);
      INFO("mode " << static_cast<int>(mode) << ", prompt " << k);

      CHECK(Generate(*s, prompt, params) == want);
      accepted += s->stats().accepted_draft_tokens;
      CHECK(s->stats().decode_passes == static_cast<int64_t>(want.size()) - 1 - s->stats().accepted_draft_tokens);
    }
    if (mode == SpeculationMode::kDraftModel) CHECK(accepted > 0);  // the int4 copy guesses the f32 model
  }
}

TEST_CASE("greedy and sampled speculation equal plain decoding on brown-tiny, over many prompts and seeds",
          "[speculation]") {
  const LoadedModel& target = Load(BrownTinyPath());
  const LoadedModel& draft = BrownTinyDraft();
  const std::vector<std::vector<int>> prompts = BrownPrompts(*target.tokenizer(), 10);
  for (SpeculationMode mode : {SpeculationMode::kPromptLookup, SpeculationMode::kDraftModel}) {
    int64_t drafted = 0, accepted = 0;
    for (size_t p = 0; p < prompts.size(); ++p) {
      for (int seed : {0, 1, 2}) {
        GenerateParams params = ReplyParams(40, seed, p);
        params.ignore_stop = true;
        INFO("mode " << static_cast<int>(mode) << ", prompt " << p << ", seed " << seed);
        const auto [plain, fast] = GenerateBoth(target, Speculating(mode, &draft), prompts[p], params);
        drafted += fast->stats().drafted_tokens;
        accepted += fast->stats().accepted_draft_tokens;
        // The session goes on exactly after a speculative reply: the next logits equal plain ones.
        std::vector<float> a(static_cast<size_t>(target.config().vocab_size)), b(a.size());
        const int next = 17;
        REQUIRE(fast->AppendTokens(&next, 1).ok());
        REQUIRE(plain->AppendTokens(&next, 1).ok());
        REQUIRE(fast->EvaluateLast(a.data()).ok());
        REQUIRE(plain->EvaluateLast(b.data()).ok());
        CHECK(a == b);
      }
    }
    INFO("mode " << static_cast<int>(mode) << ": drafted " << drafted << ", accepted " << accepted);
    CHECK(drafted > 0);
    CHECK(accepted > drafted / 10);  // quoted passages (lookup), a near-identical draft model
  }
}

TEST_CASE("constrained replies: speculation equals plain decoding, and drafts stop where the grammar does",
          "[speculation]") {
  const LoadedModel& target = Load(BrownTinyPath());
  const LoadedModel& draft = BrownTinyDraft();
  const std::vector<std::vector<int>> prompts = BrownPrompts(*target.tokenizer(), 6);
  for (SpeculationMode mode : {SpeculationMode::kPromptLookup, SpeculationMode::kDraftModel}) {
    for (size_t p = 0; p < prompts.size(); ++p) {
      for (int seed : {0, 1}) {
        GenerateParams params = ReplyParams(30, seed, p);
        // Lower-case words: the quoted passages' capitals and punctuation are refused mid-draft.
        params.grammar = "root ::= [a-z]+ (\" \" [a-z]+)*";
        INFO("mode " << static_cast<int>(mode) << ", prompt " << p << ", seed " << seed);
        GenerateBoth(target, Speculating(mode, &draft), prompts[p], params);
      }
    }
  }
  // One draft per reply (two tokens: the second's logits come from verifying the draft after the first),
  // up to six tokens from the draft model, which knows nothing of the grammar: only digits are kept.
  int64_t free_drafted = 0, digit_drafted = 0;
  for (const std::vector<int>& prompt : prompts) {
    GenerateParams params;
    params.max_tokens = 2;
    params.sampling.temperature = 0.0f;
    auto unconstrained = NewSession(target, Speculating(SpeculationMode::kDraftModel, &draft));
    Generate(*unconstrained, prompt, params);
    free_drafted += unconstrained->stats().drafted_tokens;
    params.grammar = "root ::= [0-9]+";
    auto digits = NewSession(target, Speculating(SpeculationMode::kDraftModel, &draft));
    const std::vector<int> reply = Generate(*digits, prompt, params);
    REQUIRE(reply.size() == 2);
    digit_drafted += digits->stats().drafted_tokens;
  }
  INFO("drafted without a grammar " << free_drafted << ", with digits only " << digit_drafted);
  CHECK(free_drafted > 3 * static_cast<int64_t>(prompts.size()));
  CHECK(digit_drafted < free_drafted / 2);
}

// Pearson's chi-square of `counts` (token -> samples) against softmax(logits / temperature), over the
// tokens expected at least 5 times with the rest pooled; true when below the 1e-4 tail (about
// df + 4.3 sqrt(2 df) + 10 for df = bins - 1).
bool FollowsDistribution(const std::map<int, int>& counts, const std::vector<float>& logits, float temperature) {
  int total = 0;
  for (const auto& [token, n] : counts) total += n;
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < p.size(); ++i) sum += p[i] = std::exp(static_cast<double>(logits[i] - max_logit) / temperature);
  double chi2 = 0.0, rest_expected = 0.0;
  int rest_observed = 0, bins = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double expected = p[i] / sum * total;
    const auto it = counts.find(static_cast<int>(i));
    const int observed = it == counts.end() ? 0 : it->second;
    if (expected < 5.0) {
      rest_expected += expected;
      rest_observed += observed;
      continue;
    }
    chi2 += (observed - expected) * (observed - expected) / expected;
    ++bins;
  }
  if (rest_expected > 0.0) {
    chi2 += (rest_observed - rest_expected) * (rest_observed - rest_expected) / rest_expected;
    ++bins;
  }
  const double df = bins - 1;
  INFO("chi-square " << chi2 << " over " << bins << " bins, " << total << " samples");
  REQUIRE(bins >= 2);
  return chi2 < df + 4.3 * std::sqrt(2.0 * df) + 10.0;
}

// Tokens sampled from a verified draft's logits follow the model's distribution. Over many seeds,
// each forked from one prefilled session, three tokens are sampled: the first from a plain forward,
// the second from the first row of the forward that verified a draft after the first, and, when the
// second was the guess, the third from the row that guess produced. Each is compared with the plain
// model's probabilities given the most common tokens before it.
TEST_CASE("sampled tokens from verified drafts follow the target distribution", "[speculation]") {
  const LoadedModel& target = Load(BrownTinyPath());
  const std::vector<int> prompt = BrownPrompts(*target.tokenizer(), 2)[1];
  // The model drafts for itself: its greedy guess is often the sampled token at a low temperature.
  SessionOptions options = Speculating(SpeculationMode::kDraftModel, &target);
  options.speculation.max_draft_tokens = 2;
  auto base = NewSession(target, options);
  REQUIRE(base->AppendTokens(prompt.data(), prompt.size()).ok());
  GenerateParams greedy;
  greedy.max_tokens = 2;  // prefills the target and its draft session once, for every fork
  greedy.ignore_stop = true;
  greedy.sampling.temperature = 0.0f;
  REQUIRE(base->Generate(greedy, nullptr).ok());

  constexpr int kSeeds = 2000;
  constexpr float kTemperature = 0.5f;
  std::map<int, int> first;
  std::map<int, std::map<int, int>> second;                // first token -> counts of the second
  std::map<std::vector<int>, std::map<int, int>> third;  // first two, the second guessed -> the third
  int64_t accepted = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    std::unique_ptr<Session> s;
    REQUIRE(base->Fork(&s).ok());
    GenerateParams params;
    params.max_tokens = 3;
    params.ignore_stop = true;
    params.sampling.temperature = kTemperature;
    params.sampling.seed = static_cast<uint64_t>(seed);
    std::vector<int> out;
    REQUIRE(s->Generate(params, [&](int token, std::string_view) {
      if (token >= 0) out.push_back(token);
      return false;
    }).ok());
    REQUIRE(out.size() == 3);
    ++first[out[0]];
    ++second[out[0]][out[1]];
    if (s->stats().accepted_draft_tokens > 0) ++third[{out[0], out[1]}][out[2]];
    accepted += s->stats().accepted_draft_tokens;
  }
  INFO("accepted " << accepted << " of " << kSeeds << " seeds' second tokens");
  CHECK(accepted > kSeeds / 4);

  // The plain model's logits after the base history, and after it plus the commonest first token.
  auto plain = NewSession(target, SessionOptions{});
  std::vector<int> history = base->tokens();
  std::vector<float> logits(static_cast<size_t>(target.config().vocab_size));
  REQUIRE(plain->AppendTokens(history.data(), history.size()).ok());
  REQUIRE(plain->EvaluateLast(logits.data()).ok());
  CHECK(FollowsDistribution(first, logits, kTemperature));
  const int common = std::max_element(first.begin(), first.end(), [](const auto& a, const auto& b) {
                       return a.second < b.second;
                     })->first;
  REQUIRE(first[common] >= 300);
  REQUIRE(plain->AppendTokens(&common, 1).ok());
  REQUIRE(plain->EvaluateLast(logits.data()).ok());
  CHECK(FollowsDistribution(second[common], logits, kTemperature));
  const auto& [pair, counts] = *std::max_element(third.begin(), third.end(), [](const auto& a, const auto& b) {
    int na = 0, nb = 0;
    for (const auto& entry : a.second) na += entry.second;
    for (const auto& entry : b.second) nb += entry.second;
    return na < nb;
  });
  int guessed = 0;
  for (const auto& entry : counts) guessed += entry.second;
  REQUIRE(guessed >= 300);
  auto after_pair = NewSession(target, SessionOptions{});
  history.insert(history.end(), pair.begin(), pair.end());
  REQUIRE(after_pair->AppendTokens(history.data(), history.size()).ok());
  REQUIRE(after_pair->EvaluateLast(logits.data()).ok());
  CHECK(FollowsDistribution(counts, logits, kTemperature));
}

TEST_CASE("forks, cancels and stop strings leave a speculating session exact", "[speculation]") {
  const LoadedModel& target = Load(BrownTinyPath());
  const LoadedModel& draft = BrownTinyDraft();
  const std::vector<int> prompt = BrownPrompts(*target.tokenizer(), 4)[3];
  GenerateParams params;
  params.max_tokens = 30;
  params.ignore_stop = true;
  params.sampling.temperature = 0.0f;
  auto plain = NewSession(target, SessionOptions{});
  const std::vector<int> want = Generate(*plain, prompt, params);
  for (SpeculationMode mode : {SpeculationMode::kPromptLookup, SpeculationMode::kDraftModel}) {
    INFO("mode " << static_cast<int>(mode));
    auto s = NewSession(target, Speculating(mode, &draft));
    // Cancelled from the token callback after 7 tokens (drafts pending), then continued in the session
    // and in a fork of it: the same 30 tokens in all.
    REQUIRE(s->AppendTokens(prompt.data(), prompt.size()).ok());
    std::vector<int> got;
    const Status cancelled = s->Generate(params, [&](int token, std::string_view) {
      if (token >= 0) got.push_back(token);
      if (got.size() == 7) s->Cancel();
      return false;
    });
    CHECK(cancelled.code() == StatusCode::kCancelled);
    REQUIRE(got.size() == 7);
    std::unique_ptr<Session> fork;
    REQUIRE(s->Fork(&fork).ok());
    GenerateParams rest = params;
    rest.max_tokens = 23;
    for (Session* session : {s.get(), fork.get()}) {
      std::vector<int> tail = got;
      REQUIRE(session->Generate(rest, [&](int token, std::string_view) {
        if (token >= 0) tail.push_back(token);
        return false;
      }).ok());
      CHECK(tail == want);
    }
    // A stop string ends the reply with the history of plain decoding cut at the same token.
    const std::string text = [&] {
      std::string t;
      REQUIRE(target.tokenizer()->Decode(std::vector<int>(want.begin() + 10, want.begin() + 12), DecodeOptions(), &t).ok());
      return t;
    }();
    GenerateParams stopping = params;
    stopping.stop_strings = {text};
    auto a = NewSession(target, Speculating(mode, &draft));
    auto b = NewSession(target, SessionOptions{});
    CHECK(Generate(*a, prompt, stopping) == Generate(*b, prompt, stopping));
    CHECK(a->tokens() == b->tokens());
  }
}

TEST_CASE("bad speculation options are refused with a reason", "[speculation]") {
  const LoadedModel& target = Load(BrownTinyPath());
  std::unique_ptr<Session> s;
  SessionOptions options = Speculating(SpeculationMode::kDraftModel, nullptr);
  CHECK(Session::Create(target.model(), target.tokenizer(), target.chat(), options, &s).code() == StatusCode::kInvalidArgument);
  options = Speculating(SpeculationMode::kPromptLookup, nullptr);
  options.speculation.max_draft_tokens = 17;
  CHECK(Session::Create(target.model(), target.tokenizer(), target.chat(), options, &s).code() == StatusCode::kInvalidArgument);
  const LoadedModel& other = FixtureModel("f32");
  options = Speculating(SpeculationMode::kDraftModel, &other);  // 2048 tokens against brown-tiny's 4096
  const Status refused = Session::Create(target.model(), target.tokenizer(), target.chat(), options, &s);
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK(refused.message().find("vocabulary") != std::string::npos);
}

}  // namespace
}  // namespace edgelm
