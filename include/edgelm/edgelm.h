/*
 * edgelm — on-device Gemma 4 inference. The public C API.
 *
 * Objects
 *   edgelm_model    an opened .edgelm file: weights memory-mapped read-only, tokenizer, chat template.
 *                   Immutable after load: any number of threads may use one model at once.
 *   edgelm_session  one conversation: token history, KV cache, sampler, statistics. Use a session
 *                   from one thread at a time; only edgelm_session_cancel may be called concurrently.
 *
 * Threads
 *   Every session computes on a thread pool of its own (edgelm_session_options.num_threads), so
 *   sessions used from different threads never wait for each other. A session created with
 *   share_model_threads = 1 uses the model's pool instead (edgelm_model_options.num_threads): fewer
 *   threads in the process, but the sessions sharing it take turns, one forward pass at a time.
 *
 * Conventions
 *   - Every fallible call returns an edgelm_status. EDGELM_OK is 0.
 *   - Messages: edgelm_last_error() is the message of the calling thread's last failed call (any
 *     object); edgelm_session_error() that of the session's last failed call. Both stay valid until
 *     the next call on that thread / session.
 *   - Ownership: objects returned through an out pointer are owned by the caller and freed with their
 *     _free function. Freeing NULL is a no-op. Sessions keep their model alive: a model may be freed
 *     before its sessions (its memory goes with the last of them). Strings passed in are borrowed for
 *     the call; strings returned are owned by the library. A handle of the wrong kind (a session
 *     passed as a model) is rejected with EDGELM_INVALID_ARGUMENT and ignored by _free. Freed handles
 *     are poisoned, so that a double free or use after free is usually rejected the same way, but it
 *     remains undefined behaviour.
 *   - Versioned structs start with struct_size; fill them with their _init function first. Input
 *     structs from code compiled against an older, shorter version are accepted (fields past the
 *     caller's struct_size take their defaults); output structs are filled up to the caller's
 *     struct_size. No struct is nested in another, so each can grow at its end.
 *   - Output buffers: calls that fill a caller's buffer (tokenize, detokenize, evaluate, save_state)
 *     report the size needed and return EDGELM_BUFFER_TOO_SMALL, writing nothing, when it does not
 *     fit; a NULL buffer with capacity 0 asks for the size alone.
 *   - Units: lengths in tokens unless named _bytes; times in milliseconds; text is UTF-8.
 *   - No C++ exceptions cross this boundary; allocation failure is EDGELM_OUT_OF_MEMORY.
 *   - The library writes nothing to stdout or stderr: see edgelm_set_log_callback.
 */
#ifndef EDGELM_EDGELM_H_
#define EDGELM_EDGELM_H_

#include <stddef.h>
#include <stdint.h>

/* The version of this header; CMake's project version is read from these three lines. */
#define EDGELM_VERSION_MAJOR 1
#define EDGELM_VERSION_MINOR 3
#define EDGELM_VERSION_PATCH 0
/* One number that orders versions: MAJOR * 1000000 + MINOR * 1000 + PATCH. */
#define EDGELM_VERSION_NUMBER (EDGELM_VERSION_MAJOR * 1000000 + EDGELM_VERSION_MINOR * 1000 + EDGELM_VERSION_PATCH)

/* ELF/Mach-O only (edgelm is POSIX): the library is built with hidden visibility and EDGELM_BUILD,
 * and exports exactly the functions marked here; consumers, shared or static, need no macro. */
#if defined(EDGELM_BUILD) && defined(__GNUC__)
#define EDGELM_API __attribute__((visibility("default")))
#else
#define EDGELM_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum edgelm_status {
  EDGELM_OK = 0,
  EDGELM_INVALID_ARGUMENT = 1, /* NULL pointer, bad option value, invalid UTF-8, unknown role */
  EDGELM_NOT_FOUND = 2,        /* file does not exist */
  EDGELM_IO_ERROR = 3,
  EDGELM_CORRUPT_MODEL = 4,    /* the file failed validation */
  EDGELM_UNSUPPORTED = 5,      /* valid, but not something this build can run */
  EDGELM_OUT_OF_MEMORY = 6,
  EDGELM_OUT_OF_RANGE = 7,     /* token id outside the vocabulary, rewind past the start */
  EDGELM_CANCELLED = 8,        /* edgelm_session_cancel stopped the call; the session stays usable */
  EDGELM_CONTEXT_FULL = 9,     /* the conversation reached the session's context length */
  EDGELM_INTERNAL = 10,
  EDGELM_BUFFER_TOO_SMALL = 11, /* the output did not fit; the needed size was reported */
  EDGELM_INVALID_OUTPUT = 12    /* the model wrote something malformed (a tool call); its raw text is reported */
} edgelm_status;

