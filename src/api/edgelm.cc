// The C API: thin, exception-free wrappers over the C++ runtime.
#include "edgelm/edgelm.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "format/model_file.h"
#include "model/gemma4.h"
#include "model/gemma4_tensors.h"
#include "runtime/chat_template.h"
#include "runtime/memory_budget.h"
#include "runtime/session.h"
#include "runtime/tokenizer.h"

// Every handle starts with a tag naming its kind, so that a session passed as a model (or the
// reverse) is rejected instead of misread.
enum class HandleTag : uint32_t { kModel = 0x4d4c4445, kSession = 0x534c4445 };

struct edgelm_model {
  const HandleTag tag = HandleTag::kModel;
  std::shared_ptr<const edgelm::ModelFile> file;
  std::unique_ptr<edgelm::Gemma4Model> model;
  std::unique_ptr<edgelm::Tokenizer> tokenizer;    // null when the file has none
  std::unique_ptr<edgelm::ChatTemplate> chat;      // null without a chat template
  std::string recipe;
};

struct edgelm_session {
  const HandleTag tag = HandleTag::kSession;
  std::unique_ptr<edgelm::Session> session;
  mutable std::string error;  // set by const calls too (fork, save)
};

// Standard layout puts the tag first, where HasTag reads it.
static_assert(std::is_standard_layout_v<edgelm_model> && std::is_standard_layout_v<edgelm_session>,
              "handles must start with their tag");

namespace {

using edgelm::Status;
using edgelm::StatusCode;

thread_local std::string g_last_error;

edgelm_status Report(const Status& s, const edgelm_session* session = nullptr) {
  if (s.ok()) return EDGELM_OK;
  g_last_error = s.message();
  if (session) session->error = s.message();
  return static_cast<edgelm_status>(s.code());
}

edgelm_status Fail(edgelm_status code, const char* message, const edgelm_session* session = nullptr) {
  return Report(Status(static_cast<StatusCode>(code), message), session);
}

// Runs `body` (returning edgelm_status), turning any C++ exception into a status.
template <typename Body>
edgelm_status Guard(const edgelm_session* session, Body body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Fail(EDGELM_OUT_OF_MEMORY, "out of memory", session);
  } catch (const std::exception& e) {
    return Report(Status(StatusCode::kInternal, e.what()), session);
  } catch (...) {
    return Fail(EDGELM_INTERNAL, "unknown internal error", session);
  }
}

// Reads the tag as bytes: `handle` may point to the other kind of object.
bool HasTag(const void* handle, HandleTag tag) {
  if (!handle) return false;
  HandleTag found;
  std::memcpy(&found, handle, sizeof found);
  return found == tag;
}
bool IsModel(const edgelm_model* model) { return HasTag(model, HandleTag::kModel); }
bool IsSession(const edgelm_session* session) { return HasTag(session, HandleTag::kSession); }

template <typename T>
bool SizeOk(const T* options) {
  return options->struct_size >= sizeof(uint32_t) && options->struct_size <= sizeof(T);
}

// Reads field `member` of a caller's option struct only if the caller's struct_size covers it.
#define EDGELM_FIELD_OR(options, member, fallback)                                             \
  ((options)->struct_size >= offsetof(std::remove_pointer_t<decltype(options)>, member) +     \
                                 sizeof((options)->member)                                    \
       ? (options)->member                                                                    \
       : (fallback))

