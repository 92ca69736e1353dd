// Sessions over one shared model on several threads at once, and cancellation from another thread
// (run under ThreadSanitizer by scripts/test.sh).
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "edgelm/edgelm.h"

namespace {

struct Model {
  edgelm_model* model = nullptr;
  Model() {
    edgelm_model_options o;
    edgelm_model_options_init(&o);
    o.num_threads = 2;  // the shared pool is used by every session at once
    REQUIRE(edgelm_model_load(EDGELM_MODEL_PATH, &o, &model) == EDGELM_OK);
  }
  ~Model() { edgelm_model_free(model); }
};

int AppendText(void* out, int32_t, const char* text, size_t bytes) {
  static_cast<std::string*>(out)->append(text, bytes);
  return 0;
}

std::string Greedy(edgelm_model* model, const char* prompt) {
  edgelm_session* s = nullptr;
  if (edgelm_session_create(model, nullptr, &s) != EDGELM_OK) return "create failed";
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 24;
  gen.temperature = 0.0f;
  std::string out;
  if (edgelm_session_append_text(s, prompt, 0) != EDGELM_OK || edgelm_session_generate(s, &gen, AppendText, &out) != EDGELM_OK)
    out = std::string("error: ") + edgelm_session_error(s);
  edgelm_session_free(s);
  return out;
}

TEST_CASE("concurrent sessions on one model give the same text as sequential ones") {
  Model m;
  const char* prompts[] = {"The jury said", "The city of", "In the morning", "He was"};
  std::vector<std::string> sequential;
  for (const char* p : prompts) sequential.push_back(Greedy(m.model, p));
  std::vector<std::string> parallel(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { parallel[i] = Greedy(m.model, prompts[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    INFO(prompts[i]);
    CHECK(parallel[i] == sequential[i]);
    CHECK(parallel[i].rfind("error", 0) != 0);
  }
}

struct CancelState {
  std::atomic<int> tokens{0};
};

int CountTokens(void* state, int32_t token, const char*, size_t) {
  if (token >= 0) static_cast<CancelState*>(state)->tokens.fetch_add(1);
  return 0;
}

TEST_CASE("cancel from another thread stops generation and leaves the session usable") {
  Model m;
  edgelm_session* s = nullptr;
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = 4096;
  REQUIRE(edgelm_session_create(m.model, &so, &s) == EDGELM_OK);
  REQUIRE(edgelm_session_append_text(s, "The jury said", 0) == EDGELM_OK);
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 4000;
  gen.ignore_stop = 1;
  CancelState state;
  std::thread canceller([&] {
    while (state.tokens.load() < 5) std::this_thread::yield();
    edgelm_session_cancel(s);
  });
  const edgelm_status st = edgelm_session_generate(s, &gen, CountTokens, &state);
  canceller.join();
  CHECK(st == EDGELM_CANCELLED);
  const size_t count = edgelm_session_token_count(s);
  CHECK(count >= 5);
  CHECK(count < 4000);
  gen.max_tokens = 3;
  CHECK(edgelm_session_generate(s, &gen, nullptr, nullptr) == EDGELM_OK);
  CHECK(edgelm_session_token_count(s) == count + 3);
  edgelm_session_free(s);
}

}  // namespace
