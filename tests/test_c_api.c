/* The public C API used from plain C11, with nothing but include/edgelm/edgelm.h: the happy path
 * on the bundled model, and misuse (NULLs, handles of the wrong kind, bad option values, invalid
 * UTF-8, bad ids, prompts beyond the context, calls after errors and cancels, memory budgets) that
 * must return a specific status and a message, never crash. Prints "N passed, M failed". */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgelm/edgelm.h"

static int g_passed, g_failed;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (cond) {                                                         \
      ++g_passed;                                                       \
    } else {                                                            \
      ++g_failed;                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                   \
  } while (0)

typedef struct {
  char text[4096];
  size_t bytes;
  int tokens;
  int stop_after;
  edgelm_session* session; /* for callbacks that cancel */
} Collected;

static int collect(void* user_data, int32_t token, const char* text, size_t bytes) {
  Collected* c = (Collected*)user_data;
  if (token >= 0) ++c->tokens;
  if (c->bytes + bytes < sizeof c->text) {
    memcpy(c->text + c->bytes, text, bytes);
    c->bytes += bytes;
    c->text[c->bytes] = '\0';
  }
  return c->stop_after > 0 && c->tokens >= c->stop_after;
}

/* Sets this thread's message to a known one, which a failing call must replace with its own. */
static const char* set_known_message(void) {
  edgelm_model_load(NULL, NULL, NULL);
  return "edgelm_model_load: model out-pointer is NULL";
}

/* `call` returns `expected` and leaves a message of its own (not one from an earlier failure). */
#define CHECK_FAILS(call, expected)                                                                  \
  do {                                                                                               \
    const char* known = set_known_message();                                                         \
    CHECK((call) == (expected) && strcmp(edgelm_last_error(), known) != 0 && edgelm_last_error()[0]); \
  } while (0)

/* edgelm_session_create refuses `options` with EDGELM_INVALID_ARGUMENT and creates nothing. */
#define CHECK_SESSION_REFUSED(model, options)                                                  \
  do {                                                                                         \
    edgelm_session* refused = (edgelm_session*)1;                                              \
    CHECK_FAILS(edgelm_session_create((model), (options), &refused), EDGELM_INVALID_ARGUMENT); \
    CHECK(refused == NULL);                                                                    \
  } while (0)

/* Invalid UTF-8: a lone continuation byte, an overlong '/', a UTF-16 surrogate, a code point past
 * U+10FFFF, a byte that never occurs, and a character cut off at the end. */
static const char* const kInvalidUtf8[] = {"a\x80\x62" /* a, 0x80, b */, "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "x\xFFy", "ok \xE2\x82"};
#define N_INVALID_UTF8 (sizeof kInvalidUtf8 / sizeof kInvalidUtf8[0])

/* The long text the context tests append: over a thousand tokens ("a a a ..."). */
static void fill_long_text(char* text, size_t size) {
  for (size_t i = 0; i + 1 < size; ++i) text[i] = i % 2 ? ' ' : 'a';
  text[size - 1] = '\0';
}

static void test_load_errors(void) {
  edgelm_model* model = (edgelm_model*)1;
  CHECK(edgelm_model_load("/nonexistent.edgelm", NULL, &model) == EDGELM_NOT_FOUND);
  CHECK(model == NULL);
  CHECK(strstr(edgelm_last_error(), "/nonexistent.edgelm") != NULL);
  CHECK(edgelm_model_load(NULL, NULL, &model) == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, NULL, NULL) == EDGELM_INVALID_ARGUMENT);
  edgelm_model_options bad = {0};
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &bad, &model) == EDGELM_INVALID_ARGUMENT); /* struct_size unset */
  edgelm_model_options opts;
  edgelm_model_options_init(&opts);
  opts.num_threads = -3;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_INVALID_ARGUMENT);
  const int32_t bad_threads[] = {-1, 1025, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < sizeof bad_threads / sizeof bad_threads[0]; ++i) {
    opts.num_threads = bad_threads[i];
    CHECK_FAILS(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model), EDGELM_INVALID_ARGUMENT);
    CHECK(model == NULL);
  }
  opts.num_threads = 0; /* one per core */
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK && model != NULL);
  edgelm_model_free(model);
  edgelm_model_options too_big;
  edgelm_model_options_init(&too_big);
  too_big.struct_size = sizeof too_big + 8; /* from a newer header than the library */
  CHECK_FAILS(edgelm_model_load(EDGELM_MODEL_PATH, &too_big, &model), EDGELM_INVALID_ARGUMENT);
  edgelm_model_free(NULL);
  edgelm_session_free(NULL);
  CHECK(strcmp(edgelm_status_string(EDGELM_CONTEXT_FULL), "context full") == 0);
  CHECK(strcmp(edgelm_status_string((edgelm_status)99), "unknown status") == 0);
}

/* max_memory_bytes of the model: refused before loading when too small, with both sizes named;
 * ignored when the caller's struct predates the field. */
static void test_model_memory_budget(void) {
  edgelm_model* model = (edgelm_model*)1;
  edgelm_model_options opts;
  edgelm_model_options_init(&opts);
  CHECK(opts.max_memory_bytes == 0);
  opts.max_memory_bytes = 1000000; /* 1 MB: brown-tiny's weights alone are larger */
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OUT_OF_MEMORY && model == NULL);
  const char* message = edgelm_last_error();
  CHECK(strstr(message, "max_memory_bytes budget of 1.00 MB") != NULL);
  CHECK(strstr(message, " needs ") != NULL && strstr(message, "resident weights") != NULL);
  CHECK(strstr(message, EDGELM_MODEL_PATH) != NULL);

  opts.max_memory_bytes = 1000000000; /* 1 GB */
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK && model != NULL);
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  edgelm_model_free(model);

  /* Half the weights one decode step reads (all but the PLE table) fails too, with populate as well:
   * the check comes before any page is faulted in. */
  opts.max_memory_bytes = info.weight_bytes_per_token / 2;
  CHECK_FAILS(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model), EDGELM_OUT_OF_MEMORY);
  opts.populate = 1;
  CHECK_FAILS(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model), EDGELM_OUT_OF_MEMORY);
  opts.max_memory_bytes = 0;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
  edgelm_model_free(model);

  /* A caller compiled before max_memory_bytes existed: whatever follows its struct is not read. */
  opts.max_memory_bytes = 1;
  opts.struct_size = (uint32_t)offsetof(edgelm_model_options, max_memory_bytes);
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
  edgelm_model_free(model);
}

/* linear_engine: EDGELM forces edgelm's kernels (no XNNPACK linears), XNNPACK packs the integer
 * linears (brown-tiny-mobile has int8, int2 and int4 ones) with the packed bytes reported, or maps
 * them from packed_weights_cache_path; values outside the enum are refused. */
static void test_model_linear_engine(void) {
  edgelm_model* model = NULL;
  edgelm_model_options opts;
  edgelm_model_options_init(&opts);
  CHECK(opts.linear_engine == EDGELM_LINEAR_ENGINE_AUTO);
  opts.linear_engine = 7;
  CHECK_FAILS(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model), EDGELM_INVALID_ARGUMENT);
  edgelm_model_info info;
  opts.linear_engine = EDGELM_LINEAR_ENGINE_EDGELM;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  /* edgelm's own repacked copies (channel strips, on x86 CPUs with AVX2) replace the originals. */
  CHECK(info.xnnpack_linears == 0 && info.packed_weight_bytes < info.file_bytes);
  edgelm_model_free(model);
  opts.linear_engine = EDGELM_LINEAR_ENGINE_XNNPACK;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  CHECK(info.xnnpack_linears > 0 && info.packed_weight_bytes > 0);
  CHECK(info.packed_weight_bytes < info.file_bytes);
  CHECK(info.xnnpack_linears_from_cache == 0);
  const int32_t linears = info.xnnpack_linears;
  edgelm_model_free(model);

  /* packed_weights_cache_path: the first load writes the file, the next maps every packed matrix. */
  const char* cache = "test_c_api.xnnpack";
  remove(cache);
  opts.packed_weights_cache_path = cache;
  for (int load = 0; load < 2; ++load) {
    CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
    edgelm_model_info_init(&info);
    CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
    CHECK(info.xnnpack_linears == linears);
    CHECK(info.xnnpack_linears_from_cache == (load == 0 ? 0 : linears));
    edgelm_model_free(model);
  }
  /* A caller compiled before the field existed packs at every load. */
  opts.struct_size = (uint32_t)offsetof(edgelm_model_options, packed_weights_cache_path);
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  CHECK(info.xnnpack_linears_from_cache == 0);
  edgelm_model_free(model);
  remove(cache);
}