// Refuses a model that needs more than `budget` bytes (0 = no limit): the weights decoding keeps
// resident, as edgelm-inspect --estimate counts them, plus the tokenizer's heap.
edgelm::Status CheckModelMemory(const edgelm::ModelFile& file, uint64_t budget) {
  if (budget == 0) return edgelm::Status::Ok();
  edgelm::WeightBytes weights;
  const edgelm::Status summed = edgelm::SumWeightBytes(
      edgelm::Gemma4TensorManifest(file.config()),
      [&file](const edgelm::TensorInfo& t, edgelm::DType* dtype) {
        const edgelm::TensorView* stored = file.FindTensor(t.name);
        if (stored) *dtype = stored->dtype;
        return stored != nullptr;  // a missing tensor is reported when the graph binds
      },
      &weights);
  if (!summed.ok()) return edgelm::Status(summed.code(), file.path() + ": " + summed.message());
  const edgelm::TokenizerData* tokenizer = file.tokenizer();
  const uint64_t heap = tokenizer ? tokenizer->HeapBytes() + edgelm::Tokenizer::EstimateHeapBytes(*tokenizer) : 0;
  return edgelm::CheckMemoryBudget(file.path(), weights.resident() + heap,
                                   edgelm::Megabytes(weights.resident()) + " resident weights + " +
                                       edgelm::Megabytes(heap) + " tokenizer; the " +
                                       edgelm::Megabytes(weights.ple_table) + " PLE table stays on flash",
                                   budget);
}

}  // namespace

extern "C" {

const char* edgelm_version(void) { return "0.1.0"; }

const char* edgelm_status_string(edgelm_status status) {
  switch (status) {
    case EDGELM_OK: return "ok";
    case EDGELM_INVALID_ARGUMENT: return "invalid argument";
    case EDGELM_NOT_FOUND: return "not found";
    case EDGELM_IO_ERROR: return "I/O error";
    case EDGELM_CORRUPT_MODEL: return "corrupt model";
    case EDGELM_UNSUPPORTED: return "unsupported";
    case EDGELM_OUT_OF_MEMORY: return "out of memory";
    case EDGELM_OUT_OF_RANGE: return "out of range";
    case EDGELM_CANCELLED: return "cancelled";
    case EDGELM_CONTEXT_FULL: return "context full";
    case EDGELM_INTERNAL: return "internal error";
    case EDGELM_BUFFER_TOO_SMALL: return "buffer too small";
  }
  return "unknown status";
}

const char* edgelm_last_error(void) { return g_last_error.c_str(); }

void edgelm_model_options_init(edgelm_model_options* options) {
  if (!options) return;
  *options = edgelm_model_options{};
  options->struct_size = sizeof *options;
}

edgelm_status edgelm_model_load(const char* path, const edgelm_model_options* options, edgelm_model** out) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!out) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_load: model out-pointer is NULL");
    *out = nullptr;
    if (!path) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_load: path is NULL");
    edgelm_model_options defaults;
    edgelm_model_options_init(&defaults);
    if (!options) options = &defaults;
    if (!SizeOk(options)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_load: options.struct_size is not set");
    const int threads = EDGELM_FIELD_OR(options, num_threads, 0);
    if (threads < 0 || threads > 1024) return Fail(EDGELM_INVALID_ARGUMENT, "num_threads must be in [0, 1024]");
    // Mapped lazily: only the header and metadata are read until the budget check passed.
    std::unique_ptr<edgelm::ModelFile> file;
    edgelm_status st = Report(edgelm::ModelFile::Open(path, &file));
    if (st != EDGELM_OK) return st;
    st = Report(CheckModelMemory(*file, EDGELM_FIELD_OR(options, max_memory_bytes, uint64_t{0})));
    if (st != EDGELM_OK) return st;
    if (EDGELM_FIELD_OR(options, populate, 0) != 0) file->Populate();
    auto m = std::make_unique<edgelm_model>();
    m->file = std::move(file);
    st = Report(edgelm::Gemma4Model::Create(m->file, &m->model, threads));
    if (st != EDGELM_OK) return st;
    if (const edgelm::TokenizerData* tok = m->file->tokenizer()) {
      st = Report(edgelm::Tokenizer::Create(*tok, &m->tokenizer));
      if (st != EDGELM_OK) return st;
      if (tok->chat_template == "gemma4") {
        st = Report(edgelm::ChatTemplate::Create(*m->tokenizer, edgelm::ChatTemplateOptions{}, &m->chat));
        if (st != EDGELM_OK) return st;
      }
    }
    const auto* q = m->file->metadata().quantization();
    m->recipe = q && q->recipe() ? q->recipe()->str() : "";
    *out = m.release();
    return EDGELM_OK;
  });
}

