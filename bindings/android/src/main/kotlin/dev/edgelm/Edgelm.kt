// Kotlin binding of the edgelm C API (include/edgelm/edgelm.h), through libedgelm_jni.so.
//
// Ownership: Edgelm (a model) and Session own native memory until close(); use them with `use { }`.
// A model must outlive its sessions, so Edgelm.close() refuses while a session is open.
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

/** A failed edgelm call: [status] is the C API's edgelm_status code and [statusName] its name. */
class EdgelmException(val status: Int, val statusName: String, detail: String) :
    RuntimeException("$statusName: $detail")

/** How a generate call ended: [FINISHED] (end of turn, maxTokens, end of input) or [CANCELLED] by Session.cancel. */
enum class GenerateResult { FINISHED, CANCELLED }

/** Statistics of a session's last generate call, and of its memory (edgelm_stats). */
data class Stats(
    val promptTokens: Long,
    val generatedTokens: Long,
    val prefillTokensPerSecond: Double,
    val decodeTokensPerSecond: Double,
    val timeToFirstTokenMs: Double,
    val kvCacheBytes: Long,
    val contextTokens: Long,
)

/** An opened model file (edgelm_model): weights memory-mapped read-only, tokenizer, chat template. */
class Edgelm private constructor(private var handle: Long) : AutoCloseable {
    private val lock = Any()
    private var openSessions = 0

    companion object {
        /** The native library's version, "MAJOR.MINOR.PATCH". */
        val version: String
            get() = NativeBridge.version().decodeToString()

        /**
         * Opens and validates the model file at [path]; [threads] compute threads, 0 = one per core.
         * [maxMemoryBytes]: refuse a model whose resident weights and tokenizer need more, 0 = no limit.
         */
        fun load(path: String, threads: Int = 0, maxMemoryBytes: Long = 0): Edgelm {
            require(maxMemoryBytes >= 0) { "maxMemoryBytes must not be negative" }
            val modelOut = LongArray(1)
            throwIfFailed(NativeBridge.modelLoad(path.toCString(), threads, maxMemoryBytes, modelOut)) {
                NativeBridge.lastError()
            }
            return Edgelm(modelOut[0])
        }
    }

    /**
     * Starts a conversation; [contextLength] in tokens, 0 = the library's default (4096).
     * [maxMemoryBytes]: refuse a session whose KV cache at the full context and scratch need more,
     * 0 = no limit.
     */
    fun newSession(contextLength: Int = 0, maxMemoryBytes: Long = 0): Session = synchronized(lock) {
        require(maxMemoryBytes >= 0) { "maxMemoryBytes must not be negative" }
        check(handle != 0L) { "the model is closed" }
        val sessionOut = LongArray(1)
        throwIfFailed(NativeBridge.sessionCreate(handle, contextLength, maxMemoryBytes, sessionOut)) {
            NativeBridge.lastError()
        }
        openSessions++
        Session(this, sessionOut[0])
    }

    internal fun onSessionClosed() {
        synchronized(lock) { openSessions-- }
    }

    override fun close() {
        synchronized(lock) {
            if (handle == 0L) return
            check(openSessions == 0) { "close the model's $openSessions open session(s) first" }
            NativeBridge.modelFree(handle)
            handle = 0
        }
    }
}

/** One conversation (edgelm_session): token history, KV cache, sampler. See the threading note above. */
class Session internal constructor(private val model: Edgelm, private var handle: Long) : AutoCloseable {
    private val callLock = ReentrantLock()  // held for every C call on the session but cancel
    private val cancelLock = Any()          // orders cancel() against generate's start and end, and close
    private var generating = false          // guarded by cancelLock

    /** Appends one chat turn; [role] is "system", "user" or "assistant". Processed by the next generate. */
    fun appendMessage(role: String, content: String) {
        callLock.withLock {
            val session = openHandle()
            throwIfFailed(NativeBridge.sessionAppendMessage(session, role.toCString(), content.toCString())) {
                NativeBridge.sessionError(session)
            }
        }
    }

    /**
     * Answers the conversation: samples until the end of the turn, [maxTokens] or [cancel], passing each
     * new piece of text (whole UTF-8 characters) to [onToken] on the calling thread. Blocks: call it off
     * the main thread. [temperature] 0 is greedy; the same [seed] and inputs give the same text.
     * [onToken] may call [cancel], but nothing else on this session.
     */
    fun generate(
        maxTokens: Int = 256,
        temperature: Float = 0f,
        seed: Long = 0,
        onToken: (String) -> Unit,
    ): GenerateResult = generateWhile(maxTokens, temperature, seed) { text -> onToken(text); true }

