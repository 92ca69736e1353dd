// JSON schema -> grammar text (runtime/grammar.h) for constrained decoding of JSON values and of Gemma 4
// tool-call arguments.
//
// Supported: `type` (a name or an array of names), `properties` + `required`, `items`, `minItems`,
// `maxItems`, `enum`, `const`, `anyOf`, `oneOf` (exclusivity not enforced), `allOf` with one schema,
// `$ref` to `#`, `#/$defs/NAME` or `#/definitions/NAME` (recursion allowed), string `minLength` /
// `maxLength`, boolean schemas (`true` = any value). Without `type`, it is inferred from the keywords
// (properties -> object, items -> array, min/maxLength -> string), else any value. `enum` and `const`
// values are generated as listed (keywords beside them are not checked against them); `$ref`, `anyOf`,
// `oneOf` and `allOf` beside other constraining keywords are kUnsupported.
// Ignored on purpose (annotations, or bounds the grammar cannot express cheaply): `description`, `title`,
// `default`, `examples`, `format`, `deprecated`, `readOnly`, `writeOnly`, `$schema`, `$id`, `$comment`,
// and numeric `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`: the generated value may lie
// outside such bounds.
// Objects: properties appear in declared order (kJson) or sorted by name (kGemmaToolArguments); required
// ones must appear, optional ones may be left out. Properties beyond `properties` are never generated,
// whatever `additionalProperties` says (the output stays valid: extra properties are only permitted).
// Without `properties`: any object, or with `additionalProperties` a schema, string keys -> that schema.
// Anything else (`pattern`, `not`, `prefixItems`, `uniqueItems`, `multipleOf`, ...) is kUnsupported
// naming the schema path.
//
// In the Gemma syntax a string with minLength/maxLength holds no '<' (so it never spells the delimiter).
// Output shape, so a model cannot run on forever: at most one space after ':' and ',' (kJson; none in
// Gemma syntax), no other whitespace; numbers with at most 20 integer digits, 20 fraction digits and 3
// exponent digits. JSON strings: raw characters except '"', '\' and controls, the JSON escapes, and \u
// escapes only as Unicode scalar values (surrogates in pairs).
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "runtime/json.h"

namespace edgelm {

struct SchemaGrammarOptions {
  // kJson: JSON text. kGemmaToolArguments: Gemma 4's tool-call argument syntax: {key:value,...} with bare
  // keys in sorted order, strings between the special literal <|"|> (its control token when the vocabulary
  // has it) and free of that text, numbers and true/false/null raw, arrays [a,b], no whitespace.
  enum class Syntax { kJson, kGemmaToolArguments } syntax = Syntax::kJson;
};

// Appends rules to *grammar_text that match values of `schema`; the value rule is named `rule_name`
// (must match [A-Za-z0-9_-]+), every other rule `rule_name-...`, so several schemas can share one grammar
// text. kInvalidArgument for malformed schemas and kUnsupported for what the grammar cannot express, both
// naming the schema path (JSON pointer). *grammar_text is unchanged on error.
Status JsonSchemaToGrammar(const JsonValue& schema, const SchemaGrammarOptions& options, std::string_view rule_name,
                           std::string* grammar_text);

}  // namespace edgelm