void edgelm_model_free(edgelm_model* model) {
  if (IsModel(model)) delete model;
}

void edgelm_model_info_init(edgelm_model_info* info) {
  if (!info) return;
  *info = edgelm_model_info{};
  info->struct_size = sizeof *info;
}

edgelm_status edgelm_model_get_info(const edgelm_model* model, edgelm_model_info* info) {
  if (!IsModel(model) || !info) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_get_info: NULL argument or not a model");
  if (!SizeOk(info)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_get_info: info.struct_size is not set");
  const edgelm::ModelConfig& c = model->model->config();
  edgelm_model_info full;
  full.struct_size = info->struct_size;
  full.family = c.family.c_str();
  full.recipe = model->recipe.c_str();
  full.vocab_size = c.vocab_size;
  full.hidden_size = c.hidden_size;
  full.num_layers = c.num_layers();
  full.num_heads = c.num_heads;
  full.max_context = c.max_position_embeddings;
  full.has_tokenizer = model->tokenizer != nullptr;
  full.file_bytes = model->file->file_size();
  full.weight_bytes_per_token = model->model->decode_weight_bytes();
  std::memcpy(info, &full, info->struct_size);
  return EDGELM_OK;
}

edgelm_status edgelm_tokenize(const edgelm_model* model, const char* text, size_t text_bytes, int add_bos,
                              int parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!IsModel(model) || (!text && text_bytes > 0) || !n_tokens || (!tokens && capacity > 0))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_tokenize: NULL argument or not a model");
    if (!model->tokenizer) return Fail(EDGELM_UNSUPPORTED, "this model has no tokenizer");
    edgelm::EncodeOptions options;
    options.add_bos = add_bos != 0;
    options.parse_special = parse_special != 0;
    std::vector<int> ids;
    const edgelm_status st = Report(model->tokenizer->Encode(std::string_view(text ? text : "", text_bytes), options, &ids));
    if (st != EDGELM_OK) return st;
    *n_tokens = ids.size();
    if (ids.size() > capacity) return Fail(EDGELM_BUFFER_TOO_SMALL, "edgelm_tokenize: token buffer too small");
    std::copy(ids.begin(), ids.end(), tokens);
    return EDGELM_OK;
  });
}

edgelm_status edgelm_detokenize(const edgelm_model* model, const int32_t* tokens, size_t n_tokens, char* text,
                                size_t capacity, size_t* text_bytes) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!IsModel(model) || (!tokens && n_tokens > 0) || !text_bytes || (!text && capacity > 0))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_detokenize: NULL argument or not a model");
    if (!model->tokenizer) return Fail(EDGELM_UNSUPPORTED, "this model has no tokenizer");
    std::string out;
    const edgelm_status st =
        Report(model->tokenizer->Decode(std::vector<int>(tokens, tokens + n_tokens), edgelm::DecodeOptions{}, &out));
    if (st != EDGELM_OK) return st;
    *text_bytes = out.size();
    if (out.size() + 1 > capacity) return Fail(EDGELM_BUFFER_TOO_SMALL, "edgelm_detokenize: text buffer too small");
    std::memcpy(text, out.c_str(), out.size() + 1);
    return EDGELM_OK;
  });
}

void edgelm_session_options_init(edgelm_session_options* options) {
  if (!options) return;
  *options = edgelm_session_options{};
  options->struct_size = sizeof *options;
  options->context_length = 4096;
  options->prefill_chunk = 128;
  options->kv_type = EDGELM_KV_INT8;
  options->overflow = EDGELM_OVERFLOW_ERROR;
  options->sink_tokens = 4;
}