typedef struct edgelm_model edgelm_model;
typedef struct edgelm_session edgelm_session;

/* "MAJOR.MINOR.PATCH" of the library that is running (may differ from EDGELM_VERSION_* when a newer
 * shared library is loaded by an older program). */
EDGELM_API const char* edgelm_version(void);
/* EDGELM_VERSION_NUMBER of the library that is running. */
EDGELM_API int32_t edgelm_version_number(void);
/* A static English name of `status`. */
EDGELM_API const char* edgelm_status_string(edgelm_status status);
/* Message of this thread's last failed call ("" if none). */
EDGELM_API const char* edgelm_last_error(void);

typedef enum edgelm_log_level {
  EDGELM_LOG_DEBUG = 0, /* every failed call's message */
  EDGELM_LOG_INFO = 1,  /* model loads: file, recipe, kernel variant, threads */
  EDGELM_LOG_WARN = 2,  /* something was not as asked, e.g. an unsupported EDGELM_KERNELS variant */
  EDGELM_LOG_ERROR = 3
} edgelm_log_level;

/* Receives one message (UTF-8, NUL-terminated, valid for the call only). May be called from any
 * thread that is inside an edgelm call, concurrently; it must not call edgelm functions. */
typedef void (*edgelm_log_callback)(void* user_data, edgelm_log_level level, const char* message);

/* Routes the library's messages at `min_level` and above to `callback` for the whole process; NULL
 * (the default) drops them. Thread-safe; a message being delivered on another thread may still reach
 * the previous callback, so keep a replaced callback's user_data valid until no thread can be inside
 * an edgelm call that started before the replacement. */
EDGELM_API void edgelm_set_log_callback(edgelm_log_callback callback, void* user_data, edgelm_log_level min_level);

/* ---- Model ----------------------------------------------------------------------------------- */

typedef struct edgelm_model_options {
  uint32_t struct_size;
  int32_t num_threads; /* compute threads of the model's pool and the default of every session's own
                          pool; 0 = one per core */
  int32_t populate;    /* 1 = fault every page in at load (slower load, no first-token page faults) */
  /* Memory budget in bytes; 0 = no limit. The load fails with EDGELM_OUT_OF_MEMORY, before the
   * weights are touched, if the model needs more: the weights decoding keeps resident (all but the
   * per-layer embedding table, which stays on flash and is read one row per token) plus the heap the
   * model holds (tokenizer). Sessions have their own budget. */
  uint64_t max_memory_bytes;
  /* Who runs the integer matrix multiplications (edgelm_linear_engine). AUTO: XNNPACK on arm64 CPUs
   * with dotprod, on x86 where it measured faster than edgelm's kernels; the
   * EDGELM_KERNELS environment variable ("xnnpack", "edgelm") overrides AUTO. XNNPACK packs the
   * weights it runs at load (edgelm_model_info.packed_weight_bytes) and the file's pages of those
   * tensors are released, so resident memory grows by XNNPACK's per-channel extras (1-4%) only. */
  int32_t linear_engine;
  /* Check every weight against the checksums the converter recorded (edgelm_weight_verification).
   * AT_LOAD: the load reads the whole file once more and fails with EDGELM_CORRUPT_MODEL, naming the
   * tensor, if one is damaged (cost: docs/security.md). BACKGROUND: the load returns at once and a
   * thread of the model reads the file in the order the forward pass uses it; once a damaged tensor is
   * found, every call that computes fails with EDGELM_CORRUPT_MODEL and that message
   * (edgelm_model_info.weights_verified tells the progress). Files converted before 1.1 have no
   * checksums: they load unverified, with a warning in the log. */
  int32_t verify_weights;
  /* A file where XNNPACK's packed weights are kept between loads (NULL or "": none; copied, so the
   * string need only live through the call). The first load with it packs and writes the file
   * (atomically, beside it), later loads map the packed weights from it instead of packing (seconds
   * for E2B on a phone) and keep them as clean, evictable file pages. It is rewritten when it does
   * not match the model, the library's XNNPACK build or this CPU, and with verify_weights other than
   * NONE its bytes are checked before use; a cache that is missing, stale, damaged or cannot be
   * written only costs a packing (the log says why), never the load. Keep one per model file, in the
   * app's cache directory. */
  const char* packed_weights_cache_path;
} edgelm_model_options;

