// edgelm-soak: a seeded random soak of the C API (issue 18, item 2).
//
// M threads share one model; each owns N sessions and runs a deterministic random sequence of C API
// calls on them (appends, generate with random options, cancels from another thread, fork, state
// saved to files and memory, rewind, reset, evaluate, score, misuse with wrong handles and bad
// arguments), checking invariants after every step against a shadow model of each session: its exact
// token history (so the token count, the pending tokens and every overflow policy are predicted),
// its chat flags, and the logits, which depend on the history only (a fresh session fed the shadow's
// history must give bit-identical logits). Uses include/edgelm/edgelm.h only.
//
//   edgelm-soak [--seed S] [--seconds T | --steps N] [--threads M] [--sessions N] [--model PATH]
//               [--thread-index I] [--trace] [--paranoid] [--dump-at K] [--hang-seconds H]
//
// --trace prints every step, --paranoid checks every session against a fresh one after every step
// (on forks, so the sequence stays the same: for bisecting), --dump-at K writes each session's state
// (edgelm_session_save_state) and token history after step K to $TMPDIR/edgelm-soak-dump-*.
// --steps counts steps per thread. A thread's sequence depends only on the seed, its index and
// --sessions, so `--thread-index I --steps K` replays thread I's first K steps alone; with
// --threads 1 a run is fully deterministic (compare the printed digests). Cancels that race with a
// generate on purpose are made on throwaway forks and left out of the digest.
// A violated invariant prints "SOAK FAILURE seed=S thread=T step=K: <what>" and the replay
// commands, and exits 1.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "edgelm/edgelm.h"

#ifndef EDGELM_MODEL_PATH
#define EDGELM_MODEL_PATH "models/brown-tiny-mobile.edgelm"
#endif

// Using a freed handle is undefined behaviour that the library "usually" rejects (poisoned tag);
// AddressSanitizer and ThreadSanitizer rightly report it, so that misuse is left out of their builds.
#if defined(__SANITIZE_ADDRESS__)
#define SOAK_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define SOAK_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SOAK_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define SOAK_TSAN 1
#endif
#endif
#if defined(SOAK_ASAN) || defined(SOAK_TSAN)
#define SOAK_SANITIZED 1
#endif
// ThreadSanitizer cannot see pthreadpool's synchronization (the library is not instrumented; see
// docs/security.md), so under TSan every pool has one thread and work stays on the calling thread.
// The same random numbers are drawn, so a seed's sequence is the same in every build.
#ifdef SOAK_TSAN
constexpr bool kOneThreadPools = true;
#else
constexpr bool kOneThreadPools = false;
#endif
#if defined(SOAK_SANITIZED) && __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>  // __sanitizer_set_death_callback
#define SOAK_DEATH_CALLBACK 1
#endif

namespace {

// ---- Options and global state ---------------------------------------------------------------------

struct Config {
  uint64_t seed = 1;
  double seconds = 0;
  long steps = 0;  // per thread
  int threads = 2;
  int sessions = 2;
  int thread_index = -1;  // >= 0: run that thread's sequence alone
  std::string model = EDGELM_MODEL_PATH;
  bool trace = false;
  bool paranoid = false;  // the replay check on every session after every step (slow; for bisecting)
  long dump_at = -1;      // after this step, write every session's state and history to files
  double hang_seconds = 300;
};

Config g_config;
std::string g_argv0 = "edgelm-soak";
std::mutex g_print_mutex;

// Per-thread position, read by the watchdog and the crash handler.
struct Progress {
  std::atomic<long> step{0};
  std::atomic<uint64_t> ticks{0};  // advanced by every step and inside long steps
  std::atomic<int> index{-1};
  std::atomic<const char*> kind{""};
};
Progress* g_progress = nullptr;  // never freed: a sanitizer's death callback may read it during exit
int g_n_progress = 0;

// ---- Small helpers -------------------------------------------------------------------------------

// splitmix64's finalizer: a well-mixed 64-bit hash.
uint64_t Hash64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// splitmix64: the per-thread sequence. Its state advances by a constant, so the start is hashed:
// seeds whose starts differ by a multiple of that constant would give shifted copies of one stream.
struct Rng {
  uint64_t state;
  Rng(uint64_t seed, uint64_t stream) : state(Hash64(Hash64(seed) ^ Hash64(stream + 0x5851f42d4c957f2dull))) {}
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  int Int(int lo, int hi) { return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1)); }  // [lo, hi]
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  float Float(float lo, float hi) { return lo + static_cast<float>(Uniform()) * (hi - lo); }
  bool Chance(double p) { return Uniform() < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Next() % v.size()]; }
};

uint64_t Fnv(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

bool ValidUtf8(const char* s, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) { ++i; continue; }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

const char* StatusName(edgelm_status s) { return edgelm_status_string(s); }

std::string Fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

std::string TokensText(const std::vector<int32_t>& t, size_t max = 24) {
  std::string s = "[";
  for (size_t i = 0; i < t.size() && i < max; ++i) s += (i ? "," : "") + std::to_string(t[i]);
  if (t.size() > max) s += ",...(" + std::to_string(t.size()) + ")";
  return s + "]";
}

// ---- What the driver knows about the model (through the C API) -----------------------------------

struct Facts {
  int vocab = 0, bos = -1, eos = -1, turn_start = -1, turn_end = -1, max_context = 0;
  std::vector<int32_t> stops;
  bool chat = false;
  std::vector<int32_t> newline;           // "\n"
  std::vector<int32_t> generation_prompt; // <|turn> "model\n"
  // Sliding-window layers keep a ring of window + chunk - 1 positions when that is less than the
  // context; then a rewind to before length - chunk re-prefills from the start. Learned by probing.
  int window = 0;
  bool Ring(int context, int chunk) const { return window > 0 && window + chunk - 1 < context; }
  bool IsStop(int t) const { return std::find(stops.begin(), stops.end(), t) != stops.end(); }
  std::vector<bool> control;  // by token id: the stream leaves these out (LearnFacts)
  bool IsControl(int t) const { return t >= 0 && t < static_cast<int>(control.size()) && control[static_cast<size_t>(t)]; }
};

edgelm_status Tokenize(const edgelm_model* m, const std::string& text, bool add_bos, bool special,
                       std::vector<int32_t>* out) {
  size_t n = 0;
  edgelm_status st = edgelm_tokenize(m, text.data(), text.size(), add_bos, special, nullptr, 0, &n);
  if (st != EDGELM_OK && st != EDGELM_BUFFER_TOO_SMALL) return st;
  out->assign(n, -7);
  size_t n2 = 0;
  st = edgelm_tokenize(m, text.data(), text.size(), add_bos, special, out->data(), out->size(), &n2);
  if (st == EDGELM_OK && n2 != n) return EDGELM_INTERNAL;
  return st;
}

// ---- The shadow of a session ---------------------------------------------------------------------

struct Shadow {
  std::vector<int32_t> tokens;  // the whole history, as the library must hold it
  size_t kv = 0;                // tokens processed (the rest are pending)
  size_t written = 0;           // the furthest the cache has processed since it was last emptied
  bool kv_known = true;         // false after a cancel that raced (the prefill may stop at any chunk)
  bool valid = false;           // the logits after the last processed token are held
  bool awaiting = false;        // ends with a closed non-model turn: generate adds the model's prompt
  bool turn_open = false;       // a model turn was opened and not closed
  edgelm_session_options opt{};
  int chunk() const { return std::min(opt.prefill_chunk, opt.context_length); }
  void SetKv(size_t n) {
    kv = n;
    written = n == 0 ? 0 : std::max(written, n);
  }
  // A state restored: the saving cache may have been cut back by up to chunk - 1 positions.
  void Restored() {
    written = kv > 0 ? kv + static_cast<size_t>(chunk()) - 1 : 0;
    valid = false;
  }
  size_t size() const { return tokens.size(); }
  void Reset() {
    tokens.clear();
    kv = written = 0;
    kv_known = true;
    valid = false;
    awaiting = turn_open = false;
  }
};

// The overflow policies: true when `extra` more tokens fit (after dropping what the policy drops).
bool MakeRoom(Shadow& sh, size_t extra, const Facts& f) {
  const size_t ctx = static_cast<size_t>(sh.opt.context_length);
  if (sh.size() + extra <= ctx) return true;
  if (sh.opt.overflow == EDGELM_OVERFLOW_ERROR || extra > ctx / 2) return false;
  const size_t target = ctx - extra - ctx / 4;
  std::vector<int32_t> kept;
  if (sh.opt.overflow == EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT) {
    const size_t sink = std::min<size_t>(static_cast<size_t>(std::max(0, sh.opt.sink_tokens)), target);
    kept.assign(sh.tokens.begin(), sh.tokens.begin() + static_cast<ptrdiff_t>(sink));
    kept.insert(kept.end(), sh.tokens.end() - static_cast<ptrdiff_t>(target - sink), sh.tokens.end());
  } else {
    std::vector<size_t> starts;
    for (size_t i = 0; i < sh.size(); ++i)
      if (sh.tokens[i] == f.turn_start) starts.push_back(i);
    if (starts.size() < 3) return false;
    const size_t keep_prefix = starts[1];
    size_t cut = 2;
    while (cut < starts.size() && keep_prefix + (sh.size() - starts[cut]) > target) ++cut;
    if (cut == starts.size()) return false;
    kept.assign(sh.tokens.begin(), sh.tokens.begin() + static_cast<ptrdiff_t>(keep_prefix));
    kept.insert(kept.end(), sh.tokens.begin() + static_cast<ptrdiff_t>(starts[cut]), sh.tokens.end());
  }
  sh.tokens = std::move(kept);
  sh.SetKv(0);
  sh.kv_known = true;
  sh.valid = false;
  return sh.size() + extra <= ctx;
}

// Prefill: every pending token processed (the last one again if its logits are not held).
void ShadowPrefill(Shadow& sh) {
  sh.SetKv(sh.size());
  sh.kv_known = true;
  sh.valid = true;
}

void ShadowRewind(Shadow& sh, size_t n, const Facts& f) {
  if (n == sh.tokens.size()) return;  // nothing dropped: nothing changes
  sh.tokens.resize(n);
  if (sh.kv_known && n < sh.kv) {
    const bool ring = f.Ring(sh.opt.context_length, sh.chunk());
    const auto floor_after = [&](size_t written) {
      return ring ? static_cast<size_t>(std::max<long>(0, static_cast<long>(written) - sh.chunk() + 1)) : 0;
    };
    const size_t floor = floor_after(sh.written);
    // A speculating session writes its drafts past the history, which raises the cache's floor by up
    // to a draft's length; how long the drafts were depends on timing (DraftController measures the
    // costs), so between the two floors either outcome is right.
    const size_t draft_floor =
        sh.opt.speculation == EDGELM_SPECULATION_NONE ? floor : floor_after(sh.written + sh.opt.max_draft_tokens + 1);
    if (n >= floor && n < draft_floor) sh.kv_known = false;
    else sh.SetKv(n >= floor ? n : 0);
    sh.valid = false;
  } else if (!sh.kv_known) {
    sh.valid = false;
  }
  sh.awaiting = sh.turn_open = false;
}

std::string Trim(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

std::string WithoutReasoning(const std::string& content) {
  std::string kept;
  for (size_t pos = 0;;) {
    const size_t start = content.find("<|channel>", pos);
    const size_t end = start == std::string::npos ? start : content.find("<channel|>", start);
    if (end == std::string::npos) return kept + content.substr(pos);
    kept += content.substr(pos, start - pos);
    pos = end + std::strlen("<channel|>");
  }
}

// The Gemma 4 chat template (as published with the model): the ids edgelm_session_append_message must
// add, or the status it must fail with.
edgelm_status TemplateIds(const edgelm_model* m, const Facts& f, const Shadow& sh, const std::string& role,
                          const std::string& content, std::vector<int32_t>* ids) {
  if (!f.chat) return EDGELM_UNSUPPORTED;
  std::string name;
  if (role == "system" || role == "developer") name = "system";
  else if (role == "user") name = "user";
  else if (role == "assistant" || role == "model") name = "model";
  else return EDGELM_INVALID_ARGUMENT;  // "tool" too: a tool result needs an open tool call, never here
  ids->clear();
  if (sh.tokens.empty()) ids->push_back(f.bos);
  else if (sh.turn_open) {
    ids->push_back(f.turn_end);
    ids->insert(ids->end(), f.newline.begin(), f.newline.end());
  }
  std::vector<int32_t> text;
  const edgelm_status st =
      Tokenize(m, name + "\n" + Trim(name == "model" ? WithoutReasoning(content) : content), false, false, &text);
  if (st != EDGELM_OK) return st;
  ids->push_back(f.turn_start);
  ids->insert(ids->end(), text.begin(), text.end());
  ids->push_back(f.turn_end);
  ids->insert(ids->end(), f.newline.begin(), f.newline.end());
  return EDGELM_OK;
}

// ---- The canceller: a thread that calls edgelm_session_cancel when asked -------------------------

class Canceller {
 public:
  Canceller() : thread_([this] { Run(); }) {}
  ~Canceller() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // Asks for edgelm_session_cancel(s) after `delay_us` microseconds.
  void Request(edgelm_session* s, int delay_us) {
    std::lock_guard<std::mutex> lock(mu_);
    target_ = s;
    delay_us_ = delay_us;
    pending_ = true;
    done_ = false;
    cv_.notify_all();
  }
  // Waits until the requested cancel was made.
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return done_ || !pending_; });
  }
  long cancels() const { return cancels_.load(); }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return quit_ || (pending_ && !done_); });
      if (quit_) return;
      edgelm_session* s = target_;
      const int delay = delay_us_;
      lock.unlock();
      if (delay > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay));
      edgelm_session_cancel(s);
      cancels_.fetch_add(1);
      lock.lock();
      done_ = true;
      pending_ = false;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  edgelm_session* target_ = nullptr;
  int delay_us_ = 0;
  bool pending_ = false, done_ = false, quit_ = false;
  std::atomic<long> cancels_{0};
  std::thread thread_;
};

// ---- Log callbacks (process-wide; thread 0 swaps them now and then) -------------------------------

std::atomic<long> g_log_messages[4];
std::atomic<long> g_log_bad{0};
void OnLog(void* user_data, edgelm_log_level level, const char* message) {
  if (!message || level < EDGELM_LOG_DEBUG || level > EDGELM_LOG_ERROR || user_data != &g_log_messages) {
    g_log_bad.fetch_add(1);
    return;
  }
  g_log_messages[level].fetch_add(1, std::memory_order_relaxed);
}
void OnLogQuiet(void* user_data, edgelm_log_level level, const char* message) { OnLog(user_data, level, message); }

// ---- One generate call and its observation -------------------------------------------------------

// Fields of a caller's generate options, as the library reads them (an older struct_size leaves the
// later fields at their defaults).
template <typename T>
bool Covers(const edgelm_generate_options& o, size_t offset) {
  return o.struct_size >= offset + sizeof(T);
}
std::vector<std::string> StopStringsOf(const edgelm_generate_options& o) {
  std::vector<std::string> stops;
  if (Covers<int32_t>(o, offsetof(edgelm_generate_options, n_stop_strings)))
    for (int32_t i = 0; i < o.n_stop_strings; ++i) stops.emplace_back(o.stop_strings[i]);
  return stops;
}
std::vector<int32_t> BannedOf(const edgelm_generate_options& o) {
  std::vector<int32_t> banned;
  if (Covers<int32_t>(o, offsetof(edgelm_generate_options, n_logit_bias)))
    for (int32_t i = 0; i < o.n_logit_bias; ++i)
      if (o.logit_bias_values[i] == -INFINITY) banned.push_back(o.logit_bias_tokens[i]);
  return banned;
}

