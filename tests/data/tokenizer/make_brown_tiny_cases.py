#!/usr/bin/python3
"""Regenerates brown_tiny_cases.json: reference ids of brown-tiny's tokenizer.model from Debian's
libsentencepiece command line tool (apt-get install -y sentencepiece).

  tests/data/tokenizer/make_brown_tiny_cases.py SHARED_DIR > tests/data/tokenizer/brown_tiny_cases.json

spm_encode reads one sentence per line, so a text with newlines is encoded line by line and joined with the
id of <0x0A>: the vocabulary has no piece containing "\\n" (checked below), so BPE can never merge across a
newline and the join equals encoding the whole text.
"""
import json
import subprocess
import sys

if len(sys.argv) != 2:
    sys.exit(__doc__)
model = sys.argv[1] + "/models/brown-tiny/float/tokenizer.model"
with open(sys.argv[1] + "/models/brown-tiny/text/valid.txt", encoding="utf-8") as f:
    valid_paragraphs = f.read().split("\n")[:6]

texts = [
    "The jury said it did find that the city's election was conducted properly.",
    "Hello world",
    "",
    " ",
    "trailing space ",
    "  two leading spaces",
    "a     b  c   d",
    "x" + " " * 40 + "y",
    "line one\nline two",
    "ends with newline\n",
    "\n\n\n",
    "\ttabs\tand\t\tmore tabs",
    "windows\r\nline endings\r\n",
    "In 1961 there were 365 days and 8,760 hours.",
    "1234567890 3.14159 -42 +7 1e10",
    "Wait -- what?! (Yes); [no] {maybe} \"quoted\" 'single' #hash @at $5.00 100% a&b*c=d/e\\f^g~h|i`j",
    "café naïve résumé Größe déjà vu",
    "e\u0301 is not \u00e9",
    "non\u00a0breaking\u3000spaces",
    "你好，世界！",
    "I love it 😀🎉👍🏽!",
    "family: 👨\u200d👩\u200d👧\u200d👦 and 🏳️\u200d🌈",
    "𝄞 music",
    "<|turn>user\nHi<turn|>\n<|turn>model\n",
    "a<turn|>b",
    "\n".join(valid_paragraphs),
]


def piece_ids():
    out = subprocess.run(["spm_export_vocab", "--model=" + model], check=True, capture_output=True, text=True)
    return [line.split("\t")[0] for line in out.stdout.split("\n") if line]


pieces = piece_ids()
assert not any("\n" in p for p in pieces), "a piece contains a newline: encode whole texts instead"
newline_id = pieces.index("<0x0A>")

lines = [line for text in texts for line in text.split("\n")]
for line in lines:
    assert "\r" not in line.rstrip("\r"), "spm_encode input must not contain a bare carriage return"
result = subprocess.run(["spm_encode", "--model=" + model, "--output_format=id"], input="\n".join(lines) + "\n",
                        check=True, capture_output=True, text=True)
encoded = [[int(i) for i in line.split()] for line in result.stdout.split("\n")[:len(lines)]]

cases, next_line = [], 0
for text in texts:
    ids = []
    for k, _ in enumerate(text.split("\n")):
        if k:
            ids.append(newline_id)
        ids.extend(encoded[next_line])
        next_line += 1
    cases.append({"text": text, "ids": ids})
print("[\n" + ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases) + "\n]")