typedef enum edgelm_weight_verification {
  EDGELM_VERIFY_NONE = 0, /* default: the mapping is validated, the weight bytes are not */
  EDGELM_VERIFY_AT_LOAD = 1,
  EDGELM_VERIFY_BACKGROUND = 2
} edgelm_weight_verification;

typedef enum edgelm_linear_engine {
  EDGELM_LINEAR_ENGINE_AUTO = 0,
  EDGELM_LINEAR_ENGINE_EDGELM = 1,  /* edgelm's kernels only */
  EDGELM_LINEAR_ENGINE_XNNPACK = 2, /* XNNPACK wherever it has SIMD kernels for the tensor */
} edgelm_linear_engine;

EDGELM_API void edgelm_model_options_init(edgelm_model_options* options);

/* Opens and validates `path`. options may be NULL (defaults). On failure *model is NULL. */
EDGELM_API edgelm_status edgelm_model_load(const char* path, const edgelm_model_options* options,
                                           edgelm_model** model);
EDGELM_API void edgelm_model_free(edgelm_model* model);

typedef struct edgelm_model_info {
  uint32_t struct_size;
  const char* family;          /* "gemma4"; owned by the model */
  const char* recipe;          /* quantization recipe, e.g. "bf16", "qat:mobile"; owned by the model */
  int32_t vocab_size;
  int32_t hidden_size;
  int32_t num_layers;
  int32_t num_heads;
  int32_t max_context;         /* positions the model was trained for */
  int32_t has_tokenizer;       /* 0: only token-id calls work */
  uint64_t file_bytes;
  uint64_t weight_bytes_per_token; /* weight bytes one decode step reads (PLE table: one row) */
  /* Special tokens, -1 where the vocabulary has none (edgelm_model_info_init sets -1 too). */
  int32_t bos_token;
  int32_t eos_token;
  int32_t turn_start_token;    /* "<|turn>" */
  int32_t turn_end_token;      /* "<turn|>" */
  /* Tokens that end a generation (eos, "<turn|>", ...): n_stop_tokens ids owned by the model. */
  const int32_t* stop_tokens;
  int32_t n_stop_tokens;
  const char* chat_template;   /* built-in template name ("gemma4"), "" without one; owned by the model */
  int32_t default_context_length; /* edgelm_session_options_init's context_length for this build */
  int32_t xnnpack_linears;     /* weight matrices XNNPACK multiplies (edgelm_model_options.linear_engine) */
  /* Weights repacked at load, resident (anonymous memory): XNNPACK's packed copies, and on CPUs whose
   * edgelm kernels read channel strips (x86 with AVX2) the strips of the other integer
   * matrices. The file's pages of the originals are released: this replaces them, it does not add. */
  uint64_t packed_weight_bytes;
  /* Weight checksums: -1 the file has none, 0 not verified (or still verifying in the background),
   * 1 every tensor matched, 2 a damaged tensor was found (the calls that compute fail). */
  int32_t weights_verified;
  /* Of xnnpack_linears, the weight matrices this load mapped from
   * edgelm_model_options.packed_weights_cache_path instead of packing them. */
  int32_t xnnpack_linears_from_cache;
} edgelm_model_info;

EDGELM_API void edgelm_model_info_init(edgelm_model_info* info);
EDGELM_API edgelm_status edgelm_model_get_info(const edgelm_model* model, edgelm_model_info* info);

/* Text -> token ids. parse_special = 0 keeps control-token text such as "<|turn>" as plain text.
 * Writes at most `capacity` ids; *n_tokens receives the count needed (EDGELM_BUFFER_TOO_SMALL if it
 * exceeds capacity). Invalid UTF-8 -> EDGELM_INVALID_ARGUMENT. */
EDGELM_API edgelm_status edgelm_tokenize(const edgelm_model* model, const char* text, size_t text_bytes,
                                         int add_bos, int parse_special, int32_t* tokens, size_t capacity,
                                         size_t* n_tokens);

