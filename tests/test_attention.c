// azul attention: what it exports must be the model's attention, faithfully.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "infer/translator.h"
#include "inspect/attention_history.h"
#include "inspect/attention_render.h"
#include "inspect/attention_view.h"
#include "tests/test.h"

static cJSON *attention_command_json(const char *sentence, const char *extra) {
    char *out, *err;
    const char *args[10] = {"attention", "--model", toy_model_dir(), "--format", "json", sentence, NULL};
    if (extra) { args[6] = extra; args[7] = NULL; }
    int status = run_azul(args, NULL, &out, &err);
    if (status != 0) fail_msg("azul attention failed:\n%s", err);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    free(out);
    free(err);
    return j;
}

static void every_exported_row_sums_to_one_and_the_future_is_empty(void **state) {
    (void)state;
    cJSON *j = attention_command_json("The black cat drank the milk", NULL);
    const cJSON *maps = cJSON_GetObjectItem(j, "attention"), *map;
    int n_maps = 0, kinds_seen[3] = {0};
    cJSON_ArrayForEach(map, maps) {
        const char *kind = cJSON_GetObjectItem(map, "kind")->valuestring;
        const cJSON *weights = cJSON_GetObjectItem(map, "weights"), *row;
        int rows = cJSON_GetArraySize(cJSON_GetObjectItem(map, "rows"));
        int cols = cJSON_GetArraySize(cJSON_GetObjectItem(map, "cols"));
        assert_int_equal(cJSON_GetArraySize(weights), rows);
        int i = 0;
        cJSON_ArrayForEach(row, weights) {
            assert_int_equal(cJSON_GetArraySize(row), cols);
            double sum = 0;
            int jcol = 0;
            const cJSON *w;
            cJSON_ArrayForEach(w, row) {
                assert_true(w->valuedouble >= 0);
                if (strcmp(kind, "decoder") == 0 && jcol > i) assert_true(w->valuedouble == 0.0);
                sum += w->valuedouble;
                jcol++;
            }
            if (fabs(sum - 1.0) > 1e-4) fail_msg("%s map row %d sums to %.6f", kind, i, sum);
            i++;
        }
        kinds_seen[strcmp(kind, "encoder") == 0 ? 0 : strcmp(kind, "decoder") == 0 ? 1 : 2]++;
        n_maps++;
    }
    // toy preset: 2 layers × (4 heads + their mean) for each of the three kinds
    assert_int_equal(n_maps, 3 * 2 * 5);
    assert_int_equal(kinds_seen[0], 10);
    assert_string_equal(cJSON_GetObjectItem(j, "translation")->valuestring, "El gato negro bebió la leche");
    cJSON_Delete(j);
}

static void padding_gets_no_attention(void **state) {
    (void)state;
    Translator t;
    Error err;
    assert_int_equal(translator_load(&t, toy_model_dir(), &err), 0);
    // two sentences of different lengths in one batch: the shorter is padded
    int32_t *a = NULL, *b = NULL;
    assert_int_equal(translator_encode_source(&t, "The black cat drank the milk", &a, &err), 0);
    assert_int_equal(translator_encode_source(&t, "The ball", &b, &err), 0);
    int S = (int)arrlen(a), Sb = (int)arrlen(b);
    int32_t *src = calloc(2 * (size_t)S, sizeof *src);
    memcpy(src, a, (size_t)S * sizeof *src);
    memcpy(src + S, b, (size_t)Sb * sizeof *src);
    int32_t tgt_in[2 * 3] = {TOKEN_BOS, 10, 11, TOKEN_BOS, 12, 0};
    Workspace ws;
    workspace_init(&ws, WORKSPACE_INSPECTING);
    assert_int_equal(model_forward(&t.model, &ws, src, tgt_in, NULL, 2, S, 3, false, 0, &err), 0);
    const int H = t.model.config.n_heads;
    for (int l = 0; l < t.model.config.n_encoder_layers; l++) {
        const float *w = model_attention_view(&ws, ATTENTION_ENCODER, l).weights;
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < S; i++) {
                for (int j = Sb; j < S; j++) assert_true(w[(((size_t)1 * H + h) * S + i) * S + j] == 0.0f);
            }
        }
    }
    for (int l = 0; l < t.model.config.n_decoder_layers; l++) {
        const float *w = model_attention_view(&ws, ATTENTION_CROSS, l).weights;
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < 3; i++) {
                for (int j = Sb; j < S; j++) assert_true(w[(((size_t)1 * H + h) * 3 + i) * S + j] == 0.0f);
            }
        }
        // and the padded target position is no key for the decoder's self-attention
        const float *d = model_attention_view(&ws, ATTENTION_DECODER, l).weights;
        for (int h = 0; h < H; h++) assert_true(d[(((size_t)1 * H + h) * 3 + 2) * 3 + 2] == 0.0f);
    }
    free(src);
    arrfree(a);
    arrfree(b);
    workspace_free(&ws);
    translator_free(&t);
}

