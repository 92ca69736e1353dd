#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "common/memory_budget.h"
#include "runtime/stop_strings.h"

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
  s->options_.prefill_chunk = std::min(options.prefill_chunk, options.context_length);
  if (s->options_.num_threads == 0) s->options_.num_threads = model.num_threads();
  EDGELM_RETURN_IF_ERROR(
      KvCache::Create(model.config(), KvCacheOptions{options.context_length, s->options_.prefill_chunk, options.kv_type}, &s->kv_));
  // The cache allocates its pages as the conversation grows: check its full size before any of it.
  const int threads = options.share_model_threads ? model.num_threads() : s->options_.num_threads;
  const uint64_t kv_bytes = s->kv_->bytes_at_full_context();
  const uint64_t scratch_bytes = model.WorkspaceBytes(s->options_.prefill_chunk, options.context_length, threads);
  EDGELM_RETURN_IF_ERROR(CheckMemoryBudget(
      "a session of " + std::to_string(options.context_length) + " tokens", kv_bytes + scratch_bytes,
      Megabytes(kv_bytes) + " KV cache (" + KvTypeName(options.kv_type) + ") + " + Megabytes(scratch_bytes) + " scratch",
      options.max_memory_bytes));
  EDGELM_RETURN_IF_ERROR(s->InitCompute());
  s->last_logits_.resize(static_cast<size_t>(model.config().vocab_size));
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
  std::vector<int> ids;
  if (tokens_.empty()) {
    EDGELM_RETURN_IF_ERROR(chat_->Apply({message}, /*add_generation_prompt=*/false, &ids));
  } else {
    if (model_turn_open_) chat_->AppendTurnClose(&ids);  // a reply that was cut short
    EDGELM_RETURN_IF_ERROR(chat_->AppendTurn(message, &ids));
  }
  EDGELM_RETURN_IF_ERROR(MakeRoom(ids.size()));
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  model_turn_open_ = false;
  awaiting_reply_ = !ChatTemplate::IsModelRole(message.role);
  return Status::Ok();
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

Status Session::Generate(const GenerateParams& params, const TokenCallback& on_token) {
  const Status s = GenerateTokens(params, on_token);
  // A cancel that arrives after the last check belongs to this call, not to the next one.
  cancel_.store(false, std::memory_order_relaxed);
  return s;
}

Status Session::GenerateTokens(const GenerateParams& params, const TokenCallback& on_token) {
  if (params.max_tokens < 0) return InvalidArgument("max_tokens must not be negative");
  const int vocab = model_.config().vocab_size;
  for (const auto& [id, bias] : params.sampling.logit_bias)
    if (id < 0 || id >= vocab)
      return OutOfRange("logit bias for token " + std::to_string(id) + ", outside the vocabulary of " +
                        std::to_string(vocab));
  for (const std::string& stop : params.stop_strings) {
    if (stop.empty()) return InvalidArgument("a stop string is empty");
    EDGELM_RETURN_IF_ERROR(ValidateUtf8(stop));
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

  std::unique_ptr<TokenStreamDecoder> decoder;
  if (tokenizer_) decoder.reset(new TokenStreamDecoder(*tokenizer_, DecodeOptions{/*skip_control=*/true}));
  const auto decode_start = std::chrono::steady_clock::now();
  StopStrings stop_strings(params.stop_strings);
  bool stop_string_seen = false;
  std::string text;
  for (int produced = 0; produced < params.max_tokens; ++produced) {
    if (TakeCancel()) return Status(StatusCode::kCancelled, "cancelled");
    if (tokens_.size() >= static_cast<size_t>(options_.context_length)) {
      EDGELM_RETURN_IF_ERROR(MakeRoom(1));
      EDGELM_RETURN_IF_ERROR(Prefill());
    }
    const size_t recent = std::min<size_t>(tokens_.size(), static_cast<size_t>(std::max(0, params.sampling.penalty_last_n)));
    const int token = sampler->Sample(last_logits_.data(), vocab, tokens_.data() + tokens_.size() - recent,
                                      static_cast<int>(recent));
    if (token == Sampler::kNoToken) return Status(StatusCode::kInternal, "the model produced no finite logits");
    if (produced == 0) stats_.time_to_first_token_seconds = SecondsSince(start);
    tokens_.push_back(token);
    last_logits_valid_ = false;
    ++stats_.generated_tokens;
    const bool stop = !params.ignore_stop && tokenizer_ && tokenizer_->IsStop(token);
    if (stop && chat_ && token == tokenizer_->turn_end_id()) {
      model_turn_open_ = false;
      const std::vector<int>& after = chat_->AfterTurnEnd();
      if (tokens_.size() + after.size() <= static_cast<size_t>(options_.context_length))
        tokens_.insert(tokens_.end(), after.begin(), after.end());
    }
    text.clear();
    if (decoder) EDGELM_RETURN_IF_ERROR(decoder->Push(token, &text));
    const std::string shown = stop_strings.Push(text, &stop_string_seen);
    const bool callback_stop = on_token && on_token(token, shown);
    if (stop || stop_string_seen || callback_stop || produced + 1 == params.max_tokens) break;
    EDGELM_RETURN_IF_ERROR(model_.Forward(&tokens_.back(), 1, LogitsMode::kLast, kv_.get(), workspace_.get(),
                                          last_logits_.data()));
    last_logits_valid_ = true;
  }
  if (decoder && on_token && !stop_string_seen) {
    // What the stream decoder and the stop strings still hold; a stop string may complete in it.
    std::string rest = stop_strings.Push(decoder->Flush(), &stop_string_seen);
    if (!stop_string_seen) rest += stop_strings.Flush();
    if (!rest.empty()) on_token(-1, rest);
  }
  stats_.decode_seconds = SecondsSince(decode_start);
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
}

Status Session::Rewind(size_t n_tokens) {
  if (n_tokens > tokens_.size())
    return OutOfRange("cannot rewind to " + std::to_string(n_tokens) + " tokens: the history has " + std::to_string(tokens_.size()));
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
