// Hostile input and faults (issue 11): models that load but are built to
// hurt, input that is not what a translator expects, memory that runs out and
// an output that cannot be written.  Each test here failed before its fix.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "core/atomic_file.h"
#include "eval/bleu.h"
#include "infer/alignment.h"
#include "inspect/attention_html.h"
#include "inspect/attention_render.h"
#include "tokenizer/tokenizer_json.h"
#include "tokenizer/tokenizer_pair.h"
#include "train/checkpoint.h"
#include "tests/failing_alloc.h"
#include "tests/model_image.h"
#include "tests/test.h"

// ---------------------------------------------------------------- hostile models

static char *model_that_always_says(int id) { return model_that_says(id, -1, 0); }

// The shared toy model, loaded once.
static Translator *toy_translator(void) {
    static Translator t;
    static bool loaded;
    Error err;
    if (!loaded && translator_load(&t, toy_model_dir(), &err) < 0) fail_msg("%s", err.message);
    loaded = true;
    return &t;
}

// ---------------------------------------------------------------- the prompt

// ":" alone used to compare and print a command name sscanf never wrote.
static void a_colon_alone_at_the_prompt_is_answered(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(":\n: \n:quit\n", &out, &err, "translate", "--model", toy_model_dir(),
                         "--interactive"),
                     0);
    const char *first = strstr(out, "azul> ");
    assert_non_null(first);
    expect_contains(first, "azul> a command follows ':' (:help lists them)\n"
                           "azul> a command follows ':' (:help lists them)\n");
    free(out);
    free(err);
}

// ---------------------------------------------------------------- control characters out

// Fails unless text has exactly `lines` lines (any number for -1) and no
// control character but their ends: no C0 control (tab and CR included), no
// DEL, no C1 control, no line or paragraph separator (U+2028, U+2029).
static void expect_plain_lines(const char *text, int lines) {
    int seen = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\n') {
            seen++;
            continue;
        }
        bool c1 = p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
        bool separator = p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9);
        if (*p < 0x20 || *p == 0x7F || c1 || separator) {
            fail_msg("control character 0x%02X at byte %td of:\n%s", *p, (const char *)p - text, text);
        }
    }
    if (lines >= 0 && seen != lines) fail_msg("expected %d lines, got %d:\n%s", lines, seen, text);
}

// Byte tokens decode to any byte: a newline would split one translation over
// two lines, an ESC would reach the terminal.
static void translations_never_carry_control_characters(void **state) {
    (void)state;
    const int said[] = {4 + '\n', 4 + 0x1B, 4 + 0x7F, 4 + '\t'};
    for (size_t i = 0; i < sizeof said / sizeof said[0]; i++) {
        char *model = model_that_always_says(said[i]);
        char *out, *err;
        const char *input = "The ball is blue\n\nThe cat\n";
        assert_int_equal(RUN(input, &out, &err, "translate", "--model", model), 0);
        expect_plain_lines(out, 3);
        expect_contains(out, "\xEF\xBF\xBD");  // U+FFFD, where each control was
        free(out); free(err);
        assert_int_equal(RUN(input, &out, &err, "translate", "--model", model, "--beam", "1",
                             "--n-best", "1", "--alignment"), 0);
        expect_plain_lines(out, 3);
        free(out); free(err);
        assert_int_equal(RUN(input, &out, &err, "translate", "--model", model, "--n-best", "2"), 0);
        expect_plain_lines(out, 6);
        free(out); free(err);
        // the prompt: its greeting, one answer, :tokens's two lines, then the last prompt
        assert_int_equal(RUN("The ball is blue\n:tokens\n", &out, &err, "translate", "--model", model,
                             "--interactive"), 0);
        expect_plain_lines(out, 4);
        free(out); free(err);
        // attention prints the translation, the tokens and the words side by side
        assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", model, "The ball is blue"), 0);
        // twenty of them: the length limit of a five-token source
        expect_contains(out, "source:      The ball is blue\ntranslation: \xEF\xBF\xBD\xEF\xBF\xBD");
        expect_contains(out, "\xEF\xBF\xBD\n\nencoder-decoder (cross) attention");
        expect_plain_lines(out, -1);
        free(out); free(err);
        assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", model, "--align", "The ball is blue"), 0);
        expect_plain_lines(out, 5);
        free(out); free(err);
        remove_tree(model);
        free(model);
    }
}