struct GenSpec {
  edgelm_generate_options opt{};
  int stop_at = 0;         // the callback returns nonzero at this token (1-based); 0 = never
  int cancel_at = 0;       // the callback has the canceller cancel, and waits for it, at this token
  bool cancel_before = false;  // the canceller cancels (and is waited for) before the call
  bool racy = false;       // the canceller cancels after a random delay, racing with the call
};

struct GenCall {
  std::vector<int32_t> tokens;  // generated (callback token >= 0)
  std::string text;             // streamed text, the final U+FFFD included
  int flush_calls = 0;          // token -1
  bool stop_strings = false;    // the final -1 call may give back held text, not only U+FFFD
  int stop_string_end = 0;      // the token (1-based) whose text completed a stop string; 0 = none
  bool held_text_returned = false;  // the final -1 call gave back held text (not only U+FFFD)
  std::string problem;          // a callback-level invariant that failed
  const GenSpec* spec = nullptr;
  Canceller* canceller = nullptr;
  edgelm_session* session = nullptr;
  const Facts* facts = nullptr;
};

int OnToken(void* user_data, int32_t token, const char* text, size_t bytes) {
  auto* c = static_cast<GenCall*>(user_data);
  if (c->flush_calls > 0 && c->problem.empty()) c->problem = "a callback after the final token -1";
  if (bytes > 0 && !text && c->problem.empty()) c->problem = "NULL text with a length";
  if (text && !ValidUtf8(text, bytes) && c->problem.empty()) c->problem = "callback text is not whole UTF-8 characters";
  if (text) c->text.append(text, bytes);
  if (token < 0) {
    ++c->flush_calls;
    if (token != -1 && c->problem.empty()) c->problem = Fmt("callback token %d", token);
    if (c->stop_strings ? bytes == 0
                        : (bytes == 0 || bytes % 3 != 0 ||
                           std::string(text, bytes).find_first_not_of("\xEF\xBF\xBD") != std::string::npos)) {
      if (c->problem.empty()) c->problem = "the final token -1 carries no text, or other than U+FFFD without stop strings";
    }
    if (text && std::string(text, bytes).find_first_not_of("\xEF\xBF\xBD") != std::string::npos) c->held_text_returned = true;
    return 0;
  }
  if (token >= c->facts->vocab && c->problem.empty()) c->problem = Fmt("generated token %d outside the vocabulary", token);
  if (c->facts->IsControl(token) && bytes != 0 && c->problem.empty())
    c->problem = Fmt("control token %d arrived with text", token);
  c->tokens.push_back(token);
  const int n = static_cast<int>(c->tokens.size());
  if (c->spec->cancel_at == n) {
    c->canceller->Request(c->session, 0);
    c->canceller->Wait();
  }
  return c->spec->stop_at == n ? 1 : 0;
}

// ---- A thread of the soak ------------------------------------------------------------------------

struct Slot {
  edgelm_session* s = nullptr;
  Shadow sh;
};

enum Kind {
  kAppendText, kAppendTokens, kAppendMessage, kGenerate, kCancelSync, kCancelRacy, kFork, kSaveMemory, kSaveFile,
  kRewind, kReset, kEvaluate, kScore, kReleaseMemory, kStats, kTokenize, kMisuse, kRecreate, kReplay, kKinds
};
const char* const kKindNames[kKinds] = {"append_text", "append_tokens", "append_message", "generate", "cancel_sync",
                                        "cancel_racy", "fork", "save_memory", "save_file", "rewind", "reset",
                                        "evaluate", "score", "release_memory", "stats", "tokenize", "misuse",
                                        "recreate", "replay"};
const int kKindWeights[kKinds] = {14, 8, 12, 16, 5, 3, 6, 4, 3, 6, 2, 5, 5, 1, 2, 3, 8, 2, 4};

class Worker {
 public:
  Worker(int index, edgelm_model* model, const Facts& facts, Progress* progress)
      : index_(index), rng_(g_config.seed, static_cast<uint64_t>(index)),
        model_(model), f_(facts), progress_(progress) {
    const char* tmp = std::getenv("TMPDIR");
    state_path_ = std::string(tmp && *tmp ? tmp : "/tmp") + "/edgelm-soak-" + std::to_string(getpid()) + "-" +
                  std::to_string(index) + ".state";
  }
  ~Worker() {
    for (Slot& slot : slots_) edgelm_session_free(slot.s);
    std::remove(state_path_.c_str());
    std::remove((state_path_ + ".bad").c_str());
  }

  void Run(long max_steps, std::chrono::steady_clock::time_point deadline, bool timed) {
    progress_->index.store(index_);
    slots_.resize(static_cast<size_t>(g_config.sessions));
    for (Slot& slot : slots_) CreateSlot(slot, RandomSessionOptions());
    for (step_ = 0; timed ? std::chrono::steady_clock::now() < deadline : step_ < max_steps; ++step_) {
      progress_->step.store(step_);
      Tick();
      Step();
      // Every session's count against its shadow, after every step.
      for (size_t i = 0; i < slots_.size(); ++i) CheckCount(slots_[i], Fmt("slot %zu after %s", i, kind_));
      if (step_ == g_config.dump_at) Dump();
      if (g_config.paranoid)
        for (size_t i = 0; i < slots_.size(); ++i) Replay(slots_[i], Fmt("paranoid replay of slot %zu after %s", i, kind_).c_str(), nullptr, true);
    }
    progress_->kind.store("done");
  }

  long steps() const { return step_; }
  int index() const { return index_; }
  uint64_t digest() const { return digest_; }
  const std::map<std::string, uint64_t>& counts() const { return counts_; }

