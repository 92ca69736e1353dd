#include "runtime/reply_stream.h"

#include "runtime/chat_markers.h"

namespace edgelm {
namespace {

// The order of ReplyStream's markers_, which Apply switches on.
enum MarkerIndex : size_t { kChannelStart, kChannelEnd, kToolCallStart, kToolCallEnd, kToolResponse, kMarkerCount };
constexpr std::string_view kMarkerTexts[kMarkerCount] = {markers::kChannelStart, markers::kChannelEnd,
                                                         markers::kToolCallStart, markers::kToolCallEnd,
                                                         markers::kToolResponseStart};

std::vector<std::string> TextNeedles(const Tokenizer& tokenizer, std::vector<size_t>* indices) {
  std::vector<std::string> needles;
  for (size_t i = 0; i < kMarkerCount; ++i)
    if (!tokenizer.IsControl(tokenizer.PieceToId(kMarkerTexts[i]))) {
      needles.emplace_back(kMarkerTexts[i]);
      indices->push_back(i);
    }
  return needles;
}

}  // namespace

ReplyStream::ReplyStream(const Tokenizer& tokenizer, ReplyChannel start)
    : scanner_(TextNeedles(tokenizer, &text_markers_)), channel_(start) {
  for (std::string_view text : kMarkerTexts) {
    const int id = tokenizer.PieceToId(text);
    markers_.push_back(Marker{text, tokenizer.IsControl(id) ? id : -1});
  }
}

void ReplyStream::Push(int token, std::string_view text, std::vector<ReplyText>* out) {
  for (size_t i = 0; i < markers_.size(); ++i)
    if (markers_[i].token >= 0 && markers_[i].token == token) {
      Emit(scanner_.Flush(), out);
      Apply(i);
      return;
    }
  int found = -1;
  Emit(scanner_.Push(text, &found), out);
  while (found >= 0) {
    Apply(text_markers_[static_cast<size_t>(found)]);
    Emit(scanner_.Push("", &found), out);
  }
}

void ReplyStream::Flush(std::vector<ReplyText>* out) {
  Emit(scanner_.Flush(), out);
  if (thought_header_pending_) {
    // The reply ended inside the header: whatever is not a prefix of it is thought text.
    thought_header_pending_ = false;
    const std::string header = std::string(markers::kThoughtChannel) + "\n";
    if (header.compare(0, thought_header_.size(), thought_header_) != 0) Emit(std::move(thought_header_), out);
    thought_header_.clear();
  }
}

void ReplyStream::Apply(size_t marker) {
  if (thought_header_pending_) {  // a thought with nothing after its name
    thought_header_pending_ = false;
    thought_header_.clear();
  }
  switch (marker) {
    case kChannelStart:
      channel_ = ReplyChannel::kThought;
      thought_header_pending_ = true;
      break;
    case kToolCallStart: channel_ = ReplyChannel::kToolCall; break;
    case kChannelEnd:
    case kToolCallEnd: channel_ = ReplyChannel::kAnswer; break;
    case kToolResponse: wants_tool_response_ = true; break;
  }
}

void ReplyStream::Emit(std::string text, std::vector<ReplyText>* out) {
  if (thought_header_pending_) {
    thought_header_ += text;
    const std::string header = std::string(markers::kThoughtChannel) + "\n";
    if (thought_header_.size() < header.size() && header.compare(0, thought_header_.size(), thought_header_) == 0)
      return;  // still possibly the header
    thought_header_pending_ = false;
    text.clear();
    // "thought\n" is dropped; so is a bare "thought" followed by something else. Anything else is text.
    if (thought_header_.compare(0, header.size(), header) == 0)
      text = thought_header_.substr(header.size());
    else if (thought_header_.compare(0, header.size() - 1, header, 0, header.size() - 1) == 0)
      text = thought_header_.substr(header.size() - 1);
    else
      text = thought_header_;
    thought_header_.clear();
  }
  if (text.empty()) return;
  if (!out->empty() && out->back().channel == channel_)
    out->back().text += text;
  else
    out->push_back(ReplyText{channel_, std::move(text)});
}

ReplyChannel ReplyStream::ChannelAfter(std::string_view text) {
  // The last opening or closing marker decides.
  size_t best = std::string_view::npos;
  ReplyChannel channel = ReplyChannel::kAnswer;
  auto consider = [&](std::string_view marker, ReplyChannel after) {
    const size_t at = text.rfind(marker);
    if (at != std::string_view::npos && (best == std::string_view::npos || at > best)) {
      best = at;
      channel = after;
    }
  };
  consider(markers::kChannelStart, ReplyChannel::kThought);
  consider(markers::kChannelEnd, ReplyChannel::kAnswer);
  consider(markers::kToolCallStart, ReplyChannel::kToolCall);
  consider(markers::kToolCallEnd, ReplyChannel::kAnswer);
  return channel;
}

}  // namespace edgelm
