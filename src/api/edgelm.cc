// The C API: argument checks and conversions over the runtime (runtime/loaded_model.h,
// runtime/session.h). Every entry point that can throw runs its body inside Guard (noexcept), so no
// C++ exception crosses the boundary; the others only read fields or delete.
#include "edgelm/edgelm.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>

#include "common/log.h"
#include "runtime/json.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

// Every handle starts with a tag naming its kind, so that a session passed as a model (or the
// reverse) is rejected instead of misread. Freeing poisons the tag.
enum class HandleTag : uint32_t { kModel = 0x4d4c4445, kSession = 0x534c4445, kFreed = 0x44454552 };

struct edgelm_model {
  HandleTag tag = HandleTag::kModel;
  std::shared_ptr<const edgelm::LoadedModel> loaded;
};

struct edgelm_session {
  HandleTag tag = HandleTag::kSession;
  std::shared_ptr<const edgelm::LoadedModel> loaded;  // keeps the model alive (edgelm_model_free may come first)
  std::shared_ptr<const edgelm::LoadedModel> draft;   // the speculation's draft model, if any (likewise)
  // The only owner. Not unique_ptr: clang does not count libstdc++'s unique_ptr as standard layout.
  std::shared_ptr<edgelm::Session> session;
  mutable std::string error;  // set by const calls too (fork, save)
};

// Standard layout puts the tag first, where HasTag reads it.
static_assert(std::is_standard_layout_v<edgelm_model> && std::is_standard_layout_v<edgelm_session>,
              "handles must start with their tag");

// The C enums and their C++ twins share values.
#define EDGELM_SAME_VALUE(c_value, cpp_value) static_assert(static_cast<int>(c_value) == static_cast<int>(cpp_value), #c_value)
EDGELM_SAME_VALUE(EDGELM_OK, edgelm::StatusCode::kOk);
EDGELM_SAME_VALUE(EDGELM_INVALID_ARGUMENT, edgelm::StatusCode::kInvalidArgument);
EDGELM_SAME_VALUE(EDGELM_NOT_FOUND, edgelm::StatusCode::kNotFound);
EDGELM_SAME_VALUE(EDGELM_IO_ERROR, edgelm::StatusCode::kIoError);
EDGELM_SAME_VALUE(EDGELM_CORRUPT_MODEL, edgelm::StatusCode::kCorruptModel);
EDGELM_SAME_VALUE(EDGELM_UNSUPPORTED, edgelm::StatusCode::kUnsupported);
EDGELM_SAME_VALUE(EDGELM_OUT_OF_MEMORY, edgelm::StatusCode::kOutOfMemory);
EDGELM_SAME_VALUE(EDGELM_OUT_OF_RANGE, edgelm::StatusCode::kOutOfRange);
EDGELM_SAME_VALUE(EDGELM_CANCELLED, edgelm::StatusCode::kCancelled);
EDGELM_SAME_VALUE(EDGELM_CONTEXT_FULL, edgelm::StatusCode::kContextFull);
EDGELM_SAME_VALUE(EDGELM_INTERNAL, edgelm::StatusCode::kInternal);
EDGELM_SAME_VALUE(EDGELM_BUFFER_TOO_SMALL, edgelm::StatusCode::kBufferTooSmall);
EDGELM_SAME_VALUE(EDGELM_INVALID_OUTPUT, edgelm::StatusCode::kInvalidOutput);
EDGELM_SAME_VALUE(EDGELM_TOOL_CHOICE_AUTO, edgelm::ToolChoice::kAuto);
EDGELM_SAME_VALUE(EDGELM_TOOL_CHOICE_REQUIRED, edgelm::ToolChoice::kRequired);
EDGELM_SAME_VALUE(EDGELM_STOP_NONE, edgelm::StopReason::kNone);
EDGELM_SAME_VALUE(EDGELM_STOP_TOKEN, edgelm::StopReason::kStopToken);
EDGELM_SAME_VALUE(EDGELM_STOP_MAX_TOKENS, edgelm::StopReason::kMaxTokens);
EDGELM_SAME_VALUE(EDGELM_STOP_STRING, edgelm::StopReason::kStopString);
EDGELM_SAME_VALUE(EDGELM_STOP_CALLBACK, edgelm::StopReason::kCallback);
EDGELM_SAME_VALUE(EDGELM_STOP_TOOL_CALL, edgelm::StopReason::kToolCall);
EDGELM_SAME_VALUE(EDGELM_KV_F32, edgelm::KvType::kF32);
EDGELM_SAME_VALUE(EDGELM_KV_BF16, edgelm::KvType::kBF16);
EDGELM_SAME_VALUE(EDGELM_KV_INT8, edgelm::KvType::kInt8);
EDGELM_SAME_VALUE(EDGELM_KV_INT4, edgelm::KvType::kInt4);
EDGELM_SAME_VALUE(EDGELM_OVERFLOW_ERROR, edgelm::OverflowPolicy::kError);
EDGELM_SAME_VALUE(EDGELM_OVERFLOW_DROP_OLDEST_TURNS, edgelm::OverflowPolicy::kDropOldestTurns);
EDGELM_SAME_VALUE(EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT, edgelm::OverflowPolicy::kKeepSinkAndRecent);
EDGELM_SAME_VALUE(EDGELM_LOG_DEBUG, edgelm::LogLevel::kDebug);
EDGELM_SAME_VALUE(EDGELM_LOG_INFO, edgelm::LogLevel::kInfo);
EDGELM_SAME_VALUE(EDGELM_LOG_WARN, edgelm::LogLevel::kWarn);
EDGELM_SAME_VALUE(EDGELM_LOG_ERROR, edgelm::LogLevel::kError);
EDGELM_SAME_VALUE(EDGELM_LINEAR_ENGINE_AUTO, edgelm::LinearEngine::kAuto);
EDGELM_SAME_VALUE(EDGELM_LINEAR_ENGINE_EDGELM, edgelm::LinearEngine::kEdgelm);
EDGELM_SAME_VALUE(EDGELM_LINEAR_ENGINE_XNNPACK, edgelm::LinearEngine::kXnnpack);
EDGELM_SAME_VALUE(EDGELM_SPECULATION_NONE, edgelm::SpeculationMode::kNone);
EDGELM_SAME_VALUE(EDGELM_SPECULATION_PROMPT_LOOKUP, edgelm::SpeculationMode::kPromptLookup);
EDGELM_SAME_VALUE(EDGELM_SPECULATION_DRAFT_MODEL, edgelm::SpeculationMode::kDraftModel);
EDGELM_SAME_VALUE(EDGELM_VERIFY_NONE, edgelm::LoadOptions::Verify::kNone);
EDGELM_SAME_VALUE(EDGELM_VERIFY_AT_LOAD, edgelm::LoadOptions::Verify::kAtLoad);
EDGELM_SAME_VALUE(EDGELM_VERIFY_BACKGROUND, edgelm::LoadOptions::Verify::kBackground);
#undef EDGELM_SAME_VALUE

