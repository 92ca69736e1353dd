/* edgelm-chat: an interactive REPL (or one-shot completion) over the edgelm C API only.
 *
 *   edgelm-chat [-m MODEL] [--chat] [-p [PROMPT]] [-n N] [sampling flags]
 *               [--think [--thinking-budget N]] [--tools FILE.json [--tool-choice required]]
 *               [--json-schema FILE | --grammar FILE]
 *
 * Without --chat the model continues plain text (right for base models such as the bundled
 * brown-tiny); with --chat each line is a user turn in the model's chat template. -p without a
 * value reads the prompt from standard input. Ctrl-C stops the current reply. --tools runs a demo
 * tool loop: every call is printed and answered with a stand-in result that echoes its arguments. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "edgelm/edgelm.h"

static edgelm_session* g_session;

static void on_interrupt(int sig) {
  (void)sig;
  if (g_session) edgelm_session_cancel(g_session);
}

static int print_token(void* user_data, int32_t token, const char* text, size_t bytes) {
  (void)user_data;
  (void)token;
  fwrite(text, 1, bytes, stdout);
  fflush(stdout);
  return 0;
}

/* Thoughts go to standard error, dimmed, so that standard output carries only the answer. */
static int print_thought(void* user_data, int32_t token, const char* text, size_t bytes) {
  (void)user_data;
  (void)token;
  fprintf(stderr, "\033[2m%.*s\033[0m", (int)bytes, text);
  return 0;
}

static void usage(FILE* out) {
  fprintf(out,
          "usage: edgelm-chat [options]\n"
          "  -m, --model PATH        model file (default: the bundled brown-tiny model)\n"
          "  -p, --prompt [TEXT]     one-shot: continue TEXT (or standard input) and exit\n"
          "  --chat                  use the chat template (instruction-tuned models)\n"
          "  -s, --system TEXT       system message (with --chat)\n"
          "  -n, --max-tokens N      tokens per reply (default 128)\n"
          "  -c, --context N         context length in tokens (default 2048)\n"
          "  --temp T --top-k K --top-p P --min-p P --repeat-penalty R --presence-penalty R --seed S\n"
          "  -t, --threads N         compute threads (0 = all cores)\n"
          "  --max-memory MB         refuse a model, or a session, that needs more than MB megabytes\n"
          "  --packed-cache FILE     keep XNNPACK's packed weights in FILE: later starts map them instead\n"
          "                          of packing (arm64 phones, where XNNPACK runs the linears)\n"
          "  --think                 thinking on (Gemma 4 <|think|>); thoughts are shown dimmed on stderr\n"
          "  --thinking-budget N     close a thought after N tokens\n"
          "  --tools FILE.json       declare tools (JSON array); calls are answered by a demo stand-in\n"
          "  --tool-choice required  every reply is a call of a declared tool, valid for its schema\n"
          "  --json-schema FILE      replies are JSON valid for this schema\n"
          "  --grammar FILE          replies are sentences of this grammar (docs/constrained_output.md)\n"
          "  --lookup                speculative decoding by prompt lookup (same output; faster when the\n"
          "                          reply quotes the context and the CPU verifies several tokens cheaply)\n"
          "  --draft PATH            speculative decoding with this draft model (same tokenizer, smaller)\n"
          "  --max-draft N           tokens per draft, 1..16 (default 8)\n"
          "REPL commands: /reset  /stats  /quit\n");
}

static void print_stats(const edgelm_session* session) {
  edgelm_stats st;
  edgelm_stats_init(&st);
  if (edgelm_session_get_stats(session, &st) != EDGELM_OK) return;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  fprintf(stderr,
          "[prefill %lld tok @ %.1f tok/s | decode %lld tok @ %.1f tok/s | TTFT %.1f ms | context %lld tok | "
          "KV %.1f MB | peak RSS %.1f MB]\n",
          (long long)st.prompt_tokens, st.prefill_tokens_per_s, (long long)st.generated_tokens,
          st.decode_tokens_per_s, st.time_to_first_token_ms, (long long)st.context_tokens, st.kv_bytes / 1e6,
          ru.ru_maxrss / 1024.0);
  if (st.drafted_tokens > 0)
    fprintf(stderr, "[speculation: %lld of %lld drafted tokens accepted | %.2f tokens per pass over the weights]\n",
            (long long)st.accepted_draft_tokens, (long long)st.drafted_tokens,
            st.decode_passes > 0 ? (double)(st.generated_tokens - 1) / (double)st.decode_passes : 0.0);
}

static char* read_all(FILE* in) {
  size_t cap = 4096, len = 0;
  char* buf = malloc(cap);
  size_t n;
  while (buf && (n = fread(buf + len, 1, cap - len - 1, in)) > 0) {
    len += n;
    if (cap - len < 2) {
      char* grown = realloc(buf, cap * 2);
      if (!grown) break;
      buf = grown;
      cap *= 2;
    }
  }
  if (buf) buf[len] = '\0';
  return buf;
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "edgelm-chat: cannot read %s\n", path);
    exit(2);
  }
  char* text = read_all(f);
  fclose(f);
  return text;
}

