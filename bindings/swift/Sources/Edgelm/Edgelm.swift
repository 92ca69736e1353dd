// Swift binding of the edgelm C API (include/edgelm/edgelm.h), through CEdgelm.xcframework.
//
// Ownership: Model and Session free their native objects when the last reference goes. The C library
// keeps a model's memory until its last session is freed, so a Session works on after its Model is gone.
// Defaults: ModelOptions, SessionOptions and GenerateOptions start from the C _init functions, so every
// option left out has the default of the library that is running.
// Threading: a Model may be used from any thread. A Session runs one call at a time: a call made while
// another one runs on a different thread waits for it, because the C session must never be entered by
// two threads at once. Session.cancel() is the exception: any thread, any time, and it never waits.
import CEdgelm
import Foundation

/// A failed edgelm call: `status` is the C API's edgelm_status code and `statusName` its name. `output` is
/// what the model wrote when the status is EDGELM_INVALID_OUTPUT, nil otherwise: for `Session.toolCalls()`,
/// the whole JSON array, in which each malformed call is {"error": ..., "raw": ...} and the well-formed ones
/// are as usual.
public struct EdgelmError: Error, CustomStringConvertible {
    public let status: UInt32
    public let statusName: String
    public let message: String
    public let output: String?

    init(_ status: edgelm_status, message: String, output: String? = nil) {
        self.status = status.rawValue
        statusName = String(cString: edgelm_status_string(status))
        self.message = message
        self.output = output
    }

    public var description: String { "\(statusName): \(message)" }
}

/// How a generate call ended: finished (end of turn, maxTokens, a stop string, a tool call, end of input)
/// or cancelled by `cancel()`. `Stats.stopReason` tells which way it finished.
public enum GenerateResult {
    case finished
    case cancelled
}

/// Why the last generate call stopped (edgelm_stop_reason): `.none` (no generate yet, or it failed),
/// `.token` (the model ended its turn, or a constrained answer is complete), `.maxTokens`, `.string` (a stop
/// string), `.callback` (a stream's consumer went away), `.toolCall` (read `Session.toolCalls()`, append
/// each result with role "tool", and generate again).
public enum StopReason: Sendable {
    case none, token, maxTokens, string, callback, toolCall

    fileprivate init(_ value: Int32) {
        switch edgelm_stop_reason(rawValue: UInt32(bitPattern: value)) {
        case EDGELM_STOP_TOKEN: self = .token
        case EDGELM_STOP_MAX_TOKENS: self = .maxTokens
        case EDGELM_STOP_STRING: self = .string
        case EDGELM_STOP_CALLBACK: self = .callback
        case EDGELM_STOP_TOOL_CALL: self = .toolCall
        default: self = .none  // EDGELM_STOP_NONE, or one this binding does not know
        }
    }
}

/// Whether a reply must call a tool (edgelm_tool_choice): `.auto` (the model decides) or `.required` (the
/// reply is one or more calls, constrained to the declared schemas; the session needs
/// `SessionOptions.toolsJson`).
public enum ToolChoice: Sendable {
    case auto, required

    fileprivate init(_ value: Int32) {
        let choice = edgelm_tool_choice(rawValue: UInt32(bitPattern: value))
        self = choice == EDGELM_TOOL_CHOICE_REQUIRED ? .required : .auto
    }

    fileprivate var cValue: Int32 {
        switch self {
        case .auto: return Int32(bitPattern: EDGELM_TOOL_CHOICE_AUTO.rawValue)
        case .required: return Int32(bitPattern: EDGELM_TOOL_CHOICE_REQUIRED.rawValue)
        }
    }
}

/// Severity of a library message (edgelm_log_level); see `Model.setLogger`.
public enum LogLevel {
    case debug, info, warn, error

    fileprivate init(_ level: edgelm_log_level) {
        switch level {
        case EDGELM_LOG_DEBUG: self = .debug
        case EDGELM_LOG_INFO: self = .info
        case EDGELM_LOG_WARN: self = .warn
        default: self = .error
        }
    }

    fileprivate var cValue: edgelm_log_level {
        switch self {
        case .debug: return EDGELM_LOG_DEBUG
        case .info: return EDGELM_LOG_INFO
        case .warn: return EDGELM_LOG_WARN
        case .error: return EDGELM_LOG_ERROR
        }
    }
}

/// KV cache storage (edgelm_kv_type).
public enum KvType {
    case f32, bf16, int8, int4

    fileprivate init(_ value: Int32) {
        switch edgelm_kv_type(rawValue: UInt32(bitPattern: value)) {
        case EDGELM_KV_F32: self = .f32
        case EDGELM_KV_BF16: self = .bf16
        case EDGELM_KV_INT4: self = .int4
        default: self = .int8
        }
    }

    fileprivate var cValue: Int32 {
        let type: edgelm_kv_type
        switch self {
        case .f32: type = EDGELM_KV_F32
        case .bf16: type = EDGELM_KV_BF16
        case .int8: type = EDGELM_KV_INT8
        case .int4: type = EDGELM_KV_INT4
        }
        return Int32(bitPattern: type.rawValue)
    }
}

/// What a session does when the conversation would outgrow its context (edgelm_overflow).
public enum Overflow {
    case error, dropOldestTurns, keepSinkAndRecent

    fileprivate init(_ value: Int32) {
        switch edgelm_overflow(rawValue: UInt32(bitPattern: value)) {
        case EDGELM_OVERFLOW_DROP_OLDEST_TURNS: self = .dropOldestTurns
        case EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT: self = .keepSinkAndRecent
        default: self = .error
        }
    }

