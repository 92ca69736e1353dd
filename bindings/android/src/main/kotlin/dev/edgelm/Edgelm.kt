// Kotlin binding of the edgelm C API (include/edgelm/edgelm.h), through libedgelm_jni.so.
//
// Ownership: Edgelm (a model) and Session own native memory until close(); use them with `use { }`.
// A session keeps its model's native memory alive, so the model may be closed before its sessions.
// Defaults: ModelOptions, SessionOptions and GenerateOptions take every default from the C library's
// _init functions, so they are those of the library that is loaded.
// Threading: a model may be used from any thread. A session runs one call at a time: a call made while
// another one runs on a different thread waits for it, because the C session must never be entered
// by two threads at once. Session.cancel() is the exception: it may be called from any thread, at any
// time, and never waits.
package dev.edgelm

import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch

/**
 * A failed edgelm call: [status] is the C API's edgelm_status code and [statusName] its name. [output] is
 * what the model wrote when the status is EDGELM_INVALID_OUTPUT (12), null otherwise: for
 * [Session.toolCalls], the whole JSON array, in which each malformed call is {"error": ..., "raw": ...}
 * and the well-formed ones are as usual.
 */
class EdgelmException(val status: Int, val statusName: String, detail: String, val output: String? = null) :
    RuntimeException("$statusName: $detail")

/**
 * How a generate call ended: [FINISHED] (end of turn, maxTokens, a stop string, a tool call, end of input)
 * or [CANCELLED] by Session.cancel. [Stats.stopReason] tells which way it finished.
 */
enum class GenerateResult { FINISHED, CANCELLED }

/**
 * Why the last generate call stopped (edgelm_stop_reason): [NONE] (no generate yet, or it failed),
 * [TOKEN] (the model ended its turn, or a constrained answer is complete), [MAX_TOKENS], [STRING] (a stop
 * string), [CALLBACK] (the listener returned false, or a Flow's collector went away), [TOOL_CALL] (read
 * [Session.toolCalls], append each result with role "tool", and generate again).
 */
enum class StopReason {
    NONE, TOKEN, MAX_TOKENS, STRING, CALLBACK, TOOL_CALL;

    internal companion object {
        /** The reason of a C edgelm_stop_reason value; one this binding does not know counts as NONE. */
        fun of(reason: Int): StopReason = StopReason.values().getOrElse(reason) { NONE }
    }
}

/**
 * Whether a reply must call a tool (edgelm_tool_choice): [AUTO] (the model decides) or [REQUIRED] (the
 * reply is one or more calls, constrained to the declared schemas; the session needs
 * [SessionOptions.toolsJson]).
 */
enum class ToolChoice { AUTO, REQUIRED }

/** Severity of a library message (edgelm_log_level); see Edgelm.setLogger. */
enum class LogLevel {
    DEBUG, INFO, WARN, ERROR;

    internal companion object {
        /** The level of a C edgelm_log_level value; one this binding does not know counts as the nearest. */
        fun of(level: Int): LogLevel = LogLevel.values()[level.coerceIn(0, LogLevel.values().size - 1)]
    }
}

/** KV cache storage (edgelm_kv_type). */
enum class KvType { F32, BF16, INT8, INT4 }

/**
 * Speculative decoding (edgelm_speculation): guesses of the next tokens are verified together in one pass over
 * the weights; the output is unchanged. NONE; PROMPT_LOOKUP (guesses from earlier text of the context: pays when
 * the reply quotes or edits it); DRAFT_MODEL (a smaller model with the same tokenizer guesses,
 * [SessionOptions.draftModel]). The session measures what drafts cost and earn and drafts only where they pay.
 */
enum class Speculation { NONE, PROMPT_LOOKUP, DRAFT_MODEL }

/**
 * Checking the weights against the checksums in the file (edgelm_weight_verification): NONE; AT_LOAD
 * (the load fails with CORRUPT_MODEL, naming the damaged tensor); BACKGROUND (the load returns at
 * once; calls that compute fail once damage is found). Files converted before 1.1 load unverified.
 */
enum class VerifyWeights { NONE, AT_LOAD, BACKGROUND }

/** What a session does when the conversation would outgrow its context (edgelm_overflow). */
enum class Overflow { ERROR, DROP_OLDEST_TURNS, KEEP_SINK_AND_RECENT }

/**
 * Options of [Edgelm.load] (edgelm_model_options); every default is edgelm_model_options_init's.
 * @property threads compute threads of the model's pool, and the default of every session's own pool;
 *   0 = one per core
 * @property populate fault every page in at load: slower load, no page faults at the first tokens
 * @property maxMemoryBytes refuse a model whose resident weights and tokenizer need more; 0 = no limit
 * @property verifyWeights check every weight against the file's checksums (see [VerifyWeights])
 * @property packedWeightsCachePath a file where XNNPACK's packed weights are kept between loads, e.g.
 *   `File(context.cacheDir, "gemma-e2b.xnnpack").path`, one per model: the first load writes it, later
 *   loads map it instead of packing (seconds for E2B). A stale or damaged file is rewritten, never an
 *   error. null = pack at every load
 */
