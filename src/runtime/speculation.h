// Speculative decoding. A drafter guesses the tokens that follow the history; one forward over the last
// sampled token and the guesses gives the logits of every position at once (the weights are read
// once for all of them), and while the tokens the session samples equal the guesses it takes their
// logits from that forward instead of running one of its own.
//
// Every token is still sampled from the target model's own logits, by the same sampler calls in the
// same order as plain decoding, so the output is plain decoding's, greedy or sampled (same seed, same
// tokens). This is standard speculative sampling for a deterministic draft: with q the one-hot draft,
// accepting d with probability min(1, p(d)/q(d)) = p(d) and otherwise drawing from the residual
// norm(max(0, p - q)) is the same law as drawing t ~ p and accepting iff t == d.
//
// A draft pays only if verifying it costs less than the tokens it is expected to save. The controller
// measures both as it runs (verification time per extra position, drafting time, the acceptance rate
// of recent drafts) and drafts the length that maximizes expected tokens per second, or nothing.
#pragma once

#include <memory>
#include <vector>

#include "common/status.h"

namespace edgelm {

class Gemma4Model;
class Session;
struct SessionOptions;

enum class SpeculationMode {
  kNone,
  kPromptLookup,  // guesses by matching the history's last tokens against earlier text (quotes, edits, code)
  kDraftModel,    // a smaller model with the same vocabulary drafts greedily in its own session
};

struct SpeculationOptions {
  SpeculationMode mode = SpeculationMode::kNone;
  // kDraftModel: the drafting model; its vocabulary must be the target's. Borrowed: it must outlive
  // every session using it.
  const Gemma4Model* draft_model = nullptr;
  int max_draft_tokens = 8;  // the most tokens one draft proposes, 1..16
  // Choose each draft's length from measured costs and acceptance (DraftController); false = always
  // draft max_draft_tokens (tests, and benchmarks of a fixed length).
  bool adaptive = true;
};

// Proposes tokens that may follow a history.
class Drafter {
 public:
  virtual ~Drafter() = default;
  // Appends to `draft` up to `max_tokens` tokens guessed to follow `history` (none: no guess).
  virtual Status Draft(const std::vector<int>& history, int max_tokens, std::vector<int>* draft) = 0;
  // A drafter for a forked session (its own state, same settings).
  virtual Status Fork(std::unique_ptr<Drafter>* out) const = 0;
  // Of the last Draft's time, the part spent catching up with a history that grew while nothing was
  // drafted (a draft model's prefill of it): paid once per pause, not per drafted token.
  virtual double last_catch_up_seconds() const { return 0.0; }
};

// N-gram lookup in the history: finds the most recent earlier occurrence of the history's last n tokens
// (n from kMaxNgram down to kMinNgram) and proposes what followed it.
class PromptLookupDrafter : public Drafter {
 public:
  static constexpr int kMaxNgram = 4, kMinNgram = 2;
  Status Draft(const std::vector<int>& history, int max_tokens, std::vector<int>* draft) override;
  Status Fork(std::unique_ptr<Drafter>* out) const override;
};

// A draft model's greedy continuation, in a session of its own that follows the target's history
// (rewound to the common prefix, then fed the rest, before each draft).
class DraftModelDrafter : public Drafter {
 public:
  // `target_vocab`: the target model's vocabulary size, which the draft model's must equal.
  static Status Create(const Gemma4Model& draft_model, int target_vocab, const SessionOptions& target_options,
                       std::unique_ptr<Drafter>* out);
  ~DraftModelDrafter() override;
  Status Draft(const std::vector<int>& history, int max_tokens, std::vector<int>* draft) override;
  Status Fork(std::unique_ptr<Drafter>* out) const override;
  double last_catch_up_seconds() const override { return catch_up_seconds_; }

 private:
  explicit DraftModelDrafter(std::unique_ptr<Session> session);
  std::unique_ptr<Session> session_;
  std::vector<float> logits_;
  double catch_up_seconds_ = 0.0;
};

// Chooses each draft's length from what drafts and verifications have cost and earned so far.
class DraftController {
 public:
  DraftController(int max_draft_tokens, bool adaptive);
  // The draft length with the best expected tokens per second (0: decode plainly), at most `limit`.
  int NextLength(int limit);
  // A plain one-token forward took `seconds`.
  void OnPlainStep(double seconds);
  // A forward over the sampled token and `drafted` guesses took `verify_seconds`; drafting them took
  // `draft_seconds` (catching up excluded).
  void OnVerify(int drafted, double verify_seconds, double draft_seconds);
  // Of a verified draft of `drafted` tokens, the first `accepted` were sampled (accepted < drafted:
  // the next one was not).
  void OnOutcome(int drafted, int accepted);

  double acceptance() const { return (accepted_ + kPriorAccepted) / (trials_ + kPriorTrials); }

 private:
  static constexpr double kPriorAccepted = 1.0, kPriorTrials = 2.0;  // a prior acceptance of 0.5
  // The draft length with the best expected tokens per second at acceptance `alpha` (0: none pays).
  int BestLength(double alpha, int limit) const;
  int max_draft_;
  bool adaptive_;
  double accepted_ = 0.0, trials_ = 0.0;  // decayed counts of draft positions accepted / tried
  double step_seconds_ = 0.0;             // one plain forward (0: not measured yet)
  double extra_position_cost_ = 0.25;     // verification time per drafted token, in plain steps
  double draft_token_cost_ = 0.0;         // drafting time per drafted token, in plain steps
  bool verified_once_ = false;
  int plain_streak_ = 0;                  // plain steps since the last verification
  int probe_interval_;                    // plain steps before a probe; doubles after each probe
};

// Drafted positions whose logits a verification forward computed, waiting to be matched by samples.
struct VerifiedDraft {
  std::vector<int> tokens;     // the drafted tokens, in order
  std::vector<float> logits;   // [drafted + 1][vocab]: row 0 follows the sampled token, row i + 1 tokens[i]
  size_t next = 0;             // index of the next guess not yet matched by a sample
  int drafted = 0;             // length of the draft these came from
  bool pending() const { return next < tokens.size(); }
};

}  // namespace edgelm