static void test_model(const edgelm_model* model) {
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  CHECK(strcmp(info.family, "gemma4") == 0);
  CHECK(info.vocab_size == 4096 && info.num_layers == 8 && info.has_tokenizer == 1);
  CHECK(info.file_bytes > 1000000 && info.weight_bytes_per_token > 0);

  int32_t ids[64];
  size_t n = 0;
  const char* text = "The jury said it was fine.";
  CHECK(edgelm_tokenize(model, text, strlen(text), 1, 0, ids, 64, &n) == EDGELM_OK);
  CHECK(n > 3 && ids[0] == 2);
  char out[256];
  size_t out_bytes = 0;
  CHECK(edgelm_detokenize(model, ids + 1, n - 1, out, sizeof out, &out_bytes) == EDGELM_OK);
  CHECK(strcmp(out, text) == 0 && out_bytes == strlen(text));
  size_t needed = 0;
  CHECK(edgelm_tokenize(model, text, strlen(text), 1, 0, ids, 2, &needed) == EDGELM_BUFFER_TOO_SMALL);
  CHECK(needed == n);
  CHECK(edgelm_detokenize(model, ids, n, out, 3, &out_bytes) == EDGELM_BUFFER_TOO_SMALL);
  const char invalid[] = {'a', (char)0xC3, (char)0x28, 0};
  CHECK(edgelm_tokenize(model, invalid, 3, 0, 0, ids, 64, &n) == EDGELM_INVALID_ARGUMENT);
  for (size_t i = 0; i < N_INVALID_UTF8; ++i)
    CHECK_FAILS(edgelm_tokenize(model, kInvalidUtf8[i], strlen(kInvalidUtf8[i]), 0, 0, ids, 64, &n),
                     EDGELM_INVALID_ARGUMENT);
  /* text_bytes, not a NUL, ends the text: a cut that splits a character is invalid too. */
  const char* euro = "\xE2\x82\xAC";
  CHECK(edgelm_tokenize(model, euro, 2, 0, 0, ids, 64, &n) == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_tokenize(model, euro, 3, 0, 0, ids, 64, &n) == EDGELM_OK);
  CHECK(edgelm_tokenize(model, NULL, 0, 0, 0, ids, 64, &n) == EDGELM_OK && n == 0);
  CHECK_FAILS(edgelm_tokenize(model, NULL, 5, 0, 0, ids, 64, &n), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_tokenize(model, text, 3, 0, 0, ids, 64, NULL), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_tokenize(model, text, 3, 0, 0, NULL, 64, &n), EDGELM_INVALID_ARGUMENT);
  /* After all those errors the model works as before. */
  size_t again = 0;
  int32_t ids_again[64];
  CHECK(edgelm_tokenize(model, text, strlen(text), 1, 0, ids_again, 64, &again) == EDGELM_OK);
  CHECK(again == needed && ids_again[0] == 2);
  const int32_t bad_ids[] = {5, 99999};
  CHECK(edgelm_detokenize(model, bad_ids, 2, out, sizeof out, &out_bytes) == EDGELM_OUT_OF_RANGE);
  const int32_t negative_id[] = {-1};
  CHECK_FAILS(edgelm_detokenize(model, negative_id, 1, out, sizeof out, &out_bytes), EDGELM_OUT_OF_RANGE);
  CHECK_FAILS(edgelm_detokenize(model, NULL, 2, out, sizeof out, &out_bytes), EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_tokenize(NULL, text, 3, 0, 0, ids, 64, &n) == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_model_get_info(NULL, &info) == EDGELM_INVALID_ARGUMENT);
}

static void test_session(const edgelm_model* model) {
  edgelm_session* s = NULL;
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = 64;
  so.prefill_chunk = 16;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);

  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 8;
  gen.temperature = 0.0f;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_INVALID_ARGUMENT); /* nothing appended */
  CHECK(strlen(edgelm_session_error(s)) > 0);

  CHECK(edgelm_session_append_text(s, "The city of", 0) == EDGELM_OK);
  const size_t prompt = edgelm_session_token_count(s);
  Collected first = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &first) == EDGELM_OK);
  CHECK(first.tokens == 8 && first.bytes > 0);
  CHECK(edgelm_session_token_count(s) == prompt + 8);

  edgelm_stats st;
  edgelm_stats_init(&st);
  CHECK(edgelm_session_get_stats(s, &st) == EDGELM_OK);
  CHECK(st.generated_tokens == 8 && st.prompt_tokens == (int64_t)prompt && st.kv_bytes > 0);
  CHECK(st.time_to_first_token_ms > 0.0 && st.context_tokens == (int64_t)(prompt + 8));

  /* Rewinding to the prompt and regenerating greedily reproduces the same text. */
  CHECK(edgelm_session_rewind(s, prompt) == EDGELM_OK);
  Collected again = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &again) == EDGELM_OK);
  CHECK(strcmp(first.text, again.text) == 0);
  CHECK(edgelm_session_rewind(s, 1000) == EDGELM_OUT_OF_RANGE);

  /* The callback can stop generation; the token it saw is kept. */
  CHECK(edgelm_session_reset(s) == EDGELM_OK && edgelm_session_token_count(s) == 0);
  CHECK(edgelm_session_append_text(s, "The city of", 0) == EDGELM_OK);
  Collected stopped = {{0}, 0, 0, 2, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &stopped) == EDGELM_OK);
  CHECK(stopped.tokens == 2 && edgelm_session_token_count(s) == prompt + 2);

  /* A cancel requested before generate is honoured, and the session stays usable. */
  edgelm_session_cancel(s);
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_CANCELLED);
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);

  /* Misuse. */
  const int32_t bad[] = {1, 4096};
  CHECK(edgelm_session_append_tokens(s, bad, 2) == EDGELM_OUT_OF_RANGE);
  CHECK(edgelm_session_append_text(s, NULL, 0) == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_append_message(s, "wizard", "hi") == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_append_text(s, "\xff\xfe", 0) == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_append_text(NULL, "x", 0) == EDGELM_INVALID_ARGUMENT);
  edgelm_generate_options uninitialized = {0};
  CHECK(edgelm_session_generate(s, &uninitialized, NULL, NULL) == EDGELM_INVALID_ARGUMENT);
  gen.temperature = -1.0f;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_INVALID_ARGUMENT);
  gen.temperature = 0.0f;

  /* A prompt longer than the context is refused whole, and generation stops at a full context. */
  char long_text[2048];
  memset(long_text, 'a', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  for (size_t i = 1; i < sizeof long_text - 1; i += 2) long_text[i] = ' ';
  const size_t before = edgelm_session_token_count(s);
  CHECK(edgelm_session_append_text(s, long_text, 0) == EDGELM_CONTEXT_FULL);
  CHECK(edgelm_session_token_count(s) == before);
  gen.max_tokens = 1000;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_CONTEXT_FULL);
  CHECK(edgelm_session_token_count(s) == 64);
  edgelm_session_free(s);
  CHECK(edgelm_session_create(NULL, NULL, &s) == EDGELM_INVALID_ARGUMENT);
}