data class ModelOptions(
    val threads: Int = modelDefaults.threads,
    val populate: Boolean = modelDefaults.populate,
    val maxMemoryBytes: Long = modelDefaults.maxMemoryBytes,
    val verifyWeights: VerifyWeights = modelDefaults.verifyWeights,
    val packedWeightsCachePath: String? = null,
)

/**
 * Options of [Edgelm.newSession] (edgelm_session_options); every default is edgelm_session_options_init's.
 * @property contextLength tokens the conversation may hold; at most the model's maxContext
 * @property prefillChunk tokens per prefill step; bounds the scratch memory
 * @property sinkTokens tokens kept at the start by [Overflow.KEEP_SINK_AND_RECENT]
 * @property maxMemoryBytes refuse a session whose KV cache at the full context and scratch buffers need more;
 *   0 = no limit
 * @property threads threads of the session's own pool; 0 = the model's [ModelOptions.threads]
 * @property shareModelThreads compute on the model's pool instead: fewer threads, but the sessions sharing it
 *   take turns
 * @property enableThinking the conversation opens with Gemma 4's thinking marker, and a reply may start with a
 *   thought: passed to generate's onThought, not to onToken, and dropped from the history when the model turn
 *   closes
 * @property toolsJson tools the model may call: a JSON array of function declarations, OpenAI style
 *   ({"type":"function","function":{"name","description","parameters"}}) or the bare function objects; null or
 *   "" = none. Fixed for the session. A call ends generate with [StopReason.TOOL_CALL]: read
 *   [Session.toolCalls], append each result with appendMessage("tool", result), and generate again to continue
 *   the same model turn
 * @property speculation speculative decoding, see [Speculation]
 * @property maxDraftTokens the most tokens one draft proposes, 1..16 (and below prefillChunk)
 * @property draftModel the drafting model for [Speculation.DRAFT_MODEL] (same tokenizer); the session keeps its
 *   native model alive, so it may be closed after newSession
 */
data class SessionOptions(
    val contextLength: Int = sessionDefaults.contextLength,
    val prefillChunk: Int = sessionDefaults.prefillChunk,
    val kvType: KvType = sessionDefaults.kvType,
    val overflow: Overflow = sessionDefaults.overflow,
    val sinkTokens: Int = sessionDefaults.sinkTokens,
    val maxMemoryBytes: Long = sessionDefaults.maxMemoryBytes,
    val threads: Int = sessionDefaults.threads,
    val shareModelThreads: Boolean = sessionDefaults.shareModelThreads,
    val enableThinking: Boolean = sessionDefaults.enableThinking,
    val toolsJson: String? = null,
    val speculation: Speculation = sessionDefaults.speculation,
    val maxDraftTokens: Int = sessionDefaults.maxDraftTokens,
    val draftModel: Edgelm? = null,
)

/**
 * Options of [Session.generate] (edgelm_generate_options); every default is edgelm_generate_options_init's.
 * @property ignoreStop do not stop at the model's stop tokens
 * @property temperature 0 = greedy
 * @property topK 0 = off
 * @property topP 1 = off
 * @property minP 0 = off
 * @property repetitionPenalty 1 = off
 * @property presencePenalty 0 = off
 * @property penaltyLastN recent tokens the penalties see
 * @property seed the same seed, model, options and inputs give the same text on the same kind of CPU;
 *   all 64 bits count (the library reads it as unsigned)
 * @property stopStrings generation ends when the text contains one of these; it and what follows are
 *   never passed on, even when they span tokens (the tokens stay in the history)
 * @property logitBias added to a token's logit before sampling; Float.NEGATIVE_INFINITY bans the token
 * @property thinkingBudget with [SessionOptions.enableThinking], thought tokens after which the library closes the
 *   thought itself and the answer starts; -1 = no limit
 * @property grammar the answer is a sentence of this grammar (GBNF-like, docs/assistant.md); null = free
 * @property jsonSchema the answer is a JSON value valid for this JSON Schema; null = free. At most one of [grammar]
 *   and [jsonSchema]. Constrained answers end once complete (maxTokens still applies: see [Stats.stopReason])
 * @property toolChoice [ToolChoice.REQUIRED] makes the reply tool calls (the session needs tools)
 */
