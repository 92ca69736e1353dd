// One conversation over a shared model: token history, KV cache, sampling, streaming and stats.
// Use from one thread at a time; Cancel() may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_stream.h"
#include "common/status.h"
#include "model/gemma4.h"
#include "model/kv_cache.h"
#include "model/thread_pool.h"
#include "runtime/chat_template.h"
#include "runtime/sampler.h"
#include "runtime/tokenizer.h"

namespace edgelm {

// What happens when the conversation would outgrow the context.
enum class OverflowPolicy {
  kError,             // refuse with kContextFull (default)
  kDropOldestTurns,   // drop the oldest chat turns (after a leading system turn), then re-prefill
  kKeepSinkAndRecent, // keep the first sink_tokens and the most recent tokens, then re-prefill
};

struct SessionOptions {
  int context_length = 4096;  // tokens
  int prefill_chunk = 128;    // tokens per forward step during prefill
  KvType kv_type = KvType::kInt8;
  OverflowPolicy overflow = OverflowPolicy::kError;
  int sink_tokens = 4;        // kept at the start by kKeepSinkAndRecent
  // Refuse (kOutOfMemory) a session whose KV cache at the full context plus scratch would exceed
  // this many bytes; 0 = no limit.
  uint64_t max_memory_bytes = 0;
  int num_threads = 0;               // the session's own pool; 0 = as many as the model's pool
  bool share_model_threads = false;  // compute on the model's pool (sessions then take turns)
};

struct GenerateParams {
  int max_tokens = 256;
  bool ignore_stop = false;
  SamplerParams sampling;
  // Generation stops when the generated text contains one of these (non-empty, valid UTF-8); the
  // callback never sees it or anything after it. The tokens stay in the history.
  std::vector<std::string> stop_strings;
};

struct SessionStats {
  int64_t prompt_tokens = 0;      // prefilled by the last Generate
  int64_t generated_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  double time_to_first_token_seconds = 0.0;
};

// Receives each generated token and the whole UTF-8 characters it completes; returns true to stop.
using TokenCallback = std::function<bool(int token, std::string_view text)>;

class Session {
 public:
  // `tokenizer` and `chat` may be null (token-id use only); all must outlive the session.
  static Status Create(const Gemma4Model& model, const Tokenizer* tokenizer, const ChatTemplate* chat,
                       const SessionOptions& options, std::unique_ptr<Session>* out);

  Status AppendMessage(const ChatMessage& message);
  Status AppendText(std::string_view text, bool parse_special);
  Status AppendTokens(const int* tokens, size_t count);

  // Prefills pending tokens (adding the model's turn prompt after a user turn), then samples.
  Status Generate(const GenerateParams& params, const TokenCallback& on_token);

  // Tokens appended but not yet processed.
  size_t pending_tokens() const { return tokens_.size() - static_cast<size_t>(kv_->length()); }
  // Processes every pending token and writes the logits of each to `all_logits` ([pending][vocab]).
  Status Evaluate(float* all_logits);
  // Processes every pending token and copies the last token's logits ([vocab]) to `logits`.
  Status EvaluateLast(float* logits);
  // Appends `tokens` and gives the natural-log probability of each after everything before it
  // (`logprobs`: count floats, may be null) and their sum (may be null). Needs a non-empty history.
  Status Score(const int* tokens, size_t count, float* logprobs, double* sum);

  void Cancel() { cancel_.store(true, std::memory_order_relaxed); }
  void Reset();
  Status Rewind(size_t n_tokens);

  // A new session with this one's history whose KV pages are shared copy-on-write (a prompt
  // prefilled once can seed many conversations).
  Status Fork(std::unique_ptr<Session>* out) const;
  // Session state: history, chat state and KV cache under one checksum, tied to the model file's
  // metadata (session_state.cc). Restoring validates everything first and changes nothing on failure.
  bool WriteState(ByteSink* out) const;
  Status ReadState(ByteSource* in);
  size_t StateBytes() const;
  Status SaveFile(const std::string& path) const;     // atomic: temporary file, fsync, rename
  Status RestoreFile(const std::string& path);
  Status SaveState(void* buffer, size_t capacity, size_t* bytes) const;  // kBufferTooSmall if it does not fit
  Status RestoreState(const void* buffer, size_t bytes);

  // Frees what can be rebuilt (scratch, KV pages past the length) and drops the PLE table's mapped
  // pages; returns the bytes given back.
  uint64_t ReleaseMemory();

  const std::vector<int>& tokens() const { return tokens_; }
  const SessionStats& stats() const { return stats_; }
  size_t kv_bytes() const { return kv_->allocated_bytes(); }
  const SessionOptions& options() const { return options_; }

 private:
  Session(const Gemma4Model& model, const Tokenizer* tokenizer, const ChatTemplate* chat, const SessionOptions& options)
      : model_(model), tokenizer_(tokenizer), chat_(chat), options_(options) {}
  pthreadpool_t pool() const { return own_pool_ ? own_pool_->get() : model_.shared_pool(); }
  bool WriteStateTo(ByteSink* out, bool with_checksum) const;
  // Creates the session's pool (unless it shares the model's) and its workspace.
  Status InitCompute();
  // Makes room for `extra` more tokens, applying the overflow policy if needed.
  Status MakeRoom(size_t extra);
  uint64_t model_checksum() const { return model_.file().header().metadata_checksum; }
  Status GenerateTokens(const GenerateParams& params, const TokenCallback& on_token);
  // Runs pending tokens through the model; leaves the last token's logits in last_logits_.
  Status Prefill();
  bool TakeCancel() { return cancel_.exchange(false, std::memory_order_relaxed); }

  const Gemma4Model& model_;
  const Tokenizer* tokenizer_;
  const ChatTemplate* chat_;
  SessionOptions options_;
  std::unique_ptr<ThreadPool> own_pool_;  // null when sharing the model's pool
  std::unique_ptr<KvCache> kv_;
  WorkspacePtr workspace_;
  std::vector<int> tokens_;           // the whole history; tokens_[0 .. kv_->length()) are processed
  std::vector<float> last_logits_;    // logits after the last processed token
  bool last_logits_valid_ = false;
  bool awaiting_reply_ = false;       // the history ends with a closed non-model turn
  bool model_turn_open_ = false;      // a reply was cut before its <turn|>
  std::atomic<bool> cancel_{false};
  SessionStats stats_;
};

}  // namespace edgelm