// The toy model with one target token's text replaced by `text`, and that
// token pushed as in model_that_always_says; returns the model's directory.
// The token is the result of the last merge, which no merge uses: the merge
// is dropped, and the vocabulary keeps its size.
static char *model_that_always_says_text(const char *text) {
    ModelImage image = read_toy_model();
    cJSON *metadata = cJSON_GetObjectItemCaseSensitive(image.header, "__metadata__");
    cJSON *saved = cJSON_GetObjectItemCaseSensitive(metadata, "tokenizers");
    cJSON *pair = cJSON_Parse(saved->valuestring);
    cJSON *target = cJSON_GetObjectItemCaseSensitive(pair, "target");
    cJSON *tokens = cJSON_GetObjectItemCaseSensitive(target, "tokens");
    cJSON *merges = cJSON_GetObjectItemCaseSensitive(target, "merges");
    const int first = 4 + 256, last = cJSON_GetArraySize(merges) - 1;  // ids of bpe's ordinary tokens
    cJSON *merge = cJSON_GetArrayItem(merges, last);
    char joined[512];
    snprintf(joined, sizeof joined, "%s%s",
             cJSON_GetArrayItem(tokens, cJSON_GetArrayItem(merge, 0)->valueint - first)->valuestring,
             cJSON_GetArrayItem(tokens, cJSON_GetArrayItem(merge, 1)->valueint - first)->valuestring);
    int id = -1;
    for (int i = 0; i < cJSON_GetArraySize(tokens); i++) {
        if (strcmp(cJSON_GetArrayItem(tokens, i)->valuestring, joined) == 0) id = first + i;
    }
    assert_true(id >= first);
    cJSON_ReplaceItemInArray(tokens, id - first, cJSON_CreateString(text));
    cJSON_DeleteItemFromArray(merges, last);
    char *printed = cJSON_PrintUnformatted(pair);
    cJSON_ReplaceItemInObjectCaseSensitive(metadata, "tokenizers", cJSON_CreateString(printed));
    cJSON_free(printed);
    cJSON_Delete(pair);
    size_t n;
    float *bias = tensor_floats(&image, "out.bias", &n);
    assert_true((size_t)id < n);
    bias[id] = 1e4f;
    char *dir = write_model(&image);
    free_model_image(&image);
    return dir;
}

// U+2028 and U+2029 end a line for whatever reads the output by Unicode's
// rules, as NEL (U+0085) does: a token made of one went through into the
// translation, and the source as typed into attention's echo.
static void translations_never_carry_line_separators(void **state) {
    (void)state;
    const char *separators[] = {"\xE2\x80\xA8", "\xE2\x80\xA9", "\xC2\x85"};
    for (size_t i = 0; i < sizeof separators / sizeof separators[0]; i++) {
        char *model = model_that_always_says_text(separators[i]), *out, *err;
        assert_int_equal(RUN("The ball is blue\nThe cat\n", &out, &err, "translate", "--model", model,
                             "--beam", "1"), 0);
        assert_null(strstr(out, separators[i]));
        expect_contains(out, "\xEF\xBF\xBD\xEF\xBF\xBD");
        expect_plain_lines(out, 2);
        free(out);
        free(err);
        char source[64];
        snprintf(source, sizeof source, "The ball%sis blue", separators[i]);
        assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", model, "--align", source), 0);
        assert_null(strstr(out, separators[i]));
        expect_contains(out, "source:      The ball\xEF\xBF\xBDis blue\n");
        free(out);
        free(err);
        remove_tree(model);
        free(model);
    }
}

// Error messages quote what the user typed: `attention --explain TOKEN` with
// an unknown token echoed it raw, so that an ESC in it reached the terminal
// as an escape sequence and a newline split the one-line error; so did the
// value of a bad flag and a file's name.  Every message is now made
// printable.
static void error_messages_never_carry_control_characters(void **state) {
    (void)state;
    const char *hostile = "\x1B]0;pwned\x07\x1B[31mred\nsecond line\xE2\x80\xA8";
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--explain", hostile,
                         "The ball is blue"), 1);
    expect_contains(err, "azul: error: --explain: no query token '\xEF\xBF\xBD]0;pwned\xEF\xBF\xBD");
    expect_plain_lines(err, 1);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", hostile,
                         "The ball is blue"), 2);
    expect_contains(err, "azul: error: --format must be");
    expect_plain_lines(err, 1);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "translate", "--model", toy_model_dir(), hostile), 1);
    expect_contains(err, "azul: error: cannot open ");
    expect_plain_lines(err, 1);
    free(out);
    free(err);
}

