// Drives libedgelm_jni.so through the JNI surface Edgelm.kt declares (translated to Java by
// kotlin_to_java.awk): load errors, chat, UTF-8 both ways, streaming, stopping from the listener,
// cancel from another thread, stats. Usage: java -Djava.library.path=DIR dev.edgelm.JniSmokeTest MODEL
package dev.edgelm;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

public final class JniSmokeTest {
  private static final int OK = 0;
  private static final int NOT_FOUND = 2;
  private static final int OUT_OF_MEMORY = 6;
  private static final int CANCELLED = 8;
  private static final NativeBridge bridge = NativeBridge.INSTANCE;

  private static void expect(boolean condition, String what) {
    if (!condition) throw new AssertionError(what);
  }

  private static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  private static String text(byte[] utf8) {
    return new String(utf8, StandardCharsets.UTF_8);
  }

  /** Generates with a listener that collects the text and stops after stopAfter pieces. */
  private static int generate(long session, int maxTokens, int stopAfter, ByteArrayOutputStream reply) {
    int[] pieces = {0};
    return bridge.sessionGenerate(session, maxTokens, 0f, 0, bytes -> {
      reply.write(bytes, 0, bytes.length);
      return ++pieces[0] < stopAfter;
    });
  }

  public static void main(String[] args) throws Exception {
    expect(text(bridge.version()).matches("\\d+\\.\\d+\\.\\d+"), "version is MAJOR.MINOR.PATCH");

    long[] handle = new long[1];
    int status = bridge.modelLoad(utf8("/nonexistent/model.edgelm"), 1, 0, handle);
    expect(status == NOT_FOUND && handle[0] == 0, "a missing file is NOT_FOUND");
    expect(text(bridge.lastError()).contains("nonexistent"), "the message names the file");
    expect(text(bridge.statusName(status)).length() > 0, "statuses have names");

    expect(bridge.modelLoad(utf8(args[0]), 1, 1 << 20, handle) == OUT_OF_MEMORY && handle[0] == 0,
           "a 1 MB budget refuses the model");
    expect(text(bridge.lastError()).contains("max_memory_bytes"), "the message names the budget");
    expect(bridge.modelLoad(utf8(args[0]), 1, 0, handle) == OK, "the model loads");
    long model = handle[0];
    expect(bridge.sessionCreate(model, 512, 1 << 10, handle) == OUT_OF_MEMORY && handle[0] == 0,
           "a 1 KB budget refuses the session");
    expect(bridge.sessionCreate(model, 512, 0, handle) == OK, "a session opens");
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

    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("Go on.")) == OK, "second turn");
    expect(generate(session, 50, 3, new ByteArrayOutputStream()) == OK, "a listener stop is not an error");
    expect(bridge.sessionStats(session, counts, rates) == OK && counts[1] == 3, "the listener stopped at 3");

    // Cancel from another thread while the listener holds generation at its first token.
    expect(bridge.sessionAppendMessage(session, utf8("user"), utf8("And then?")) == OK, "third turn");
    status = bridge.sessionGenerate(session, 50, 0f, 0, bytes -> {
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
      bridge.sessionGenerate(session, 50, 0f, 0, bytes -> { throw new IllegalStateException("listener"); });
    } catch (IllegalStateException expected) {
      thrown = true;
    }
    expect(thrown, "the listener's exception propagates");

    bridge.sessionFree(session);
    bridge.modelFree(model);
    System.out.println("JNI smoke test passed");
  }
}
