#include "convert/calibrate.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "model/gemma4.h"
#include "runtime/loaded_model.h"

namespace edgelm {
namespace {

class PercentileRecorder : public ForwardObserver {
 public:
  explicit PercentileRecorder(double percentile) : percentile_(percentile) {}
  void OnLinearInput(const TensorView& w, const float* x, int rows) override {
    const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(w.cols());
    magnitudes_.resize(n);
    for (size_t i = 0; i < n; ++i) magnitudes_[i] = std::fabs(x[i]);
    // The k-th largest magnitude with k = ceil(n * (1 - p/100)).
    const size_t k = std::max<size_t>(1, static_cast<size_t>(std::ceil(n * (1.0 - percentile_ / 100.0))));
    std::nth_element(magnitudes_.begin(), magnitudes_.begin() + (k - 1), magnitudes_.end(), std::greater<float>());
    per_window_[w.name].push_back(magnitudes_[k - 1]);
  }
  void OnLinearOutput(const TensorView& w, const float* y, int rows) override {
    Max(y, static_cast<size_t>(rows) * static_cast<size_t>(w.rows()), &output_max_[w.name]);
  }
  void OnKeysValues(int layer, const float* k, const float* v, int rows, int kv_dim) override {
    const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(kv_dim);
    Max(k, n, &key_max_[layer]);
    Max(v, n, &value_max_[layer]);
  }
  std::map<std::string, std::vector<float>> per_window_;
  std::map<std::string, float> output_max_;
  std::map<int, float> key_max_, value_max_;

 private:
  static void Max(const float* x, size_t n, float* max) {
    for (size_t i = 0; i < n; ++i) *max = std::max(*max, std::fabs(x[i]));
  }
  double percentile_;
  std::vector<float> magnitudes_;
};

// A scale from a maximum magnitude: the largest value maps to code 127.
float ScaleFromMax(float max) { return std::max(max, 1e-6f) / 127.0f; }

}  // namespace

Status CalibrateStaticScales(const std::string& float_model, const std::string& text_file,
                             const CalibrationOptions& o, CalibratedScales* scales) {
  std::ifstream in(text_file, std::ios::binary);
  if (!in) return NotFound(text_file + ": cannot open calibration text");
  std::stringstream ss;
  ss << in.rdbuf();
  std::unique_ptr<LoadedModel> loaded;
  EDGELM_RETURN_IF_ERROR(LoadedModel::Open(float_model, LoadOptions{}, &loaded));
  if (!loaded->tokenizer()) return InvalidArgument("calibration needs a tokenizer in the checkpoint");
  const Gemma4Model* model = &loaded->model();
  std::vector<int> stream;
  EDGELM_RETURN_IF_ERROR(loaded->tokenizer()->Encode(ss.str(), EncodeOptions{}, &stream));
  if (stream.empty()) return InvalidArgument(text_file + ": calibration text is empty");

  PercentileRecorder recorder(o.percentile);
  WorkspacePtr ws = model->NewWorkspace(model->shared_pool());
  const int body = o.window - 1;
  for (int w = 0; w < o.max_windows && static_cast<size_t>(w) * body < stream.size(); ++w) {
    std::unique_ptr<KvCache> kv;
    EDGELM_RETURN_IF_ERROR(KvCache::Create(model->config(), KvCacheOptions{o.window, o.window, KvType::kF32}, &kv));
    std::vector<int> input = {loaded->tokenizer()->bos_id() >= 0 ? loaded->tokenizer()->bos_id() : stream[0]};
    const size_t begin = static_cast<size_t>(w) * body;
    input.insert(input.end(), stream.begin() + begin, stream.begin() + std::min(stream.size(), begin + body));
    // Every token's path matters for calibration, including the KV-sharing layers.
    std::vector<float> logits(input.size() * static_cast<size_t>(model->config().vocab_size));
    EDGELM_RETURN_IF_ERROR(model->Forward(input.data(), static_cast<int>(input.size()), LogitsMode::kAll, kv.get(),
                                          ws.get(), logits.data(), &recorder));
  }
  *scales = CalibratedScales();
  for (const auto& kv : recorder.per_window_) {
    double sum = 0.0;
    for (float v : kv.second) sum += v;
    const double amax = std::max(sum / kv.second.size(), 1e-6);
    scales->input[kv.first] = static_cast<float>(amax / 127.0);
  }
  for (const auto& [name, max] : recorder.output_max_) scales->output[name] = ScaleFromMax(max);
  for (const auto& [layer, max] : recorder.key_max_) scales->key[layer] = ScaleFromMax(max);
  for (const auto& [layer, max] : recorder.value_max_) scales->value[layer] = ScaleFromMax(max);
  return Status::Ok();
}

}  // namespace edgelm