data class GenerateOptions(
    val maxTokens: Int = generateDefaults.maxTokens,
    val ignoreStop: Boolean = generateDefaults.ignoreStop,
    val temperature: Float = generateDefaults.temperature,
    val topK: Int = generateDefaults.topK,
    val topP: Float = generateDefaults.topP,
    val minP: Float = generateDefaults.minP,
    val repetitionPenalty: Float = generateDefaults.repetitionPenalty,
    val presencePenalty: Float = generateDefaults.presencePenalty,
    val penaltyLastN: Int = generateDefaults.penaltyLastN,
    val seed: Long = generateDefaults.seed,
    val stopStrings: List<String> = emptyList(),
    val logitBias: Map<Int, Float> = emptyMap(),
    val thinkingBudget: Int = generateDefaults.thinkingBudget,
    val grammar: String? = null,
    val jsonSchema: String? = null,
    val toolChoice: ToolChoice = generateDefaults.toolChoice,
)

/**
 * What a model is (edgelm_model_info). Special token ids are -1 where the vocabulary has none;
 * [stopTokens] end a generation; [chatTemplate] is the built-in template's name, "" without one;
 * [defaultContextLength] is [SessionOptions.contextLength]'s default.
 */
data class ModelInfo(
    val family: String,
    val recipe: String,
    val vocabSize: Int,
    val hiddenSize: Int,
    val numLayers: Int,
    val numHeads: Int,
    val maxContext: Int,
    val hasTokenizer: Boolean,
    val fileBytes: Long,
    val weightBytesPerToken: Long,
    val bosToken: Int,
    val eosToken: Int,
    val turnStartToken: Int,
    val turnEndToken: Int,
    val stopTokens: IntArray,
    val chatTemplate: String,
    val defaultContextLength: Int,
)

/** Natural-log probabilities of scored tokens, one per token, and their sum (edgelm_session_score). */
data class ScoreResult(val tokenLogprobs: FloatArray, val logprobSum: Double)

/**
 * Statistics of a session's last generate call, and of its memory (edgelm_stats); [stopReason] is why the
 * last generate call stopped. With speculation: [decodePasses] forward passes decoding made (without it,
 * generatedTokens - 1), [draftedTokens] guesses verified, [acceptedDraftTokens] of them then sampled.
 */
data class Stats(
    val promptTokens: Long,
    val generatedTokens: Long,
    val prefillTokensPerSecond: Double,
    val decodeTokensPerSecond: Double,
    val timeToFirstTokenMs: Double,
    val kvCacheBytes: Long,
    val contextTokens: Long,
    val stopReason: StopReason = StopReason.NONE,
    val decodePasses: Long = 0,
    val draftedTokens: Long = 0,
    val acceptedDraftTokens: Long = 0,
)

/** An opened model file (edgelm_model): weights memory-mapped read-only, tokenizer, chat template. */
class Edgelm private constructor(private var handle: Long) : AutoCloseable {
    private val lock = Any()  // orders every call against close()

    companion object {
        /** The native library's version, "MAJOR.MINOR.PATCH". */
        val version: String
            get() = NativeBridge.version().decodeToString()

        /** The native library's version as one number, MAJOR * 1000000 + MINOR * 1000 + PATCH. */
        val versionNumber: Int
            get() = NativeBridge.versionNumber()

        /** Opens and validates the model file at [path]. */
        fun load(path: String, options: ModelOptions = ModelOptions()): Edgelm {
            require(options.maxMemoryBytes >= 0) { "maxMemoryBytes must not be negative" }
            val modelOut = LongArray(1)
            val status = NativeBridge.modelLoad(path.toCString(), options.threads, options.populate,
                                                options.maxMemoryBytes, options.verifyWeights.ordinal,
                                                options.packedWeightsCachePath?.toCString(), modelOut)
            throwIfFailed(status) { NativeBridge.lastError() }
            return Edgelm(modelOut[0])
        }

        /**
         * Routes the library's messages at [minLevel] and above to [logger], for the whole process; null
         * (the default) drops them. [logger] is called on whatever thread the library is working on,
         * several at once: it must be thread-safe and quick, and must not call edgelm. What it throws is
         * dropped. A call already running on another thread may still log to the previous logger.
         */
        fun setLogger(minLevel: LogLevel = LogLevel.INFO, logger: ((LogLevel, String) -> Unit)?) {
            val listener = logger?.let { log ->
                LogListener { level, utf8 -> log(LogLevel.of(level), utf8.decodeToString()) }
            }
            NativeBridge.setLogListener(listener, minLevel.ordinal)
        }
    }

    /** What the model is: sizes, special and stop tokens, chat template. */
    val info: ModelInfo
        get() = synchronized(lock) {
            val ints = IntArray(11)
            val longs = LongArray(2)
            val texts = arrayOfNulls<ByteArray>(3)
            val stopTokens = arrayOfNulls<IntArray>(1)
            throwIfFailed(NativeBridge.modelInfo(openHandle(), ints, longs, texts, stopTokens)) {
                NativeBridge.lastError()
            }
            ModelInfo(texts[0]!!.decodeToString(), texts[1]!!.decodeToString(), ints[0], ints[1], ints[2], ints[3],
                      ints[4], ints[5] != 0, longs[0], longs[1], ints[6], ints[7], ints[8], ints[9], stopTokens[0]!!,
                      texts[2]!!.decodeToString(), ints[10])
        }

