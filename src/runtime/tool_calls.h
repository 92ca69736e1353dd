// Gemma 4 tool calling, the format layer (../shared/docs/gemma4_chat_format.md D.3-D.4): tool
// declarations rendered into the system turn, the model's tool calls parsed out of its reply, and tool
// results rendered back into the model turn. No session state lives here.
//
// Gemma's argument syntax is JSON-like: bare keys, strings wrapped in the <|"|> marker, numbers raw,
// true/false/null, {k:v,...} and [v,...], with no whitespace:
//   <|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3}<tool_call|>
//   <|tool_response>response:get_weather{temp:22,unit:<|"|>c<|"|>}<tool_response|>
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runtime/chat_markers.h"
#include "runtime/json.h"

namespace edgelm {

// A piece of template text: control markers (<|tool>, <|"|>, <|tool_call>, ...) are kept apart from
// free text so that the template can encode markers as control tokens and never parse markers out of
// app- or model-provided text (no injection). Consecutive free text is always one piece (it tokenizes
// as a whole), and no piece is empty.
struct TemplatePiece {
  std::string text;
  bool marker = false;
};

// Tool and property names. A tool name is 1..kMaxToolNameBytes of [A-Za-z0-9_.-] (OpenAI's rule plus
// '.'), so that "call:NAME{" is unambiguous. A property name (a bare key in Gemma's syntax) is any
// non-empty UTF-8 text without whitespace, control characters or the syntax characters  " , : < [ ] { }
// so that the model can write it back as a bare key.
constexpr size_t kMaxToolNameBytes = 64;
bool IsValidToolName(std::string_view name);
bool IsValidBareKey(std::string_view key);

struct ToolDeclaration {
  std::string name;
  JsonValue function;  // {name, description, parameters, [response]} as given
};

// Parses a JSON array of tools, each either OpenAI-style ({"type":"function","function":{...}}) or a
// bare function object ({"name","description","parameters","response"}). Replaces *tools on success;
// on error leaves it unchanged. kInvalidArgument, naming the tool's index and the field, for: invalid
// JSON, a non-array document, a tool that is not an object or whose "type" is not "function", a
// missing or invalid name (IsValidToolName), a repeated name, a description that is not a string,
// parameters that are not an object schema (an object whose "type", if present, is "object"), and
// anywhere in a parameter schema: a property schema that is not an object, an invalid property name
// (IsValidBareKey), "properties"/"items" that are not objects, "required" that is not an array of
// strings, "enum" that is not an array, "type" that is neither a string nor an array of strings,
// "description" that is not a string, "nullable" that is not a boolean; a "response" that is not an
// object. Other schema keywords are accepted and not rendered (as in the Gemma template). A member
// whose value is JSON null counts as absent (the template's None), except the name.
Status ParseToolDeclarations(std::string_view tools_json, std::vector<ToolDeclaration>* tools);

// Appends "<|tool>declaration:NAME{description:<|"|>DESC<|"|>[,parameters:{...}][,response:{...}]}<tool|>"
// for every tool, as the Gemma 4 template renders it (format_function_declaration, format_parameters):
//   parameters: {[properties:{...},][required:[...],]type:<|"|>OBJECT<|"|>}, omitted when absent or {}
//   property:   key:{[description:..][,enum:[..]][,items:{..}][,nullable:true][,properties:{..}][,required:[..]],type:<|"|>UPPER<|"|>}
//   response:   {[description:<|"|>..<|"|>,]type:<|"|>UPPER<|"|>}
// Keys are sorted as Jinja's dictsort does (ASCII case-insensitive, stable). Empty descriptions,
// enums, required lists and items are left out, as the template does. Where the template's output is
// lossy or broken, this renders instead (each documented at its code): properties named "description",
// "type", "properties", "required" or "nullable" (the template drops them), enums of every type (the
// template keeps STRING enums only), an object property without "properties" (properties:{}), a type
// list such as ["string","null"] (its first non-null type plus nullable:true), a missing type (no
// type entry), nested "items" (rendered by the items rule again), and a parameters schema without
// "type" (type OBJECT).
void RenderToolDeclarations(const std::vector<ToolDeclaration>& tools, std::vector<TemplatePiece>* out);

// Appends `value` in Gemma's argument syntax (the template's format_argument with bare keys): strings
// <|"|>...<|"|>, numbers as written, true/false, null (where the Python template would print None),
// {k:v,...} with keys sorted as in RenderToolDeclarations, [v,...]. Keys are written as given.
void RenderGemmaValue(const JsonValue& value, std::vector<TemplatePiece>* out);

struct ToolCall {
  std::string name;
  std::string arguments_json;  // the arguments as a standard JSON object text ("{}" when empty)
  std::string raw;             // the call text as the model wrote it (between <|tool_call> and <tool_call|>)
  std::string error;           // empty when parsed; else why it is malformed (name/arguments then empty)
};

// Replaces *calls with every "<|tool_call>...<tool_call|>" in `model_text` (a model turn's decoded text
// with control tokens printed as their piece text), in order, each parsed as "call:NAME{ARGS}":
//   - NAME follows IsValidToolName; ARGS are Gemma arguments: bare (or <|"|>-quoted) keys, <|"|>
//     strings (any text up to the next <|"|>: quotes, braces, commas, newlines, backslashes, any UTF-8,
//     which become properly escaped JSON strings), JSON numbers (kept as written, so integers stay
//     exact), true/false/null, nested objects and arrays. ASCII whitespace between tokens is allowed.
//   - arguments_json keeps the model's key order; it parses with ParseJson (nesting is bounded by
//     kMaxJsonDepth, the call is malformed beyond it).
//   - Malformed (error set, raw kept): no "call:", an invalid name, invalid UTF-8, a repeated key, a
//     bare word or invalid number as a value, an unterminated string, unbalanced brackets, text after
//     the arguments, and a call that ends without <tool_call|> (the text ends, or another <|tool_call>
//     starts first).
//   - Calls inside a closed reasoning block "<|channel>...<channel|>" are the model's thoughts, not
//     calls, and are skipped. Other text around calls is ignored.
// A call's text cannot contain the marker texts <tool_call|> and <|"|> (they end the call and the
// string). Total on any input: no crash, no unbounded recursion.
void ParseToolCalls(std::string_view model_text, std::vector<ToolCall>* calls);

// Appends "response:NAME{...}<tool_response|>" (NOT the opening <|tool_response>, which the model
// itself generates as its stop token; the session adds it if missing). `result` is what the app gives:
// a JSON object -> its members as Gemma arguments (sorted bare keys, <|"|> strings, nested values);
// any other JSON value -> {value:VALUE} (e.g. value:22, value:<|"|>text<|"|>, value:[...]); text that is
// not JSON -> {value:<|"|>TEXT<|"|>}. `name` is written as given.
void RenderToolResponse(std::string_view name, std::string_view result, std::vector<TemplatePiece>* out);

}  // namespace edgelm