/* Token ids -> text, NUL-terminated. *text_bytes receives the text's length without the NUL; the
 * capacity must hold one byte more (EDGELM_BUFFER_TOO_SMALL if text_bytes + 1 > capacity). */
EDGELM_API edgelm_status edgelm_detokenize(const edgelm_model* model, const int32_t* tokens, size_t n_tokens,
                                           char* text, size_t capacity, size_t* text_bytes);

/* ---- Session --------------------------------------------------------------------------------- */

/* KV cache storage. int8 (default): one scale per token and head, or the model's static scales;
 * int4: one scale per 32 values. Only KV-owner layers store anything; sliding-window layers keep a
 * ring of window + prefill_chunk - 1 tokens. */
typedef enum edgelm_kv_type {
  EDGELM_KV_F32 = 0,
  EDGELM_KV_BF16 = 1,
  EDGELM_KV_INT8 = 2,
  EDGELM_KV_INT4 = 3
} edgelm_kv_type;

/* When a conversation would outgrow the context. The two dropping policies re-prefill what they
 * keep (positions change), which costs one prefill of the kept tokens. */
typedef enum edgelm_overflow {
  EDGELM_OVERFLOW_ERROR = 0,               /* refuse with EDGELM_CONTEXT_FULL (default) */
  EDGELM_OVERFLOW_DROP_OLDEST_TURNS = 1,   /* drop whole chat turns after the first one */
  EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT = 2 /* keep the first sink_tokens and the newest tokens */
} edgelm_overflow;

/* Since 1.3. Speculative decoding: guesses of the next tokens are checked together in one pass over
 * the weights, and each guess the session then samples costs no pass of its own. Output is unchanged
 * (same tokens for the same options and seed, greedy or sampled): every token is still sampled from
 * the model's own logits. The session measures what drafts cost and earn as it runs and drafts
 * nothing where they do not pay (e.g. a CPU where a forward over several tokens costs nearly as much
 * as that many single steps). edgelm_stats reports the passes, drafted and accepted tokens. */
typedef enum edgelm_speculation {
  EDGELM_SPECULATION_NONE = 0,
  EDGELM_SPECULATION_PROMPT_LOOKUP = 1, /* guesses by finding the last few tokens earlier in the context
                                           and proposing what followed them: pays when the reply
                                           quotes, repeats or edits the prompt (code, documents) */
  EDGELM_SPECULATION_DRAFT_MODEL = 2    /* a smaller model with the same tokenizer drafts greedily in a
                                           session of its own (e.g. Gemma 4 E2B for E4B) */
} edgelm_speculation;

typedef struct edgelm_session_options {
  uint32_t struct_size;
  int32_t context_length; /* tokens; default 4096, at most the model's max_context */
  int32_t prefill_chunk;  /* tokens per prefill step; bounds scratch memory; default 128 */
  int32_t kv_type;        /* edgelm_kv_type; default EDGELM_KV_INT8 */
  int32_t overflow;       /* edgelm_overflow; default EDGELM_OVERFLOW_ERROR */
  int32_t sink_tokens;    /* tokens kept at the start by EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT; default 4 */
  /* Memory budget in bytes; 0 = no limit. Creation fails with EDGELM_OUT_OF_MEMORY, before the cache
   * is allocated, if the KV cache at the full context_length (for this kv_type) plus the session's
   * scratch buffers (sized by prefill_chunk and context_length) would need more. */
  uint64_t max_memory_bytes;
  int32_t num_threads;         /* threads of the session's own pool; 0 = the model's num_threads */
  int32_t share_model_threads; /* 1 = compute on the model's pool instead (see "Threads" above) */
  /* Since 1.2. Thinking: 1 = the conversation opens with Gemma 4's <|think|>, and a reply may start
   * with a thought, streamed to edgelm_generate_options.thought_callback (not to the token callback)
   * and dropped from the history when the model turn closes, as the chat template renders earlier
   * turns; the KV cache is rewound to the first changed token, so the next turn reuses the prefix. */
  int32_t enable_thinking;
  /* Since 1.2. Tools the model may call: a JSON array of function declarations, OpenAI style
   * ({"type":"function","function":{"name","description","parameters"}}) or the bare function
   * objects; copied; rendered into the conversation's system turn, so fixed for the session. NULL or
   * "" = none. A call stops generation (stop_reason EDGELM_STOP_TOOL_CALL): read the calls with
   * edgelm_session_get_tool_calls, append each result as a message with role "tool" (content: JSON,
   * or plain text), and generate again to continue the same model turn. */
  const char* tools_json;
  /* Since 1.3. edgelm_speculation; default EDGELM_SPECULATION_NONE. */
  int32_t speculation;
  /* Since 1.3. The most tokens one draft proposes, 1..16 (and below prefill_chunk); default 8. */
  int32_t max_draft_tokens;
  /* Since 1.3. EDGELM_SPECULATION_DRAFT_MODEL: the drafting model, whose tokenizer must be this
   * model's (EDGELM_INVALID_ARGUMENT otherwise). The session (and its forks) keep it alive, so it may be
   * freed after edgelm_session_create. Its draft session is created like this one (context, chunk,
   * KV type, threads) and counts against max_memory_bytes on its own. */
  const edgelm_model* draft_model;
} edgelm_session_options;