/* The demo stand-in for a tool: answers every call of this turn with {"tool": NAME, "arguments": ARGS}
 * (the JSON of the call, renamed). Returns the status of the last append. */
static edgelm_status answer_tool_calls(edgelm_session* session) {
  size_t bytes = 0;
  edgelm_status st = edgelm_session_get_tool_calls(session, NULL, 0, &bytes);
  if (st != EDGELM_BUFFER_TOO_SMALL) return st;
  char* calls = malloc(bytes);
  if (!calls) return EDGELM_OUT_OF_MEMORY;
  st = edgelm_session_get_tool_calls(session, calls, bytes, &bytes);
  fprintf(stderr, "[tool calls: %s]\n", calls);
  if (st == EDGELM_OK) {
    /* calls is [{"name":...,"arguments":...},...]: one result per element, in order. */
    int depth = 0;
    const char* start = NULL;
    for (const char* p = calls; *p && st == EDGELM_OK; ++p) {
      if (*p == '"') {  /* skip strings: braces inside them do not count */
        for (++p; *p && *p != '"'; ++p)
          if (*p == '\\' && p[1]) ++p;
        continue;
      }
      if (*p == '{' && depth++ == 0) start = p;
      if (*p == '}' && --depth == 0) {
        const size_t n = (size_t)(p - start + 1);
        char* result = malloc(n + 16);
        if (!result) { st = EDGELM_OUT_OF_MEMORY; break; }
        snprintf(result, n + 16, "{\"tool\"%.*s", (int)(n - 7), start + 7);  /* {"name" -> {"tool" */
        fprintf(stderr, "[tool result: %s]\n", result);
        st = edgelm_session_append_message(session, "tool", result);
        free(result);
      }
    }
  }
  free(calls);
  return st;
}

/* Appends one user input and streams the reply, running the tool loop until the model answers.
 * Returns 0 on success. */
static int respond(edgelm_session* session, int chat, const char* text, const edgelm_generate_options* gen) {
  edgelm_status st = chat ? edgelm_session_append_message(session, "user", text)
                          : edgelm_session_append_text(session, text, 0);
  if (st == EDGELM_OK && !chat) fputs(text, stdout);
  edgelm_generate_options options = *gen;
  for (int round = 0; st == EDGELM_OK && round < 8; ++round) {
    st = edgelm_session_generate(session, &options, print_token, NULL);
    edgelm_stats stats;
    edgelm_stats_init(&stats);
    if (st != EDGELM_OK || edgelm_session_get_stats(session, &stats) != EDGELM_OK ||
        stats.stop_reason != EDGELM_STOP_TOOL_CALL)
      break;
    fputc('\n', stdout);
    st = answer_tool_calls(session);
    options.tool_choice = EDGELM_TOOL_CHOICE_AUTO;  /* after the results, the model answers */
  }
  fputc('\n', stdout);
  if (st == EDGELM_CANCELLED) {
    fprintf(stderr, "[stopped]\n");
  } else if (st != EDGELM_OK) {
    fprintf(stderr, "edgelm-chat: %s: %s\n", edgelm_status_string(st), edgelm_session_error(session));
    return 1;
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* model_path = EDGELM_DEFAULT_MODEL;
  const char* prompt = NULL;
  const char* system_text = NULL;
  const char* draft_path = NULL;
  const char* packed_cache = NULL;
  int one_shot = 0, chat = 0, threads = 0;
  uint64_t max_memory_bytes = 0;
  edgelm_session_options sopt;
  edgelm_session_options_init(&sopt);
  sopt.context_length = 2048;
  edgelm_generate_options gen;
  edgelm_generate_options_init(&gen);
  gen.max_tokens = 128;
  gen.temperature = 0.8f;
  gen.top_p = 0.95f;
  gen.repetition_penalty = 1.1f;

  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const int has_value = i + 1 < argc;
#define NEXT() (has_value ? argv[++i] : (fprintf(stderr, "edgelm-chat: %s needs a value\n", a), exit(2), ""))
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
    else if (!strcmp(a, "-m") || !strcmp(a, "--model")) model_path = NEXT();
    else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
      one_shot = 1;
      if (has_value && argv[i + 1][0] != '-') prompt = argv[++i];
    }
    else if (!strcmp(a, "--chat")) chat = 1;
    else if (!strcmp(a, "-s") || !strcmp(a, "--system")) system_text = NEXT();
    else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) gen.max_tokens = atoi(NEXT());
    else if (!strcmp(a, "-c") || !strcmp(a, "--context")) sopt.context_length = atoi(NEXT());
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) threads = atoi(NEXT());
    else if (!strcmp(a, "--max-memory")) max_memory_bytes = (uint64_t)(strtod(NEXT(), NULL) * 1e6);
    else if (!strcmp(a, "--packed-cache")) packed_cache = NEXT();
    else if (!strcmp(a, "--temp")) gen.temperature = strtof(NEXT(), NULL);
    else if (!strcmp(a, "--top-k")) gen.top_k = atoi(NEXT());
    else if (!strcmp(a, "--top-p")) gen.top_p = strtof(NEXT(), NULL);
    else if (!strcmp(a, "--min-p")) gen.min_p = strtof(NEXT(), NULL);
    else if (!strcmp(a, "--repeat-penalty")) gen.repetition_penalty = strtof(NEXT(), NULL);
    else if (!strcmp(a, "--presence-penalty")) gen.presence_penalty = strtof(NEXT(), NULL);
    else if (!strcmp(a, "--seed")) gen.seed = strtoull(NEXT(), NULL, 10);
    else if (!strcmp(a, "--think")) sopt.enable_thinking = 1;
    else if (!strcmp(a, "--thinking-budget")) gen.thinking_budget = atoi(NEXT());
    else if (!strcmp(a, "--tools")) sopt.tools_json = read_file(NEXT());
    else if (!strcmp(a, "--tool-choice")) gen.tool_choice = strcmp(NEXT(), "required") ? EDGELM_TOOL_CHOICE_AUTO : EDGELM_TOOL_CHOICE_REQUIRED;
    else if (!strcmp(a, "--json-schema")) gen.json_schema = read_file(NEXT());
    else if (!strcmp(a, "--grammar")) gen.grammar = read_file(NEXT());
    else if (!strcmp(a, "--lookup")) sopt.speculation = EDGELM_SPECULATION_PROMPT_LOOKUP;
    else if (!strcmp(a, "--draft")) { sopt.speculation = EDGELM_SPECULATION_DRAFT_MODEL; draft_path = NEXT(); }
    else if (!strcmp(a, "--max-draft")) sopt.max_draft_tokens = atoi(NEXT());
    else { fprintf(stderr, "edgelm-chat: unknown option %s\n", a); usage(stderr); return 2; }