    fileprivate var cValue: Int32 {
        let policy: edgelm_overflow
        switch self {
        case .error: policy = EDGELM_OVERFLOW_ERROR
        case .dropOldestTurns: policy = EDGELM_OVERFLOW_DROP_OLDEST_TURNS
        case .keepSinkAndRecent: policy = EDGELM_OVERFLOW_KEEP_SINK_AND_RECENT
        }
        return Int32(bitPattern: policy.rawValue)
    }
}

/// Checking the weights against the checksums in the file (edgelm_weight_verification): `.atLoad`
/// fails the load with a corrupt-model error naming the damaged tensor; `.background` returns at once
/// and calls that compute fail once damage is found. Files converted before 1.1 load unverified.
public enum VerifyWeights: Sendable {
    case none, atLoad, background

    fileprivate var raw: Int32 {
        switch self {
        case .none: return Int32(bitPattern: EDGELM_VERIFY_NONE.rawValue)
        case .atLoad: return Int32(bitPattern: EDGELM_VERIFY_AT_LOAD.rawValue)
        case .background: return Int32(bitPattern: EDGELM_VERIFY_BACKGROUND.rawValue)
        }
    }
}

/// Options of `Model(path:options:)` (edgelm_model_options). An option left nil keeps
/// edgelm_model_options_init's default.
public struct ModelOptions: @unchecked Sendable {  // a C struct whose string is set only inside a load
    fileprivate var raw = edgelm_model_options()
    /// A file where XNNPACK's packed weights are kept between loads, one per model, e.g. in the app's
    /// Caches directory: the first load writes it, later loads map it instead of packing (seconds for
    /// E2B). A stale or damaged file is rewritten, never an error. nil = pack at every load.
    public var packedWeightsCachePath: String?

    public init(threads: Int32? = nil, populate: Bool? = nil, maxMemoryBytes: UInt64? = nil,
                verifyWeights: VerifyWeights? = nil, packedWeightsCachePath: String? = nil) {
        edgelm_model_options_init(&raw)
        if let threads = threads { self.threads = threads }
        if let populate = populate { self.populate = populate }
        if let maxMemoryBytes = maxMemoryBytes { self.maxMemoryBytes = maxMemoryBytes }
        if let verifyWeights = verifyWeights { raw.verify_weights = verifyWeights.raw }
        self.packedWeightsCachePath = packedWeightsCachePath
    }

    /// Compute threads of the model's pool, and the default of every session's own pool; 0 = one per core.
    public var threads: Int32 {
        get { raw.num_threads }
        set { raw.num_threads = newValue }
    }
    /// Fault every page in at load: slower load, no page faults at the first tokens.
    public var populate: Bool {
        get { raw.populate != 0 }
        set { raw.populate = newValue ? 1 : 0 }
    }
    /// Refuse (EDGELM_OUT_OF_MEMORY) a model whose resident weights and tokenizer need more, before
    /// touching the weights; 0 = no limit.
    public var maxMemoryBytes: UInt64 {
        get { raw.max_memory_bytes }
        set { raw.max_memory_bytes = newValue }
    }
}

/// Speculative decoding (edgelm_speculation): guesses of the next tokens are verified together in one pass
/// over the weights; the output is unchanged. `.promptLookup` guesses from earlier text of the context (pays
/// when the reply quotes or edits it); `.draftModel` lets a smaller model with the same tokenizer guess
/// (`SessionOptions.draftModel`). The session measures what drafts cost and earn and drafts only where they pay.
public enum Speculation: Sendable {
    case none, promptLookup, draftModel

    fileprivate init(_ value: Int32) {
        switch edgelm_speculation(rawValue: UInt32(bitPattern: value)) {
        case EDGELM_SPECULATION_PROMPT_LOOKUP: self = .promptLookup
        case EDGELM_SPECULATION_DRAFT_MODEL: self = .draftModel
        default: self = .none
        }
    }

    fileprivate var cValue: Int32 {
        switch self {
        case .none: return Int32(bitPattern: EDGELM_SPECULATION_NONE.rawValue)
        case .promptLookup: return Int32(bitPattern: EDGELM_SPECULATION_PROMPT_LOOKUP.rawValue)
        case .draftModel: return Int32(bitPattern: EDGELM_SPECULATION_DRAFT_MODEL.rawValue)
        }
    }
}

/// Options of `Session(model:options:)` (edgelm_session_options). An option left nil keeps
/// edgelm_session_options_init's default.
public struct SessionOptions: @unchecked Sendable {  // numbers, and a string the create call copies
    fileprivate var raw = edgelm_session_options()  // its tools_json is set during the create call only
    /// Tools the model may call: a JSON array of function declarations, OpenAI style
    /// ({"type":"function","function":{"name","description","parameters"}}) or the bare function objects;
    /// nil or "" = none. Fixed for the session. A call ends generate with `StopReason.toolCall`: read
    /// `Session.toolCalls()`, append each result with `appendMessage(role: "tool", content:)`, and generate
    /// again to continue the same model turn.
    public var toolsJson: String?
    /// The drafting model of `Speculation.draftModel` (same tokenizer); the session keeps its native model
    /// alive, so it may be released after the session is created.
    public var draftModel: Model?

