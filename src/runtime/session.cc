#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/memory_budget.h"
#include "runtime/chat_markers.h"
#include "runtime/grammar.h"
#include "runtime/json.h"
#include "runtime/json_schema.h"
#include "runtime/reply_stream.h"
#include "runtime/text_scanner.h"

namespace edgelm {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// log softmax(logits)[token], in double.
double LogProbability(const float* logits, int vocab, int token) {
  const float max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0.0;
  for (int v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v] - max_logit));
  return static_cast<double>(logits[token] - max_logit) - std::log(sum);
}

}  // namespace

Status Session::Create(const Gemma4Model& model, const Tokenizer* tokenizer, const ChatTemplate* chat,
                       const SessionOptions& options, std::unique_ptr<Session>* out) {
  const int max_context = model.config().max_position_embeddings;
  if (options.context_length <= 0 || (max_context > 0 && options.context_length > max_context))
    return InvalidArgument("context length " + std::to_string(options.context_length) + " outside [1, " +
                           std::to_string(max_context) + "]");
  if (options.prefill_chunk <= 0 || options.prefill_chunk > 65536)
    return InvalidArgument("prefill chunk " + std::to_string(options.prefill_chunk) + " outside [1, 65536]");
  if (options.num_threads < 0 || options.num_threads > 1024)
    return InvalidArgument("session thread count " + std::to_string(options.num_threads) + " outside [0, 1024]");
  std::unique_ptr<Session> s(new Session(model, tokenizer, chat, options));
  if ((options.enable_thinking || !options.tools_json.empty()) && !chat)
    return Unsupported("thinking and tools need a model with a chat template");
  if (!options.tools_json.empty()) {
    EDGELM_RETURN_IF_ERROR(ParseToolDeclarations(options.tools_json, &s->tools_));
    RenderToolDeclarations(s->tools_, &s->conversation_.tool_declarations);
  }
  s->conversation_.thinking = options.enable_thinking;
  s->options_.prefill_chunk = std::min(options.prefill_chunk, options.context_length);
  if (s->options_.num_threads == 0) s->options_.num_threads = model.num_threads();
  EDGELM_RETURN_IF_ERROR(
      KvCache::Create(model.config(), KvCacheOptions{options.context_length, s->options_.prefill_chunk, options.kv_type}, &s->kv_));
  // The cache allocates its pages as the conversation grows: check its full size before any of it.
  const int threads = options.share_model_threads ? model.num_threads() : s->options_.num_threads;
  const uint64_t kv_bytes = s->kv_->bytes_at_full_context();
  const SpeculationOptions& speculation = options.speculation;
  if (speculation.mode != SpeculationMode::kNone && (speculation.max_draft_tokens < 1 || speculation.max_draft_tokens > 16))
    return InvalidArgument("max_draft_tokens " + std::to_string(speculation.max_draft_tokens) + " outside [1, 16]");
  // A draft and the token before it are verified in one forward, which appends at most a chunk.
  const int max_draft = std::min(speculation.max_draft_tokens, s->options_.prefill_chunk - 1);
  const uint64_t verify_bytes = speculation.mode == SpeculationMode::kNone ? 0
      : static_cast<uint64_t>(max_draft + 1) * static_cast<uint64_t>(model.config().vocab_size) * sizeof(float);
  const uint64_t scratch_bytes = model.WorkspaceBytes(s->options_.prefill_chunk, options.context_length, threads) + verify_bytes;
  EDGELM_RETURN_IF_ERROR(CheckMemoryBudget(
      "a session of " + std::to_string(options.context_length) + " tokens", kv_bytes + scratch_bytes,
      Megabytes(kv_bytes) + " KV cache (" + KvTypeName(options.kv_type) + ") + " + Megabytes(scratch_bytes) + " scratch",
      options.max_memory_bytes));
  EDGELM_RETURN_IF_ERROR(s->InitCompute());
  s->last_logits_.resize(static_cast<size_t>(model.config().vocab_size));
  switch (speculation.mode) {
    case SpeculationMode::kNone:
      break;
    case SpeculationMode::kPromptLookup:
      s->drafter_.reset(new PromptLookupDrafter());
      break;
    case SpeculationMode::kDraftModel:
      if (!speculation.draft_model) return InvalidArgument("speculation with a draft model needs the draft model");
      EDGELM_RETURN_IF_ERROR(DraftModelDrafter::Create(*speculation.draft_model, model.config().vocab_size, s->options_, &s->drafter_));
      break;
  }
  if (s->drafter_) s->draft_controller_.reset(new DraftController(max_draft, speculation.adaptive));
  *out = std::move(s);
  return Status::Ok();
}

Status Session::InitCompute() {
  if (!options_.share_model_threads) EDGELM_RETURN_IF_ERROR(ThreadPool::Create(options_.num_threads, &own_pool_));
  workspace_ = model_.NewWorkspace(pool());
  return Status::Ok();
}

