#include "runtime/json_schema.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "runtime/grammar.h"

namespace edgelm {
namespace {

using Syntax = SchemaGrammarOptions::Syntax;

constexpr std::string_view kGemmaQuote = "<|\"|>";

// Keywords with no effect on the grammar (see json_schema.h).
const std::set<std::string_view> kIgnoredKeywords = {
    "description", "title",    "default",  "examples",         "format",          "deprecated", "readOnly",
    "writeOnly",   "$schema",  "$id",      "$comment",         "minimum",         "maximum",    "exclusiveMinimum",
    "exclusiveMaximum", "$defs", "definitions"};
const std::set<std::string_view> kHandledKeywords = {
    "type",     "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum",
    "const",    "anyOf",      "oneOf",    "allOf",                "$ref",  "minLength", "maxLength"};

// `text` as a grammar literal: quotes, backslashes and control characters escaped.
std::string Literal(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out = "\"";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back('"');
  return out;
}

bool IsRuleName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

// Bare keys of the Gemma syntax cannot hold its punctuation, the string delimiter's characters or spaces.
bool IsBareKey(std::string_view key) {
  if (key.empty()) return false;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F || std::string_view(":,{}[]\"<>|").find(ch) != std::string_view::npos) return false;
  }
  return true;
}

std::string PointerToken(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out.push_back(c);
  }
  return out;
}

class SchemaConverter {
 public:
  SchemaConverter(const JsonValue& root, Syntax syntax, std::string_view rule_name)
      : root_(root), syntax_(syntax), prefix_(rule_name) {}

  Status Convert(std::string* grammar_text) {
    if (!IsRuleName(prefix_)) return InvalidArgument("rule name '" + prefix_ + "' is not [A-Za-z0-9_-]+");
    std::string value;
    EDGELM_RETURN_IF_ERROR(Expression(root_, "", &value));
    AddRule(prefix_, value);
    // Definitions reached through $ref, each converted once; they may reach further ones.
    for (size_t k = 0; k < pending_refs_.size(); ++k) {
      const auto [schema, path, rule] = pending_refs_[k];
      std::string body;
      EDGELM_RETURN_IF_ERROR(Expression(*schema, path, &body));
      AddRule(rule, body);
    }
    for (const std::string& primitive : used_primitives_) AddPrimitive(primitive);
    *grammar_text += rules_;
    return Status::Ok();
  }

 private:
  static Status Unsupported(const std::string& path, const std::string& what) {
    return edgelm::Unsupported("JSON schema at '" + (path.empty() ? std::string("#") : "#" + path) + "': " + what);
  }
  static Status Invalid(const std::string& path, const std::string& what) {
    return InvalidArgument("JSON schema at '" + (path.empty() ? std::string("#") : "#" + path) + "': " + what);
  }

  void AddRule(const std::string& name, const std::string& body) { rules_ += name + " ::= " + body + "\n"; }
  std::string NewRuleName(const std::string& what) { return prefix_ + "-" + what + std::to_string(++rule_count_); }
  // A shared rule (value, string, number, ...) of this prefix, defined once at the end with the rules it uses.
  std::string Primitive(const std::string& name) {
    static const std::map<std::string, std::vector<std::string>> kUses = {
        {"value", {"object", "array", "string", "number", "boolean", "null"}},
        {"object", {"value", "string", "key"}},
        {"array", {"value"}},
        {"string", {"char"}},
        {"number", {"digits"}},
        {"integer", {"digits"}},
    };
    if (used_primitives_.insert(name).second) {
      const auto uses = kUses.find(name);
      if (uses != kUses.end())
        for (const std::string& used : uses->second) Primitive(used);
    }
    return prefix_ + "-" + name;
  }
  std::string Separator() const { return syntax_ == Syntax::kJson ? "\",\" \" \"?" : "\",\""; }
  std::string Colon() const { return syntax_ == Syntax::kJson ? "\":\" \" \"?" : "\":\""; }