EDGELM_API void edgelm_session_options_init(edgelm_session_options* options);
EDGELM_API edgelm_status edgelm_session_create(const edgelm_model* model, const edgelm_session_options* options,
                                               edgelm_session** session);
EDGELM_API void edgelm_session_free(edgelm_session* session);
EDGELM_API const char* edgelm_session_error(const edgelm_session* session);

/* Appends one chat turn (role "system", "user" or "assistant") in the model's chat template. The
 * content is plain text: control tokens in it are not interpreted. Tokens are processed (prefilled)
 * lazily, by the next generate call. Role "tool" appends a tool result instead, inside the open model
 * turn, answering its oldest unanswered call (EDGELM_INVALID_ARGUMENT if there is none). */
EDGELM_API edgelm_status edgelm_session_append_message(edgelm_session* session, const char* role,
                                                       const char* content);
/* Appends raw text (no template). parse_special = 1 lets "<|turn>" etc. become control tokens. */
EDGELM_API edgelm_status edgelm_session_append_text(edgelm_session* session, const char* text, int parse_special);
EDGELM_API edgelm_status edgelm_session_append_tokens(edgelm_session* session, const int32_t* tokens,
                                                      size_t n_tokens);

/* Called once per generated token with the text it completes: `text` holds only whole UTF-8
 * characters (bytes of a character split over tokens arrive with its last token), and is not
 * NUL-terminated. Return nonzero to stop generating (the token is kept). Control tokens (turn
 * markers, eos) arrive with empty text. Text is held back while it may still become a stop string
 * or a text-spelled marker (a vocabulary without Gemma 4's control tokens), so a token may arrive with
 * less text than it completed. When a generation that succeeded ends with text still held (a near
 * miss of a stop string, or a character whose last bytes were never generated: U+FFFD), one final
 * call with token = -1 delivers it, even after the callback asked to stop; its return value is
 * ignored. A generation that fails or is cancelled makes no final call. */
typedef int (*edgelm_token_callback)(void* user_data, int32_t token, const char* text, size_t text_bytes);

typedef struct edgelm_generate_options {
  uint32_t struct_size;
  int32_t max_tokens;         /* default 256 */
  int32_t ignore_stop;        /* 1 = do not stop on the model's stop tokens */
  /* Sampling. The defaults are edgelm_generate_options_init's. */
  float temperature;          /* 0 = greedy */
  int32_t top_k;              /* 0 = off */
  float top_p;                /* 1 = off */
  float min_p;                /* 0 = off */
  float repetition_penalty;   /* 1 = off */
  float presence_penalty;     /* 0 = off */
  int32_t penalty_last_n;     /* recent tokens the penalties see */
  /* The same seed, model, options and inputs give the same output on the same CPU kind and kernel
   * variant (any thread count); other CPUs may round logits differently in the last bits. */
  uint64_t seed;
  /* Stop strings (n_stop_strings of them, each a non-empty UTF-8 string, copied by the call): the
   * generation ends when the generated text contains one. Text is held back from the callback while
   * it could still become a stop string, so a stop string spanning tokens is never passed on, nor
   * anything after it; the tokens stay in the history (edgelm_session_rewind removes them). */
  const char* const* stop_strings;
  int32_t n_stop_strings;
  /* Logit bias (n_logit_bias pairs, copied): logit_bias_values[i] is added to the logit of token
   * logit_bias_tokens[i] after the penalties, -INFINITY bans it. An id outside the vocabulary is
   * EDGELM_OUT_OF_RANGE; NaN or +INFINITY EDGELM_INVALID_ARGUMENT. */
  const int32_t* logit_bias_tokens;
  const float* logit_bias_values;
  int32_t n_logit_bias;
  /* Since 1.2. Thinking (edgelm_session_options.enable_thinking): thought tokens after which the
   * library closes the thought itself and the answer starts; -1 (default) = no limit. */
  int32_t thinking_budget;
  /* Since 1.2. Receives thought text (same contract as the token callback, same user_data; its
   * token is the one that completed the text). NULL = thoughts are not passed on. */
  edgelm_token_callback thought_callback;
  /* Since 1.2. Constrained output (copied; at most one; NULL = none): the answer is a sentence of
   * `grammar` (GBNF-like, docs/constrained_output.md) or a JSON value valid for `json_schema`. Tokens
   * the grammar refuses are never sampled; stop tokens only once the sentence is complete, and a
   * sentence nothing can extend ends the turn. max_tokens still applies (the stop reason says so). */
  const char* grammar;
  const char* json_schema;
  /* Since 1.2. edgelm_tool_choice; default EDGELM_TOOL_CHOICE_AUTO. */
  int32_t tool_choice;
} edgelm_generate_options;

