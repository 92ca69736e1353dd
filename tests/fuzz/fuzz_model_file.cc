// libFuzzer target: arbitrary bytes as a .edgelm file (checksum repaired) through the public load
// path (edgelm_model_load: validation, memory budget, graph, tokenizer, chat template) and, when that
// succeeds, a session that evaluates one token and tokenizes a little text. Must never crash, hang or
// read out of bounds.
#include <string>
#include <vector>

#include "edgelm/edgelm.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file_bytes = edgelm::fuzz::RepairModelFile(data, size);
  const std::string path = edgelm::fuzz::WriteTemp("model", file_bytes.data(), file_bytes.size());
  edgelm_model_options mo;
  edgelm_model_options_init(&mo);
  mo.num_threads = 1;
  mo.max_memory_bytes = uint64_t{1} << 30;  // a hostile file may declare huge tensors: refuse, do not map them in
  edgelm_model* model = nullptr;
  if (edgelm_model_load(path.c_str(), &mo, &model) != EDGELM_OK) return 0;
  // A valid file must also compute: tiny context, one token.
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = 2;
  so.prefill_chunk = 1;
  so.num_threads = 1;
  so.max_memory_bytes = uint64_t{1} << 30;
  edgelm_session* session = nullptr;
  if (edgelm_session_create(model, &so, &session) == EDGELM_OK) {
    const int32_t token = 0;
    size_t n = 0;
    if (edgelm_session_append_tokens(session, &token, 1) == EDGELM_OK &&
        edgelm_session_evaluate(session, 0, nullptr, 0, &n) == EDGELM_BUFFER_TOO_SMALL) {
      std::vector<float> logits(n);
      (void)edgelm_session_evaluate(session, 0, logits.data(), logits.size(), &n);
    }
    edgelm_session_free(session);
  }
  int32_t ids[16];
  size_t n_ids = 0;
  (void)edgelm_tokenize(model, "Hello <|turn>", 13, 1, 1, ids, 16, &n_ids);
  edgelm_model_free(model);
  return 0;
}