// `azul tokenize` echoed the text it was given (from a file, say) raw on its
// "text:" line, ESC and tab included.
static void tokenize_never_echoes_control_characters(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN("the \x1B[31mcat\tsat\xE2\x80\xA8\n", &out, &err, "tokenize", "--model",
                         toy_model_dir()), 0);
    expect_contains(out, "text:   the \xEF\xBF\xBD[31mcat\xEF\xBF\xBDsat\xEF\xBF\xBD\n");
    expect_plain_lines(out, 3);  // text, tokens, ids
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "tokenize", "--model", toy_model_dir(), "a\x1B]0;x\x07b"), 0);
    expect_plain_lines(out, 3);
    free(out);
    free(err);
}

// ---------------------------------------------------------------- abusive configs

// A valid config with one head per channel and 65,536 positions asks, for one
// long line, for H·S² floats per attention: the toy model's weights fit it
// (the heads split the same matrices) and it used to load, to be OOM-killed
// on a long line.  It is refused at load time, naming the bound.
static void a_config_whose_sentence_needs_absurd_memory_is_refused(void **state) {
    (void)state;
    ModelImage image = read_toy_model();
    set_config(&image, "n_heads", 64);
    set_config(&image, "max_len", 65536);
    char *model = write_model(&image);
    free_model_image(&image);
    char *out, *err;
    assert_int_equal(RUN("The ball is blue\n", &out, &err, "translate", "--model", model), 1);
    expect_contains(err, "azul: error: ");
    expect_contains(err, "/model.safetensors: model config: one sentence of max_len 65536 tokens needs "
                         "about 2048.3 GiB of activations (64 heads × 65536² attention weights, twice); "
                         "azul refuses more than 4 GiB: lower max_len or n_heads");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", model, "The ball is blue"), 1);
    expect_contains(err, "azul refuses more than 4 GiB");
    free(out); free(err);
    remove_tree(model);
    free(model);
}

// Issue 11: the tokenizers inside a model were parsed whole, whatever their
// size (up to the header's 100 MiB, 4 GB of cJSON nodes).  Now their JSON
// may hold 8 values per id of the config's vocabularies and 1,000 more:
// exactly that many is parsed (and refused as not tokenizers), one more is
// refused unparsed, naming the limit.
static void a_model_s_tokenizers_at_their_value_limit(void **state) {
    (void)state;
    const ModelConfig *c = &toy_translator()->model.config;
    const size_t limit = tokenizer_pair_max_json_values(c->src_vocab, c->tgt_vocab);
    assert_int_equal(limit, 8 * (size_t)(c->src_vocab + c->tgt_vocab) + 1000);
    for (size_t values = limit; values <= limit + 1; values++) {
        char *dense = malloc(2 * values + 1);  // "[0,0,...]": the array and values - 1 zeros
        assert_non_null(dense);
        memcpy(dense, "[0", 2);
        for (size_t i = 1; i < values - 1; i++) memcpy(dense + 2 * i, ",0", 2);
        memcpy(dense + 2 * (values - 1), "]", 2);
        ModelImage image = read_toy_model();
        cJSON *metadata = cJSON_GetObjectItemCaseSensitive(image.header, "__metadata__");
        cJSON_ReplaceItemInObjectCaseSensitive(metadata, "tokenizers", cJSON_CreateString(dense));
        char *model = write_model(&image);
        free_model_image(&image);
        free(dense);
        char *out, *err, expected[96];
        assert_int_equal(RUN("The ball is blue\n", &out, &err, "translate", "--model", model), 1);
        snprintf(expected, sizeof expected, "metadata \"tokenizers\" holds more than the limit of %zu JSON values",
                 limit);
        if (values > limit) expect_contains(err, expected);
        else expect_contains(err, "not a pair of azul tokenizers");
        free(out);
        free(err);
        remove_tree(model);
        free(model);
    }
}

// Limits (README), through the commands: the toy model's weights with one
// head per channel, at the largest max_len whose sentence needs at most
// 4 GiB of activations, translates; at one more it is refused.  A
// vocabulary one over 4,194,304 is refused by the config's range check; at
// exactly that size the config passes, and only the weights (sized for the
// toy's vocabulary) are refused.
static void model_configs_at_their_limits_through_the_commands(void **state) {
    (void)state;
    ModelConfig c = toy_translator()->model.config;
    c.n_heads = 64;
    c.max_len = 2;
    while (model_config_sentence_bytes(&c) <= (double)MODEL_MAX_SENTENCE_GIB * (1 << 30)) c.max_len++;
    const int largest = c.max_len - 1;
    for (int over = 0; over <= 1; over++) {
        ModelImage image = read_toy_model();
        set_config(&image, "n_heads", 64);
        set_config(&image, "max_len", largest + over);
        char *model = write_model(&image), *out, *err;
        free_model_image(&image);
        assert_int_equal(RUN("The ball is blue\n", &out, &err, "translate", "--model", model, "--beam", "1"), over);
        if (over) expect_contains(err, "azul refuses more than 4 GiB: lower max_len or n_heads");
        else assert_true(strlen(out) > 1);
        free(out);
        free(err);
        remove_tree(model);
        free(model);

        image = read_toy_model();
        set_config(&image, "src_vocab", (1 << 22) + over);
        model = write_model(&image);
        free_model_image(&image);
        assert_int_equal(RUN("The ball is blue\n", &out, &err, "translate", "--model", model), 1);
        if (over) expect_contains(err, "model config: src_vocab = 4194305 is outside 5..4194304");
        else assert_null(strstr(err, "outside"));
        free(out);
        free(err);
        remove_tree(model);
        free(model);
    }
}

