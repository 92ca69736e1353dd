#!/usr/bin/env bash
# run_jni_smoke_test.sh EDGELM_KT JNI_LIBRARY_DIR MODEL WORK_DIR: translates the JNI declarations of
# Edgelm.kt to Java, compiles JniSmokeTest against them and runs it on the JNI library with -Xcheck:jni,
# failing on any JNI warning. Env: JAVAC, JAVA (default: from PATH).
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 EDGELM_KT JNI_LIBRARY_DIR MODEL WORK_DIR" >&2
  exit 2
fi
edgelm_kt=$1 library_dir=$2 model=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/src" "$work/classes"
awk -v out="$work/src" -f "$here/kotlin_to_java.awk" "$edgelm_kt"
"${JAVAC:-javac}" -d "$work/classes" "$work/src"/*.java "$here/JniSmokeTest.java"
"${JAVA:-java}" -Xcheck:jni -Djava.library.path="$library_dir" -cp "$work/classes" dev.edgelm.JniSmokeTest "$model" \
  2>&1 | tee "$work/output.txt"
if grep -q "WARNING" "$work/output.txt"; then
  echo "JNI warnings (see above)" >&2
  exit 1
fi
