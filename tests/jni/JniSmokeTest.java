// Drives libedgelm_jni.so through the JNI surface Edgelm.kt declares (translated to Java by
// kotlin_to_java.awk): every native method once at least. Library defaults, load errors, the log
// listener, model info, tokenizer, chat, UTF-8 both ways, streaming, stopping from the listener, cancel
// from another thread, stats, logits, scoring, session state in memory and in a file, releasing memory.
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
  private static final int NOT_FOUND = 2;
  private static final int OUT_OF_MEMORY = 6;
  private static final int OUT_OF_RANGE = 7;
  private static final int CANCELLED = 8;
  private static final int BUFFER_TOO_SMALL = 11;
  private static final int LOG_DEBUG = 0;
  private static final int LOG_INFO = 1;
  private static final NativeBridge bridge = NativeBridge.INSTANCE;

  // edgelm_generate_options_init's values, in NativeBridge.generateOptionsInit's layout.
  private static final int[] genInts = new int[4];
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
    return bridge.sessionGenerate(session, maxTokens, genInts[1] != 0, 0f, genInts[2], genFloats[1], genFloats[2],
                                  genFloats[3], genFloats[4], genInts[3], genLongs[0], new byte[0][], new int[0],
                                  new float[0], listener);
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
    int[] ints = new int[7];
    long[] longs = new long[1];
    bridge.sessionOptionsInit(ints, longs);
    return bridge.sessionCreate(model, contextLength, ints[1], ints[2], ints[3], ints[4], maxMemoryBytes, ints[5],
                                ints[6] != 0, out);
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
    int[] sessionInts = new int[7];
    long[] sessionLongs = new long[1];
    bridge.sessionOptionsInit(sessionInts, sessionLongs);
    expect(sessionInts[0] > 0 && sessionInts[1] > 0 && sessionLongs[0] == 0, "session defaults: context, chunk");
    bridge.generateOptionsInit(genInts, genFloats, genLongs);
    expect(genInts[0] > 0 && genFloats[0] >= 0 && genFloats[1] > 0, "generate defaults: maxTokens, temperature, top_p");

    // Log messages, from whatever thread: the listener is called through the JavaVM.
    List<Message> messages = new ArrayList<>();
    LogListener collect = (level, bytes) -> {
      synchronized (messages) {
        messages.add(new Message(level, text(bytes)));
      }
    };
    bridge.setLogListener(collect, LOG_DEBUG);

    long[] handle = new long[1];
    int status = bridge.modelLoad(utf8("/nonexistent/model.edgelm"), 1, false, 0, 0, handle);
    expect(status == NOT_FOUND && handle[0] == 0, "a missing file is NOT_FOUND");
    expect(text(bridge.lastError()).contains("nonexistent"), "the message names the file");
    expect(text(bridge.statusName(status)).length() > 0, "statuses have names");
    synchronized (messages) {
      expect(messages.stream().anyMatch(m -> m.level == LOG_DEBUG && m.text.contains("nonexistent")),
             "the failed load is logged at DEBUG");
    }

    expect(bridge.modelLoad(utf8(args[0]), 1, false, 1 << 20, 0, handle) == OUT_OF_MEMORY && handle[0] == 0,
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
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 1, handle) == OK, "the model loads, its weights verified");
    bridge.modelFree(handle[0]);
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 0, handle) == OK, "the model loads");
    long model = handle[0];
    synchronized (messages) {
      expect(!messages.isEmpty(), "the model load is logged");
      expect(messages.stream().allMatch(m -> m.level >= LOG_INFO && !m.text.isEmpty()), "INFO and above only");
    }
    bridge.setLogListener(null, LOG_INFO);
    synchronized (messages) {
      messages.clear();
    }
    expect(bridge.modelLoad(utf8(args[0]), 1, false, 0, 0, handle) == OK, "the model loads again");
    bridge.modelFree(handle[0]);
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
    long[] counts = new long[4];
    double[] rates = new double[3];
    expect(bridge.sessionStats(session, counts, rates) == OK, "stats");
    expect(counts[1] > 0 && rates[1] > 0, "tokens were generated");
    expect(reply.size() > 0, "the listener saw text");
    expect(bridge.sessionTokenCount(session) == counts[3], "token count is the stats' context tokens");

    // Stop strings and logit bias cross the bridge: a stop string "e" ends the text before its first e;
    // a banned token id out of the vocabulary is refused.
    ByteArrayOutputStream stopped = new ByteArrayOutputStream();
    final long beforeStop = bridge.sessionTokenCount(session);
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("And then?")) == OK, "a second turn");
    expect(bridge.sessionGenerate(session, 40, true, 0f, 0, 1f, 0f, 1f, 0f, 64, 1L, new byte[][] {utf8("e")},
                                  new int[] {1}, new float[] {Float.NEGATIVE_INFINITY}, bytes -> {
                                    stopped.write(bytes, 0, bytes.length);
                                    return true;
                                  }) == OK, "generate with a stop string and a ban");
    expect(stopped.toString(StandardCharsets.UTF_8).indexOf('e') < 0, "no text from the stop string on");
    expect(bridge.sessionGenerate(session, 4, true, 0f, 0, 1f, 0f, 1f, 0f, 64, 1L, new byte[0][],
                                  new int[] {1 << 30}, new float[] {1f}, bytes -> true) == OUT_OF_RANGE,
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
    expect(bridge.sessionStats(session, counts, rates) == OK && counts[1] == 3, "the listener stopped at 3");

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

    // A session keeps its model alive: the model may be freed first.
    bridge.modelFree(model);
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("Last one.")) == OK, "fifth turn");
    expect(generate(session, 5, Integer.MAX_VALUE, new ByteArrayOutputStream()) == OK, "generate without the model");
    bridge.sessionFree(session);
    System.out.println("JNI smoke test passed");
  }
}