typedef enum edgelm_tool_choice {
  EDGELM_TOOL_CHOICE_AUTO = 0,    /* the model decides whether to call; a call it opens (with Gemma 4's
                                   * <|tool_call> token) is constrained to the declared schemas */
  EDGELM_TOOL_CHOICE_REQUIRED = 1 /* the reply is one or more calls, constrained to the declared schemas */
} edgelm_tool_choice;

EDGELM_API void edgelm_generate_options_init(edgelm_generate_options* options);

/* Prefills pending tokens, adds the model's turn prompt if the conversation ends with a closed user
 * turn, then samples until a stop token, max_tokens, the callback's stop, cancellation or a full
 * context. callback may be NULL. Generated tokens become part of the history. On
 * EDGELM_CANCELLED the session holds every token committed before the cancel. */
EDGELM_API edgelm_status edgelm_session_generate(edgelm_session* session, const edgelm_generate_options* options,
                                                 edgelm_token_callback callback, void* user_data);

/* The tool calls of the last generate that stopped with EDGELM_STOP_TOOL_CALL, as a JSON array (UTF-8,
 * NUL-terminated): [{"name": "...", "arguments": {...}}, ...]; a call the model wrote malformed is
 * {"error": "...", "raw": "..."} and makes the status EDGELM_INVALID_OUTPUT (the array is still
 * written). "[]" after any other stop. *json_bytes receives the size including the NUL;
 * EDGELM_BUFFER_TOO_SMALL, with nothing written, if it exceeds capacity (NULL and 0 ask the size). */
EDGELM_API edgelm_status edgelm_session_get_tool_calls(const edgelm_session* session, char* json, size_t capacity,
                                                       size_t* json_bytes);

/* Asks a running generate on `session` to stop (one that starts later is stopped at once if no
 * generate was running). A cancel never outlives the generate call it stopped or raced with.
 * Safe from any thread. */
EDGELM_API void edgelm_session_cancel(edgelm_session* session);

/* Processes every pending token (as generate's prefill does) and writes raw logits (after the
 * model's soft-cap, before sampling): with all_positions = 0 the last token's vocab_size logits,
 * with all_positions = 1 one row of vocab_size per token that was pending, in order. With nothing
 * pending and all_positions = 0, the last token's logits are written again. *n_logits receives the
 * float count; EDGELM_BUFFER_TOO_SMALL, with nothing processed, if it exceeds capacity. */
EDGELM_API edgelm_status edgelm_session_evaluate(edgelm_session* session, int all_positions, float* logits,
                                                 size_t capacity, size_t* n_logits);

/* Scores a continuation: appends tokens[0 .. n_tokens) to the history and gives the natural-log
 * probability the model assigns each of them after everything before it (token_logprobs, n_tokens
 * floats, may be NULL) and their sum (*logprob_sum, may be NULL). The history must not be empty
 * (start it with the BOS token). The tokens stay in the history; edgelm_session_rewind removes them.
 * Memory stays O(prefill_chunk x vocab_size) whatever n_tokens is. */
EDGELM_API edgelm_status edgelm_session_score(edgelm_session* session, const int32_t* tokens, size_t n_tokens,
                                              float* token_logprobs, double* logprob_sum);