    public init(contextLength: Int32? = nil, prefillChunk: Int32? = nil, kvType: KvType? = nil,
                overflow: Overflow? = nil, sinkTokens: Int32? = nil, maxMemoryBytes: UInt64? = nil,
                threads: Int32? = nil, shareModelThreads: Bool? = nil, enableThinking: Bool? = nil,
                toolsJson: String? = nil, speculation: Speculation? = nil, maxDraftTokens: Int32? = nil,
                draftModel: Model? = nil) {
        edgelm_session_options_init(&raw)
        self.toolsJson = toolsJson
        self.draftModel = draftModel
        if let speculation = speculation { self.speculation = speculation }
        if let maxDraftTokens = maxDraftTokens { self.maxDraftTokens = maxDraftTokens }
        if let enableThinking = enableThinking { self.enableThinking = enableThinking }
        if let contextLength = contextLength { self.contextLength = contextLength }
        if let prefillChunk = prefillChunk { self.prefillChunk = prefillChunk }
        if let kvType = kvType { self.kvType = kvType }
        if let overflow = overflow { self.overflow = overflow }
        if let sinkTokens = sinkTokens { self.sinkTokens = sinkTokens }
        if let maxMemoryBytes = maxMemoryBytes { self.maxMemoryBytes = maxMemoryBytes }
        if let threads = threads { self.threads = threads }
        if let shareModelThreads = shareModelThreads { self.shareModelThreads = shareModelThreads }
    }

    /// Tokens the conversation may hold; at most the model's `maxContext`.
    public var contextLength: Int32 {
        get { raw.context_length }
        set { raw.context_length = newValue }
    }
    /// Tokens per prefill step; bounds the scratch memory.
    public var prefillChunk: Int32 {
        get { raw.prefill_chunk }
        set { raw.prefill_chunk = newValue }
    }
    /// KV cache storage.
    public var kvType: KvType {
        get { KvType(raw.kv_type) }
        set { raw.kv_type = newValue.cValue }
    }
    /// What happens when the conversation would outgrow `contextLength`.
    public var overflow: Overflow {
        get { Overflow(raw.overflow) }
        set { raw.overflow = newValue.cValue }
    }
    /// Tokens kept at the start by `.keepSinkAndRecent`.
    public var sinkTokens: Int32 {
        get { raw.sink_tokens }
        set { raw.sink_tokens = newValue }
    }
    /// Refuse (EDGELM_OUT_OF_MEMORY) a session whose KV cache at the full context and scratch buffers need
    /// more, before allocating them; 0 = no limit.
    public var maxMemoryBytes: UInt64 {
        get { raw.max_memory_bytes }
        set { raw.max_memory_bytes = newValue }
    }
    /// Threads of the session's own pool; 0 = the model's `threads`.
    public var threads: Int32 {
        get { raw.num_threads }
        set { raw.num_threads = newValue }
    }
    /// Compute on the model's pool instead: fewer threads, but the sessions sharing it take turns.
    public var shareModelThreads: Bool {
        get { raw.share_model_threads != 0 }
        set { raw.share_model_threads = newValue ? 1 : 0 }
    }
    /// The conversation opens with Gemma 4's thinking marker, and a reply may start with a thought: passed to
    /// generate's `onThought`, not to `onToken`, and dropped from the history when the model turn closes.
    public var enableThinking: Bool {
        get { raw.enable_thinking != 0 }
        set { raw.enable_thinking = newValue ? 1 : 0 }
    }
    /// Speculative decoding; see `Speculation`.
    public var speculation: Speculation {
        get { Speculation(raw.speculation) }
        set { raw.speculation = newValue.cValue }
    }
    /// The most tokens one draft proposes, 1...16 (and below `prefillChunk`).
    public var maxDraftTokens: Int32 {
        get { raw.max_draft_tokens }
        set { raw.max_draft_tokens = newValue }
    }
}

/// Options of `Session.generate` (edgelm_generate_options). An option left nil keeps
/// edgelm_generate_options_init's default.
public struct GenerateOptions: @unchecked Sendable {  // numbers, and arrays and strings the generate call copies
    fileprivate var raw = edgelm_generate_options()  // its pointers are set during the generate call only
    /// Generation ends when the text contains one of these; it and what follows are never passed on,
    /// even when they span tokens (the tokens stay in the history).
    public var stopStrings: [String] = []
    /// Added to a token's logit before sampling; `-Float.infinity` bans the token.
    public var logitBias: [Int32: Float] = [:]
    /// The answer is a sentence of this grammar (GBNF-like, docs/assistant.md); nil = free. At most one of
    /// `grammar` and `jsonSchema`.
    public var grammar: String?
    /// The answer is a JSON value valid for this JSON Schema; nil = free. Constrained answers end once
    /// complete (`maxTokens` still applies: see `Stats.stopReason`).
    public var jsonSchema: String?

    public init(maxTokens: Int32? = nil, ignoreStop: Bool? = nil, temperature: Float? = nil, topK: Int32? = nil,
                topP: Float? = nil, minP: Float? = nil, repetitionPenalty: Float? = nil,
                presencePenalty: Float? = nil, penaltyLastN: Int32? = nil, seed: UInt64? = nil,
                stopStrings: [String] = [], logitBias: [Int32: Float] = [:], thinkingBudget: Int32? = nil,
                grammar: String? = nil, jsonSchema: String? = nil, toolChoice: ToolChoice? = nil) {
        edgelm_generate_options_init(&raw)
        self.stopStrings = stopStrings
        self.logitBias = logitBias
        self.grammar = grammar
        self.jsonSchema = jsonSchema
        if let thinkingBudget = thinkingBudget { self.thinkingBudget = thinkingBudget }
        if let toolChoice = toolChoice { self.toolChoice = toolChoice }
        if let maxTokens = maxTokens { self.maxTokens = maxTokens }
        if let ignoreStop = ignoreStop { self.ignoreStop = ignoreStop }
        if let temperature = temperature { self.temperature = temperature }
        if let topK = topK { self.topK = topK }
        if let topP = topP { self.topP = topP }
        if let minP = minP { self.minP = minP }
        if let repetitionPenalty = repetitionPenalty { self.repetitionPenalty = repetitionPenalty }
        if let presencePenalty = presencePenalty { self.presencePenalty = presencePenalty }
        if let penaltyLastN = penaltyLastN { self.penaltyLastN = penaltyLastN }
        if let seed = seed { self.seed = seed }
    }

