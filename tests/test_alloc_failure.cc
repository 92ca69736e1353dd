// Allocation failure at every C++ allocation of a model load and of a session's create / append /
// generate, through the C API: the N-th `operator new` of the calling thread throws std::bad_alloc.
// Each call must return EDGELM_OK or EDGELM_OUT_OF_MEMORY (with a message), free what it took (the
// ASan build's leak checker runs this test in CI), and leave the model and other sessions working:
// a session made before computes the same greedy tokens as before, and a normal load works after.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "edgelm/edgelm.h"

namespace {

// The countdown of the armed thread: 0 = disarmed; the allocation that brings it to 0 fails.
thread_local long t_countdown = 0;
thread_local long t_allocations = 0;  // allocations while armed, for sizing the sweeps

bool ShouldFail() {
  if (t_countdown <= 0) return false;
  ++t_allocations;
  return --t_countdown == 0;
}

void* Allocate(std::size_t size, std::size_t alignment) {
  if (ShouldFail()) return nullptr;
  if (size == 0) size = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(size);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

}  // namespace

void* operator new(std::size_t size) {
  if (void* p = Allocate(size, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  if (void* p = Allocate(size, static_cast<std::size_t>(align))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) { return operator new(size, align); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return Allocate(size, 0); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return Allocate(size, 0); }
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return Allocate(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  return Allocate(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

// Arms the calling thread to fail its `nth` allocation (0: count only) for the scope.
struct FailAt {
  explicit FailAt(long nth) {
    t_allocations = 0;
    t_countdown = nth > 0 ? nth : (1L << 60);
  }
  ~FailAt() { t_countdown = 0; }
};

// Every allocation, 1 .. total.
std::vector<long> Sweep(long total) {
  std::vector<long> nth;
  for (long n = 1; n <= total; ++n) nth.push_back(n);
  return nth;
}

edgelm_model_options SingleThreaded() {
  edgelm_model_options o;
  edgelm_model_options_init(&o);
  o.num_threads = 1;  // everything on the armed thread
  return o;
}

// Greedy continuation of `prompt` in a new session of `model`; "" and *status on failure.
std::string Continue(edgelm_model* model, const char* prompt, edgelm_status* status) {
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.num_threads = 1;
  so.context_length = 256;
  edgelm_session* session = nullptr;
  *status = edgelm_session_create(model, &so, &session);
  if (*status != EDGELM_OK) return "";
  std::string out;
  *status = edgelm_session_append_text(session, prompt, 0);
  if (*status == EDGELM_OK) {
    edgelm_generate_options g;
    edgelm_generate_options_init(&g);
    g.max_tokens = 4;
    g.temperature = 0.0f;
    g.ignore_stop = 1;
    *status = edgelm_session_generate(
        session, &g,
        [](void* user, int32_t, const char* text, size_t bytes) {
          static_cast<std::string*>(user)->append(text, bytes);
          return 0;
        },
        &out);
    if (*status != EDGELM_OK) {
      // The same session must still work once memory is back.
      t_countdown = 0;
      edgelm_status again = edgelm_session_generate(session, &g, nullptr, nullptr);
      if (again != EDGELM_OK) *status = EDGELM_INTERNAL;  // reported as a failure below
    }
  }
  edgelm_session_free(session);
  return out;
}

TEST_CASE("allocation failure in a model load gives out-of-memory and leaves nothing behind") {
  edgelm_model_options options = SingleThreaded();
  options.verify_weights = EDGELM_VERIFY_AT_LOAD;  // the weight checks' allocations too
  long total = 0;
  {
    FailAt count(0);
    edgelm_model* model = nullptr;
    REQUIRE(edgelm_model_load(EDGELM_MODEL_PATH, &options, &model) == EDGELM_OK);
    total = t_allocations;
    edgelm_model_free(model);
  }
  INFO("allocations in a load: " << total);
  REQUIRE(total > 10);
  int failed = 0;
  for (long nth : Sweep(total)) {
    edgelm_model* model = nullptr;
    edgelm_status status;
    {
      FailAt fail(nth);
      status = edgelm_model_load(EDGELM_MODEL_PATH, &options, &model);
    }
    INFO("allocation " << nth << " of " << total << ": " << edgelm_last_error());
    REQUIRE((status == EDGELM_OK || status == EDGELM_OUT_OF_MEMORY));
    if (status == EDGELM_OK) {
      edgelm_model_free(model);
    } else {
      CHECK(model == nullptr);
      ++failed;
    }
  }
  CHECK(failed > 0);
  edgelm_model* model = nullptr;
  CHECK(edgelm_model_load(EDGELM_MODEL_PATH, &options, &model) == EDGELM_OK);
  edgelm_model_free(model);
}

TEST_CASE("allocation failure in session create, append and generate spares the model and other sessions") {
  const edgelm_model_options options = SingleThreaded();
  edgelm_model* model = nullptr;
  REQUIRE(edgelm_model_load(EDGELM_MODEL_PATH, &options, &model) == EDGELM_OK);
  edgelm_status status;
  const std::string expected = Continue(model, "The jury said", &status);
  REQUIRE(status == EDGELM_OK);
  REQUIRE(!expected.empty());
  long total = 0;
  {
    FailAt count(0);
    Continue(model, "The jury said", &status);
    total = t_allocations;
  }
  INFO("allocations in create + append + generate: " << total);
  REQUIRE(total > 10);
  int failed = 0;
  for (long nth : Sweep(total)) {
    {
      FailAt fail(nth);
      Continue(model, "The jury said", &status);
    }
    INFO("allocation " << nth << " of " << total << ": " << edgelm_last_error());
    REQUIRE((status == EDGELM_OK || status == EDGELM_OUT_OF_MEMORY));
    failed += status != EDGELM_OK;
    CHECK(Continue(model, "The jury said", &status) == expected);
    CHECK(status == EDGELM_OK);
  }
  CHECK(failed > 0);
  edgelm_model_free(model);
}

}  // namespace