static void the_explanation_recomputes_its_weights(void **state) {
    (void)state;
    char *out, *err;
    int status = RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--explain", "bola",
                     "--head", "1", "The ball is blue");
    if (status != 0) fail_msg("%s", err);
    expect_contains(out, "the query of \"▁bola\"");
    // the table rows: key, q·k, scaled, weight — softmax(scaled) must give the weights
    double scaled[16], weight[16];
    int n = 0;
    const char *p = strstr(out, "weight\n");
    assert_non_null(p);
    p += 7;
    for (char line[256]; n < 16 && sscanf(p, "%255[^\n]\n", line) == 1 && strstr(line, "   "); ) {
        char key[64];
        double dot;
        if (sscanf(line, " %63s %lf %lf %lf", key, &dot, &scaled[n], &weight[n]) != 4) break;
        assert_true(fabs(dot * 0.25 - scaled[n]) < 1e-5);  // 1/√16 for the toy preset's heads
        n++;
        p = strchr(p, '\n') + 1;
    }
    assert_int_equal(n, 5);  // ▁The ▁ball ▁is ▁blue <eos>
    double max = scaled[0], sum = 0;
    for (int i = 1; i < n; i++) max = fmax(max, scaled[i]);
    for (int i = 0; i < n; i++) sum += exp(scaled[i] - max);
    for (int i = 0; i < n; i++) {
        if (fabs(exp(scaled[i] - max) / sum - weight[i]) > 1e-5) {
            fail_msg("key %d: softmax gives %.6f, shown %.6f", i, exp(scaled[i] - max) / sum, weight[i]);
        }
    }
    expect_contains(out, "differs by at most");
    expect_contains(out, "\"▁bola\" looks most at");
    free(out);
    free(err);
}

static void cross_attention_aligns_the_toy_sentences_word_by_word(void **state) {
    (void)state;
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--align", "The ball is blue"), 0);
    expect_contains(out, "ball→bola");
    expect_contains(out, "is→es");
    expect_contains(out, "blue→azul");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--align",
                         "The black cat drank the milk"), 0);
    expect_contains(out, "black→negro");
    expect_contains(out, "drank→bebió");
    expect_contains(out, "milk→leche");
    free(out);
    free(err);
}

// A small well-formedness check: tags nest and close, attributes are quoted,
// '&' starts one of the five entities, '<' never appears in text.
static void expect_well_formed_xml(const char *s) {
    const char *stack[256];
    size_t lengths[256];
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&') {
            const char *ok[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            bool found = false;
            for (int i = 0; i < 5; i++) found |= strncmp(p, ok[i], strlen(ok[i])) == 0;
            if (!found) fail_msg("bad entity at: %.30s", p);
        }
        if (*p != '<') continue;
        if (p[1] == '?') { p = strstr(p, "?>") + 1; continue; }
        const char *end = strchr(p, '>');
        assert_non_null(end);
        for (const char *q = p + 1; q < end; q++) {  // quoted attribute values
            if (*q == '=') {
                assert_true(q[1] == '"');
                q = strchr(q + 2, '"');
                assert_true(q && q < end);
            }
        }
        if (p[1] == '/') {
            assert_true(depth > 0);
            depth--;
            if (strncmp(p + 2, stack[depth], lengths[depth]) != 0) fail_msg("mismatched close at: %.30s", p);
        } else if (end[-1] != '/') {
            const char *name = p + 1;
            size_t n = strcspn(name, " >/\n");
            assert_true(depth < 256);
            stack[depth] = name;
            lengths[depth++] = n;
        }
        p = end;
    }
    assert_int_equal(depth, 0);
}

static void svg_is_well_formed_and_csv_complete(void **state) {
    (void)state;
    char *out, *err;
    // "<" in the source makes sure labels are escaped
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", "svg",
                         "The ball & the <cat> are blue"), 0);
    expect_contains(out, "<svg");
    expect_well_formed_xml(out);
    expect_contains(out, "&lt;eos&gt;");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", "csv",
                         "--kind", "cross", "--layer", "1", "--head", "all", "The ball is blue"), 0);
    expect_contains(out, "kind,layer,head,row,row_token,col,col_token,weight\n");
    expect_contains(out, "cross,1,0,1,\"▁bola\",1,\"▁ball\",");
    int lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 1 + 4 * 5 * 5);  // header + 4 heads × 5 rows × 5 columns
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--layer", "7", "x"), 2);
    expect_contains(err, "--layer 7: the model has 2 layers");
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", "png", "x"), 2);
    expect_contains(err, "--format must be");
    free(out);
    free(err);
}