// ---------------------------------------------------------------- attention --align

// The alignment used to tokenize the translation's text again and take that
// count as its length; but the attention has rows only for the tokens
// generated.  Byte tokens 0xC3 (alone, invalid UTF-8: each decodes to U+FFFD,
// which tokenizes as three bytes) and ' ' (a byte token starts no word, but a
// space in the text does) made it read past the attention (ASan:
// heap-buffer-overflow) and align words that were never generated.
static void the_alignment_follows_the_generated_tokens(void **state) {
    (void)state;
    char *model = model_that_says(4 + 0xC3, 4 + ' ', 0);
    const char *sentences[] = {"The ball is blue", "The cat", "The black cat drank the milk"};
    for (size_t i = 0; i < sizeof sentences / sizeof sentences[0]; i++) {
        char *out, *err;
        assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", model, "--align", sentences[i]), 0);
        // every generated token is a byte: one target word, so one pair "S-0"
        const char *pairs = strstr(out, "\n\n");
        assert_non_null(pairs);
        const char *line = pairs + 2;
        size_t length = strcspn(line, "\n"), digits = strspn(line, "0123456789");
        if (digits == 0 || length != digits + 2 || strncmp(line + digits, "-0", 2) != 0) {
            fail_msg("%s: expected one pair, got:\n%s", sentences[i], out);
        }
        free(out);
        free(err);
    }
    remove_tree(model);
    free(model);
}

// ---------------------------------------------------------------- logits that are not numbers

// Finite but huge output weights load fine, and overflow the logits to ±inf
// and NaN.  Greedy decoding then picked an arbitrary token (NaN compares
// false) and beam search ranked NaN scores; the translation was garbage, or
// empty, without a word.  Now both searches refuse the step.
static void logits_that_are_not_finite_are_refused(void **state) {
    (void)state;
    ModelImage image = read_toy_model();
    size_t n;
    float *w = tensor_floats(&image, "out.weight", &n);
    // ±3e38, still finite (the file loads), but a sum of such products overflows
    for (size_t i = 0; i < n; i++) w[i] = w[i] > 0 ? 3e38f : -3e38f;
    char *model = write_model(&image);
    free_model_image(&image);
    const char *why = "the model's scores for target token 1 are not finite numbers (NaN or infinite "
                      "logits): its weights are damaged or too large";
    for (int beam = 1; beam <= 4; beam += 3) {
        char beam_text[8], *out, *err;
        snprintf(beam_text, sizeof beam_text, "%d", beam);
        // no line could be translated: the command fails
        assert_int_equal(RUN("The ball is blue\nThe cat\n", &out, &err, "translate", "--model", model,
                             "--beam", beam_text), 1);
        assert_string_equal(out, "\n\n");  // one line out per line in, each left empty
        expect_contains(err, "azul: warning: <stdin>:1: ");
        expect_contains(err, "azul: warning: <stdin>:2: ");
        expect_contains(err, why);
        expect_contains(err, "azul: error: <stdin>: none of its 2 non-blank lines could be translated");
        free(out);
        free(err);
    }
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", model, "The ball is blue"), 1);
    expect_contains(err, "azul: error: ");
    expect_contains(err, why);
    free(out);
    free(err);
    remove_tree(model);
    free(model);
}

// ---------------------------------------------------------------- sentence length

// The toy model with its config's max_len set; returns the model's directory.
static char *model_with_max_len(int max_len) {
    ModelImage image = read_toy_model();
    set_config(&image, "max_len", max_len);  // positions are computed, not stored: any max_len loads
    char *dir = write_model(&image);
    free_model_image(&image);
    return dir;
}