    /**
     * [generate] as a cold Flow of text pieces, produced on Dispatchers.IO. Cancelling the collector
     * stops generation; a [cancel] ends the flow normally.
     */
    fun generateFlow(maxTokens: Int = 256, temperature: Float = 0f, seed: Long = 0): Flow<String> = callbackFlow {
        launch(Dispatchers.IO) {
            // A closed channel (the collector is gone) stops generation at the next token.
            generateWhile(maxTokens, temperature, seed) { text -> trySendBlocking(text).isSuccess }
            channel.close()
        }
        awaitClose { this@Session.cancel() }  // stops a prefill too, which produces no token to stop at
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

    /** Statistics of the last generate call. */
    val stats: Stats
        get() = callLock.withLock {
            val session = openHandle()
            val counts = LongArray(4)
            val rates = DoubleArray(3)
            throwIfFailed(NativeBridge.sessionStats(session, counts, rates)) { NativeBridge.sessionError(session) }
            Stats(counts[0], counts[1], rates[0], rates[1], rates[2], counts[2], counts[3])
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
            model.onSessionClosed()
        }
    }

    private fun generateWhile(
        maxTokens: Int,
        temperature: Float,
        seed: Long,
        onText: (String) -> Boolean,
    ): GenerateResult = callLock.withLock {
        val session = openHandle()
        val listener = TokenListener { utf8 -> utf8.isEmpty() || onText(utf8.decodeToString()) }
        synchronized(cancelLock) { generating = true }
        val status = try {
            NativeBridge.sessionGenerate(session, maxTokens, temperature, seed, listener)
        } finally {
            synchronized(cancelLock) { generating = false }
        }
        when (status) {
            STATUS_CANCELLED -> GenerateResult.CANCELLED
            else -> {
                throwIfFailed(status) { NativeBridge.sessionError(session) }
                GenerateResult.FINISHED
            }
        }
    }

    private fun openHandle(): Long {
        val session = synchronized(cancelLock) { handle }
        check(session != 0L) { "the session is closed" }
        return session
    }
}

private const val STATUS_OK = 0
private const val STATUS_CANCELLED = 8

/** Throws EdgelmException unless [status] is EDGELM_OK; [message] reads the C API's message for it. */
private inline fun throwIfFailed(status: Int, message: () -> ByteArray) {
    if (status == STATUS_OK) return
    val detail = message().decodeToString()  // before any other call can replace it
    throw EdgelmException(status, NativeBridge.statusName(status).decodeToString(), detail)
}

/** UTF-8 for the C API, which takes NUL-terminated strings: an embedded NUL would cut the text short. */
private fun String.toCString(): ByteArray {
    require('\u0000' !in this) { "text for edgelm must not contain NUL characters" }
    return toByteArray(Charsets.UTF_8)
}

/** Receives each generated piece of text as UTF-8; returns false to stop generating. */
internal fun interface TokenListener {
    fun onToken(utf8: ByteArray): Boolean
}

/** The JNI functions of libedgelm_jni.so (src/main/cpp/edgelm_jni.cc). Handles are C pointers. */
internal object NativeBridge {
    init {
        System.loadLibrary("edgelm_jni")
    }

    external fun version(): ByteArray
    external fun statusName(status: Int): ByteArray
    external fun lastError(): ByteArray
    external fun modelLoad(path: ByteArray, threads: Int, maxMemoryBytes: Long, modelOut: LongArray): Int
    external fun modelFree(model: Long)
    external fun sessionCreate(model: Long, contextLength: Int, maxMemoryBytes: Long, sessionOut: LongArray): Int
    external fun sessionFree(session: Long)
    external fun sessionError(session: Long): ByteArray
    external fun sessionAppendMessage(session: Long, role: ByteArray, content: ByteArray): Int
    external fun sessionGenerate(session: Long, maxTokens: Int, temperature: Float, seed: Long, listener: TokenListener): Int
    external fun sessionCancel(session: Long)
    external fun sessionStats(session: Long, counts: LongArray, rates: DoubleArray): Int
}