/* Every out-of-range session option is refused with a message, and nothing is created. */
static void test_session_options(const edgelm_model* model) {
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  edgelm_session_options so;
  edgelm_session* s = NULL;
  const int32_t bad_contexts[] = {0, -1, INT32_MIN, INT32_MAX, 1 << 30, info.max_context + 1};
  for (size_t i = 0; i < sizeof bad_contexts / sizeof bad_contexts[0]; ++i) {
    edgelm_session_options_init(&so);
    so.context_length = bad_contexts[i];
    CHECK_SESSION_REFUSED(model, &so);
  }
  edgelm_session_options_init(&so);
  so.context_length = info.max_context; /* the largest allowed */
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  edgelm_session_free(s);

  const int32_t bad_chunks[] = {0, -5, INT32_MAX};
  for (size_t i = 0; i < sizeof bad_chunks / sizeof bad_chunks[0]; ++i) {
    edgelm_session_options_init(&so);
    so.prefill_chunk = bad_chunks[i];
    CHECK_SESSION_REFUSED(model, &so);
  }
  edgelm_session_options_init(&so);
  so.kv_type = 4;
  CHECK_SESSION_REFUSED(model, &so);
  so.kv_type = -1;
  CHECK_SESSION_REFUSED(model, &so);
  edgelm_session_options_init(&so);
  so.overflow = 3;
  CHECK_SESSION_REFUSED(model, &so);
  edgelm_session_options_init(&so);
  so.sink_tokens = -1;
  CHECK_SESSION_REFUSED(model, &so);
  edgelm_session_options unset = {0};
  CHECK_SESSION_REFUSED(model, &unset);
  CHECK_FAILS(edgelm_session_create(model, NULL, NULL), EDGELM_INVALID_ARGUMENT);
}

/* max_memory_bytes of a session: the KV cache at the full context plus scratch, checked up front. */
static void test_session_memory_budget(const edgelm_model* model) {
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  CHECK(so.max_memory_bytes == 0);
  so.context_length = 2048;
  so.max_memory_bytes = 100000; /* 0.1 MB */
  edgelm_session* s = (edgelm_session*)1;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OUT_OF_MEMORY && s == NULL);
  const char* message = edgelm_last_error();
  CHECK(strstr(message, "a session of 2048 tokens needs ") != NULL);
  CHECK(strstr(message, "MB KV cache (int8)") != NULL && strstr(message, "MB scratch") != NULL);
  CHECK(strstr(message, "max_memory_bytes budget of 0.10 MB") != NULL);

  /* The KV cache grows with the context and with wider types: a budget that fits a short int4 cache
   * does not fit a long f32 one. */
  so.max_memory_bytes = 100000000; /* 100 MB */
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK && s != NULL);
  CHECK(edgelm_session_append_text(s, "The jury", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 2;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  edgelm_session_free(s);
  so.context_length = 64;
  so.kv_type = EDGELM_KV_INT4;
  so.max_memory_bytes = 2000000; /* 2 MB */
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  edgelm_session_free(s);
  so.context_length = 2048;
  so.kv_type = EDGELM_KV_F32;
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_OUT_OF_MEMORY);
  CHECK(s == NULL);

  /* A caller compiled before max_memory_bytes existed: the field is not read. */
  so.max_memory_bytes = 1;
  so.struct_size = (uint32_t)offsetof(edgelm_session_options, max_memory_bytes);
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  edgelm_session_free(s);
}

static int cancel_after_two(void* user_data, int32_t token, const char* text, size_t bytes) {
  Collected* c = (Collected*)user_data;
  collect(c, token, text, bytes);
  if (c->tokens == 2) edgelm_session_cancel(c->session);
  return 0;
}

/* Failed calls leave the session as it was, and it keeps working after errors and cancels. */
static void test_session_after_errors(const edgelm_model* model) {
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 4;
  gen.temperature = 0.0f;

  for (size_t i = 0; i < N_INVALID_UTF8; ++i) {
    CHECK_FAILS(edgelm_session_append_text(s, kInvalidUtf8[i], 0), EDGELM_INVALID_ARGUMENT);
    CHECK(strcmp(edgelm_session_error(s), edgelm_last_error()) == 0);
    CHECK_FAILS(edgelm_session_append_text(s, kInvalidUtf8[i], 1), EDGELM_INVALID_ARGUMENT);
    CHECK_FAILS(edgelm_session_append_message(s, "user", kInvalidUtf8[i]), EDGELM_INVALID_ARGUMENT);
    CHECK_FAILS(edgelm_session_append_message(s, kInvalidUtf8[i], "hi"), EDGELM_INVALID_ARGUMENT);
  }
  CHECK(edgelm_session_token_count(s) == 0);
  CHECK_FAILS(edgelm_session_append_message(s, NULL, "hi"), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_append_message(s, "user", NULL), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_append_tokens(s, NULL, 3), EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_append_tokens(s, NULL, 0) == EDGELM_OK);
  const int32_t negative[] = {2, -1};
  CHECK_FAILS(edgelm_session_append_tokens(s, negative, 2), EDGELM_OUT_OF_RANGE);
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT); /* still empty */
  CHECK(edgelm_session_token_count(s) == 0);

  CHECK(edgelm_session_append_message(s, "user", "Where is the city?") == EDGELM_OK);
  const size_t prompt = edgelm_session_token_count(s);
  CHECK_FAILS(edgelm_session_rewind(s, prompt + 1), EDGELM_OUT_OF_RANGE);
  gen.max_tokens = -1;
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  gen.max_tokens = 4;
  gen.top_p = 2.0f;
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  gen.top_p = 1.0f;
  CHECK(edgelm_session_token_count(s) == prompt);
  CHECK_FAILS(edgelm_session_save_file(s, NULL), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_restore_file(s, NULL), EDGELM_INVALID_ARGUMENT);
  edgelm_stats unset = {0};
  CHECK_FAILS(edgelm_session_get_stats(s, &unset), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_get_stats(s, NULL), EDGELM_INVALID_ARGUMENT);

  /* After all of that, generation works, greedily the same as on a fresh session. */
  Collected after_errors = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &after_errors) == EDGELM_OK && after_errors.tokens > 0);
  edgelm_session* fresh = NULL;
  CHECK(edgelm_session_create(model, NULL, &fresh) == EDGELM_OK);
  CHECK(edgelm_session_append_message(fresh, "user", "Where is the city?") == EDGELM_OK);
  Collected clean = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(fresh, &gen, collect, &clean) == EDGELM_OK);
  CHECK(strcmp(after_errors.text, clean.text) == 0);
  edgelm_session_free(fresh);

  /* A cancel from inside generate (here: the callback) stops it after the tokens already
   * delivered; the next generate runs normally, and so does one after a cancelled prefill. */
  CHECK(edgelm_session_reset(s) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The city of", 0) == EDGELM_OK);
  const size_t text_prompt = edgelm_session_token_count(s);
  gen.max_tokens = 8;
  gen.ignore_stop = 1;
  Collected cancelled = {{0}, 0, 0, 0, s};
  CHECK_FAILS(edgelm_session_generate(s, &gen, cancel_after_two, &cancelled), EDGELM_CANCELLED);
  CHECK(cancelled.tokens == 2 && edgelm_session_token_count(s) == text_prompt + 2);
  CHECK(strlen(edgelm_session_error(s)) > 0);
  Collected resumed = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &resumed) == EDGELM_OK && resumed.tokens == 8);
  CHECK(edgelm_session_token_count(s) == text_prompt + 10);
  CHECK(edgelm_session_append_text(s, " And the", 0) == EDGELM_OK);
  const size_t pending = edgelm_session_token_count(s);
  edgelm_session_cancel(s);
  edgelm_session_cancel(s); /* twice is the same as once */
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_CANCELLED);
  CHECK(edgelm_session_token_count(s) == pending);
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  CHECK(edgelm_session_token_count(s) == pending + 8);
  edgelm_session_free(s);
}

/* A prompt longer than the context is refused whole under every overflow policy; the dropping
 * policies keep a conversation that outgrows the context going. */