Status Session::MakeRoom(size_t extra) {
  const size_t context = static_cast<size_t>(options_.context_length);
  if (tokens_.size() + extra <= context) return Status::Ok();
  const Status full(StatusCode::kContextFull, "the conversation would reach " + std::to_string(tokens_.size() + extra) +
                                                   " tokens, over the context length " + std::to_string(context));
  if (options_.overflow == OverflowPolicy::kError || extra > context / 2) return full;
  // Free a quarter of the context beyond what is needed, so that generation does not re-prefill
  // at every token.
  const size_t target = context - extra - context / 4;
  std::vector<int> kept;
  if (options_.overflow == OverflowPolicy::kKeepSinkAndRecent) {
    const size_t sink = std::min<size_t>(static_cast<size_t>(std::max(0, options_.sink_tokens)), target);
    kept.assign(tokens_.begin(), tokens_.begin() + static_cast<std::ptrdiff_t>(sink));
    kept.insert(kept.end(), tokens_.end() - static_cast<std::ptrdiff_t>(target - sink), tokens_.end());
  } else {
    // Turn starts after the first turn; a leading system turn (or plain-text prefix) is kept.
    const int turn_start = tokenizer_ ? tokenizer_->turn_start_id() : -1;
    std::vector<size_t> starts;
    for (size_t i = 0; i < tokens_.size(); ++i)
      if (tokens_[i] == turn_start) starts.push_back(i);
    if (starts.size() < 3) return full;  // nothing whole to drop besides the current exchange
    const size_t keep_prefix = starts[1];  // BOS + the first turn
    size_t cut = 2;
    while (cut < starts.size() && keep_prefix + (tokens_.size() - starts[cut]) > target) ++cut;
    if (cut == starts.size()) return full;
    kept.assign(tokens_.begin(), tokens_.begin() + static_cast<std::ptrdiff_t>(keep_prefix));
    kept.insert(kept.end(), tokens_.begin() + static_cast<std::ptrdiff_t>(starts[cut]), tokens_.end());
  }
  // Positions change, so every kept token is prefilled again.
  tokens_ = std::move(kept);
  kv_->set_length(0);
  last_logits_valid_ = false;
  return tokens_.size() + extra <= context ? Status::Ok() : full;
}

Status Session::AppendMessage(const ChatMessage& message) {
  if (!chat_) return Unsupported("this model has no chat template");
  if (message.role == "tool") return AppendToolResult(message);
  std::vector<int> ids;
  if (tokens_.empty()) {
    EDGELM_RETURN_IF_ERROR(chat_->Apply({message}, /*add_generation_prompt=*/false, &ids, conversation_));
  } else {
    if (model_turn_open_) chat_->AppendTurnClose(&ids);  // a reply that was cut short
    EDGELM_RETURN_IF_ERROR(chat_->AppendTurn(message, &ids));
  }
  EDGELM_RETURN_IF_ERROR(MakeRoom(ids.size()));
  const size_t closed_content = model_turn_open_ ? OpenModelTurnContent() : std::string::npos;
  const size_t close_at = tokens_.size();
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  model_turn_open_ = false;
  awaiting_reply_ = !ChatTemplate::IsModelRole(message.role);
  if (closed_content != std::string::npos) EDGELM_RETURN_IF_ERROR(PruneThoughts(closed_content, close_at));
  return Status::Ok();
}

Status Session::AppendToolResult(const ChatMessage& message) {
  EDGELM_RETURN_IF_ERROR(ValidateUtf8(message.content));
  const size_t content = model_turn_open_ ? OpenModelTurnContent() : std::string::npos;
  if (content == std::string::npos)
    return InvalidArgument("a tool result belongs to the model turn that called the tool: none is open");
  const std::string text = MarkedText(content, tokens_.size());
  std::vector<ToolCall> calls;
  ParseToolCalls(text, &calls);
  size_t answered = 0;
  for (size_t at = text.find(markers::kToolResponseEnd); at != std::string::npos;
       at = text.find(markers::kToolResponseEnd, at + 1))
    ++answered;
  if (answered >= calls.size())
    return InvalidArgument("every tool call of this turn has its result already (" + std::to_string(calls.size()) +
                           " calls)");
  const ToolCall& call = calls[answered];
  if (!call.error.empty()) return InvalidArgument("the call this result would answer is malformed: " + call.error);
  std::vector<TemplatePiece> pieces;
  const std::string_view opener = markers::kToolResponseStart;
  if (text.size() < opener.size() || text.compare(text.size() - opener.size(), opener.size(), opener) != 0)
    pieces.push_back(TemplatePiece{std::string(opener), true});
  RenderToolResponse(call.name, message.content, &pieces);
  std::vector<int> ids;
  EDGELM_RETURN_IF_ERROR(chat_->AppendPieces(pieces, &ids));
  EDGELM_RETURN_IF_ERROR(MakeRoom(ids.size()));
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  awaiting_reply_ = false;  // the model continues its own turn
  return Status::Ok();
}

size_t Session::OpenModelTurnContent() const {
  if (!chat_) return std::string::npos;
  const std::vector<int>& prompt = chat_->GenerationPrompt();  // "<|turn>model\n"
  for (size_t i = tokens_.size(); i-- > 0;) {
    if (tokens_[i] == tokenizer_->turn_end_id()) return std::string::npos;
    if (tokens_[i] != tokenizer_->turn_start_id()) continue;
    if (tokens_.size() - i >= prompt.size() && std::equal(prompt.begin(), prompt.end(), tokens_.begin() + static_cast<std::ptrdiff_t>(i)))
      return i + prompt.size();
    return std::string::npos;
  }
  return std::string::npos;
}

