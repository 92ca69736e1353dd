/* A program that uses an installed edgelm: prints the version, loads the model given as argv[1] and
 * greedily completes a few tokens. Built by tests/consumer/CMakeLists.txt in every linking style. */
#include <stdio.h>

#include <edgelm/edgelm.h>

static int print_token(void* user_data, int32_t token, const char* text, size_t text_bytes) {
  (void)user_data;
  (void)token;
  fwrite(text, 1, text_bytes, stdout);
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  printf("edgelm %s\n", edgelm_version());
  edgelm_model* model = NULL;
  edgelm_status status = edgelm_model_load(argv[1], NULL, &model);
  if (status != EDGELM_OK) {
    fprintf(stderr, "load: %s: %s\n", edgelm_status_string(status), edgelm_last_error());
    return 1;
  }
  edgelm_session* session = NULL;
  status = edgelm_session_create(model, NULL, &session);
  if (status == EDGELM_OK) status = edgelm_session_append_text(session, "The jury said", 0);
  edgelm_generate_options options;
  edgelm_generate_options_init(&options);
  options.max_tokens = 4;
  if (status == EDGELM_OK) status = edgelm_session_generate(session, &options, print_token, NULL);
  printf("\n");
  if (status != EDGELM_OK) fprintf(stderr, "generate: %s: %s\n", edgelm_status_string(status), edgelm_session_error(session));
  edgelm_session_free(session);
  edgelm_model_free(model);
  return status == EDGELM_OK ? 0 : 1;
}
