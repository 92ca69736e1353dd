// A small JSON DOM (RFC 8259) for what the runtime reads and writes as JSON: tool declarations and
// JSON schemas in, tool-call arguments out. The library cannot use nlohmann-json (a tools-only
// dependency, absent from the Android/iOS builds), and needs little: parse, look up, print.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace edgelm {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind = Kind::kNull;
  bool boolean = false;
  // kString: the decoded UTF-8 text. kNumber: the number exactly as written (integers stay exact).
  std::string text;
  std::vector<JsonValue> items;                             // kArray
  std::vector<std::pair<std::string, JsonValue>> members;   // kObject, in document order

  bool is_null() const { return kind == Kind::kNull; }
  bool is_bool() const { return kind == Kind::kBool; }
  bool is_number() const { return kind == Kind::kNumber; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_object() const { return kind == Kind::kObject; }
  // The member named `key` of an object (the last one if repeated), else null.
  const JsonValue* Find(std::string_view key) const;
  // The number as a double (0 for other kinds).
  double number() const;
};

// Parses exactly one JSON value (surrounding whitespace allowed) into *out. InvalidArgument naming the
// byte offset for anything else: invalid UTF-8, control characters in strings, unpaired surrogate
// escapes, leading zeros, trailing text, or nesting deeper than kMaxJsonDepth.
constexpr int kMaxJsonDepth = 128;
Status ParseJson(std::string_view text, JsonValue* out);

// The length of the JSON number (RFC 8259) starting at text[pos], or 0 with *error saying what is wrong.
size_t ScanJsonNumber(std::string_view text, size_t pos, std::string* error);

// Appends the compact JSON text of `value` (members in their order, numbers as written).
void AppendJson(const JsonValue& value, std::string* out);
// Appends `utf8` as a quoted JSON string (", \ and control characters escaped).
void AppendJsonString(std::string_view utf8, std::string* out);

}  // namespace edgelm
