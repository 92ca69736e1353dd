// Drives libedgelm_jni.so through the JNI surface Edgelm.kt declares (translated to Java by
// kotlin_to_java.awk): every native method once at least. Library defaults, load errors, the log
// listener, model info, tokenizer, chat, UTF-8 both ways, streaming, stopping from the listener, cancel
// from another thread, stats and stop reasons, logits, scoring, session state in memory and in a file,
// releasing memory, and the assistant features of C API 1.2: tools (a required call, its JSON, a tool
// result), JSON-schema and grammar constrained replies, thinking with a budget and a thought listener.
// Usage: java -Djava.library.path=DIR dev.edgelm.JniSmokeTest MODEL
package dev.edgelm;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public final class JniSmokeTest {
  private static final int OK = 0;
  private static final int INVALID_ARGUMENT = 1;
  private static final int NOT_FOUND = 2;
  private static final int OUT_OF_MEMORY = 6;
  private static final int OUT_OF_RANGE = 7;
  private static final int CANCELLED = 8;
  private static final int BUFFER_TOO_SMALL = 11;
  private static final int INVALID_OUTPUT = 12;
  // edgelm_stop_reason
  private static final int STOP_NONE = 0;
  private static final int STOP_TOKEN = 1;
  private static final int STOP_MAX_TOKENS = 2;
  private static final int STOP_STRING = 3;
  private static final int STOP_CALLBACK = 4;
  private static final int STOP_TOOL_CALL = 5;
  // edgelm_tool_choice
  private static final int TOOL_CHOICE_AUTO = 0;
  private static final int TOOL_CHOICE_REQUIRED = 1;
  // edgelm_speculation
  private static final int SPECULATION_NONE = 0;
  private static final int SPECULATION_PROMPT_LOOKUP = 1;
  private static final int SPECULATION_DRAFT_MODEL = 2;
  private static final int LOG_DEBUG = 0;
  private static final int LOG_INFO = 1;
  private static final NativeBridge bridge = NativeBridge.INSTANCE;

  // edgelm_generate_options_init's values, in NativeBridge.generateOptionsInit's layout.
  private static final int[] genInts = new int[6];
  private static final float[] genFloats = new float[5];
  private static final long[] genLongs = new long[1];

  private static void expect(boolean condition, String what) {
    if (!condition) throw new AssertionError(what);
  }

  private static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  private static String text(byte[] utf8) {
    return new String(utf8, StandardCharsets.UTF_8);
  }

  /** A log message as the listener received it. */
  private static final class Message {
    final int level;
    final String text;

    Message(int level, String text) {
      this.level = level;
      this.text = text;
    }
  }

  /** Generates greedily (the library's other defaults) with the listener. */
  private static int generate(long session, int maxTokens, TokenListener listener) {
    return new Gen(maxTokens).run(session, listener);
  }

  /**
   * One generate call's options: the library's defaults (generateOptionsInit), but greedy; the fields
   * are NativeBridge.sessionGenerate's parameters.
   */
  private static final class Gen {
    int maxTokens;
    float temperature = 0f;
    long seed = genLongs[0];
    int thinkingBudget = genInts[4];
    byte[] grammar;     // null: none
    byte[] jsonSchema;  // null: none
    int toolChoice = genInts[5];
    TokenListener thoughts;  // null: thoughts are not passed on

    Gen(int maxTokens) {
      this.maxTokens = maxTokens;
    }

    int run(long session, TokenListener listener) {
      return bridge.sessionGenerate(session, maxTokens, genInts[1] != 0, temperature, genInts[2], genFloats[1],
                                    genFloats[2], genFloats[3], genFloats[4], genInts[3], seed, new byte[0][],
                                    new int[0], new float[0], thinkingBudget, grammar, jsonSchema, toolChoice,
                                    listener, thoughts);
    }

    /** Runs, collecting the answer into reply; fails unless the call returns OK. */
    void run(long session, ByteArrayOutputStream reply, String what) {
      int status = run(session, bytes -> {
        reply.write(bytes, 0, bytes.length);
        return true;
      });
      expect(status == OK, what + ": status " + status + " " + text(bridge.sessionError(session)));
    }
  }

  /** The stop reason of the session's last generate (edgelm_stats.stop_reason). */
  private static int stopReason(long session) {
    long[] counts = new long[7];
    double[] rates = new double[3];
    int[] codes = {-1};
    expect(bridge.sessionStats(session, counts, rates, codes) == OK, "stats");
    expect(codes[0] >= STOP_NONE && codes[0] <= STOP_TOOL_CALL, "a known stop reason: " + codes[0]);
    return codes[0];
  }

  /** The tool calls' JSON (size query first, as Edgelm.kt does); fails unless the call returns OK. */
  private static String toolCalls(long session) {
    return toolCalls(session, OK);
  }

  /** The same, failing unless the call returns expectedStatus (OK or INVALID_OUTPUT, which writes too). */
  private static String toolCalls(long session, int expectedStatus) {
    long[] size = new long[1];
    expect(bridge.sessionToolCalls(session, null, size) == BUFFER_TOO_SMALL && size[0] >= 3, "tool calls' size");
    byte[] small = new byte[(int) size[0] - 1];
    expect(bridge.sessionToolCalls(session, small, size) == BUFFER_TOO_SMALL && small[0] == 0,
           "a buffer one byte short gets nothing");
    byte[] json = new byte[(int) size[0]];
    int status = bridge.sessionToolCalls(session, json, size);
    expect(status == expectedStatus, "tool calls: status " + status + " " + text(bridge.sessionError(session)));
    expect(size[0] == json.length && json[json.length - 1] == 0, "the JSON is NUL-terminated");
    String calls = text(Arrays.copyOf(json, json.length - 1));
    expect(calls.startsWith("[") && calls.endsWith("]"), "the tool calls are a JSON array: " + calls);
    expect(JsonChecker.isValid(calls), "the tool calls parse as JSON: " + calls);
    return calls;
  }

  private static int count(String text, String part) {
    int n = 0;
    for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + part.length())) n++;
    return n;
  }

  /**
   * A JSON syntax check (RFC 8259) for the replies, without a JSON library: the JDK has none. isValid
   * accepts exactly one value with whitespace around it; topLevelKeys gives an object's keys.
   */
  private static final class JsonChecker {
    private final String text;
    private int at;
    private final List<String> keys = new ArrayList<>();

    private JsonChecker(String text) {
      this.text = text;
    }

    static boolean isValid(String text) {
      return topLevelKeys(text) != null;
    }

    /** The keys of a top-level object (empty for other values); null when the text is not JSON. */
    static List<String> topLevelKeys(String text) {
      JsonChecker checker = new JsonChecker(text);
      try {
        checker.value(0);
        checker.space();
        return checker.at == text.length() ? checker.keys : null;
      } catch (IllegalArgumentException | StringIndexOutOfBoundsException e) {
        return null;
      }
    }

    private void space() {
      while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) at++;
    }

    private void eat(char c) {
      if (at >= text.length() || text.charAt(at) != c) throw new IllegalArgumentException("expected " + c);
      at++;
    }

    private boolean peek(char c) {
      space();
      return at < text.length() && text.charAt(at) == c;
    }

    private void value(int depth) {
      space();
      char c = text.charAt(at);
      if (c == '{') {
        at++;
        boolean more = !peek('}');
        while (more) {  // after a comma another member must follow
          space();
          String key = string();
          if (depth == 0) keys.add(key);
          space();
          eat(':');
          value(depth + 1);
          more = peek(',');
          if (more) at++;
        }
        space();
        eat('}');
      } else if (c == '[') {
        at++;
        boolean more = !peek(']');
        while (more) {
          value(depth + 1);
          more = peek(',');
          if (more) at++;
        }
        space();
        eat(']');
      } else if (c == '"') {
        string();
      } else if (text.startsWith("true", at) || text.startsWith("null", at)) {
        at += 4;
      } else if (text.startsWith("false", at)) {
        at += 5;
      } else {
        int start = at;
        if (peekChar('-')) at++;
        if (peekChar('0')) {
          at++;
        } else {
          digits();
        }
        if (peekChar('.')) {
          at++;
          digits();
        }
        if (peekChar('e') || peekChar('E')) {
          at++;
          if (peekChar('+') || peekChar('-')) at++;
          digits();
        }
        if (at == start) throw new IllegalArgumentException("no value");
      }
    }

    private boolean peekChar(char c) {
      return at < text.length() && text.charAt(at) == c;
    }

    private void digits() {
      int start = at;
      while (at < text.length() && Character.isDigit(text.charAt(at)) && text.charAt(at) < 128) at++;
      if (at == start) throw new IllegalArgumentException("expected digits");
    }

    private String string() {
      eat('"');
      StringBuilder out = new StringBuilder();
      while (true) {
        char c = text.charAt(at++);
        if (c == '"') return out.toString();
        if (c < 0x20) throw new IllegalArgumentException("control character in a string");
        if (c != '\\') {
          out.append(c);
          continue;
        }
        char escaped = text.charAt(at++);
        if (escaped == 'u') {
          out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
          at += 4;
        } else {
          int which = "\"\\/bfnrt".indexOf(escaped);
          if (which < 0) throw new IllegalArgumentException("bad escape");
          out.append("\"\\/\b\f\n\r\t".charAt(which));
        }
      }
    }
  }

  /** Generates with a listener that collects the text and stops after stopAfter pieces. */
  private static int generate(long session, int maxTokens, int stopAfter, ByteArrayOutputStream reply) {
    int[] pieces = {0};
    return generate(session, maxTokens, bytes -> {
      reply.write(bytes, 0, bytes.length);
      return ++pieces[0] < stopAfter;
    });
  }

  /** Opens a session with the library's defaults but the given context length and budget. */
  private static int createSession(long model, int contextLength, long maxMemoryBytes, long[] out) {
    return createSession(model, contextLength, maxMemoryBytes, false, null, out);
  }

  /** The same, with thinking on or off and tools (null: none). */
  private static int createSession(long model, int contextLength, long maxMemoryBytes, boolean enableThinking,
                                   String toolsJson, long[] out) {
    int[] ints = new int[10];
    long[] longs = new long[1];
    bridge.sessionOptionsInit(ints, longs);
    return bridge.sessionCreate(model, contextLength, ints[1], ints[2], ints[3], ints[4], maxMemoryBytes, ints[5],
                                ints[6] != 0, enableThinking, toolsJson == null ? null : utf8(toolsJson), ints[8],
                                ints[9], 0, out);
  }

  /** A session that speculates (edgelm_speculation; draft 0: none), otherwise with the defaults. */
  private static int createSpeculatingSession(long model, int speculation, long draft, long[] out) {
    int[] ints = new int[10];
    long[] longs = new long[1];
    bridge.sessionOptionsInit(ints, longs);
    return bridge.sessionCreate(model, 512, ints[1], ints[2], ints[3], ints[4], 0, ints[5], ints[6] != 0, false,
                                null, speculation, ints[9], draft, out);
  }

  /** Speculation across the bridge: prompt lookup and a draft model give plain decoding's text, and the stats
   *  count passes, drafts and accepted guesses consistently; the session keeps a draft model freed after it. */
  private static void speculation(long model, String modelPath) throws Exception {
    long[] handle = new long[1];
    expect(createSpeculatingSession(model, SPECULATION_NONE, 0, handle) == OK, "a plain session");
    long plain = handle[0];
    expect(bridge.sessionAppendText(plain, utf8("The jury said the jury said the jury"), false) == OK, "append");
    ByteArrayOutputStream want = new ByteArrayOutputStream();
    expect(generate(plain, 24, Integer.MAX_VALUE, want) == OK, "plain generate");
    bridge.sessionFree(plain);
    for (int mode : new int[] {SPECULATION_PROMPT_LOOKUP, SPECULATION_DRAFT_MODEL}) {
      long[] draft = new long[1];
      if (mode == SPECULATION_DRAFT_MODEL)
        expect(bridge.modelLoad(utf8(modelPath), 1, false, 0, 0, null, draft) == OK, "the draft model loads");
      expect(createSpeculatingSession(model, mode, draft[0], handle) == OK, "a speculating session: " + mode);
      if (draft[0] != 0) bridge.modelFree(draft[0]);  // the session keeps it
      long session = handle[0];
      expect(bridge.sessionAppendText(session, utf8("The jury said the jury said the jury"), false) == OK, "append");
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      expect(generate(session, 24, Integer.MAX_VALUE, got) == OK, "speculating generate");
      expect(got.toString(StandardCharsets.UTF_8).equals(want.toString(StandardCharsets.UTF_8)),
             "speculation does not change the text");
      long[] counts = new long[7];
      double[] rates = new double[3];
      int[] codes = new int[1];
      expect(bridge.sessionStats(session, counts, rates, codes) == OK, "stats");
      expect(counts[4] + counts[6] == counts[1] - 1 && counts[6] <= counts[5],
             "passes + accepted guesses = decoded tokens");
      bridge.sessionFree(session);
    }
    expect(createSpeculatingSession(model, SPECULATION_DRAFT_MODEL, 0, handle) == INVALID_ARGUMENT,
           "a draft-model session needs the draft model");
  }

  /** The last position's logits (evaluate with the size query first, as Edgelm.kt does). */
  private static float[] lastLogits(long session) {
    long[] count = new long[1];
    expect(bridge.sessionEvaluate(session, false, null, count) == BUFFER_TOO_SMALL, "evaluate's size query");
    float[] logits = new float[(int) count[0]];
    expect(bridge.sessionEvaluate(session, false, logits, count) == OK, "evaluate");
    return logits;
  }

  private static byte[] saveState(long session) {
    long[] size = new long[1];
    expect(bridge.sessionSaveState(session, null, size) == BUFFER_TOO_SMALL && size[0] > 0, "the state's size");
    byte[] state = new byte[(int) size[0]];
    expect(bridge.sessionSaveState(session, state, size) == OK && size[0] == state.length, "save the state");
    return state;
  }

  private static boolean allFinite(float[] values) {
    for (float value : values) {
      if (!Float.isFinite(value)) return false;
    }
    return true;
  }

  public static void main(String[] args) throws Exception {
    String version = text(bridge.version());
    expect(version.matches("\\d+\\.\\d+\\.\\d+"), "version is MAJOR.MINOR.PATCH");
    String[] parts = version.split("\\.");
    int number = Integer.parseInt(parts[0]) * 1000000 + Integer.parseInt(parts[1]) * 1000 + Integer.parseInt(parts[2]);
    expect(bridge.versionNumber() == number, "versionNumber " + bridge.versionNumber() + " matches " + version);

    // The _init values the Kotlin options classes take as their defaults.
    int[] modelInts = new int[3];
    long[] modelLongs = new long[1];
    bridge.modelOptionsInit(modelInts, modelLongs);
    expect(modelInts[0] >= 0 && modelInts[2] == 0 && modelLongs[0] == 0, "model defaults: threads, no check, no budget");
    int[] sessionInts = new int[10];
    long[] sessionLongs = new long[1];
    bridge.sessionOptionsInit(sessionInts, sessionLongs);
    expect(sessionInts[0] > 0 && sessionInts[1] > 0 && sessionLongs[0] == 0, "session defaults: context, chunk");
    expect(sessionInts[7] == 0, "session defaults: no thinking");
    expect(sessionInts[8] == SPECULATION_NONE && sessionInts[9] == 8, "session defaults: no speculation, drafts of 8");
    bridge.generateOptionsInit(genInts, genFloats, genLongs);
    expect(genInts[0] > 0 && genFloats[0] >= 0 && genFloats[1] > 0, "generate defaults: maxTokens, temperature, top_p");
    expect(genInts[4] == -1 && genInts[5] == TOOL_CHOICE_AUTO, "generate defaults: no thinking budget, auto tools");

    // Log messages, from whatever thread: the listener is called through the JavaVM.
    List<Message> messages = new ArrayList<>();
    LogListener collect = (level, bytes) -> {
      synchronized (messages) {
        messages.add(new Message(level, text(bytes)));
      }
    };
    bridge.setLogListener(collect, LOG_DEBUG);

    long[] handle = new long[1];
    int status = bridge.modelLoad(utf8("/nonexistent/model.edgelm"), 1, false, 0, 0, null, handle);
    expect(status == NOT_FOUND && handle[0] == 0, "a missing file is NOT_FOUND");
    expect(text(bridge.lastError()).contains("nonexistent"), "the message names the file");
    expect(text(bridge.statusName(status)).length() > 0, "statuses have names");
    expect(text(bridge.statusName(INVALID_OUTPUT)).contains("output"), "INVALID_OUTPUT has its name");
    synchronized (messages) {
      expect(messages.stream().anyMatch(m -> m.level == LOG_DEBUG && m.text.contains("nonexistent")),
             "the failed load is logged at DEBUG");
    }

    expect(bridge.modelLoad(utf8(args[0]), 1, false, 1 << 20, 0, null, handle) == OUT_OF_MEMORY && handle[0] == 0,
           "a 1 MB budget refuses the model");
    expect(text(bridge.lastError()).contains("max_memory_bytes"), "the message names the budget");

    // From here only INFO and above, and a listener that throws: the exception must be dropped.
    bridge.setLogListener((level, bytes) -> {
      collect.onLog(level, bytes);
      throw new IllegalStateException("a log listener that throws");
    }, LOG_INFO);
    synchronized (messages) {
      messages.clear();
    }
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 1, null, handle) == OK, "the model loads, its weights verified");
    bridge.modelFree(handle[0]);
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 0, null, handle) == OK, "the model loads");
    long model = handle[0];
    synchronized (messages) {
      expect(!messages.isEmpty(), "the model load is logged");
      expect(messages.stream().allMatch(m -> m.level >= LOG_INFO && !m.text.isEmpty()), "INFO and above only");
    }
    bridge.setLogListener(null, LOG_INFO);
    synchronized (messages) {
      messages.clear();
    }
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 0, null, handle) == OK, "the model loads again");
    bridge.modelFree(handle[0]);
    // A packed-weights cache path passes through (written only where XNNPACK runs linears: arm64).
    java.io.File cache = java.io.File.createTempFile("edgelm-jni", ".xnnpack");
    expect(cache.delete(), "the cache path starts empty");
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 0, utf8(cache.getPath()), handle) == OK,
           "the model loads with a packed-weights cache path");
    bridge.modelFree(handle[0]);
    cache.delete();
    synchronized (messages) {
      expect(messages.isEmpty(), "no listener, no messages");
    }

    int[] infoInts = new int[11];
    long[] infoLongs = new long[2];
    byte[][] infoTexts = new byte[3][];
    int[][] stopTokens = new int[1][];
    expect(bridge.modelInfo(model, infoInts, infoLongs, infoTexts, stopTokens) == OK, "model info");
    int vocabSize = infoInts[0];
    int bos = infoInts[6];
    expect(text(infoTexts[0]).equals("gemma4") && infoTexts[1].length > 0, "family and recipe");
    expect(vocabSize > 0 && infoInts[5] == 1 && infoLongs[0] > 0 && infoLongs[1] > 0, "sizes");
    expect(bos >= 0 && infoInts[7] >= 0 && infoInts[8] >= 0 && infoInts[9] >= 0, "special tokens");
    expect(stopTokens[0].length > 0 && Arrays.stream(stopTokens[0]).allMatch(t -> t >= 0 && t < vocabSize),
           "stop tokens");
    expect(text(infoTexts[2]).equals("gemma4"), "chat template");
    expect(infoInts[10] == sessionInts[0], "default context length is session_options_init's");

    String sample = "The jury said it was fine.";
    long[] count = new long[1];
    expect(bridge.tokenize(model, utf8(sample), true, false, null, count) == BUFFER_TOO_SMALL && count[0] > 2,
           "tokenize's size query");
    int[] ids = new int[(int) count[0]];
    expect(bridge.tokenize(model, utf8(sample), true, false, ids, count) == OK && ids[0] == bos, "tokenize");
    int[] textIds = Arrays.copyOfRange(ids, 1, ids.length);
    expect(bridge.detokenize(model, textIds, null, count) == BUFFER_TOO_SMALL
           && count[0] == utf8(sample).length, "detokenize's size query");
    byte[] decoded = new byte[(int) count[0] + 1];
    expect(bridge.detokenize(model, textIds, decoded, count) == OK
           && text(Arrays.copyOf(decoded, (int) count[0])).equals(sample), "detokenize gives the text back");

    expect(createSession(model, 512, 1 << 10, handle) == OUT_OF_MEMORY && handle[0] == 0,
           "a 1 KB budget refuses the session");
    expect(createSession(model, 512, 0, handle) == OK, "a session opens");
    long session = handle[0];

    // Text outside the BMP: JNI's modified UTF-8 would turn it into invalid UTF-8 for the C API.
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("Tell me a story \uD83D\uDC4B")) == OK,
           "a user turn with an emoji is accepted");
    ByteArrayOutputStream reply = new ByteArrayOutputStream();
    expect(generate(session, 400, Integer.MAX_VALUE, reply) == OK, "generate finishes");
    long[] counts = new long[7];
    double[] rates = new double[3];
    int[] codes = new int[1];
    expect(bridge.sessionStats(session, counts, rates, codes) == OK, "stats");
    expect(codes[0] == STOP_TOKEN || codes[0] == STOP_MAX_TOKENS, "stopped at the turn's end or max tokens");
    expect(toolCalls(session).equals("[]"), "no tool calls without tools");
    expect(counts[1] > 0 && rates[1] > 0, "tokens were generated");
    expect(reply.size() > 0, "the listener saw text");
    expect(bridge.sessionTokenCount(session) == counts[3], "token count is the stats' context tokens");

    // Stop strings and logit bias cross the bridge: a stop string "e" ends the text before its first e;
    // a banned token id out of the vocabulary is refused.
    ByteArrayOutputStream stopped = new ByteArrayOutputStream();
    final long beforeStop = bridge.sessionTokenCount(session);
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("And then?")) == OK, "a second turn");
    expect(bridge.sessionGenerate(session, 40, true, 0f, 0, 1f, 0f, 1f, 0f, 64, 1L, new byte[][] {utf8("e")},
                                  new int[] {1}, new float[] {Float.NEGATIVE_INFINITY}, -1, null, null,
                                  TOOL_CHOICE_AUTO, bytes -> {
                                    stopped.write(bytes, 0, bytes.length);
                                    return true;
                                  }, null) == OK, "generate with a stop string and a ban");
    expect(stopped.toString(StandardCharsets.UTF_8).indexOf('e') < 0, "no text from the stop string on");
    int reason = stopReason(session);
    expect(reason == STOP_STRING || reason == STOP_MAX_TOKENS, "stopped by the string or max tokens: " + reason);
    expect(bridge.sessionGenerate(session, 4, true, 0f, 0, 1f, 0f, 1f, 0f, 64, 1L, new byte[0][],
                                  new int[] {1 << 30}, new float[] {1f}, -1, null, null, TOOL_CHOICE_AUTO,
                                  bytes -> true, null) == OUT_OF_RANGE,
           "a logit bias outside the vocabulary is refused");
    expect(bridge.sessionRewind(session, beforeStop) == OK, "rewind the stop-string turn");

    // Session state in memory: a second session restored from it has the same history and logits.
    byte[] state = saveState(session);
    expect(createSession(model, 512, 0, handle) == OK, "a second session opens");
    long copy = handle[0];
    expect(bridge.sessionRestoreState(copy, state) == OK, "restore the state");
    expect(bridge.sessionTokenCount(copy) == bridge.sessionTokenCount(session), "the restored token count");
    float[] logits = lastLogits(session);
    expect(logits.length == vocabSize && allFinite(logits), "evaluate gives vocab_size finite logits");
    expect(Arrays.equals(lastLogits(copy), logits), "the restored session computes the same logits");
    expect(bridge.sessionRestoreState(copy, Arrays.copyOf(state, state.length / 2)) != OK,
           "a truncated state is refused");
    expect(bridge.sessionError(copy).length > 0, "with a message");
    expect(bridge.sessionTokenCount(copy) == bridge.sessionTokenCount(session), "and changes nothing");

    // The same through a file.
    File file = File.createTempFile("edgelm-jni", ".state");
    try {
      expect(bridge.sessionSaveFile(session, utf8(file.getPath())) == OK && file.length() > 0, "save to a file");
      expect(bridge.sessionReset(copy) == OK && bridge.sessionTokenCount(copy) == 0, "reset empties the history");
      expect(bridge.sessionRestoreFile(copy, utf8(file.getPath())) == OK
             && bridge.sessionTokenCount(copy) == bridge.sessionTokenCount(session), "restore from the file");
    } finally {
      file.delete();
    }

    // Logits of every pending position, and scoring, on the copy.
    long before = bridge.sessionTokenCount(copy);
    int[] two = {textIds[0], textIds[1]};
    expect(bridge.sessionAppendTokens(copy, two) == OK, "append tokens");
    expect(bridge.sessionEvaluate(copy, true, null, count) == BUFFER_TOO_SMALL && count[0] == 2L * vocabSize,
           "evaluate all positions: a row per pending token");
    float[] rows = new float[(int) count[0]];
    expect(bridge.sessionEvaluate(copy, true, rows, count) == OK && allFinite(rows), "evaluate all positions");
    expect(bridge.sessionRewind(copy, before) == OK && bridge.sessionTokenCount(copy) == before, "rewind");
    float[] logprobs = new float[2];
    double[] sum = new double[1];
    expect(bridge.sessionScore(copy, two, logprobs, sum) == OK, "score");
    expect(allFinite(logprobs) && logprobs[0] < 0 && logprobs[1] < 0, "finite negative log-probabilities");
    expect(Math.abs(sum[0] - (logprobs[0] + logprobs[1])) < 1e-3, "their sum");
    expect(bridge.sessionTokenCount(copy) == before + 2, "the scored tokens join the history");
    expect(bridge.sessionAppendText(copy, utf8(" And then"), false) == OK, "append text");

    long kept = bridge.sessionTokenCount(copy);
    long[] released = new long[1];
    expect(bridge.sessionReleaseMemory(copy, released) == OK && released[0] >= 0, "release memory");
    expect(bridge.sessionTokenCount(copy) == kept, "the conversation is kept");
    expect(generate(copy, 5, Integer.MAX_VALUE, new ByteArrayOutputStream()) == OK, "generate after releasing");
    bridge.sessionFree(copy);

    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("Go on.")) == OK, "second turn");
    expect(generate(session, 50, 3, new ByteArrayOutputStream()) == OK, "a listener stop is not an error");
    expect(bridge.sessionStats(session, counts, rates, codes) == OK && counts[1] == 3, "the listener stopped at 3");
    expect(codes[0] == STOP_CALLBACK, "the stop reason says the listener stopped it");

    // Cancel from another thread while the listener holds generation at its first token.
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("And then?")) == OK, "third turn");
    status = generate(session, 50, bytes -> {
      Thread canceller = new Thread(() -> bridge.sessionCancel(session));
      canceller.start();
      try {
        canceller.join();
      } catch (InterruptedException e) {
        throw new RuntimeException(e);
      }
      return true;
    });
    expect(status == CANCELLED, "cancel from another thread stops generate, status " + status);

    // An exception in the listener stops generation and reaches the caller.
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("Once more.")) == OK, "fourth turn");
    boolean thrown = false;
    try {
      generate(session, 50, bytes -> { throw new IllegalStateException("listener"); });
    } catch (IllegalStateException expected) {
      thrown = true;
    }
    expect(thrown, "the listener's exception propagates");

    assistantFeatures(model);
    speculation(model, args[0]);

    // A session keeps its model alive: the model may be freed first.
    bridge.modelFree(model);
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("Last one.")) == OK, "fifth turn");
    expect(generate(session, 5, Integer.MAX_VALUE, new ByteArrayOutputStream()) == OK, "generate without the model");
    bridge.sessionFree(session);
    System.out.println("JNI smoke test passed");
  }

  static final String WEATHER_TOOLS = "[{\"name\":\"get_weather\",\"description\":\"Weather\",\"parameters\":"
      + "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":12}},"
      + "\"required\":[\"city\"]}}]";

  static final String PERSON_SCHEMA = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\","
      + "\"maxLength\":10},\"age\":{\"type\":\"integer\"},\"member\":{\"type\":\"boolean\"}},"
      + "\"required\":[\"name\",\"age\"]}";

  /** Tools, constrained replies and thinking (C API 1.2), through the bridge. */
  private static void assistantFeatures(long model) {
    long[] handle = new long[1];

    // Tools: a required call stops with TOOL_CALL (or, with a long city name, at max tokens); its JSON
    // names the tool; a tool result goes into the open model turn, and generation goes on.
    expect(createSession(model, 1024, 0, false, "[{\"name\":\"bad name\"}]", handle) == INVALID_ARGUMENT
           && handle[0] == 0, "a malformed tool declaration is refused");
    expect(text(bridge.lastError()).length() > 0, "with a message");
    int toolCallStops = 0;
    for (long seed = 1; seed <= 5; seed++) {
      expect(createSession(model, 1024, 0, false, WEATHER_TOOLS, handle) == OK, "a session with tools opens");
      long tools = handle[0];
      expect(bridge.sessionAppendMessage(tools, utf8("tool"), utf8("{}")) == INVALID_ARGUMENT,
             "a tool result without a call is refused");
      expect(bridge.sessionAppendMessage(tools, utf8("user"), utf8("Weather in Paris?")) == OK, "ask");
      Gen required = new Gen(200);
      required.temperature = genFloats[0];
      required.seed = seed;
      required.toolChoice = TOOL_CHOICE_REQUIRED;
      ByteArrayOutputStream answer = new ByteArrayOutputStream();
      required.run(tools, answer, "generate a required tool call");
      int reason = stopReason(tools);
      String calls = toolCalls(tools);
      System.out.println("seed " + seed + ": stop reason " + reason + ", tool calls " + calls);
      expect(reason == STOP_TOOL_CALL || reason == STOP_MAX_TOKENS, "a required call ends in a call: " + reason);
      if (reason == STOP_TOOL_CALL) {
        toolCallStops++;
        int n = count(calls, "{\"name\":");
        expect(n >= 1 && count(calls, "\"get_weather\"") == n, "every call names get_weather: " + calls);
        expect(calls.contains("\"arguments\":{") && calls.contains("\"city\":"), "with its city: " + calls);
        for (int i = 0; i < n; i++) {
          expect(bridge.sessionAppendMessage(tools, utf8("tool"), utf8("{\"temp\":22,\"sky\":\"clear\"}")) == OK,
                 "a tool result answers the call");
        }
        expect(bridge.sessionAppendMessage(tools, utf8("tool"), utf8("{}")) == INVALID_ARGUMENT,
               "one result per call");
        Gen answerIt = new Gen(8);
        answerIt.temperature = genFloats[0];
        answerIt.seed = seed;
        answerIt.run(tools, new ByteArrayOutputStream(), "generate after the tool result");
        int after = stopReason(tools);
        expect(after != STOP_NONE, "the continuation has a stop reason");
        if (after != STOP_TOOL_CALL) expect(toolCalls(tools).equals("[]"), "no calls after another stop");
      } else {
        expect(calls.equals("[]"), "no calls after a max-tokens stop");
      }
      bridge.sessionFree(tools);
    }
    expect(toolCallStops >= 1, "at least one of seeds 1..5 stops with a tool call");

    // A malformed call (a grammar makes the model write one): INVALID_OUTPUT, the array written anyway.
    expect(createSession(model, 1024, 0, false, WEATHER_TOOLS, handle) == OK, "a session with tools opens");
    long malformed = handle[0];
    expect(bridge.sessionAppendMessage(malformed, utf8("user"), utf8("Weather in Paris?")) == OK, "ask");
    Gen badCall = new Gen(100);
    badCall.grammar = utf8("root ::= @\"<|tool_call>\" \"call:get_weather{city:,,}\" @\"<tool_call|>\" "
                           + "@\"<|tool_response>\"");
    badCall.run(malformed, new ByteArrayOutputStream(), "generate a malformed call");
    expect(stopReason(malformed) == STOP_TOOL_CALL, "a malformed call still stops for a result");
    String badCalls = toolCalls(malformed, INVALID_OUTPUT);
    expect(badCalls.contains("\"error\":") && badCalls.contains("\"raw\":\"call:get_weather{city:,,}\""),
           "the malformed call is reported with its raw text: " + badCalls);
    expect(text(bridge.sessionError(malformed)).contains("malformed"), "with a message");
    bridge.sessionFree(malformed);

    // Tool choice REQUIRED needs tools; an unknown tool choice is refused.
    expect(createSession(model, 512, 0, handle) == OK, "a session opens");
    long plain = handle[0];
    expect(bridge.sessionAppendMessage(plain, utf8("user"), utf8("Describe a person as JSON.")) == OK, "ask");
    Gen noTools = new Gen(8);
    noTools.toolChoice = TOOL_CHOICE_REQUIRED;
    expect(noTools.run(plain, bytes -> true) == INVALID_ARGUMENT, "a required call without tools is refused");
    noTools.toolChoice = 7;
    expect(noTools.run(plain, bytes -> true) == INVALID_ARGUMENT, "an unknown tool choice is refused");

    // JSON schema: a reply that ends at its end-of-turn token is one JSON object with the required keys.
    long start = bridge.sessionTokenCount(plain);
    int complete = 0;
    for (long seed = 1; seed <= 6; seed++) {
      expect(bridge.sessionRewind(plain, start) == OK, "back to the question");
      Gen json = new Gen(120);
      json.temperature = 1f;
      json.seed = seed;
      json.jsonSchema = utf8(PERSON_SCHEMA);
      ByteArrayOutputStream answer = new ByteArrayOutputStream();
      json.run(plain, answer, "generate with a JSON schema");
      String reply = answer.toString(StandardCharsets.UTF_8).trim();
      int reason = stopReason(plain);
      System.out.println("seed " + seed + ": stop reason " + reason + ", JSON reply " + reply);
      if (reason == STOP_MAX_TOKENS) continue;
      expect(reason == STOP_TOKEN, "a constrained reply ends when complete: " + reason);
      expect(reply.startsWith("{") && reply.endsWith("}"), "the reply is an object: " + reply);
      List<String> keys = JsonChecker.topLevelKeys(reply);
      expect(keys != null, "the reply parses as JSON: " + reply);
      expect(keys.contains("name") && keys.contains("age"), "with the required keys: " + reply);
      complete++;
    }
    expect(complete >= 1, "a JSON reply completed");
    Gen both = new Gen(8);
    both.jsonSchema = utf8(PERSON_SCHEMA);
    both.grammar = utf8("root ::= \"yes\" | \"no\"");
    expect(both.run(plain, bytes -> true) == INVALID_ARGUMENT, "a grammar and a schema at once are refused");
    Gen broken = new Gen(8);
    broken.jsonSchema = utf8("{not json");
    expect(broken.run(plain, bytes -> true) == INVALID_ARGUMENT, "a schema that is not JSON is refused");
    expect(bridge.sessionError(plain).length > 0, "with a message");

    // A grammar: the reply is one of its sentences.
    expect(bridge.sessionRewind(plain, start) == OK, "back to the question");
    Gen yesNo = new Gen(20);
    yesNo.grammar = utf8("root ::= \"yes\" | \"no\"");
    ByteArrayOutputStream yesNoReply = new ByteArrayOutputStream();
    yesNo.run(plain, yesNoReply, "generate with a grammar");
    String word = yesNoReply.toString(StandardCharsets.UTF_8);
    expect(stopReason(plain) == STOP_TOKEN && (word.equals("yes") || word.equals("no")),
           "the grammar's reply: " + word);
    bridge.sessionFree(plain);

    // Thinking with a budget: brown-tiny never thinks by itself, so a grammar opens its reply with a
    // thought, which the budget closes. The thought goes to the thought listener, not to the answer.
    expect(createSession(model, 1024, 0, true, null, handle) == OK, "a thinking session opens");
    long thinking = handle[0];
    expect(bridge.sessionAppendMessage(thinking, utf8("user"), utf8("What did the jury say?")) == OK, "ask");
    long asked = bridge.sessionTokenCount(thinking);
    ByteArrayOutputStream thought = new ByteArrayOutputStream();
    ByteArrayOutputStream answer = new ByteArrayOutputStream();
    Gen think = new Gen(60);
    think.thinkingBudget = 6;
    think.grammar = utf8("root ::= \"<|channel>\" [a-z ]{1,30}");
    think.thoughts = bytes -> {
      thought.write(bytes, 0, bytes.length);
      return true;
    };
    think.run(thinking, answer, "generate with thinking");
    String thoughtText = thought.toString(StandardCharsets.UTF_8);
    String answerText = answer.toString(StandardCharsets.UTF_8);
    System.out.println("thought [" + thoughtText + "], answer [" + answerText + "]");
    int thinkingStop = stopReason(thinking);
    expect(thinkingStop == STOP_TOKEN || thinkingStop == STOP_MAX_TOKENS, "thinking stops as usual: " + thinkingStop);
    expect(!thoughtText.isEmpty(), "the thought reached the thought listener");
    expect(answerText.indexOf('<') < 0 && !answerText.contains(thoughtText), "the answer has no thought or marker");
    expect(!thoughtText.contains("<"), "the thought has no marker");
    // Without a thought listener thoughts are dropped; a thought listener that throws stops generation.
    expect(bridge.sessionRewind(thinking, asked) == OK, "back to the question");
    think.thoughts = null;
    think.run(thinking, new ByteArrayOutputStream(), "thinking without a thought listener");
    expect(bridge.sessionRewind(thinking, asked) == OK, "back to the question");
    think.thoughts = bytes -> {
      throw new IllegalStateException("thought listener");
    };
    boolean thrown = false;
    try {
      think.run(thinking, bytes -> true);
    } catch (IllegalStateException expected) {
      thrown = true;
    }
    expect(thrown, "the thought listener's exception propagates");
    bridge.sessionFree(thinking);
  }
}
