// JNI bridge between dev.edgelm.NativeBridge (Edgelm.kt) and the edgelm C API. It only translates:
// handles travel as jlong, statuses as jint, and text as UTF-8 byte arrays, because JNI's string
// functions use "modified UTF-8", which encodes NUL and characters outside the BMP (emoji) differently.
// Failures are returned as statuses; Edgelm.kt reads the message and throws. Outputs go into arrays the
// caller allocated; calls with the C API's size query (BUFFER_TOO_SMALL) take a null array for it, and
// Edgelm.kt makes the second call. Threading is the C API's: Edgelm.kt never calls into one session
// from two threads at once, except for sessionCancel. The log listener is the exception to "only
// translates": the C library may log from any thread, so it is called through the JavaVM.
#include <jni.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "edgelm/edgelm.h"

static_assert(sizeof(jint) == sizeof(int32_t) && sizeof(jfloat) == sizeof(float), "JNI int and float are 32-bit");

namespace {

template <typename T>
T* FromHandle(jlong handle) {
  return reinterpret_cast<T*>(static_cast<intptr_t>(handle));
}

void StoreHandle(JNIEnv* env, jlongArray out, const void* pointer) {
  const jlong handle = static_cast<jlong>(reinterpret_cast<intptr_t>(pointer));
  env->SetLongArrayRegion(out, 0, 1, &handle);
}

// Writes one count (token, float or byte count) into out[0].
void StoreCount(JNIEnv* env, jlongArray out, uint64_t count) {
  const jlong value = static_cast<jlong>(count);
  env->SetLongArrayRegion(out, 0, 1, &value);
}

// A NUL-terminated copy of UTF-8 text that Kotlin encoded into a byte array.
std::string ToCString(JNIEnv* env, jbyteArray utf8) {
  std::string text(static_cast<size_t>(env->GetArrayLength(utf8)), '\0');
  env->GetByteArrayRegion(utf8, 0, static_cast<jsize>(text.size()), reinterpret_cast<jbyte*>(&text[0]));
  return text;
}

// An optional string: has_value is false for a null array (the C API's NULL, "none").
struct OptionalCString {
  bool has_value = false;
  std::string text;
  const char* get() const { return has_value ? text.c_str() : nullptr; }
};

OptionalCString ToOptionalCString(JNIEnv* env, jbyteArray utf8) {
  OptionalCString result;
  if (utf8) {
    result.has_value = true;
    result.text = ToCString(env, utf8);
  }
  return result;
}

// A copy of token ids from Kotlin.
std::vector<int32_t> ToTokens(JNIEnv* env, jintArray tokens) {
  std::vector<int32_t> ids(static_cast<size_t>(env->GetArrayLength(tokens)));
  env->GetIntArrayRegion(tokens, 0, static_cast<jsize>(ids.size()), reinterpret_cast<jint*>(ids.data()));
  return ids;
}

// NULL, with an OutOfMemoryError pending, when the array cannot be allocated.
jbyteArray ToByteArray(JNIEnv* env, const char* text, size_t text_bytes) {
  jbyteArray bytes = env->NewByteArray(static_cast<jsize>(text_bytes));
  if (bytes && text_bytes > 0) {
    env->SetByteArrayRegion(bytes, 0, static_cast<jsize>(text_bytes), reinterpret_cast<const jbyte*>(text));
  }
  return bytes;
}

jbyteArray ToByteArray(JNIEnv* env, const char* text) { return ToByteArray(env, text, text ? std::strlen(text) : 0); }

// Capacity of an optional output array: 0 for null (a size query).
size_t Capacity(JNIEnv* env, jarray array) { return array ? static_cast<size_t>(env->GetArrayLength(array)) : 0; }

// A size query passes capacity 0 with this, not NULL, where the header does not say that NULL is allowed.
template <typename T>
T* OrEmpty(T* data) {
  static T none{};
  return data ? data : &none;
}

// What the C token and thought callbacks need to reach the Kotlin listeners (one user_data serves
// both). The callbacks run on the thread that called sessionGenerate, so the JNIEnv stays valid.
struct TokenListener {
  JNIEnv* env;
  jobject listener;          // answer text
  jmethodID on_token;        // boolean onToken(byte[] utf8): false stops generation
  jobject thought_listener;  // thought text, or null when thoughts are not passed on
  jmethodID on_thought;      // the same method, of thought_listener's class
};

// Calls listener.onToken(text); nonzero stops generation.
int CallTokenListener(JNIEnv* env, jobject listener, jmethodID on_token, const char* text, size_t text_bytes) {
  if (env->ExceptionCheck()) return 1;  // an earlier piece threw: call no Java until generate returns
  jbyteArray utf8 = ToByteArray(env, text, text_bytes);
  if (!utf8) return 1;
  const jboolean keep_going = env->CallBooleanMethod(listener, on_token, utf8);
  // One array per token: without this a long reply overflows the thread's local reference table.
  env->DeleteLocalRef(utf8);
  // A listener that threw stops generation; the exception surfaces in Kotlin when generate returns.
  return env->ExceptionCheck() || !keep_going;
}

int ForwardToken(void* user_data, int32_t /*token*/, const char* text, size_t text_bytes) {
  auto* target = static_cast<TokenListener*>(user_data);
  return CallTokenListener(target->env, target->listener, target->on_token, text, text_bytes);
}

int ForwardThought(void* user_data, int32_t /*token*/, const char* text, size_t text_bytes) {
  auto* target = static_cast<TokenListener*>(user_data);
  return CallTokenListener(target->env, target->thought_listener, target->on_thought, text, text_bytes);
}

// The onToken method of a TokenListener; null, with NoSuchMethodError pending, if it has none.
jmethodID OnTokenMethod(JNIEnv* env, jobject listener) {
  jclass type = env->GetObjectClass(listener);
  const jmethodID method = env->GetMethodID(type, "onToken", "([B)Z");
  env->DeleteLocalRef(type);
  return method;
}

// The Kotlin log listener, one per process like the C library's log callback. Never destroyed: the C
// library may still log while the process exits.
struct LogTarget {
  std::mutex setter;           // serializes setLogListener calls, so the C callback matches `listener`
  std::mutex mutex;            // guards the fields below; never held while Java runs
  JavaVM* vm = nullptr;
  jobject listener = nullptr;  // global reference, or null
  jmethodID on_log = nullptr;  // void onLog(int level, byte[] utf8)
};

LogTarget& Log() {
  static LogTarget* target = new LogTarget;
  return *target;
}

// The JNIEnv of this thread; attaches it (as a daemon, *attached = true) when the JVM does not know it,
// e.g. a compute thread of the library's pool.
JNIEnv* CurrentEnv(JavaVM* vm, bool* attached) {
  JNIEnv* env = nullptr;
  *attached = false;
  const jint got = vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6);
  if (got == JNI_OK) return env;
  if (got != JNI_EDETACHED) return nullptr;
#ifdef __ANDROID__
  if (vm->AttachCurrentThreadAsDaemon(&env, nullptr) != JNI_OK) return nullptr;
#else
  if (vm->AttachCurrentThreadAsDaemon(reinterpret_cast<void**>(&env), nullptr) != JNI_OK) return nullptr;
#endif
  *attached = true;
  return env;
}

