/*
 * edgelm — on-device Gemma 4 inference. The public C API.
 *
 * Objects
 *   edgelm_model    an opened .edgelm file: weights memory-mapped read-only, tokenizer, chat template.
 *                   Immutable after load: any number of threads may use one model at once, and
 *                   sessions on different threads may share it.
 *   edgelm_session  one conversation: token history, KV cache, sampler, statistics. Use a session
 *                   from one thread at a time; only edgelm_session_cancel may be called concurrently.
 *
 * Conventions
 *   - Every fallible call returns an edgelm_status. EDGELM_OK is 0.
 *   - Messages: edgelm_last_error() is the message of the calling thread's last failed call (any
 *     object); edgelm_session_error() that of the session's last failed call. Both stay valid until
 *     the next call on that thread / session.
 *   - Ownership: objects returned through an out pointer are owned by the caller and freed with their
 *     _free function. Freeing NULL is a no-op. A model must outlive its sessions. Using a freed handle
 *     is undefined behaviour. Strings passed in are borrowed for the call; strings returned are owned
 *     by the library. A handle of the wrong kind (a session passed as a model) is rejected with
 *     EDGELM_INVALID_ARGUMENT, and ignored by _free.
 *   - Option structs start with struct_size; fill them with the _init function first, so that code
 *     compiled against this header keeps working with later versions that add fields.
 *   - Units: lengths in tokens unless named _bytes; times in milliseconds; text is UTF-8.
 *   - No C++ exceptions cross this boundary.
 */
#ifndef EDGELM_EDGELM_H_
#define EDGELM_EDGELM_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define EDGELM_API __declspec(dllexport)
#else
#define EDGELM_API __attribute__((visibility("default")))
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
  EDGELM_BUFFER_TOO_SMALL = 11 /* the output did not fit; the needed size was reported */
} edgelm_status;

typedef struct edgelm_model edgelm_model;
typedef struct edgelm_session edgelm_session;

/* "MAJOR.MINOR.PATCH" of the library. */
EDGELM_API const char* edgelm_version(void);
/* A static English name of `status`. */
EDGELM_API const char* edgelm_status_string(edgelm_status status);
/* Message of this thread's last failed call ("" if none). */
EDGELM_API const char* edgelm_last_error(void);

/* ---- Model ----------------------------------------------------------------------------------- */

typedef struct edgelm_model_options {
  uint32_t struct_size;
  int32_t num_threads; /* threads for the compute kernels; 0 = one per core */
  int32_t populate;    /* 1 = fault every page in at load (slower load, no first-token page faults) */
  /* Memory budget in bytes; 0 = no limit. The load fails with EDGELM_OUT_OF_MEMORY, before the
   * weights are touched, if the model needs more: the weights decoding keeps resident (all but the
   * per-layer embedding table, which stays on flash and is read one row per token) plus the heap the
   * model holds (tokenizer). Sessions have their own budget. */
  uint64_t max_memory_bytes;
} edgelm_model_options;

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
} edgelm_model_info;

EDGELM_API void edgelm_model_info_init(edgelm_model_info* info);
EDGELM_API edgelm_status edgelm_model_get_info(const edgelm_model* model, edgelm_model_info* info);

/* Text -> token ids. parse_special = 0 keeps control-token text such as "<|turn>" as plain text.
 * Writes at most `capacity` ids; *n_tokens receives the count needed (EDGELM_BUFFER_TOO_SMALL if it
 * exceeds capacity). Invalid UTF-8 -> EDGELM_INVALID_ARGUMENT. */
EDGELM_API edgelm_status edgelm_tokenize(const edgelm_model* model, const char* text, size_t text_bytes,
                                         int add_bos, int parse_special, int32_t* tokens, size_t capacity,
                                         size_t* n_tokens);

/* Token ids -> text (NUL-terminated when it fits). *text_bytes receives the length needed without the
 * NUL (EDGELM_BUFFER_TOO_SMALL if text_bytes + 1 > capacity). */
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
} edgelm_session_options;

EDGELM_API void edgelm_session_options_init(edgelm_session_options* options);
EDGELM_API edgelm_status edgelm_session_create(const edgelm_model* model, const edgelm_session_options* options,
                                               edgelm_session** session);
EDGELM_API void edgelm_session_free(edgelm_session* session);
EDGELM_API const char* edgelm_session_error(const edgelm_session* session);

/* Appends one chat turn (role "system", "user" or "assistant") in the model's chat template. The
 * content is plain text: control tokens in it are not interpreted. Tokens are processed (prefilled)
 * lazily, by the next generate call. */
