#include "runtime/tool_calls.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "runtime/tokenizer.h"

namespace edgelm {
namespace {

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The bytes that end a bare key or a bare word in Gemma's argument syntax.
bool IsBareDelimiter(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u == 0x7F || c == ' ') return true;
  switch (c) {
    case '"': case ',': case ':': case '<': case '[': case ']': case '{': case '}': return true;
    default: return false;
  }
}

bool IsToolNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

std::string UpperAscii(std::string_view text) {
  std::string upper(text);
  for (char& c : upper)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return upper;
}

// Jinja's dictsort (case_sensitive=False): keys compared lower-cased (ASCII here), ties kept in order.
bool DictsortLess(std::string_view a, std::string_view b) {
  auto fold = [](char c) { return static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); };
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [&](char x, char y) { return fold(x) < fold(y); });
}

using Member = std::pair<std::string, JsonValue>;

// An object's members in dictsort order. A repeated key keeps its last value, as a Python dict (the
// template's input) and JsonValue::Find do.
std::vector<const Member*> SortedMembers(const JsonValue& object) {
  std::vector<const Member*> members;
  std::unordered_set<std::string_view> seen;
  for (auto it = object.members.rbegin(); it != object.members.rend(); ++it)
    if (seen.insert(it->first).second) members.push_back(&*it);
  std::reverse(members.begin(), members.end());
  std::stable_sort(members.begin(), members.end(),
                   [](const Member* a, const Member* b) { return DictsortLess(a->first, b->first); });
  return members;
}

// A member of an object; null counts as absent (falsy in the template, None from Python SDKs).
const JsonValue* Field(const JsonValue& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const JsonValue* value = object.Find(key);
  return value && !value->is_null() ? value : nullptr;
}

// The template's truthiness of a string, array or object member: present and not empty.
const JsonValue* NonEmptyField(const JsonValue& object, std::string_view key) {
  const JsonValue* value = Field(object, key);
  if (!value) return nullptr;
  if (value->is_string() && value->text.empty()) return nullptr;
  if (value->is_array() && value->items.empty()) return nullptr;
  if (value->is_object() && value->members.empty()) return nullptr;
  return value;
}

// Appends to a piece list, merging free text into one piece.
class PieceWriter {
 public:
  explicit PieceWriter(std::vector<TemplatePiece>* out) : out_(out) {}

  void Text(std::string_view text) {
    if (text.empty()) return;
    if (out_->empty() || out_->back().marker) out_->push_back(TemplatePiece{std::string(), false});
    out_->back().text.append(text);
  }
  void Marker(std::string_view marker) { out_->push_back(TemplatePiece{std::string(marker), true}); }
  void String(std::string_view text) {
    Marker(markers::kStringDelimiter);
    Text(text);
    Marker(markers::kStringDelimiter);
  }

 private:
  std::vector<TemplatePiece>* out_;
};

// Writes "name:" entries separated by commas, the first without one.
class FieldList {
 public:
  explicit FieldList(PieceWriter* writer) : writer_(writer) {}
  void Next(std::string_view name) {
    if (!first_) writer_->Text(",");
    first_ = false;
    writer_->Text(name);
    writer_->Text(":");
  }

 private:
  PieceWriter* writer_;
  bool first_ = true;
};

// The template's format_argument: kQuoted keys are its default (escape_keys=True, used for schema
// values such as enums), kBare keys its argument syntax (calls and responses).
enum class KeyStyle { kBare, kQuoted };

void WriteValue(const JsonValue& value, KeyStyle keys, PieceWriter* writer) {
  switch (value.kind) {
    case JsonValue::Kind::kNull: writer->Text("null"); return;
    case JsonValue::Kind::kBool: writer->Text(value.boolean ? "true" : "false"); return;
    case JsonValue::Kind::kNumber: writer->Text(value.text); return;
    case JsonValue::Kind::kString: writer->String(value.text); return;
    case JsonValue::Kind::kArray:
      writer->Text("[");
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i) writer->Text(",");
        WriteValue(value.items[i], keys, writer);
      }
      writer->Text("]");
      return;
    case JsonValue::Kind::kObject: {
      writer->Text("{");
      bool first = true;
      for (const Member* member : SortedMembers(value)) {
        if (!first) writer->Text(",");
        first = false;
        if (keys == KeyStyle::kQuoted) {
          writer->String(member->first);
        } else {
          writer->Text(member->first);
        }
        writer->Text(":");
        WriteValue(member->second, keys, writer);
      }
      writer->Text("}");
      return;
    }
  }
}