// Limits (README): a sentence to translate or inspect has at most the
// model's max_len tokens, <eos> included, and so has --target.  Exactly
// max_len is translated and inspected; one more is refused with both numbers
// (translate warns and leaves the line empty, attention fails).
static void a_sentence_of_exactly_max_len_tokens_is_taken(void **state) {
    (void)state;
    Translator *t = toy_translator();
    const char *sentence = "The black cat drank the milk", *target = "la leche la leche la leche la leche";
    int32_t *ids = NULL;
    Error err;
    assert_int_equal(translator_encode_source(t, sentence, &ids, &err), 0);
    const int n = (int)arrlen(ids);  // <eos> included
    arrsetlen(ids, 0);
    assert_int_equal(tokenizer_encode(&t->tokenizers.target, target, strlen(target), &ids, &err), 0);
    const int m = (int)arrlen(ids) + 1;  // the target with <eos>
    arrfree(ids);
    assert_true(n < m);  // so that the source fits either model of the --target case
    char input[64], expected[160], *out, *err_text;
    snprintf(input, sizeof input, "%s\n", sentence);
    for (int over = 0; over <= 1; over++) {
        char *model = model_with_max_len(n - over);
        snprintf(expected, sizeof expected, "too long: %d tokens, the model takes at most %d", n, n - over);
        // the one line refused: the command fails
        assert_int_equal(RUN(input, &out, &err_text, "translate", "--model", model, "--beam", "1"), over);
        if (over) {
            assert_string_equal(out, "\n");
            expect_contains(err_text, "azul: warning: <stdin>:1: ");
            expect_contains(err_text, expected);
        } else {
            assert_true(strlen(out) > 1);
            assert_null(strstr(err_text, "too long"));
        }
        free(out);
        free(err_text);
        assert_int_equal(RUN(NULL, &out, &err_text, "attention", "--model", model, "--align", sentence), over);
        if (over) expect_contains(err_text, expected);
        free(out);
        free(err_text);
        remove_tree(model);
        free(model);

        model = model_with_max_len(m - over);
        snprintf(expected, sizeof expected, "--target is too long: %d tokens, the model takes at most %d", m, m - over);
        assert_int_equal(RUN(NULL, &out, &err_text, "attention", "--model", model, "--target", target, sentence), over);
        if (over) expect_contains(err_text, expected);
        else expect_contains(out, "▁leche");
        free(out);
        free(err_text);
        remove_tree(model);
        free(model);
    }
}

// ---------------------------------------------------------------- the heat map

// Finite but huge weights load fine and overflow the attention's scores:
// softmax then gives NaN, and the coloured heat map indexed its palette with
// lrintf(NaN * 10), far outside it (a crash); the SVG computed 255 - that
// (signed overflow).  Weights outside [0, 1] are clamped; NaN is shown as
// "nan" on a colour of its own.
static void nan_and_out_of_range_weights_draw_safely(void **state) {
    (void)state;
    static char *sources[] = {"▁The", "▁ball", "<eos>"}, *inputs[] = {"<bos>", "▁La"}, *outputs[] = {"▁La", "<eos>"};
    float weights[] = {NAN, 0.5f, -INFINITY, INFINITY, 1e30f, -3.0f};  // (H 1, T 2, S 3)
    float *layer[] = {weights};
    AttentionMaps maps = {.source_tokens = sources, .target_inputs = inputs, .target_outputs = outputs,
                          .S = 3, .T = 2, .n_layers = {0, 0, 1}, .H = 1, .C = 4,
                          .translation = "La"};
    maps.weights[ATTENTION_CROSS] = layer;
    for (int head = 0; head > HEAD_ALL_AND_MEAN; head = head == 0 ? HEAD_MEAN : HEAD_ALL_AND_MEAN) {
        AttentionSelection sel = {1u << ATTENTION_CROSS, LAYER_LAST, head};
        char *text = NULL, *svg = NULL;
        size_t text_length, svg_length;
        FILE *out = open_memstream(&text, &text_length);
        Error err;
        assert_int_equal(render_attention_text(out, &maps, &sel, true, &err), 0);
        fclose(out);
        expect_contains(text, "\033[48;5;196m\033[38;5;231m  nan\033[0m");  // NaN: white on red
        expect_contains(text, "\033[48;5;21m\033[38;5;231m  inf\033[0m");   // above 1: the darkest
        expect_contains(text, "\033[48;5;231m\033[38;5;16m -inf\033[0m");   // below 0: the lightest
        out = open_memstream(&svg, &svg_length);
        assert_int_equal(render_attention_svg(out, &maps, &sel, &err), 0);
        fclose(out);
        expect_contains(svg, "fill=\"rgb(255,0,0)\" stroke=\"#eee\"><title>nan</title>");
        expect_contains(svg, "fill=\"rgb(0,0,255)\" stroke=\"#eee\"><title>inf</title>");
        expect_contains(svg, "fill=\"rgb(255,255,255)\" stroke=\"#eee\"><title>-3.0000</title>");
        free(text);
        free(svg);
    }
}

