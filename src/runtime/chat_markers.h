// Gemma 4's chat markers (../shared/docs/gemma4_chat_format.md D.1). In Gemma 4's vocabulary each is one
// control token; a vocabulary without one (a small test model) spells it as plain text, and the
// template, the reply stream and the grammars then work on that text.
#pragma once

#include <string_view>

namespace edgelm::markers {

constexpr std::string_view kThink = "<|think|>";              // in the system turn: thinking on
constexpr std::string_view kChannelStart = "<|channel>";      // the model's thought: "<|channel>thought\n..."
constexpr std::string_view kChannelEnd = "<channel|>";
constexpr std::string_view kThoughtChannel = "thought";       // the channel name after kChannelStart
constexpr std::string_view kToolStart = "<|tool>";            // a tool declaration (system turn)
constexpr std::string_view kToolEnd = "<tool|>";
constexpr std::string_view kToolCallStart = "<|tool_call>";   // "call:NAME{ARGS}"
constexpr std::string_view kToolCallEnd = "<tool_call|>";
constexpr std::string_view kToolResponseStart = "<|tool_response>";  // the model stops here for a result
constexpr std::string_view kToolResponseEnd = "<tool_response|>";
constexpr std::string_view kStringDelimiter = "<|\"|>";       // wraps every string in tool syntax

}  // namespace edgelm::markers