/* A new session with the same history whose KV cache shares memory copy-on-write with `session`:
 * prefill a system prompt once, fork per conversation. Free it with edgelm_session_free. */
EDGELM_API edgelm_status edgelm_session_fork(const edgelm_session* session, edgelm_session** fork);

/* Session state: history, chat state and KV cache, under one checksum, tied to the model file and
 * the session options it was saved with (context_length, prefill_chunk, kv_type). Restoring a
 * corrupt or mismatched state fails and leaves the session unchanged. */
/* Writes the state to `path` atomically (a temporary file, synced, then renamed over `path`). */
EDGELM_API edgelm_status edgelm_session_save_file(const edgelm_session* session, const char* path);
EDGELM_API edgelm_status edgelm_session_restore_file(edgelm_session* session, const char* path);
/* The same in memory, for sandboxed or encrypted storage. *state_bytes receives the size of the
 * state; EDGELM_BUFFER_TOO_SMALL, with nothing written, if it exceeds capacity (pass NULL and 0 to
 * ask for the size). */
EDGELM_API edgelm_status edgelm_session_save_state(const edgelm_session* session, void* buffer, size_t capacity,
                                                   size_t* state_bytes);
EDGELM_API edgelm_status edgelm_session_restore_state(edgelm_session* session, const void* buffer,
                                                      size_t state_bytes);

/* For an app's low-memory signal: frees what the session can rebuild (its scratch buffers, KV pages
 * past the current length, the kernels' per-thread scratch of its pool) and drops from memory the
 * mapped pages of the per-layer embedding table, which every session reads one row per token from
 * the file. The conversation is kept; the next call re-grows what it needs. *released_bytes (may be
 * NULL) receives the bytes given back (heap freed + mapped bytes dropped). */
EDGELM_API edgelm_status edgelm_session_release_memory(edgelm_session* session, uint64_t* released_bytes);

/* Forgets the whole conversation (keeps the session's memory). */
EDGELM_API edgelm_status edgelm_session_reset(edgelm_session* session);
/* Keeps the first n_tokens of the history and drops the rest. n_tokens equal to the history's length
 * changes nothing (a user turn still waits for its reply); dropping tokens ends the chat-turn state, so
 * the next generate continues the history as it is. Appending no tokens (or "" as text) changes
 * nothing either. */
EDGELM_API edgelm_status edgelm_session_rewind(edgelm_session* session, size_t n_tokens);
/* Tokens in the history (processed or pending); 0 for NULL or a handle that is not a session. */
EDGELM_API size_t edgelm_session_token_count(const edgelm_session* session);

typedef struct edgelm_stats {
  uint32_t struct_size;
  /* Of the last generate call: */
  int64_t prompt_tokens;          /* prefilled */
  int64_t generated_tokens;
  double prefill_tokens_per_s;
  double decode_tokens_per_s;
  double time_to_first_token_ms;  /* from the generate call to the first sampled token */
  /* Of the session now: */
  uint64_t kv_bytes;              /* KV cache memory held */
  int64_t context_tokens;         /* tokens in the history */
  /* Since 1.2, of the last generate call: */
  int32_t stop_reason;            /* edgelm_stop_reason */
  /* Since 1.3, of the last generate call: forward passes decoding made (without speculation,
   * generated_tokens - 1: the first token comes from the prefill), tokens drafted for verification,
   * and those of them that were then sampled (each saved one pass). */
  int64_t decode_passes;
  int64_t drafted_tokens;
  int64_t accepted_draft_tokens;
} edgelm_stats;

typedef enum edgelm_stop_reason {
  EDGELM_STOP_NONE = 0,        /* no generate yet, or it failed */
  EDGELM_STOP_TOKEN = 1,       /* the model ended its turn (or a constrained answer is complete) */
  EDGELM_STOP_MAX_TOKENS = 2,
  EDGELM_STOP_STRING = 3,
  EDGELM_STOP_CALLBACK = 4,
  EDGELM_STOP_TOOL_CALL = 5    /* edgelm_session_get_tool_calls; append results as role "tool" */
} edgelm_stop_reason;

EDGELM_API void edgelm_stats_init(edgelm_stats* stats);
EDGELM_API edgelm_status edgelm_session_get_stats(const edgelm_session* session, edgelm_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_EDGELM_H_ */