// The type a schema declares, upper-cased. A type list such as ["string","null"] (which the template
// would print as a Python list) becomes its first non-null type, the "null" making it nullable.
struct SchemaType {
  std::string upper;  // empty when the schema declares no type
  bool lists_null = false;
};

SchemaType ReadSchemaType(const JsonValue& schema) {
  SchemaType type;
  const JsonValue* declared = Field(schema, "type");
  if (!declared) return type;
  if (declared->is_string()) {
    type.upper = UpperAscii(declared->text);
    return type;
  }
  for (const JsonValue& item : declared->items) {
    if (!item.is_string()) continue;
    if (item.text == "null") {
      type.lists_null = true;
    } else if (type.upper.empty()) {
      type.upper = UpperAscii(item.text);
    }
  }
  return type;
}

void WriteItems(const JsonValue& items, PieceWriter* writer);

// The template's format_parameters: "key:{...}" for every property, in dictsort order. Unlike the
// template, properties named like schema keywords ("description", "type", ...) are kept: dropping them
// would hide real parameters from the model.
void WriteProperties(const JsonValue& properties, PieceWriter* writer) {
  bool first = true;
  for (const Member* property : SortedMembers(properties)) {
    const JsonValue& schema = property->second;
    if (!schema.is_object()) continue;
    if (!first) writer->Text(",");
    first = false;
    writer->Text(property->first);
    writer->Text(":{");
    FieldList fields(writer);
    if (const JsonValue* description = NonEmptyField(schema, "description"); description && description->is_string()) {
      fields.Next("description");
      writer->String(description->text);
    }
    const SchemaType type = ReadSchemaType(schema);
    // The template keeps STRING enums only; an integer enum is as much a constraint the model must see.
    if (const JsonValue* enumeration = NonEmptyField(schema, "enum"); enumeration && enumeration->is_array()) {
      fields.Next("enum");
      WriteValue(*enumeration, KeyStyle::kQuoted, writer);
    }
    if (type.upper == "ARRAY") {
      if (const JsonValue* items = NonEmptyField(schema, "items"); items && items->is_object()) {
        fields.Next("items");
        WriteItems(*items, writer);
      }
    }
    const JsonValue* nullable = Field(schema, "nullable");
    if ((nullable && nullable->is_bool() && nullable->boolean) || type.lists_null) {
      fields.Next("nullable");
      writer->Text("true");
    }
    if (type.upper == "OBJECT") {
      // Always "properties:{...}", empty without "properties": the template would list the schema's own
      // keywords (e.g. additionalProperties) as if they were properties.
      fields.Next("properties");
      writer->Text("{");
      if (const JsonValue* nested = Field(schema, "properties"); nested && nested->is_object())
        WriteProperties(*nested, writer);
      writer->Text("}");
      if (const JsonValue* required = NonEmptyField(schema, "required"); required && required->is_array()) {
        fields.Next("required");
        WriteValue(*required, KeyStyle::kQuoted, writer);
      }
    }
    // Without a declared type the template prints an empty one (type:<|"|><|"|>); nothing says more.
    if (!type.upper.empty()) {
      fields.Next("type");
      writer->String(type.upper);
    }
    writer->Text("}");
  }
}

// The template's "items:{...}" block: every non-null keyword of the item schema in dictsort order,
// "properties" as format_parameters, "type" upper-cased, the rest as values with quoted keys. A nested
// "items" (an array of arrays) is this block again, where the template would print it as a raw value
// with quoted keys and a lower-case type.
void WriteItems(const JsonValue& items, PieceWriter* writer) {
  writer->Text("{");
  FieldList fields(writer);
  for (const Member* keyword : SortedMembers(items)) {
    const std::string& key = keyword->first;
    const JsonValue& value = keyword->second;
    if (value.is_null()) continue;
    fields.Next(key);
    if (key == "properties") {
      writer->Text("{");
      if (value.is_object()) WriteProperties(value, writer);
      writer->Text("}");
    } else if (key == "type" && value.is_string()) {
      writer->String(UpperAscii(value.text));
    } else if (key == "type" && value.is_array()) {
      JsonValue upper = value;
      for (JsonValue& item : upper.items) item.text = UpperAscii(item.text);
      WriteValue(upper, KeyStyle::kQuoted, writer);
    } else if (key == "items" && value.is_object()) {
      WriteItems(value, writer);
    } else {
      WriteValue(value, KeyStyle::kQuoted, writer);
    }
  }
  writer->Text("}");
}