static void test_overflow_policies(const edgelm_model* model) {
  static char long_text[4096];
  fill_long_text(long_text, sizeof long_text);
  const int policies[] = {EDGELM_OVERFLOW_ERROR, EDGELM_OVERFLOW_DROP_OLDEST_TURNS, EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT};
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.temperature = 0.0f;
  gen.ignore_stop = 1;
  for (size_t p = 0; p < sizeof policies / sizeof policies[0]; ++p) {
    edgelm_session_options so;
    edgelm_session_options_init(&so);
    so.context_length = 64;
    so.prefill_chunk = 16;
    so.overflow = policies[p];
    edgelm_session* s = NULL;
    CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
    CHECK_FAILS(edgelm_session_append_text(s, long_text, 0), EDGELM_CONTEXT_FULL);
    CHECK_FAILS(edgelm_session_append_message(s, "user", long_text), EDGELM_CONTEXT_FULL);
    CHECK(edgelm_session_token_count(s) == 0);
    /* Exchanges of a user turn and an 8-token reply, until they outgrow the 64-token context. */
    edgelm_status last = EDGELM_OK;
    for (int turn = 0; turn < 8 && last == EDGELM_OK; ++turn) {
      last = edgelm_session_append_message(s, "user", "The jury said the city of Atlanta was fine.");
      gen.max_tokens = 8;
      if (last == EDGELM_OK) last = edgelm_session_generate(s, &gen, NULL, NULL);
      CHECK(edgelm_session_token_count(s) <= 64);
    }
    if (policies[p] == EDGELM_OVERFLOW_ERROR) CHECK(last == EDGELM_CONTEXT_FULL && strlen(edgelm_session_error(s)) > 0);
    else CHECK(last == EDGELM_OK);
    /* Past the context in one generate call. */
    gen.max_tokens = 100;
    const edgelm_status long_generate = edgelm_session_generate(s, &gen, NULL, NULL);
    if (policies[p] == EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT) CHECK(long_generate == EDGELM_OK);
    else CHECK(long_generate == EDGELM_CONTEXT_FULL && strlen(edgelm_session_error(s)) > 0);
    CHECK(edgelm_session_token_count(s) <= 64);
    edgelm_session_free(s);
  }
}