  void AddPrimitive(const std::string& name) {
    const std::string p = prefix_ + "-";
    if (name == "value") {
      AddRule(p + "value", p + "object | " + p + "array | " + p + "string | " + p + "number | " + p + "boolean | " + p + "null");
    } else if (name == "object") {
      const std::string key = syntax_ == Syntax::kJson ? p + "string" : p + "key";
      AddRule(p + "object", "\"{\" ( " + key + " " + Colon() + " " + p + "value ( " + Separator() + " " + key + " " +
                                Colon() + " " + p + "value )* )? \"}\"");
    } else if (name == "key") {
      // Bare keys of the Gemma syntax (see IsBareKey); unused in JSON, whose keys are strings.
      if (syntax_ == Syntax::kGemmaToolArguments) AddRule(p + "key", "[^:,{}\\[\\]\"<>|\\x00-\\x20\\x7F]+");
    } else if (name == "array") {
      AddRule(p + "array", "\"[\" ( " + p + "value ( " + Separator() + " " + p + "value )* )? \"]\"");
    } else if (name == "string") {
      if (syntax_ == Syntax::kJson) {
        AddRule(p + "string", "\"\\\"\" " + p + "char* \"\\\"\"");
      } else {
        // The text between the delimiters never contains the delimiter <|"|>: states of a matcher for it,
        // text-k meaning "the last k characters are its first k".
        AddRule(p + "string", "@\"<|\\\"|>\" " + p + "text0 @\"<|\\\"|>\"");
        AddRule(p + "text0", "[^<] " + p + "text0 | \"<\" " + p + "text1 | \"\"");
        AddRule(p + "text1", "[^<|] " + p + "text0 | \"<\" " + p + "text1 | \"|\" " + p + "text2 | \"\"");
        AddRule(p + "text2", "[^<\"] " + p + "text0 | \"<\" " + p + "text1 | \"\\\"\" " + p + "text3 | \"\"");
        AddRule(p + "text3", "[^<|] " + p + "text0 | \"<\" " + p + "text1 | \"|\" " + p + "text4 | \"\"");
        AddRule(p + "text4", "[^<>] " + p + "text0 | \"<\" " + p + "text1 | \"\"");
      }
    } else if (name == "char") {
      if (syntax_ != Syntax::kJson) return;
      AddRule(p + "char", "[^\"\\\\\\x00-\\x1F] | \"\\\\\" [\"\\\\/bfnrt] | \"\\\\u\" ( [0-9a-cA-Ce-fE-F] " + p +
                              "hex{3} | [dD] [0-7] " + p + "hex{2} | [dD] [89abAB] " + p + "hex{2} \"\\\\u\" [dD] [c-fC-F] " +
                              p + "hex{2} )");
      AddRule(p + "hex", "[0-9a-fA-F]");
    } else if (name == "number") {
      AddRule(p + "number", "\"-\"? " + p + "digits ( \".\" [0-9]{1,20} )? ( [eE] [-+]? [0-9]{1,3} )?");
    } else if (name == "integer") {
      AddRule(p + "integer", "\"-\"? " + p + "digits");
    } else if (name == "digits") {
      AddRule(p + "digits", "\"0\" | [1-9] [0-9]{0,19}");
    } else if (name == "boolean") {
      AddRule(p + "boolean", "\"true\" | \"false\"");
    } else if (name == "null") {
      AddRule(p + "null", "\"null\"");
    }
  }

