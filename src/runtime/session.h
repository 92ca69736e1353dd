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
#include "runtime/speculation.h"
#include "runtime/tokenizer.h"
#include "runtime/tool_calls.h"

namespace edgelm {

class Grammar;
class GrammarMatcher;
class GrammarVocabulary;

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
  // Thinking: the conversation opens with <|think|>, and replies may start with a thought
  // ("<|channel>thought\n...<channel|>"), which is dropped from the history when the turn closes.
  bool enable_thinking = false;
  // Tools the model may call: a JSON array of function declarations (ParseToolDeclarations), rendered
  // into the conversation's system turn; fixed for the life of the session.
  std::string tools_json;
  // Speculative decoding (runtime/speculation.h): output unchanged, more tokens per pass over the
  // weights when drafts are accepted. Drafts are at most prefill_chunk - 1 tokens.
  SpeculationOptions speculation;
};

// How a reply may use the declared tools.
enum class ToolChoice {
  kAuto,      // the model decides; a call it opens with the <|tool_call> control token is constrained
              // to the declared schemas from there (a text-spelled marker: parsed as written)
  kRequired,  // the reply is one or more calls of declared tools, constrained to their parameter schemas
};

// Why the last Generate stopped.
enum class StopReason {
  kNone,        // no generate yet, or it failed
  kStopToken,   // the model ended its turn (or the grammar's sentence is complete)
  kMaxTokens,
  kStopString,
  kCallback,    // the token callback asked to stop
  kToolCall,    // the model called tools and waits for their results (Session::tool_calls)
};

struct GenerateParams {
  int max_tokens = 256;
  bool ignore_stop = false;
  SamplerParams sampling;
  // Generation stops when the generated text contains one of these (non-empty, valid UTF-8); the
  // callback never sees it or anything after it. The tokens stay in the history.
  std::vector<std::string> stop_strings;
  // Thought tokens after which the library closes the thought itself (the answer then starts);
  // -1 = no limit, 0 = close any thought at once.
  int thinking_budget = -1;
  // Constrained output: the answer must be a sentence of this grammar (runtime/grammar.h syntax), or a
  // JSON value valid for this JSON schema; at most one of the two. Thoughts are not constrained.
  std::string grammar;
  std::string json_schema;
  ToolChoice tool_choice = ToolChoice::kAuto;
};

struct SessionStats {
  int64_t prompt_tokens = 0;      // prefilled by the last Generate
  int64_t generated_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  double time_to_first_token_seconds = 0.0;
  StopReason stop_reason = StopReason::kNone;
  // Decoding's forward passes over the weights (without speculation, generated_tokens - 1), the
  // tokens drafted for verification, and those of them the session then sampled.
  int64_t decode_passes = 0;
  int64_t drafted_tokens = 0;
  int64_t accepted_draft_tokens = 0;
};

// Receives each generated token and the whole UTF-8 characters of the answer it completes (thought and
// tool-call text are not answer text); returns true to stop.
using TokenCallback = std::function<bool(int token, std::string_view text)>;
// Receives thought text as it streams (token, text); returns true to stop.
using ThoughtCallback = std::function<bool(int token, std::string_view text)>;

class Session {
 public:
  // `tokenizer` and `chat` may be null (token-id use only); all must outlive the session.
  static Status Create(const Gemma4Model& model, const Tokenizer* tokenizer, const ChatTemplate* chat,
                       const SessionOptions& options, std::unique_ptr<Session>* out);

  Status AppendMessage(const ChatMessage& message);
  Status AppendText(std::string_view text, bool parse_special);
  Status AppendTokens(const int* tokens, size_t count);

  // Prefills pending tokens (adding the model's turn prompt after a user turn), then samples.
  // A message with role "tool" appends a tool result to the open model turn, answering the oldest
  // unanswered call; the next Generate continues the same turn.
  Status Generate(const GenerateParams& params, const TokenCallback& on_token,
                  const ThoughtCallback& on_thought = nullptr);
  // The tool calls of the last Generate that stopped with StopReason::kToolCall (parsed or malformed).
  const std::vector<ToolCall>& tool_calls() const { return tool_calls_; }

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
  const Gemma4Model& model() const { return model_; }

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
  Status GenerateTokens(const GenerateParams& params, const TokenCallback& on_token, const ThoughtCallback& on_thought);
  // The grammar a generation is constrained by (params' grammar, JSON schema or required tool calls);
  // null when unconstrained.
  Status BuildGrammar(const GenerateParams& params, std::unique_ptr<Grammar>* grammar) const;
  // The grammar of declared tools' calls: a whole reply of calls ending in <|tool_response>, or the
  // rest of one call after its <|tool_call>.
  Status ToolCallGrammar(bool whole_reply, std::string* text) const;
  // Index of the first content token of the open model turn (after "<|turn>model\n"), or npos.
  size_t OpenModelTurnContent() const;
  // The text of tokens_[begin, end) with markers printed, other control tokens dropped.
  std::string MarkedText(size_t begin, size_t end) const;
  Status AppendToolResult(const ChatMessage& message);
  // A model turn tokens_[content, end) was just closed: drops its thoughts, as the template renders
  // earlier turns, and rewinds the KV cache to where the history changed.
  Status PruneThoughts(size_t content, size_t end);
  // Replaces tokens_ from `from` on with `tail`, keeping the KV cache of the unchanged prefix.
  void ReplaceTail(size_t from, const std::vector<int>& tail);
  // Runs pending tokens through the model; leaves the last token's logits in last_logits_.
  Status Prefill();
  // Leaves in last_logits_ the logits after tokens_.back(), just sampled: from a verified draft that
  // guessed it, else from a forward over it (and, speculating, over a new draft after it). A new
  // draft is cut before the first token `grammar` (that of the next sampled token, if any) refuses.
  Status DecodeStep(const GrammarMatcher* grammar);
  // Forgets pending drafts and cuts the KV cache back to the processed history.
  void DiscardDrafts();
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
  bool model_turn_open_ = false;      // a reply was cut before its <turn|>, or waits for a tool result
  ConversationOptions conversation_;  // thinking and rendered tool declarations (the system turn)
  std::vector<ToolDeclaration> tools_;
  std::vector<ToolCall> tool_calls_;
  // Taken on the first constrained generation; one per tokenizer, shared by every session using it.
  std::shared_ptr<const GrammarVocabulary> grammar_vocabulary_;
  std::atomic<bool> cancel_{false};
  SessionStats stats_;
  // Speculation (null / empty without it). verified_ is only non-empty inside Generate: the KV cache
  // then holds its drafted positions past the history.
  std::unique_ptr<Drafter> drafter_;
  std::unique_ptr<DraftController> draft_controller_;
  VerifiedDraft verified_;
  std::vector<int> draft_batch_;
};

}  // namespace edgelm
