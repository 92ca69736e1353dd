// The Gemma 4 chat template (tokenizer chat_template "gemma4"), producing token ids directly:
//   <bos>[<|turn>system\n[<|think|>\n]{system}{tool declarations}<turn|>\n]{<|turn>{role}\n{content}<turn|>\n}...
//   [<|turn>model\n]
// Markers are emitted as ids (or as their text when the vocabulary lacks them: runtime/chat_markers.h),
// never parsed out of message text. The E2B/E4B generation prompt ends at "<|turn>model\n" (no empty
// thought block).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runtime/tokenizer.h"
#include "runtime/tool_calls.h"

namespace edgelm {

struct ChatMessage {
  // "system" (or "developer"), "user", "assistant" (or "model"); a Session also takes "tool" (a tool
  // result inside the model turn, not a turn of its own)
  std::string role;
  std::string content;  // UTF-8; surrounding whitespace is trimmed, as the reference template does
};

struct ChatTemplateOptions {
  // Let message content spell control tokens (e.g. "<|turn>") that become those tokens. Only for trusted
  // text: by default such strings are tokenized as plain characters, so a user cannot inject turns.
  bool parse_special_in_content = false;
};

// What a conversation's opening system turn carries besides a system message.
struct ConversationOptions {
  bool thinking = false;                         // the system turn starts with <|think|>
  std::vector<TemplatePiece> tool_declarations;  // RenderToolDeclarations: after the system text
};

class ChatTemplate {
 public:
  // `tokenizer` must outlive the template. kUnsupported if the tokenizer has another template or lacks bos
  // or the turn tokens.
  static Status Create(const Tokenizer& tokenizer, const ChatTemplateOptions& options,
                       std::unique_ptr<ChatTemplate>* out);

  // Replaces *ids with a whole conversation: BOS (once), the system turn (from a leading system message,
  // thinking and tools), one turn per remaining message, then the generation prompt if asked.
  // kInvalidArgument for an unknown role or content that is not valid UTF-8.
  Status Apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt, std::vector<int>* ids,
               const ConversationOptions& conversation = ConversationOptions()) const;

  // Incremental use: appends one complete turn "<|turn>{role}\n{content}<turn|>\n" to an existing
  // conversation (no BOS). Model turns drop earlier reasoning ("<|channel>...<channel|>"). On error *ids
  // is unchanged.
  Status AppendTurn(const ChatMessage& message, std::vector<int>* ids) const;

  // Appends "<|turn>model\n": the model's reply follows, ending with a stop token (<turn|> or eos).
  void AppendGenerationPrompt(std::vector<int>* ids) const;
  const std::vector<int>& GenerationPrompt() const { return generation_prompt_ids_; }
  // Appends template pieces: markers as their control tokens (their text where the vocabulary lacks
  // them), free text tokenized as plain text.
  Status AppendPieces(const std::vector<TemplatePiece>& pieces, std::vector<int>* ids) const;
  // The control token of a marker, or -1 when the vocabulary spells it as text.
  int MarkerToken(std::string_view marker) const;
  // What follows a model turn's <turn|> (the newline), and the whole close of a reply that was cut
  // before its <turn|>.
  const std::vector<int>& AfterTurnEnd() const { return newline_ids_; }
  void AppendTurnClose(std::vector<int>* ids) const;
  // True for the roles whose turn is the model's own ("assistant", "model").
  static bool IsModelRole(std::string_view role);

 private:
  ChatTemplate(const Tokenizer& tokenizer, const ChatTemplateOptions& options, std::vector<int> newline_ids,
               std::vector<int> generation_prompt_ids)
      : tokenizer_(tokenizer),
        options_(options),
        newline_ids_(std::move(newline_ids)),
        generation_prompt_ids_(std::move(generation_prompt_ids)) {}
  // "<|turn>{role}\n[<|think|>\n]{content}{extra}<turn|>\n"; role and content are one text chunk, as
  // when the reference template's rendered string is tokenized.
  Status AppendTurnTokens(std::string_view role, std::string_view content, bool think,
                          const std::vector<TemplatePiece>& extra, std::vector<int>* ids) const;
  Status AppendText(const std::string& text, std::vector<int>* ids) const;

  const Tokenizer& tokenizer_;
  ChatTemplateOptions options_;
  std::vector<int> newline_ids_;            // "\n" after <turn|>
  std::vector<int> generation_prompt_ids_;  // <|turn>model\n
};

}  // namespace edgelm
