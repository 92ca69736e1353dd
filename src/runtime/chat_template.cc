#include "runtime/chat_template.h"

#include "runtime/chat_markers.h"

namespace edgelm {
namespace {

constexpr std::string_view kTemplateName = "gemma4";

// Jinja's trim(): Python whitespace at both ends.
std::string_view Trim(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\n\r\f\v";
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kWhitespace) - first + 1);
}

// The name written after <|turn>, or empty for an unknown role.
std::string_view TurnRole(std::string_view role) {
  if (role == "system" || role == "developer") return "system";
  if (role == "user") return "user";
  if (role == "assistant" || role == "model") return "model";
  return {};
}

// Earlier reasoning is not fed back to the model: drop every complete <|channel>...<channel|> span.
std::string WithoutReasoning(std::string_view content) {
  std::string kept;
  for (size_t pos = 0;;) {
    const size_t start = content.find(markers::kChannelStart, pos);
    const size_t end = start == std::string_view::npos ? start : content.find(markers::kChannelEnd, start);
    if (end == std::string_view::npos) {
      kept.append(content.substr(pos));
      return kept;
    }
    kept.append(content.substr(pos, start - pos));
    pos = end + markers::kChannelEnd.size();
  }
}

}  // namespace

Status ChatTemplate::Create(const Tokenizer& tokenizer, const ChatTemplateOptions& options,
                            std::unique_ptr<ChatTemplate>* out) {
  if (!tokenizer.chat_template().empty() && tokenizer.chat_template() != kTemplateName)
    return Unsupported("chat template '" + tokenizer.chat_template() + "' is not supported (only gemma4)");
  if (tokenizer.bos_id() < 0 || tokenizer.turn_start_id() < 0 || tokenizer.turn_end_id() < 0)
    return Unsupported("the Gemma 4 chat template needs a tokenizer with bos and turn tokens (<|turn>, <turn|>)");
  std::vector<int> newline_ids, generation_prompt_ids;
  EDGELM_RETURN_IF_ERROR(tokenizer.Encode("\n", EncodeOptions(), &newline_ids));
  EDGELM_RETURN_IF_ERROR(tokenizer.Encode("model\n", EncodeOptions(), &generation_prompt_ids));
  generation_prompt_ids.insert(generation_prompt_ids.begin(), tokenizer.turn_start_id());
  out->reset(new ChatTemplate(tokenizer, options, std::move(newline_ids), std::move(generation_prompt_ids)));
  return Status::Ok();
}

Status ChatTemplate::Apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                           std::vector<int>* ids, const ConversationOptions& conversation) const {
  ids->assign(1, tokenizer_.bos_id());
  size_t next = 0;
  const bool system_first = !messages.empty() && TurnRole(messages[0].role) == "system";
  if (system_first || conversation.thinking || !conversation.tool_declarations.empty()) {
    const std::string_view system = system_first ? Trim(messages[0].content) : std::string_view();
    EDGELM_RETURN_IF_ERROR(
        AppendTurnTokens("system", system, conversation.thinking, conversation.tool_declarations, ids));
    next = system_first ? 1 : 0;
  }
  for (; next < messages.size(); ++next) EDGELM_RETURN_IF_ERROR(AppendTurn(messages[next], ids));
  if (add_generation_prompt) AppendGenerationPrompt(ids);
  return Status::Ok();
}

Status ChatTemplate::AppendTurn(const ChatMessage& message, std::vector<int>* ids) const {
  const std::string_view role = TurnRole(message.role);
  if (role.empty()) return InvalidArgument("unknown chat role '" + message.role + "'");
  if (role == "model") return AppendTurnTokens(role, Trim(WithoutReasoning(message.content)), false, {}, ids);
  return AppendTurnTokens(role, Trim(message.content), false, {}, ids);
}

void ChatTemplate::AppendGenerationPrompt(std::vector<int>* ids) const {
  ids->insert(ids->end(), generation_prompt_ids_.begin(), generation_prompt_ids_.end());
}

Status ChatTemplate::AppendTurnTokens(std::string_view role, std::string_view content, bool think,
                                      const std::vector<TemplatePiece>& extra, std::vector<int>* ids) const {
  // Built aside so that a failed turn leaves *ids untouched.
  std::vector<int> turn{tokenizer_.turn_start_id()};
  std::string text(role);
  text += '\n';
  if (think) {
    EDGELM_RETURN_IF_ERROR(AppendText(text, &turn));
    EDGELM_RETURN_IF_ERROR(AppendPieces({TemplatePiece{std::string(markers::kThink), true}}, &turn));
    text = "\n";
  }
  text += content;
  EDGELM_RETURN_IF_ERROR(AppendText(text, &turn));
  EDGELM_RETURN_IF_ERROR(AppendPieces(extra, &turn));
  turn.push_back(tokenizer_.turn_end_id());
  turn.insert(turn.end(), newline_ids_.begin(), newline_ids_.end());
  ids->insert(ids->end(), turn.begin(), turn.end());
  return Status::Ok();
}

Status ChatTemplate::AppendText(const std::string& text, std::vector<int>* ids) const {
  EncodeOptions encode;
  encode.parse_special = options_.parse_special_in_content;
  std::vector<int> text_ids;
  EDGELM_RETURN_IF_ERROR(tokenizer_.Encode(text, encode, &text_ids));
  ids->insert(ids->end(), text_ids.begin(), text_ids.end());
  return Status::Ok();
}

int ChatTemplate::MarkerToken(std::string_view marker) const {
  const int id = tokenizer_.PieceToId(marker);
  return tokenizer_.IsControl(id) ? id : -1;
}

Status ChatTemplate::AppendPieces(const std::vector<TemplatePiece>& pieces, std::vector<int>* ids) const {
  std::vector<int> piece_ids;
  for (const TemplatePiece& piece : pieces) {
    const int marker = piece.marker ? MarkerToken(piece.text) : -1;
    if (marker >= 0) {
      ids->push_back(marker);
      continue;
    }
    // Free text, or a marker spelled as text: never parsed for control tokens.
    EDGELM_RETURN_IF_ERROR(tokenizer_.Encode(piece.text, EncodeOptions(), &piece_ids));
    ids->insert(ids->end(), piece_ids.begin(), piece_ids.end());
  }
  return Status::Ok();
}

void ChatTemplate::AppendTurnClose(std::vector<int>* ids) const {
  ids->push_back(tokenizer_.turn_end_id());
  ids->insert(ids->end(), newline_ids_.begin(), newline_ids_.end());
}

bool ChatTemplate::IsModelRole(std::string_view role) { return TurnRole(role) == "model"; }

}  // namespace edgelm