 private:
  // -- bookkeeping --
  [[noreturn]] void Fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(g_print_mutex);
    std::fprintf(stdout, "SOAK FAILURE seed=%" PRIu64 " thread=%d step=%ld: %s\n", g_config.seed, index_, step_,
                 what.c_str());
    std::fprintf(stdout, "  (last error on this thread: \"%s\")\n", edgelm_last_error());
    std::fprintf(stdout, "replay this thread alone: %s --seed %" PRIu64 " --sessions %d --thread-index %d --steps %ld%s\n",
                 g_argv0.c_str(), g_config.seed, g_config.sessions, index_, step_ + 1,
                 g_config.model == EDGELM_MODEL_PATH ? "" : (" --model " + g_config.model).c_str());
    if (g_config.thread_index < 0 && g_config.threads > 1)
      std::fprintf(stdout, "replay with every thread:  %s --seed %" PRIu64 " --sessions %d --threads %d --steps %ld\n",
                   g_argv0.c_str(), g_config.seed, g_config.sessions, g_config.threads, step_ + 1);
    std::fflush(stdout);
    std::_Exit(1);
  }
  void Expect(bool ok, const std::string& what) {
    if (!ok) Fail(what);
  }
  void ExpectStatus(edgelm_status got, edgelm_status want, const char* call) {
    if (got != want) Fail(Fmt("%s returned %s, expected %s (\"%s\")", call, StatusName(got), StatusName(want), edgelm_last_error()));
  }
  // A failing call on a valid session: its message is the session's and the thread's.
  void ExpectFailure(edgelm_status got, edgelm_status want, const char* call, const edgelm_session* s) {
    ExpectStatus(got, want, call);
    const char* last = edgelm_last_error();
    Expect(last && last[0], Fmt("%s failed with an empty edgelm_last_error()", call));
    if (s) Expect(std::strcmp(edgelm_session_error(s), last) == 0,
                  Fmt("%s: edgelm_session_error \"%s\" differs from edgelm_last_error \"%s\"", call, edgelm_session_error(s), last));
  }
  void Count(const char* what) { ++counts_[what]; }
  void Mix(uint64_t v) { digest_ = Fnv(&v, sizeof v, digest_); }
  void MixTokens(const std::vector<int32_t>& t) {
    Mix(t.size());
    digest_ = Fnv(t.data(), t.size() * sizeof(int32_t), digest_);
  }
  void Tick() { progress_->ticks.fetch_add(1, std::memory_order_relaxed); }
  void Trace(const std::string& line) {
    if (!g_config.trace) return;
    std::lock_guard<std::mutex> lock(g_print_mutex);
    std::fprintf(stderr, "[t%d %ld] %s\n", index_, step_, line.c_str());
  }

  void CheckCount(const Slot& slot, const std::string& where) {
    const size_t got = edgelm_session_token_count(slot.s);
    if (got != slot.sh.size())
      Fail(Fmt("%s: token count %zu, the shadow expects %zu (history %s)", where.c_str(), got, slot.sh.size(),
               TokensText(slot.sh.tokens).c_str()));
  }
  // The pending rows evaluate(all_positions = 1) reports must be the shadow's.
  void CheckPending(Slot& slot, const std::string& where) {
    if (!slot.sh.kv_known) return;
    size_t n = 12345;
    const edgelm_status st = edgelm_session_evaluate(slot.s, 1, nullptr, 0, &n);
    const size_t rows = slot.sh.size() - slot.sh.kv;
    Expect(st == (rows ? EDGELM_BUFFER_TOO_SMALL : EDGELM_OK) && n == rows * static_cast<size_t>(f_.vocab),
           Fmt("%s: evaluate size query gave %s and %zu floats, the shadow expects %zu pending rows", where.c_str(),
               StatusName(st), n, rows));
  }

  edgelm_session_options RandomSessionOptions() {
    edgelm_session_options o;
    edgelm_session_options_init(&o);
    const double r = rng_.Uniform();
    o.context_length = r < 0.4 ? rng_.Int(12, 96) : r < 0.92 ? rng_.Int(128, 512) : rng_.Int(600, 1024);
    o.context_length = std::min(o.context_length, f_.max_context);
    static const std::vector<int> chunks = {1, 2, 3, 5, 8, 16, 32, 64, 128, 256};
    o.prefill_chunk = rng_.Pick(chunks);
    const int kv = rng_.Int(0, 9);
    o.kv_type = kv < 4 ? EDGELM_KV_INT8 : kv < 6 ? EDGELM_KV_INT4 : kv < 8 ? EDGELM_KV_BF16 : EDGELM_KV_F32;
    o.overflow = rng_.Int(0, 2);
    o.sink_tokens = rng_.Int(0, 8);
    o.num_threads = rng_.Int(1, 2);
    if (kOneThreadPools) o.num_threads = 1;
    o.share_model_threads = rng_.Chance(0.15);
    // Speculation must not change anything the shadow expects: prompt lookup, or the model drafting for itself.
    const double speculate = rng_.Uniform();
    o.speculation = speculate < 0.25 ? EDGELM_SPECULATION_PROMPT_LOOKUP
                    : speculate < 0.4 ? EDGELM_SPECULATION_DRAFT_MODEL : EDGELM_SPECULATION_NONE;
    o.draft_model = o.speculation == EDGELM_SPECULATION_DRAFT_MODEL ? model_ : nullptr;
    o.max_draft_tokens = rng_.Int(1, 16);
    return o;
  }

  edgelm_session* NewSession(const edgelm_session_options& o, edgelm_model* model = nullptr) {
    edgelm_session* s = reinterpret_cast<edgelm_session*>(this);  // must be overwritten
    const edgelm_status st = edgelm_session_create(model ? model : model_, &o, &s);
    if (st != EDGELM_OK) Fail(Fmt("edgelm_session_create(context %d, chunk %d, kv %d) returned %s: %s", o.context_length,
                                  o.prefill_chunk, o.kv_type, StatusName(st), edgelm_last_error()));
    Expect(s != nullptr && edgelm_session_token_count(s) == 0, "a new session is not empty");
    return s;
  }
  void CreateSlot(Slot& slot, const edgelm_session_options& o) {
    edgelm_session_free(slot.s);
    slot.s = NewSession(o);
    slot.sh = Shadow();
    slot.sh.opt = o;
  }

  std::string RandomText(bool for_message) {
    static const std::vector<std::string> words = {
        "the", "jury", "said", "city", "of", "Atlanta", "in", "the", "morning", "he", "was", "a", "very", "good",
        "place", "for", "people", "who", "lived", "there", "and", "worked", "election", "county", "Fulton", "report",
        "that", "it", "had", "been", "over-all", "charge", "praise", "thanks", "Mr.", "Mrs.", "1961", "42", "3.14"};
    static const std::vector<std::string> extras = {
        ",", ".", "!", "?", ";", ":", "\"", "'", "(", ")", " ", "  ", "\t", "\n", "é", "ñ", "über", "Straße", "日本語",
        "Ω", "→", "😀", "中", "ça", "naïve", "<|turn>", "<turn|>", "<bos>", "<eos>", "<|channel>x<channel|>", "<|channel>"};
    std::string text;
    const int n = rng_.Int(0, 12);
    if (!for_message && rng_.Chance(0.3)) text += " ";
    for (int i = 0; i < n; ++i) {
      if (i && rng_.Chance(0.85)) text += " ";
      text += rng_.Chance(0.8) ? rng_.Pick(words) : rng_.Pick(extras);
    }
    if (for_message && rng_.Chance(0.2)) text = " \n " + text + "\t\n";
    return text;
  }
  std::string InvalidUtf8(std::string text) {
    static const std::vector<std::string> bad = {"a\x80" "b", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "x\xFFy", "ok \xE2\x82"};
    const std::string& b = rng_.Pick(bad);
    const size_t at = text.empty() ? 0 : static_cast<size_t>(rng_.Int(0, static_cast<int>(text.size())));
    // Keep the insertion between characters: move back to a character start.
    size_t pos = at;
    while (pos > 0 && pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) --pos;
    text.insert(pos, b);
    return text;
  }

  edgelm_generate_options RandomGenerateOptions(bool greedy) {
    edgelm_generate_options g;
    edgelm_generate_options_init(&g);
    g.max_tokens = rng_.Int(0, 12);
    g.ignore_stop = rng_.Chance(0.3);
    g.temperature = greedy || rng_.Chance(0.4) ? 0.0f : rng_.Float(0.2f, 1.5f);
    g.top_k = rng_.Chance(0.5) ? 0 : rng_.Int(1, 40);
    g.top_p = rng_.Chance(0.5) ? 1.0f : rng_.Float(0.3f, 1.0f);
    g.min_p = rng_.Chance(0.7) ? 0.0f : rng_.Float(0.0f, 0.3f);
    g.repetition_penalty = rng_.Chance(0.7) ? 1.0f : rng_.Float(1.0f, 1.5f);
    g.presence_penalty = rng_.Chance(0.8) ? 0.0f : rng_.Float(-0.5f, 1.0f);
    g.penalty_last_n = rng_.Int(0, 64);
    g.seed = rng_.Next();
    if (rng_.Chance(0.25)) {  // stop strings, kept alive for the step (and a few after)
      static const std::vector<std::string> candidates = {"the", " of", ".", ",", "e", "and", "s ", "Mr.", "zzq", "\n", "ing", "a"};
      GenExtras& x = NewExtras();
      const int n = rng_.Int(1, 3);
      for (int i = 0; i < n; ++i) x.stops.push_back(rng_.Pick(candidates));
      for (const std::string& stop : x.stops) x.stop_ptrs.push_back(stop.c_str());
      g.stop_strings = x.stop_ptrs.data();
      g.n_stop_strings = n;
    }
    if (rng_.Chance(0.25)) {  // logit bias: bans (-inf), pushes and pulls
      GenExtras& x = NewExtras();
      const int n = rng_.Int(1, 8);
      for (int i = 0; i < n; ++i) {
        x.bias_tokens.push_back(rng_.Chance(0.1) ? rng_.Pick(f_.stops) : rng_.Int(0, f_.vocab - 1));
        x.bias_values.push_back(rng_.Chance(0.4) ? -INFINITY : rng_.Float(-8.0f, 4.0f));
      }
      g.logit_bias_tokens = x.bias_tokens.data();
      g.logit_bias_values = x.bias_values.data();
      g.n_logit_bias = n;
    }
    if (rng_.Chance(0.15)) {  // a caller compiled against an older, shorter struct
      static const std::vector<size_t> sizes = {
          offsetof(edgelm_generate_options, top_k), offsetof(edgelm_generate_options, top_p),
          offsetof(edgelm_generate_options, min_p), offsetof(edgelm_generate_options, repetition_penalty),
          offsetof(edgelm_generate_options, presence_penalty), offsetof(edgelm_generate_options, penalty_last_n),
          offsetof(edgelm_generate_options, seed), offsetof(edgelm_generate_options, stop_strings),
          offsetof(edgelm_generate_options, logit_bias_tokens)};
      g.struct_size = static_cast<uint32_t>(rng_.Pick(sizes));
    }
    return g;
  }

  // Runs one generate on `slot` and checks the outcome against the shadow (updated to the result).
  // Returns the call (tokens, text) and its status.
  edgelm_status Generate(Slot& slot, const GenSpec& spec, GenCall* call, const char* what) {
    call->spec = &spec;
    call->canceller = &canceller_;
    call->session = slot.s;
    call->facts = &f_;
    const std::vector<std::string> stops = StopStringsOf(spec.opt);
    call->stop_strings = !stops.empty();
    Tick();
    if (spec.cancel_before) {
      canceller_.Request(slot.s, 0);
      canceller_.Wait();
    }
    if (spec.racy) canceller_.Request(slot.s, racy_rng_() % 3000);
    const edgelm_status st = edgelm_session_generate(slot.s, &spec.opt, OnToken, call);
    if (spec.racy) canceller_.Wait();
    Tick();
    if (st != EDGELM_OK) ExpectFailure(st, st, what, slot.s);  // before other calls replace the message
    Expect(call->problem.empty(), Fmt("%s: %s", what, call->problem.c_str()));
    for (int32_t t : BannedOf(spec.opt))
      Expect(std::find(call->tokens.begin(), call->tokens.end(), t) == call->tokens.end(),
             Fmt("%s: banned token %d (logit bias -inf) was generated", what, t));
    // The first token whose text completes a stop string (the soak's stop strings are ASCII, so a
    // character still incomplete at the end of a prefix cannot be part of one).
    for (size_t i = 0; !stops.empty() && i < call->tokens.size() && !call->stop_string_end; ++i) {
      const std::string decoded = Decode(std::vector<int32_t>(call->tokens.begin(), call->tokens.begin() + static_cast<ptrdiff_t>(i) + 1));
      for (const std::string& stop : stops)
        if (decoded.find(stop) != std::string::npos) call->stop_string_end = static_cast<int>(i) + 1;
    }
    if (call->stop_string_end) Count("generate.ended_by_stop_string");
    if (call->held_text_returned) Count("note.final_call_gives_back_held_text");
    if (!BannedOf(spec.opt).empty()) Count("generate.with_banned_tokens");
    const std::string wrong = Simulate(slot.sh, spec, *call, st);
    if (!wrong.empty())
      Fail(Fmt("%s (max_tokens %d, ignore_stop %d, context %d, overflow %d, cancel_at %d, stop_at %d, before %d, racy %d) "
               "returned %s with %zu tokens %s: %s (\"%s\")",
               what, spec.opt.max_tokens, spec.opt.ignore_stop, slot.sh.opt.context_length, slot.sh.opt.overflow,
               spec.cancel_at, spec.stop_at, spec.cancel_before, spec.racy, StatusName(st), call->tokens.size(),
               TokensText(call->tokens).c_str(), wrong.c_str(), st == EDGELM_OK ? "" : edgelm_session_error(slot.s)));
    Expect(call->flush_calls <= 1 && (call->flush_calls == 0 || st == EDGELM_OK),
           Fmt("%s: %d final -1 calls with status %s", what, call->flush_calls, StatusName(st)));
    CheckCount(slot, what);
    if (!call->tokens.empty()) {
      // The streamed text is the detokenized text of the generated tokens (control tokens skipped);
      // a generate that fails or is cancelled streams a prefix of it (no final -1 call).
      // With a stop string, the text ends just before it.
      const std::string& text = call->text;
      std::string decoded = Decode(call->tokens);
      if (call->stop_string_end) {
        size_t first = std::string::npos;
        for (const std::string& stop : stops) first = std::min(first, decoded.find(stop));
        decoded.resize(first);
      }
      if (st == EDGELM_OK ? decoded != text : decoded.compare(0, text.size(), text) != 0)
        Fail(Fmt("%s: streamed text \"%s\", detokenized \"%s\" (control tokens left out) of %s", what, text.c_str(),
                 decoded.c_str(), TokensText(call->tokens).c_str()));
      if (st != EDGELM_OK && decoded.size() > text.size()) Count("note.unfinished_character_not_delivered");
    }
    if (st == EDGELM_OK && !spec.racy) {
      edgelm_stats stats;
      edgelm_stats_init(&stats);
      ExpectStatus(edgelm_session_get_stats(slot.s, &stats), EDGELM_OK, "edgelm_session_get_stats");
      Expect(stats.generated_tokens == static_cast<int64_t>(call->tokens.size()) &&
                 stats.context_tokens == static_cast<int64_t>(slot.sh.size()),
             Fmt("%s: stats say %" PRId64 " generated and %" PRId64 " in context, the callback saw %zu and the shadow %zu",
                 what, stats.generated_tokens, stats.context_tokens, call->tokens.size(), slot.sh.size()));
    }
    return st;
  }

  // The detokenized text of `tokens`, control tokens left out (as the stream skips them).
  std::string Decode(const std::vector<int32_t>& tokens) {
    std::vector<int32_t> plain;
    for (int32_t t : tokens)
      if (!f_.IsControl(t)) plain.push_back(t);
    size_t bytes = 0;
    edgelm_status st = edgelm_detokenize(model_, plain.data(), plain.size(), nullptr, 0, &bytes);
    std::string decoded(bytes + 1, '\0');
    if (st == EDGELM_BUFFER_TOO_SMALL) st = edgelm_detokenize(model_, plain.data(), plain.size(), &decoded[0], decoded.size(), &bytes);
    ExpectStatus(st, EDGELM_OK, "edgelm_detokenize of generated tokens");
    decoded.resize(bytes);
    return decoded;
  }

  // The generate rules (edgelm.h and the chat template) applied to what the callback reported.
  // Updates `sh`; returns what is inconsistent, or "".
  std::string Simulate(Shadow& sh, const GenSpec& spec, const GenCall& call, edgelm_status st) const {
    const edgelm_generate_options& o = spec.opt;
    const auto& got = call.tokens;
    const int max_tokens = o.struct_size >= offsetof(edgelm_generate_options, max_tokens) + sizeof(int32_t) ? o.max_tokens : 256;
    const bool ignore_stop = o.struct_size >= offsetof(edgelm_generate_options, ignore_stop) + sizeof(int32_t) && o.ignore_stop;
    auto expect_only = [&](edgelm_status want, const char* why) -> std::string {
      if (st != want || !got.empty()) return Fmt("expected %s with no tokens (%s)", StatusName(want), why);
      return "";
    };
    if (sh.awaiting && f_.chat) {
      if (!MakeRoom(sh, f_.generation_prompt.size(), f_)) return expect_only(EDGELM_CONTEXT_FULL, "no room for the model's turn prompt");
      sh.tokens.insert(sh.tokens.end(), f_.generation_prompt.begin(), f_.generation_prompt.end());
      sh.awaiting = false;
      sh.turn_open = true;
    }
    if (sh.tokens.empty()) return expect_only(EDGELM_INVALID_ARGUMENT, "nothing to generate from");
    const size_t ctx = static_cast<size_t>(sh.opt.context_length);
    if (spec.racy && st == EDGELM_CANCELLED) {
      // The cancel came in the prefill (at any chunk), or at the start of the loop after the
      // tokens reported, or in the prefill after the overflow policy made room for the next one.
      for (const int32_t t : got) {
        if (sh.size() >= ctx && !MakeRoom(sh, 1, f_)) return "a token was generated past a full context";
        sh.tokens.push_back(t);
        if (!ignore_stop && f_.IsStop(t)) return "a stop token did not end the generation";
        if (call.stop_string_end) return "a stop string did not end the generation";
      }
      if (sh.size() >= ctx) {
        Shadow dropped = sh;
        if (MakeRoom(dropped, 1, f_) && edgelm_session_token_count(call.session) == dropped.size()) sh = dropped;
      }
      sh.kv_known = false;
      sh.valid = false;
      return "";
    }
    // Prefill.
    if (sh.kv_known && sh.kv == sh.size() && !sh.valid) sh.SetKv(sh.size() - 1);  // the last token again, for its logits
    if (spec.cancel_before && (!sh.kv_known || sh.kv < sh.size()))
      return expect_only(EDGELM_CANCELLED, "cancelled before the call, caught by the prefill");
    ShadowPrefill(sh);
    for (int i = 0; i < max_tokens; ++i) {
      if (static_cast<size_t>(i) >= got.size()) {
        // The loop went on to token i+1 but produced nothing: the status must say why.
        const bool cancel_pending = (spec.cancel_before && i == 0) || (spec.cancel_at == i && i > 0);
        if (cancel_pending) return st == EDGELM_CANCELLED ? "" : Fmt("expected CANCELLED after %d tokens", i);
        if (sh.size() >= ctx) {
          if (!MakeRoom(sh, 1, f_)) return st == EDGELM_CONTEXT_FULL ? "" : Fmt("expected CONTEXT_FULL after %d tokens", i);
          return Fmt("the overflow policy made room, yet generation stopped after %d tokens", i);
        }
        return Fmt("generation stopped after %d of %d tokens without a reason", i, max_tokens);
      }
      if (sh.size() >= ctx) {
        if (!MakeRoom(sh, 1, f_)) return Fmt("token %d was generated past a full context (policy %d)", i + 1, sh.opt.overflow);
        ShadowPrefill(sh);
      }
      const int32_t t = got[static_cast<size_t>(i)];
      sh.tokens.push_back(t);
      sh.valid = false;
      const bool stop = !ignore_stop && f_.IsStop(t);
      if (stop && f_.chat && t == f_.turn_end) {
        sh.turn_open = false;
        if (sh.size() + f_.newline.size() <= ctx) sh.tokens.insert(sh.tokens.end(), f_.newline.begin(), f_.newline.end());
      }
      if (stop || spec.stop_at == i + 1 || call.stop_string_end == i + 1 || i + 1 == max_tokens) {
        if (got.size() != static_cast<size_t>(i) + 1) return Fmt("%zu tokens after the generation should have ended at %d", got.size(), i + 1);
        return st == EDGELM_OK ? "" : Fmt("expected OK (ended at token %d: stop %d)", i + 1, stop);
      }
      sh.SetKv(sh.size());  // the token was run through the model
      sh.valid = true;
    }
    // max_tokens == 0: prefill only.
    if (!got.empty()) return "tokens with max_tokens 0";
    return st == EDGELM_OK ? "" : "expected OK for max_tokens 0";
  }

  // --dump-at: each session's state and token history (int32), for a standalone repro.
  void Dump() {
    const char* tmp = std::getenv("TMPDIR");
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& slot = slots_[i];
      const std::string base = std::string(tmp && *tmp ? tmp : "/tmp") + "/edgelm-soak-dump-t" + std::to_string(index_) +
                               "-s" + std::to_string(i);
      const std::vector<uint8_t> state = SaveState(slot, "dump");
      if (std::FILE* fp = std::fopen((base + ".state").c_str(), "wb")) {
        std::fwrite(state.data(), 1, state.size(), fp);
        std::fclose(fp);
      }
      if (std::FILE* fp = std::fopen((base + ".tokens").c_str(), "wb")) {
        if (slot.sh.size() > 0) std::fwrite(slot.sh.tokens.data(), sizeof(int32_t), slot.sh.size(), fp);
        std::fclose(fp);
      }
      std::lock_guard<std::mutex> lock(g_print_mutex);
      std::printf("dumped %s.{state,tokens}: %zu tokens, %zu processed; context %d, chunk %d, kv_type %d, overflow %d, sink %d\n",
                  base.c_str(), slot.sh.size(), slot.sh.kv, slot.sh.opt.context_length, slot.sh.opt.prefill_chunk,
                  slot.sh.opt.kv_type, slot.sh.opt.overflow, slot.sh.opt.sink_tokens);
    }
  }

  // -- steps --
  void Step() {
    int total = 0;
    for (int w : kKindWeights) total += w;
    int pick = static_cast<int>(rng_.Next() % static_cast<uint64_t>(total));
    int kind = 0;
    while (pick >= kKindWeights[kind]) pick -= kKindWeights[kind++];
    if (kind == kAppendMessage && !f_.chat) kind = kAppendText;
    // Long histories make every step slow: start over more often.
    Slot& slot = slots_[rng_.Next() % slots_.size()];
    if (slot.sh.size() > 320 && rng_.Chance(0.25)) kind = kReset;
    kind_ = kKindNames[kind];
    progress_->kind.store(kind_);
    Count(kind_);
    Mix(static_cast<uint64_t>(kind));
    // A second model handle now and then: load and free under concurrency.
    if (step_ % 150 == 75) SecondModel();
    if (index_ == 0 && step_ % 97 == 50) SwapLogCallback();
    switch (kind) {
      case kAppendText: AppendText(slot); break;
      case kAppendTokens: AppendTokens(slot); break;
      case kAppendMessage: AppendMessage(slot); break;
      case kGenerate: GenerateStep(slot); break;
      case kCancelSync: CancelSync(slot); break;
      case kCancelRacy: CancelRacy(slot); break;
      case kFork: ForkStep(slot); break;
      case kSaveMemory: SaveMemory(slot); break;
      case kSaveFile: SaveFile(slot); break;
      case kRewind: Rewind(slot); break;
      case kReset: ResetStep(slot); break;
      case kEvaluate: Evaluate(slot); break;
      case kScore: Score(slot); break;
      case kReleaseMemory: ReleaseMemory(slot); break;
      case kStats: Stats(slot); break;
      case kTokenize: TokenizeStep(); break;
      case kMisuse: Misuse(slot); break;
      case kRecreate: CreateSlot(slot, RandomSessionOptions()); break;
      case kReplay: Replay(slot, "replay"); break;
    }
    Mix(slot.sh.size());
    Trace(Fmt("%s: slot %zu has %zu tokens, %zu processed%s, valid %d, awaiting %d, turn open %d (context %d, chunk %d, overflow %d)",
              kind_, static_cast<size_t>(&slot - slots_.data()), slot.sh.size(), slot.sh.kv, slot.sh.kv_known ? "" : "?",
              slot.sh.valid, slot.sh.awaiting, slot.sh.turn_open, slot.sh.opt.context_length, slot.sh.chunk(), slot.sh.opt.overflow));
  }

  // Appends `ids` as the library must (the overflow policy may drop first); `st` is what it returned.
  void ExpectAppend(Slot& slot, edgelm_status st, const std::vector<int32_t>& ids, const char* call) {
    Shadow next = slot.sh;
    if (!MakeRoom(next, ids.size(), f_)) {
      ExpectFailure(st, EDGELM_CONTEXT_FULL, call, slot.s);
      CheckCount(slot, call);
      return;
    }
    ExpectStatus(st, EDGELM_OK, call);
    next.tokens.insert(next.tokens.end(), ids.begin(), ids.end());
    if (!ids.empty()) next.awaiting = next.turn_open = false;  // appending nothing changes nothing
    slot.sh = next;
    CheckCount(slot, call);
  }

  void AppendText(Slot& slot) {
    std::string text = RandomText(false);
    const bool invalid = rng_.Chance(0.1);
    if (invalid) text = InvalidUtf8(text);
    const bool special = rng_.Chance(0.3);
    std::vector<int32_t> ids;
    const edgelm_status tst = Tokenize(model_, text, slot.sh.tokens.empty() && f_.bos >= 0, special, &ids);
    if (tst != (invalid ? EDGELM_INVALID_ARGUMENT : EDGELM_OK))
      Fail(Fmt("edgelm_tokenize(\"%s\") returned %s", text.c_str(), StatusName(tst)));
    const edgelm_status st = edgelm_session_append_text(slot.s, text.c_str(), special);
    Mix(st);
    if (invalid) {
      ExpectFailure(st, EDGELM_INVALID_ARGUMENT, "append_text(invalid UTF-8)", slot.s);
      CheckCount(slot, "append_text(invalid UTF-8)");
      return;
    }
    ExpectAppend(slot, st, ids, "append_text");
  }

  void AppendTokens(Slot& slot) {
    std::vector<int32_t> ids(static_cast<size_t>(rng_.Int(0, 16)));
    for (int32_t& t : ids) t = rng_.Chance(0.05) ? rng_.Pick(std::vector<int32_t>{f_.bos, f_.turn_start, f_.turn_end, f_.eos})
                                                  : rng_.Int(0, f_.vocab - 1);
    const bool bad = !ids.empty() && rng_.Chance(0.1);
    if (bad) ids[rng_.Next() % ids.size()] = rng_.Pick(std::vector<int32_t>{-1, f_.vocab, f_.vocab + 7, INT32_MAX, INT32_MIN});
    const bool null_empty = ids.empty() && rng_.Chance(0.5);
    const edgelm_status st = edgelm_session_append_tokens(slot.s, null_empty ? nullptr : ids.data(), ids.size());
    Mix(st);
    if (bad) {
      ExpectFailure(st, EDGELM_OUT_OF_RANGE, "append_tokens(id outside the vocabulary)", slot.s);
      CheckCount(slot, "append_tokens(bad id)");
      return;
    }
    ExpectAppend(slot, st, ids, "append_tokens");
  }

  void AppendMessage(Slot& slot) {
    static const std::vector<std::string> roles = {"user", "user", "user", "system", "assistant", "model", "developer", "tool"};
    const bool bad_role = rng_.Chance(0.05);
    const std::string role = bad_role ? rng_.Pick(std::vector<std::string>{"robot", "", "User", "narrator"}) : rng_.Pick(roles);
    std::string content = RandomText(true);
    const bool invalid = rng_.Chance(0.07);
    if (invalid) content = InvalidUtf8(content);
    std::vector<int32_t> ids;
    const edgelm_status want = TemplateIds(model_, f_, slot.sh, role, content, &ids);
    const edgelm_status st = edgelm_session_append_message(slot.s, role.c_str(), content.c_str());
    Mix(st);
    if (want != EDGELM_OK) {
      ExpectFailure(st, want, "append_message(bad role or text)", slot.s);
      CheckCount(slot, "append_message(refused)");
      return;
    }
    Shadow next = slot.sh;
    if (!MakeRoom(next, ids.size(), f_)) {
      ExpectFailure(st, EDGELM_CONTEXT_FULL, "append_message", slot.s);
      CheckCount(slot, "append_message(full)");
      return;
    }
    ExpectStatus(st, EDGELM_OK, "append_message");
    next.tokens.insert(next.tokens.end(), ids.begin(), ids.end());
    next.turn_open = false;
    next.awaiting = !(role == "assistant" || role == "model");
    slot.sh = next;
    CheckCount(slot, "append_message");
  }

  void GenerateStep(Slot& slot) {
    GenSpec spec;
    spec.opt = RandomGenerateOptions(false);
    if (rng_.Chance(0.15)) spec.stop_at = rng_.Int(1, 4);
    GenCall call;
    const edgelm_status st = Generate(slot, spec, &call, "generate");
    Mix(st);
    MixTokens(call.tokens);
    digest_ = Fnv(call.text.data(), call.text.size(), digest_);
    Trace(Fmt("generate -> %s %s", StatusName(st), TokensText(call.tokens).c_str()));
  }

  // edgelm_session_cancel from the canceller thread, synchronized so that the outcome is certain:
  // before the call (it must be stopped at once) or from inside the callback at token k.
  void CancelSync(Slot& slot) {
    GenSpec spec;
    spec.opt = RandomGenerateOptions(false);
    spec.opt.max_tokens = rng_.Int(1, 12);
    if (rng_.Chance(0.3)) spec.cancel_before = true;
    else spec.cancel_at = rng_.Int(1, spec.opt.max_tokens);
    GenCall call;
    const edgelm_status st = Generate(slot, spec, &call, spec.cancel_before ? "generate(cancelled before)" : "generate(cancelled at k)");
    Mix(st);
    MixTokens(call.tokens);
    // Usable afterwards: a cancel never outlives the call it stopped.
    GenSpec next;
    next.opt = RandomGenerateOptions(true);
    next.opt.max_tokens = rng_.Int(1, 3);
    GenCall call2;
    const edgelm_status st2 = Generate(slot, next, &call2, "generate after a cancel");
    Mix(st2);
    MixTokens(call2.tokens);
    Expect(st2 != EDGELM_CANCELLED, "the cancel outlived the generate call it stopped");
  }

  // A cancel racing with a generate, on a throwaway fork (its timing is not reproducible).
  void CancelRacy(Slot& slot) {
    GenSpec spec;
    spec.opt = RandomGenerateOptions(rng_.Chance(0.5));
    spec.opt.max_tokens = rng_.Int(8, 64);
    spec.opt.ignore_stop = rng_.Chance(0.7);
    spec.racy = true;
    edgelm_generate_options follow;
    edgelm_generate_options_init(&follow);
    follow.temperature = 0;
    follow.max_tokens = 1;
    follow.ignore_stop = 1;
    Slot fork;
    fork.s = Fork(slot, &fork.sh);
    GenCall call;
    const edgelm_status st = Generate(fork, spec, &call, "generate(racing cancel)");
    Expect(st == EDGELM_OK || st == EDGELM_CANCELLED || st == EDGELM_CONTEXT_FULL || st == EDGELM_INVALID_ARGUMENT,
           Fmt("a racing cancel gave %s", StatusName(st)));
    Count(st == EDGELM_CANCELLED ? "cancel_racy.cancelled" : "cancel_racy.missed");
    // The session stays usable; a cancel that landed after an OK generate stops the next call at once.
    for (int attempt = 0; attempt < 2; ++attempt) {
      GenSpec next;
      next.opt = follow;
      GenCall call2;
      if (fork.sh.tokens.empty()) break;
      call2.spec = &next;
      call2.facts = &f_;
      call2.session = fork.s;
      const edgelm_status st2 = edgelm_session_generate(fork.s, &next.opt, OnToken, &call2);
      if (st2 == EDGELM_CANCELLED && attempt == 0 && st != EDGELM_CANCELLED && call2.tokens.empty()) {
        next.cancel_before = true;  // the cancel landed after the racing call had returned
        const std::string wrong = Simulate(fork.sh, next, call2, st2);
        if (!wrong.empty()) Fail(Fmt("generate after a late cancel: %s", wrong.c_str()));
        CheckCount(fork, "generate after a late cancel");
        Count("cancel_racy.late");
        continue;
      }
      const std::string wrong = Simulate(fork.sh, next, call2, st2);
      if (!wrong.empty()) Fail(Fmt("generate after a racing cancel (%s) returned %s: %s", StatusName(st), StatusName(st2), wrong.c_str()));
      CheckCount(fork, "generate after a racing cancel");
      break;
    }
    edgelm_session_free(fork.s);
  }

  edgelm_session* Fork(const Slot& slot, Shadow* sh) {
    edgelm_session* f = reinterpret_cast<edgelm_session*>(this);
    const edgelm_status st = edgelm_session_fork(slot.s, &f);
    if (st != EDGELM_OK) Fail(Fmt("edgelm_session_fork returned %s: %s", StatusName(st), edgelm_last_error()));
    Expect(f != nullptr && f != slot.s, "fork returned no session");
    *sh = slot.sh;
    Expect(edgelm_session_token_count(f) == slot.sh.size(),
           Fmt("the fork has %zu tokens, its parent %zu", edgelm_session_token_count(f), slot.sh.size()));
    return f;
  }

  // Generates with the same options on both slots: identical tokens, statuses and histories.
  // Generates with the same options on both slots: identical tokens, statuses and histories.
  // `b` may be null: then `a` must give `expected`.
  void SameContinuation(Slot& a, Slot* b, const edgelm_generate_options& opt, const char* what, GenCall* expected = nullptr,
                        edgelm_status expected_status = EDGELM_OK) {
    GenSpec spec;
    spec.opt = opt;
    GenCall ca, cb;
    const edgelm_status sa = Generate(a, spec, &ca, what);
    Mix(sa);
    MixTokens(ca.tokens);
    edgelm_status sb = expected_status;
    if (b) sb = Generate(*b, spec, &cb, what);
    const GenCall& other = b ? cb : *expected;
    if (sa != sb || ca.tokens != other.tokens || ca.text != other.text || (b && a.sh.tokens != b->sh.tokens))
      Fail(Fmt("%s: %s %s vs %s %s (temperature %g, seed %" PRIu64 ")", what, StatusName(sa), TokensText(ca.tokens).c_str(),
               StatusName(sb), TokensText(other.tokens).c_str(), opt.temperature, opt.seed));
    if (expected && b) {
      expected->tokens = ca.tokens;
      expected->text = ca.text;
    }
  }

  void ForkStep(Slot& slot) {
    const int variant = rng_.Int(0, 2);
    const edgelm_generate_options opt = RandomGenerateOptions(variant == 0);
    Slot fork;
    fork.s = Fork(slot, &fork.sh);
    if (variant == 2) {
      // Two forks, the same sampling options and seed: the same output; the parent too.
      Slot second;
      second.s = Fork(slot, &second.sh);
      GenCall first;
      edgelm_status st = EDGELM_OK;
      {
        GenSpec spec;
        spec.opt = opt;
        st = Generate(fork, spec, &first, "same seed on two forks");
      }
      SameContinuation(second, nullptr, opt, "same seed on two forks", &first, st);
      edgelm_session_free(second.s);
      SameContinuation(slot, nullptr, opt, "same seed on the parent after its forks", &first, st);
    } else {
      SameContinuation(slot, &fork, opt, variant == 0 ? "greedy on parent and fork" : "sampling on parent and fork");
    }
    if (rng_.Chance(0.5)) {  // the fork lives on, its parent is freed (pages shared copy-on-write)
      edgelm_session_free(slot.s);
      slot.s = fork.s;
      slot.sh = fork.sh;
      Count("fork.replaces_parent");
    } else {
      edgelm_session_free(fork.s);
    }
  }

  // Logits of the last token (evaluate, all_positions = 0); processes what is pending.
  std::vector<float> LastLogits(Slot& slot, const char* what) {
    std::vector<float> logits(static_cast<size_t>(f_.vocab) + 1, NAN);
    size_t n = 0;
    const edgelm_status st = edgelm_session_evaluate(slot.s, 0, logits.data(), logits.size(), &n);
    if (slot.sh.tokens.empty()) {
      ExpectFailure(st, EDGELM_INVALID_ARGUMENT, what, slot.s);
      return {};
    }
    if (st != EDGELM_OK) Fail(Fmt("%s: evaluate returned %s: %s", what, StatusName(st), edgelm_session_error(slot.s)));
    Expect(n == static_cast<size_t>(f_.vocab) && std::isnan(logits[n]), Fmt("%s: evaluate wrote %zu logits", what, n));
    logits.resize(n);
    for (float v : logits) Expect(std::isfinite(v), Fmt("%s: a logit is not finite", what));
    ShadowPrefill(slot.sh);
    return logits;
  }

  // A state round trip: the same bytes again after restoring into a fresh session.
  std::vector<uint8_t> SaveState(const Slot& slot, const char* what) {
    size_t need = 0;
    edgelm_status st = edgelm_session_save_state(slot.s, nullptr, 0, &need);
    ExpectFailure(st, EDGELM_BUFFER_TOO_SMALL, "save_state size query", slot.s);
    Expect(need > 0, "save_state reported 0 bytes");
    std::vector<uint8_t> small(need - 1, 0xA5);
    size_t need2 = 0;
    st = edgelm_session_save_state(slot.s, small.data(), small.size(), &need2);
    ExpectFailure(st, EDGELM_BUFFER_TOO_SMALL, "save_state into a buffer one byte short", slot.s);
    Expect(need2 == need, "save_state reported another size for a short buffer");
    Expect(std::all_of(small.begin(), small.end(), [](uint8_t b) { return b == 0xA5; }), "save_state wrote into a buffer too small");
    std::vector<uint8_t> bytes(need + 16, 0x5A);
    st = edgelm_session_save_state(slot.s, bytes.data(), bytes.size(), &need2);
    if (st != EDGELM_OK) Fail(Fmt("%s: save_state returned %s", what, StatusName(st)));
    Expect(need2 == need, "save_state wrote another size than it reported");
    Expect(std::all_of(bytes.begin() + static_cast<ptrdiff_t>(need), bytes.end(), [](uint8_t b) { return b == 0x5A; }),
           "save_state wrote past the state");
    bytes.resize(need);
    return bytes;
  }

  // A session with the same context, chunk and KV type (what a state is tied to), other threads.
  edgelm_session_options Compatible(const edgelm_session_options& o, Rng* rng = nullptr) {
    Rng& r = rng ? *rng : rng_;
    edgelm_session_options c = o;
    c.num_threads = r.Int(1, 2);
    if (kOneThreadPools) c.num_threads = 1;
    c.share_model_threads = r.Chance(0.3);
    c.overflow = r.Int(0, 2);
    c.sink_tokens = r.Int(0, 8);
    return c;
  }

  // Random changes to a session (so that a restore has something to undo).
  void Scramble(Slot& slot) {
    const int n = rng_.Int(0, 3);
    for (int i = 0; i < n; ++i) {
      switch (rng_.Int(0, 3)) {
        case 0: AppendText(slot); break;
        case 1: AppendTokens(slot); break;
        case 2: GenerateStep(slot); break;
        case 3: Rewind(slot); break;
      }
    }
  }

  void AfterRestore(Slot& slot, const Shadow& saved, const std::vector<float>& logits, Slot* reference, const char* what) {
    const edgelm_session_options opt = slot.sh.opt;
    slot.sh = saved;
    slot.sh.opt = opt;
    slot.sh.Restored();
    CheckCount(slot, what);
    CheckPending(slot, what);
    if (!logits.empty()) {
      const std::vector<float> again = LastLogits(slot, what);
      Expect(std::memcmp(again.data(), logits.data(), logits.size() * sizeof(float)) == 0,
             Fmt("%s: the restored session's logits differ from the saved session's", what));
    }
    if (reference) SameContinuation(slot, reference, RandomGenerateOptions(rng_.Chance(0.5)), what);
  }

  void SaveMemory(Slot& slot) {
    const std::vector<uint8_t> bytes = SaveState(slot, "save_state");
    Expect(SaveState(slot, "save_state again") == bytes, "two saves of one state differ");
    digest_ = Fnv(bytes.data(), bytes.size(), digest_);
    const Shadow saved = slot.sh;
    // Logits and a reference fork as of the save.
    Slot reference;
    reference.s = Fork(slot, &reference.sh);
    const std::vector<float> logits = saved.tokens.empty() ? std::vector<float>() : LastLogits(reference, "logits at the save");
    // Into a fresh session (other threads): the same bytes come back out.
    {
      Slot fresh;
      fresh.sh.opt = Compatible(slot.sh.opt);
      fresh.s = NewSession(fresh.sh.opt);
      const edgelm_status st = edgelm_session_restore_state(fresh.s, bytes.data(), bytes.size());
      if (st != EDGELM_OK) Fail(Fmt("restore_state into a fresh session returned %s: %s", StatusName(st), edgelm_last_error()));
      Expect(SaveState(fresh, "save_state of the restored") == bytes, "a restored state saves to other bytes");
      AfterRestore(fresh, saved, logits, nullptr, "restore_state into a fresh session");
      edgelm_session_free(fresh.s);
    }
    // Refused: corrupt, truncated, or saved with other session options. Nothing changes.
    Scramble(slot);
    {
      std::vector<uint8_t> bad = bytes;
      const size_t at = rng_.Next() % bad.size();
      bad[at] ^= static_cast<uint8_t>(1u << rng_.Int(0, 7));
      const edgelm_status st = edgelm_session_restore_state(slot.s, bad.data(), bad.size());
      Expect(st != EDGELM_OK, Fmt("a state with byte %zu of %zu flipped was restored", at, bad.size()));
      ExpectFailure(st, st, "restore_state(corrupt)", slot.s);
      const size_t cut = rng_.Next() % bytes.size();
      const edgelm_status st2 = edgelm_session_restore_state(slot.s, bytes.data(), cut);
      Expect(st2 != EDGELM_OK, Fmt("a state truncated to %zu of %zu bytes was restored", cut, bytes.size()));
      ExpectFailure(st2, st2, "restore_state(truncated)", slot.s);
      // A valid state with bytes after it (documented neither way): counted, not failed.
      std::vector<uint8_t> longer = bytes;
      longer.resize(bytes.size() + static_cast<size_t>(rng_.Int(1, 64)), 0x42);
      Slot probe;
      probe.sh.opt = Compatible(saved.opt);
      probe.s = NewSession(probe.sh.opt);
      if (edgelm_session_restore_state(probe.s, longer.data(), longer.size()) == EDGELM_OK) Count("note.restore_accepts_trailing_bytes");
      edgelm_session_free(probe.s);
      CheckCount(slot, "refused restores");
      CheckPending(slot, "refused restores");
      Count("save_memory.refused");
    }
    if (rng_.Chance(0.3)) {
      edgelm_session_options other = Compatible(slot.sh.opt);
      if (rng_.Chance(0.5)) other.context_length = saved.opt.context_length == f_.max_context ? 64 : saved.opt.context_length + 1;
      else other.kv_type = (saved.opt.kv_type + 1) % 4;
      Slot mismatched;
      mismatched.sh.opt = other;
      mismatched.s = NewSession(other);
      ExpectFailure(edgelm_session_restore_state(mismatched.s, bytes.data(), bytes.size()), EDGELM_INVALID_ARGUMENT,
                    "restore_state with other session options", mismatched.s);
      CheckCount(mismatched, "restore_state with other session options");
      edgelm_session_free(mismatched.s);
      Count("save_memory.mismatched");
    }
    // Back to the saved state: the count, pending tokens, logits and continuation of the save.
    const edgelm_status st = edgelm_session_restore_state(slot.s, bytes.data(), bytes.size());
    if (st != EDGELM_OK) Fail(Fmt("restore_state returned %s: %s", StatusName(st), edgelm_session_error(slot.s)));
    AfterRestore(slot, saved, logits, &reference, "restore_state");
    edgelm_session_free(reference.s);
  }

  void SaveFile(Slot& slot) {
    const edgelm_status st = edgelm_session_save_file(slot.s, state_path_.c_str());
    if (st != EDGELM_OK) Fail(Fmt("save_file returned %s: %s", StatusName(st), edgelm_session_error(slot.s)));
    const std::vector<uint8_t> bytes = SaveState(slot, "save_state beside save_file");
    const Shadow saved = slot.sh;
    Slot reference;
    reference.s = Fork(slot, &reference.sh);
    const std::vector<float> logits = saved.tokens.empty() ? std::vector<float>() : LastLogits(reference, "logits at the save");
    Scramble(slot);
    // Refused: a missing file, a file that is not a state, a directory that does not exist.
    const std::string missing = state_path_ + ".missing";
    ExpectFailure(edgelm_session_restore_file(slot.s, missing.c_str()), EDGELM_NOT_FOUND, "restore_file(missing)", slot.s);
    const std::string junk = state_path_ + ".bad";
    if (std::FILE* fp = std::fopen(junk.c_str(), "wb")) {
      const size_t n = static_cast<size_t>(rng_.Int(0, 200));
      std::vector<uint8_t> data(n);
      for (auto& b : data) b = static_cast<uint8_t>(rng_.Next());
      if (n >= 8 && rng_.Chance(0.5)) {  // a truncated state, then junk
        const size_t prefix = std::min<size_t>(n, bytes.size() - 1);
        std::memcpy(data.data(), bytes.data(), prefix);
        if (prefix < n) data[prefix] = static_cast<uint8_t>(bytes[prefix] ^ 0xFF);
      }
      if (n > 0) std::fwrite(data.data(), 1, n, fp);
      std::fclose(fp);
      const edgelm_status bad = edgelm_session_restore_file(slot.s, junk.c_str());
      Expect(bad != EDGELM_OK, "a file of random bytes was restored");
      ExpectFailure(bad, bad, "restore_file(junk)", slot.s);
    }
    ExpectFailure(edgelm_session_save_file(slot.s, "/nonexistent-edgelm-soak-dir/state"), EDGELM_IO_ERROR,
                  "save_file into a missing directory", slot.s);
    CheckCount(slot, "refused file restores");
    const edgelm_status rst = edgelm_session_restore_file(slot.s, state_path_.c_str());
    if (rst != EDGELM_OK) Fail(Fmt("restore_file returned %s: %s", StatusName(rst), edgelm_session_error(slot.s)));
    Expect(SaveState(slot, "save_state after restore_file") == bytes, "a state restored from a file saves to other bytes");
    AfterRestore(slot, saved, logits, &reference, "restore_file");
    edgelm_session_free(reference.s);
  }

  void Rewind(Slot& slot) {
    const size_t size = slot.sh.size();
    const int r = rng_.Int(0, 9);
    size_t n;
    bool edge = false;
    if (r == 0) n = size + static_cast<size_t>(rng_.Int(1, 5));
    else if (r == 1) n = 0;
    else if (r == 2) n = size;
    else if (r <= 5 && slot.sh.kv_known && slot.sh.kv > 0) {
      // Around the deepest rewind the sliding window's ring allows: processed - chunk (+1), with
      // the last kept token's logits asked for at once (a regression check: see RewindRecompute).
      const long target = static_cast<long>(slot.sh.written) - slot.sh.chunk() + rng_.Int(0, 1);
      n = static_cast<size_t>(std::max<long>(0, std::min<long>(target, static_cast<long>(size))));
      edge = true;
    } else n = size - std::min<size_t>(size, static_cast<size_t>(rng_.Int(1, 12)));
    const edgelm_status st = edgelm_session_rewind(slot.s, n);
    Trace(Fmt("rewind %zu -> %zu: %s", size, n, StatusName(st)));
    Mix(st);
    if (n > size) {
      ExpectFailure(st, EDGELM_OUT_OF_RANGE, "rewind past the end", slot.s);
    } else {
      ExpectStatus(st, EDGELM_OK, "rewind");
      ShadowRewind(slot.sh, n, f_);
    }
    CheckCount(slot, "rewind");
    if (rng_.Chance(0.5)) CheckPending(slot, "rewind");
    if (edge) {
      Count("rewind.ring_edge");
      Replay(slot, "logits right after a rewind to the ring's edge");
    }
  }

  void ResetStep(Slot& slot) {
    ExpectStatus(edgelm_session_reset(slot.s), EDGELM_OK, "reset");
    slot.sh.Reset();
    CheckCount(slot, "reset");
  }

  void Evaluate(Slot& slot) {
    const bool all = rng_.Chance(0.5);
    CheckPending(slot, "evaluate");
    size_t n = 0;
    edgelm_status st = edgelm_session_evaluate(slot.s, all, nullptr, 0, &n);
    const size_t rows = all ? (slot.sh.kv_known ? slot.sh.size() - slot.sh.kv : n / static_cast<size_t>(f_.vocab)) : 1;
    Expect(n == rows * static_cast<size_t>(f_.vocab), Fmt("evaluate(all %d) asks for %zu floats, expected %zu rows", all, n, rows));
    if (n == 0) {
      ExpectStatus(st, EDGELM_OK, "evaluate with nothing pending");
      return;
    }
    ExpectFailure(st, EDGELM_BUFFER_TOO_SMALL, "evaluate size query", slot.s);
    if (rng_.Chance(0.3)) {  // one float short: refused, nothing processed
      std::vector<float> small(n - 1);
      ExpectFailure(edgelm_session_evaluate(slot.s, all, small.data(), small.size(), &n), EDGELM_BUFFER_TOO_SMALL,
                    "evaluate into a buffer one float short", slot.s);
      Expect(n == rows * static_cast<size_t>(f_.vocab), "evaluate reported another size for a short buffer");
      CheckPending(slot, "evaluate into a short buffer");
    }
    std::vector<float> logits(n);
    st = edgelm_session_evaluate(slot.s, all, logits.data(), logits.size(), &n);
    if (slot.sh.tokens.empty()) {
      ExpectFailure(st, EDGELM_INVALID_ARGUMENT, "evaluate of an empty history", slot.s);
      return;
    }
    if (st != EDGELM_OK) Fail(Fmt("evaluate(all %d) returned %s: %s", all, StatusName(st), edgelm_session_error(slot.s)));
    for (float v : logits) Expect(std::isfinite(v), "evaluate: a logit is not finite");
    ShadowPrefill(slot.sh);
    digest_ = Fnv(logits.data(), logits.size() * sizeof(float), digest_);
    // The last row is the last token's logits, which evaluate(0) now gives again.
    const std::vector<float> last = LastLogits(slot, "evaluate(0) after evaluate");
    Expect(std::memcmp(last.data(), logits.data() + (rows - 1) * static_cast<size_t>(f_.vocab), last.size() * sizeof(float)) == 0,
           "evaluate(0) differs from the last row of evaluate");
    CheckPending(slot, "after evaluate");
  }

  void Score(Slot& slot) {
    std::vector<int32_t> ids(static_cast<size_t>(rng_.Int(0, 8)));
    for (int32_t& t : ids) t = rng_.Int(0, f_.vocab - 1);
    const bool bad = !ids.empty() && rng_.Chance(0.1);
    if (bad) ids[rng_.Next() % ids.size()] = rng_.Chance(0.5) ? -3 : f_.vocab;
    const bool compare = !slot.sh.tokens.empty() && !ids.empty() && !bad && rng_.Chance(0.3);
    std::vector<float> before;
    if (compare) {  // the first token's log-probability from the logits before it
      Slot fork;
      fork.s = Fork(slot, &fork.sh);
      before = LastLogits(fork, "logits before score");
      edgelm_session_free(fork.s);
    }
    std::vector<float> lp(ids.size() + 1, NAN);
    double sum = NAN;
    const edgelm_status st = edgelm_session_score(slot.s, ids.data(), ids.size(), lp.data(), &sum);
    Mix(st);
    if (slot.sh.tokens.empty()) {
      ExpectFailure(st, EDGELM_INVALID_ARGUMENT, "score of an empty history", slot.s);
      return;
    }
    if (bad) {
      ExpectFailure(st, EDGELM_OUT_OF_RANGE, "score(id outside the vocabulary)", slot.s);
      CheckCount(slot, "score(bad id)");
      return;
    }
    if (slot.sh.size() + ids.size() > static_cast<size_t>(slot.sh.opt.context_length)) {
      ExpectFailure(st, EDGELM_CONTEXT_FULL, "score past the context", slot.s);
      CheckCount(slot, "score past the context");
      return;
    }
    if (st != EDGELM_OK) Fail(Fmt("score returned %s: %s", StatusName(st), edgelm_session_error(slot.s)));
    double total = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      Expect(std::isfinite(lp[i]) && lp[i] <= 1e-4f, Fmt("score: log-probability %g of token %zu", lp[i], i));
      total += lp[i];
    }
    Expect(std::isnan(lp[ids.size()]), "score wrote past n_tokens");
    Expect(std::fabs(total - sum) <= 1e-3 * (1 + std::fabs(sum)), Fmt("score: sum %g, the parts add to %g", sum, total));
    if (compare) {
      const float mx = *std::max_element(before.begin(), before.end());
      double z = 0;
      for (float v : before) z += std::exp(static_cast<double>(v - mx));
      const double want = static_cast<double>(before[static_cast<size_t>(ids[0])] - mx) - std::log(z);
      Expect(std::fabs(want - lp[0]) <= 1e-3, Fmt("score: first log-probability %g, the logits before say %g", lp[0], want));
    }
    uint64_t bits;
    std::memcpy(&bits, &sum, sizeof bits);
    Mix(bits);
    ShadowPrefill(slot.sh);
    slot.sh.tokens.insert(slot.sh.tokens.end(), ids.begin(), ids.end());
    if (!ids.empty()) {
      slot.sh.SetKv(slot.sh.size() - 1);  // the last scored token stays pending
      slot.sh.valid = false;
    }
    slot.sh.awaiting = slot.sh.turn_open = false;
    CheckCount(slot, "score");
    CheckPending(slot, "score");
  }

  void ReleaseMemory(Slot& slot) {
    std::vector<float> before;
    if (!slot.sh.tokens.empty()) before = LastLogits(slot, "logits before release_memory");
    uint64_t released = 0;
    ExpectStatus(edgelm_session_release_memory(slot.s, rng_.Chance(0.2) ? nullptr : &released), EDGELM_OK, "release_memory");
    CheckCount(slot, "release_memory");
    if (!before.empty()) {
      const std::vector<float> after = LastLogits(slot, "logits after release_memory");
      Expect(after == before, "release_memory changed the logits");
    }
  }

  void Stats(Slot& slot) {
    edgelm_stats stats;
    edgelm_stats_init(&stats);
    ExpectStatus(edgelm_session_get_stats(slot.s, &stats), EDGELM_OK, "get_stats");
    Expect(stats.context_tokens == static_cast<int64_t>(slot.sh.size()), "get_stats: context_tokens differs from the count");
    // An older, shorter struct: filled up to its size, nothing after.
    edgelm_stats old;
    std::memset(&old, 0xEE, sizeof old);
    old.struct_size = static_cast<uint32_t>(offsetof(edgelm_stats, kv_bytes));
    ExpectStatus(edgelm_session_get_stats(slot.s, &old), EDGELM_OK, "get_stats(older struct)");
    const auto* tail = reinterpret_cast<const uint8_t*>(&old) + offsetof(edgelm_stats, kv_bytes);
    Expect(std::all_of(tail, reinterpret_cast<const uint8_t*>(&old + 1), [](uint8_t b) { return b == 0xEE; }),
           "get_stats wrote past an older struct_size");
    Expect(old.generated_tokens == stats.generated_tokens, "get_stats(older struct) differs");
    edgelm_stats zero;
    edgelm_stats_init(&zero);
    zero.struct_size = 0;
    ExpectFailure(edgelm_session_get_stats(slot.s, &zero), EDGELM_INVALID_ARGUMENT, "get_stats(struct_size 0)", slot.s);
  }

  void TokenizeStep() {
    std::string text = RandomText(false);
    const bool special = rng_.Chance(0.3);
    std::vector<int32_t> ids;
    const bool bos = rng_.Chance(0.3);
    const edgelm_status st = Tokenize(model_, text, bos, special, &ids);
    ExpectStatus(st, EDGELM_OK, "tokenize");
    MixTokens(ids);
    if (!ids.empty()) {  // one id short: refused with the size, nothing written
      std::vector<int32_t> small(ids.size() - 1, -9);
      size_t n = 0;
      ExpectFailure(edgelm_tokenize(model_, text.data(), text.size(), bos, special, small.data(), small.size(), &n),
                    EDGELM_BUFFER_TOO_SMALL, "tokenize into a short buffer", nullptr);
      Expect(n == ids.size(), "tokenize reported another size for a short buffer");
      Expect(std::all_of(small.begin(), small.end(), [](int32_t v) { return v == -9; }), "tokenize wrote into a short buffer");
    }
    for (int32_t t : ids) Expect(t >= 0 && t < f_.vocab, "tokenize gave an id outside the vocabulary");
    size_t bytes = 0;
    edgelm_status dst = edgelm_detokenize(model_, ids.data(), ids.size(), nullptr, 0, &bytes);
    ExpectFailure(dst, EDGELM_BUFFER_TOO_SMALL, "detokenize size query", nullptr);
    std::string out(bytes, 'Z');  // no room for the NUL
    size_t bytes2 = 0;
    dst = edgelm_detokenize(model_, ids.data(), ids.size(), &out[0], out.size(), &bytes2);
    ExpectFailure(dst, EDGELM_BUFFER_TOO_SMALL, "detokenize without room for the NUL", nullptr);
    Expect(bytes2 == bytes && out == std::string(bytes, 'Z'), "detokenize wrote into a buffer too small");
    out.assign(bytes + 1, 'Z');
    ExpectStatus(edgelm_detokenize(model_, ids.data(), ids.size(), &out[0], out.size(), &bytes2), EDGELM_OK, "detokenize");
    Expect(bytes2 == bytes && out[bytes] == '\0', "detokenize: length or NUL");
    out.resize(bytes);
    Expect(ValidUtf8(out.data(), out.size()), "detokenize gave invalid UTF-8");
    // Plain text (no control-token spelling, no BOS) comes back exactly.
    std::vector<int32_t> plain;
    if (Tokenize(model_, text, false, false, &plain) == EDGELM_OK) {
      dst = edgelm_detokenize(model_, plain.data(), plain.size(), nullptr, 0, &bytes);
      std::string back(bytes + 1, '\0');
      dst = edgelm_detokenize(model_, plain.data(), plain.size(), &back[0], back.size(), &bytes);
      back.resize(bytes);
      if (back != text) Fail(Fmt("detokenize(tokenize(\"%s\")) = \"%s\"", text.c_str(), back.c_str()));
    }
    // Invalid UTF-8 is refused; ids outside the vocabulary are refused.
    size_t n = 0;
    const std::string bad = InvalidUtf8(text);
    ExpectFailure(edgelm_tokenize(model_, bad.data(), bad.size(), 0, 0, nullptr, 0, &n), EDGELM_INVALID_ARGUMENT,
                  "tokenize(invalid UTF-8)", nullptr);
    const int32_t outside[2] = {1, f_.vocab};
    ExpectFailure(edgelm_detokenize(model_, outside, 2, nullptr, 0, &n), EDGELM_OUT_OF_RANGE, "detokenize(id outside)", nullptr);
  }

  // Wrong handles, NULLs and bad values: a status and a message, and nothing changes.
  void Misuse(Slot& slot) {
    const int what = rng_.Int(0, 9);
    edgelm_session* as_session = reinterpret_cast<edgelm_session*>(model_);
    edgelm_model* as_model = reinterpret_cast<edgelm_model*>(slot.s);
    switch (what) {
      case 0: WrongSessionHandle(nullptr, "NULL"); break;
      case 1: WrongSessionHandle(as_session, "a model"); break;
      case 2: {
#ifndef SOAK_SANITIZED
        edgelm_session* freed = NewSession(slot.sh.opt);
        edgelm_session_free(freed);
        // Freed handles are poisoned: usually rejected (undefined behaviour all the same).
        Expect(edgelm_session_token_count(freed) == 0, "a freed session has tokens");
        ExpectFailure(edgelm_session_append_text(freed, "x", 0), EDGELM_INVALID_ARGUMENT, "append_text(freed session)", nullptr);
        edgelm_session_free(freed);  // a double free is ignored
        Count("misuse.freed_handle");
#else
        Count("misuse.freed_handle_skipped_under_sanitizers");  // no draws: a seed's sequence is the same in every build
#endif
        break;
      }
      case 3: {  // a session passed as a model
        edgelm_model_info info;
        edgelm_model_info_init(&info);
        ExpectFailure(edgelm_model_get_info(as_model, &info), EDGELM_INVALID_ARGUMENT, "get_info(a session)", nullptr);
        size_t n = 0;
        ExpectFailure(edgelm_tokenize(as_model, "a", 1, 0, 0, nullptr, 0, &n), EDGELM_INVALID_ARGUMENT, "tokenize(a session)", nullptr);
        const int32_t one = 1;
        ExpectFailure(edgelm_detokenize(as_model, &one, 1, nullptr, 0, &n), EDGELM_INVALID_ARGUMENT, "detokenize(a session)", nullptr);
        edgelm_session* s = reinterpret_cast<edgelm_session*>(this);
        ExpectFailure(edgelm_session_create(as_model, nullptr, &s), EDGELM_INVALID_ARGUMENT, "session_create(a session)", nullptr);
        Expect(s == nullptr, "session_create(a session) left a handle");
        edgelm_model_free(as_model);        // ignored: not a model
        edgelm_session_free(as_session);    // ignored: not a session
        edgelm_session_cancel(as_session);  // ignored
        ExpectStatus(edgelm_model_get_info(model_, &info), EDGELM_OK, "get_info after the wrong frees");
        Count("misuse.wrong_kind");
        break;
      }
      case 4: BadSessionOptions(); break;
      case 5: BadGenerateOptions(slot); break;
      case 6: NullArguments(slot); break;
      case 7: BadModelLoads(); break;
      case 8: {
        const bool shorter = rng_.Chance(0.5);
        if (shorter) {  // an older model_info: filled up to its size
          edgelm_model_info info;
          std::memset(&info, 0xEE, sizeof info);
          info.struct_size = static_cast<uint32_t>(offsetof(edgelm_model_info, bos_token));
          ExpectStatus(edgelm_model_get_info(model_, &info), EDGELM_OK, "get_info(older struct)");
          Expect(info.vocab_size == f_.vocab && info.bos_token == static_cast<int32_t>(0xEEEEEEEE),
                 "get_info(older struct) wrote past its size");
        } else {
          edgelm_model_info info;
          edgelm_model_info_init(&info);
          info.struct_size = 2;
          ExpectFailure(edgelm_model_get_info(model_, &info), EDGELM_INVALID_ARGUMENT, "get_info(struct_size 2)", nullptr);
        }
        break;
      }
      case 9: {  // cancel with no generate running stops the next one at once
        GenSpec spec;
        spec.opt = RandomGenerateOptions(true);
        spec.opt.max_tokens = rng_.Int(1, 4);
        edgelm_session_cancel(slot.s);
        spec.cancel_before = true;  // the same thread, no canceller needed
        GenCall call;
        call.spec = &spec;
        call.facts = &f_;
        call.session = slot.s;
        const edgelm_status st = edgelm_session_generate(slot.s, &spec.opt, OnToken, &call);
        const std::string wrong = Simulate(slot.sh, spec, call, st);
        if (!wrong.empty()) Fail(Fmt("generate after a cancel from this thread returned %s: %s", StatusName(st), wrong.c_str()));
        CheckCount(slot, "generate after a cancel from this thread");
        Mix(st);
        break;
      }
    }
    CheckCount(slot, "misuse");
  }

  void WrongSessionHandle(edgelm_session* s, const char* name) {
    const std::string n = name;
    auto expect = [&](edgelm_status st, const char* call) {
      ExpectFailure(st, EDGELM_INVALID_ARGUMENT, (call + ("(" + n + ")")).c_str(), nullptr);
    };
    Expect(edgelm_session_token_count(s) == 0, "token_count of a wrong handle is not 0");
    Expect(std::strcmp(edgelm_session_error(s), "") == 0, "session_error of a wrong handle is not empty");
    const int32_t ids[2] = {1, 2};
    float buf[4];
    size_t size = 0;
    double sum = 0;
    uint64_t released = 0;
    edgelm_generate_options g;
    edgelm_generate_options_init(&g);
    edgelm_stats stats;
    edgelm_stats_init(&stats);
    uint8_t state[16] = {0};
    edgelm_session* fork = reinterpret_cast<edgelm_session*>(this);
    switch (rng_.Int(0, 15)) {
      case 0: expect(edgelm_session_append_text(s, "hello", 0), "append_text"); break;
      case 1: expect(edgelm_session_append_tokens(s, ids, 2), "append_tokens"); break;
      case 2: expect(edgelm_session_append_message(s, "user", "hi"), "append_message"); break;
      case 3: expect(edgelm_session_generate(s, &g, nullptr, nullptr), "generate"); break;
      case 4: expect(edgelm_session_evaluate(s, 0, buf, 4, &size), "evaluate"); break;
      case 5: expect(edgelm_session_score(s, ids, 2, nullptr, &sum), "score"); break;
      case 6:
        expect(edgelm_session_fork(s, &fork), "fork");
        Expect(fork == nullptr, "fork of a wrong handle left a handle");
        break;
      case 7: expect(edgelm_session_save_file(s, state_path_.c_str()), "save_file"); break;
      case 8: expect(edgelm_session_restore_file(s, state_path_.c_str()), "restore_file"); break;
      case 9: expect(edgelm_session_save_state(s, state, sizeof state, &size), "save_state"); break;
      case 10: expect(edgelm_session_restore_state(s, state, sizeof state), "restore_state"); break;
      case 11: expect(edgelm_session_release_memory(s, &released), "release_memory"); break;
      case 12: expect(edgelm_session_reset(s), "reset"); break;
      case 13: expect(edgelm_session_rewind(s, 0), "rewind"); break;
      case 14: expect(edgelm_session_get_stats(s, &stats), "get_stats"); break;
      case 15:
        edgelm_session_cancel(s);  // no-ops
        edgelm_session_free(s);
        break;
    }
    Count(s ? "misuse.model_as_session" : "misuse.null_session");
  }

  void BadSessionOptions() {
    edgelm_session_options o;
    edgelm_session_options_init(&o);
    o.context_length = 64;
    switch (rng_.Int(0, 9)) {
      case 0: o.context_length = rng_.Chance(0.5) ? 0 : -5; break;
      case 1: o.context_length = f_.max_context + 1; break;
      case 2: o.prefill_chunk = rng_.Chance(0.5) ? 0 : 65537; break;
      case 3: o.kv_type = rng_.Chance(0.5) ? 4 : -1; break;
      case 4: o.overflow = rng_.Chance(0.5) ? 3 : -1; break;
      case 5: o.sink_tokens = -1; break;
      case 6: o.num_threads = rng_.Chance(0.5) ? -1 : 1025; break;
      case 7: o.struct_size = rng_.Chance(0.5) ? 0 : static_cast<uint32_t>(sizeof o + 8); break;
      case 8: {  // a memory budget too small: refused before the cache is allocated
        o.max_memory_bytes = static_cast<uint64_t>(rng_.Int(1, 4096));
        edgelm_session* s = reinterpret_cast<edgelm_session*>(this);
        ExpectFailure(edgelm_session_create(model_, &o, &s), EDGELM_OUT_OF_MEMORY, "session_create(tiny budget)", nullptr);
        Expect(s == nullptr, "a refused session_create left a handle");
        Count("misuse.session_budget");
        return;
      }
      case 9: {  // NULL out-pointer
        ExpectFailure(edgelm_session_create(model_, &o, nullptr), EDGELM_INVALID_ARGUMENT, "session_create(NULL out)", nullptr);
        return;
      }
    }
    edgelm_session* s = reinterpret_cast<edgelm_session*>(this);
    ExpectFailure(edgelm_session_create(model_, &o, &s), EDGELM_INVALID_ARGUMENT, "session_create(bad options)", nullptr);
    Expect(s == nullptr, "a refused session_create left a handle");
    Count("misuse.bad_session_options");
  }

  void BadGenerateOptions(Slot& slot) {
    edgelm_generate_options g = RandomGenerateOptions(false);
    g.struct_size = sizeof g;
    edgelm_status want = EDGELM_INVALID_ARGUMENT;
    static const char* const empty_stop[] = {"the", ""};
    static const char* const null_stop[] = {"the", nullptr};
    static const char* const bad_utf8_stop[] = {"ok \xE2\x82"};
    const int32_t outside[2] = {5, rng_.Chance(0.5) ? -1 : f_.vocab}, inside[2] = {5, 6};
    const float finite[2] = {1.0f, -2.0f}, not_finite[2] = {1.0f, rng_.Chance(0.5) ? NAN : INFINITY};
    switch (rng_.Int(0, 17)) {
      case 0: g.temperature = -0.5f; break;
      case 1: g.temperature = NAN; break;
      case 2: g.top_k = -1; break;
      case 3: g.top_p = rng_.Chance(0.5) ? 0.0f : 1.5f; break;
      case 4: g.min_p = rng_.Chance(0.5) ? -0.1f : 1.1f; break;
      case 5: g.repetition_penalty = rng_.Chance(0.5) ? 0.0f : INFINITY; break;
      case 6: g.presence_penalty = NAN; break;
      case 7: g.penalty_last_n = -1; break;
      case 8: g.max_tokens = -1; break;
      case 9: g.struct_size = 0; break;
      case 10: g.struct_size = static_cast<uint32_t>(sizeof g + 4); break;
      case 11: g.stop_strings = empty_stop; g.n_stop_strings = 2; break;
      case 12: g.stop_strings = null_stop; g.n_stop_strings = 2; break;
      case 13: g.stop_strings = bad_utf8_stop; g.n_stop_strings = 1; break;
      case 14:  // a negative count, or a count without an array
        g.stop_strings = rng_.Chance(0.5) ? nullptr : empty_stop;
        g.n_stop_strings = g.stop_strings ? -1 : 3;
        break;
      case 15:  // a token outside the vocabulary
        g.logit_bias_tokens = outside;
        g.logit_bias_values = finite;
        g.n_logit_bias = 2;
        want = EDGELM_OUT_OF_RANGE;
        break;
      case 16:  // NaN or +inf
        g.logit_bias_tokens = inside;
        g.logit_bias_values = not_finite;
        g.n_logit_bias = 2;
        break;
      case 17: g.n_logit_bias = rng_.Chance(0.5) ? -1 : 2; g.logit_bias_tokens = nullptr; g.logit_bias_values = nullptr; break;
    }
    GenCall call;
    GenSpec spec;
    spec.opt = g;
    call.spec = &spec;
    call.facts = &f_;
    const edgelm_status st = edgelm_session_generate(slot.s, &g, OnToken, &call);
    ExpectFailure(st, want, "generate(bad options)", slot.s);
    Expect(call.tokens.empty() && call.flush_calls == 0, "generate(bad options) called the callback");
    CheckCount(slot, "generate(bad options)");
    CheckPending(slot, "generate(bad options)");
    Count("misuse.bad_generate_options");
  }

  void NullArguments(Slot& slot) {
    size_t n = 0;
    float f = 0;
    switch (rng_.Int(0, 11)) {
      case 0: ExpectFailure(edgelm_session_append_text(slot.s, nullptr, 0), EDGELM_INVALID_ARGUMENT, "append_text(NULL)", slot.s); break;
      case 1: ExpectFailure(edgelm_session_append_tokens(slot.s, nullptr, 3), EDGELM_INVALID_ARGUMENT, "append_tokens(NULL, 3)", slot.s); break;
      case 2: {
        const bool null_role = rng_.Chance(0.5);
        ExpectFailure(edgelm_session_append_message(slot.s, null_role ? nullptr : "user", null_role && rng_.Chance(0.5) ? "x" : nullptr),
                      EDGELM_INVALID_ARGUMENT, "append_message(NULL)", slot.s);
        break;
      }
      case 3: ExpectFailure(edgelm_session_evaluate(slot.s, 0, nullptr, 10, &n), EDGELM_INVALID_ARGUMENT, "evaluate(NULL, 10)", slot.s); break;
      case 4: ExpectFailure(edgelm_session_evaluate(slot.s, 0, &f, 1, nullptr), EDGELM_INVALID_ARGUMENT, "evaluate(NULL n_logits)", slot.s); break;
      case 5: ExpectFailure(edgelm_session_save_state(slot.s, nullptr, 10, &n), EDGELM_INVALID_ARGUMENT, "save_state(NULL, 10)", slot.s); break;
      case 6: ExpectFailure(edgelm_session_restore_state(slot.s, nullptr, 10), EDGELM_INVALID_ARGUMENT, "restore_state(NULL, 10)", slot.s); break;
      case 7: ExpectFailure(edgelm_session_fork(slot.s, nullptr), EDGELM_INVALID_ARGUMENT, "fork(NULL out)", nullptr); break;
      case 8: ExpectFailure(edgelm_session_save_file(slot.s, nullptr), EDGELM_INVALID_ARGUMENT, "save_file(NULL)", slot.s); break;
      case 9: ExpectFailure(edgelm_session_restore_file(slot.s, nullptr), EDGELM_INVALID_ARGUMENT, "restore_file(NULL)", slot.s); break;
      case 10: ExpectFailure(edgelm_session_get_stats(slot.s, nullptr), EDGELM_INVALID_ARGUMENT, "get_stats(NULL)", slot.s); break;
      case 11: ExpectFailure(edgelm_session_score(slot.s, nullptr, 2, nullptr, nullptr), EDGELM_INVALID_ARGUMENT, "score(NULL, 2)", slot.s); break;
    }
    CheckPending(slot, "NULL arguments");
    Count("misuse.null_argument");
  }

  void BadModelLoads() {
    edgelm_model* m = reinterpret_cast<edgelm_model*>(this);
    edgelm_model_options o;
    edgelm_model_options_init(&o);
    switch (rng_.Int(0, 6)) {
      case 0: ExpectFailure(edgelm_model_load(nullptr, nullptr, &m), EDGELM_INVALID_ARGUMENT, "model_load(NULL path)", nullptr); break;
      case 1: ExpectFailure(edgelm_model_load(g_config.model.c_str(), nullptr, nullptr), EDGELM_INVALID_ARGUMENT, "model_load(NULL out)", nullptr); return;
      case 2: ExpectFailure(edgelm_model_load("/nonexistent/edgelm-soak.edgelm", nullptr, &m), EDGELM_NOT_FOUND, "model_load(missing)", nullptr); break;
      case 3:
        o.num_threads = -1;
        ExpectFailure(edgelm_model_load(g_config.model.c_str(), &o, &m), EDGELM_INVALID_ARGUMENT, "model_load(num_threads -1)", nullptr);
        break;
      case 4:
        o.linear_engine = rng_.Chance(0.5) ? 3 : -1;
        ExpectFailure(edgelm_model_load(g_config.model.c_str(), &o, &m), EDGELM_INVALID_ARGUMENT, "model_load(linear_engine)", nullptr);
        break;
      case 5:
        o.verify_weights = 3;
        ExpectFailure(edgelm_model_load(g_config.model.c_str(), &o, &m), EDGELM_INVALID_ARGUMENT, "model_load(verify_weights)", nullptr);
        break;
      case 6:
        o.max_memory_bytes = 4096;
        ExpectFailure(edgelm_model_load(g_config.model.c_str(), &o, &m), EDGELM_OUT_OF_MEMORY, "model_load(tiny budget)", nullptr);
        break;
    }
    Expect(m == nullptr, "a refused model_load left a handle");
    Count("misuse.bad_model_load");
  }

  // A fresh session fed the shadow's history gives bit-identical logits: the shadow's tokens are
  // the session's, and its KV cache is what those tokens make (after rewinds, forks, restores and
  // the overflow policy's re-prefills alike).
  // With `on_fork`, the check runs on a fork and leaves the session and this thread's sequence as
  // they were (--paranoid).
  void Replay(Slot& slot, const char* what, edgelm_model* model = nullptr, bool on_fork = false) {
    if (slot.sh.tokens.empty()) return;
    Rng side(static_cast<uint64_t>(step_), 77);
    Rng& rng = on_fork ? side : rng_;
    edgelm_session_options o = Compatible(slot.sh.opt, &rng);
    o.context_length = std::max<int>(static_cast<int>(slot.sh.size()), rng.Int(16, 1024));
    o.context_length = std::min(o.context_length, f_.max_context);
    static const std::vector<int> chunks = {1, 4, 16, 64, 128, 512};
    o.prefill_chunk = rng.Pick(chunks);
    Slot fork;
    if (on_fork) fork.s = Fork(slot, &fork.sh);
    Slot fresh;
    fresh.sh.opt = o;
    fresh.s = NewSession(o, model);
    ExpectStatus(edgelm_session_append_tokens(fresh.s, slot.sh.tokens.data(), slot.sh.size()), EDGELM_OK, "replay append");
    fresh.sh.tokens = slot.sh.tokens;
    Tick();
    const std::vector<float> want = LastLogits(fresh, "replay logits");
    Tick();
    const std::vector<float> got = LastLogits(on_fork ? fork : slot, what);
    edgelm_session_free(fork.s);
    if (std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) != 0) {
      size_t first = 0;
      while (want[first] == got[first]) ++first;
      Fail(Fmt("%s: the session's logits differ from a fresh session fed its %zu-token history %s (logit %zu: %g vs %g)",
               what, slot.sh.size(), TokensText(slot.sh.tokens).c_str(), first, got[first], want[first]));
    }
    if (!on_fork) digest_ = Fnv(got.data(), got.size() * sizeof(float), digest_);
    edgelm_session_free(fresh.s);
  }

  // A second handle of the model file, with other options: sessions on it (one outliving it) agree
  // with the shared model when both run the same kernels.
  void SecondModel() {
    Count("second_model");
    edgelm_model_options o;
    edgelm_model_options_init(&o);
    o.num_threads = rng_.Int(1, 2);
    if (kOneThreadPools) o.num_threads = 1;
    o.populate = rng_.Chance(0.3);
    o.linear_engine = rng_.Int(0, 2);
    o.verify_weights = rng_.Int(0, 2);
    edgelm_model* m = nullptr;
    Tick();
    const edgelm_status st = edgelm_model_load(g_config.model.c_str(), &o, &m);
    if (st != EDGELM_OK) Fail(Fmt("loading a second handle (engine %d, verify %d) returned %s: %s", o.linear_engine,
                                  o.verify_weights, StatusName(st), edgelm_last_error()));
    Tick();
    edgelm_model_info info;
    edgelm_model_info_init(&info);
    ExpectStatus(edgelm_model_get_info(m, &info), EDGELM_OK, "get_info(second handle)");
    Expect(info.vocab_size == f_.vocab && info.bos_token == f_.bos && info.n_stop_tokens == static_cast<int>(f_.stops.size()),
           "the second handle describes another model");
    if (o.verify_weights == EDGELM_VERIFY_AT_LOAD) Expect(info.weights_verified == 1 || info.weights_verified == -1, "weights_verified after AT_LOAD");
    Expect(info.weights_verified != 2, "a damaged tensor was found in the bundled model");
    const bool same_kernels = info.xnnpack_linears == 0;
    Slot& donor = slots_[rng_.Next() % slots_.size()];
    Slot other;
    other.sh.opt = Compatible(donor.sh.opt);
    other.sh.opt.overflow = donor.sh.opt.overflow;  // a state does not carry the overflow policy
    other.sh.opt.sink_tokens = donor.sh.opt.sink_tokens;
    other.s = NewSession(other.sh.opt, m);
    if (rng_.Chance(0.5)) {  // the session keeps the model alive
      edgelm_model_free(m);
      m = nullptr;
      Count("second_model.freed_first");
    }
    // A state saved on the shared model restores on this handle (the same file).
    const std::vector<uint8_t> bytes = SaveState(donor, "save_state for the second handle");
    const edgelm_status rst = edgelm_session_restore_state(other.s, bytes.data(), bytes.size());
    if (rst != EDGELM_OK) Fail(Fmt("restore_state on a second handle returned %s: %s", StatusName(rst), edgelm_last_error()));
    other.sh.tokens = donor.sh.tokens;
    other.sh.kv = donor.sh.kv;
    other.sh.kv_known = donor.sh.kv_known;
    other.sh.Restored();
    other.sh.awaiting = donor.sh.awaiting;
    other.sh.turn_open = donor.sh.turn_open;
    other.sh.valid = false;
    CheckCount(other, "restore on the second handle");
    if (same_kernels && !donor.sh.tokens.empty()) {
      Slot fork;
      fork.s = Fork(donor, &fork.sh);
      SameContinuation(other, &fork, RandomGenerateOptions(rng_.Chance(0.5)), "the same continuation on a second handle");
      edgelm_session_free(fork.s);
    } else {
      GenSpec spec;
      spec.opt = RandomGenerateOptions(false);
      GenCall call;
      Generate(other, spec, &call, "generate on a second handle");
    }
    if (same_kernels && rng_.Chance(0.5)) Replay(other, "replay on the second handle", m);
    edgelm_session_free(other.s);
    edgelm_model_free(m);
  }

  void SwapLogCallback() {
    static int flip = 0;
    flip ^= 1;
    edgelm_set_log_callback(flip ? OnLogQuiet : OnLog, &g_log_messages, flip ? EDGELM_LOG_WARN : EDGELM_LOG_DEBUG);
  }

  // What generate options point to (stop strings, logit bias), kept for the last few options made.
  struct GenExtras {
    std::vector<std::string> stops;
    std::vector<const char*> stop_ptrs;
    std::vector<int32_t> bias_tokens;
    std::vector<float> bias_values;
  };
  GenExtras& NewExtras() {
    extras_.emplace_back();
    if (extras_.size() > 16) extras_.pop_front();
    return extras_.back();
  }

  int index_;
  Rng rng_;
  std::mt19937_64 racy_rng_{std::random_device{}()};  // delays of the racing cancels (not reproducible)
  edgelm_model* model_;
  const Facts& f_;
  Progress* progress_;
  Canceller canceller_;
  std::vector<Slot> slots_;
  std::string state_path_;
  long step_ = 0;
  const char* kind_ = "";
  uint64_t digest_ = 0xcbf29ce484222325ull;
  std::map<std::string, uint64_t> counts_;
  std::deque<GenExtras> extras_;
};