    /// Tokens to generate at most.
    public var maxTokens: Int32 {
        get { raw.max_tokens }
        set { raw.max_tokens = newValue }
    }
    /// Do not stop at the model's stop tokens.
    public var ignoreStop: Bool {
        get { raw.ignore_stop != 0 }
        set { raw.ignore_stop = newValue ? 1 : 0 }
    }
    /// 0 = greedy.
    public var temperature: Float {
        get { raw.temperature }
        set { raw.temperature = newValue }
    }
    /// 0 = off.
    public var topK: Int32 {
        get { raw.top_k }
        set { raw.top_k = newValue }
    }
    /// 1 = off.
    public var topP: Float {
        get { raw.top_p }
        set { raw.top_p = newValue }
    }
    /// 0 = off.
    public var minP: Float {
        get { raw.min_p }
        set { raw.min_p = newValue }
    }
    /// 1 = off.
    public var repetitionPenalty: Float {
        get { raw.repetition_penalty }
        set { raw.repetition_penalty = newValue }
    }
    /// 0 = off.
    public var presencePenalty: Float {
        get { raw.presence_penalty }
        set { raw.presence_penalty = newValue }
    }
    /// Recent tokens the penalties see.
    public var penaltyLastN: Int32 {
        get { raw.penalty_last_n }
        set { raw.penalty_last_n = newValue }
    }
    /// The same seed, model, options and inputs give the same text on the same kind of CPU.
    public var seed: UInt64 {
        get { raw.seed }
        set { raw.seed = newValue }
    }
    /// With `SessionOptions.enableThinking`, thought tokens after which the library closes the thought itself
    /// and the answer starts; -1 = no limit.
    public var thinkingBudget: Int32 {
        get { raw.thinking_budget }
        set { raw.thinking_budget = newValue }
    }
    /// `.required` makes the reply tool calls (the session needs `SessionOptions.toolsJson`).
    public var toolChoice: ToolChoice {
        get { ToolChoice(raw.tool_choice) }
        set { raw.tool_choice = newValue.cValue }
    }
}

/// What a model is (edgelm_model_info). Special token ids are -1 where the vocabulary has none;
/// `stopTokens` end a generation; `chatTemplate` is the built-in template's name, "" without one;
/// `defaultContextLength` is `SessionOptions().contextLength`.
public struct ModelInfo {
    public let family: String
    public let recipe: String
    public let vocabSize: Int32
    public let hiddenSize: Int32
    public let numLayers: Int32
    public let numHeads: Int32
    public let maxContext: Int32
    public let hasTokenizer: Bool
    public let fileBytes: UInt64
    public let weightBytesPerToken: UInt64
    public let bosToken: Int32
    public let eosToken: Int32
    public let turnStartToken: Int32
    public let turnEndToken: Int32
    public let stopTokens: [Int32]
    public let chatTemplate: String
    public let defaultContextLength: Int32
}

/// Natural-log probabilities of scored tokens, one per token, and their sum (edgelm_session_score).
public struct ScoreResult {
    public let tokenLogprobs: [Float]
    public let logprobSum: Double
}

/// Statistics of a session's last generate call, and of its memory (edgelm_stats); `stopReason` is why the
/// last generate call stopped.
public struct Stats {
    public let promptTokens: Int64
    public let generatedTokens: Int64
    public let prefillTokensPerSecond: Double
    public let decodeTokensPerSecond: Double
    public let timeToFirstTokenMs: Double
    public let kvCacheBytes: UInt64
    public let contextTokens: Int64
    public let stopReason: StopReason
    /// Forward passes decoding made (without speculation, generatedTokens - 1), guesses verified, and those of
    /// them then sampled.
    public let decodePasses: Int64
    public let draftedTokens: Int64
    public let acceptedDraftTokens: Int64
}

/// An opened model file (edgelm_model): weights memory-mapped read-only, tokenizer, chat template.
public final class Model: @unchecked Sendable {  // immutable after load; the C API allows sharing
    fileprivate let handle: OpaquePointer

    /// The native library's version, "MAJOR.MINOR.PATCH".
    public static var version: String { String(cString: edgelm_version()) }

    /// The native library's version as one number, MAJOR * 1000000 + MINOR * 1000 + PATCH.
    public static var versionNumber: Int32 { edgelm_version_number() }

    /// Routes the library's messages at `minLevel` and above to `logger`, for the whole process; nil (the
    /// default) drops them. `logger` runs on whatever thread the library is working on, several at once:
    /// keep it quick, and do not call edgelm from it. A call already running on another thread may still
    /// log to the previous logger.
    public static func setLogger(minLevel: LogLevel = .info, _ logger: (@Sendable (LogLevel, String) -> Void)?) {
        logBox.install(logger, minLevel: minLevel)
    }