namespace {

using edgelm::Status;
using edgelm::StatusCode;

thread_local std::string g_last_error;

edgelm_status Report(const Status& s, const edgelm_session* session = nullptr) {
  if (s.ok()) return EDGELM_OK;
  g_last_error = s.message();
  if (session) session->error = s.message();
  edgelm::Log(edgelm::LogLevel::kDebug, s.message());
  return static_cast<edgelm_status>(s.code());
}

edgelm_status Fail(edgelm_status code, const char* message, const edgelm_session* session = nullptr) {
  return Report(Status(static_cast<StatusCode>(code), message), session);
}

// Runs `body` (returning edgelm_status), turning any C++ exception into a status. Recording the
// message can itself throw bad_alloc; then only the status is returned.
template <typename Body>
edgelm_status Guard(const edgelm_session* session, Body body) noexcept {
  try {
    try {
      return body();
    } catch (const std::bad_alloc&) {
      return Fail(EDGELM_OUT_OF_MEMORY, "out of memory", session);
    } catch (const std::exception& e) {
      return Report(Status(StatusCode::kInternal, e.what()), session);
    }
  } catch (const std::bad_alloc&) {
    return EDGELM_OUT_OF_MEMORY;
  } catch (...) {
    return EDGELM_INTERNAL;
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

// Input structs: any struct_size from the first field's end up to ours (older callers send less).
template <typename T>
bool SizeOk(const T* options) {
  return options->struct_size >= sizeof(uint32_t) && options->struct_size <= sizeof(T);
}

// Reads field `member` of a caller's struct only if the caller's struct_size covers it.
#define EDGELM_FIELD_OR(options, member, fallback)                                             \
  ((options)->struct_size >= offsetof(std::remove_pointer_t<decltype(options)>, member) +     \
                                 sizeof((options)->member)                                    \
       ? (options)->member                                                                    \
       : (fallback))

// Output structs: fills the caller's struct up to its struct_size.
template <typename T>
void CopyOut(const T& full, T* out) {
  std::memcpy(out, &full, out->struct_size);
}

edgelm_generate_options GenerateDefaults() {
  const edgelm::GenerateParams d;
  edgelm_generate_options o{};
  o.struct_size = sizeof o;
  o.max_tokens = d.max_tokens;
  o.ignore_stop = d.ignore_stop;
  o.temperature = d.sampling.temperature;
  o.top_k = d.sampling.top_k;
  o.top_p = d.sampling.top_p;
  o.min_p = d.sampling.min_p;
  o.repetition_penalty = d.sampling.repetition_penalty;
  o.presence_penalty = d.sampling.presence_penalty;
  o.penalty_last_n = d.sampling.penalty_last_n;
  o.seed = d.sampling.seed;
  o.thinking_budget = d.thinking_budget;
  o.tool_choice = static_cast<int32_t>(d.tool_choice);
  return o;
}

edgelm_session_options SessionDefaults() {
  const edgelm::SessionOptions d;
  edgelm_session_options o{};
  o.struct_size = sizeof o;
  o.context_length = d.context_length;
  o.prefill_chunk = d.prefill_chunk;
  o.kv_type = static_cast<int32_t>(d.kv_type);
  o.overflow = static_cast<int32_t>(d.overflow);
  o.sink_tokens = d.sink_tokens;
  o.max_memory_bytes = d.max_memory_bytes;
  o.num_threads = d.num_threads;
  o.share_model_threads = d.share_model_threads;
  o.enable_thinking = d.enable_thinking;
  o.speculation = static_cast<int32_t>(d.speculation.mode);
  o.max_draft_tokens = d.speculation.max_draft_tokens;
  return o;
}

edgelm_model_options ModelDefaults() {
  const edgelm::LoadOptions d;
  edgelm_model_options o{};
  o.struct_size = sizeof o;
  o.num_threads = d.num_threads;
  o.populate = d.populate;
  o.max_memory_bytes = d.max_memory_bytes;
  o.linear_engine = static_cast<int32_t>(d.engine);
  o.verify_weights = static_cast<int32_t>(d.verify);
  return o;
}

// edgelm_model_info.weights_verified.
int32_t WeightsVerified(const edgelm::LoadedModel& m) {
  using V = edgelm::ModelFile::Verification;
  if (!m.file().has_checksums()) return -1;
  if (m.weights_verified_at_load()) return 1;
  switch (m.file().verification()) {
    case V::kPassed: return 1;
    case V::kFailed: return 2;
    default: return 0;
  }
}

// The checks every session call starts with, inside Guard.
#define EDGELM_CHECK_SESSION(session, name)                                                       \
  if (!IsSession(session)) return Fail(EDGELM_INVALID_ARGUMENT, name ": session is NULL or not a session")

}  // namespace

extern "C" {

const char* edgelm_version(void) {
#define EDGELM_STRINGIFY(x) #x
#define EDGELM_VERSION_TEXT(a, b, c) EDGELM_STRINGIFY(a) "." EDGELM_STRINGIFY(b) "." EDGELM_STRINGIFY(c)
  return EDGELM_VERSION_TEXT(EDGELM_VERSION_MAJOR, EDGELM_VERSION_MINOR, EDGELM_VERSION_PATCH);
}

int32_t edgelm_version_number(void) { return EDGELM_VERSION_NUMBER; }

const char* edgelm_status_string(edgelm_status status) {
  switch (status) {
    case EDGELM_OK: return "ok";
    case EDGELM_INVALID_ARGUMENT: return "invalid argument";
    case EDGELM_NOT_FOUND: return "not found";
    case EDGELM_IO_ERROR: return "I/O error";
    case EDGELM_CORRUPT_MODEL: return "corrupt model or state";
    case EDGELM_UNSUPPORTED: return "unsupported";
    case EDGELM_OUT_OF_MEMORY: return "out of memory";
    case EDGELM_OUT_OF_RANGE: return "out of range";
    case EDGELM_CANCELLED: return "cancelled";
    case EDGELM_CONTEXT_FULL: return "context full";
    case EDGELM_INTERNAL: return "internal error";
    case EDGELM_BUFFER_TOO_SMALL: return "buffer too small";
    case EDGELM_INVALID_OUTPUT: return "invalid model output";
  }
  return "unknown status";
}

const char* edgelm_last_error(void) { return g_last_error.c_str(); }

void edgelm_set_log_callback(edgelm_log_callback callback, void* user_data, edgelm_log_level min_level) {
  (void)Guard(nullptr, [&]() -> edgelm_status {
    std::shared_ptr<const edgelm::LogSink> sink;
    if (callback)
      sink = std::make_shared<const edgelm::LogSink>([callback, user_data](edgelm::LogLevel level, const char* message) {
        callback(user_data, static_cast<edgelm_log_level>(level), message);
      });
    edgelm::SetLogSink(std::move(sink), static_cast<edgelm::LogLevel>(min_level));
    return EDGELM_OK;
  });
}

void edgelm_model_options_init(edgelm_model_options* options) {
  if (options) *options = ModelDefaults();
}

edgelm_status edgelm_model_load(const char* path, const edgelm_model_options* options, edgelm_model** out) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!out) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_load: model out-pointer is NULL");
    *out = nullptr;
    if (!path) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_load: path is NULL");
    const edgelm_model_options defaults = ModelDefaults();
    if (!options) options = &defaults;
    if (!SizeOk(options)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_load: options.struct_size is not set");
    edgelm::LoadOptions lo;
    lo.num_threads = EDGELM_FIELD_OR(options, num_threads, defaults.num_threads);
    if (lo.num_threads < 0 || lo.num_threads > 1024) return Fail(EDGELM_INVALID_ARGUMENT, "num_threads must be in [0, 1024]");
    lo.populate = EDGELM_FIELD_OR(options, populate, defaults.populate) != 0;
    lo.max_memory_bytes = EDGELM_FIELD_OR(options, max_memory_bytes, defaults.max_memory_bytes);
    const int32_t engine = EDGELM_FIELD_OR(options, linear_engine, defaults.linear_engine);
    if (engine < EDGELM_LINEAR_ENGINE_AUTO || engine > EDGELM_LINEAR_ENGINE_XNNPACK)
      return Fail(EDGELM_INVALID_ARGUMENT, "linear_engine must be an edgelm_linear_engine");
    lo.engine = static_cast<edgelm::LinearEngine>(engine);
    const int32_t verify = EDGELM_FIELD_OR(options, verify_weights, defaults.verify_weights);
    if (verify < EDGELM_VERIFY_NONE || verify > EDGELM_VERIFY_BACKGROUND)
      return Fail(EDGELM_INVALID_ARGUMENT, "verify_weights must be an edgelm_weight_verification");
    lo.verify = static_cast<edgelm::LoadOptions::Verify>(verify);
    if (const char* cache = EDGELM_FIELD_OR(options, packed_weights_cache_path, defaults.packed_weights_cache_path))
      lo.packed_weights_cache = cache;
    std::unique_ptr<edgelm::LoadedModel> loaded;
    const edgelm_status st = Report(edgelm::LoadedModel::Open(path, lo, &loaded));
    if (st != EDGELM_OK) return st;
    auto m = std::make_unique<edgelm_model>();
    m->loaded = std::move(loaded);
    *out = m.release();
    return EDGELM_OK;
  });
}