// ---- Setup ---------------------------------------------------------------------------------------

[[noreturn]] void SetupFailure(const std::string& what, bool with_error = true) {
  std::fprintf(stdout, "SOAK FAILURE seed=%" PRIu64 " thread=-1 step=0: %s", g_config.seed, what.c_str());
  if (with_error) std::fprintf(stdout, " (%s)", edgelm_last_error());
  std::fprintf(stdout, "\n");
  std::exit(1);
}

Facts LearnFacts(edgelm_model* m) {
  Facts f;
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  if (edgelm_model_get_info(m, &info) != EDGELM_OK) SetupFailure("edgelm_model_get_info");
  if (!info.has_tokenizer) SetupFailure("the soak needs a model with a tokenizer");
  f.vocab = info.vocab_size;
  f.bos = info.bos_token;
  f.eos = info.eos_token;
  f.turn_start = info.turn_start_token;
  f.turn_end = info.turn_end_token;
  f.max_context = info.max_context > 0 ? info.max_context : 4096;
  f.stops.assign(info.stop_tokens, info.stop_tokens + info.n_stop_tokens);
  f.chat = info.chat_template && info.chat_template[0];
  // Control tokens (pad too, which model info does not name; a generation can sample it): pieces
  // that special-token parsing turns back into the token while plain tokenization does not.
  f.control.assign(static_cast<size_t>(f.vocab), false);
  for (int32_t t = 0; t < f.vocab; ++t) {
    size_t bytes = 0;
    char piece[64];
    if (edgelm_detokenize(m, &t, 1, piece, sizeof piece, &bytes) != EDGELM_OK || bytes < 3 || piece[0] != '<') continue;
    std::vector<int32_t> special, plain;
    if (Tokenize(m, std::string(piece, bytes), false, true, &special) != EDGELM_OK ||
        Tokenize(m, std::string(piece, bytes), false, false, &plain) != EDGELM_OK)
      SetupFailure("tokenize a piece");
    f.control[static_cast<size_t>(t)] = special == std::vector<int32_t>{t} && plain != special;
  }
  for (int t : {f.bos, f.eos, f.turn_start, f.turn_end})
    if (t >= 0 && !f.IsControl(t)) SetupFailure("a named control token was not recognised as one");
  if (Tokenize(m, "\n", false, false, &f.newline) != EDGELM_OK) SetupFailure("tokenize newline");
  if (Tokenize(m, "model\n", false, false, &f.generation_prompt) != EDGELM_OK) SetupFailure("tokenize prompt");
  f.generation_prompt.insert(f.generation_prompt.begin(), f.turn_start);
  // The sliding window: with chunks of one token, a session of context C keeps a ring iff the window
  // is less than C, and then a rewind by two tokens re-prefills from the start.
  auto ring = [&](int context) {
    edgelm_session_options o;
    edgelm_session_options_init(&o);
    o.context_length = context;
    o.prefill_chunk = 1;
    edgelm_session* s = nullptr;
    if (edgelm_session_create(m, &o, &s) != EDGELM_OK) SetupFailure("session_create");
    const int32_t ids[3] = {f.bos >= 0 ? f.bos : 1, 10, 11};
    std::vector<float> logits(static_cast<size_t>(f.vocab));
    size_t n = 0;
    if (edgelm_session_append_tokens(s, ids, 3) != EDGELM_OK ||
        edgelm_session_evaluate(s, 0, logits.data(), logits.size(), &n) != EDGELM_OK || edgelm_session_rewind(s, 1) != EDGELM_OK)
      SetupFailure("the rewind probe");
    edgelm_session_evaluate(s, 1, nullptr, 0, &n);
    edgelm_session_free(s);
    return n == static_cast<size_t>(f.vocab);
  };
  if (ring(f.max_context)) {
    int lo = 3, hi = f.max_context;  // ring(hi); find the smallest such context
    if (ring(lo)) SetupFailure("a ring at context 3");
    while (hi - lo > 1) {
      const int mid = lo + (hi - lo) / 2;
      (ring(mid) ? hi : lo) = mid;
    }
    f.window = hi - 1;
  }
  return f;
}