    /**
     * Text -> token ids. [addBos] puts the BOS token first; [parseSpecial] lets control-token text such
     * as "<|turn>" become control tokens (otherwise it stays plain text).
     */
    fun tokenize(text: String, addBos: Boolean = false, parseSpecial: Boolean = false): IntArray = synchronized(lock) {
        val model = openHandle()
        val utf8 = text.toByteArray(Charsets.UTF_8)
        val count = LongArray(1)
        var tokens = IntArray(utf8.size + 2)  // enough for most text: a token covers a byte or more
        var status = NativeBridge.tokenize(model, utf8, addBos, parseSpecial, tokens, count)
        if (status == STATUS_BUFFER_TOO_SMALL) {
            tokens = IntArray(arraySize(count[0]))
            status = NativeBridge.tokenize(model, utf8, addBos, parseSpecial, tokens, count)
        }
        throwIfFailed(status) { NativeBridge.lastError() }
        tokens.copyOf(count[0].toInt())
    }

    /** Token ids -> text. */
    fun detokenize(tokens: IntArray): String = synchronized(lock) {
        val model = openHandle()
        val size = LongArray(1)
        val bytes = queriedSize(NativeBridge.detokenize(model, tokens, null, size), size[0]) {
            NativeBridge.lastError()
        }
        val utf8 = ByteArray(arraySize(bytes + 1L))  // the C API also writes a NUL
        throwIfFailed(NativeBridge.detokenize(model, tokens, utf8, size)) { NativeBridge.lastError() }
        utf8.decodeToString(0, size[0].toInt())
    }

    /** Starts a conversation. */
    fun newSession(options: SessionOptions = SessionOptions()): Session {
        require(options.maxMemoryBytes >= 0) { "maxMemoryBytes must not be negative" }
        val draft = options.draftModel
        if (draft == null || draft === this) return synchronized(lock) { createSession(options, draft != null) }
        // Both models stay open during the call: their locks are taken in one global order, so that two threads
        // drafting each with the other's model cannot deadlock.
        val (first, second) = if (System.identityHashCode(this) <= System.identityHashCode(draft)) this to draft
                              else draft to this
        return synchronized(first.lock) { synchronized(second.lock) { createSession(options, true) } }
    }

    /** edgelm_session_create; the caller holds this model's lock (and the draft model's). */
    private fun createSession(options: SessionOptions, withDraft: Boolean): Session {
        val sessionOut = LongArray(1)
        val draftHandle = if (withDraft) options.draftModel!!.openHandle() else 0L
        val status = NativeBridge.sessionCreate(openHandle(), options.contextLength, options.prefillChunk,
                                                options.kvType.ordinal, options.overflow.ordinal, options.sinkTokens,
                                                options.maxMemoryBytes, options.threads, options.shareModelThreads,
                                                options.enableThinking, options.toolsJson?.toCString(),
                                                options.speculation.ordinal, options.maxDraftTokens, draftHandle,
                                                sessionOut)
        throwIfFailed(status) { NativeBridge.lastError() }
        return Session(sessionOut[0])
    }

    /** Frees the model; its open sessions keep working (the library frees its memory with the last one). */
    override fun close() {
        synchronized(lock) {
            if (handle == 0L) return
            NativeBridge.modelFree(handle)
            handle = 0
        }
    }

    private fun openHandle(): Long {
        check(handle != 0L) { "the model is closed" }
        return handle
    }
}

/** One conversation (edgelm_session): token history, KV cache, sampler. See the threading note above. */
class Session internal constructor(private var handle: Long) : AutoCloseable {
    private val callLock = ReentrantLock()  // held for every C call on the session but cancel
    private val cancelLock = Any()          // orders cancel() against generate's start and end, and close
    private var generating = false          // guarded by cancelLock

    /**
     * Appends one chat turn; [role] is "system", "user" or "assistant". Processed by the next generate. Role
     * "tool" appends a tool result instead (content: JSON, or plain text), inside the open model turn,
     * answering its oldest unanswered call (see [toolCalls]); INVALID_ARGUMENT when there is none.
     */
    fun appendMessage(role: String, content: String) = withSession { session ->
        checkSession(NativeBridge.sessionAppendMessage(session, role.toCString(), content.toCString()), session)
    }

    /** Appends raw text, no chat template; [parseSpecial] lets "<|turn>" etc. become control tokens. */
    fun appendText(text: String, parseSpecial: Boolean = false) = withSession { session ->
        checkSession(NativeBridge.sessionAppendText(session, text.toCString(), parseSpecial), session)
    }