std::string Session::MarkedText(size_t begin, size_t end) const {
  static constexpr std::string_view kShown[] = {markers::kChannelStart,  markers::kChannelEnd,
                                                markers::kToolCallStart, markers::kToolCallEnd,
                                                markers::kToolResponseStart, markers::kToolResponseEnd,
                                                markers::kStringDelimiter};
  std::vector<int> ids;
  for (size_t i = begin; i < end; ++i) {
    const int id = tokens_[i];
    if (tokenizer_->IsControl(id) &&
        std::find(std::begin(kShown), std::end(kShown), tokenizer_->piece(id)) == std::end(kShown))
      continue;
    ids.push_back(id);
  }
  std::string text;
  (void)tokenizer_->Decode(ids, DecodeOptions{/*skip_control=*/false}, &text);  // ids come from the vocabulary
  return text;
}

Status Session::PruneThoughts(size_t content, size_t end) {
  std::string text = MarkedText(content, end);
  if (text.find(markers::kChannelStart) == std::string::npos) return Status::Ok();
  // A thought the turn never closed (cut by max_tokens) ends the kept text.
  if (ReplyStream::ChannelAfter(text) == ReplyChannel::kThought) text.resize(text.rfind(markers::kChannelStart));
  const size_t turn_start = content - chat_->GenerationPrompt().size();
  size_t after_turn = end;  // the first token after the turn's "<turn|>\n"
  if (after_turn < tokens_.size() && tokens_[after_turn] == tokenizer_->turn_end_id()) {
    ++after_turn;
    const std::vector<int>& newline = chat_->AfterTurnEnd();
    if (tokens_.size() - after_turn >= newline.size() &&
        std::equal(newline.begin(), newline.end(), tokens_.begin() + static_cast<std::ptrdiff_t>(after_turn)))
      after_turn += newline.size();
  }
  std::vector<int> tail;
  if (text.find(markers::kToolCallStart) == std::string::npos) {
    // A plain reply: exactly what the template renders for it as an earlier turn.
    EDGELM_RETURN_IF_ERROR(chat_->AppendTurn(ChatMessage{"model", text}, &tail));
  } else {
    // Calls and results stay as generated and written; only the thought spans between their control
    // tokens go (a vocabulary that spells the markers as text keeps its thoughts here).
    const int open = chat_->MarkerToken(markers::kChannelStart), close = chat_->MarkerToken(markers::kChannelEnd);
    if (open < 0 || close < 0) return Status::Ok();
    bool in_thought = false;
    for (size_t i = turn_start; i < after_turn; ++i) {
      if (tokens_[i] == open) in_thought = true;
      if (!in_thought) tail.push_back(tokens_[i]);
      if (tokens_[i] == close) in_thought = false;
    }
  }
  tail.insert(tail.end(), tokens_.begin() + static_cast<std::ptrdiff_t>(after_turn), tokens_.end());
  ReplaceTail(turn_start, tail);
  return Status::Ok();
}

void Session::ReplaceTail(size_t from, const std::vector<int>& tail) {
  size_t same = 0;
  while (from + same < tokens_.size() && same < tail.size() && tokens_[from + same] == tail[same]) ++same;
  tokens_.resize(from);
  tokens_.insert(tokens_.end(), tail.begin(), tail.end());
  const int changed = static_cast<int>(from + same);
  if (changed < kv_->length()) {
    kv_->set_length(changed >= kv_->rewind_floor() ? changed : 0);
    last_logits_valid_ = false;
  }
}

Status Session::AppendText(std::string_view text, bool parse_special) {
  if (!tokenizer_) return Unsupported("this model has no tokenizer");
  std::vector<int> ids;
  EncodeOptions enc;
  enc.parse_special = parse_special;
  enc.add_bos = tokens_.empty() && tokenizer_->bos_id() >= 0;
  EDGELM_RETURN_IF_ERROR(tokenizer_->Encode(text, enc, &ids));
  return AppendTokens(ids.data(), ids.size());
}

