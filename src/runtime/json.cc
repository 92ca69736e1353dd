#include "runtime/json.h"

#include <cstdlib>

#include "runtime/tokenizer.h"

namespace edgelm {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Status ParseDocument(JsonValue* out) {
    EDGELM_RETURN_IF_ERROR(ParseValue(out, 0));
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the JSON value");
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("invalid JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool Consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseValue(JsonValue* out, int depth) {
    if (depth > kMaxJsonDepth) return Error("nesting deeper than " + std::to_string(kMaxJsonDepth));
    SkipSpace();
    *out = JsonValue();
    if (pos_ == text_.size()) return Error("a value is missing");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      out->kind = JsonValue::Kind::kString;
      return ParseString(&out->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    if (Consume("true") || Consume("false")) {
      out->kind = JsonValue::Kind::kBool;
      out->boolean = c == 't';
      return Status::Ok();
    }
    if (Consume("null")) return Status::Ok();
    return Error("unexpected character");
  }

  Status ParseObject(JsonValue* out, int depth) {
    out->kind = JsonValue::Kind::kObject;
    ++pos_;
    SkipSpace();
    if (Consume("}")) return Status::Ok();
    for (;;) {
      SkipSpace();
      if (pos_ == text_.size() || text_[pos_] != '"') return Error("an object key must be a string");
      std::string key;
      EDGELM_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Consume(":")) return Error("':' expected after an object key");
      JsonValue value;
      EDGELM_RETURN_IF_ERROR(ParseValue(&value, depth + 1));
      out->members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume("}")) return Status::Ok();
      if (!Consume(",")) return Error("',' or '}' expected in an object");
    }
  }

  Status ParseArray(JsonValue* out, int depth) {
    out->kind = JsonValue::Kind::kArray;
    ++pos_;
    SkipSpace();
    if (Consume("]")) return Status::Ok();
    for (;;) {
      JsonValue item;
      EDGELM_RETURN_IF_ERROR(ParseValue(&item, depth + 1));
      out->items.push_back(std::move(item));
      SkipSpace();
      if (Consume("]")) return Status::Ok();
      if (!Consume(",")) return Error("',' or ']' expected in an array");
    }
  }

  Status ParseNumber(JsonValue* out) {
    std::string why;
    const size_t length = ScanJsonNumber(text_, pos_, &why);
    if (length == 0) return Error(why);
    out->kind = JsonValue::Kind::kNumber;
    out->text.assign(text_.substr(pos_, length));
    pos_ += length;
    return Status::Ok();
  }

  // Four hex digits after "\u".
  Status ParseHex4(uint32_t* value) {
    if (text_.size() - pos_ < 4) return Error("four hex digits expected after \\u");
    *value = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      const int digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (digit < 0) return Error("invalid hex digit in a \\u escape");
      *value = *value << 4 | static_cast<uint32_t>(digit);
    }
    return Status::Ok();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // the opening quote
    const size_t start = pos_;
    for (;;) {
      if (pos_ == text_.size()) return Error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') break;
      if (c < 0x20) return Error("control character in a string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      if (++pos_ == text_.size()) return Error("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"': case '\\': case '/': out->push_back(e); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          EDGELM_RETURN_IF_ERROR(ParseHex4(&cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("unpaired low surrogate escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!Consume("\\u")) return Error("unpaired high surrogate escape");
            EDGELM_RETURN_IF_ERROR(ParseHex4(&low));
            if (low < 0xDC00 || low > 0xDFFF) return Error("unpaired high surrogate escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default: return Error("invalid escape");
      }
    }
    const Status utf8 = ValidateUtf8(text_.substr(start, pos_ - start));
    if (!utf8.ok()) return Error("a string is not valid UTF-8");
    ++pos_;  // the closing quote
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

size_t ScanJsonNumber(std::string_view text, size_t pos, std::string* error) {
  const size_t start = pos;
  auto digits = [&] {
    const size_t first = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    return pos - first;
  };
  auto consume = [&](char c) {
    if (pos == text.size() || text[pos] != c) return false;
    ++pos;
    return true;
  };
  consume('-');
  const size_t integer_start = pos;
  const size_t integer_digits = digits();
  if (integer_digits == 0) return *error = "a number needs digits", 0;
  if (integer_digits > 1 && text[integer_start] == '0') return *error = "a number must not have leading zeros", 0;
  if (consume('.') && digits() == 0) return *error = "digits expected after the decimal point", 0;
  if (consume('e') || consume('E')) {
    if (!consume('+')) consume('-');
    if (digits() == 0) return *error = "digits expected in the exponent", 0;
  }
  return pos - start;
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  const JsonValue* found = nullptr;
  for (const auto& [name, value] : members)
    if (name == key) found = &value;
  return found;
}

double JsonValue::number() const { return is_number() ? std::strtod(text.c_str(), nullptr) : 0.0; }

Status ParseJson(std::string_view text, JsonValue* out) {
  JsonValue value;
  EDGELM_RETURN_IF_ERROR(Parser(text).ParseDocument(&value));
  *out = std::move(value);
  return Status::Ok();
}

void AppendJsonString(std::string_view utf8, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : utf8) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (c < 0x20) {
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendJson(const JsonValue& value, std::string* out) {
  switch (value.kind) {
    case JsonValue::Kind::kNull: *out += "null"; return;
    case JsonValue::Kind::kBool: *out += value.boolean ? "true" : "false"; return;
    case JsonValue::Kind::kNumber: *out += value.text; return;
    case JsonValue::Kind::kString: AppendJsonString(value.text, out); return;
    case JsonValue::Kind::kArray:
      out->push_back('[');
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i) out->push_back(',');
        AppendJson(value.items[i], out);
      }
      out->push_back(']');
      return;
    case JsonValue::Kind::kObject:
      out->push_back('{');
      for (size_t i = 0; i < value.members.size(); ++i) {
        if (i) out->push_back(',');
        AppendJsonString(value.members[i].first, out);
        out->push_back(':');
        AppendJson(value.members[i].second, out);
      }
      out->push_back('}');
      return;
  }
}

}  // namespace edgelm