    /** Appends token ids (see Edgelm.tokenize). */
    fun appendTokens(tokens: IntArray) = withSession { session ->
        checkSession(NativeBridge.sessionAppendTokens(session, tokens), session)
    }

    /**
     * Answers the conversation: samples until a stop token, maxTokens, a tool call or [cancel], passing each
     * new piece of text (whole UTF-8 characters) to [onToken] on the calling thread. Blocks: call it off the
     * main thread. [onToken] may call [cancel], but nothing else on this session. [stats] tells why it
     * stopped ([Stats.stopReason]).
     */
    fun generate(options: GenerateOptions = GenerateOptions(), onToken: (String) -> Unit): GenerateResult =
        generateWhile(options, null) { text -> onToken(text); true }

    /**
     * [generate] that also passes the thought of a thinking session ([SessionOptions.enableThinking]) to
     * [onThought], piece by piece, on the calling thread, before the answer reaches [onToken]:
     * `generate(options, onThought = { thought.append(it) }) { answer.append(it) }`. The same rules as for
     * [onToken] apply to it.
     */
    fun generate(options: GenerateOptions = GenerateOptions(), onThought: (String) -> Unit,
                 onToken: (String) -> Unit): GenerateResult =
        generateWhile(options, { text -> onThought(text); true }) { text -> onToken(text); true }

    /**
     * [generate] as a cold Flow of text pieces, produced on Dispatchers.IO. Cancelling the collector
     * stops generation; a [cancel] ends the flow normally.
     */
    fun generateFlow(options: GenerateOptions = GenerateOptions()): Flow<String> = answerFlow(options, null)

    /**
     * [generateFlow] that also passes the thought of a thinking session to [onThought], piece by piece, on
     * the Dispatchers.IO thread that produces the flow (the flow itself carries the answer only):
     * `generateFlow(options, onThought = { thought.append(it) })`.
     */
    fun generateFlow(options: GenerateOptions = GenerateOptions(), onThought: (String) -> Unit): Flow<String> =
        answerFlow(options, onThought)

    /**
     * The tool calls of the last generate that stopped with [StopReason.TOOL_CALL], as a JSON array:
     * `[{"name": "...", "arguments": {...}}, ...]`; "[]" after any other stop. Answer each, in order, with
     * appendMessage("tool", result), then generate again. When the model wrote a call malformed, throws an
     * [EdgelmException] with status INVALID_OUTPUT (12) whose [EdgelmException.output] is the whole array,
     * the malformed calls in it as {"error": "...", "raw": "..."}.
     */
    fun toolCalls(): String = withSession { session ->
        val size = LongArray(1)
        val bytes = queriedSize(NativeBridge.sessionToolCalls(session, null, size), size[0]) {
            NativeBridge.sessionError(session)
        }
        val utf8 = ByteArray(bytes)  // the size counts the NUL the C API also writes
        val status = NativeBridge.sessionToolCalls(session, utf8, size)
        val json = utf8.decodeToString(0, (size[0] - 1).coerceIn(0L, bytes.toLong()).toInt())
        if (status == STATUS_INVALID_OUTPUT) {
            val detail = NativeBridge.sessionError(session).decodeToString()
            throw EdgelmException(status, NativeBridge.statusName(status).decodeToString(), detail, json)
        }
        checkSession(status, session)
        json
    }

    /**
     * Stops a running [generate] (its result is then CANCELLED). Safe from any thread; does nothing when
     * no generate is running.
     */
    fun cancel() {
        synchronized(cancelLock) {
            if (generating) {
                NativeBridge.sessionCancel(handle)
            }
        }
    }

    /**
     * Processes the pending tokens and returns raw logits (after the model's soft-cap, before sampling):
     * the last token's vocabSize values, or with [allPositions] one row of vocabSize per token that was
     * pending, in order. With nothing pending, the last token's logits again (or, with [allPositions], none).
     */
    fun evaluate(allPositions: Boolean = false): FloatArray = withSession { session ->
        val count = LongArray(1)
        val size = queriedSize(NativeBridge.sessionEvaluate(session, allPositions, null, count), count[0]) {
            NativeBridge.sessionError(session)
        }
        val logits = FloatArray(size)
        checkSession(NativeBridge.sessionEvaluate(session, allPositions, logits, count), session)
        logits
    }

    /**
     * Appends [tokens] to the history and returns the natural-log probability the model gives each after
     * everything before it. The history must not be empty (start it with the BOS token); [rewind] removes
     * the scored tokens again.
     */
    fun score(tokens: IntArray): ScoreResult = withSession { session ->
        val logprobs = FloatArray(tokens.size)
        val sum = DoubleArray(1)
        checkSession(NativeBridge.sessionScore(session, tokens, logprobs, sum), session)
        ScoreResult(logprobs, sum[0])
    }