EDGELM_API edgelm_status edgelm_session_append_message(edgelm_session* session, const char* role,
                                                       const char* content);
/* Appends raw text (no template). parse_special = 1 lets "<|turn>" etc. become control tokens. */
EDGELM_API edgelm_status edgelm_session_append_text(edgelm_session* session, const char* text, int parse_special);
EDGELM_API edgelm_status edgelm_session_append_tokens(edgelm_session* session, const int32_t* tokens,
                                                      size_t n_tokens);

typedef struct edgelm_sampling {
  uint32_t struct_size;
  float temperature;        /* 0 = greedy */
  int32_t top_k;            /* 0 = off */
  float top_p;              /* 1 = off */
  float min_p;              /* 0 = off */
  float repetition_penalty; /* 1 = off */
  float presence_penalty;   /* 0 = off */
  int32_t penalty_last_n;   /* recent tokens the penalties see */
  uint64_t seed;            /* same seed, same model and inputs -> same output, on every platform */
} edgelm_sampling;

EDGELM_API void edgelm_sampling_init(edgelm_sampling* sampling);

/* Called once per generated token with the text it completes: `text` holds only whole UTF-8
 * characters (bytes of a character split over tokens arrive with its last token), and is not
 * NUL-terminated. Return nonzero to stop generating (the token is kept). */
typedef int (*edgelm_token_callback)(void* user_data, int32_t token, const char* text, size_t text_bytes);

typedef struct edgelm_generate_options {
  uint32_t struct_size;
  int32_t max_tokens;      /* default 256 */
  int32_t ignore_stop;     /* 1 = do not stop on end-of-turn / eos tokens */
  edgelm_sampling sampling;
} edgelm_generate_options;

EDGELM_API void edgelm_generate_options_init(edgelm_generate_options* options);

/* Prefills pending tokens, adds the model's turn prompt if the conversation ends with a closed user
 * turn, then samples until a stop token, max_tokens, the callback's stop, cancellation or a full
 * context. callback may be NULL. Generated tokens become part of the history. On
 * EDGELM_CANCELLED the session holds every token committed before the cancel. */
EDGELM_API edgelm_status edgelm_session_generate(edgelm_session* session, const edgelm_generate_options* options,
                                                 edgelm_token_callback callback, void* user_data);

/* Asks a running generate on `session` to stop (one that starts later is stopped at once if no
 * generate was running). A cancel never outlives the generate call it stopped or raced with.
 * Safe from any thread. */
EDGELM_API void edgelm_session_cancel(edgelm_session* session);

/* A new session with the same history whose KV cache shares memory copy-on-write with `session`:
 * prefill a system prompt once, fork per conversation. Free it with edgelm_session_free. */
EDGELM_API edgelm_status edgelm_session_fork(const edgelm_session* session, edgelm_session** fork);
/* Writes history and KV cache to `path` (atomically: a temporary file, then renamed). */
EDGELM_API edgelm_status edgelm_session_save(const edgelm_session* session, const char* path);
/* Replaces the session's state with one saved by edgelm_session_save with the same model and
 * session options. A corrupt or mismatched file leaves the session unchanged. */
EDGELM_API edgelm_status edgelm_session_load(edgelm_session* session, const char* path);

/* Forgets the whole conversation (keeps the session's memory). */
EDGELM_API edgelm_status edgelm_session_reset(edgelm_session* session);
/* Keeps the first n_tokens of the history and drops the rest. */
EDGELM_API edgelm_status edgelm_session_rewind(edgelm_session* session, size_t n_tokens);
/* Tokens in the history (processed or pending). */
EDGELM_API size_t edgelm_session_token_count(const edgelm_session* session);

typedef struct edgelm_stats {
  uint32_t struct_size;
  int64_t prompt_tokens;          /* prefilled by the last generate */
  int64_t generated_tokens;       /* by the last generate */
  double prefill_tokens_per_s;
  double decode_tokens_per_s;
  double time_to_first_token_ms;  /* from the generate call to the first sampled token */
  uint64_t kv_bytes;              /* KV cache memory of this session */
  int64_t context_tokens;         /* tokens in the history */
} edgelm_stats;

EDGELM_API void edgelm_stats_init(edgelm_stats* stats);
EDGELM_API edgelm_status edgelm_session_get_stats(const edgelm_session* session, edgelm_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* EDGELM_EDGELM_H_ */
