/* The public C API used from plain C11, with nothing but include/edgelm/edgelm.h: the happy path
 * on the bundled model, and misuse (NULLs, bad paths, invalid UTF-8, bad ids, full context) that
 * must return a status and a message, never crash. Prints "N passed, M failed". */
#include <stdio.h>
#include <string.h>

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
  edgelm_model_free(NULL);
  edgelm_session_free(NULL);
  CHECK(strcmp(edgelm_status_string(EDGELM_CONTEXT_FULL), "context full") == 0);
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
  const int32_t bad_ids[] = {5, 99999};
  CHECK(edgelm_detokenize(model, bad_ids, 2, out, sizeof out, &out_bytes) == EDGELM_OUT_OF_RANGE);
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
  gen.sampling.temperature = 0.0f;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_INVALID_ARGUMENT); /* nothing appended */
  CHECK(strlen(edgelm_session_error(s)) > 0);

  CHECK(edgelm_session_append_text(s, "The city of", 0) == EDGELM_OK);
  const size_t prompt = edgelm_session_token_count(s);
  Collected first = {{0}, 0, 0, 0};
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
  Collected again = {{0}, 0, 0, 0};
  CHECK(edgelm_session_generate(s, &gen, collect, &again) == EDGELM_OK);
  CHECK(strcmp(first.text, again.text) == 0);
  CHECK(edgelm_session_rewind(s, 1000) == EDGELM_OUT_OF_RANGE);

  /* The callback can stop generation; the token it saw is kept. */
  CHECK(edgelm_session_reset(s) == EDGELM_OK && edgelm_session_token_count(s) == 0);
  CHECK(edgelm_session_append_text(s, "The city of", 0) == EDGELM_OK);
  Collected stopped = {{0}, 0, 0, 2};
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
  gen.sampling.temperature = -1.0f;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_INVALID_ARGUMENT);
  gen.sampling.temperature = 0.0f;

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

  so.context_length = 0;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_INVALID_ARGUMENT && s == NULL);
  so.context_length = 1 << 30;
  CHECK(edgelm_session_create(model, &so, &s) == EDGELM_INVALID_ARGUMENT);
  CHECK(edgelm_session_create(NULL, NULL, &s) == EDGELM_INVALID_ARGUMENT);
}

static void test_fork_and_state(const edgelm_model* model) {
  edgelm_session* base = NULL;
  CHECK(edgelm_session_create(model, NULL, &base) == EDGELM_OK);
  CHECK(edgelm_session_append_text(base, "The jury said", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 6;
  gen.sampling.temperature = 0.0f;
  edgelm_session* fork = NULL;
  CHECK(edgelm_session_fork(base, &fork) == EDGELM_OK && fork != NULL);
  Collected a = {{0}, 0, 0, 0}, b = {{0}, 0, 0, 0}, c = {{0}, 0, 0, 0};
  CHECK(edgelm_session_generate(base, &gen, collect, &a) == EDGELM_OK);
  CHECK(edgelm_session_generate(fork, &gen, collect, &b) == EDGELM_OK);
  CHECK(strcmp(a.text, b.text) == 0);

  const char* path = "test_c_api.session";
  CHECK(edgelm_session_save(fork, path) == EDGELM_OK);
  edgelm_session* restored = NULL;
  CHECK(edgelm_session_create(model, NULL, &restored) == EDGELM_OK);
  CHECK(edgelm_session_load(restored, path) == EDGELM_OK);
  CHECK(edgelm_session_token_count(restored) == edgelm_session_token_count(fork));
  Collected more_fork = {{0}, 0, 0, 0};
  CHECK(edgelm_session_generate(fork, &gen, collect, &more_fork) == EDGELM_OK);
  CHECK(edgelm_session_generate(restored, &gen, collect, &c) == EDGELM_OK);
  CHECK(strcmp(c.text, more_fork.text) == 0);
  CHECK(edgelm_session_load(restored, "no-such-file.session") == EDGELM_NOT_FOUND);
  CHECK(edgelm_session_load(restored, EDGELM_MODEL_PATH) == EDGELM_CORRUPT_MODEL);
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
  gen.sampling.seed = 7;
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  CHECK(edgelm_session_append_message(s, "user", "And then?") == EDGELM_OK);
  CHECK(edgelm_session_generate(s, &gen, NULL, NULL) == EDGELM_OK);
  edgelm_session_free(s);
}

int main(void) {
  test_load_errors();
  edgelm_model* model = NULL;
  edgelm_status st = edgelm_model_load(EDGELM_MODEL_PATH, NULL, &model);
  CHECK(st == EDGELM_OK);
  if (st != EDGELM_OK) {
    fprintf(stderr, "cannot load %s: %s\n", EDGELM_MODEL_PATH, edgelm_last_error());
  } else {
    test_model(model);
    test_session(model);
    test_fork_and_state(model);
    test_chat(model);
    edgelm_model_free(model);
  }
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