/* A handle of one kind passed as the other is rejected (and ignored by _free), not misread. */
static void test_handle_kinds(edgelm_model* model) {
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  edgelm_model* session_as_model = (edgelm_model*)s;
  edgelm_session* model_as_session = (edgelm_session*)model;
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  int32_t ids[8];
  size_t n = 0;
  char text[16];
  CHECK_FAILS(edgelm_model_get_info(session_as_model, &info), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_tokenize(session_as_model, "a", 1, 0, 0, ids, 8, &n), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_detokenize(session_as_model, ids, 0, text, sizeof text, &n), EDGELM_INVALID_ARGUMENT);
  edgelm_session* other = (edgelm_session*)1;
  CHECK_FAILS(edgelm_session_create(session_as_model, NULL, &other), EDGELM_INVALID_ARGUMENT);
  CHECK(other == NULL);
  CHECK_FAILS(edgelm_session_append_text(model_as_session, "a", 0), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_append_message(model_as_session, "user", "a"), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_append_tokens(model_as_session, ids, 0), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_generate(model_as_session, NULL, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_fork(model_as_session, &other), EDGELM_INVALID_ARGUMENT);
  CHECK(other == NULL);
  CHECK_FAILS(edgelm_session_save_file(model_as_session, "x.session"), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_restore_file(model_as_session, "x.session"), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_reset(model_as_session), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_rewind(model_as_session, 0), EDGELM_INVALID_ARGUMENT);
  edgelm_stats stats;
  edgelm_stats_init(&stats);
  CHECK_FAILS(edgelm_session_get_stats(model_as_session, &stats), EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_token_count(model_as_session) == 0);
  CHECK(strcmp(edgelm_session_error(model_as_session), "") == 0);
  edgelm_session_cancel(model_as_session);
  /* Wrong-kind frees are no-ops: both objects still work afterwards. */
  edgelm_model_free(session_as_model);
  edgelm_session_free(model_as_session);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The jury", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 2;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  edgelm_session_free(s);
}

static void test_fork_and_state(const edgelm_model* model) {
  edgelm_session* base = NULL;
  CHECK(edgelm_session_create(model, NULL, &base) == EDGELM_OK);
  CHECK(edgelm_session_append_text(base, "The jury said", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 6;
  gen.temperature = 0.0f;
  edgelm_session* fork = NULL;
  CHECK(edgelm_session_fork(base, &fork) == EDGELM_OK && fork != NULL);
  Collected a = {{0}, 0, 0, 0, NULL}, b = {{0}, 0, 0, 0, NULL}, c = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(base, &gen, collect, &a) == EDGELM_OK);
  CHECK(edgelm_session_generate(fork, &gen, collect, &b) == EDGELM_OK);
  CHECK(strcmp(a.text, b.text) == 0);

  const char* path = "test_c_api.session";
  CHECK(edgelm_session_save_file(fork, path) == EDGELM_OK);
  edgelm_session* restored = NULL;
  CHECK(edgelm_session_create(model, NULL, &restored) == EDGELM_OK);
  CHECK(edgelm_session_restore_file(restored, path) == EDGELM_OK);
  CHECK(edgelm_session_token_count(restored) == edgelm_session_token_count(fork));
  Collected more_fork = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(fork, &gen, collect, &more_fork) == EDGELM_OK);
  CHECK(edgelm_session_generate(restored, &gen, collect, &c) == EDGELM_OK);
  CHECK(strcmp(c.text, more_fork.text) == 0);
  CHECK(edgelm_session_restore_file(restored, "no-such-file.session") == EDGELM_NOT_FOUND);
  CHECK(edgelm_session_restore_file(restored, EDGELM_MODEL_PATH) == EDGELM_CORRUPT_MODEL);
  remove(path);
  edgelm_session* none = (edgelm_session*)1;
  CHECK(edgelm_session_fork(NULL, &none) == EDGELM_INVALID_ARGUMENT && none == NULL);
  edgelm_session_free(fork);
  edgelm_session_free(restored);
  edgelm_session_free(base);
}

static void test_chat(const edgelm_model* model) {
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_message(s, "user", "Tell me about the <|turn> marker.") == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 4;
  gen.seed = 7;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  CHECK(edgelm_session_append_message(s, "user", "And then?") == EDGELM_OK);
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  edgelm_session_free(s);

  /* A rewind to the current length and an empty append change nothing: the user turn still gets the
   * model's turn prompt, as in a session without them. */
  edgelm_session* a = NULL;
  edgelm_session* b = NULL;
  CHECK(edgelm_session_create(model, NULL, &a) == EDGELM_OK && edgelm_session_create(model, NULL, &b) == EDGELM_OK);
  CHECK(edgelm_session_append_message(a, "user", "Hello") == EDGELM_OK);
  CHECK(edgelm_session_append_message(b, "user", "Hello") == EDGELM_OK);
  CHECK(edgelm_session_rewind(b, edgelm_session_token_count(b)) == EDGELM_OK);
  CHECK(edgelm_session_append_tokens(b, NULL, 0) == EDGELM_OK);
  CHECK(edgelm_session_append_text(b, "", 0) == EDGELM_OK);
  CHECK(edgelm_session_generate(a, &gen, NULL, NULL) == EDGELM_OK);
  CHECK(edgelm_session_generate(b, &gen, NULL, NULL) == EDGELM_OK);
  CHECK(edgelm_session_token_count(a) == edgelm_session_token_count(b));
  edgelm_session_free(a);
  edgelm_session_free(b);
}

/* Greedy text of up to 24 tokens after "The jury said" in a fresh session, with `stops` / `bias`. */
static edgelm_status greedy_text(const edgelm_model* model, const char* const* stops, int32_t n_stops,
                                 const int32_t* bias_tokens, const float* bias_values, int32_t n_bias, Collected* out) {
  edgelm_session* s = NULL;
  if (edgelm_session_create(model, NULL, &s) != EDGELM_OK) return EDGELM_INTERNAL;
  edgelm_status st = edgelm_session_append_text(s, "The jury said", 0);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 24;
  gen.temperature = 0.0f;
  gen.ignore_stop = 1;
  gen.stop_strings = stops;
  gen.n_stop_strings = n_stops;
  gen.logit_bias_tokens = bias_tokens;
  gen.logit_bias_values = bias_values;
  gen.n_logit_bias = n_bias;
  memset(out, 0, sizeof *out);
  if (st == EDGELM_OK) st = edgelm_session_generate(s, &gen, collect, out);
  edgelm_session_free(s);
  return st;
}

/* Stop strings: one cut from the middle of the plain output (spanning tokens) ends the text right
 * before it; one that never appears changes nothing. Logit bias: banning the first greedy token
 * changes the output. Bad arguments give a status. */
static void test_stop_strings_and_bias(const edgelm_model* model) {
  Collected plain, cut, missed, banned;
  CHECK(greedy_text(model, NULL, 0, NULL, NULL, 0, &plain) == EDGELM_OK);
  CHECK(plain.bytes > 12);
  char stop[8];
  const size_t at = plain.bytes / 2;
  memcpy(stop, plain.text + at, 5);
  stop[5] = '\0';
  const char* stops[] = {"<never appears>", stop};
  CHECK(greedy_text(model, stops, 2, NULL, NULL, 0, &cut) == EDGELM_OK);
  const char* first = strstr(plain.text, stop);
  CHECK(first != NULL && cut.bytes == (size_t)(first - plain.text) && memcmp(cut.text, plain.text, cut.bytes) == 0);
  CHECK(greedy_text(model, stops, 1, NULL, NULL, 0, &missed) == EDGELM_OK);
  CHECK(strcmp(missed.text, plain.text) == 0);

  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The jury said", 0) == EDGELM_OK);
  float logits[8192];
  size_t n = 0;
  CHECK(edgelm_session_evaluate(s, 0, logits, sizeof logits / sizeof logits[0], &n) == EDGELM_OK);
  int32_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = (int32_t)i;
  edgelm_session_free(s);
  const float ban = -INFINITY;
  CHECK(greedy_text(model, NULL, 0, &best, &ban, 1, &banned) == EDGELM_OK);
  CHECK(strcmp(banned.text, plain.text) != 0);

  const int32_t outside = 1 << 30;
  const float nan_bias = NAN;
  const char* empty[] = {""};
  const char* invalid[] = {"\xC3("};
  CHECK(greedy_text(model, NULL, 0, &outside, &ban, 1, &banned) == EDGELM_OUT_OF_RANGE);
  CHECK(greedy_text(model, NULL, 0, &best, &nan_bias, 1, &banned) == EDGELM_INVALID_ARGUMENT);
  CHECK(greedy_text(model, NULL, 0, NULL, NULL, 1, &banned) == EDGELM_INVALID_ARGUMENT);
  CHECK(greedy_text(model, empty, 1, NULL, NULL, 0, &banned) == EDGELM_INVALID_ARGUMENT);
  CHECK(greedy_text(model, invalid, 1, NULL, NULL, 0, &banned) == EDGELM_INVALID_ARGUMENT);
  CHECK(greedy_text(model, NULL, -1, NULL, NULL, 0, &banned) == EDGELM_INVALID_ARGUMENT);
}

/* 200 chat turns in a 2k context: the oldest turns give way, every call succeeds, the history never
 * outgrows the context. (60 turns under AddressSanitizer, which runs this test 5x slower in CI: enough
 * to fill the context and drop turns many times.) */
#if defined(__SANITIZE_ADDRESS__)
enum { kConversationTurns = 60 };
#else
enum { kConversationTurns = 200 };
#endif
static void test_long_conversation(const edgelm_model* model) {
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = 2048;
  so.overflow = EDGELM_OVERFLOW_DROP_OLDEST_TURNS;
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 16;
  gen.seed = 11;
  int ok = 1;
  size_t longest = 0;
  for (int turn = 0; turn < kConversationTurns && ok; ++turn) {
    char message[160];
    snprintf(message, sizeof message, "Turn %d: tell me what the jury said about the county and the election, please.",
             turn);
    ok = edgelm_session_append_message(s, "user", message) == EDGELM_OK &&
         edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK;
    if (!ok) fprintf(stderr, "turn %d: %s\n", turn, edgelm_session_error(s));
    if (edgelm_session_token_count(s) > longest) longest = edgelm_session_token_count(s);
  }
  CHECK(ok);
  CHECK(longest <= 2048 && longest > 1024);
  edgelm_session_free(s);
}

static void test_version(void) {
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", EDGELM_VERSION_MAJOR, EDGELM_VERSION_MINOR, EDGELM_VERSION_PATCH);
  CHECK(strcmp(edgelm_version(), expected) == 0);
  CHECK(edgelm_version_number() == EDGELM_VERSION_NUMBER);
  CHECK(EDGELM_VERSION_NUMBER == EDGELM_VERSION_MAJOR * 1000000 + EDGELM_VERSION_MINOR * 1000 + EDGELM_VERSION_PATCH);
}

/* The model info of this build, and of a caller compiled against the first 1.0 fields only. */
static void test_model_info(const edgelm_model* model) {
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  CHECK(info.bos_token == 2 && info.eos_token >= 0 && info.turn_start_token >= 0 && info.turn_end_token >= 0);
  CHECK(info.n_stop_tokens >= 2 && info.stop_tokens != NULL);
  int has_eos = 0, has_turn_end = 0;
  for (int32_t i = 0; i < info.n_stop_tokens; ++i) {
    has_eos |= info.stop_tokens[i] == info.eos_token;
    has_turn_end |= info.stop_tokens[i] == info.turn_end_token;
  }
  CHECK(has_eos && has_turn_end);
  CHECK(strcmp(info.chat_template, "gemma4") == 0);
  edgelm_session_options defaults;
  edgelm_session_options_init(&defaults);
  CHECK(info.default_context_length == defaults.context_length);

  /* An older, shorter struct is filled up to its size and not a byte further. */
  unsigned char bytes[sizeof(edgelm_model_info) + 16];
  memset(bytes, 0xAB, sizeof bytes);
  edgelm_model_info* old = (edgelm_model_info*)bytes;
  old->struct_size = (uint32_t)offsetof(edgelm_model_info, bos_token);
  CHECK(edgelm_model_get_info(model, old) == EDGELM_OK);
  CHECK(old->vocab_size == info.vocab_size && old->weight_bytes_per_token == info.weight_bytes_per_token);
  CHECK(bytes[offsetof(edgelm_model_info, bos_token)] == 0xAB);
  old->struct_size = (uint32_t)sizeof(edgelm_model_info) + 8; /* a newer caller: refused, not overrun */
  CHECK_FAILS(edgelm_model_get_info(model, old), EDGELM_INVALID_ARGUMENT);
}

/* Option structs from callers built against a shorter version take defaults for the rest. */
/* A copy of the bundled model with 4 bytes overwritten at offset 5,000,000 (inside a weight tensor):
 * the container is valid, only the weight checksums can tell. 1 if it was written. */
static int write_damaged_model(const char* path) {
  FILE* in = fopen(EDGELM_MODEL_PATH, "rb");
  FILE* out = fopen(path, "wb");
  int ok = in && out;
  long offset = 0;
  int c;
  while (ok && (c = fgetc(in)) != EOF) {
    if (offset >= 5000000 && offset < 5000004) c ^= 0x5a;
    ok = fputc(c, out) != EOF;
    ++offset;
  }
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok && offset > 5000004;
}

/* weights_verified of a model, waiting up to 10 s while a background check runs. */
static int32_t weights_verified(const edgelm_model* model) {
  edgelm_model_info info;
  const time_t start = time(NULL);
  do {
    edgelm_model_info_init(&info);
    if (edgelm_model_get_info(model, &info) != EDGELM_OK) return -99;
  } while (info.weights_verified == 0 && time(NULL) - start < 10);
  return info.weights_verified;
}

/* verify_weights: NONE loads a damaged file, AT_LOAD refuses it naming the tensor, BACKGROUND loads it
 * and then refuses to compute; the intact bundled model verifies; out-of-range values are refused. */
static void test_model_verify_weights(void) {
  edgelm_model* model = NULL;
  edgelm_model_options opts;
  edgelm_model_options_init(&opts);
  CHECK(opts.verify_weights == EDGELM_VERIFY_NONE);
  opts.verify_weights = 3;
  CHECK_FAILS(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model), EDGELM_INVALID_ARGUMENT);
  opts.verify_weights = EDGELM_VERIFY_AT_LOAD;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &opts, &model) == EDGELM_OK);
  CHECK(weights_verified(model) == 1);
  edgelm_model_free(model);

  const char* damaged = "test_c_api_damaged.edgelm";
  CHECK(write_damaged_model(damaged));
  opts.verify_weights = EDGELM_VERIFY_NONE;
  CHECK(edgelm_model_load(damaged, &opts, &model) == EDGELM_OK);
  CHECK(weights_verified(model) == 0);
  edgelm_model_free(model);
  model = NULL;
  opts.verify_weights = EDGELM_VERIFY_AT_LOAD;
  CHECK_FAILS(edgelm_model_load(damaged, &opts, &model), EDGELM_CORRUPT_MODEL);
  CHECK(strstr(edgelm_last_error(), "is damaged") != NULL && strstr(edgelm_last_error(), "layers.") != NULL);
  CHECK(model == NULL);
  opts.verify_weights = EDGELM_VERIFY_BACKGROUND;
  CHECK(edgelm_model_load(damaged, &opts, &model) == EDGELM_OK);
  CHECK(weights_verified(model) == 2);
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The jury said", 0) == EDGELM_OK);
  CHECK_FAILS(edgelm_session_generate(s, NULL, NULL, NULL), EDGELM_CORRUPT_MODEL);
  CHECK(strstr(edgelm_session_error(s), "is damaged") != NULL);
  edgelm_session_free(s);
  edgelm_model_free(model);
  remove(damaged);
}