void edgelm_model_free(edgelm_model* model) {
  if (!IsModel(model)) return;
  model->tag = HandleTag::kFreed;
  delete model;
}

void edgelm_model_info_init(edgelm_model_info* info) {
  if (!info) return;
  *info = edgelm_model_info{};
  info->struct_size = sizeof *info;
  // 0 is a valid id: a field an older library does not fill must read as "none".
  info->bos_token = info->eos_token = info->turn_start_token = info->turn_end_token = -1;
}

edgelm_status edgelm_model_get_info(const edgelm_model* model, edgelm_model_info* info) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!IsModel(model) || !info) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_get_info: NULL argument or not a model");
    if (!SizeOk(info)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_model_get_info: info.struct_size is not set");
    const edgelm::LoadedModel& m = *model->loaded;
    const edgelm::ModelConfig& c = m.config();
    const edgelm::Tokenizer* tok = m.tokenizer();
    edgelm_model_info full{};
    full.struct_size = info->struct_size;
    full.family = c.family.c_str();
    full.recipe = m.recipe().c_str();
    full.vocab_size = c.vocab_size;
    full.hidden_size = c.hidden_size;
    full.num_layers = c.num_layers();
    full.num_heads = c.num_heads;
    full.max_context = c.max_position_embeddings;
    full.has_tokenizer = tok != nullptr;
    full.file_bytes = m.file().file_size();
    full.weight_bytes_per_token = m.model().decode_weight_bytes();
    full.bos_token = tok ? tok->bos_id() : -1;
    full.eos_token = tok ? tok->eos_id() : -1;
    full.turn_start_token = tok ? tok->turn_start_id() : -1;
    full.turn_end_token = tok ? tok->turn_end_id() : -1;
    full.stop_tokens = m.stop_tokens().data();
    full.n_stop_tokens = static_cast<int32_t>(m.stop_tokens().size());
    full.chat_template = m.chat_template_name().c_str();
    full.default_context_length = SessionDefaults().context_length;
    full.xnnpack_linears = static_cast<int32_t>(m.model().xnn().size());
    full.packed_weight_bytes = m.model().xnn().packed_bytes() + m.model().strips().packed_bytes();
    full.weights_verified = WeightsVerified(m);
    full.xnnpack_linears_from_cache = m.model().xnn().cached_tensors();
    CopyOut(full, info);
    return EDGELM_OK;
  });
}

