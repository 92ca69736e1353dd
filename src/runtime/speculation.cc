#include "runtime/speculation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "model/gemma4.h"
#include "runtime/session.h"

namespace edgelm {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

namespace {

// Weight of the newest measurement in the running cost estimates, and the decay of older drafts'
// outcomes per new one (about the last ten drafts count).
constexpr double kCostWeight = 0.2, kOutcomeDecay = 0.9;
// A controller that has not drafted for a while tries a one-token draft, so that a stretch of text
// where drafts fail does not turn speculation off for good: first after kFirstProbe plain steps, then
// after twice as many each time a probe did not lead to drafting, up to kLastProbe. Where drafts never
// pay, probes cost one extra verified position (and a draft model's catch-up) per that many tokens.
// Probes only happen where drafts would pay at kProbeAcceptance, given the measured costs: a CPU on
// which verifying costs as much as decoding, or a draft model as slow as the target, never probes.
constexpr int kFirstProbe = 48, kLastProbe = 4096;
constexpr double kProbeAcceptance = 0.9;

void Blend(double* estimate, double sample) { *estimate += kCostWeight * (sample - *estimate); }

}  // namespace

Status PromptLookupDrafter::Draft(const std::vector<int>& history, int max_tokens, std::vector<int>* draft) {
  const size_t size = history.size();
  for (size_t n = kMaxNgram; n >= static_cast<size_t>(kMinNgram); --n) {
    if (size < n + 1) continue;
    const int* suffix = history.data() + size - n;
    // The most recent earlier occurrence: the text after it is the likeliest to be quoted next.
    for (size_t start = size - n; start-- > 0;) {
      if (!std::equal(suffix, suffix + n, history.data() + start)) continue;
      const size_t follow = start + n;
      const size_t count = std::min(static_cast<size_t>(std::max(0, max_tokens)), size - follow);
      draft->insert(draft->end(), history.begin() + static_cast<std::ptrdiff_t>(follow),
                    history.begin() + static_cast<std::ptrdiff_t>(follow + count));
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status PromptLookupDrafter::Fork(std::unique_ptr<Drafter>* out) const {
  out->reset(new PromptLookupDrafter());
  return Status::Ok();
}

DraftModelDrafter::DraftModelDrafter(std::unique_ptr<Session> session) : session_(std::move(session)) {
  logits_.resize(static_cast<size_t>(session_->model().config().vocab_size));
}

DraftModelDrafter::~DraftModelDrafter() = default;

Status DraftModelDrafter::Create(const Gemma4Model& draft_model, int target_vocab, const SessionOptions& target_options,
                                 std::unique_ptr<Drafter>* out) {
  if (draft_model.config().vocab_size != target_vocab)
    return InvalidArgument("the draft model's vocabulary has " + std::to_string(draft_model.config().vocab_size) +
                           " tokens, the target's " + std::to_string(target_vocab) + ": they must share one tokenizer");
  SessionOptions options;  // token ids only, no chat: it follows the target's history as it is
  options.context_length = target_options.context_length;
  options.prefill_chunk = target_options.prefill_chunk;
  options.kv_type = target_options.kv_type;
  options.num_threads = target_options.num_threads;
  options.share_model_threads = target_options.share_model_threads;
  options.max_memory_bytes = target_options.max_memory_bytes;
  std::unique_ptr<Session> session;
  Status status = Session::Create(draft_model, nullptr, nullptr, options, &session);
  if (!status.ok()) return Status(status.code(), "draft model: " + status.message());
  out->reset(new DraftModelDrafter(std::move(session)));
  return Status::Ok();
}

Status DraftModelDrafter::Draft(const std::vector<int>& history, int max_tokens, std::vector<int>* draft) {
  // Follow the target: keep the common prefix (and its KV cache), feed the rest.
  const std::vector<int>& mine = session_->tokens();
  const size_t common = static_cast<size_t>(
      std::mismatch(mine.begin(), mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), history.size())),
                    history.begin())
          .first -
      mine.begin());
  const auto start = std::chrono::steady_clock::now();
  if (common < mine.size()) EDGELM_RETURN_IF_ERROR(session_->Rewind(common));
  if (common < history.size())
    EDGELM_RETURN_IF_ERROR(session_->AppendTokens(history.data() + common, history.size() - common));
  // All but the last new token (the first guess's forward takes it): the history that grew meanwhile.
  catch_up_seconds_ = 0.0;
  if (session_->pending_tokens() > 1) {
    EDGELM_RETURN_IF_ERROR(session_->Rewind(history.size() - 1));
    EDGELM_RETURN_IF_ERROR(session_->EvaluateLast(logits_.data()));
    EDGELM_RETURN_IF_ERROR(session_->AppendTokens(&history.back(), 1));
    catch_up_seconds_ = SecondsSince(start);
  }
  const size_t context = static_cast<size_t>(session_->options().context_length);
  const int vocab = static_cast<int>(logits_.size());
  for (int i = 0; i < max_tokens && session_->tokens().size() < context; ++i) {
    EDGELM_RETURN_IF_ERROR(session_->EvaluateLast(logits_.data()));
    const int token = static_cast<int>(std::max_element(logits_.begin(), logits_.begin() + vocab) - logits_.begin());
    draft->push_back(token);
    if (i + 1 < max_tokens) EDGELM_RETURN_IF_ERROR(session_->AppendTokens(&token, 1));
  }
  return Status::Ok();
}

Status DraftModelDrafter::Fork(std::unique_ptr<Drafter>* out) const {
  std::unique_ptr<Session> session;
  EDGELM_RETURN_IF_ERROR(session_->Fork(&session));
  out->reset(new DraftModelDrafter(std::move(session)));
  return Status::Ok();
}

DraftController::DraftController(int max_draft_tokens, bool adaptive)
    : max_draft_(max_draft_tokens), adaptive_(adaptive), probe_interval_(kFirstProbe) {}

int DraftController::BestLength(double alpha, int limit) const {
  // A draft of k: the sampled token plus each guess while all before it were accepted, for one
  // forward over k + 1 positions and k drafting steps.
  alpha = std::min(alpha, 0.999);
  int best = 0;
  double best_rate = 1.0;  // plain decoding: one token per step
  double expected = 1.0, alpha_power = 1.0;
  for (int k = 1; k <= limit; ++k) {
    alpha_power *= alpha;
    expected += alpha_power;
    const double rate = expected / (1.0 + k * (extra_position_cost_ + draft_token_cost_));
    if (rate > best_rate) {
      best_rate = rate;
      best = k;
    }
  }
  return best;
}

int DraftController::NextLength(int limit) {
  limit = std::min(limit, max_draft_);
  if (!adaptive_) return std::max(0, limit);
  if (limit <= 0 || step_seconds_ <= 0.0) return 0;
  int best = BestLength(acceptance(), limit);
  if (best > 0) {
    probe_interval_ = kFirstProbe;
  } else if (plain_streak_ >= probe_interval_ && BestLength(kProbeAcceptance, limit) > 0) {
    // Drafts would pay at a good acceptance rate: see whether the text now allows one.
    best = 1;
    probe_interval_ = std::min(2 * probe_interval_, kLastProbe);
  }
  return best;
}

void DraftController::OnPlainStep(double seconds) {
  ++plain_streak_;
  if (step_seconds_ <= 0.0) step_seconds_ = seconds;
  else Blend(&step_seconds_, seconds);
}

void DraftController::OnVerify(int drafted, double verify_seconds, double draft_seconds) {
  plain_streak_ = 0;
  if (step_seconds_ <= 0.0 || drafted <= 0) return;
  const double extra = std::max(0.0, (verify_seconds / step_seconds_ - 1.0) / drafted);
  const double drafting = draft_seconds / step_seconds_ / drafted;
  if (!verified_once_) {
    extra_position_cost_ = extra;
    draft_token_cost_ = drafting;
    verified_once_ = true;
  } else {
    Blend(&extra_position_cost_, extra);
    Blend(&draft_token_cost_, drafting);
  }
}

void DraftController::OnOutcome(int drafted, int accepted) {
  accepted_ = accepted_ * kOutcomeDecay + accepted;
  trials_ = trials_ * kOutcomeDecay + accepted + (accepted < drafted ? 1 : 0);
}

}  // namespace edgelm