// Regression checks (found by this soak): rewinds the sliding window's ring allows must leave the
// logits exactly those of a fresh session with the same tokens. Two bugs were behind this:
// - a rewind to exactly (processed - prefill_chunk) tokens recomputed the last kept token with a
//   ring row already overwritten (the floor allowed one token too deep);
// - the floor counted from the current length, so a second rewind after a shallow one (or a rewind
//   after restoring a state saved after a shallow one) reached rows overwritten before the first.
void RewindRecompute(edgelm_model* m, const Facts& f) {
  // Deterministic and on one thread: nothing for ThreadSanitizer, and slow under it.
  if (f.window <= 0 || kOneThreadPools) return;
  for (int chunk : {1, 8}) {
    edgelm_session_options o;
    edgelm_session_options_init(&o);
    o.prefill_chunk = chunk;
    o.num_threads = 1;
    o.context_length = std::min(f.max_context, f.window + 2 * chunk + 16);
    const int length = f.window + chunk + 4;  // the ring (window + chunk - 1 slots) has wrapped
    const size_t vocab = static_cast<size_t>(f.vocab);
    std::vector<int32_t> ids(1, f.bos >= 0 ? f.bos : 1);
    Rng rng(99, static_cast<uint64_t>(chunk));
    while (static_cast<int>(ids.size()) < length) ids.push_back(rng.Int(0, f.vocab - 1));
    // Every prefix's logits from one fresh session, and a base session to fork for each case.
    std::vector<float> reference(static_cast<size_t>(length) * vocab), logits(vocab);
    edgelm_session *fresh = nullptr, *base = nullptr;
    size_t n = 0;
    if (edgelm_session_create(m, &o, &fresh) != EDGELM_OK || edgelm_session_create(m, &o, &base) != EDGELM_OK ||
        edgelm_session_append_tokens(fresh, ids.data(), ids.size()) != EDGELM_OK ||
        edgelm_session_evaluate(fresh, 1, reference.data(), reference.size(), &n) != EDGELM_OK ||
        edgelm_session_append_tokens(base, ids.data(), ids.size()) != EDGELM_OK ||
        edgelm_session_evaluate(base, 0, logits.data(), logits.size(), &n) != EDGELM_OK)
      SetupFailure("the rewind regression check");
    edgelm_session_free(fresh);
    // Rewinds to each length in `cuts` in turn (after a save and restore before the last, if asked),
    // then compares the logits with the fresh session's.
    auto check = [&](const std::vector<int>& cuts, bool restore) {
      edgelm_session* a = nullptr;
      bool ok = edgelm_session_fork(base, &a) == EDGELM_OK;
      for (size_t i = 0; ok && i < cuts.size(); ++i) {
        if (restore && i + 1 == cuts.size()) {
          std::vector<uint8_t> state;
          ok = edgelm_session_save_state(a, nullptr, 0, &n) == EDGELM_BUFFER_TOO_SMALL;
          state.resize(n);
          ok = ok && edgelm_session_save_state(a, state.data(), state.size(), &n) == EDGELM_OK;
          edgelm_session_free(a);
          a = nullptr;
          ok = ok && edgelm_session_create(m, &o, &a) == EDGELM_OK &&
               edgelm_session_restore_state(a, state.data(), state.size()) == EDGELM_OK;
        }
        ok = ok && edgelm_session_rewind(a, static_cast<size_t>(cuts[i])) == EDGELM_OK;
      }
      ok = ok && edgelm_session_evaluate(a, 0, logits.data(), logits.size(), &n) == EDGELM_OK;
      edgelm_session_free(a);
      if (!ok) SetupFailure("the rewind regression check");
      if (std::memcmp(logits.data(), reference.data() + static_cast<size_t>(cuts.back() - 1) * vocab, vocab * sizeof(float)) != 0) {
        std::string what;
        for (int c : cuts) what += " -> " + std::to_string(c);
        SetupFailure(Fmt("logits after rewinding %d processed tokens%s%s (prefill chunk %d) differ from a fresh session's",
                         length, restore ? " (saved and restored before the last)" : "", what.c_str(), chunk),
                     false);
      }
    };
    for (int back = chunk - 1; back <= chunk + 1; ++back)
      if (back > 0) check({length - back}, false);
    for (int restore = 0; restore < 2; ++restore) {
      const int first = length - std::max(1, chunk / 2);
      for (int back = chunk - 2; back <= chunk; ++back)
        if (back > 0) check({first, first - back}, restore != 0);
    }
    edgelm_session_free(base);
  }
}