edgelm_status edgelm_tokenize(const edgelm_model* model, const char* text, size_t text_bytes, int add_bos,
                              int parse_special, int32_t* tokens, size_t capacity, size_t* n_tokens) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!IsModel(model) || (!text && text_bytes > 0) || !n_tokens || (!tokens && capacity > 0))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_tokenize: NULL argument or not a model");
    const edgelm::Tokenizer* tokenizer = model->loaded->tokenizer();
    if (!tokenizer) return Fail(EDGELM_UNSUPPORTED, "this model has no tokenizer");
    edgelm::EncodeOptions options;
    options.add_bos = add_bos != 0;
    options.parse_special = parse_special != 0;
    std::vector<int> ids;
    const edgelm_status st = Report(tokenizer->Encode(std::string_view(text ? text : "", text_bytes), options, &ids));
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
    const edgelm::Tokenizer* tokenizer = model->loaded->tokenizer();
    if (!tokenizer) return Fail(EDGELM_UNSUPPORTED, "this model has no tokenizer");
    std::string out;
    const edgelm_status st =
        Report(tokenizer->Decode(std::vector<int>(tokens, tokens + n_tokens), edgelm::DecodeOptions{}, &out));
    if (st != EDGELM_OK) return st;
    *text_bytes = out.size();
    if (out.size() + 1 > capacity) return Fail(EDGELM_BUFFER_TOO_SMALL, "edgelm_detokenize: text buffer too small");
    std::memcpy(text, out.c_str(), out.size() + 1);
    return EDGELM_OK;
  });
}