  // *out = one grammar item (a rule name or a parenthesized expression) matching `schema`.
  Status Expression(const JsonValue& schema, const std::string& path, std::string* out) {
    if (schema.is_bool()) {
      if (!schema.boolean) return Unsupported(path, "the schema false matches nothing");
      *out = Primitive("value");
      return Status::Ok();
    }
    if (!schema.is_object()) return Invalid(path, "a schema must be an object or a boolean");
    int constraints = 0;
    for (const auto& [key, value] : schema.members) {
      if (kIgnoredKeywords.count(key)) continue;
      if (!kHandledKeywords.count(key)) return Unsupported(path, "keyword '" + key + "' is not supported");
      ++constraints;
    }
    // Keywords that fully determine the value. Values of const and enum are taken as listed (keywords beside
    // them, e.g. "type", are redundant); the others are not combined with further constraints.
    for (const char* whole : {"const", "enum", "$ref", "anyOf", "oneOf", "allOf"}) {
      const JsonValue* value = schema.Find(whole);
      if (value == nullptr) continue;
      const bool listed = std::string_view(whole) == "const" || std::string_view(whole) == "enum";
      if (!listed && constraints > 1)
        return Unsupported(path, std::string("'") + whole + "' combined with other constraining keywords");
      const std::string at = path + "/" + whole;
      if (std::string_view(whole) == "$ref") {
        if (!value->is_string()) return Invalid(at, "must be a string");
        return Ref(value->text, at, out);
      }
      if (std::string_view(whole) == "const") return ConstLiteral(*value, at, out);
      if (!value->is_array() || value->items.empty()) return Invalid(at, "must be a non-empty array");
      if (std::string_view(whole) == "allOf") {
        if (value->items.size() != 1) return Unsupported(at, "allOf with more than one schema");
        return Expression(value->items[0], at + "/0", out);
      }
      std::vector<std::string> alternatives;
      for (size_t i = 0; i < value->items.size(); ++i) {
        std::string item;
        const std::string item_path = at + "/" + std::to_string(i);
        EDGELM_RETURN_IF_ERROR(std::string_view(whole) == "enum" ? ConstLiteral(value->items[i], item_path, &item)
                                                                 : Expression(value->items[i], item_path, &item));
        alternatives.push_back(std::move(item));
      }
      *out = Alternatives(alternatives);
      return Status::Ok();
    }
    std::vector<std::string> types;
    if (const JsonValue* type = schema.Find("type")) {
      if (type->is_string()) {
        types.push_back(type->text);
      } else if (type->is_array() && !type->items.empty()) {
        for (const JsonValue& t : type->items) {
          if (!t.is_string()) return Invalid(path + "/type", "type names must be strings");
          types.push_back(t.text);
        }
      } else {
        return Invalid(path + "/type", "must be a type name or a non-empty array of them");
      }
    } else if (schema.Find("properties") || schema.Find("required") || schema.Find("additionalProperties")) {
      types.push_back("object");
    } else if (schema.Find("items") || schema.Find("minItems") || schema.Find("maxItems")) {
      types.push_back("array");
    } else if (schema.Find("minLength") || schema.Find("maxLength")) {
      types.push_back("string");
    } else {
      *out = Primitive("value");
      return Status::Ok();
    }
    std::vector<std::string> alternatives;
    for (const std::string& type : types) {
      std::string item;
      EDGELM_RETURN_IF_ERROR(TypeExpression(schema, type, path, &item));
      alternatives.push_back(std::move(item));
    }
    *out = Alternatives(alternatives);
    return Status::Ok();
  }

  static std::string Alternatives(const std::vector<std::string>& items) {
    if (items.size() == 1) return items[0];
    std::string out = "(";
    for (size_t i = 0; i < items.size(); ++i) out += (i ? " | " : " ") + items[i];
    return out + " )";
  }

  Status TypeExpression(const JsonValue& schema, const std::string& type, const std::string& path, std::string* out) {
    if (type == "string") return StringExpression(schema, path, out);
    if (type == "object") return ObjectExpression(schema, path, out);
    if (type == "array") return ArrayExpression(schema, path, out);
    if (type == "number" || type == "integer" || type == "boolean" || type == "null") {
      *out = Primitive(type);
      return Status::Ok();
    }
    return Invalid(path + "/type", "unknown type '" + type + "'");
  }

