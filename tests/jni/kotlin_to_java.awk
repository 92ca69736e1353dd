# Writes the Java equivalent of Edgelm.kt's JNI surface, so that a Java program can drive the bridge
# the way the Kotlin binding does: each `internal fun interface` (TokenListener, LogListener) and
# `class NativeBridge` (the Kotlin object: instance methods and INSTANCE). A declaration may span lines
# until its parentheses close. Usage: awk -v out=DIR -f kotlin_to_java.awk Edgelm.kt
function java_type(kotlin_type,    element) {
  sub(/\?$/, "", kotlin_type)  # nullability does not exist in Java's types
  if (kotlin_type in types) return types[kotlin_type]
  if (kotlin_type in interfaces) return kotlin_type
  if (kotlin_type ~ /^Array<.*>$/) {
    element = kotlin_type; sub(/^Array</, "", element); sub(/>$/, "", element)
    return java_type(element) "[]"
  }
  print "kotlin_to_java.awk: no Java type for " kotlin_type > "/dev/stderr"
  exit 1
}
# "name(a: Int, b: ByteArray): Long" -> "long name(int a, byte[] b)"
function java_signature(declaration,    name, params, returned, parts, n, i, pair, java_params) {
  name = declaration; sub(/\(.*/, "", name)
  params = declaration; sub(/^[^(]*\(/, "", params); sub(/\).*/, "", params)
  returned = "void"
  if (declaration ~ /\): /) { returned = declaration; sub(/.*\): /, "", returned); returned = java_type(returned) }
  n = split(params, parts, /, */)
  java_params = ""
  for (i = 1; i <= n; i++) {
    split(parts[i], pair, /: /)
    java_params = java_params (i > 1 ? ", " : "") java_type(pair[2]) " " pair[1]
  }
  return returned " " name "(" java_params ")"
}
BEGIN {
  split("Int:int Long:long Float:float Double:double Boolean:boolean ByteArray:byte[] IntArray:int[] " \
        "LongArray:long[] FloatArray:float[] DoubleArray:double[]", pairs, " ")
  for (p in pairs) { split(pairs[p], kv, ":"); types[kv[1]] = kv[2] }
  bridge = out "/NativeBridge.java"
  print "package dev.edgelm;\nfinal class NativeBridge {\n  static final NativeBridge INSTANCE = new NativeBridge();" > bridge
  print "  static { System.loadLibrary(\"edgelm_jni\"); }" > bridge
}
/fun interface [A-Za-z]+/ {
  name = $0; sub(/.*fun interface /, "", name); sub(/[^A-Za-z].*/, "", name)
  interfaces[name] = 1
  block = "interface"; file = out "/" name ".java"
  print "package dev.edgelm;\ninterface " name " {" > file
  next
}
/object NativeBridge/ { block = "bridge"; next }
/^}/ {
  if (block == "interface") { print "}" > file; close(file) }
  block = ""
}
# Joins a declaration's lines: `pending` holds the text so far while its parentheses are open.
(block == "interface" && /^ *fun /) || (block == "bridge" && /^ *external fun /) {
  pending = $0; sub(/^ *(external )?fun /, "", pending)
  kind = block
}
pending != "" && !/^ *(external )?fun / { line = $0; sub(/^ */, "", line); pending = pending " " line }
pending != "" && pending ~ /\)/ {
  if (kind == "interface") print "  " java_signature(pending) ";" > file
  else print "  native " java_signature(pending) ";" > bridge
  pending = ""
}
END {
  print "}" > bridge
}