void edgelm_session_options_init(edgelm_session_options* options) {
  if (options) *options = SessionDefaults();
}

edgelm_status edgelm_session_create(const edgelm_model* model, const edgelm_session_options* options,
                                    edgelm_session** out) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!out) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: session out-pointer is NULL");
    *out = nullptr;
    if (!IsModel(model)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: model is NULL or not a model");
    const edgelm_session_options defaults = SessionDefaults();
    if (!options) options = &defaults;
    if (!SizeOk(options)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: options.struct_size is not set");
    const int kv_type = EDGELM_FIELD_OR(options, kv_type, defaults.kv_type);
    if (kv_type < EDGELM_KV_F32 || kv_type > EDGELM_KV_INT4)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: unknown kv_type");
    const int overflow = EDGELM_FIELD_OR(options, overflow, defaults.overflow);
    if (overflow < EDGELM_OVERFLOW_ERROR || overflow > EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: unknown overflow policy");
    edgelm::SessionOptions so;
    so.context_length = EDGELM_FIELD_OR(options, context_length, defaults.context_length);
    so.prefill_chunk = EDGELM_FIELD_OR(options, prefill_chunk, defaults.prefill_chunk);
    so.kv_type = static_cast<edgelm::KvType>(kv_type);
    so.overflow = static_cast<edgelm::OverflowPolicy>(overflow);
    so.sink_tokens = EDGELM_FIELD_OR(options, sink_tokens, defaults.sink_tokens);
    if (so.sink_tokens < 0) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: sink_tokens must not be negative");
    so.max_memory_bytes = EDGELM_FIELD_OR(options, max_memory_bytes, defaults.max_memory_bytes);
    so.num_threads = EDGELM_FIELD_OR(options, num_threads, defaults.num_threads);
    so.share_model_threads = EDGELM_FIELD_OR(options, share_model_threads, defaults.share_model_threads) != 0;
    so.enable_thinking = EDGELM_FIELD_OR(options, enable_thinking, defaults.enable_thinking) != 0;
    if (const char* tools = EDGELM_FIELD_OR(options, tools_json, defaults.tools_json)) so.tools_json = tools;
    const int speculation = EDGELM_FIELD_OR(options, speculation, defaults.speculation);
    if (speculation < EDGELM_SPECULATION_NONE || speculation > EDGELM_SPECULATION_DRAFT_MODEL)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: unknown speculation mode");
    so.speculation.mode = static_cast<edgelm::SpeculationMode>(speculation);
    so.speculation.max_draft_tokens = EDGELM_FIELD_OR(options, max_draft_tokens, defaults.max_draft_tokens);
    auto s = std::make_unique<edgelm_session>();
    s->loaded = model->loaded;
    const edgelm::LoadedModel& m = *s->loaded;
    if (so.speculation.mode == edgelm::SpeculationMode::kDraftModel) {
      const edgelm_model* draft = EDGELM_FIELD_OR(options, draft_model, defaults.draft_model);
      if (!IsModel(draft))
        return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: speculation with a draft model needs draft_model");
      if (m.tokenizer() && draft->loaded->tokenizer() && !m.tokenizer()->SameVocabulary(*draft->loaded->tokenizer()))
        return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_create: the draft model's tokenizer is not this model's");
      s->draft = draft->loaded;
      so.speculation.draft_model = &s->draft->model();
    }
    std::unique_ptr<edgelm::Session> session;
    const edgelm_status st = Report(edgelm::Session::Create(m.model(), m.tokenizer(), m.chat(), so, &session));
    if (st != EDGELM_OK) return st;
    s->session = std::move(session);
    *out = s.release();
    return EDGELM_OK;
  });
}

