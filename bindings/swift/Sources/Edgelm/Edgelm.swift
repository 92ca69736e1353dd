// Swift binding of the edgelm C API (include/edgelm/edgelm.h), through CEdgelm.xcframework.
//
// Ownership: Model and Session free their native objects when the last reference goes. A Session keeps
// its Model alive, because a model must outlive its sessions.
// Threading: a Model may be used from any thread. A Session runs one call at a time: a call made while
// another one runs on a different thread waits for it, because the C session must never be entered by
// two threads at once. Session.cancel() is the exception: any thread, any time, and it never waits.
import CEdgelm
import Foundation

/// A failed edgelm call: `status` is the C API's edgelm_status code and `statusName` its name.
public struct EdgelmError: Error, CustomStringConvertible {
    public let status: UInt32
    public let statusName: String
    public let message: String

    init(_ status: edgelm_status, message: String) {
        self.status = status.rawValue
        statusName = String(cString: edgelm_status_string(status))
        self.message = message
    }

    public var description: String { "\(statusName): \(message)" }
}

/// How a generate call ended: finished (end of turn, maxTokens, end of input) or cancelled by `cancel()`.
public enum GenerateResult {
    case finished
    case cancelled
}

/// Statistics of a session's last generate call, and of its memory (edgelm_stats).
public struct Stats {
    public let promptTokens: Int64
    public let generatedTokens: Int64
    public let prefillTokensPerSecond: Double
    public let decodeTokensPerSecond: Double
    public let timeToFirstTokenMs: Double
    public let kvCacheBytes: UInt64
    public let contextTokens: Int64
}

/// An opened model file (edgelm_model): weights memory-mapped read-only, tokenizer, chat template.
public final class Model: @unchecked Sendable {  // immutable after load; the C API allows sharing
    fileprivate let handle: OpaquePointer

    /// The native library's version, "MAJOR.MINOR.PATCH".
    public static var version: String { String(cString: edgelm_version()) }

    /// Opens and validates the model file at `path`; `threads` compute threads, 0 = one per core.
    /// `maxMemoryBytes`: refuse (statusName EDGELM_OUT_OF_MEMORY) a model whose resident weights and
    /// tokenizer need more, before touching the weights; 0 = no limit.
    public init(path: String, threads: Int32 = 0, maxMemoryBytes: UInt64 = 0) throws {
        try rejectNul(path)
        var options = edgelm_model_options()
        edgelm_model_options_init(&options)
        options.num_threads = threads
        options.max_memory_bytes = maxMemoryBytes
        var model: OpaquePointer?
        try throwIfFailed(edgelm_model_load(path, &options, &model)) { String(cString: edgelm_last_error()) }
        handle = model!
    }

    deinit { edgelm_model_free(handle) }
}

/// One conversation (edgelm_session): token history, KV cache, sampler. See the threading note above.
public final class Session: @unchecked Sendable {  // its locks serialize every use of the C session
    private let model: Model  // kept alive while the session exists
    private let handle: OpaquePointer
    private let callLock = NSLock()    // held for every C call on the session but cancel
    private let cancelLock = NSLock()  // orders cancel() against the start and end of a generate
    private var generating = false     // guarded by cancelLock

    /// Starts a conversation with `model`; `contextLength` in tokens, 0 = the library's default (4096).
    /// `maxMemoryBytes`: refuse (EDGELM_OUT_OF_MEMORY) a session whose KV cache at the full context and
    /// scratch buffers need more, before allocating them; 0 = no limit.
    public init(model: Model, contextLength: Int32 = 0, maxMemoryBytes: UInt64 = 0) throws {
        var options = edgelm_session_options()
        edgelm_session_options_init(&options)
        if contextLength > 0 { options.context_length = contextLength }
        options.max_memory_bytes = maxMemoryBytes
        var session: OpaquePointer?
        try throwIfFailed(edgelm_session_create(model.handle, &options, &session)) {
            String(cString: edgelm_last_error())
        }
        self.model = model
        handle = session!
    }

    deinit { edgelm_session_free(handle) }

    /// Appends one chat turn; `role` is "system", "user" or "assistant". Processed by the next generate.
    public func appendMessage(role: String, content: String) throws {
        try rejectNul(role)
        try rejectNul(content)
        callLock.lock()
        defer { callLock.unlock() }
        try throwIfFailed(edgelm_session_append_message(handle, role, content)) { sessionError() }
    }