// The template's format_function_declaration, between <|tool> and <tool|>.
void WriteDeclaration(const ToolDeclaration& tool, PieceWriter* writer) {
  const JsonValue& function = tool.function;
  writer->Text("declaration:");
  writer->Text(tool.name);
  writer->Text("{description:");
  const JsonValue* description = Field(function, "description");
  writer->String(description && description->is_string() ? std::string_view(description->text) : std::string_view());
  if (const JsonValue* parameters = NonEmptyField(function, "parameters"); parameters && parameters->is_object()) {
    writer->Text(",parameters:{");
    if (const JsonValue* properties = NonEmptyField(*parameters, "properties"); properties && properties->is_object()) {
      writer->Text("properties:{");
      WriteProperties(*properties, writer);
      writer->Text("},");
    }
    if (const JsonValue* required = NonEmptyField(*parameters, "required"); required && required->is_array()) {
      writer->Text("required:");
      WriteValue(*required, KeyStyle::kQuoted, writer);
      writer->Text(",");
    }
    // Parameters are an object schema even when "type" is left out (the template would leave the brace
    // open then).
    writer->Text("type:");
    writer->String("OBJECT");
    writer->Text("}");
  }
  if (const JsonValue* response = Field(function, "response"); response && response->is_object()) {
    // The template prints a description and an OBJECT type only (and an unclosed brace for other types);
    // any declared type is printed here.
    writer->Text(",response:{");
    FieldList fields(writer);
    if (const JsonValue* response_description = NonEmptyField(*response, "description");
        response_description && response_description->is_string()) {
      fields.Next("description");
      writer->String(response_description->text);
    }
    if (const SchemaType type = ReadSchemaType(*response); !type.upper.empty()) {
      fields.Next("type");
      writer->String(type.upper);
    }
    writer->Text("}");
  }
  writer->Text("}");
}

// --- Declaration checks -----------------------------------------------------------------------------

Status CheckStringList(const JsonValue& list, const std::string& where) {
  if (!list.is_array()) return InvalidArgument(where + " must be an array of strings");
  for (const JsonValue& item : list.items)
    if (!item.is_string()) return InvalidArgument(where + " must be an array of strings");
  return Status::Ok();
}

// A parameter schema at `where` (e.g. "tool 0 (f): parameters.properties.city").
Status CheckSchema(const JsonValue& schema, const std::string& where) {
  if (!schema.is_object()) return InvalidArgument(where + " must be an object schema");
  if (const JsonValue* description = Field(schema, "description"); description && !description->is_string())
    return InvalidArgument(where + ".description must be a string");
  if (const JsonValue* type = Field(schema, "type"); type && !type->is_string())
    EDGELM_RETURN_IF_ERROR(CheckStringList(*type, where + ".type"));
  if (const JsonValue* enumeration = Field(schema, "enum"); enumeration && !enumeration->is_array())
    return InvalidArgument(where + ".enum must be an array");
  if (const JsonValue* nullable = Field(schema, "nullable"); nullable && !nullable->is_bool())
    return InvalidArgument(where + ".nullable must be true or false");
  if (const JsonValue* required = Field(schema, "required"))
    EDGELM_RETURN_IF_ERROR(CheckStringList(*required, where + ".required"));
  if (const JsonValue* items = Field(schema, "items"))
    EDGELM_RETURN_IF_ERROR(CheckSchema(*items, where + ".items"));
  if (const JsonValue* properties = Field(schema, "properties")) {
    if (!properties->is_object()) return InvalidArgument(where + ".properties must be an object");
    for (const auto& [name, property] : properties->members) {
      std::string property_where = where + ".properties.";
      if (!IsValidBareKey(name)) {
        AppendJsonString(name, &property_where);
        return InvalidArgument(property_where +
                               " is not a valid property name (no whitespace, control or \",:<[]{} characters)");
      }
      EDGELM_RETURN_IF_ERROR(CheckSchema(property, property_where + name));
    }
  }
  return Status::Ok();
}