void edgelm_session_free(edgelm_session* session) {
  if (!IsSession(session)) return;
  session->tag = HandleTag::kFreed;
  delete session;
}

const char* edgelm_session_error(const edgelm_session* session) {
  return IsSession(session) ? session->error.c_str() : "";
}

edgelm_status edgelm_session_append_message(edgelm_session* session, const char* role, const char* content) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_append_message");
    if (!role || !content) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_message: NULL role or content", session);
    return Report(session->session->AppendMessage(edgelm::ChatMessage{role, content}), session);
  });
}

edgelm_status edgelm_session_append_text(edgelm_session* session, const char* text, int parse_special) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_append_text");
    if (!text) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_text: text is NULL", session);
    return Report(session->session->AppendText(text, parse_special != 0), session);
  });
}

edgelm_status edgelm_session_append_tokens(edgelm_session* session, const int32_t* tokens, size_t n_tokens) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_append_tokens");
    if (!tokens && n_tokens > 0) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_append_tokens: tokens is NULL", session);
    const std::vector<int> ids(tokens, tokens + n_tokens);
    return Report(session->session->AppendTokens(ids.data(), ids.size()), session);
  });
}

void edgelm_generate_options_init(edgelm_generate_options* options) {
  if (options) *options = GenerateDefaults();
}