// Regression check (found by this soak under UBSan): the state of a session that never held a token
// went through fwrite/fread with a null pointer. Saved to a file and restored.
void EmptyStateFile(edgelm_model* m) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/edgelm-soak-" + std::to_string(getpid()) + "-empty.state";
  edgelm_session *a = nullptr, *b = nullptr;
  const bool ok = edgelm_session_create(m, nullptr, &a) == EDGELM_OK && edgelm_session_create(m, nullptr, &b) == EDGELM_OK &&
                  edgelm_session_save_file(a, path.c_str()) == EDGELM_OK && edgelm_session_restore_file(b, path.c_str()) == EDGELM_OK &&
                  edgelm_session_token_count(b) == 0;
  edgelm_session_free(a);
  edgelm_session_free(b);
  std::remove(path.c_str());
  if (!ok) SetupFailure("an empty session saved to a file does not restore");
}

// Best effort on a crash (not under sanitizers, which report their own): the seed and where each
// thread was.
void OnCrash(int sig);
#ifdef SOAK_DEATH_CALLBACK
void OnSanitizerDeath() { OnCrash(0); }
#endif

void OnCrash(int sig) {
  char buf[256];
  auto put = [&](const char* s) { (void)!write(2, s, std::strlen(s)); };
  auto num = [&](uint64_t v) {
    char* p = buf + sizeof buf - 1;
    *p = 0;
    do *--p = static_cast<char>('0' + v % 10); while (v /= 10);
    put(p);
  };
  if (sig) {
    put("SOAK CRASH signal=");
    num(static_cast<uint64_t>(sig));
  } else {
    put("SOAK CRASH (sanitizer report above)");
  }
  put(" seed=");
  num(g_config.seed);
  for (int i = 0; i < g_n_progress; ++i) {
    put(" thread=");
    num(static_cast<uint64_t>(g_progress[i].index.load()));
    put(":step=");
    num(static_cast<uint64_t>(g_progress[i].step.load()));
    put(":");
    put(g_progress[i].kind.load());
  }
  put("\n");
  if (sig == 0) return;  // a sanitizer's report: it exits itself
  signal(sig, SIG_DFL);
  raise(sig);
}