/* An older caller's stats struct, ending at byte `size`: filled up to there (generated_tokens ==
 * `generated`), not one byte further. */
static void check_stats_up_to(const edgelm_session* s, size_t size, int64_t generated) {
  edgelm_stats stats;
  memset(&stats, 0xCD, sizeof stats);
  stats.struct_size = (uint32_t)size;
  CHECK(edgelm_session_get_stats(s, &stats) == EDGELM_OK && stats.generated_tokens == generated);
  CHECK(((const unsigned char*)&stats)[size] == 0xCD);
}

static void test_struct_sizes(const edgelm_model* model) {
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.struct_size = (uint32_t)offsetof(edgelm_session_options, num_threads);
  so.num_threads = -5; /* past the caller's size: never read */
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The jury said", 0) == EDGELM_OK);

  edgelm_generate_options full;
  edgelm_generate_options_init(&full);
  full.max_tokens = 3;
  full.temperature = 0.0f;
  Collected a = {{0}, 0, 0, 0, NULL}, b = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &full, collect, &a) == EDGELM_OK);
  CHECK(edgelm_session_rewind(s, edgelm_session_token_count(s) - (size_t)a.tokens) == EDGELM_OK);
  /* A caller that knows only max_tokens, ignore_stop and temperature: the seed etc. take defaults. */
  edgelm_generate_options shorter = full;
  shorter.struct_size = (uint32_t)offsetof(edgelm_generate_options, top_k);
  shorter.seed = 12345;
  CHECK(edgelm_session_generate(s, &shorter, collect, &b) == EDGELM_OK);
  CHECK(a.tokens == 3 && strcmp(a.text, b.text) == 0);
  shorter.struct_size = 2; /* smaller than struct_size itself */
  CHECK_FAILS(edgelm_session_generate(s, &shorter, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  shorter.struct_size = (uint32_t)sizeof shorter + 4;
  CHECK_FAILS(edgelm_session_generate(s, &shorter, NULL, NULL), EDGELM_INVALID_ARGUMENT);

  check_stats_up_to(s, offsetof(edgelm_stats, kv_bytes), 3);
  edgelm_session_free(s);
}

/* The 1.2 assistant surface from C: a 1.1 caller's struct sizes still work (no thinking, no tools,
 * stop_reason not written), the tool loop with size queries, and the misuse of each new field. */
static void test_assistant_api(const edgelm_model* model) {
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  CHECK(so.enable_thinking == 0 && so.tools_json == NULL);
  so.tools_json = "[{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":{\"type\":\"object\","
                  "\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":8}},\"required\":[\"city\"]}}]";
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  char calls[1024];
  size_t bytes = 0;
  CHECK(edgelm_session_get_tool_calls(s, NULL, 0, &bytes) == EDGELM_BUFFER_TOO_SMALL && bytes == 3); /* "[]" */
  CHECK(edgelm_session_get_tool_calls(s, calls, sizeof calls, &bytes) == EDGELM_OK && strcmp(calls, "[]") == 0);
  CHECK_FAILS(edgelm_session_get_tool_calls(s, NULL, 0, NULL), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_append_message(s, "tool", "{}"), EDGELM_INVALID_ARGUMENT); /* no call to answer */
  CHECK(edgelm_session_append_message(s, "user", "Weather in Paris?") == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  CHECK(gen.tool_choice == EDGELM_TOOL_CHOICE_AUTO && gen.thinking_budget == -1 && gen.grammar == NULL);
  gen.max_tokens = 200;
  gen.tool_choice = EDGELM_TOOL_CHOICE_REQUIRED;
  edgelm_stats stats;
  int called = 0;
  for (uint64_t seed = 1; seed <= 4 && !called; ++seed) {
    gen.seed = seed;
    const size_t before = edgelm_session_token_count(s);
    CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
    edgelm_stats_init(&stats);
    CHECK(edgelm_session_get_stats(s, &stats) == EDGELM_OK);
    called = stats.stop_reason == EDGELM_STOP_TOOL_CALL;
    if (!called) CHECK(stats.stop_reason == EDGELM_STOP_MAX_TOKENS && edgelm_session_rewind(s, before) == EDGELM_OK);
  }
  CHECK(called);
  CHECK(edgelm_session_get_tool_calls(s, calls, 4, &bytes) == EDGELM_BUFFER_TOO_SMALL && bytes > 4);
  CHECK(edgelm_session_get_tool_calls(s, calls, sizeof calls, &bytes) == EDGELM_OK);
  CHECK(strncmp(calls, "[{\"name\":\"get_weather\",\"arguments\":{\"city\":", 42) == 0 && strlen(calls) + 1 == bytes);
  CHECK(edgelm_session_append_message(s, "tool", "{\"temp\":22}") == EDGELM_OK);
  gen.tool_choice = EDGELM_TOOL_CHOICE_AUTO;
  gen.max_tokens = 4;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  CHECK(edgelm_session_get_stats(s, &stats) == EDGELM_OK && stats.stop_reason == EDGELM_STOP_MAX_TOKENS);
  CHECK(edgelm_session_get_tool_calls(s, calls, sizeof calls, &bytes) == EDGELM_OK && strcmp(calls, "[]") == 0);

  /* Misuse: both constraints, a broken grammar or schema, an unknown tool choice; a failed generate
   * has stop reason NONE. */
  gen.grammar = "root ::= \"a\"";
  gen.json_schema = "{}";
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_get_stats(s, &stats) == EDGELM_OK && stats.stop_reason == EDGELM_STOP_NONE);
  gen.json_schema = NULL;
  gen.grammar = "root ::= (";
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  gen.grammar = NULL;
  gen.json_schema = "{\"type\":\"string\",\"pattern\":\"a+\"}";
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_UNSUPPORTED);
  gen.json_schema = NULL;
  gen.tool_choice = 7;
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  gen.tool_choice = EDGELM_TOOL_CHOICE_AUTO;
  gen.thinking_budget = -2;
  CHECK_FAILS(edgelm_session_generate(s, &gen, NULL, NULL), EDGELM_INVALID_ARGUMENT);
  edgelm_session_free(s);
  so.tools_json = "[{\"name\":\"bad name\"}]";
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);
  so.tools_json = "not json";
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);

  /* A 1.1 caller: its structs end before the 1.2 fields, which are then never read. */
  edgelm_session_options old_session;
  edgelm_session_options_init(&old_session);
  old_session.struct_size = (uint32_t)offsetof(edgelm_session_options, enable_thinking);
  old_session.tools_json = "garbage that must not be read";
  CHECK(edgelm_session_create(model, &old_session, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_message(s, "user", "Hi") == EDGELM_OK);
  edgelm_generate_options old_gen;
  edgelm_generate_options_init(&old_gen);
  old_gen.struct_size = (uint32_t)offsetof(edgelm_generate_options, thinking_budget);
  old_gen.max_tokens = 3;
  old_gen.grammar = "garbage";
  old_gen.tool_choice = 99;
  CHECK(edgelm_session_generate(s, &old_gen, NULL, NULL) == EDGELM_OK);
  check_stats_up_to(s, offsetof(edgelm_stats, stop_reason), 3);
  CHECK(strcmp(edgelm_status_string(EDGELM_INVALID_OUTPUT), "invalid model output") == 0);
  edgelm_session_free(s);
}