edgelm_status edgelm_session_generate(edgelm_session* session, const edgelm_generate_options* options,
                                      edgelm_token_callback callback, void* user_data) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_generate");
    const edgelm_generate_options d = GenerateDefaults();
    if (!options) options = &d;
    if (!SizeOk(options))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: options.struct_size is not set", session);
    edgelm::GenerateParams p;
    p.max_tokens = EDGELM_FIELD_OR(options, max_tokens, d.max_tokens);
    p.ignore_stop = EDGELM_FIELD_OR(options, ignore_stop, d.ignore_stop) != 0;
    p.sampling.temperature = EDGELM_FIELD_OR(options, temperature, d.temperature);
    p.sampling.top_k = EDGELM_FIELD_OR(options, top_k, d.top_k);
    p.sampling.top_p = EDGELM_FIELD_OR(options, top_p, d.top_p);
    p.sampling.min_p = EDGELM_FIELD_OR(options, min_p, d.min_p);
    p.sampling.repetition_penalty = EDGELM_FIELD_OR(options, repetition_penalty, d.repetition_penalty);
    p.sampling.presence_penalty = EDGELM_FIELD_OR(options, presence_penalty, d.presence_penalty);
    p.sampling.penalty_last_n = EDGELM_FIELD_OR(options, penalty_last_n, d.penalty_last_n);
    p.sampling.seed = EDGELM_FIELD_OR(options, seed, d.seed);
    const char* const* stops = EDGELM_FIELD_OR(options, stop_strings, d.stop_strings);
    const int32_t n_stops = EDGELM_FIELD_OR(options, n_stop_strings, d.n_stop_strings);
    if (n_stops < 0 || (n_stops > 0 && !stops))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: n_stop_strings < 0, or stop_strings is NULL", session);
    for (int32_t i = 0; i < n_stops; ++i) {
      if (!stops[i]) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: a stop string is NULL", session);
      p.stop_strings.emplace_back(stops[i]);
    }
    const int32_t* bias_tokens = EDGELM_FIELD_OR(options, logit_bias_tokens, d.logit_bias_tokens);
    const float* bias_values = EDGELM_FIELD_OR(options, logit_bias_values, d.logit_bias_values);
    const int32_t n_bias = EDGELM_FIELD_OR(options, n_logit_bias, d.n_logit_bias);
    if (n_bias < 0 || (n_bias > 0 && (!bias_tokens || !bias_values)))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: n_logit_bias < 0, or a NULL logit bias array",
                  session);
    for (int32_t i = 0; i < n_bias; ++i) p.sampling.logit_bias.emplace_back(bias_tokens[i], bias_values[i]);
    p.thinking_budget = EDGELM_FIELD_OR(options, thinking_budget, d.thinking_budget);
    if (const char* grammar = EDGELM_FIELD_OR(options, grammar, d.grammar)) p.grammar = grammar;
    if (const char* schema = EDGELM_FIELD_OR(options, json_schema, d.json_schema)) p.json_schema = schema;
    const int32_t tool_choice = EDGELM_FIELD_OR(options, tool_choice, d.tool_choice);
    if (tool_choice < EDGELM_TOOL_CHOICE_AUTO || tool_choice > EDGELM_TOOL_CHOICE_REQUIRED)
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_generate: unknown tool_choice", session);
    p.tool_choice = static_cast<edgelm::ToolChoice>(tool_choice);
    auto adapt = [user_data](edgelm_token_callback c) {
      edgelm::TokenCallback f;
      if (c) f = [c, user_data](int token, std::string_view text) { return c(user_data, token, text.data(), text.size()) != 0; };
      return f;
    };
    return Report(session->session->Generate(p, adapt(callback), adapt(EDGELM_FIELD_OR(options, thought_callback, d.thought_callback))),
                  session);
  });
}

edgelm_status edgelm_session_get_tool_calls(const edgelm_session* session, char* json, size_t capacity,
                                           size_t* json_bytes) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_get_tool_calls");
    if (!json_bytes || (!json && capacity > 0))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_get_tool_calls: NULL json_bytes, or NULL json with a capacity", session);
    std::string text = "[";
    std::string malformed;
    for (const edgelm::ToolCall& call : session->session->tool_calls()) {
      if (text.size() > 1) text += ',';
      if (call.error.empty()) {
        text += "{\"name\":";
        edgelm::AppendJsonString(call.name, &text);
        text += ",\"arguments\":" + call.arguments_json + "}";
      } else {
        text += "{\"error\":";
        edgelm::AppendJsonString(call.error, &text);
        text += ",\"raw\":";
        edgelm::AppendJsonString(call.raw, &text);
        text += "}";
        if (malformed.empty()) malformed = "the model wrote a malformed tool call: " + call.error;
      }
    }
    text += "]";
    *json_bytes = text.size() + 1;
    if (*json_bytes > capacity)
      return Report(Status(StatusCode::kBufferTooSmall, "edgelm_session_get_tool_calls: " + std::to_string(*json_bytes) +
                                                            " bytes do not fit " + std::to_string(capacity)),
                    session);
    std::memcpy(json, text.c_str(), *json_bytes);
    return malformed.empty() ? EDGELM_OK : Report(Status(StatusCode::kInvalidOutput, malformed), session);
  });
}

void edgelm_session_cancel(edgelm_session* session) {
  if (IsSession(session)) session->session->Cancel();
}

edgelm_status edgelm_session_evaluate(edgelm_session* session, int all_positions, float* logits, size_t capacity,
                                      size_t* n_logits) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_evaluate");
    if (!n_logits || (!logits && capacity > 0))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_evaluate: NULL n_logits, or NULL logits with a capacity", session);
    edgelm::Session& s = *session->session;
    const size_t vocab = static_cast<size_t>(session->loaded->config().vocab_size);
    const size_t rows = all_positions ? s.pending_tokens() : 1;
    *n_logits = rows * vocab;
    if (*n_logits > capacity)
      return Report(Status(StatusCode::kBufferTooSmall, "edgelm_session_evaluate: " + std::to_string(rows) + " rows of " +
                                                            std::to_string(vocab) + " logits do not fit " +
                                                            std::to_string(capacity) + " floats"),
                    session);
    return Report(all_positions ? s.Evaluate(logits) : s.EvaluateLast(logits), session);
  });
}

