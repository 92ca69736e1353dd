// Splits a streamed model reply into what the app sees apart: answer text, thought text
// ("<|channel>thought\n...<channel|>") and tool-call text ("<|tool_call>...<tool_call|>"), and notices
// the model asking for a tool result ("<|tool_response>", where it stops). Markers are control tokens in
// Gemma 4's vocabulary; one the vocabulary lacks is recognised in the text instead, held back while it
// could still be forming (runtime/chat_markers.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/text_scanner.h"
#include "runtime/tokenizer.h"

namespace edgelm {

enum class ReplyChannel { kAnswer, kThought, kToolCall };

struct ReplyText {
  ReplyChannel channel;
  std::string text;
};

class ReplyStream {
 public:
  // `start`: the channel the reply is in (a thought left open by an earlier call continues).
  // `tokenizer` must outlive the stream.
  ReplyStream(const Tokenizer& tokenizer, ReplyChannel start);

  // One generated token and the whole characters it completed (empty for control tokens). Appends the
  // text now known, by channel, to *out; markers themselves are not text.
  void Push(int token, std::string_view text, std::vector<ReplyText>* out);
  // The reply ended: appends what is still held back.
  void Flush(std::vector<ReplyText>* out);

  ReplyChannel channel() const { return channel_; }
  // The model wrote <|tool_response>: it waits for the app's tool result.
  bool wants_tool_response() const { return wants_tool_response_; }

  // The channel a reply is in after `text` (a model turn so far, control tokens printed as their
  // pieces): where a generation that resumes it starts.
  static ReplyChannel ChannelAfter(std::string_view text);

 private:
  struct Marker {
    std::string_view text;
    int token;  // its control token, or -1 when the vocabulary spells it as text
  };
  void Apply(size_t marker);
  void Emit(std::string text, std::vector<ReplyText>* out);

  std::vector<Marker> markers_;
  std::vector<size_t> text_markers_;  // indices into markers_ of those matched in text, by needle index
  TextScanner scanner_;
  ReplyChannel channel_;
  bool wants_tool_response_ = false;
  // A thought starts with its channel name ("thought\n"), which is not thought text.
  bool thought_header_pending_ = false;
  std::string thought_header_;
};

}  // namespace edgelm
