#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "runtime/memory_budget.h"

namespace edgelm {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
  std::unique_ptr<Session> s(new Session(model, tokenizer, chat, options));
  s->options_.prefill_chunk = std::min(options.prefill_chunk, options.context_length);
  EDGELM_RETURN_IF_ERROR(
      KvCache::Create(model.config(), KvCacheOptions{options.context_length, s->options_.prefill_chunk, options.kv_type}, &s->kv_));
  // The cache allocates its pages as the conversation grows: check its full size before any of it.
  const uint64_t kv_bytes = KvBytesAtFullContext(model.config(), *s->kv_);
  const uint64_t scratch_bytes = SessionScratchBytes(model, s->options_.prefill_chunk, options.context_length);
  EDGELM_RETURN_IF_ERROR(CheckMemoryBudget(
      "a session of " + std::to_string(options.context_length) + " tokens", kv_bytes + scratch_bytes,
      Megabytes(kv_bytes) + " KV cache (" + KvTypeName(options.kv_type) + ") + " + Megabytes(scratch_bytes) + " scratch",
      options.max_memory_bytes));
  s->workspace_ = Gemma4Model::NewWorkspace();
  s->last_logits_.resize(static_cast<size_t>(model.config().vocab_size));
  *out = std::move(s);
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
    if (model_turn_open_) {  // close a reply that was cut short, as the template would have
      EDGELM_RETURN_IF_ERROR(tokenizer_->Encode("\n", EncodeOptions{}, &ids));
      ids.insert(ids.begin(), tokenizer_->turn_end_id());
    }
    EDGELM_RETURN_IF_ERROR(chat_->AppendTurn(message, &ids));
  }
  EDGELM_RETURN_IF_ERROR(MakeRoom(ids.size()));
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  model_turn_open_ = false;
  awaiting_reply_ = message.role != "assistant" && message.role != "model";
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

Status Session::Evaluate(std::vector<float>* logits) {
  const int vocab = model_.config().vocab_size;
  const int start = kv_->length();
  const int total = static_cast<int>(tokens_.size());
  if (logits) logits->assign(static_cast<size_t>(total - start) * vocab, 0.0f);
  for (int done = start; done < total;) {
    if (TakeCancel()) return Status(StatusCode::kCancelled, "cancelled during evaluation");
    const int n = std::min(options_.prefill_chunk, total - done);
    last_logits_valid_ = false;
    float* out = logits ? logits->data() + static_cast<size_t>(done - start) * vocab : nullptr;
    EDGELM_RETURN_IF_ERROR(model_.Forward(tokens_.data() + done, n, out ? LogitsMode::kAll : LogitsMode::kNone,
                                          kv_.get(), workspace_.get(), out));
    done += n;
    if (out && done == total) {
      std::copy(out + static_cast<size_t>(n - 1) * vocab, out + static_cast<size_t>(n) * vocab, last_logits_.begin());
      last_logits_valid_ = true;
    }
  }
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

  const int vocab = model_.config().vocab_size;
  std::unique_ptr<TokenStreamDecoder> decoder;
  if (tokenizer_) decoder.reset(new TokenStreamDecoder(*tokenizer_, DecodeOptions{/*skip_control=*/true}));
  const auto decode_start = std::chrono::steady_clock::now();
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
    if (stop && tokenizer_ && token == tokenizer_->turn_end_id()) {
      model_turn_open_ = false;  // the template puts "\n" after <turn|>
      std::vector<int> newline;
      if (tokenizer_->Encode("\n", EncodeOptions{}, &newline).ok() &&
          tokens_.size() + newline.size() <= static_cast<size_t>(options_.context_length))
        tokens_.insert(tokens_.end(), newline.begin(), newline.end());
    }
    text.clear();
    if (decoder) EDGELM_RETURN_IF_ERROR(decoder->Push(token, &text));
    const bool callback_stop = on_token && on_token(token, text);
    if (stop || callback_stop || produced + 1 == params.max_tokens) break;
    EDGELM_RETURN_IF_ERROR(model_.Forward(&tokens_.back(), 1, LogitsMode::kLast, kv_.get(), workspace_.get(),
                                          last_logits_.data()));
    last_logits_valid_ = true;
  }
  if (decoder && on_token) {
    const std::string rest = decoder->Flush();
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

}  // namespace edgelm