edgelm_status edgelm_session_create(const edgelm_model* model, const edgelm_session_options* options,
                                    edgelm_session** out) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!out) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: session out-pointer is NULL");
    *out = nullptr;
    if (!IsModel(model)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: model is NULL or not a model");
    edgelm_session_options defaults;
    edgelm_session_options_init(&defaults);
    if (!options) options = &defaults;
    if (!SizeOk(options)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: options.struct_size is not set");
    const int kv_type = EDGELM_FIELD_OR(options, kv_type, defaults.kv_type);
    if (kv_type < EDGELM_KV_F32 || kv_type > EDGELM_KV_INT4)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: unknown kv_type");
    edgelm::SessionOptions so;
    so.context_length = EDGELM_FIELD_OR(options, context_length, defaults.context_length);
    so.prefill_chunk = EDGELM_FIELD_OR(options, prefill_chunk, defaults.prefill_chunk);
    so.kv_type = static_cast<edgelm::KvType>(kv_type);
    const int overflow = EDGELM_FIELD_OR(options, overflow, defaults.overflow);
    if (overflow < EDGELM_OVERFLOW_ERROR || overflow > EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: unknown overflow policy");
    so.overflow = static_cast<edgelm::OverflowPolicy>(overflow);
    so.sink_tokens = EDGELM_FIELD_OR(options, sink_tokens, defaults.sink_tokens);
    if (so.sink_tokens < 0) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: sink_tokens must not be negative");
    so.max_memory_bytes = EDGELM_FIELD_OR(options, max_memory_bytes, defaults.max_memory_bytes);
    auto s = std::make_unique<edgelm_session>();
    const edgelm_status st = Report(edgelm::Session::Create(*model->model, model->tokenizer.get(), model->chat.get(), so, &s->session));
    if (st != EDGELM_OK) return st;
    *out = s.release();
    return EDGELM_OK;
  });
}

void edgelm_session_free(edgelm_session* session) {
  if (IsSession(session)) delete session;
}

const char* edgelm_session_error(const edgelm_session* session) { return IsSession(session) ? session->error.c_str() : ""; }

edgelm_status edgelm_session_append_message(edgelm_session* session, const char* role, const char* content) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_message: session is NULL or not a session");
  return Guard(session, [&]() -> edgelm_status {
    if (!role || !content) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_message: NULL role or content", session);
    return Report(session->session->AppendMessage(edgelm::ChatMessage{role, content}), session);
  });
}

edgelm_status edgelm_session_append_text(edgelm_session* session, const char* text, int parse_special) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_text: session is NULL or not a session");
  return Guard(session, [&]() -> edgelm_status {
    if (!text) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_text: text is NULL", session);
    return Report(session->session->AppendText(text, parse_special != 0), session);
  });
}

edgelm_status edgelm_session_append_tokens(edgelm_session* session, const int32_t* tokens, size_t n_tokens) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_tokens: session is NULL or not a session");
  return Guard(session, [&]() -> edgelm_status {
    if (!tokens && n_tokens > 0) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_tokens: tokens is NULL", session);
    std::vector<int> ids(tokens, tokens + n_tokens);
    return Report(session->session->AppendTokens(ids.data(), ids.size()), session);
  });
}

void edgelm_sampling_init(edgelm_sampling* sampling) {
  if (!sampling) return;
  const edgelm::SamplerParams d;
  *sampling = edgelm_sampling{};
  sampling->struct_size = sizeof *sampling;
  sampling->temperature = d.temperature;
  sampling->top_k = d.top_k;
  sampling->top_p = d.top_p;
  sampling->min_p = d.min_p;
  sampling->repetition_penalty = d.repetition_penalty;
  sampling->presence_penalty = d.presence_penalty;
  sampling->penalty_last_n = d.penalty_last_n;
  sampling->seed = d.seed;
}

void edgelm_generate_options_init(edgelm_generate_options* options) {
  if (!options) return;
  *options = edgelm_generate_options{};
  options->struct_size = sizeof *options;
  options->max_tokens = 256;
  edgelm_sampling_init(&options->sampling);
}