    /// Answers the conversation: samples until the end of the turn, `maxTokens` or `cancel()`, passing
    /// each new piece of text (whole characters) to `onToken` on the calling thread. Blocks: call it off
    /// the main thread. `temperature` 0 is greedy; the same `seed` and inputs give the same text.
    /// `onToken` may call `cancel()`, but nothing else on this session.
    @discardableResult
    public func generate(maxTokens: Int32 = 256, temperature: Float = 0, seed: UInt64 = 0,
                         onToken: (String) -> Void) throws -> GenerateResult {
        try withoutActuallyEscaping(onToken) { onToken in
            try generateWhile(maxTokens: maxTokens, temperature: temperature, seed: seed) { piece in
                onToken(piece)
                return true
            }
        }
    }

    /// `generate` as an AsyncThrowingStream of text pieces, produced on a thread of its own. Ending the
    /// iteration (or its task) stops generation; `cancel()` finishes the stream normally.
    public func tokens(maxTokens: Int32 = 256, temperature: Float = 0,
                       seed: UInt64 = 0) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            // A dedicated thread: generation blocks for its whole length, too long for Swift's task pool.
            let producer = Thread {
                do {
                    try self.generateWhile(maxTokens: maxTokens, temperature: temperature, seed: seed) { piece in
                        if case .terminated = continuation.yield(piece) { return false }
                        return true
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { [weak self] _ in self?.cancel() }  // stops a prefill too
            producer.start()
        }
    }

    /// Stops a running generate (its result is then `.cancelled`). Safe from any thread; does nothing
    /// when no generate is running.
    public func cancel() {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        if generating { edgelm_session_cancel(handle) }
    }

    /// Statistics of the last generate call.
    public func stats() throws -> Stats {
        callLock.lock()
        defer { callLock.unlock() }
        var stats = edgelm_stats()
        edgelm_stats_init(&stats)
        try throwIfFailed(edgelm_session_get_stats(handle, &stats)) { sessionError() }
        return Stats(promptTokens: stats.prompt_tokens, generatedTokens: stats.generated_tokens,
                     prefillTokensPerSecond: stats.prefill_tokens_per_s,
                     decodeTokensPerSecond: stats.decode_tokens_per_s,
                     timeToFirstTokenMs: stats.time_to_first_token_ms, kvCacheBytes: stats.kv_bytes,
                     contextTokens: stats.context_tokens)
    }

    /// Receives the pieces of text of one generate call; `onText` returns false to stop.
    private final class TokenSink {
        let onText: (String) -> Bool
        init(_ onText: @escaping (String) -> Bool) { self.onText = onText }
    }

    private func generateWhile(maxTokens: Int32, temperature: Float, seed: UInt64,
                               onText: @escaping (String) -> Bool) throws -> GenerateResult {
        callLock.lock()
        defer { callLock.unlock() }
        var options = edgelm_generate_options()
        edgelm_generate_options_init(&options)
        options.max_tokens = maxTokens
        options.sampling.temperature = temperature
        options.sampling.seed = seed
        let sink = TokenSink(onText)
        setGenerating(true)
        let status = withExtendedLifetime(sink) {
            edgelm_session_generate(handle, &options, { userData, _, text, textBytes in
                let sink = Unmanaged<TokenSink>.fromOpaque(userData!).takeUnretainedValue()
                let piece = String(decoding: UnsafeRawBufferPointer(start: text, count: textBytes), as: UTF8.self)
                return piece.isEmpty || sink.onText(piece) ? 0 : 1
            }, Unmanaged.passUnretained(sink).toOpaque())
        }
        setGenerating(false)
        if status == EDGELM_CANCELLED { return .cancelled }
        try throwIfFailed(status) { sessionError() }
        return .finished
    }

    /// Marks a generate as running or not, so that cancel() only reaches a running one.
    private func setGenerating(_ running: Bool) {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        generating = running
    }

    private func sessionError() -> String { String(cString: edgelm_session_error(handle)) }
}

/// Throws EdgelmError unless `status` is EDGELM_OK; `message` reads the C API's message for it.
private func throwIfFailed(_ status: edgelm_status, _ message: () -> String) throws {
    if status != EDGELM_OK { throw EdgelmError(status, message: message()) }
}

/// The C API takes NUL-terminated strings: an embedded NUL would cut the text short.
private func rejectNul(_ text: String) throws {
    if text.utf8.contains(0) {
        throw EdgelmError(EDGELM_INVALID_ARGUMENT, message: "text for edgelm must not contain NUL characters")
    }
}