static void test_evaluate_and_score(const edgelm_model* model) {
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  CHECK(edgelm_model_get_info(model, &info) == EDGELM_OK);
  const size_t vocab = (size_t)info.vocab_size;
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  int32_t ids[32];
  size_t n = 0;
  const char* text = "The jury said it was fine.";
  CHECK(edgelm_tokenize(model, text, strlen(text), 1, 0, ids, 32, &n) == EDGELM_OK && n > 4);
  CHECK(edgelm_session_append_tokens(s, ids, n) == EDGELM_OK);

  /* All positions: the size query processes nothing; then one row per pending token. */
  size_t n_logits = 0;
  CHECK_FAILS(edgelm_session_evaluate(s, 1, NULL, 0, &n_logits), EDGELM_BUFFER_TOO_SMALL);
  CHECK(n_logits == n * vocab && edgelm_session_token_count(s) == n);
  float* all = (float*)malloc(n_logits * sizeof(float));
  CHECK(edgelm_session_evaluate(s, 1, all, n_logits, &n_logits) == EDGELM_OK);
  /* Nothing pending now: all positions gives zero rows, the last row is available again. */
  CHECK(edgelm_session_evaluate(s, 1, NULL, 0, &n_logits) == EDGELM_OK && n_logits == 0);
  float* last = (float*)malloc(vocab * sizeof(float));
  CHECK(edgelm_session_evaluate(s, 0, last, vocab, &n_logits) == EDGELM_OK && n_logits == vocab);
  float diff = 0.0f;
  for (size_t v = 0; v < vocab; ++v) diff = fmaxf(diff, fabsf(last[v] - all[(n - 1) * vocab + v]));
  CHECK(diff <= 1e-4f);

  /* Scoring ids[1..] after BOS gives the log-softmax of the rows just computed. */
  edgelm_session* scorer = NULL;
  CHECK(edgelm_session_create(model, NULL, &scorer) == EDGELM_OK);
  CHECK_FAILS(edgelm_session_score(scorer, ids + 1, n - 1, NULL, NULL), EDGELM_INVALID_ARGUMENT); /* empty history */
  CHECK(edgelm_session_append_tokens(scorer, ids, 1) == EDGELM_OK);
  float logprobs[32];
  double sum = 0.0;
  CHECK(edgelm_session_score(scorer, ids + 1, n - 1, logprobs, &sum) == EDGELM_OK);
  CHECK(edgelm_session_token_count(scorer) == n);
  double expected_sum = 0.0, worst = 0.0;
  for (size_t i = 0; i + 1 < n; ++i) {
    const float* row = all + i * vocab;
    float max_logit = row[0];
    for (size_t v = 1; v < vocab; ++v) max_logit = fmaxf(max_logit, row[v]);
    double z = 0.0;
    for (size_t v = 0; v < vocab; ++v) z += exp((double)row[v] - max_logit);
    const double lp = (double)row[ids[i + 1]] - max_logit - log(z);
    expected_sum += lp;
    worst = fmax(worst, fabs(lp - logprobs[i]));
    CHECK(logprobs[i] < 0.0f);
  }
  CHECK(worst <= 1e-3 && fabs(sum - expected_sum) <= 1e-2);
  const int32_t out_of_vocab[] = {(int32_t)vocab};
  CHECK_FAILS(edgelm_session_score(scorer, out_of_vocab, 1, NULL, NULL), EDGELM_OUT_OF_RANGE);
  CHECK(edgelm_session_token_count(scorer) == n); /* a refused score appends nothing */
  CHECK_FAILS(edgelm_session_evaluate(scorer, 1, NULL, 5, &n_logits), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_evaluate(scorer, 0, last, vocab, NULL), EDGELM_INVALID_ARGUMENT);
  free(all);
  free(last);
  edgelm_session_free(scorer);
  edgelm_session_free(s);
}

static void test_state_in_memory(const edgelm_model* model) {
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The jury said", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 4;
  gen.temperature = 0.0f;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  size_t bytes = 0;
  CHECK_FAILS(edgelm_session_save_state(s, NULL, 0, &bytes), EDGELM_BUFFER_TOO_SMALL);
  CHECK(bytes > 0);
  unsigned char* state = (unsigned char*)malloc(bytes);
  size_t written = 0;
  CHECK_FAILS(edgelm_session_save_state(s, state, bytes - 1, &written), EDGELM_BUFFER_TOO_SMALL);
  CHECK(edgelm_session_save_state(s, state, bytes, &written) == EDGELM_OK && written == bytes);

  edgelm_session* restored = NULL;
  CHECK(edgelm_session_create(model, NULL, &restored) == EDGELM_OK);
  CHECK(edgelm_session_restore_state(restored, state, bytes) == EDGELM_OK);
  CHECK(edgelm_session_token_count(restored) == edgelm_session_token_count(s));
  Collected a = {{0}, 0, 0, 0, NULL}, b = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &a) == EDGELM_OK);
  CHECK(edgelm_session_generate(restored, &gen, collect, &b) == EDGELM_OK);
  CHECK(strcmp(a.text, b.text) == 0);

  /* Every byte matters: truncation and one flipped bit anywhere are refused, the session unchanged. */
  const size_t before = edgelm_session_token_count(restored);
  CHECK_FAILS(edgelm_session_restore_state(restored, state, bytes / 2), EDGELM_CORRUPT_MODEL);
  for (size_t i = 0; i < bytes; i += bytes / 7 + 1) {
    state[i] ^= 0x04;
    const edgelm_status st = edgelm_session_restore_state(restored, state, bytes);
    CHECK(st != EDGELM_OK);
    state[i] ^= 0x04;
  }
  CHECK(edgelm_session_token_count(restored) == before);
  CHECK_FAILS(edgelm_session_restore_state(restored, NULL, 4), EDGELM_INVALID_ARGUMENT);
  CHECK_FAILS(edgelm_session_save_state(s, NULL, 4, &written), EDGELM_INVALID_ARGUMENT);
  /* Another session's options (context length) do not fit this state. */
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = 512;
  edgelm_session* other = NULL;
  CHECK(edgelm_session_create(model, &so, &other) == EDGELM_OK);
  CHECK_FAILS(edgelm_session_restore_state(other, state, bytes), EDGELM_INVALID_ARGUMENT);
  free(state);
  edgelm_session_free(other);
  edgelm_session_free(restored);
  edgelm_session_free(s);
}

/* Resident set size in bytes (Linux), 0 where unknown. */
static uint64_t resident_bytes(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  unsigned long long pages_total = 0, pages_resident = 0;
  if (!f) return 0;
  const int read = fscanf(f, "%llu %llu", &pages_total, &pages_resident);
  fclose(f);
  return read == 2 ? (uint64_t)pages_resident * 4096u : 0;
}

