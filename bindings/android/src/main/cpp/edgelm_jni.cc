// JNI bridge between dev.edgelm.NativeBridge (Edgelm.kt) and the edgelm C API. It only translates:
// handles travel as jlong, statuses as jint, and text as UTF-8 byte arrays, because JNI's string
// functions use "modified UTF-8", which encodes NUL and characters outside the BMP (emoji) differently.
// Failures are returned as statuses; Edgelm.kt reads the message and throws. Threading is the C API's:
// Edgelm.kt never calls into one session from two threads at once, except for sessionCancel.
#include <jni.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "edgelm/edgelm.h"

namespace {

template <typename T>
T* FromHandle(jlong handle) {
  return reinterpret_cast<T*>(static_cast<intptr_t>(handle));
}

void StoreHandle(JNIEnv* env, jlongArray out, const void* pointer) {
  const jlong handle = static_cast<jlong>(reinterpret_cast<intptr_t>(pointer));
  env->SetLongArrayRegion(out, 0, 1, &handle);
}

// A NUL-terminated copy of UTF-8 text that Kotlin encoded into a byte array.
std::string ToCString(JNIEnv* env, jbyteArray utf8) {
  std::string text(static_cast<size_t>(env->GetArrayLength(utf8)), '\0');
  env->GetByteArrayRegion(utf8, 0, static_cast<jsize>(text.size()), reinterpret_cast<jbyte*>(&text[0]));
  return text;
}

// NULL, with an OutOfMemoryError pending, when the array cannot be allocated.
jbyteArray ToByteArray(JNIEnv* env, const char* text, size_t text_bytes) {
  jbyteArray bytes = env->NewByteArray(static_cast<jsize>(text_bytes));
  if (bytes) env->SetByteArrayRegion(bytes, 0, static_cast<jsize>(text_bytes), reinterpret_cast<const jbyte*>(text));
  return bytes;
}

jbyteArray ToByteArray(JNIEnv* env, const char* text) { return ToByteArray(env, text, std::strlen(text)); }

// What the C token callback needs to reach the Kotlin listener. The callback runs on the thread that
// called sessionGenerate, so the JNIEnv stays valid.
struct TokenListener {
  JNIEnv* env;
  jobject listener;
  jmethodID on_token;  // boolean onToken(byte[] utf8): false stops generation
};

int ForwardToken(void* user_data, int32_t /*token*/, const char* text, size_t text_bytes) {
  auto* target = static_cast<TokenListener*>(user_data);
  JNIEnv* env = target->env;
  jbyteArray utf8 = ToByteArray(env, text, text_bytes);
  if (!utf8) return 1;
  const jboolean keep_going = env->CallBooleanMethod(target->listener, target->on_token, utf8);
  // One array per token: without this a long reply overflows the thread's local reference table.
  env->DeleteLocalRef(utf8);
  // A listener that threw stops generation; the exception surfaces in Kotlin when generate returns.
  return env->ExceptionCheck() || !keep_going;
}

}  // namespace

extern "C" {

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_version(JNIEnv* env, jobject) {
  return ToByteArray(env, edgelm_version());
}

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_statusName(JNIEnv* env, jobject, jint status) {
  return ToByteArray(env, edgelm_status_string(static_cast<edgelm_status>(status)));
}

JNIEXPORT jbyteArray JNICALL Java_dev_edgelm_NativeBridge_lastError(JNIEnv* env, jobject) {
  return ToByteArray(env, edgelm_last_error());
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_modelLoad(JNIEnv* env, jobject, jbyteArray path, jint threads,
                                                              jlong max_memory_bytes, jlongArray model_out) {
  edgelm_model_options options;
  edgelm_model_options_init(&options);
  options.num_threads = threads;
  options.max_memory_bytes = static_cast<uint64_t>(max_memory_bytes);  // Kotlin checked >= 0
  edgelm_model* model = nullptr;
  const edgelm_status status = edgelm_model_load(ToCString(env, path).c_str(), &options, &model);
  StoreHandle(env, model_out, model);
  return status;
}

JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_modelFree(JNIEnv*, jobject, jlong model) {
  edgelm_model_free(FromHandle<edgelm_model>(model));
}

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionCreate(JNIEnv* env, jobject, jlong model,
                                                                  jint context_length, jlong max_memory_bytes,
                                                                  jlongArray session_out) {
  edgelm_session_options options;
  edgelm_session_options_init(&options);
  if (context_length > 0) options.context_length = context_length;
  options.max_memory_bytes = static_cast<uint64_t>(max_memory_bytes);  // Kotlin checked >= 0
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

JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionGenerate(JNIEnv* env, jobject, jlong session,
                                                                    jint max_tokens, jfloat temperature, jlong seed,
                                                                    jobject listener) {
  TokenListener target{env, listener, env->GetMethodID(env->GetObjectClass(listener), "onToken", "([B)Z")};
  if (!target.on_token) return EDGELM_INTERNAL;  // NoSuchMethodError pending
  edgelm_generate_options options;
  edgelm_generate_options_init(&options);
  options.max_tokens = max_tokens;
  options.sampling.temperature = temperature;
  options.sampling.seed = static_cast<uint64_t>(seed);
  return edgelm_session_generate(FromHandle<edgelm_session>(session), &options, ForwardToken, &target);
}

JNIEXPORT void JNICALL Java_dev_edgelm_NativeBridge_sessionCancel(JNIEnv*, jobject, jlong session) {
  edgelm_session_cancel(FromHandle<edgelm_session>(session));
}

// counts: prompt, generated, KV bytes, context tokens; rates: prefill and decode tokens/s, TTFT ms.
JNIEXPORT jint JNICALL Java_dev_edgelm_NativeBridge_sessionStats(JNIEnv* env, jobject, jlong session,
                                                                 jlongArray counts, jdoubleArray rates) {
  edgelm_stats stats;
  edgelm_stats_init(&stats);
  const edgelm_status status = edgelm_session_get_stats(FromHandle<edgelm_session>(session), &stats);
  const jlong count_values[] = {stats.prompt_tokens, stats.generated_tokens, static_cast<jlong>(stats.kv_bytes),
                                stats.context_tokens};
  const jdouble rate_values[] = {stats.prefill_tokens_per_s, stats.decode_tokens_per_s, stats.time_to_first_token_ms};
  env->SetLongArrayRegion(counts, 0, 4, count_values);
  env->SetDoubleArrayRegion(rates, 0, 3, rate_values);
  return status;
}

}  // extern "C"