// One tool of the array; *function is set to its function object.
Status CheckTool(const JsonValue& tool, const std::string& where, const JsonValue** function) {
  if (!tool.is_object()) return InvalidArgument(where + " must be an object");
  *function = &tool;
  const JsonValue* type = Field(tool, "type");
  const JsonValue* wrapped = Field(tool, "function");
  if (type && !(type->is_string() && type->text == "function"))
    return InvalidArgument(where + ": type must be \"function\"");
  if (type || wrapped) {
    if (!wrapped || !wrapped->is_object()) return InvalidArgument(where + ": \"function\" must be an object");
    *function = wrapped;
  }
  const JsonValue* name = (*function)->Find("name");
  if (!name || !name->is_string()) return InvalidArgument(where + ": the name is missing or not a string");
  if (!IsValidToolName(name->text)) {
    std::string message = where + ": the name ";
    if (name->text.size() <= kMaxToolNameBytes) {
      AppendJsonString(name->text, &message);
    } else {
      message += "(" + std::to_string(name->text.size()) + " bytes)";
    }
    return InvalidArgument(message + " must be 1 to " + std::to_string(kMaxToolNameBytes) +
                           " characters of A-Z a-z 0-9 _ . -");
  }
  return Status::Ok();
}

Status CheckFunction(const JsonValue& function, const std::string& where) {
  if (const JsonValue* description = Field(function, "description"); description && !description->is_string())
    return InvalidArgument(where + ": description must be a string");
  if (const JsonValue* parameters = Field(function, "parameters")) {
    const JsonValue* type = Field(*parameters, "type");
    if (!parameters->is_object() || (type && !(type->is_string() && type->text == "object")))
      return InvalidArgument(where + ": parameters must be an object schema ({\"type\":\"object\",...})");
    EDGELM_RETURN_IF_ERROR(CheckSchema(*parameters, where + ": parameters"));
  }
  if (const JsonValue* response = Field(function, "response")) {
    if (!response->is_object()) return InvalidArgument(where + ": response must be an object");
    EDGELM_RETURN_IF_ERROR(CheckSchema(*response, where + ": response"));
  }
  return Status::Ok();
}

// --- Call parsing -----------------------------------------------------------------------------------

// Parses one call's text, "call:NAME{ARGS}", into JSON.
class CallParser {
 public:
  explicit CallParser(std::string_view text) : text_(text) {}