static void test_release_memory(const edgelm_model* model) {
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.prefill_chunk = 1024; /* a long prompt in one chunk grows the scratch to several MB */
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  char prompt[6000] = "The jury said that the city";
  while (strlen(prompt) + 40 < sizeof prompt) strcat(prompt, " and the jury said that the city");
  CHECK(edgelm_session_append_text(s, prompt, 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 8;
  gen.temperature = 0.0f;
  Collected a = {{0}, 0, 0, 0, NULL}, b = {{0}, 0, 0, 0, NULL};
  CHECK(edgelm_session_generate(s, &gen, collect, &a) == EDGELM_OK);
  uint64_t released = 0;
  const uint64_t rss_before = resident_bytes();
  CHECK(edgelm_session_release_memory(s, &released) == EDGELM_OK);
  const uint64_t rss_after = resident_bytes();
  printf("release_memory: %llu bytes released; RSS %llu -> %llu bytes\n", (unsigned long long)released,
         (unsigned long long)rss_before, (unsigned long long)rss_after);
  CHECK(released > 1000000);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  CHECK(rss_after < rss_before); /* sanitizer allocators keep freed memory in quarantine */
#endif
  CHECK(edgelm_session_release_memory(s, NULL) == EDGELM_OK);
  /* The conversation is kept: it goes on exactly as an untouched copy does. */
  CHECK(edgelm_session_rewind(s, edgelm_session_token_count(s) - (size_t)a.tokens) == EDGELM_OK);
  CHECK(edgelm_session_generate(s, &gen, collect, &b) == EDGELM_OK);
  CHECK(strcmp(a.text, b.text) == 0);
  CHECK_FAILS(edgelm_session_release_memory(NULL, &released), EDGELM_INVALID_ARGUMENT);
  edgelm_session_free(s);
}

typedef struct {
  int messages, info_messages;
} LogCount;

static void count_log(void* user_data, edgelm_log_level level, const char* message) {
  LogCount* c = (LogCount*)user_data;
  ++c->messages;
  if (level == EDGELM_LOG_INFO && strstr(message, "kernels") != NULL) ++c->info_messages;
}

static void test_log_callback(void) {
  LogCount count = {0, 0};
  edgelm_set_log_callback(count_log, &count, EDGELM_LOG_INFO);
  edgelm_model* model = NULL;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, NULL, &model) == EDGELM_OK);
  CHECK(count.info_messages == 1);
  edgelm_model_free(model);
  /* A failed call logs at DEBUG only: not delivered at INFO. */
  const int before = count.messages;
  CHECK(edgelm_model_load("no-such-model.edgelm", NULL, &model) == EDGELM_NOT_FOUND);
  CHECK(count.messages == before);
  edgelm_set_log_callback(count_log, &count, EDGELM_LOG_DEBUG);
  CHECK(edgelm_model_load("no-such-model.edgelm", NULL, &model) == EDGELM_NOT_FOUND);
  CHECK(count.messages == before + 1);
  edgelm_set_log_callback(NULL, NULL, EDGELM_LOG_DEBUG);
  CHECK(edgelm_model_load("no-such-model.edgelm", NULL, &model) == EDGELM_NOT_FOUND);
  CHECK(count.messages == before + 1);
}

/* Sessions keep their model alive; freed handles are refused rather than used. */
/* Speculation (1.3): prompt lookup and a draft model (the model itself here) give plain decoding's
 * tokens; the stats count passes, drafts and accepted guesses; the draft model outlives its handle in
 * the session and its forks; bad options are refused; a 1.2 caller's struct is never read past its end. */
static void generate_collect(edgelm_session* s, const char* prompt, int sampled, Collected* c, edgelm_stats* stats) {
  CHECK(edgelm_session_append_text(s, prompt, 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 24;
  gen.ignore_stop = 1;
  if (sampled) {
    gen.temperature = 0.8f;
    gen.seed = 7;
  } else {
    gen.temperature = 0.0f;
  }
  memset(c, 0, sizeof *c);
  CHECK(edgelm_session_generate(s, &gen, collect, c) == EDGELM_OK);
  edgelm_stats_init(stats);
  CHECK(edgelm_session_get_stats(s, stats) == EDGELM_OK);
}

static void test_speculation(const edgelm_model* model) {
  const char* prompt = "The jury said the the jury said the jury said";
  edgelm_model* draft = NULL;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, NULL, &draft) == EDGELM_OK);
  for (int sampled = 0; sampled <= 1; ++sampled) {
    Collected want, got;
    edgelm_stats plain_stats, stats;
    edgelm_session* plain = NULL;
    CHECK(edgelm_session_create(model, NULL, &plain) == EDGELM_OK);
    generate_collect(plain, prompt, sampled, &want, &plain_stats);
    CHECK(plain_stats.decode_passes == plain_stats.generated_tokens - 1);
    CHECK(plain_stats.drafted_tokens == 0 && plain_stats.accepted_draft_tokens == 0);
    for (int mode = EDGELM_SPECULATION_PROMPT_LOOKUP; mode <= EDGELM_SPECULATION_DRAFT_MODEL; ++mode) {
      edgelm_session_options so;
      edgelm_session_options_init(&so);
      CHECK(so.speculation == EDGELM_SPECULATION_NONE && so.max_draft_tokens == 8 && so.draft_model == NULL);
      so.speculation = mode;
      so.draft_model = draft;
      edgelm_session* s = NULL;
      CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
      if (!s) continue;
      generate_collect(s, prompt, sampled, &got, &stats);
      CHECK(strcmp(got.text, want.text) == 0 && got.tokens == want.tokens);
      CHECK(stats.generated_tokens == plain_stats.generated_tokens);
      CHECK(stats.decode_passes + stats.accepted_draft_tokens == stats.generated_tokens - 1);
      CHECK(stats.accepted_draft_tokens <= stats.drafted_tokens);
      edgelm_session* fork = NULL;
      CHECK(edgelm_session_fork(s, &fork) == EDGELM_OK);
      edgelm_session_free(s);
      if (mode == EDGELM_SPECULATION_DRAFT_MODEL && sampled) {
        edgelm_model_free(draft); /* the fork keeps it alive */
        draft = NULL;
      }
      CHECK(edgelm_session_append_text(fork, " and", 0) == EDGELM_OK);
      edgelm_generate_options gen;
      edgelm_generate_options_init(&gen);
      gen.max_tokens = 8;
      CHECK(edgelm_session_generate(fork, &gen, NULL, NULL) == EDGELM_OK);
      edgelm_session_free(fork);
    }
    edgelm_session_free(plain);
  }

  edgelm_session_options so;
  edgelm_session* s = NULL;
  edgelm_session_options_init(&so);
  so.speculation = 3;
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);
  so.speculation = EDGELM_SPECULATION_DRAFT_MODEL; /* no draft model */
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);
  so.draft_model = (const edgelm_model*)&so; /* not a model handle */
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);
  so.speculation = EDGELM_SPECULATION_PROMPT_LOOKUP;
  so.max_draft_tokens = 0;
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);
  so.max_draft_tokens = 17;
  CHECK_FAILS(edgelm_session_create(model, &so, &s), EDGELM_INVALID_ARGUMENT);

  /* A 1.2 caller: the speculation fields lie past its struct and are never read. */
  edgelm_session_options_init(&so);
  so.struct_size = (uint32_t)offsetof(edgelm_session_options, speculation);
  so.speculation = 99;
  so.draft_model = (const edgelm_model*)&so;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_OK);
  CHECK(edgelm_session_append_text(s, "The jury", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 3;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  check_stats_up_to(s, offsetof(edgelm_stats, decode_passes), 3);
  edgelm_session_free(s);
}

static void test_lifetimes(void) {
  edgelm_model* model = NULL;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, NULL, &model) == EDGELM_OK);
  edgelm_session* s = NULL;
  CHECK(edgelm_session_create(model, NULL, &s) == EDGELM_OK);
  edgelm_model_free(model);
  CHECK(edgelm_session_append_text(s, "The jury", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 2;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  edgelm_session_free(s);
}

int main(void) {
  test_version();
  test_log_callback();
  test_lifetimes();
  test_load_errors();
  test_model_memory_budget();
  test_model_linear_engine();
  test_model_verify_weights();
  edgelm_model* model = NULL;
  edgelm_status st = edgelm_model_load(EDGELM_MODEL_PATH, NULL, &model);
  CHECK(st == EDGELM_OK);
  if (st != EDGELM_OK) {
    fprintf(stderr, "cannot load %s: %s\n", EDGELM_MODEL_PATH, edgelm_last_error());
  } else {
    test_model(model);
    test_session(model);
    test_session_options(model);
    test_session_memory_budget(model);
    test_session_after_errors(model);
    test_overflow_policies(model);
    test_handle_kinds(model);
    test_fork_and_state(model);
    test_chat(model);
    test_stop_strings_and_bias(model);
    test_long_conversation(model);
    test_model_info(model);
    test_struct_sizes(model);
    test_assistant_api(model);
    test_evaluate_and_score(model);
    test_state_in_memory(model);
    test_release_memory(model);
    test_speculation(model);
    edgelm_model_free(model);
  }
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