edgelm_status edgelm_session_score(edgelm_session* session, const int32_t* tokens, size_t n_tokens,
                                   float* token_logprobs, double* logprob_sum) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_score");
    if (!tokens && n_tokens > 0) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_score: tokens is NULL", session);
    const std::vector<int> ids(tokens, tokens + n_tokens);
    return Report(session->session->Score(ids.data(), ids.size(), token_logprobs, logprob_sum), session);
  });
}

edgelm_status edgelm_session_fork(const edgelm_session* session, edgelm_session** fork) {
  return Guard(nullptr, [&]() -> edgelm_status {
    if (!fork) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_fork: fork out-pointer is NULL");
    *fork = nullptr;
    EDGELM_CHECK_SESSION(session, "edgelm_session_fork");
    auto f = std::make_unique<edgelm_session>();
    f->loaded = session->loaded;
    f->draft = session->draft;
    std::unique_ptr<edgelm::Session> forked;
    const edgelm_status st = Report(session->session->Fork(&forked), session);
    if (st != EDGELM_OK) return st;
    f->session = std::move(forked);
    *fork = f.release();
    return EDGELM_OK;
  });
}

edgelm_status edgelm_session_save_file(const edgelm_session* session, const char* path) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_save_file");
    if (!path) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_save_file: path is NULL", session);
    return Report(session->session->SaveFile(path), session);
  });
}

edgelm_status edgelm_session_restore_file(edgelm_session* session, const char* path) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_restore_file");
    if (!path) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_restore_file: path is NULL", session);
    return Report(session->session->RestoreFile(path), session);
  });
}

edgelm_status edgelm_session_save_state(const edgelm_session* session, void* buffer, size_t capacity,
                                        size_t* state_bytes) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_save_state");
    if (!state_bytes || (!buffer && capacity > 0))
      return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_save_state: NULL state_bytes, or NULL buffer with a capacity", session);
    return Report(session->session->SaveState(buffer, capacity, state_bytes), session);
  });
}

edgelm_status edgelm_session_restore_state(edgelm_session* session, const void* buffer, size_t state_bytes) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_restore_state");
    if (!buffer && state_bytes > 0) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_restore_state: buffer is NULL", session);
    return Report(session->session->RestoreState(buffer, state_bytes), session);
  });
}

edgelm_status edgelm_session_release_memory(edgelm_session* session, uint64_t* released_bytes) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_release_memory");
    const uint64_t released = session->session->ReleaseMemory();
    if (released_bytes) *released_bytes = released;
    return EDGELM_OK;
  });
}

edgelm_status edgelm_session_reset(edgelm_session* session) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_reset");
    session->session->Reset();
    return EDGELM_OK;
  });
}

edgelm_status edgelm_session_rewind(edgelm_session* session, size_t n_tokens) {
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_rewind");
    return Report(session->session->Rewind(n_tokens), session);
  });
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
  return Guard(nullptr, [&]() -> edgelm_status {
    EDGELM_CHECK_SESSION(session, "edgelm_session_get_stats");
    if (!stats) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_get_stats: stats is NULL", session);
    if (!SizeOk(stats)) return Fail(EDGELM_INVALID_ARGUMENT, "edgelm_session_get_stats: stats.struct_size is not set", session);
    const edgelm::SessionStats& s = session->session->stats();
    edgelm_stats full{};
    full.struct_size = stats->struct_size;
    full.prompt_tokens = s.prompt_tokens;
    full.generated_tokens = s.generated_tokens;
    full.prefill_tokens_per_s = s.prefill_seconds > 0 ? s.prompt_tokens / s.prefill_seconds : 0.0;
    // The first token comes from the prefill's logits, so decode speed counts the tokens after it.
    full.decode_tokens_per_s =
        s.decode_seconds > 0 && s.generated_tokens > 1 ? (s.generated_tokens - 1) / s.decode_seconds : 0.0;
    full.time_to_first_token_ms = s.time_to_first_token_seconds * 1000.0;
    full.kv_bytes = session->session->kv_bytes();
    full.context_tokens = static_cast<int64_t>(session->session->tokens().size());
    full.stop_reason = static_cast<int32_t>(s.stop_reason);
    full.decode_passes = s.decode_passes;
    full.drafted_tokens = s.drafted_tokens;
    full.accepted_draft_tokens = s.accepted_draft_tokens;
    CopyOut(full, stats);
    return EDGELM_OK;
  });
}

}  // extern "C"