    /**
     * The session's state (history, chat state, KV cache), for [restoreState] on a session of the same
     * model file and options. A state larger than a ByteArray can hold (2 GB) needs [saveFile].
     */
    fun saveState(): ByteArray = withSession { session ->
        val size = LongArray(1)
        val bytes = queriedSize(NativeBridge.sessionSaveState(session, null, size), size[0]) {
            NativeBridge.sessionError(session)
        }
        val state = ByteArray(bytes)
        checkSession(NativeBridge.sessionSaveState(session, state, size), session)
        state
    }

    /** Replaces the session's state with one from [saveState]; a corrupt or mismatched one changes nothing. */
    fun restoreState(state: ByteArray) = withSession { session ->
        checkSession(NativeBridge.sessionRestoreState(session, state), session)
    }

    /** Writes the session's state to [path] atomically (a synced temporary file renamed over it). */
    fun saveFile(path: String) = withSession { session ->
        checkSession(NativeBridge.sessionSaveFile(session, path.toCString()), session)
    }

    /** Replaces the session's state with one [saveFile] wrote; a corrupt or mismatched file changes nothing. */
    fun restoreFile(path: String) = withSession { session ->
        checkSession(NativeBridge.sessionRestoreFile(session, path.toCString()), session)
    }

    /**
     * For the app's low-memory signal (onTrimMemory): frees what the session can rebuild and drops the
     * per-layer embedding table's pages from memory; the conversation is kept. Returns the bytes given
     * back. Like every call but [cancel], it waits for a running generate.
     */
    fun releaseMemory(): Long = withSession { session ->
        val released = LongArray(1)
        checkSession(NativeBridge.sessionReleaseMemory(session, released), session)
        released[0]
    }

    /** Forgets the whole conversation (keeps the session's memory). */
    fun reset() = withSession { session -> checkSession(NativeBridge.sessionReset(session), session) }

    /** Keeps the first [tokenCount] tokens of the history and drops the rest. */
    fun rewind(tokenCount: Long) = withSession { session ->
        require(tokenCount >= 0) { "tokenCount must not be negative" }
        checkSession(NativeBridge.sessionRewind(session, tokenCount), session)
    }

    /** Tokens in the history, processed or pending. */
    val tokenCount: Long
        get() = withSession { session -> NativeBridge.sessionTokenCount(session) }

    /** Statistics of the last generate call. */
    val stats: Stats
        get() = withSession { session ->
            val counts = LongArray(7)
            val rates = DoubleArray(3)
            val codes = IntArray(1)
            checkSession(NativeBridge.sessionStats(session, counts, rates, codes), session)
            Stats(counts[0], counts[1], rates[0], rates[1], rates[2], counts[2], counts[3], StopReason.of(codes[0]),
                  decodePasses = counts[4], draftedTokens = counts[5], acceptedDraftTokens = counts[6])
        }

    /** Stops a running generate, waits for it, then frees the session. */
    override fun close() {
        cancel()
        callLock.withLock {
            synchronized(cancelLock) {
                if (handle == 0L) return
                NativeBridge.sessionFree(handle)
                handle = 0
            }
        }
    }

    /** The flow of [generateFlow]; [onThought] (may be null) gets the thought on the producing thread. */
    private fun answerFlow(options: GenerateOptions, onThought: ((String) -> Unit)?): Flow<String> = callbackFlow {
        launch(Dispatchers.IO) {
            // A closed channel (the collector is gone) stops generation at the next token.
            generateWhile(options, onThought?.let { thought -> { text: String -> thought(text); true } }) { text ->
                trySendBlocking(text).isSuccess
            }
            channel.close()
        }
        awaitClose { this@Session.cancel() }  // stops a prefill too, which produces no token to stop at
    }

    /**
     * Generates, passing answer text to [onText] and thought text to [onThought] (null: thoughts are not
     * passed on); either returns false to stop.
     */
    private fun generateWhile(options: GenerateOptions, onThought: ((String) -> Boolean)?,
                              onText: (String) -> Boolean): GenerateResult =
        withSession { session ->
            val listener = TokenListener { utf8 -> utf8.isEmpty() || onText(utf8.decodeToString()) }
            val thoughtListener = onThought?.let { thought ->
                TokenListener { utf8 -> utf8.isEmpty() || thought(utf8.decodeToString()) }
            }
            synchronized(cancelLock) { generating = true }
            val status = try {
                with(options) {
                    // Every string is copied by the C call: the arrays need not outlive it.
                    NativeBridge.sessionGenerate(session, maxTokens, ignoreStop, temperature, topK, topP, minP,
                                                 repetitionPenalty, presencePenalty, penaltyLastN, seed,
                                                 stopStrings.map { it.toCString() }.toTypedArray(),
                                                 logitBias.keys.toIntArray(), logitBias.values.toFloatArray(),
                                                 thinkingBudget, grammar?.toCString(), jsonSchema?.toCString(),
                                                 toolChoice.ordinal, listener, thoughtListener)
                }
            } finally {
                synchronized(cancelLock) { generating = false }
            }
            when (status) {
                STATUS_CANCELLED -> GenerateResult.CANCELLED
                else -> {
                    checkSession(status, session)
                    GenerateResult.FINISHED
                }
            }
        }

