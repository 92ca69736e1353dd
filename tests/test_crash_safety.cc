// Crash safety: a process killed (SIGKILL) at a random point while it saves a session state or writes a
// model file leaves the previous file intact or the new one complete — never a torn file at the final
// path. A forked child writes in a loop; the parent kills it after a random delay and checks the file,
// EDGELM_KILL_ITERATIONS times (default 40 per writer; EDGELM_KILL_SEED varies the delays).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <random>

#include "convert/converter.h"
#include "support/test_models.h"

namespace edgelm {
namespace {

int Iterations() {
  const char* env = std::getenv("EDGELM_KILL_ITERATIONS");
  return env && std::atoi(env) > 0 ? std::atoi(env) : 40;
}

// The kill delays' seed: EDGELM_KILL_SEED for long runs with new delays, else fixed per test.
uint32_t Seed(uint32_t fixed) {
  const char* env = std::getenv("EDGELM_KILL_SEED");
  return env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) * 2 + fixed : fixed;
}

// Forks a child that runs write() forever, SIGKILLs it after a random delay below max_delay_us, and
// calls check() once it is gone; `iterations` times. The child never returns into the test runner.
template <class Write, class Check>
void KillWhileWriting(int iterations, unsigned max_delay_us, uint32_t seed, Write write, Check check) {
  std::mt19937 rng(seed);
  for (int i = 0; i < iterations; ++i) {
    const unsigned delay = rng() % max_delay_us;
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      for (;;)
        if (!write()) _exit(3);  // a write that fails on its own: the parent sees exit status 3
    }
    usleep(delay);
    REQUIRE(kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    INFO("iteration " << i << ", killed after " << delay << " us (seed " << seed << ")");
    REQUIRE(WIFSIGNALED(status));
    REQUIRE(WTERMSIG(status) == SIGKILL);
    check();
  }
}

TEST_CASE("a session state file survives SIGKILL during its save: the old state or the new one") {
  Status s;
  const std::unique_ptr<LoadedModel> model =
      testing::LoadModel(std::string(EDGELM_SOURCE_DIR) + "/models/brown-tiny-mobile.edgelm", &s, /*num_threads=*/1);
  REQUIRE(s.ok());
  // Two states of different lengths, each with its KV cache filled.
  std::unique_ptr<Session> short_session, long_session;
  REQUIRE(Session::Create(model->model(), nullptr, nullptr, SessionOptions{}, &short_session).ok());
  REQUIRE(Session::Create(model->model(), nullptr, nullptr, SessionOptions{}, &long_session).ok());
  std::vector<int> tokens;
  for (int i = 0; i < 96; ++i) tokens.push_back(2 + (i * 37) % 500);
  REQUIRE(short_session->AppendTokens(tokens.data(), 5).ok());
  REQUIRE(long_session->AppendTokens(tokens.data(), tokens.size()).ok());
  std::vector<float> logits(static_cast<size_t>(model->config().vocab_size));
  REQUIRE(short_session->EvaluateLast(logits.data()).ok());
  REQUIRE(long_session->EvaluateLast(logits.data()).ok());

  const std::string path = testing::TempDir() + "/killed.session";
  REQUIRE(short_session->SaveFile(path).ok());
  KillWhileWriting(
      Iterations(), 20000, Seed(1),
      [&] { return long_session->SaveFile(path).ok() && short_session->SaveFile(path).ok(); },
      [&] {
        std::unique_ptr<Session> restored;
        REQUIRE(Session::Create(model->model(), nullptr, nullptr, SessionOptions{}, &restored).ok());
        const Status r = restored->RestoreFile(path);
        INFO(r.message());
        REQUIRE(r.ok());
        const size_t n = restored->tokens().size();
        CHECK((n == 5 || n == tokens.size()));
      });
}

TEST_CASE("a model file survives SIGKILL while the converter rewrites it: the old file or the new one") {
  ConvertOptions options;
  options.input = testing::SharedPath("fixtures/gemma4-tiny-e2b");
  options.format = "bf16";
  options.output = testing::TempDir() + "/killed.edgelm";
  REQUIRE(Convert(options, nullptr).ok());
  KillWhileWriting(
      Iterations(), 150000, Seed(2), [&] { return Convert(options, nullptr).ok(); },
      [&] {
        std::unique_ptr<ModelFile> file;
        const Status opened = ModelFile::Open(options.output, &file);
        INFO(opened.message());
        REQUIRE(opened.ok());
        const Status verified = file->VerifyAllTensors(1);
        INFO(verified.message());
        REQUIRE(verified.ok());
      });
}

}  // namespace
}  // namespace edgelm