// The page puts the view's code inside <script> as it is: a "</" in it
// could end the script early, so there must be none.
static void the_view_code_can_sit_inside_a_script_element(void **state) {
    (void)state;
    assert_null(strstr(attention_view_js, "</"));
    assert_non_null(strstr(attention_view_js, "function attentionView("));
}


// ---------------------------------------------------------------- the history (--watch)

static int history_steps(const cJSON *h) {
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(h, "steps"));
}

static double history_step(const cJSON *h, int i) {
    const cJSON *entry = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(h, "steps"), i);
    return cJSON_GetObjectItemCaseSensitive(entry, "step")->valuedouble;
}

// Each record adds a step with the model's maps of every watched sentence
// (what `azul attention --format json` would say); recording a step again,
// as a run resumed from an earlier checkpoint does, drops the steps from it
// on; the sentences stay the ones the history started with.
static void the_history_keeps_each_validation_and_a_resume_replays_later_ones(void **state) {
    (void)state;
    Translator t;
    Error err;
    assert_int_equal(translator_load(&t, toy_model_dir(), &err), 0);
    char *dir = make_temp_dir(), *path = join(dir, ATTENTION_HISTORY_FILE);
    const char *watched[] = {"The ball is blue", "The black cat drank the milk"};
    for (long step = 10; step <= 30; step += 10) {
        assert_int_equal(attention_history_record(path, &t.model, &t.tokenizers, watched, 2, step, 1.0 / (double)step,
                                                  (double)step, &err), 0);
    }
    cJSON *h = attention_history_load(path, &err);
    assert_non_null(h);
    assert_int_equal(history_steps(h), 3);
    const cJSON *last = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(h, "steps"), 2);
    const cJSON *maps = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(last, "maps"), 1);
    AttentionMaps a;
    assert_int_equal(attention_maps_compute(&a, &t, watched[1], NULL, &err), 0);
    const AttentionSelection every = {7u, LAYER_ALL, HEAD_ALL};
    cJSON *expected = attention_json(&a, &every, watched[1]);
    assert_true(cJSON_Compare(maps, expected, true));
    cJSON_Delete(expected);
    attention_maps_free(&a);
    cJSON_Delete(h);
    const char *other[] = {"The dog"};
    assert_int_equal(attention_history_record(path, &t.model, &t.tokenizers, other, 1, 20, 0.5, 2, &err), 0);
    h = attention_history_load(path, &err);
    assert_int_equal(history_steps(h), 2);
    assert_true(history_step(h, 0) == 10 && history_step(h, 1) == 20);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(h, "sentences"), 1)->valuestring,
                        watched[1]);
    cJSON_Delete(h);
    // a file that is not a history is refused, naming it
    const char *not_history = "{\"format\": \"azul-attention-history\", \"steps\": 3}";
    char *bad = write_temp_file(dir, "bad.json", not_history, strlen(not_history));
    assert_null(attention_history_load(bad, &err));
    expect_contains(err.message, "bad.json: not an attention history");
    free(bad);
    translator_free(&t);
    remove_tree(dir);
    free(dir);
    free(path);
}

// The mean entropy of the rows of the last layer's cross-attention (all
// heads) at history entry i: how spread out each target word's attention is.
static double cross_entropy_at(const cJSON *h, int i) {
    const cJSON *entry = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(h, "steps"), i), *m;
    const cJSON *maps = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(entry, "maps"), 0);
    double sum = 0;
    int rows = 0;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(maps, "attention")) {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(m, "kind")->valuestring, "cross") != 0 ||
            cJSON_GetObjectItemCaseSensitive(m, "layer")->valueint != 1) {
            continue;
        }
        const cJSON *row, *w;
        cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(m, "weights")) {
            cJSON_ArrayForEach(w, row) if (w->valuedouble > 0) sum -= w->valuedouble * log(w->valuedouble);
            rows++;
        }
    }
    return sum / rows;
}