// ---------------------------------------------------------------- memory that runs out

// Translating, with alignments, greedily and with beams: each allocation azul
// makes fails in turn (the n-th, for n = 0, 1, ... until none is left to
// fail).  Each time it must end in an "out of memory" error, for the batch or
// for a sentence, never in a crash; under `make sanitize`, without a leak.
static void translating_survives_every_failed_allocation(void **state) {
    (void)state;
    Translator *t = toy_translator();
    const char *sentences[] = {"The ball is blue", "The black cat drank the milk", "The cat"};
    enum { N = 3, BEST = 2 };
    for (int beam = 1; beam <= 3; beam += 2) {
        SearchOptions search = {beam, 1.0f, beam > 1 ? BEST : 1, true, 2, SEARCH_NO_DEADLINE};
        long n = 0;
        for (bool failed = true; failed; n++) {
            Translation out[N * BEST];
            char *problems[N];
            Error err;
            fail_allocation_after(n);
            int status = translator_translate(t, &search, sentences, N, out, problems, &err);
            failed = allocation_failed();
            if (status < 0) {
                expect_contains(err.message, "out of memory");
                continue;
            }
            for (int i = 0; i < N; i++) {
                if (problems[i]) expect_contains(problems[i], "out of memory");
                free(problems[i]);
            }
            for (int i = 0; i < N * search.n_best; i++) translation_free(&out[i]);
            assert_true(failed || status == 0);
        }
        assert_true(n > 10);  // the allocations were really there to fail
    }
}

// The attention maps of a greedy translation, and their alignment.
static void inspecting_survives_every_failed_allocation(void **state) {
    (void)state;
    Translator *t = toy_translator();
    long n = 0;
    for (bool failed = true; failed; n++) {
        AttentionMaps maps;
        Error err;
        fail_allocation_after(n);
        int status = attention_maps_compute(&maps, t, "The black cat drank the milk", NULL, &err);
        if (status == 0) {
            Hypothesis h = {maps.target_ids, maps.T - 1, 0, 0, calloc((size_t)maps.T * maps.S, sizeof(float)), maps.S};
            int *source_word = NULL;
            if (h.attention) {
                int words = align_words(&t->tokenizers.source, maps.source_ids, maps.S - 1,
                                        &t->tokenizers.target, &h, &source_word, &err);
                char *pairs = words < 0 ? NULL : alignment_pharaoh(source_word, words);
                if (words < 0) expect_contains(err.message, "out of memory");
                free(pairs);
            }
            free(source_word);
            free(h.attention);
            attention_maps_free(&maps);
        }
        failed = allocation_failed();
        if (status < 0) expect_contains(err.message, "out of memory");
    }
    assert_true(n > 10);
}

// The renderers, each called the same way.
typedef int (*Renderer)(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel, Error *err);
static int text_renderer(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel, Error *err) {
    return render_attention_text(out, maps, sel, false, err);
}
static int json_renderer(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel, Error *err) {
    return render_attention_json(out, maps, sel, "The cat", err);
}
static int html_renderer(FILE *out, const AttentionMaps *maps, const AttentionSelection *sel, Error *err) {
    (void)sel;
    return render_attention_html(out, maps, "The cat", err);
}

// What a renderer wrote (malloc'd), its status in *status.
static char *rendered(Renderer render, const AttentionMaps *maps, const AttentionSelection *sel,
                      int *status, Error *err) {
    char *text = NULL;
    size_t length;
    FILE *out = open_memstream(&text, &length);
    assert_non_null(out);
    *status = render(out, maps, sel, err);
    fclose(out);
    return text;
}

// Every renderer, each allocation it makes (cJSON's too) failing in turn:
// the weights' buffer was used unchecked (a crash), and a failed cJSON node
// was left out of the JSON without a word.  Now each failure is an "out of
// memory" error, and a rendering where nothing failed is the whole one.
static void rendering_survives_every_failed_allocation(void **state) {
    (void)state;
    AttentionMaps maps;
    Error err;
    if (attention_maps_compute(&maps, toy_translator(), "The cat", NULL, &err) < 0) fail_msg("%s", err.message);
    AttentionSelection sel = {7u, LAYER_ALL, HEAD_ALL_AND_MEAN};
    const Renderer renderers[] = {text_renderer, render_attention_csv, json_renderer,
                                  render_attention_svg, html_renderer};
    cJSON_InitHooks(&(cJSON_Hooks){malloc, free});  // the test's malloc is the failing one
    for (size_t r = 0; r < sizeof renderers / sizeof renderers[0]; r++) {
        int status;
        char *whole = rendered(renderers[r], &maps, &sel, &status, &err);
        assert_int_equal(status, 0);
        long n = 0;
        for (bool failed = true; failed; n++) {
            fail_allocation_after(n);
            char *text = rendered(renderers[r], &maps, &sel, &status, &err);
            failed = allocation_failed();
            if (failed) {
                if (status != -1) fail_msg("renderer %zu: allocation %ld failed unnoticed", r, n);
                expect_contains(err.message, "out of memory");
            } else {
                assert_int_equal(status, 0);
                assert_string_equal(text, whole);
            }
            free(text);
        }
        free(whole);
    }
    cJSON_InitHooks(NULL);
    attention_maps_free(&maps);
}