void Usage() {
  std::fprintf(stderr,
               "usage: edgelm-soak [--seed S] [--seconds T | --steps N] [--threads M] [--sessions N] [--model PATH]\n"
               "                   [--thread-index I] [--trace] [--paranoid] [--dump-at K] [--hang-seconds H]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  g_argv0 = argv[0];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage();
      return argv[++i];
    };
    if (a == "--seed") g_config.seed = std::strtoull(value(), nullptr, 0);
    else if (a == "--seconds") g_config.seconds = std::atof(value());
    else if (a == "--steps") g_config.steps = std::atol(value());
    else if (a == "--threads") g_config.threads = std::atoi(value());
    else if (a == "--sessions") g_config.sessions = std::atoi(value());
    else if (a == "--model") g_config.model = value();
    else if (a == "--thread-index") g_config.thread_index = std::atoi(value());
    else if (a == "--hang-seconds") g_config.hang_seconds = std::atof(value());
    else if (a == "--trace") g_config.trace = true;
    else if (a == "--paranoid") g_config.paranoid = true;
    else if (a == "--dump-at") g_config.dump_at = std::atol(value());
    else Usage();
  }
  if (g_config.seconds <= 0 && g_config.steps <= 0) g_config.steps = 200;
  if (g_config.thread_index >= 0) g_config.threads = 1;
  if (g_config.threads < 1 || g_config.sessions < 1) Usage();

  std::printf("edgelm-soak %s: seed=%" PRIu64 " threads=%d sessions=%d %s=%g model=%s%s\n", edgelm_version(), g_config.seed,
              g_config.threads, g_config.sessions, g_config.seconds > 0 ? "seconds" : "steps",
              g_config.seconds > 0 ? g_config.seconds : static_cast<double>(g_config.steps), g_config.model.c_str(),
              g_config.thread_index >= 0 ? (" thread-index=" + std::to_string(g_config.thread_index)).c_str() : "");
  std::fflush(stdout);

  g_n_progress = g_config.threads;
  g_progress = new Progress[static_cast<size_t>(g_n_progress)];