  // Reads a count keyword: absent -> *count unchanged; a non-negative integer up to the grammar's
  // repetition limit, else an error.
  static Status Count(const JsonValue& schema, const char* keyword, const std::string& path, int* count) {
    const JsonValue* value = schema.Find(keyword);
    if (value == nullptr) return Status::Ok();
    const std::string at = path + "/" + keyword;
    if (!value->is_number() || value->text.find_first_of(".eE-") != std::string::npos)
      return Invalid(at, "must be a non-negative integer");
    if (value->text.size() > 9 || value->number() > kMaxGrammarRepetition)
      return Unsupported(at, "counts above " + std::to_string(kMaxGrammarRepetition) + " are not supported");
    *count = static_cast<int>(value->number());
    return Status::Ok();
  }

  static std::string Repeat(const std::string& item, int min_count, int max_count) {
    if (max_count < 0) return min_count == 0 ? item + "*" : item + "{" + std::to_string(min_count) + ",}";
    if (min_count == max_count) return item + "{" + std::to_string(min_count) + "}";
    return item + "{" + std::to_string(min_count) + "," + std::to_string(max_count) + "}";
  }

  Status StringExpression(const JsonValue& schema, const std::string& path, std::string* out) {
    int min_length = 0, max_length = -1;
    EDGELM_RETURN_IF_ERROR(Count(schema, "minLength", path, &min_length));
    EDGELM_RETURN_IF_ERROR(Count(schema, "maxLength", path, &max_length));
    if (min_length == 0 && max_length < 0) {
      *out = Primitive("string");
      return Status::Ok();
    }
    if (max_length >= 0 && max_length < min_length) return Invalid(path, "maxLength is below minLength");
    if (syntax_ == Syntax::kGemmaToolArguments) {
      // Counting characters while excluding the delimiter text is awkward; a bounded string simply has
      // no '<', so it can never spell <|"|>.
      *out = "( @\"<|\\\"|>\" " + Repeat("[^<]", min_length, max_length) + " @\"<|\\\"|>\" )";
      return Status::Ok();
    }
    Primitive("string");
    *out = "( \"\\\"\" " + Repeat(prefix_ + "-char", min_length, max_length) + " \"\\\"\" )";
    return Status::Ok();
  }