// A real run watching the seed sentence: a step per validation, and its
// cross-attention goes from nearly uniform to sharp; the history page
// carries it; a sentence the model cannot read is refused before training.
static void watched_attention_sharpens_as_the_model_learns(void **state) {
    (void)state;
    char *dir = make_temp_dir(), *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--valid",
                         "data/toy-en-es/dev.tsv", "--out", dir, "--steps", "160", "--valid-every", "20",
                         "--threads", "1", "--watch", "The ball is blue"), 0);
    free(out);
    free(err);
    char *path = join(dir, ATTENTION_HISTORY_FILE);
    Error e;
    cJSON *h = attention_history_load(path, &e);
    assert_non_null(h);
    assert_int_equal(history_steps(h), 8);
    double first = cross_entropy_at(h, 0), last = cross_entropy_at(h, 7);
    printf("  cross-attention entropy: %.3f at step 20, %.3f at step 160 (uniform over 5 keys: %.3f)\n", first,
           last, log(5.0));
    assert_true(first > 1.2 && last < 0.8 * first);
    cJSON_Delete(h);
    char *page = join(dir, "history.html");
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--format", "html", "--history", dir, "-o", page), 0);
    char *html = slurp(page, NULL);
    expect_contains(html, "historySlider(");
    expect_contains(html, "\"sentences\":[\"The ball is blue\"]");
    free(html);
    free(out);
    free(err);
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--format", "json", "--history", dir), 2);
    expect_contains(err, "--history needs --format html");
    free(out);
    free(err);
    char *too_long = calloc(4000, 1);
    for (int i = 0; i < 700; i++) strcat(too_long, "blue ");
    char *fresh = join(dir, "fresh");
    assert_int_equal(RUN(NULL, &out, &err, "train", "--corpus", "data/toy-en-es/train.tsv", "--out", fresh,
                         "--steps", "1", "--watch", too_long), 2);
    free(fresh);
    expect_contains(err, "--watch");
    expect_contains(err, "too long");
    free(too_long);
    free(out);
    free(err);
    free(page);
    free(path);
    remove_tree(dir);
    free(dir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_exported_row_sums_to_one_and_the_future_is_empty),
    cmocka_unit_test(padding_gets_no_attention),
    cmocka_unit_test(the_explanation_recomputes_its_weights),
    cmocka_unit_test(cross_attention_aligns_the_toy_sentences_word_by_word),
    cmocka_unit_test(svg_is_well_formed_and_csv_complete),
    cmocka_unit_test(the_view_code_can_sit_inside_a_script_element),
    cmocka_unit_test(the_history_keeps_each_validation_and_a_resume_replays_later_ones),
    cmocka_unit_test(watched_attention_sharpens_as_the_model_learns),
};
TEST_GROUP(attention_tests, tests);

// The HTML page in headless Chromium: it loads without a script error, shows
// one thumbnail per layer × head, and leaves a screenshot in build/test-output.
static void the_html_page_works_in_a_browser(void **state) {
    (void)state;
    const char *chromium = find_chromium();
    char *dir = make_temp_dir();
    char page[512], dom[512], log[512], command[4096];
    snprintf(page, sizeof page, "%s/attention.html", dir);
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "attention", "--model", toy_model_dir(), "--format", "html",
                         "-o", page, "The black cat drank the milk"), 0);
    free(out);
    free(err);
    mkdir("build", 0755);
    mkdir("build/test-output", 0755);
    snprintf(dom, sizeof dom, "%s/dom.html", dir);
    snprintf(log, sizeof log, "%s/console.log", dir);
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                        "--disable-background-networking --disable-component-update --disable-sync "
                        "--enable-logging=stderr --v=0";
    snprintf(command, sizeof command,
             "%s %s --user-data-dir=%s/profile --virtual-time-budget=5000 --dump-dom file://%s > %s 2> %s",
             chromium, flags, dir, page, dom, log);
    assert_int_equal(system(command), 0);
    snprintf(command, sizeof command,
             "%s %s --user-data-dir=%s/profile2 --window-size=1200,1400 --virtual-time-budget=5000 "
             "--screenshot=build/test-output/attention.png file://%s > /dev/null 2>&1",
             chromium, flags, dir, page);
    assert_int_equal(system(command), 0);
    FILE *f = fopen(dom, "r");
    assert_non_null(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    expect_contains(text, "data-ready=\"1\"");
    expect_contains(text, "data-thumbnails=\"8\"");  // cross attention: 2 layers × 4 heads
    if (strstr(text, "data-errors")) fail_msg("the page raised a script error");
    f = fopen(log, "r");
    n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    text[n] = '\0';
    if (f) fclose(f);
    if (strstr(text, "Uncaught")) fail_msg("console error:\n%s", text);
    struct stat st;
    assert_int_equal(stat("build/test-output/attention.png", &st), 0);
    assert_true(st.st_size > 1000);
    printf("  screenshot: build/test-output/attention.png (%lld bytes)\n", (long long)st.st_size);
    remove_tree(dir);
    free(dir);
}

static const char *chromium_missing(void) {
    return find_chromium() ? NULL : "no Chromium (apt-get install chromium) for the HTML page check";
}

static const struct CMUnitTest browser[] = {
    cmocka_unit_test(the_html_page_works_in_a_browser),
};
TEST_GROUP_UNLESS(browser_tests, browser, chromium_missing);