// The tokenizers' saved form, each allocation cJSON makes failing in turn:
// a failed node was left out without a word, so that a tokenizer could be
// saved with tokens or merges missing.  Now the tree is NULL, or whole.
static cJSON *pair_json(const void *pair) { return tokenizer_pair_to_json(pair); }

static void saving_tokenizers_survives_every_failed_allocation(void **state) {
    (void)state;
    const char *sources[] = {"the ball is blue", "the black cat drank the milk", "the cat sees the ball"};
    const char *targets[] = {"la bola es azul", "el gato negro bebió la leche", "el gato ve la bola"};
    for (int joint = 0; joint <= 1; joint++) {
        TokenizerConfig config = {joint ? TOKENIZER_BPE : TOKENIZER_WORD, joint ? 300 : 0, 1, {false}};
        TokenizerPair pair;
        Error err;
        if (tokenizer_pair_learn(&pair, &config, joint, sources, targets, 3, &err) < 0) fail_msg("%s", err.message);
        assert_true(expect_json_whole_or_none(pair_json, &pair) > 20);
        tokenizer_pair_free(&pair);
    }
}

// A training state saved while each allocation (cJSON's too) fails in turn:
// the model's config and the progress dropped a field that failed, and the
// state was saved all the same, replacing the last good one with one that
// cannot be resumed.  Now the save fails and the file stays as it was.
static void saving_a_training_state_survives_every_failed_allocation(void **state) {
    (void)state;
    const ModelConfig c = {20, 20, 8, 2, 1, 1, 16, 8, 0.1f, 0.1f, false, false};
    Model m;
    AdamState adam;
    Error err;
    assert_int_equal(model_build(&m, &c, 3, &err), 0);
    assert_int_equal(adam_state_build(&adam, &m, &err), 0);
    TrainingProgress p = {.step = 5, .epoch = 1, .best = INFINITY};
    cJSON *options = cJSON_CreateObject();
    char *dir = make_temp_dir(), path[4200];
    snprintf(path, sizeof path, "%s/training_state.safetensors", dir);
    assert_int_equal(checkpoint_save(path, &m, &adam, "{}", &p, options, &err), 0);
    size_t length, now_length;
    char *saved = read_whole_file(path, 1 << 24, &length, &err);
    assert_non_null(saved);
    cJSON_InitHooks(&(cJSON_Hooks){malloc, free});  // the test's malloc is the failing one
    long n = 0;
    for (bool failed = true; failed; n++) {
        fail_allocation_after(n);
        int status = checkpoint_save(path, &m, &adam, "{}", &p, options, &err);
        failed = allocation_failed();
        if (failed && status != -1) fail_msg("allocation %ld failed, yet the state was saved", n);
        char *now = read_whole_file(path, 1 << 24, &now_length, &err);
        assert_non_null(now);
        assert_true(now_length == length && memcmp(now, saved, length) == 0);  // the same state, whole
        free(now);
    }
    cJSON_InitHooks(NULL);
    assert_true(n > 20);
    free(saved);
    cJSON_Delete(options);
    adam_state_free(&adam);
    model_free(&m);
    remove_tree(dir);
    free(dir);
}