  Status ObjectExpression(const JsonValue& schema, const std::string& path, std::string* out) {
    const JsonValue* properties = schema.Find("properties");
    const JsonValue* required = schema.Find("required");
    const JsonValue* additional = schema.Find("additionalProperties");
    if (properties != nullptr && !properties->is_object()) return Invalid(path + "/properties", "must be an object");
    std::set<std::string> required_names;
    if (required != nullptr) {
      if (!required->is_array()) return Invalid(path + "/required", "must be an array of names");
      for (const JsonValue& name : required->items) {
        if (!name.is_string()) return Invalid(path + "/required", "must be an array of names");
        if (properties == nullptr || properties->Find(name.text) == nullptr)
          return Unsupported(path + "/required", "required property '" + name.text + "' is not in properties");
        required_names.insert(name.text);
      }
    }
    if (properties == nullptr || properties->members.empty()) {
      if (additional != nullptr && additional->is_bool() && !additional->boolean) {
        *out = "( \"{\" \"}\" )";
      } else if (additional != nullptr && additional->is_object()) {
        std::string value;
        EDGELM_RETURN_IF_ERROR(Expression(*additional, path + "/additionalProperties", &value));
        const std::string key = Primitive(syntax_ == Syntax::kJson ? "string" : "key");
        const std::string member = key + " " + Colon() + " " + value;
        *out = "( \"{\" ( " + member + " ( " + Separator() + " " + member + " )* )? \"}\" )";
      } else {
        *out = Primitive("object");
      }
      return Status::Ok();
    }
    struct Member {
      std::string name;
      std::string expression;  // key, colon and value
      bool required;
    };
    std::vector<Member> members;
    for (const auto& [name, property] : properties->members) {
      const std::string at = path + "/properties/" + PointerToken(name);
      std::string value;
      EDGELM_RETURN_IF_ERROR(Expression(property, at, &value));
      std::string key;
      if (syntax_ == Syntax::kJson) {
        std::string quoted;
        AppendJsonString(name, &quoted);
        key = Literal(quoted);
      } else {
        if (!IsBareKey(name)) return Unsupported(at, "the name cannot be a bare key of the Gemma syntax");
        key = Literal(name);
      }
      const std::string& member_name = name;  // a structured binding cannot be captured in C++17
      if (std::any_of(members.begin(), members.end(), [&](const Member& m) { return m.name == member_name; }))
        return Invalid(at, "property defined twice");
      members.push_back({name, key + " " + Colon() + " " + value, required_names.count(name) > 0});
    }
    if (syntax_ == Syntax::kGemmaToolArguments)
      std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) { return a.name < b.name; });
    // first-i: members i.. with none written yet; rest-i: members i.. after one was written (so each
    // starts with a separator). Optional members may be skipped in both.
    const std::string object_rule = NewRuleName("object");
    std::string next_first = "\"\"", next_rest = "\"\"";
    for (size_t i = members.size(); i-- > 0;) {
      const std::string first = object_rule + "-first" + std::to_string(i);
      const std::string rest = object_rule + "-rest" + std::to_string(i);
      const Member& m = members[i];
      AddRule(rest, Separator() + " " + m.expression + " " + next_rest + (m.required ? "" : " | " + next_rest));
      AddRule(first, m.expression + " " + next_rest + (m.required ? "" : " | " + next_first));
      next_first = first;
      next_rest = rest;
    }
    *out = "( \"{\" " + next_first + " \"}\" )";
    return Status::Ok();
  }

  Status ArrayExpression(const JsonValue& schema, const std::string& path, std::string* out) {
    int min_items = 0, max_items = -1;
    EDGELM_RETURN_IF_ERROR(Count(schema, "minItems", path, &min_items));
    EDGELM_RETURN_IF_ERROR(Count(schema, "maxItems", path, &max_items));
    if (max_items >= 0 && max_items < min_items) return Invalid(path, "maxItems is below minItems");
    if (max_items == 0) {
      *out = "( \"[\" \"]\" )";
      return Status::Ok();
    }
    std::string item;
    if (const JsonValue* items = schema.Find("items")) {
      EDGELM_RETURN_IF_ERROR(Expression(*items, path + "/items", &item));
    } else {
      item = Primitive("value");
    }
    const std::string more = Repeat("( " + Separator() + " " + item + " )", std::max(min_items - 1, 0),
                                    max_items < 0 ? -1 : max_items - 1);
    *out = min_items == 0 ? "( \"[\" ( " + item + " " + more + " )? \"]\" )" : "( \"[\" " + item + " " + more + " \"]\" )";
    return Status::Ok();
  }

  Status ConstLiteral(const JsonValue& value, const std::string& path, std::string* out) {
    if (syntax_ == Syntax::kJson) {
      std::string json;
      AppendJson(value, &json);
      *out = Literal(json);
      return Status::Ok();
    }
    *out = "(";
    EDGELM_RETURN_IF_ERROR(AppendGemmaLiteral(value, path, out));
    *out += " )";
    return Status::Ok();
  }

  // Appends ` item item ...` spelling `value` in the Gemma syntax.
  Status AppendGemmaLiteral(const JsonValue& value, const std::string& path, std::string* out) {
    switch (value.kind) {
      case JsonValue::Kind::kNull: *out += " \"null\""; break;
      case JsonValue::Kind::kBool: *out += value.boolean ? " \"true\"" : " \"false\""; break;
      case JsonValue::Kind::kNumber: *out += " " + Literal(value.text); break;
      case JsonValue::Kind::kString:
        if (value.text.find(kGemmaQuote) != std::string::npos)
          return Unsupported(path, "a string holding the Gemma string delimiter <|\"|>");
        *out += " @\"<|\\\"|>\"";
        if (!value.text.empty()) *out += " " + Literal(value.text);
        *out += " @\"<|\\\"|>\"";
        break;
      case JsonValue::Kind::kArray:
        *out += " \"[\"";
        for (size_t i = 0; i < value.items.size(); ++i) {
          if (i) *out += " \",\"";
          EDGELM_RETURN_IF_ERROR(AppendGemmaLiteral(value.items[i], path + "/" + std::to_string(i), out));
        }
        *out += " \"]\"";
        break;
      case JsonValue::Kind::kObject: {
        std::vector<const std::pair<std::string, JsonValue>*> sorted;
        for (const auto& member : value.members) sorted.push_back(&member);
        std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
        *out += " \"{\"";
        for (size_t i = 0; i < sorted.size(); ++i) {
          const std::string at = path + "/" + PointerToken(sorted[i]->first);
          if (!IsBareKey(sorted[i]->first)) return Unsupported(at, "the name cannot be a bare key of the Gemma syntax");
          *out += " " + Literal((i ? "," : "") + sorted[i]->first + ":");
          EDGELM_RETURN_IF_ERROR(AppendGemmaLiteral(sorted[i]->second, at, out));
        }
        *out += " \"}\"";
        break;
      }
    }
    return Status::Ok();
  }

  // *out = the rule of the definition `ref` names, queued for conversion the first time.
  Status Ref(const std::string& ref, const std::string& path, std::string* out) {
    if (ref == "#") {
      *out = prefix_;
      return Status::Ok();
    }
    const auto known = ref_rules_.find(ref);
    if (known != ref_rules_.end()) {
      *out = known->second;
      return Status::Ok();
    }
    std::string container, encoded;
    for (const char* candidate : {"#/$defs/", "#/definitions/"}) {
      if (ref.compare(0, std::string_view(candidate).size(), candidate) == 0) {
        container = std::string(candidate).substr(2, std::string_view(candidate).size() - 3);
        encoded = ref.substr(std::string_view(candidate).size());
      }
    }
    if (container.empty() || encoded.find('/') != std::string::npos)
      return Unsupported(path, "only references to #, #/$defs/NAME and #/definitions/NAME are supported");
    std::string name;
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (encoded[i] == '~' && i + 1 < encoded.size() && (encoded[i + 1] == '0' || encoded[i + 1] == '1')) {
        name.push_back(encoded[++i] == '0' ? '~' : '/');
      } else {
        name.push_back(encoded[i]);
      }
    }
    const JsonValue* definitions = root_.Find(container);
    const JsonValue* definition = definitions != nullptr ? definitions->Find(name) : nullptr;
    if (definition == nullptr) return Invalid(path, "reference '" + ref + "' names no definition");
    const std::string rule = NewRuleName("ref");
    ref_rules_.emplace(ref, rule);
    pending_refs_.push_back({definition, "/" + container + "/" + encoded, rule});
    *out = rule;
    return Status::Ok();
  }

  struct PendingRef {
    const JsonValue* schema;
    std::string path;
    std::string rule;
  };

  const JsonValue& root_;
  const Syntax syntax_;
  const std::string prefix_;
  std::string rules_;
  int rule_count_ = 0;
  std::set<std::string> used_primitives_;
  std::map<std::string, std::string> ref_rules_;
  std::vector<PendingRef> pending_refs_;
};

}  // namespace

Status JsonSchemaToGrammar(const JsonValue& schema, const SchemaGrammarOptions& options, std::string_view rule_name,
                           std::string* grammar_text) {
  return SchemaConverter(schema, options.syntax, rule_name).Convert(grammar_text);
}

}  // namespace edgelm