    /// Opens and validates the model file at `path`.
    public init(path: String, options: ModelOptions = ModelOptions()) throws {
        try rejectNul(path)
        var raw = options.raw
        var model: OpaquePointer?
        if let cache = options.packedWeightsCachePath {
            try rejectNul(cache)
            let status = cache.withCString { cachePath -> edgelm_status in
                raw.packed_weights_cache_path = cachePath  // the library copies it during the call
                return edgelm_model_load(path, &raw, &model)
            }
            try throwIfFailed(status) { lastError() }
        } else {
            try throwIfFailed(edgelm_model_load(path, &raw, &model)) { lastError() }
        }
        handle = model!
    }

    deinit { edgelm_model_free(handle) }

    /// What the model is: sizes, special and stop tokens, chat template.
    public func info() throws -> ModelInfo {
        var info = edgelm_model_info()
        edgelm_model_info_init(&info)
        try throwIfFailed(edgelm_model_get_info(handle, &info)) { lastError() }
        let count = Int(info.n_stop_tokens)
        let stopTokens = info.stop_tokens.map { Array(UnsafeBufferPointer(start: $0, count: count)) }
        return ModelInfo(family: string(info.family), recipe: string(info.recipe), vocabSize: info.vocab_size,
                         hiddenSize: info.hidden_size, numLayers: info.num_layers, numHeads: info.num_heads,
                         maxContext: info.max_context, hasTokenizer: info.has_tokenizer != 0,
                         fileBytes: info.file_bytes, weightBytesPerToken: info.weight_bytes_per_token,
                         bosToken: info.bos_token, eosToken: info.eos_token, turnStartToken: info.turn_start_token,
                         turnEndToken: info.turn_end_token, stopTokens: stopTokens ?? [],
                         chatTemplate: string(info.chat_template), defaultContextLength: info.default_context_length)
    }

    /// Text -> token ids. `addBos` puts the BOS token first; `parseSpecial` lets control-token text such as
    /// "<|turn>" become control tokens (otherwise it stays plain text).
    public func tokenize(_ text: String, addBos: Bool = false, parseSpecial: Bool = false) throws -> [Int32] {
        var count = 0
        func run(_ tokens: inout [Int32]) -> edgelm_status {
            text.withCString { utf8 in
                tokens.withUnsafeMutableBufferPointer {
                    edgelm_tokenize(handle, utf8, text.utf8.count, addBos ? 1 : 0, parseSpecial ? 1 : 0,
                                    $0.baseAddress, $0.count, &count)
                }
            }
        }
        var tokens = [Int32](repeating: 0, count: text.utf8.count + 2)  // a token covers a byte or more
        var status = run(&tokens)
        if status == EDGELM_BUFFER_TOO_SMALL {
            tokens = [Int32](repeating: 0, count: count)
            status = run(&tokens)
        }
        try throwIfFailed(status) { lastError() }
        return Array(tokens.prefix(count))
    }