namespace edgelm {

namespace {

constexpr char kSessionMagic[8] = {'E', 'D', 'G', 'E', 'S', 'S', 0x1a, 0x0a};
constexpr uint32_t kSessionVersion = 1;

struct SessionHeader {
  char magic[8];
  uint32_t version;
  uint32_t flags;         // bit 0: awaiting reply, bit 1: model turn open
  uint64_t token_count;
};

// Closes the file on every path.
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Status Session::Fork(std::unique_ptr<Session>* out) const {
  std::unique_ptr<Session> s(new Session(model_, tokenizer_, chat_, options_));
  s->kv_ = kv_->Fork();
  s->workspace_ = Gemma4Model::NewWorkspace();
  s->tokens_ = tokens_;
  s->last_logits_ = last_logits_;
  s->last_logits_valid_ = last_logits_valid_;
  s->awaiting_reply_ = awaiting_reply_;
  s->model_turn_open_ = model_turn_open_;
  *out = std::move(s);
  return Status::Ok();
}

Status Session::Save(const std::string& path) const {
  const std::string tmp = path + ".partial";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return IoError("cannot create " + tmp);
  SessionHeader h{};
  std::memcpy(h.magic, kSessionMagic, 8);
  h.version = kSessionVersion;
  h.flags = (awaiting_reply_ ? 1u : 0u) | (model_turn_open_ ? 2u : 0u);
  h.token_count = tokens_.size();
  bool ok = std::fwrite(&h, sizeof h, 1, f.get()) == 1 &&
            std::fwrite(tokens_.data(), sizeof(int), tokens_.size(), f.get()) == tokens_.size();
  Status s = ok ? kv_->Save(f.get(), model_checksum()) : IoError("writing " + tmp + " failed");
  if (s.ok() && std::fflush(f.get()) != 0) s = IoError("writing " + tmp + " failed");
  f.reset();
  if (s.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) s = IoError("cannot rename " + tmp + " to " + path);
  if (!s.ok()) std::remove(tmp.c_str());
  return s;
}

Status Session::Load(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) return NotFound(path + ": cannot open session state");
  SessionHeader h;
  if (std::fread(&h, sizeof h, 1, f.get()) != 1 || std::memcmp(h.magic, kSessionMagic, 8) != 0)
    return CorruptModel(path + ": not an edgelm session state");
  if (h.version != kSessionVersion) return Unsupported(path + ": session state version " + std::to_string(h.version));
  if (h.token_count > static_cast<uint64_t>(options_.context_length))
    return InvalidArgument(path + ": " + std::to_string(h.token_count) + " tokens exceed this session's context");
  std::vector<int> tokens(static_cast<size_t>(h.token_count));
  if (std::fread(tokens.data(), sizeof(int), tokens.size(), f.get()) != tokens.size())
    return CorruptModel(path + ": truncated session state");
  const int vocab = model_.config().vocab_size;
  for (int t : tokens)
    if (t < 0 || t >= vocab) return CorruptModel(path + ": token id out of range");
  std::unique_ptr<KvCache> kv = kv_->Fork();
  Status s = kv->Load(f.get(), model_checksum());
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  if (kv->length() > static_cast<int>(tokens.size())) return CorruptModel(path + ": KV cache longer than the history");
  kv_ = std::move(kv);
  tokens_ = std::move(tokens);
  last_logits_valid_ = false;
  awaiting_reply_ = (h.flags & 1u) != 0;
  model_turn_open_ = (h.flags & 2u) != 0;
  return Status::Ok();
}

}  // namespace edgelm