#undef NEXT
  }
  if (sopt.enable_thinking || sopt.tools_json) chat = 1;  /* both live in the chat template */
  gen.thought_callback = print_thought;

  edgelm_model_options mopt;
  edgelm_model_options_init(&mopt);
  mopt.num_threads = threads;
  mopt.max_memory_bytes = max_memory_bytes;
  mopt.packed_weights_cache_path = packed_cache;
  sopt.max_memory_bytes = max_memory_bytes;
  edgelm_model* model = NULL;
  edgelm_status st = edgelm_model_load(model_path, &mopt, &model);
  if (st != EDGELM_OK) {
    fprintf(stderr, "edgelm-chat: cannot load model: %s: %s\n", edgelm_status_string(st), edgelm_last_error());
    return 1;
  }
  edgelm_model* draft = NULL;
  if (draft_path) {
    mopt.packed_weights_cache_path = NULL;  /* one cache file per model */
    st = edgelm_model_load(draft_path, &mopt, &draft);
    if (st != EDGELM_OK) {
      fprintf(stderr, "edgelm-chat: cannot load the draft model: %s: %s\n", edgelm_status_string(st), edgelm_last_error());
      edgelm_model_free(model);
      return 1;
    }
    sopt.draft_model = draft;
  }
  edgelm_session* session = NULL;
  st = edgelm_session_create(model, &sopt, &session);
  edgelm_model_free(draft); /* the session keeps it */
  if (st != EDGELM_OK) {
    fprintf(stderr, "edgelm-chat: %s: %s\n", edgelm_status_string(st), edgelm_last_error());
    edgelm_model_free(model);
    return 1;
  }
  g_session = session;
  signal(SIGINT, on_interrupt);
  if (chat && system_text && edgelm_session_append_message(session, "system", system_text) != EDGELM_OK) {
    fprintf(stderr, "edgelm-chat: %s\n", edgelm_session_error(session));
    return 1;
  }

  int rc = 0;
  if (one_shot) {
    char* text = prompt ? NULL : read_all(stdin);
    const char* input = prompt ? prompt : text;
    size_t len = input ? strlen(input) : 0;
    while (text && len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
    rc = input ? respond(session, chat, input, &gen) : 1;
    print_stats(session);
    free(text);
  } else {
    edgelm_model_info info;
    edgelm_model_info_init(&info);
    edgelm_model_get_info(model, &info);
    fprintf(stderr, "edgelm %s — %s (%s, %d layers, %.1f MB); %s mode. /reset /stats /quit\n", edgelm_version(),
            model_path, info.recipe, info.num_layers, info.file_bytes / 1e6, chat ? "chat" : "completion");
    char line[8192];
    while (fputs("> ", stderr), fgets(line, sizeof line, stdin)) {
      line[strcspn(line, "\r\n")] = '\0';
      if (!strcmp(line, "/quit")) break;
      if (!strcmp(line, "/reset")) { edgelm_session_reset(session); fprintf(stderr, "[reset]\n"); continue; }
      if (!strcmp(line, "/stats")) { print_stats(session); continue; }
      if (!line[0]) continue;
      respond(session, chat, line, &gen);
    }
  }
  g_session = NULL;
  edgelm_session_free(session);
  edgelm_model_free(model);
  free((char*)sopt.tools_json);
  free((char*)gen.json_schema);
  free((char*)gen.grammar);
  return rc;
}