  Status Parse(std::string* name, JsonValue* arguments) {
    SkipSpace();
    if (!Consume("call:")) return Error("\"call:\" expected");
    const size_t name_start = pos_;
    while (pos_ < text_.size() && IsToolNameChar(text_[pos_])) ++pos_;
    const std::string_view parsed_name = text_.substr(name_start, pos_ - name_start);
    if (!IsValidToolName(parsed_name)) return Error("a tool name of 1 to " + std::to_string(kMaxToolNameBytes) + " characters of A-Z a-z 0-9 _ . - expected");
    if (!StartsWith("{")) return Error("'{' expected after the tool name");
    EDGELM_RETURN_IF_ERROR(ParseObject(arguments, 0));
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the arguments");
    name->assign(parsed_name);
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("malformed tool call at byte " + std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && IsAsciiSpace(text_[pos_])) ++pos_;
  }
  bool StartsWith(std::string_view word) const { return text_.substr(pos_, word.size()) == word; }
  bool Consume(std::string_view word) {
    if (!StartsWith(word)) return false;
    pos_ += word.size();
    return true;
  }
  // A run of bytes up to the next delimiter (a bare key or word).
  std::string_view BareRun() {
    const size_t start = pos_;
    while (pos_ < text_.size() && !IsBareDelimiter(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // Depth counts as in ParseJson, so that any arguments_json parsed here parses there too.
  Status ParseValue(JsonValue* out, int depth) {
    if (depth > kMaxJsonDepth) return Error("nesting deeper than " + std::to_string(kMaxJsonDepth));
    SkipSpace();
    if (pos_ == text_.size()) return Error("a value is missing");
    if (StartsWith(markers::kStringDelimiter)) {
      out->kind = JsonValue::Kind::kString;
      return ParseString(&out->text);
    }
    const char c = text_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(out);
    const std::string_view word = BareRun();
    if (word == "true" || word == "false") {
      out->kind = JsonValue::Kind::kBool;
      out->boolean = word == "true";
      return Status::Ok();
    }
    if (word == "null") {
      out->kind = JsonValue::Kind::kNull;
      return Status::Ok();
    }
    return Error("a value must be a <|\"|> string, a number, true, false, null, an object or an array");
  }

  Status ParseString(std::string* out) {
    pos_ += markers::kStringDelimiter.size();
    const size_t end = text_.find(markers::kStringDelimiter, pos_);
    if (end == std::string_view::npos) return Error("unterminated <|\"|> string");
    out->assign(text_.substr(pos_, end - pos_));
    pos_ = end + markers::kStringDelimiter.size();
    return Status::Ok();
  }

  // A JSON number, which must end at a delimiter ("42abc" is a bare word, not a number).
  Status ParseNumber(JsonValue* out) {
    std::string why;
    const size_t length = ScanJsonNumber(text_, pos_, &why);
    if (length == 0) return Error(why);
    if (pos_ + length < text_.size() && !IsBareDelimiter(text_[pos_ + length])) return Error("invalid number");
    out->kind = JsonValue::Kind::kNumber;
    out->text.assign(text_.substr(pos_, length));
    pos_ += length;
    return Status::Ok();
  }

  Status ParseObject(JsonValue* out, int depth) {
    out->kind = JsonValue::Kind::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (Consume("}")) return Status::Ok();
    for (;;) {
      SkipSpace();
      std::string key;
      if (StartsWith(markers::kStringDelimiter)) {
        EDGELM_RETURN_IF_ERROR(ParseString(&key));
      } else {
        key.assign(BareRun());
        if (key.empty()) return Error("a key expected");
      }
      SkipSpace();
      if (!Consume(":")) return Error("':' expected after a key");
      JsonValue value;
      EDGELM_RETURN_IF_ERROR(ParseValue(&value, depth + 1));
      out->members.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume("}")) break;
      if (!Consume(",")) return Error("',' or '}' expected in an object");
    }
    // Sorted once at the end, so that a long object costs n log n, not n squared.
    std::vector<std::string_view> keys;
    keys.reserve(out->members.size());
    for (const Member& member : out->members) keys.push_back(member.first);
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) return Error("a key is repeated in an object");
    return Status::Ok();
  }

  Status ParseArray(JsonValue* out, int depth) {
    out->kind = JsonValue::Kind::kArray;
    ++pos_;  // '['
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

  std::string_view text_;
  size_t pos_ = 0;
};

// The next occurrence of a marker at or after a position that only grows: each byte is searched once,
// however many calls the text holds.
class ForwardSearch {
 public:
  ForwardSearch(std::string_view text, std::string_view needle) : text_(text), needle_(needle) {}
  size_t From(size_t pos) {
    if (!searched_ || (found_ != std::string_view::npos && found_ < pos)) {
      found_ = text_.find(needle_, pos);
      searched_ = true;
    }
    return found_;
  }

 private:
  std::string_view text_;
  std::string_view needle_;
  size_t found_ = std::string_view::npos;
  bool searched_ = false;
};

ToolCall ParseOneCall(std::string_view raw) {
  ToolCall call;
  call.raw.assign(raw);
  if (!ValidateUtf8(raw).ok()) {
    call.error = "malformed tool call: not valid UTF-8";
    return call;
  }
  std::string name;
  JsonValue arguments;
  if (const Status status = CallParser(raw).Parse(&name, &arguments); !status.ok()) {
    call.error = status.message();
    return call;
  }
  call.name = std::move(name);
  AppendJson(arguments, &call.arguments_json);
  return call;
}

}  // namespace

bool IsValidToolName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxToolNameBytes && std::all_of(name.begin(), name.end(), IsToolNameChar);
}

bool IsValidBareKey(std::string_view key) {
  return !key.empty() && std::none_of(key.begin(), key.end(), IsBareDelimiter) && ValidateUtf8(key).ok();
}