#ifndef SOAK_SANITIZED
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, OnCrash);
#elif defined(SOAK_DEATH_CALLBACK)
  __sanitizer_set_death_callback(OnSanitizerDeath);
#endif
  edgelm_set_log_callback(OnLog, &g_log_messages, EDGELM_LOG_DEBUG);

  const auto setup_start = std::chrono::steady_clock::now();
  edgelm_model_options mo;
  edgelm_model_options_init(&mo);
  mo.num_threads = kOneThreadPools ? 1 : 1 + static_cast<int>(g_config.seed % 2);
  edgelm_model* model = nullptr;
  if (edgelm_model_load(g_config.model.c_str(), &mo, &model) != EDGELM_OK) SetupFailure("loading " + g_config.model);
  const Facts facts = LearnFacts(model);
  RewindRecompute(model, facts);
  EmptyStateFile(model);
  std::printf("model: vocab %d, max context %d, sliding window %d, chat template %s, %zu stop tokens (setup %.1f s)\n",
              facts.vocab, facts.max_context, facts.window, facts.chat ? "yes" : "no", facts.stops.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count());

  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(static_cast<long>(g_config.seconds * 1000));
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < g_config.threads; ++t)
    workers.emplace_back(new Worker(g_config.thread_index >= 0 ? g_config.thread_index : t, model, facts, &g_progress[t]));
  std::vector<std::thread> threads;
  for (int t = 0; t < g_config.threads; ++t)
    threads.emplace_back([&, t] { workers[static_cast<size_t>(t)]->Run(g_config.steps, deadline, g_config.seconds > 0); });

  // Watchdog: a thread whose ticks stop moving is hung.
  std::vector<uint64_t> last(static_cast<size_t>(g_config.threads), ~0ull);
  std::vector<std::chrono::steady_clock::time_point> since(static_cast<size_t>(g_config.threads), start);
  for (;;) {
    bool all_done = true;
    for (int t = 0; t < g_config.threads; ++t) {
      Progress& p = g_progress[t];
      if (std::strcmp(p.kind.load(), "done") == 0) continue;
      all_done = false;
      const uint64_t ticks = p.ticks.load();
      const auto now = std::chrono::steady_clock::now();
      if (ticks != last[static_cast<size_t>(t)]) {
        last[static_cast<size_t>(t)] = ticks;
        since[static_cast<size_t>(t)] = now;
      } else if (std::chrono::duration<double>(now - since[static_cast<size_t>(t)]).count() > g_config.hang_seconds) {
        std::lock_guard<std::mutex> lock(g_print_mutex);
        std::fprintf(stdout, "SOAK FAILURE seed=%" PRIu64 " thread=%d step=%ld: no progress for %g s in %s (hang)\n",
                     g_config.seed, p.index.load(), p.step.load(), g_config.hang_seconds, p.kind.load());
        std::fprintf(stdout, "replay this thread alone: %s --seed %" PRIu64 " --sessions %d --thread-index %d --steps %ld\n",
                     g_argv0.c_str(), g_config.seed, g_config.sessions, p.index.load(), p.step.load() + 1);
        std::fflush(stdout);
        std::_Exit(1);
      }
    }
    if (all_done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::map<std::string, uint64_t> counts;
  long steps = 0;
  uint64_t digest = 0xcbf29ce484222325ull;
  for (auto& w : workers) {
    steps += w->steps();
    for (const auto& kv : w->counts()) counts[kv.first] += kv.second;
    const uint64_t d = w->digest();
    digest = Fnv(&d, sizeof d, digest);
  }
  std::printf("steps: %ld in %.1f s\n", steps, elapsed);
  for (auto& w : workers) std::printf("  thread %d: %ld steps, digest %016" PRIx64 "\n", w->index(), w->steps(), w->digest());
  std::printf("calls per kind:\n");
  for (const auto& kv : counts) std::printf("  %-28s %" PRIu64 "\n", kv.first.c_str(), kv.second);
  std::printf("log messages: debug %ld, info %ld, warn %ld, error %ld\n", g_log_messages[0].load(), g_log_messages[1].load(),
              g_log_messages[2].load(), g_log_messages[3].load());
  std::printf("digest %016" PRIx64 "\n", digest);
  const long bad_logs = g_log_bad.load();
  workers.clear();
  edgelm_model_free(model);
  edgelm_set_log_callback(nullptr, nullptr, EDGELM_LOG_ERROR);
  if (bad_logs) {
    std::printf("SOAK FAILURE seed=%" PRIu64 " thread=-1 step=%ld: %ld malformed log callbacks\n", g_config.seed, steps, bad_logs);
    return 1;
  }
  std::printf("failures: 0\n");
  return 0;
}