edgelm_status edgelm_session_generate(edgelm_session* session, const edgelm_generate_options* options,
                                      edgelm_token_callback callback, void* user_data) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: session is NULL or not a session");
  return Guard(session, [&]() -> edgelm_status {
    edgelm_generate_options defaults;
    edgelm_generate_options_init(&defaults);
    if (!options) options = &defaults;
    if (options->struct_size != sizeof *options || options->sampling.struct_size != sizeof options->sampling)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: options not initialized with edgelm_generate_options_init", session);
    edgelm::GenerateParams p;
    p.max_tokens = options->max_tokens;
    p.ignore_stop = options->ignore_stop != 0;
    const edgelm_sampling& s = options->sampling;
    p.sampling.temperature = s.temperature;
    p.sampling.top_k = s.top_k;
    p.sampling.top_p = s.top_p;
    p.sampling.min_p = s.min_p;
    p.sampling.repetition_penalty = s.repetition_penalty;
    p.sampling.presence_penalty = s.presence_penalty;
    p.sampling.penalty_last_n = s.penalty_last_n;
    p.sampling.seed = s.seed;
    edgelm::TokenCallback on_token;
    if (callback)
      on_token = [callback, user_data](int token, std::string_view text) {
        return callback(user_data, token, text.data(), text.size()) != 0;
      };
    return Report(session->session->Generate(p, on_token), session);
  });
}

void edgelm_session_cancel(edgelm_session* session) {
  if (IsSession(session)) session->session->Cancel();
}

edgelm_status edgelm_session_fork(const edgelm_session* session, edgelm_session** fork) {
  if (!fork) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_fork: fork out-pointer is NULL");
  *fork = nullptr;
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_fork: session is NULL or not a session");
  return Guard(session, [&]() -> edgelm_status {
    auto f = std::make_unique<edgelm_session>();
    const edgelm_status st = Report(session->session->Fork(&f->session), session);
    if (st == EDGELM_OK) *fork = f.release();
    return st;
  });
}

edgelm_status edgelm_session_save(const edgelm_session* session, const char* path) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_save: session is NULL or not a session");
  if (!path) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_save: path is NULL", session);
  return Guard(session, [&] { return Report(session->session->Save(path), session); });
}

edgelm_status edgelm_session_load(edgelm_session* session, const char* path) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_load: session is NULL or not a session");
  if (!path) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_load: path is NULL", session);
  return Guard(session, [&] { return Report(session->session->Load(path), session); });
}

edgelm_status edgelm_session_reset(edgelm_session* session) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_reset: session is NULL or not a session");
  session->session->Reset();
  return EDGELM_OK;
}

edgelm_status edgelm_session_rewind(edgelm_session* session, size_t n_tokens) {
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_rewind: session is NULL or not a session");
  return Report(session->session->Rewind(n_tokens), session);
}

size_t edgelm_session_token_count(const edgelm_session* session) {
  return IsSession(session) ? session->session->tokens().size() : 0;
}

void edgelm_stats_init(edgelm_stats* stats) {
  if (!stats) return;
  *stats = edgelm_stats{};
  stats->struct_size = sizeof *stats;
}

edgelm_status edgelm_session_get_stats(const edgelm_session* session, edgelm_stats* stats) {
  if (!IsSession(session) || !stats) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_get_stats: NULL argument or not a session");
  if (!SizeOk(stats)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_get_stats: stats.struct_size is not set");
  const edgelm::SessionStats& s = session->session->stats();
  edgelm_stats full;
  full.struct_size = stats->struct_size;
  full.prompt_tokens = s.prompt_tokens;
  full.generated_tokens = s.generated_tokens;
  full.prefill_tokens_per_s = s.prefill_seconds > 0 ? s.prompt_tokens / s.prefill_seconds : 0.0;
  // The first token comes from the prefill's logits, so decode speed counts the tokens after it.
  full.decode_tokens_per_s = s.decode_seconds > 0 && s.generated_tokens > 1 ? (s.generated_tokens - 1) / s.decode_seconds : 0.0;
  full.time_to_first_token_ms = s.time_to_first_token_seconds * 1000.0;
  full.kv_bytes = session->session->kv_bytes();
  full.context_tokens = static_cast<int64_t>(session->session->tokens().size());
  std::memcpy(stats, &full, stats->struct_size);
  return EDGELM_OK;
}

}  // extern "C"