    /** Runs [block] with the open session's handle, holding the call lock. */
    private inline fun <T> withSession(block: (session: Long) -> T): T = callLock.withLock { block(openHandle()) }

    private fun openHandle(): Long {
        val session = synchronized(cancelLock) { handle }
        check(session != 0L) { "the session is closed" }
        return session
    }
}

private const val STATUS_OK = 0
private const val STATUS_CANCELLED = 8
private const val STATUS_BUFFER_TOO_SMALL = 11
private const val STATUS_INVALID_OUTPUT = 12

/** The largest array the JVMs allocate. */
private const val MAX_ARRAY_SIZE = Int.MAX_VALUE - 8

/** Throws EdgelmException unless [status] is EDGELM_OK; [message] reads the C API's message for it. */
private inline fun throwIfFailed(status: Int, message: () -> ByteArray) {
    if (status == STATUS_OK) return
    val detail = message().decodeToString()  // before any other call can replace it
    throw EdgelmException(status, NativeBridge.statusName(status).decodeToString(), detail)
}

/** throwIfFailed with the message of [session]'s last failed call. */
private fun checkSession(status: Int, session: Long) = throwIfFailed(status) { NativeBridge.sessionError(session) }

/**
 * The size a size query (a call with a null array) reported: [status] is BUFFER_TOO_SMALL, or OK when
 * there is nothing to write; anything else throws, with [message].
 */
private inline fun queriedSize(status: Int, size: Long, message: () -> ByteArray): Int {
    if (status != STATUS_BUFFER_TOO_SMALL) throwIfFailed(status, message)
    return arraySize(size)
}

/** [size] as an array size; throws when one JVM array cannot hold that many elements. */
private fun arraySize(size: Long): Int {
    check(size >= 0 && size <= MAX_ARRAY_SIZE) { "$size elements do not fit in one JVM array" }
    return size.toInt()
}

/** UTF-8 for the C API, which takes NUL-terminated strings: an embedded NUL would cut the text short. */
private fun String.toCString(): ByteArray {
    require('\u0000' !in this) { "text for edgelm must not contain NUL characters" }
    return toByteArray(Charsets.UTF_8)
}

// The C _init functions' values, read once (see NativeBridge.*OptionsInit for the array layouts).
private val modelDefaults: ModelOptions by lazy {
    val ints = IntArray(3)
    val longs = LongArray(1)
    NativeBridge.modelOptionsInit(ints, longs)
    ModelOptions(threads = ints[0], populate = ints[1] != 0, maxMemoryBytes = longs[0],
                 verifyWeights = VerifyWeights.values()[ints[2]])
}

private val sessionDefaults: SessionOptions by lazy {
    val ints = IntArray(10)
    val longs = LongArray(1)
    NativeBridge.sessionOptionsInit(ints, longs)
    SessionOptions(contextLength = ints[0], prefillChunk = ints[1], kvType = KvType.values()[ints[2]],
                   overflow = Overflow.values()[ints[3]], sinkTokens = ints[4], maxMemoryBytes = longs[0],
                   threads = ints[5], shareModelThreads = ints[6] != 0, enableThinking = ints[7] != 0,
                   speculation = Speculation.values()[ints[8]], maxDraftTokens = ints[9])
}

private val generateDefaults: GenerateOptions by lazy {
    val ints = IntArray(6)
    val floats = FloatArray(5)
    val longs = LongArray(1)
    NativeBridge.generateOptionsInit(ints, floats, longs)
    GenerateOptions(maxTokens = ints[0], ignoreStop = ints[1] != 0, temperature = floats[0], topK = ints[2],
                    topP = floats[1], minP = floats[2], repetitionPenalty = floats[3], presencePenalty = floats[4],
                    penaltyLastN = ints[3], seed = longs[0], thinkingBudget = ints[4],
                    toolChoice = ToolChoice.values()[ints[5]])
}

/** Receives each generated piece of text as UTF-8; returns false to stop generating. */
internal fun interface TokenListener {
    fun onToken(utf8: ByteArray): Boolean
}

/** Receives each library message: its edgelm_log_level and its UTF-8 text. Any thread, concurrently. */
internal fun interface LogListener {
    fun onLog(level: Int, utf8: ByteArray)
}