Status ParseToolDeclarations(std::string_view tools_json, std::vector<ToolDeclaration>* tools) {
  JsonValue document;
  if (const Status status = ParseJson(tools_json, &document); !status.ok())
    return InvalidArgument("tools: " + status.message());
  if (!document.is_array()) return InvalidArgument("tools must be a JSON array");
  std::vector<ToolDeclaration> parsed;
  std::unordered_map<std::string_view, size_t> index_of_name;
  for (size_t i = 0; i < document.items.size(); ++i) {
    std::string where = "tool " + std::to_string(i);
    const JsonValue* function = nullptr;
    EDGELM_RETURN_IF_ERROR(CheckTool(document.items[i], where, &function));
    const std::string& name = function->Find("name")->text;
    where += " (" + name + ")";
    if (const auto [it, inserted] = index_of_name.emplace(name, i); !inserted)
      return InvalidArgument(where + ": the name repeats tool " + std::to_string(it->second));
    EDGELM_RETURN_IF_ERROR(CheckFunction(*function, where));
    parsed.push_back(ToolDeclaration{name, *function});
  }
  *tools = std::move(parsed);
  return Status::Ok();
}

void RenderToolDeclarations(const std::vector<ToolDeclaration>& tools, std::vector<TemplatePiece>* out) {
  PieceWriter writer(out);
  for (const ToolDeclaration& tool : tools) {
    writer.Marker(markers::kToolStart);
    WriteDeclaration(tool, &writer);
    writer.Marker(markers::kToolEnd);
  }
}

void RenderGemmaValue(const JsonValue& value, std::vector<TemplatePiece>* out) {
  PieceWriter writer(out);
  WriteValue(value, KeyStyle::kBare, &writer);
}

void ParseToolCalls(std::string_view model_text, std::vector<ToolCall>* calls) {
  calls->clear();
  ForwardSearch next_call(model_text, markers::kToolCallStart);
  ForwardSearch next_call_end(model_text, markers::kToolCallEnd);
  // Tool syntax inside a closed thought is the model thinking about a call, not making one.
  ForwardSearch next_channel(model_text, markers::kChannelStart);
  ForwardSearch next_channel_end(model_text, markers::kChannelEnd);
  size_t pos = 0;
  for (;;) {
    const size_t start = next_call.From(pos);
    if (start == std::string_view::npos) return;
    const size_t channel = next_channel.From(pos);
    if (channel < start) {
      // A closed reasoning block is skipped whole; an unclosed one is ignored (its end never comes, and
      // the calls after it must not be lost).
      const size_t channel_end = next_channel_end.From(channel + markers::kChannelStart.size());
      pos = channel_end == std::string_view::npos ? channel + markers::kChannelStart.size() : channel_end + markers::kChannelEnd.size();
      continue;
    }
    const size_t body = start + markers::kToolCallStart.size();
    const size_t end = next_call_end.From(body);
    const size_t next_start = next_call.From(body);
    if (end == std::string_view::npos || next_start < end) {
      const size_t stop = std::min(next_start, model_text.size());
      ToolCall call;
      call.raw.assign(model_text.substr(body, stop - body));
      call.error = "malformed tool call: it ends without <tool_call|>";
      calls->push_back(std::move(call));
      pos = stop;
      continue;
    }
    calls->push_back(ParseOneCall(model_text.substr(body, end - body)));
    pos = end + markers::kToolCallEnd.size();
  }
}

void RenderToolResponse(std::string_view name, std::string_view result, std::vector<TemplatePiece>* out) {
  PieceWriter writer(out);
  writer.Text("response:");
  writer.Text(name);
  JsonValue value;
  if (!ParseJson(result, &value).ok()) {
    value.kind = JsonValue::Kind::kString;
    value.text.assign(result);
  }
  if (!value.is_object()) {
    JsonValue wrapped;
    wrapped.kind = JsonValue::Kind::kObject;
    wrapped.members.emplace_back("value", std::move(value));
    value = std::move(wrapped);
  }
  WriteValue(value, KeyStyle::kBare, &writer);
  writer.Marker(markers::kToolResponseEnd);
}

}  // namespace edgelm