// Calls the listener with one message. An exception already pending on this thread (say, a token
// listener's) is set aside for the call and restored after it; one the log listener throws is dropped.
void CallLogListener(JNIEnv* env, jobject listener, jmethodID on_log, edgelm_log_level level, const char* message) {
  jthrowable pending = env->ExceptionOccurred();
  if (pending) env->ExceptionClear();
  jbyteArray utf8 = ToByteArray(env, message);
  if (utf8) {
    env->CallVoidMethod(listener, on_log, static_cast<jint>(level), utf8);
    env->DeleteLocalRef(utf8);
  }
  if (env->ExceptionCheck()) env->ExceptionClear();
  if (pending) {
    env->Throw(pending);
    env->DeleteLocalRef(pending);
  }
}

// The C log callback: forwards to the current Kotlin listener from whatever thread the library logs on.
void ForwardLog(void* /*user_data*/, edgelm_log_level level, const char* message) {
  LogTarget& target = Log();
  JavaVM* vm;
  {
    std::lock_guard<std::mutex> lock(target.mutex);
    if (!target.listener) return;
    vm = target.vm;
  }
  bool attached = false;
  JNIEnv* env = CurrentEnv(vm, &attached);
  if (!env) return;
  jobject listener = nullptr;
  jmethodID on_log = nullptr;
  {
    // A local reference, taken under the lock, keeps the listener alive if setLogListener replaces it.
    std::lock_guard<std::mutex> lock(target.mutex);
    if (target.listener) listener = env->NewLocalRef(target.listener);
    on_log = target.on_log;
  }
  if (listener) {
    CallLogListener(env, listener, on_log, level, message);
    env->DeleteLocalRef(listener);
  }
  if (attached) vm->DetachCurrentThread();
}

}  // namespace