    /// Token ids -> text.
    public func detokenize(_ tokens: [Int32]) throws -> String {
        var size = 0
        func run(_ text: inout [CChar], capacity: Int) -> edgelm_status {
            withTokens(tokens) { ids, n in
                text.withUnsafeMutableBufferPointer {
                    edgelm_detokenize(handle, ids, n, $0.baseAddress, capacity, &size)
                }
            }
        }
        var text: [CChar] = [0]
        let asked = run(&text, capacity: 0)  // a size query
        if asked != EDGELM_BUFFER_TOO_SMALL { try throwIfFailed(asked) { lastError() } }
        let capacity = size + 1  // the C API also writes a NUL
        text = [CChar](repeating: 0, count: capacity)
        try throwIfFailed(run(&text, capacity: capacity)) { lastError() }
        return String(decoding: text.prefix(size).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One conversation (edgelm_session): token history, KV cache, sampler. See the threading note above.
public final class Session: @unchecked Sendable {  // its locks serialize every use of the C session
    private let handle: OpaquePointer
    private let callLock = NSLock()    // held for every C call on the session but cancel
    private let cancelLock = NSLock()  // orders cancel() against the start and end of a generate
    private var generating = false     // guarded by cancelLock

    /// Starts a conversation with `model`.
    public init(model: Model, options: SessionOptions = SessionOptions()) throws {
        if let tools = options.toolsJson { try rejectNul(tools) }
        var raw = options.raw
        var session: OpaquePointer?
        let status = withOptionalCString(options.toolsJson) { tools -> edgelm_status in
            raw.tools_json = tools  // copied by the call
            return withExtendedLifetime(options.draftModel) {
                raw.draft_model = options.draftModel?.handle  // kept alive by the session
                return edgelm_session_create(model.handle, &raw, &session)
            }
        }
        try throwIfFailed(status) { lastError() }
        handle = session!
    }

    deinit { edgelm_session_free(handle) }

    /// Appends one chat turn; `role` is "system", "user" or "assistant". Processed by the next generate. Role
    /// "tool" appends a tool result instead (content: JSON, or plain text), inside the open model turn,
    /// answering its oldest unanswered call (see `toolCalls()`); an invalid-argument error when there is none.
    public func appendMessage(role: String, content: String) throws {
        try rejectNul(role)
        try rejectNul(content)
        try locked { try throwIfFailed(edgelm_session_append_message(handle, role, content)) { sessionError() } }
    }

    /// Appends raw text, no chat template; `parseSpecial` lets "<|turn>" etc. become control tokens.
    public func appendText(_ text: String, parseSpecial: Bool = false) throws {
        try rejectNul(text)
        try locked {
            try throwIfFailed(edgelm_session_append_text(handle, text, parseSpecial ? 1 : 0)) { sessionError() }
        }
    }

    /// Appends token ids (see `Model.tokenize`).
    public func appendTokens(_ tokens: [Int32]) throws {
        try locked {
            let status = withTokens(tokens) { edgelm_session_append_tokens(handle, $0, $1) }
            try throwIfFailed(status) { sessionError() }
        }
    }

    /// Answers the conversation: samples until a stop token, `options.maxTokens`, a tool call or `cancel()`,
    /// passing each new piece of text (whole characters) to `onToken` on the calling thread. Blocks: call it
    /// off the main thread. `onToken` may call `cancel()`, but nothing else on this session. `stats()` tells
    /// why it stopped (`Stats.stopReason`).
    @discardableResult
    public func generate(options: GenerateOptions = GenerateOptions(),
                         onToken: (String) -> Void) throws -> GenerateResult {
        try withoutActuallyEscaping(onToken) { onToken in
            try generateWhile(options, onThought: nil) { piece in
                onToken(piece)
                return true
            }
        }
    }

    /// `generate` that also passes the thought of a thinking session (`SessionOptions.enableThinking`) to
    /// `onThought`, piece by piece, on the calling thread, before the answer reaches `onToken`:
    /// `generate(options: options, onThought: { thought += $0 }) { answer += $0 }`. The same rules as for
    /// `onToken` apply to it.
    @discardableResult
    public func generate(options: GenerateOptions = GenerateOptions(), onThought: (String) -> Void,
                         onToken: (String) -> Void) throws -> GenerateResult {
        try withoutActuallyEscaping(onThought) { onThought in
            try withoutActuallyEscaping(onToken) { onToken in
                try generateWhile(options, onThought: { piece in
                    onThought(piece)
                    return true
                }) { piece in
                    onToken(piece)
                    return true
                }
            }
        }
    }

    /// `generate` as an AsyncThrowingStream of text pieces, produced on a thread of its own. Ending the
    /// iteration (or its task) stops generation; `cancel()` finishes the stream normally.
    public func tokens(options: GenerateOptions = GenerateOptions()) -> AsyncThrowingStream<String, Error> {
        stream(options, onThought: nil)
    }

    /// `tokens(options:)` that also passes the thought of a thinking session to `onThought`, piece by piece,
    /// on the stream's producing thread (the stream itself carries the answer only).
    public func tokens(options: GenerateOptions = GenerateOptions(),
                       onThought: @escaping @Sendable (String) -> Void) -> AsyncThrowingStream<String, Error> {
        stream(options, onThought: onThought)
    }

    /// The tool calls of the last generate that stopped with `StopReason.toolCall`, as a JSON array:
    /// `[{"name": "...", "arguments": {...}}, ...]`; "[]" after any other stop. Answer each, in order, with
    /// `appendMessage(role: "tool", content:)`, then generate again. When the model wrote a call malformed,
    /// throws an `EdgelmError` with status EDGELM_INVALID_OUTPUT whose `output` is the whole array, the
    /// malformed calls in it as {"error": "...", "raw": "..."}.
    public func toolCalls() throws -> String {
        try locked {
            var size = 0
            let asked = edgelm_session_get_tool_calls(handle, nil, 0, &size)  // a size query
            if asked != EDGELM_BUFFER_TOO_SMALL { try throwIfFailed(asked) { sessionError() } }
            var json = [CChar](repeating: 0, count: max(size, 1))  // the size counts the NUL the C API writes
            let status = json.withUnsafeMutableBufferPointer {
                edgelm_session_get_tool_calls(handle, $0.baseAddress, $0.count, &size)
            }
            let utf8 = json.prefix(max(size - 1, 0)).map { UInt8(bitPattern: $0) }
            let text = String(decoding: utf8, as: UTF8.self)
            if status == EDGELM_INVALID_OUTPUT { throw EdgelmError(status, message: sessionError(), output: text) }
            try throwIfFailed(status) { sessionError() }
            return text
        }
    }

    /// Stops a running generate (its result is then `.cancelled`). Safe from any thread; does nothing
    /// when no generate is running.
    public func cancel() {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        if generating { edgelm_session_cancel(handle) }
    }

    /// Processes the pending tokens and returns raw logits (after the model's soft-cap, before sampling):
    /// the last token's vocabSize values, or with `allPositions` one row of vocabSize per token that was
    /// pending, in order. With nothing pending, the last token's logits again (with `allPositions`, none).
    public func evaluate(allPositions: Bool = false) throws -> [Float] {
        try locked {
            var count = 0
            var none: Float = 0  // capacity 0: a size query, nothing processed
            let asked = edgelm_session_evaluate(handle, allPositions ? 1 : 0, &none, 0, &count)
            if asked != EDGELM_BUFFER_TOO_SMALL { try throwIfFailed(asked) { sessionError() } }
            if count == 0 { return [] }
            var logits = [Float](repeating: 0, count: count)
            let status = logits.withUnsafeMutableBufferPointer {
                edgelm_session_evaluate(handle, allPositions ? 1 : 0, $0.baseAddress, $0.count, &count)
            }
            try throwIfFailed(status) { sessionError() }
            return logits
        }
    }

    /// Appends `tokens` to the history and returns the natural-log probability the model gives each after
    /// everything before it. The history must not be empty (start it with the BOS token); `rewind(to:)`
    /// removes the scored tokens again.
    public func score(_ tokens: [Int32]) throws -> ScoreResult {
        try locked {
            var logprobs = [Float](repeating: 0, count: tokens.count)
            var sum = 0.0
            let status = withTokens(tokens) { ids, n in
                logprobs.withUnsafeMutableBufferPointer { edgelm_session_score(handle, ids, n, $0.baseAddress, &sum) }
            }
            try throwIfFailed(status) { sessionError() }
            return ScoreResult(tokenLogprobs: logprobs, logprobSum: sum)
        }
    }

    /// The session's state (history, chat state, KV cache), for `restoreState` on a session of the same
    /// model file and options: to keep in sandboxed or encrypted storage.
    public func saveState() throws -> Data {
        try locked {
            var size = 0
            let asked = edgelm_session_save_state(handle, nil, 0, &size)
            if asked != EDGELM_BUFFER_TOO_SMALL { try throwIfFailed(asked) { sessionError() } }
            var state = Data(count: size)
            let status = state.withUnsafeMutableBytes {
                edgelm_session_save_state(handle, $0.baseAddress, $0.count, &size)
            }
            try throwIfFailed(status) { sessionError() }
            return state
        }
    }

    /// Replaces the session's state with one from `saveState()`; a corrupt or mismatched one changes nothing.
    public func restoreState(_ state: Data) throws {
        try locked {
            let status = state.withUnsafeBytes { edgelm_session_restore_state(handle, $0.baseAddress, $0.count) }
            try throwIfFailed(status) { sessionError() }
        }
    }

    /// Writes the session's state to `path` atomically (a synced temporary file renamed over it).
    public func saveFile(path: String) throws {
        try rejectNul(path)
        try locked { try throwIfFailed(edgelm_session_save_file(handle, path)) { sessionError() } }
    }

    /// Replaces the session's state with one `saveFile(path:)` wrote; a corrupt or mismatched file changes
    /// nothing.
    public func restoreFile(path: String) throws {
        try rejectNul(path)
        try locked { try throwIfFailed(edgelm_session_restore_file(handle, path)) { sessionError() } }
    }

    /// For the app's memory warning: frees what the session can rebuild and drops the per-layer embedding
    /// table's pages from memory; the conversation is kept. Returns the bytes given back. Like every call
    /// but `cancel()`, it waits for a running generate.
    @discardableResult
    public func releaseMemory() throws -> UInt64 {
        try locked {
            var released: UInt64 = 0
            try throwIfFailed(edgelm_session_release_memory(handle, &released)) { sessionError() }
            return released
        }
    }

    /// Forgets the whole conversation (keeps the session's memory).
    public func reset() throws {
        try locked { try throwIfFailed(edgelm_session_reset(handle)) { sessionError() } }
    }

    /// Keeps the first `tokenCount` tokens of the history and drops the rest.
    public func rewind(to tokenCount: Int) throws {
        guard tokenCount >= 0 else {
            throw EdgelmError(EDGELM_INVALID_ARGUMENT, message: "tokenCount must not be negative")
        }
        try locked { try throwIfFailed(edgelm_session_rewind(handle, tokenCount)) { sessionError() } }
    }

    /// Tokens in the history, processed or pending.
    public var tokenCount: Int { locked { edgelm_session_token_count(handle) } }

    /// Statistics of the last generate call.
    public func stats() throws -> Stats {
        try locked {
            var stats = edgelm_stats()
            edgelm_stats_init(&stats)
            try throwIfFailed(edgelm_session_get_stats(handle, &stats)) { sessionError() }
            return Stats(promptTokens: stats.prompt_tokens, generatedTokens: stats.generated_tokens,
                         prefillTokensPerSecond: stats.prefill_tokens_per_s,
                         decodeTokensPerSecond: stats.decode_tokens_per_s,
                         timeToFirstTokenMs: stats.time_to_first_token_ms, kvCacheBytes: stats.kv_bytes,
                         contextTokens: stats.context_tokens, stopReason: StopReason(stats.stop_reason),
                         decodePasses: stats.decode_passes, draftedTokens: stats.drafted_tokens,
                         acceptedDraftTokens: stats.accepted_draft_tokens)
        }
    }

    /// Receives the pieces of text of one generate call: the answer's in `onText`, the thought's in
    /// `onThought`; either returns false to stop.
    private final class TokenSink {
        let onText: (String) -> Bool
        let onThought: ((String) -> Bool)?
        init(_ onText: @escaping (String) -> Bool, onThought: ((String) -> Bool)?) {
            self.onText = onText
            self.onThought = onThought
        }
    }

    /// The stream of `tokens(options:)`; `onThought` (may be nil) gets the thought on the producing thread.
    private func stream(_ options: GenerateOptions,
                        onThought: (@Sendable (String) -> Void)?) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            // A dedicated thread: generation blocks for its whole length, too long for Swift's task pool.
            let producer = Thread {
                do {
                    var thought: ((String) -> Bool)?
                    if let onThought = onThought {
                        thought = { piece in
                            onThought(piece)
                            return true
                        }
                    }
                    try self.generateWhile(options, onThought: thought) { piece in
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

    private func generateWhile(_ options: GenerateOptions, onThought: ((String) -> Bool)?,
                               onText: @escaping (String) -> Bool) throws -> GenerateResult {
        if let grammar = options.grammar { try rejectNul(grammar) }
        if let schema = options.jsonSchema { try rejectNul(schema) }
        return try locked {
            var raw = options.raw
            let sink = TokenSink(onText, onThought: onThought)
            // C copies of the stop strings, the bias and the constraints, alive for the call (the library
            // copies them).
            let stops = options.stopStrings.map { strdup($0) }
            defer { stops.forEach { free($0) } }
            let grammar: UnsafeMutablePointer<CChar>? = options.grammar.flatMap { strdup($0) }
            let schema: UnsafeMutablePointer<CChar>? = options.jsonSchema.flatMap { strdup($0) }
            defer {
                free(grammar)
                free(schema)
            }
            raw.grammar = grammar.map { UnsafePointer($0) }
            raw.json_schema = schema.map { UnsafePointer($0) }
            if onThought != nil {
                raw.thought_callback = { userData, _, text, textBytes in
                    let sink = Unmanaged<TokenSink>.fromOpaque(userData!).takeUnretainedValue()
                    let piece = String(decoding: UnsafeRawBufferPointer(start: text, count: textBytes),
                                       as: UTF8.self)
                    guard let thought = sink.onThought else { return 0 }
                    return piece.isEmpty || thought(piece) ? 0 : 1
                }
            }
            let stopPointers: [UnsafePointer<CChar>?] = stops.map { $0.map { UnsafePointer($0) } }
            let biasTokens = Array(options.logitBias.keys)
            let biasValues = biasTokens.map { options.logitBias[$0]! }
            setGenerating(true)
            let status = stopPointers.withUnsafeBufferPointer { stopBuffer in
                biasTokens.withUnsafeBufferPointer { tokenBuffer in
                    biasValues.withUnsafeBufferPointer { valueBuffer -> edgelm_status in
                        raw.stop_strings = stopBuffer.baseAddress
                        raw.n_stop_strings = Int32(stopBuffer.count)
                        raw.logit_bias_tokens = tokenBuffer.baseAddress
                        raw.logit_bias_values = valueBuffer.baseAddress
                        raw.n_logit_bias = Int32(tokenBuffer.count)
                        return withExtendedLifetime(sink) {
                            edgelm_session_generate(handle, &raw, { userData, _, text, textBytes in
                                let sink = Unmanaged<TokenSink>.fromOpaque(userData!).takeUnretainedValue()
                                let piece = String(decoding: UnsafeRawBufferPointer(start: text, count: textBytes),
                                                   as: UTF8.self)
                                return piece.isEmpty || sink.onText(piece) ? 0 : 1
                            }, Unmanaged.passUnretained(sink).toOpaque())
                        }
                    }
                }
            }
            setGenerating(false)
            if status == EDGELM_CANCELLED { return .cancelled }
            try throwIfFailed(status) { sessionError() }
            return .finished
        }
    }

    /// Marks a generate as running or not, so that cancel() only reaches a running one.
    private func setGenerating(_ running: Bool) {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        generating = running
    }

    /// Runs `body` holding the call lock.
    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        callLock.lock()
        defer { callLock.unlock() }
        return try body()
    }

    private func sessionError() -> String { String(cString: edgelm_session_error(handle)) }
}

/// The logger behind the C log callback: one per process, like the callback, and never freed, because a
/// call in flight may still log through it. The C callback reads the logger under the lock, so replacing
/// it never frees one that is running.
private final class LogBox: @unchecked Sendable {
    private let lock = NSLock()         // guards logger
    private let installLock = NSLock()  // serializes install, so the C callback matches logger
    private var logger: (@Sendable (LogLevel, String) -> Void)?

    func install(_ newLogger: (@Sendable (LogLevel, String) -> Void)?, minLevel: LogLevel) {
        installLock.lock()
        defer { installLock.unlock() }
        lock.lock()
        logger = newLogger
        lock.unlock()
        if newLogger == nil {
            edgelm_set_log_callback(nil, nil, minLevel.cValue)
            return
        }
        edgelm_set_log_callback({ _, level, message in
            guard let message = message, let logger = logBox.current() else { return }
            logger(LogLevel(level), String(cString: message))
        }, nil, minLevel.cValue)
    }

    func current() -> (@Sendable (LogLevel, String) -> Void)? {
        lock.lock()
        defer { lock.unlock() }
        return logger
    }
}

private let logBox = LogBox()

/// Throws EdgelmError unless `status` is EDGELM_OK; `message` reads the C API's message for it.
private func throwIfFailed(_ status: edgelm_status, _ message: () -> String) throws {
    if status != EDGELM_OK { throw EdgelmError(status, message: message()) }
}

/// The message of this thread's last failed call.
private func lastError() -> String { String(cString: edgelm_last_error()) }

/// A string the library owns, "" for NULL.
private func string(_ text: UnsafePointer<CChar>?) -> String { text.map { String(cString: $0) } ?? "" }

/// Calls `body` with a C copy of `text`, valid for the call, or with nil for nil.
private func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let text = text else { return body(nil) }
    return text.withCString { body($0) }
}

/// Calls `body` with the token ids and their count; the pointer is never nil, even for no tokens.
private func withTokens<R>(_ tokens: [Int32], _ body: (UnsafePointer<Int32>, Int) -> R) -> R {
    let storage = tokens.isEmpty ? [0] : tokens
    return storage.withUnsafeBufferPointer { body($0.baseAddress!, tokens.count) }
}

/// The C API takes NUL-terminated strings: an embedded NUL would cut the text short.
private func rejectNul(_ text: String) throws {
    if text.utf8.contains(0) {
        throw EdgelmError(EDGELM_INVALID_ARGUMENT, message: "text for edgelm must not contain NUL characters")
    }
}