Status Session::AppendTokens(const int* tokens, size_t count) {
  if (count > 0 && !tokens) return InvalidArgument("null token array");
  const int vocab = model_.config().vocab_size;
  for (size_t i = 0; i < count; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return OutOfRange("token id " + std::to_string(tokens[i]) + " outside the vocabulary [0, " + std::to_string(vocab) + ")");
  if (count == 0) return Status::Ok();  // nothing appended: the turn state stays
  EDGELM_RETURN_IF_ERROR(MakeRoom(count));
  tokens_.insert(tokens_.end(), tokens, tokens + count);
  awaiting_reply_ = false;
  model_turn_open_ = false;
  return Status::Ok();
}

Status Session::Prefill() {
  int done = kv_->length();
  const int total = static_cast<int>(tokens_.size());
  if (done == total && !last_logits_valid_) {
    if (total == 0) return InvalidArgument("nothing to generate from: append a message, text or tokens first");
    kv_->set_length(--done);  // recompute the last token to get its logits back
  }
  while (done < total) {
    if (TakeCancel()) return Status(StatusCode::kCancelled, "cancelled during prefill");
    const int n = std::min(options_.prefill_chunk, total - done);
    const bool last_chunk = done + n == total;
    last_logits_valid_ = false;
    EDGELM_RETURN_IF_ERROR(model_.Forward(tokens_.data() + done, n, last_chunk ? LogitsMode::kLast : LogitsMode::kNone,
                                          kv_.get(), workspace_.get(), last_logits_.data()));
    done += n;
    stats_.prompt_tokens += n;
  }
  last_logits_valid_ = true;
  return Status::Ok();
}

Status Session::DecodeStep(const GrammarMatcher* grammar) {
  const int token = tokens_.back();
  const size_t vocab = last_logits_.size();
  if (verified_.pending()) {
    if (verified_.tokens[verified_.next] == token) {  // guessed: its logits are already computed
      const size_t row = ++verified_.next;
      std::copy_n(verified_.logits.begin() + static_cast<std::ptrdiff_t>(row * vocab), vocab, last_logits_.begin());
      last_logits_valid_ = true;
      ++stats_.accepted_draft_tokens;
      if (!verified_.pending()) draft_controller_->OnOutcome(verified_.drafted, verified_.drafted);
      return Status::Ok();
    }
    draft_controller_->OnOutcome(verified_.drafted, static_cast<int>(verified_.next));
  }
  DiscardDrafts();  // the rejected guesses' positions
  draft_batch_.assign(1, token);
  double draft_seconds = 0.0;
  if (drafter_) {
    const int room = options_.context_length - static_cast<int>(tokens_.size());
    const int length = draft_controller_->NextLength(room);
    if (length > 0) {
      const auto draft_start = std::chrono::steady_clock::now();
      EDGELM_RETURN_IF_ERROR(drafter_->Draft(tokens_, length, &draft_batch_));
      // A refused token is never sampled: verifying it, and all after it, would be wasted.
      if (grammar) draft_batch_.resize(1 + grammar->AcceptedPrefix(draft_batch_.data() + 1, static_cast<int>(draft_batch_.size()) - 1));
      draft_seconds = SecondsSince(draft_start) - drafter_->last_catch_up_seconds();
    }
  }
  const int drafted = static_cast<int>(draft_batch_.size()) - 1;
  const auto start = std::chrono::steady_clock::now();
  ++stats_.decode_passes;
  if (drafted == 0) {
    EDGELM_RETURN_IF_ERROR(model_.Forward(&token, 1, LogitsMode::kLast, kv_.get(), workspace_.get(), last_logits_.data()));
    if (draft_controller_) draft_controller_->OnPlainStep(SecondsSince(start));
  } else {
    verified_.logits.resize(static_cast<size_t>(drafted + 1) * vocab);
    EDGELM_RETURN_IF_ERROR(model_.Forward(draft_batch_.data(), drafted + 1, LogitsMode::kAll, kv_.get(), workspace_.get(),
                                          verified_.logits.data()));
    draft_controller_->OnVerify(drafted, SecondsSince(start), draft_seconds);
    std::copy_n(verified_.logits.begin(), vocab, last_logits_.begin());
    verified_.tokens.assign(draft_batch_.begin() + 1, draft_batch_.end());
    verified_.next = 0;
    verified_.drafted = drafted;
    stats_.drafted_tokens += drafted;
  }
  last_logits_valid_ = true;
  return Status::Ok();
}

void Session::DiscardDrafts() {
  verified_.tokens.clear();
  verified_.next = 0;
  // Processed: the whole history when its last token's logits are known, else all but that token.
  const int processed = static_cast<int>(tokens_.size()) - (last_logits_valid_ ? 0 : 1);
  if (kv_->length() > processed) kv_->set_length(std::max(0, processed));
}

Status Session::Evaluate(float* all_logits) {
  const size_t vocab = static_cast<size_t>(model_.config().vocab_size);
  const int start = kv_->length();
  const int total = static_cast<int>(tokens_.size());
  for (int done = start; done < total;) {
    if (TakeCancel()) return Status(StatusCode::kCancelled, "cancelled during evaluation");
    const int n = std::min(options_.prefill_chunk, total - done);
    last_logits_valid_ = false;
    float* out = all_logits + static_cast<size_t>(done - start) * vocab;
    EDGELM_RETURN_IF_ERROR(model_.Forward(tokens_.data() + done, n, LogitsMode::kAll, kv_.get(), workspace_.get(), out));
    done += n;
    if (done == total) {
      std::copy(out + static_cast<size_t>(n - 1) * vocab, out + static_cast<size_t>(n) * vocab, last_logits_.begin());
      last_logits_valid_ = true;
    }
  }
  return Status::Ok();
}

Status Session::EvaluateLast(float* logits) {
  EDGELM_RETURN_IF_ERROR(Prefill());
  std::copy(last_logits_.begin(), last_logits_.end(), logits);
  return Status::Ok();
}

Status Session::Score(const int* tokens, size_t count, float* logprobs, double* sum) {
  if (tokens_.empty()) return InvalidArgument("scoring needs a history to condition on: append the BOS token first");
  if (count > 0 && !tokens) return InvalidArgument("null token array");
  const int vocab = model_.config().vocab_size;
  for (size_t i = 0; i < count; ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return OutOfRange("token id " + std::to_string(tokens[i]) + " outside the vocabulary [0, " + std::to_string(vocab) + ")");
  // Scored positions must stay where they are: no overflow policy here.
  if (tokens_.size() + count > static_cast<size_t>(options_.context_length))
    return Status(StatusCode::kContextFull, "scoring " + std::to_string(count) + " tokens after " +
                                                std::to_string(tokens_.size()) + " would pass the context length " +
                                                std::to_string(options_.context_length));
  EDGELM_RETURN_IF_ERROR(Prefill());
  double total = 0.0;
  auto record = [&](size_t i, double lp) {
    if (logprobs) logprobs[i] = static_cast<float>(lp);
    total += lp;
  };
  if (count > 0) record(0, LogProbability(last_logits_.data(), vocab, tokens[0]));
  // Row j of a chunk's logits predicts the token after it. The last token needs no forward pass: it
  // stays pending, as appended text does.
  const size_t process = count > 0 ? count - 1 : 0;
  std::vector<float> chunk_logits;
  for (size_t done = 0; done < process;) {
    if (TakeCancel()) return Status(StatusCode::kCancelled, "cancelled during scoring");
    const size_t n = std::min(static_cast<size_t>(options_.prefill_chunk), process - done);
    chunk_logits.resize(n * static_cast<size_t>(vocab));
    tokens_.insert(tokens_.end(), tokens + done, tokens + done + n);
    last_logits_valid_ = false;
    EDGELM_RETURN_IF_ERROR(model_.Forward(tokens + done, static_cast<int>(n), LogitsMode::kAll, kv_.get(),
                                          workspace_.get(), chunk_logits.data()));
    for (size_t j = 0; j < n; ++j)
      record(done + j + 1, LogProbability(chunk_logits.data() + j * vocab, vocab, tokens[done + j + 1]));
    done += n;
  }
  if (count > 0) {
    tokens_.push_back(tokens[count - 1]);
    last_logits_valid_ = false;
  }
  awaiting_reply_ = false;
  model_turn_open_ = false;
  if (sum) *sum = total;
  return Status::Ok();
}

Status Session::Generate(const GenerateParams& params, const TokenCallback& on_token,
                         const ThoughtCallback& on_thought) {
  const Status s = GenerateTokens(params, on_token, on_thought);
  // A cancel that arrives after the last check belongs to this call, not to the next one.
  cancel_.store(false, std::memory_order_relaxed);
  return s;
}

Status Session::ToolCallGrammar(bool whole_reply, std::string* text) const {
  // A call names a declared tool and gives arguments valid for its parameter schema, in Gemma's syntax.
  std::string names, arguments;
  SchemaGrammarOptions gemma;
  gemma.syntax = SchemaGrammarOptions::Syntax::kGemmaToolArguments;
  for (size_t i = 0; i < tools_.size(); ++i) {
    const std::string rule = "tool-" + std::to_string(i) + "-arguments";
    names += (i ? " | \"" : "\"") + tools_[i].name + "\" " + rule;  // names are [A-Za-z0-9_.-]
    const JsonValue* parameters = tools_[i].function.Find("parameters");
    JsonValue empty_object;
    empty_object.kind = JsonValue::Kind::kObject;
    EDGELM_RETURN_IF_ERROR(JsonSchemaToGrammar(parameters ? *parameters : empty_object, gemma, rule, &arguments));
  }
  const std::string call = "\"call:\" (" + names + ") @\"" + std::string(markers::kToolCallEnd) + "\"";
  if (whole_reply) {
    // One or more calls, then the model's stop for the results.
    *text = "root ::= tool-call+ @\"" + std::string(markers::kToolResponseStart) + "\"\ntool-call ::= @\"" +
            std::string(markers::kToolCallStart) + "\" " + call + "\n";
  } else {
    *text = "root ::= " + call + "\n";  // what follows a <|tool_call> the model chose to write
  }
  *text += arguments;
  return Status::Ok();
}

Status Session::BuildGrammar(const GenerateParams& params, std::unique_ptr<Grammar>* grammar) const {
  if (!params.grammar.empty()) return Grammar::Parse(params.grammar, grammar);
  std::string text;
  if (!params.json_schema.empty()) {
    JsonValue schema;
    EDGELM_RETURN_IF_ERROR(ParseJson(params.json_schema, &schema));
    EDGELM_RETURN_IF_ERROR(JsonSchemaToGrammar(schema, SchemaGrammarOptions(), "root", &text));
  } else if (params.tool_choice == ToolChoice::kRequired) {
    EDGELM_RETURN_IF_ERROR(ToolCallGrammar(/*whole_reply=*/true, &text));
  } else {
    grammar->reset();
    return Status::Ok();
  }
  return Grammar::Parse(text, grammar);
}

Status Session::GenerateTokens(const GenerateParams& params, const TokenCallback& on_token,
                               const ThoughtCallback& on_thought) {
  stats_.stop_reason = StopReason::kNone;  // until this call ends well
  tool_calls_.clear();
  if (params.max_tokens < 0) return InvalidArgument("max_tokens must not be negative");
  if (params.thinking_budget < -1) return InvalidArgument("thinking_budget must be -1 (no limit) or more");
  const int vocab = model_.config().vocab_size;
  for (const auto& [id, bias] : params.sampling.logit_bias)
    if (id < 0 || id >= vocab)
      return OutOfRange("logit bias for token " + std::to_string(id) + ", outside the vocabulary of " +
                        std::to_string(vocab));
  for (const std::string& stop : params.stop_strings) {
    if (stop.empty()) return InvalidArgument("a stop string is empty");
    EDGELM_RETURN_IF_ERROR(ValidateUtf8(stop));
  }
  if (!params.grammar.empty() && !params.json_schema.empty())
    return InvalidArgument("give a grammar or a JSON schema, not both");
  if (params.tool_choice == ToolChoice::kRequired && tools_.empty())
    return InvalidArgument("tool_choice 'required' needs tools declared in the session options");
  std::unique_ptr<Grammar> grammar, call_grammar;
  EDGELM_RETURN_IF_ERROR(BuildGrammar(params, &grammar));
  // Unconstrained replies with tools: a call the model opens with the <|tool_call> token is constrained
  // from there to its end, so that it always parses and fits its schema. (A vocabulary that spells the
  // marker as text would need the token that completes it split in two; its calls stay free.)
  if (!grammar && !tools_.empty() && chat_->MarkerToken(markers::kToolCallStart) >= 0) {
    std::string text;
    EDGELM_RETURN_IF_ERROR(ToolCallGrammar(/*whole_reply=*/false, &text));
    EDGELM_RETURN_IF_ERROR(Grammar::Parse(text, &call_grammar));
  }
  std::unique_ptr<GrammarMatcher> matcher, call_matcher;
  if (grammar || call_grammar) {
    if (!tokenizer_) return Unsupported("constrained output needs a model with a tokenizer");
    if (!grammar_vocabulary_) EDGELM_RETURN_IF_ERROR(GrammarVocabulary::Shared(*tokenizer_, &grammar_vocabulary_));
    if (grammar) matcher.reset(new GrammarMatcher(*grammar, *grammar_vocabulary_));
  }
  std::unique_ptr<Sampler> sampler;
  EDGELM_RETURN_IF_ERROR(Sampler::Create(params.sampling, &sampler));
  stats_ = SessionStats();
  const auto start = std::chrono::steady_clock::now();
  if (awaiting_reply_ && chat_) {
    std::vector<int> prompt;
    chat_->AppendGenerationPrompt(&prompt);
    EDGELM_RETURN_IF_ERROR(MakeRoom(prompt.size()));
    tokens_.insert(tokens_.end(), prompt.begin(), prompt.end());
    awaiting_reply_ = false;
    model_turn_open_ = true;
  }
  EDGELM_RETURN_IF_ERROR(Prefill());
  stats_.prefill_seconds = SecondsSince(start);

  // The reply's channels: a turn resumed after a tool result or a cut thought goes on where it was.
  size_t turn_content = model_turn_open_ ? OpenModelTurnContent() : std::string::npos;
  std::unique_ptr<TokenStreamDecoder> decoder;
  std::unique_ptr<ReplyStream> reply;
  if (tokenizer_) {
    decoder.reset(new TokenStreamDecoder(*tokenizer_, DecodeOptions{/*skip_control=*/true}));
    const ReplyChannel channel = turn_content == std::string::npos
                                     ? ReplyChannel::kAnswer
                                     : ReplyStream::ChannelAfter(MarkedText(turn_content, tokens_.size()));
    reply.reset(new ReplyStream(*tokenizer_, channel));
  }
  // What closes a thought that ran over its budget.
  std::vector<int> close_thought;
  if (chat_) EDGELM_RETURN_IF_ERROR(chat_->AppendPieces({TemplatePiece{std::string(markers::kChannelEnd), true}}, &close_thought));
  const int open_thought = chat_ && options_.enable_thinking ? chat_->MarkerToken(markers::kChannelStart) : -1;
  const int end_token = chat_ ? tokenizer_->turn_end_id() : tokenizer_ ? tokenizer_->eos_id() : -1;

  const auto decode_start = std::chrono::steady_clock::now();
  TextScanner stop_strings(params.stop_strings);
  bool stop_string_seen = false;
  std::vector<int> forced;  // tokens the library writes instead of sampling, in reverse order
  std::vector<float> masked_logits;
  std::vector<ReplyText> segments;
  int thought_tokens = 0;
  bool answer_started = false;
  std::string text, shown;
  StopReason stop_reason = StopReason::kMaxTokens;
  // Whatever ends the loop, drafted positions beyond the history leave the KV cache.
  struct DraftsDiscarder {
    Session* session;
    ~DraftsDiscarder() { session->DiscardDrafts(); }
  } discard_drafts{this};
  // The grammar of a step: the reply's (thoughts are free), or that of a call the model opened.
  auto grammar_of = [&](ReplyChannel channel) {
    return matcher ? (channel != ReplyChannel::kThought ? matcher.get() : nullptr)
                   : (channel == ReplyChannel::kToolCall ? call_matcher.get() : nullptr);
  };
  for (int produced = 0; produced < params.max_tokens; ++produced) {
    if (TakeCancel()) return Status(StatusCode::kCancelled, "cancelled");
    if (tokens_.size() >= static_cast<size_t>(options_.context_length)) {
      DiscardDrafts();
      EDGELM_RETURN_IF_ERROR(MakeRoom(1));
      turn_content = model_turn_open_ ? OpenModelTurnContent() : std::string::npos;  // the history moved
      EDGELM_RETURN_IF_ERROR(Prefill());
    }
    const ReplyChannel channel = reply ? reply->channel() : ReplyChannel::kAnswer;
    GrammarMatcher* const active = grammar_of(channel);
    const bool constrained = active != nullptr;
    int token;
    if (!forced.empty()) {
      token = forced.back();
      forced.pop_back();
    } else {
      const size_t recent = std::min<size_t>(tokens_.size(), static_cast<size_t>(std::max(0, params.sampling.penalty_last_n)));
      const int* recent_tokens = tokens_.data() + tokens_.size() - recent;
      token = sampler->Sample(last_logits_.data(), vocab, recent_tokens, static_cast<int>(recent));
      // Constrained: a token the grammar refuses is drawn again from the masked logits (for plain
      // temperature sampling, exactly the masked distribution; rejection is rare, masking is not cheap).
      const bool may_open_thought = active == matcher.get() && open_thought >= 0 && !answer_started;
      auto allowed = [&](int t) {
        if (tokenizer_->IsStop(t)) return active->CanEnd();
        return (may_open_thought && t == open_thought) || active->AcceptsToken(t);
      };
      if (constrained && token != Sampler::kNoToken && !allowed(token)) {
        masked_logits.assign(last_logits_.begin(), last_logits_.end());
        active->MaskLogits(masked_logits.data(), vocab);
        if (active->CanEnd())
          for (int id : tokenizer_->stop_ids()) masked_logits[static_cast<size_t>(id)] = last_logits_[static_cast<size_t>(id)];
        if (may_open_thought) masked_logits[static_cast<size_t>(open_thought)] = last_logits_[static_cast<size_t>(open_thought)];
        token = sampler->Sample(masked_logits.data(), vocab, recent_tokens, static_cast<int>(recent));
        if (token == Sampler::kNoToken)
          return InvalidArgument("the grammar allows no token after \"" + MarkedText(tokens_.size() - std::min<size_t>(tokens_.size(), 16), tokens_.size()) + "\"");
      }
    }
    if (token == Sampler::kNoToken) return Status(StatusCode::kInternal, "the model produced no finite logits");
    if (constrained && !tokenizer_->IsStop(token) && token != open_thought) {
      EDGELM_RETURN_IF_ERROR(active->AcceptToken(token));
      answer_started = true;
    }
    if (produced == 0) stats_.time_to_first_token_seconds = SecondsSince(start);
    tokens_.push_back(token);
    last_logits_valid_ = false;
    ++stats_.generated_tokens;

    // Route the token's text: answer (through the stop strings) to on_token, thought to on_thought.
    text.clear();
    if (decoder) EDGELM_RETURN_IF_ERROR(decoder->Push(token, &text));
    segments.clear();
    if (reply) {
      reply->Push(token, text, &segments);
    } else if (!text.empty()) {
      segments.push_back(ReplyText{ReplyChannel::kAnswer, text});
    }
    shown.clear();
    bool callback_stop = false;
    for (ReplyText& segment : segments) {
      if (segment.channel == ReplyChannel::kThought) {
        if (on_thought && on_thought(token, segment.text)) callback_stop = true;
      } else if (segment.channel == ReplyChannel::kAnswer && !stop_string_seen) {
        int found = -1;
        shown += stop_strings.Push(segment.text, &found);
        stop_string_seen = found >= 0;
        answer_started = true;
      }
    }
    if (on_token && on_token(token, shown)) callback_stop = true;
    if (call_grammar && reply->channel() != channel) {  // a call opened (or closed) with this token
      call_matcher.reset();
      if (reply->channel() == ReplyChannel::kToolCall) call_matcher.reset(new GrammarMatcher(*call_grammar, *grammar_vocabulary_));
    }
    if (reply && reply->channel() == ReplyChannel::kThought) {
      if (channel == ReplyChannel::kThought) ++thought_tokens;
      if (params.thinking_budget >= 0 && thought_tokens >= params.thinking_budget && forced.empty())
        forced.assign(close_thought.rbegin(), close_thought.rend());
    }

    if (reply && reply->wants_tool_response()) {
      stop_reason = StopReason::kToolCall;
      std::string turn = MarkedText(turn_content == std::string::npos ? tokens_.size() - stats_.generated_tokens : turn_content, tokens_.size());
      const size_t answered = turn.rfind(markers::kToolResponseEnd);
      if (answered != std::string::npos) turn.erase(0, answered + markers::kToolResponseEnd.size());
      ParseToolCalls(turn, &tool_calls_);
      break;
    }
    const bool stop = !params.ignore_stop && tokenizer_ && tokenizer_->IsStop(token);
    if (stop) DiscardDrafts();  // before the history changes below
    if (stop && chat_ && token == tokenizer_->turn_end_id() && model_turn_open_) {
      model_turn_open_ = false;
      const size_t turn_end = tokens_.size() - 1;
      const std::vector<int>& after = chat_->AfterTurnEnd();
      if (tokens_.size() + after.size() <= static_cast<size_t>(options_.context_length))
        tokens_.insert(tokens_.end(), after.begin(), after.end());
      if (turn_content != std::string::npos) EDGELM_RETURN_IF_ERROR(PruneThoughts(turn_content, turn_end));
    }
    if (stop) {
      stop_reason = StopReason::kStopToken;
      break;
    }
    if (stop_string_seen) {
      stop_reason = StopReason::kStopString;
      break;
    }
    if (callback_stop) {
      stop_reason = StopReason::kCallback;
      break;
    }
    if (produced + 1 == params.max_tokens) break;
    // A complete sentence that nothing can extend ends the reply as the model would.
    if (matcher && forced.empty() && matcher->MustEnd() && end_token >= 0 && !params.ignore_stop) forced.push_back(end_token);
    EDGELM_RETURN_IF_ERROR(DecodeStep(grammar_of(reply ? reply->channel() : ReplyChannel::kAnswer)));
  }
  if (decoder && !stop_string_seen) {
    // What the stream decoder, the reply stream and the stop strings still hold; a stop string may
    // complete in it.
    segments.clear();
    const std::string rest = decoder->Flush();
    if (reply) {
      reply->Push(-1, rest, &segments);
      reply->Flush(&segments);
    } else if (!rest.empty()) {
      segments.push_back(ReplyText{ReplyChannel::kAnswer, rest});
    }
    std::string answer;
    for (const ReplyText& segment : segments) {
      if (segment.channel == ReplyChannel::kThought && on_thought) on_thought(-1, segment.text);
      if (segment.channel != ReplyChannel::kAnswer || stop_string_seen) continue;
      int found = -1;
      answer += stop_strings.Push(segment.text, &found);
      stop_string_seen = found >= 0;
    }
    if (!stop_string_seen) answer += stop_strings.Flush();
    if (!answer.empty() && on_token) on_token(-1, answer);
  }
  stats_.decode_seconds = SecondsSince(decode_start);
  stats_.stop_reason = stop_reason;
  return Status::Ok();
}

void Session::Reset() {
  tokens_.clear();
  kv_->set_length(0);
  last_logits_valid_ = false;
  awaiting_reply_ = false;
  model_turn_open_ = false;
  cancel_.store(false);
  stats_ = SessionStats();
  tool_calls_.clear();
}

Status Session::Rewind(size_t n_tokens) {
  if (n_tokens > tokens_.size())
    return OutOfRange("cannot rewind to " + std::to_string(n_tokens) + " tokens: the history has " + std::to_string(tokens_.size()));
  if (n_tokens == tokens_.size()) return Status::Ok();  // nothing dropped: the turn state stays
  tokens_.resize(n_tokens);
  if (static_cast<int>(n_tokens) < kv_->length()) {
    // Ring buffers keep the newest window + chunk - 1 positions; older sliding K/V is gone, and it
    // depends on everything before it, so a deep rewind re-prefills from the start.
    kv_->set_length(static_cast<int>(n_tokens) >= kv_->rewind_floor() ? static_cast<int>(n_tokens) : 0);
    last_logits_valid_ = false;
  }
  awaiting_reply_ = false;
  model_turn_open_ = false;
  return Status::Ok();
}

Status Session::Fork(std::unique_ptr<Session>* out) const {
  std::unique_ptr<Session> s(new Session(model_, tokenizer_, chat_, options_));
  EDGELM_RETURN_IF_ERROR(s->InitCompute());
  s->kv_ = kv_->Fork();
  s->tokens_ = tokens_;
  s->last_logits_ = last_logits_;
  s->last_logits_valid_ = last_logits_valid_;
  s->awaiting_reply_ = awaiting_reply_;
  s->model_turn_open_ = model_turn_open_;
  s->conversation_ = conversation_;
  s->tools_ = tools_;
  s->tool_calls_ = tool_calls_;
  s->grammar_vocabulary_ = grammar_vocabulary_;
  if (drafter_) {
    EDGELM_RETURN_IF_ERROR(drafter_->Fork(&s->drafter_));
    s->draft_controller_.reset(new DraftController(*draft_controller_));
  }
  *out = std::move(s);
  return Status::Ok();
}

uint64_t Session::ReleaseMemory() {
  uint64_t bytes = Gemma4Model::ReleaseWorkspace(workspace_.get()) + kv_->ReleaseUnusedPages();
  if (const TensorView* table = model_.ple_table()) bytes += model_.file().DropFromMemory(*table);
#ifdef __GLIBC__
  malloc_trim(0);  // hand freed heap pages back to the system now, not at the next large free
#endif
  return bytes;
}

}  // namespace edgelm
