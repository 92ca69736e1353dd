#include "runtime/loaded_model.h"

#include <thread>

#include "common/log.h"
#include "common/memory_budget.h"
#include "dispatch.h"
#include "model/gemma4_tensors.h"

namespace edgelm {
namespace {

// Refuses a model that needs more than `budget` bytes (0 = no limit): the weights decoding keeps
// resident, as edgelm-inspect --estimate counts them, plus the tokenizer's heap.
Status CheckModelMemory(const ModelFile& file, uint64_t budget) {
  if (budget == 0) return Status::Ok();
  WeightBytes weights;
  const Status summed = SumWeightBytes(
      Gemma4TensorManifest(file.config()), file.config().tie_word_embeddings,
      [&file](const TensorInfo& t, StoredAs* how) {
        const TensorView* stored = file.FindTensor(t.name);
        if (stored) *how = StoredAs{stored->dtype, stored->scale_group_size};
        return stored != nullptr;  // a missing tensor is reported when the graph binds
      },
      &weights);
  if (!summed.ok()) return Status(summed.code(), file.path() + ": " + summed.message());
  const TokenizerData* tokenizer = file.tokenizer();
  const uint64_t heap = tokenizer ? tokenizer->HeapBytes() + Tokenizer::EstimateHeapBytes(*tokenizer) : 0;
  return CheckMemoryBudget(file.path(), weights.resident() + heap,
                           Megabytes(weights.resident()) + " resident weights + " + Megabytes(heap) +
                               " tokenizer; " + Megabytes(weights.gathered) + " of gathered tables stay on flash",
                           budget);
}

}  // namespace

Status LoadedModel::Open(const std::string& path, const LoadOptions& options, std::unique_ptr<LoadedModel>* out) {
  std::unique_ptr<LoadedModel> m(new LoadedModel());
  // Mapped lazily: only the header and metadata are read until the budget check passed.
  std::unique_ptr<ModelFile> file;
  EDGELM_RETURN_IF_ERROR(ModelFile::Open(path, &file));
  EDGELM_RETURN_IF_ERROR(CheckModelMemory(*file, options.max_memory_bytes));
  if (options.verify != LoadOptions::Verify::kNone && !file->has_checksums())
    Log(LogLevel::kWarn, path + " carries no weight checksums (converted before edgelm-convert 1.1): not verified");
  else if (options.verify == LoadOptions::Verify::kAtLoad) {  // before XNNPACK packs anything damaged
    const int threads = options.num_threads > 0 ? options.num_threads : static_cast<int>(std::thread::hardware_concurrency());
    EDGELM_RETURN_IF_ERROR(file->VerifyAllTensors(threads));
    m->verified_at_load_ = true;
  }
  m->file_ = std::move(file);
  EDGELM_RETURN_IF_ERROR(Gemma4Model::Create(m->file_, &m->model_, options.num_threads, options.engine,
                                             PackedWeightsCache{options.packed_weights_cache,
                                                                options.verify != LoadOptions::Verify::kNone,
                                                                options.populate}));
  if (options.populate) {  // after the tensors were repacked: their pages are not needed again
    std::vector<const TensorView*> packed = m->model_->strips().tensors();
    for (size_t i = 0; i < m->model_->xnn().size(); ++i) packed.push_back(&m->model_->xnn().tensor(static_cast<int>(i)));
    m->file_->Populate(packed);
  }
  if (const TokenizerData* data = m->file_->tokenizer()) {
    EDGELM_RETURN_IF_ERROR(Tokenizer::Create(*data, &m->tokenizer_));
    for (int id : m->tokenizer_->stop_ids()) m->stop_tokens_.push_back(id);
    // Other template names load without a chat template: token and text calls still work.
    if (data->chat_template == "gemma4") {
      EDGELM_RETURN_IF_ERROR(ChatTemplate::Create(*m->tokenizer_, ChatTemplateOptions{}, &m->chat_));
      m->chat_template_name_ = data->chat_template;
    }
  }
  m->recipe_ = m->file_->recipe();
  if (options.verify == LoadOptions::Verify::kBackground) m->file_->StartBackgroundVerification();
  if (const char* warning = edgelm_kernels_selection_warning()) Log(LogLevel::kWarn, warning);
  Log(LogLevel::kInfo, path + ": recipe " + (m->recipe_.empty() ? "?" : m->recipe_) + ", kernels " +
                           edgelm_kernels_select()->name + ", " + std::to_string(m->model_->num_threads()) + " threads");
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace edgelm
