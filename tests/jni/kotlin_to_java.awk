# Writes the Java equivalent of Edgelm.kt's JNI surface, so that a Java program can drive the bridge
# the way the Kotlin binding does: `interface TokenListener` and `class NativeBridge` (the Kotlin object:
# instance methods and INSTANCE). Usage: awk -v out=DIR -f kotlin_to_java.awk Edgelm.kt
function java_type(kotlin_type) {
  if (kotlin_type in types) return types[kotlin_type]
  if (kotlin_type == "TokenListener") return kotlin_type
  print "kotlin_to_java.awk: no Java type for " kotlin_type > "/dev/stderr"
  exit 1
}
# "name(a: Int, b: ByteArray): Long" -> "long name(int a, byte[] b)"
function java_signature(declaration,    name, params, returned, parts, n, i, pair, java_params) {
  name = declaration; sub(/\(.*/, "", name)
  params = declaration; sub(/^[^(]*\(/, "", params); sub(/\).*/, "", params)
  returned = "void"
  if (declaration ~ /\): /) { returned = declaration; sub(/.*\): /, "", returned); returned = java_type(returned) }
  n = split(params, parts, /, /)
  java_params = ""
  for (i = 1; i <= n; i++) {
    split(parts[i], pair, /: /)
    java_params = java_params (i > 1 ? ", " : "") java_type(pair[2]) " " pair[1]
  }
  return returned " " name "(" java_params ")"
}
BEGIN {
  split("Int:int Long:long Float:float Boolean:boolean ByteArray:byte[] LongArray:long[] DoubleArray:double[]", pairs, " ")
  for (p in pairs) { split(pairs[p], kv, ":"); types[kv[1]] = kv[2] }
  listener = out "/TokenListener.java"
  bridge = out "/NativeBridge.java"
  print "package dev.edgelm;\ninterface TokenListener {" > listener
  print "package dev.edgelm;\nfinal class NativeBridge {\n  static final NativeBridge INSTANCE = new NativeBridge();" > bridge
  print "  static { System.loadLibrary(\"edgelm_jni\"); }" > bridge
}
/fun interface TokenListener/ { block = "listener"; next }
/object NativeBridge/ { block = "bridge"; next }
/^}/ { block = "" }
block == "listener" && /^ *fun / { sub(/^ *fun /, ""); print "  " java_signature($0) ";" > listener }
block == "bridge" && /^ *external fun / { sub(/^ *external fun /, ""); print "  native " java_signature($0) ";" > bridge }
END {
  print "}" > listener
  print "}" > bridge
}