extern "C" {

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_version(JNIEnv* env, jobject) {
  return ToByteArray(env, edgelm_version());
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_versionNumber(JNIEnv*, jobject) {
  return edgelm_version_number();
}

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_statusName(JNIEnv* env, jobject, jint status) {
  return ToByteArray(env, edgelm_status_string(static_cast<edgelm_status>(status)));
}

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_lastError(JNIEnv* env, jobject) {
  return ToByteArray(env, edgelm_last_error());
}

// Routes the library's messages at min_level and above to listener (null: drops them), process-wide.
JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_setLogListener(JNIEnv* env, jobject, jobject listener,
                                                                   jint min_level) {
  jobject global = nullptr;
  jmethodID on_log = nullptr;
  if (listener) {
    jclass type = env->GetObjectClass(listener);
    on_log = env->GetMethodID(type, "onLog", "(I[B)V");
    env->DeleteLocalRef(type);
    if (!on_log) return;  // NoSuchMethodError pending
    global = env->NewGlobalRef(listener);
    if (!global) return;  // OutOfMemoryError pending
  }
  JavaVM* vm = nullptr;
  env->GetJavaVM(&vm);
  LogTarget& target = Log();
  std::lock_guard<std::mutex> serialize(target.setter);
  jobject previous;
  {
    std::lock_guard<std::mutex> lock(target.mutex);
    previous = target.listener;
    target.vm = vm;
    target.listener = global;
    target.on_log = on_log;
  }
  edgelm_set_log_callback(global ? ForwardLog : nullptr, nullptr, static_cast<edgelm_log_level>(min_level));
  // A ForwardLog in flight holds a local reference of its own.
  if (previous) env->DeleteGlobalRef(previous);
}

// ---- Model ------------------------------------------------------------------------------------

// edgelm_model_options_init's values. ints: num_threads, populate, verify_weights; longs: max_memory_bytes.
JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_modelOptionsInit(JNIEnv* env, jobject, jintArray ints,
                                                                     jlongArray longs) {
  edgelm_model_options options;
  edgelm_model_options_init(&options);
  const jint int_values[] = {options.num_threads, options.populate, options.verify_weights};
  const jlong long_values[] = {static_cast<jlong>(options.max_memory_bytes)};
  env->SetIntArrayRegion(ints, 0, 3, int_values);
  env->SetLongArrayRegion(longs, 0, 1, long_values);
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_modelLoad(JNIEnv* env, jobject, jbyteArray path, jint threads,
                                                              jboolean populate, jlong max_memory_bytes,
                                                              jint verify_weights, jbyteArray packed_cache,
                                                              jlongArray model_out) {
  edgelm_model_options options;
  edgelm_model_options_init(&options);
  options.num_threads = threads;
  options.populate = populate ? 1 : 0;
  options.max_memory_bytes = static_cast<uint64_t>(max_memory_bytes);  // Kotlin checked >= 0
  options.verify_weights = verify_weights;  // an enum ordinal; the library checks the range
  const OptionalCString cache = ToOptionalCString(env, packed_cache);
  options.packed_weights_cache_path = cache.get();
  edgelm_model* model = nullptr;
  const edgelm_status status = edgelm_model_load(ToCString(env, path).c_str(), &options, &model);
  StoreHandle(env, model_out, model);
  return status;
}

JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_modelFree(JNIEnv*, jobject, jlong model) {
  edgelm_model_free(FromHandle<edgelm_model>(model));
}

// ints: vocab_size, hidden_size, num_layers, num_heads, max_context, has_tokenizer, bos_token, eos_token,
// turn_start_token, turn_end_token, default_context_length; longs: file_bytes, weight_bytes_per_token;
// texts: family, recipe, chat_template; stop_tokens[0]: the stop token ids.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_modelInfo(JNIEnv* env, jobject, jlong model, jintArray ints,
                                                              jlongArray longs, jobjectArray texts,
                                                              jobjectArray stop_tokens) {
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  const edgelm_status status = edgelm_model_get_info(FromHandle<edgelm_model>(model), &info);
  if (status != EDGELM_OK) return status;
  const jint int_values[] = {info.vocab_size,  info.hidden_size, info.num_layers,       info.num_heads,
                             info.max_context, info.has_tokenizer, info.bos_token,      info.eos_token,
                             info.turn_start_token, info.turn_end_token, info.default_context_length};
  const jlong long_values[] = {static_cast<jlong>(info.file_bytes), static_cast<jlong>(info.weight_bytes_per_token)};
  env->SetIntArrayRegion(ints, 0, 11, int_values);
  env->SetLongArrayRegion(longs, 0, 2, long_values);
  const char* text_values[] = {info.family, info.recipe, info.chat_template};
  for (jsize i = 0; i < 3; i++) {
    jbyteArray text = ToByteArray(env, text_values[i]);
    if (!text) return EDGELM_OUT_OF_MEMORY;  // OutOfMemoryError pending
    env->SetObjectArrayElement(texts, i, text);
    env->DeleteLocalRef(text);
  }
  const jsize n_stop = info.stop_tokens ? info.n_stop_tokens : 0;
  jintArray stop = env->NewIntArray(n_stop);
  if (!stop) return EDGELM_OUT_OF_MEMORY;
  env->SetIntArrayRegion(stop, 0, n_stop, reinterpret_cast<const jint*>(info.stop_tokens));
  env->SetObjectArrayElement(stop_tokens, 0, stop);
  env->DeleteLocalRef(stop);
  return EDGELM_OK;
}

// Text -> token ids; tokens null asks for the count. count[0]: the ids needed.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_tokenize(JNIEnv* env, jobject, jlong model, jbyteArray text,
                                                             jboolean add_bos, jboolean parse_special,
                                                             jintArray tokens, jlongArray count) {
  const std::string utf8 = ToCString(env, text);
  std::vector<int32_t> ids(Capacity(env, tokens));
  size_t n_tokens = 0;
  const edgelm_status status = edgelm_tokenize(FromHandle<edgelm_model>(model), utf8.data(), utf8.size(), add_bos,
                                               parse_special, OrEmpty(ids.data()), ids.size(), &n_tokens);
  if (status == EDGELM_OK && tokens) {
    env->SetIntArrayRegion(tokens, 0, static_cast<jsize>(n_tokens), reinterpret_cast<const jint*>(ids.data()));
  }
  StoreCount(env, count, n_tokens);
  return status;
}

// Token ids -> UTF-8; text null asks for the size. count[0]: the bytes needed, without the NUL the C
// API also writes (so text needs one byte more).
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_detokenize(JNIEnv* env, jobject, jlong model, jintArray tokens,
                                                               jbyteArray text, jlongArray count) {
  const std::vector<int32_t> ids = ToTokens(env, tokens);
  std::string utf8(Capacity(env, text), '\0');
  size_t text_bytes = 0;
  const edgelm_status status = edgelm_detokenize(FromHandle<edgelm_model>(model), OrEmpty(ids.data()), ids.size(),
                                                 &utf8[0], utf8.size(), &text_bytes);
  if (status == EDGELM_OK && text) {
    env->SetByteArrayRegion(text, 0, static_cast<jsize>(text_bytes), reinterpret_cast<const jbyte*>(utf8.data()));
  }
  StoreCount(env, count, text_bytes);
  return status;
}

// ---- Session ----------------------------------------------------------------------------------

// edgelm_session_options_init's values. ints: context_length, prefill_chunk, kv_type, overflow,
// sink_tokens, num_threads, share_model_threads, enable_thinking, speculation, max_draft_tokens; longs:
// max_memory_bytes. (tools_json's and draft_model's defaults are NULL: none.)
JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_sessionOptionsInit(JNIEnv* env, jobject, jintArray ints,
                                                                       jlongArray longs) {
  edgelm_session_options options;
  edgelm_session_options_init(&options);
  const jint int_values[] = {options.context_length, options.prefill_chunk, options.kv_type,
                             options.overflow,       options.sink_tokens,   options.num_threads,
                             options.share_model_threads, options.enable_thinking, options.speculation,
                             options.max_draft_tokens};
  const jlong long_values[] = {static_cast<jlong>(options.max_memory_bytes)};
  env->SetIntArrayRegion(ints, 0, 10, int_values);
  env->SetLongArrayRegion(longs, 0, 1, long_values);
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionCreate(JNIEnv* env, jobject, jlong model,
                                                                  jint context_length, jint prefill_chunk,
                                                                  jint kv_type, jint overflow, jint sink_tokens,
                                                                  jlong max_memory_bytes, jint threads,
                                                                  jboolean share_model_threads,
                                                                  jboolean enable_thinking, jbyteArray tools_json,
                                                                  jint speculation, jint max_draft_tokens,
                                                                  jlong draft_model, jlongArray session_out) {
  edgelm_session_options options;
  edgelm_session_options_init(&options);
  options.context_length = context_length;
  options.prefill_chunk = prefill_chunk;
  options.kv_type = kv_type;
  options.overflow = overflow;
  options.sink_tokens = sink_tokens;
  options.max_memory_bytes = static_cast<uint64_t>(max_memory_bytes);  // Kotlin checked >= 0
  options.num_threads = threads;
  options.share_model_threads = share_model_threads ? 1 : 0;
  options.enable_thinking = enable_thinking ? 1 : 0;
  const OptionalCString tools = ToOptionalCString(env, tools_json);  // null: no tools
  options.tools_json = tools.get();  // copied by the call
  options.speculation = speculation;
  options.max_draft_tokens = max_draft_tokens;
  options.draft_model = FromHandle<edgelm_model>(draft_model);  // kept alive by the session
  edgelm_session* session = nullptr;
  const edgelm_status status = edgelm_session_create(FromHandle<edgelm_model>(model), &options, &session);
  StoreHandle(env, session_out, session);
  return status;
}

JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_sessionFree(JNIEnv*, jobject, jlong session) {
  edgelm_session_free(FromHandle<edgelm_session>(session));
}

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_sessionError(JNIEnv* env, jobject, jlong session) {
  return ToByteArray(env, edgelm_session_error(FromHandle<edgelm_session>(session)));
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionAppendMessage(JNIEnv* env, jobject, jlong session,
                                                                         jbyteArray role, jbyteArray content) {
  return edgelm_session_append_message(FromHandle<edgelm_session>(session), ToCString(env, role).c_str(),
                                       ToCString(env, content).c_str());
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionAppendText(JNIEnv* env, jobject, jlong session,
                                                                      jbyteArray text, jboolean parse_special) {
  return edgelm_session_append_text(FromHandle<edgelm_session>(session), ToCString(env, text).c_str(),
                                    parse_special ? 1 : 0);
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionAppendTokens(JNIEnv* env, jobject, jlong session,
                                                                        jintArray tokens) {
  const std::vector<int32_t> ids = ToTokens(env, tokens);
  return edgelm_session_append_tokens(FromHandle<edgelm_session>(session), OrEmpty(ids.data()), ids.size());
}

// edgelm_generate_options_init's values. ints: max_tokens, ignore_stop, top_k, penalty_last_n,
// thinking_budget, tool_choice; floats: temperature, top_p, min_p, repetition_penalty, presence_penalty;
// longs: seed. (grammar, json_schema and thought_callback default to NULL: none.)
JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_generateOptionsInit(JNIEnv* env, jobject, jintArray ints,
                                                                        jfloatArray floats, jlongArray longs) {
  edgelm_generate_options options;
  edgelm_generate_options_init(&options);
  const jint int_values[] = {options.max_tokens,     options.ignore_stop,     options.top_k,
                             options.penalty_last_n, options.thinking_budget, options.tool_choice};
  const jfloat float_values[] = {options.temperature, options.top_p, options.min_p, options.repetition_penalty,
                                 options.presence_penalty};
  const jlong long_values[] = {static_cast<jlong>(options.seed)};
  env->SetIntArrayRegion(ints, 0, 6, int_values);
  env->SetFloatArrayRegion(floats, 0, 5, float_values);
  env->SetLongArrayRegion(longs, 0, 1, long_values);
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionGenerate(
    JNIEnv* env, jobject, jlong session, jint max_tokens, jboolean ignore_stop, jfloat temperature, jint top_k,
    jfloat top_p, jfloat min_p, jfloat repetition_penalty, jfloat presence_penalty, jint penalty_last_n, jlong seed,
    jobjectArray stop_strings, jintArray bias_tokens, jfloatArray bias_values, jint thinking_budget,
    jbyteArray grammar, jbyteArray json_schema, jint tool_choice, jobject listener, jobject thought_listener) {
  TokenListener target{env, listener, OnTokenMethod(env, listener), thought_listener, nullptr};
  if (!target.on_token) return EDGELM_INTERNAL;  // NoSuchMethodError pending
  if (thought_listener) {
    target.on_thought = OnTokenMethod(env, thought_listener);
    if (!target.on_thought) return EDGELM_INTERNAL;
  }
  edgelm_generate_options options;
  edgelm_generate_options_init(&options);
  options.max_tokens = max_tokens;
  options.ignore_stop = ignore_stop ? 1 : 0;
  options.temperature = temperature;
  options.top_k = top_k;
  options.top_p = top_p;
  options.min_p = min_p;
  options.repetition_penalty = repetition_penalty;
  options.presence_penalty = presence_penalty;
  options.penalty_last_n = penalty_last_n;
  options.seed = static_cast<uint64_t>(seed);  // all 64 bits: a negative Long is a large seed
  std::vector<std::string> stops;
  for (jsize i = 0, n = env->GetArrayLength(stop_strings); i < n; ++i) {
    auto utf8 = static_cast<jbyteArray>(env->GetObjectArrayElement(stop_strings, i));
    stops.push_back(ToCString(env, utf8));
    env->DeleteLocalRef(utf8);
  }
  std::vector<const char*> stop_pointers;
  for (const std::string& stop : stops) stop_pointers.push_back(stop.c_str());
  options.stop_strings = stop_pointers.data();
  options.n_stop_strings = static_cast<int32_t>(stop_pointers.size());
  const std::vector<int32_t> tokens = ToTokens(env, bias_tokens);
  std::vector<float> values(tokens.size());
  env->GetFloatArrayRegion(bias_values, 0, static_cast<jsize>(values.size()), values.data());  // Kotlin: same size
  options.logit_bias_tokens = tokens.data();
  options.logit_bias_values = values.data();
  options.n_logit_bias = static_cast<int32_t>(tokens.size());
  options.thinking_budget = thinking_budget;
  // Null arrays are NULL (none); the call copies the strings, so they may go when it returns.
  const OptionalCString grammar_text = ToOptionalCString(env, grammar);
  const OptionalCString schema_text = ToOptionalCString(env, json_schema);
  options.grammar = grammar_text.get();
  options.json_schema = schema_text.get();
  options.tool_choice = tool_choice;  // an enum ordinal; the library checks the range
  options.thought_callback = thought_listener ? ForwardThought : nullptr;
  return edgelm_session_generate(FromHandle<edgelm_session>(session), &options, ForwardToken, &target);
}

// The tool calls of the last generate as a JSON array (UTF-8); json null asks for the size. size[0]: the
// bytes needed including the NUL the C API also writes. EDGELM_INVALID_OUTPUT still fills json.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionToolCalls(JNIEnv* env, jobject, jlong session,
                                                                     jbyteArray json, jlongArray size) {
  std::string text(Capacity(env, json), '\0');
  size_t json_bytes = 0;
  const edgelm_status status = edgelm_session_get_tool_calls(FromHandle<edgelm_session>(session),
                                                             json ? &text[0] : nullptr, text.size(), &json_bytes);
  if ((status == EDGELM_OK || status == EDGELM_INVALID_OUTPUT) && json) {
    env->SetByteArrayRegion(json, 0, static_cast<jsize>(json_bytes), reinterpret_cast<const jbyte*>(text.data()));
  }
  StoreCount(env, size, json_bytes);
  return status;
}

JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_sessionCancel(JNIEnv*, jobject, jlong session) {
  edgelm_session_cancel(FromHandle<edgelm_session>(session));
}

// Logits of the last (or every pending) position; logits null asks for the count. count[0]: floats needed.
// The array's elements are used in place where the VM allows it (ART, for large arrays), not copied.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionEvaluate(JNIEnv* env, jobject, jlong session,
                                                                    jboolean all_positions, jfloatArray logits,
                                                                    jlongArray count) {
  jfloat* data = logits ? env->GetFloatArrayElements(logits, nullptr) : nullptr;
  if (logits && !data) return EDGELM_OUT_OF_MEMORY;  // OutOfMemoryError pending
  size_t n_logits = 0;
  const edgelm_status status = edgelm_session_evaluate(FromHandle<edgelm_session>(session), all_positions ? 1 : 0,
                                                       OrEmpty(data), Capacity(env, logits), &n_logits);
  if (data) env->ReleaseFloatArrayElements(logits, data, status == EDGELM_OK ? 0 : JNI_ABORT);
  StoreCount(env, count, n_logits);
  return status;
}

// Appends tokens and scores them: logprobs (one per token) and sum[0].
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionScore(JNIEnv* env, jobject, jlong session,
                                                                 jintArray tokens, jfloatArray logprobs,
                                                                 jdoubleArray sum) {
  const std::vector<int32_t> ids = ToTokens(env, tokens);
  std::vector<float> values(ids.size());
  double total = 0;
  const edgelm_status status =
      edgelm_session_score(FromHandle<edgelm_session>(session), OrEmpty(ids.data()), ids.size(), values.data(), &total);
  if (status == EDGELM_OK) {
    env->SetFloatArrayRegion(logprobs, 0, static_cast<jsize>(values.size()), values.data());
    env->SetDoubleArrayRegion(sum, 0, 1, &total);
  }
  return status;
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionSaveFile(JNIEnv* env, jobject, jlong session,
                                                                    jbyteArray path) {
  return edgelm_session_save_file(FromHandle<edgelm_session>(session), ToCString(env, path).c_str());
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionRestoreFile(JNIEnv* env, jobject, jlong session,
                                                                       jbyteArray path) {
  return edgelm_session_restore_file(FromHandle<edgelm_session>(session), ToCString(env, path).c_str());
}

// The session state into state; state null asks for the size. size[0]: the state's bytes.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionSaveState(JNIEnv* env, jobject, jlong session,
                                                                     jbyteArray state, jlongArray size) {
  jbyte* data = state ? env->GetByteArrayElements(state, nullptr) : nullptr;
  if (state && !data) return EDGELM_OUT_OF_MEMORY;  // OutOfMemoryError pending
  size_t state_bytes = 0;
  const edgelm_status status =
      edgelm_session_save_state(FromHandle<edgelm_session>(session), data, Capacity(env, state), &state_bytes);
  if (data) env->ReleaseByteArrayElements(state, data, status == EDGELM_OK ? 0 : JNI_ABORT);
  StoreCount(env, size, state_bytes);
  return status;
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionRestoreState(JNIEnv* env, jobject, jlong session,
                                                                        jbyteArray state) {
  jbyte* data = env->GetByteArrayElements(state, nullptr);
  if (!data) return EDGELM_OUT_OF_MEMORY;  // OutOfMemoryError pending
  const edgelm_status status =
      edgelm_session_restore_state(FromHandle<edgelm_session>(session), data, Capacity(env, state));
  env->ReleaseByteArrayElements(state, data, JNI_ABORT);  // read only: nothing to copy back
  return status;
}

// released[0]: the bytes given back.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionReleaseMemory(JNIEnv* env, jobject, jlong session,
                                                                         jlongArray released) {
  uint64_t released_bytes = 0;
  const edgelm_status status = edgelm_session_release_memory(FromHandle<edgelm_session>(session), &released_bytes);
  StoreCount(env, released, released_bytes);
  return status;
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionReset(JNIEnv*, jobject, jlong session) {
  return edgelm_session_reset(FromHandle<edgelm_session>(session));
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionRewind(JNIEnv*, jobject, jlong session, jlong n_tokens) {
  return edgelm_session_rewind(FromHandle<edgelm_session>(session), static_cast<size_t>(n_tokens));  // Kotlin: >= 0
}

JNIEXPORT jlong JNICALL Java_dev_edgelm_NativeBridge_sessionTokenCount(JNIEnv*, jobject, jlong session) {
  return static_cast<jlong>(edgelm_session_token_count(FromHandle<edgelm_session>(session)));
}

// counts: prompt, generated, KV bytes, context tokens, decode passes, drafted, accepted draft tokens;
// rates: prefill and decode tokens/s, TTFT ms; codes: stop_reason.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionStats(JNIEnv* env, jobject, jlong session,
                                                                 jlongArray counts, jdoubleArray rates,
                                                                 jintArray codes) {
  edgelm_stats stats;
  edgelm_stats_init(&stats);
  const edgelm_status status = edgelm_session_get_stats(FromHandle<edgelm_session>(session), &stats);
  const jlong count_values[] = {stats.prompt_tokens, stats.generated_tokens, static_cast<jlong>(stats.kv_bytes),
                                stats.context_tokens, stats.decode_passes, stats.drafted_tokens,
                                stats.accepted_draft_tokens};
  const jdouble rate_values[] = {stats.prefill_tokens_per_s, stats.decode_tokens_per_s, stats.time_to_first_token_ms};
  env->SetLongArrayRegion(counts, 0, 7, count_values);
  env->SetDoubleArrayRegion(rates, 0, 3, rate_values);
  const jint code_values[] = {stats.stop_reason};
  env->SetIntArrayRegion(codes, 0, 1, code_values);
  return status;
}

}  // extern "C"