// BLEU, chrF and the 13a tokenizer, each allocation of eval/bleu.c failing
// in turn: a NULL was used unchecked (a crash).  Now a failure gives -1 (NULL
// from the tokenizer) and a NaN score; a run where nothing failed gives the
// scores of a run without faults.
static void scoring_survives_every_failed_allocation(void **state) {
    (void)state;
    const char *hyps[] = {"The cat sat on the mat.", "a dog &amp; 3-2 barked, ok"};
    const char *ref1[] = {"The cat is on the mat.", "the dog barked"};
    const char *ref2[] = {"A cat sat on a mat!", "a dog &quot;barked&quot;"};
    const char *const *refs[2] = {ref1, ref2};
    BleuScore bleu, b;
    ChrfScore chrf, c;
    assert_int_equal(bleu_corpus_score(hyps, 2, refs, 2, &bleu), 0);
    assert_int_equal(chrf_corpus_score(hyps, 2, refs, 2, &chrf), 0);
    char *tokens = bleu_tokenize_13a(hyps[1]);
    assert_non_null(tokens);
    for (int which = 0; which < 3; which++) {
        long n = 0;
        for (bool failed = true; failed; n++) {
            fail_allocation_after(n);
            int status = 0;
            char *t = NULL;
            if (which == 0) status = bleu_corpus_score(hyps, 2, refs, 2, &b);
            else if (which == 1) status = chrf_corpus_score(hyps, 2, refs, 2, &c);
            else t = bleu_tokenize_13a(hyps[1]);
            failed = allocation_failed();
            if (which == 2) {
                if (failed) assert_null(t);
                else assert_string_equal(t, tokens);
                free(t);
            } else if (failed) {
                assert_int_equal(status, -1);
                assert_true(isnan(which == 0 ? b.score : c.score));
            } else {
                assert_int_equal(status, 0);
                assert_true(which == 0 ? b.score == bleu.score : c.score == chrf.score);
            }
        }
        assert_true(n > 5);  // the allocations were really there to fail
    }
    free(tokens);
}

// ---------------------------------------------------------------- output that cannot be written

// Runs `azul ARGS` through the shell with stdout going to /dev/full; returns
// its exit status and what it wrote to stderr (malloc'd).
static int run_into_full_disk(const char *args, const char *stdin_file, char **err) {
    char command[8192];
    snprintf(command, sizeof command, "%s %s < %s 2>&1 >/dev/full", AZUL_BIN_PATH, args,
             stdin_file ? stdin_file : "/dev/null");
    FILE *p = popen(command, "r");
    assert_non_null(p);
    size_t capacity = 1 << 16, n = 0;
    *err = malloc(capacity);
    for (size_t got; (got = fread(*err + n, 1, capacity - 1 - n, p)) > 0;) n += got;
    (*err)[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// `azul translate FILE > /dev/full` used to succeed, its output lost.
static void a_failed_write_to_stdout_is_an_error(void **state) {
    (void)state;
    char *dir = make_temp_dir();
    char *input = write_temp_file(dir, "in.txt", "The ball is blue\nThe cat\n", 25);
    char args[4096];
    const char *cases[][2] = {
        {"translate --model %s %s", NULL},
        {"translate --model %s", "stdin"},
        {"translate --model %s --interactive", "stdin"},
        {"attention --model %s 'The ball is blue'", NULL},
        {"attention --model %s --align 'The ball is blue'", NULL},
        {"attention --model %s --format json 'The ball is blue'", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, cases[i][0], toy_model_dir(), input);
        char *err;
        int status = run_into_full_disk(args, cases[i][1] ? input : NULL, &err);
        if (status != 1 || !strstr(err, "azul: error: cannot write to standard output: No space left on device")) {
            fail_msg("azul %s > /dev/full: status %d, stderr:\n%s", args, status, err);
        }
        free(err);
    }
    remove_tree(dir);
    free(dir);
    free(input);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(a_colon_alone_at_the_prompt_is_answered),
    cmocka_unit_test(translations_never_carry_control_characters),
    cmocka_unit_test(translations_never_carry_line_separators),
    cmocka_unit_test(error_messages_never_carry_control_characters),
    cmocka_unit_test(tokenize_never_echoes_control_characters),
    cmocka_unit_test(a_failed_write_to_stdout_is_an_error),
    cmocka_unit_test(the_alignment_follows_the_generated_tokens),
    cmocka_unit_test(nan_and_out_of_range_weights_draw_safely),
    cmocka_unit_test(logits_that_are_not_finite_are_refused),
    cmocka_unit_test(a_sentence_of_exactly_max_len_tokens_is_taken),
    cmocka_unit_test(a_config_whose_sentence_needs_absurd_memory_is_refused),
    cmocka_unit_test(model_configs_at_their_limits_through_the_commands),
    cmocka_unit_test(a_model_s_tokenizers_at_their_value_limit),
    cmocka_unit_test(translating_survives_every_failed_allocation),
    cmocka_unit_test(inspecting_survives_every_failed_allocation),
    cmocka_unit_test(scoring_survives_every_failed_allocation),
    cmocka_unit_test(rendering_survives_every_failed_allocation),
    cmocka_unit_test(saving_tokenizers_survives_every_failed_allocation),
    cmocka_unit_test(saving_a_training_state_survives_every_failed_allocation),
};
TEST_GROUP(hostile_input_tests, tests);