/**
 * The JNI functions of libedgelm_jni.so (src/main/cpp/edgelm_jni.cc). Handles are C pointers. Outputs go
 * into the arrays passed; a null output array asks for the size (EDGELM_BUFFER_TOO_SMALL and the size).
 */
internal object NativeBridge {
    init {
        System.loadLibrary("edgelm_jni")
    }

    external fun version(): ByteArray
    external fun versionNumber(): Int
    external fun statusName(status: Int): ByteArray
    external fun lastError(): ByteArray
    external fun setLogListener(listener: LogListener?, minLevel: Int)

    /** ints: threads, populate, verifyWeights; longs: maxMemoryBytes. */
    external fun modelOptionsInit(ints: IntArray, longs: LongArray)
    external fun modelLoad(path: ByteArray, threads: Int, populate: Boolean, maxMemoryBytes: Long,
                           verifyWeights: Int, packedWeightsCache: ByteArray?, modelOut: LongArray): Int
    external fun modelFree(model: Long)
    /** The field order of edgelm_model_info: see modelInfo in edgelm_jni.cc. */
    external fun modelInfo(model: Long, ints: IntArray, longs: LongArray, texts: Array<ByteArray?>,
                           stopTokens: Array<IntArray?>): Int
    external fun tokenize(model: Long, text: ByteArray, addBos: Boolean, parseSpecial: Boolean, tokens: IntArray?,
                          count: LongArray): Int
    external fun detokenize(model: Long, tokens: IntArray, text: ByteArray?, count: LongArray): Int

    /** ints: contextLength, prefillChunk, kvType, overflow, sinkTokens, threads, shareModelThreads,
     *  enableThinking, speculation, maxDraftTokens; longs: maxMemoryBytes. */
    external fun sessionOptionsInit(ints: IntArray, longs: LongArray)
    /** toolsJson null: no tools; draftModel 0: none. */
    external fun sessionCreate(model: Long, contextLength: Int, prefillChunk: Int, kvType: Int, overflow: Int,
                               sinkTokens: Int, maxMemoryBytes: Long, threads: Int, shareModelThreads: Boolean,
                               enableThinking: Boolean, toolsJson: ByteArray?, speculation: Int,
                               maxDraftTokens: Int, draftModel: Long, sessionOut: LongArray): Int
    external fun sessionFree(session: Long)
    external fun sessionError(session: Long): ByteArray
    external fun sessionAppendMessage(session: Long, role: ByteArray, content: ByteArray): Int
    external fun sessionAppendText(session: Long, text: ByteArray, parseSpecial: Boolean): Int
    external fun sessionAppendTokens(session: Long, tokens: IntArray): Int
    /** ints: maxTokens, ignoreStop, topK, penaltyLastN, thinkingBudget, toolChoice; floats: temperature, topP,
     *  minP, repetitionPenalty, presencePenalty; longs: seed. */
    external fun generateOptionsInit(ints: IntArray, floats: FloatArray, longs: LongArray)
    /** grammar, jsonSchema null: none; thoughtListener null: thoughts are not passed on. */
    external fun sessionGenerate(session: Long, maxTokens: Int, ignoreStop: Boolean, temperature: Float, topK: Int,
                                 topP: Float, minP: Float, repetitionPenalty: Float, presencePenalty: Float,
                                 penaltyLastN: Int, seed: Long, stopStrings: Array<ByteArray>,
                                 biasTokens: IntArray, biasValues: FloatArray, thinkingBudget: Int,
                                 grammar: ByteArray?, jsonSchema: ByteArray?, toolChoice: Int,
                                 listener: TokenListener, thoughtListener: TokenListener?): Int
    /** size: the JSON's bytes with the NUL; json null asks for it. INVALID_OUTPUT fills json too. */
    external fun sessionToolCalls(session: Long, json: ByteArray?, size: LongArray): Int
    external fun sessionCancel(session: Long)
    external fun sessionEvaluate(session: Long, allPositions: Boolean, logits: FloatArray?, count: LongArray): Int
    external fun sessionScore(session: Long, tokens: IntArray, logprobs: FloatArray, sum: DoubleArray): Int
    external fun sessionSaveFile(session: Long, path: ByteArray): Int
    external fun sessionRestoreFile(session: Long, path: ByteArray): Int
    external fun sessionSaveState(session: Long, state: ByteArray?, size: LongArray): Int
    external fun sessionRestoreState(session: Long, state: ByteArray): Int
    external fun sessionReleaseMemory(session: Long, released: LongArray): Int
    external fun sessionReset(session: Long): Int
    external fun sessionRewind(session: Long, tokenCount: Long): Int
    external fun sessionTokenCount(session: Long): Long
    /** counts: prompt, generated, KV bytes, context tokens; rates: prefill, decode, TTFT; codes: stop reason. */
    external fun sessionStats(session: Long, counts: LongArray, rates: DoubleArray, codes: IntArray): Int
}
