// Decoding: the cache against recomputation, beam against greedy, and
// azul translate as a user meets it.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stb/stb_ds.h>

#include "infer/next_token.h"
#include "infer/translator.h"
#include "model/model_file.h"
#include "model/safetensors.h"
#include "model/rng.h"
#include "tests/model_fixture.h"
#include "train/corpus.h"
#include "tests/test.h"

// The shared toy model, loaded once for the group.
static const char *toy_dir;
static Translator toy;

static Translator *toy_model(void) {
    if (toy_dir) return &toy;
    toy_dir = toy_model_dir();
    Error e;
    if (translator_load(&toy, toy_dir, &e) < 0) fail_msg("%s", e.message);
    return &toy;
}

static char **dev_sources(size_t *n) {
    Corpus c;
    Error err;
    assert_int_equal(corpus_read(&c, "data/toy-en-es/dev.tsv", NULL, 0, &err), 0);
    *n = corpus_size(&c);
    char **sources = malloc(*n * sizeof *sources);
    for (size_t i = 0; i < *n; i++) sources[i] = strdup(c.pairs[i].source);
    corpus_free(&c);
    return sources;
}

static void incremental_decoding_matches_recomputation(void **state) {
    (void)state;
    Translator *t = toy_model();
    size_t n;
    char **sources = dev_sources(&n);
    for (size_t i = 0; i < n; i++) {
        int32_t *src = NULL, *slow = NULL;
        Error err;
        assert_int_equal(translator_encode_source(t, sources[i], &src, &err), 0);
        int S = (int)arrlen(src);
        double slow_log_prob = reference_greedy(&t->model, src, S, &slow);
        Hypothesis fast;
        assert_int_equal(greedy_translate(&t->model, src, 1, S, &fast, &err), 0);
        assert_int_equal(fast.length, arrlen(slow));
        assert_memory_equal(fast.tokens, slow, (size_t)fast.length * sizeof(int32_t));
        if (fabs(fast.log_prob - slow_log_prob) > 1e-4) {
            fail_msg("%s: log-probability %.6f with the cache, %.6f recomputed", sources[i], fast.log_prob, slow_log_prob);
        }
        hypothesis_free(&fast);
        arrfree(src);
        arrfree(slow);
        free(sources[i]);
    }
    free(sources);
}

// The same for untrained models of both kinds, post-LN and pre-LN with tied
// output, in batches with padding: the cached decoder is the training
// decoder, so every variant must agree to rounding.
static void cached_decoding_matches_recomputation_for_every_variant(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        ModelConfig c = fixture_config(variant, variant, 0.1f);  // dropout: off when decoding
        c.max_len = 24;
        Model m;
        Error err;
        assert_int_equal(model_build(&m, &c, 40 + (uint64_t)variant, &err), 0);
        ExampleBatch b = example_batch(41, c.src_vocab, c.tgt_vocab);
        Hypothesis fast[EXAMPLE_B];
        assert_int_equal(greedy_translate(&m, b.src, EXAMPLE_B, EXAMPLE_S, fast, &err), 0);
        for (int i = 0; i < EXAMPLE_B; i++) {
            int32_t *slow = NULL;
            // alone, with its padding
            double slow_log_prob = reference_greedy(&m, b.src + i * EXAMPLE_S, EXAMPLE_S, &slow);
            assert_int_equal(fast[i].length, arrlen(slow));
            assert_memory_equal(fast[i].tokens, slow, (size_t)fast[i].length * sizeof(int32_t));
            if (fabs(fast[i].log_prob - slow_log_prob) > 1e-4) {
                fail_msg("variant %d, sentence %d: log-probability %.6f cached, %.6f recomputed",
                         variant, i, fast[i].log_prob, slow_log_prob);
            }
            hypothesis_free(&fast[i]);
            arrfree(slow);
        }
        model_free(&m);
    }
}

// A sentence's translation must not depend on the sentences batched with it:
// not through padding, and not through the length limit, which is its own.
// An untrained model babbles up to that limit, which shows it.
static void a_sentence_translates_the_same_alone_and_in_a_batch(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.0f);
    c.max_len = 32;
    Model m;
    Error err;
    assert_int_equal(model_build(&m, &c, 42, &err), 0);
    ExampleBatch b = example_batch(43, c.src_vocab, c.tgt_vocab);  // source lengths 7, 5, 3
    Hypothesis batched[EXAMPLE_B], beamed[EXAMPLE_B];
    assert_int_equal(greedy_translate(&m, b.src, EXAMPLE_B, EXAMPLE_S, batched, &err), 0);
    assert_int_equal(beam_translate(&m, b.src, EXAMPLE_B, EXAMPLE_S, 3, 1.0f, 1, beamed, &err), 0);
    const int lengths[EXAMPLE_B] = {7, 5, 3};
    int longest_short = 0;
    for (int i = 0; i < EXAMPLE_B; i++) {
        Hypothesis alone, alone_beam;
        const int32_t *row = b.src + i * EXAMPLE_S;
        assert_int_equal(greedy_translate(&m, row, 1, lengths[i], &alone, &err), 0);
        assert_int_equal(beam_translate(&m, row, 1, lengths[i], 3, 1.0f, 1, &alone_beam, &err), 0);
        assert_int_equal(batched[i].length, alone.length);
        assert_memory_equal(batched[i].tokens, alone.tokens, (size_t)alone.length * sizeof(int32_t));
        assert_int_equal(beamed[i].length, alone_beam.length);
        assert_memory_equal(beamed[i].tokens, alone_beam.tokens, (size_t)alone_beam.length * sizeof(int32_t));
        if (i == 2) longest_short = alone.length;
        hypothesis_free(&alone);
        hypothesis_free(&alone_beam);
        hypothesis_free(&batched[i]);
        hypothesis_free(&beamed[i]);
    }
    // the short sentence's limit (2 × 3 + 10), not the batch's (2 × 7 + 10)
    assert_true(longest_short <= 16);
    model_free(&m);
}

// The log-softmax normaliser in float, 16 lanes at a time, against the sum in
// double; the argmax takes the lowest id on ties, and never a token a
// translation may not contain.
static void next_token_normaliser_and_argmax_match_the_plain_loops(void **state) {
    (void)state;
    Rng rng;
    rng_seed(&rng, 7);
    const int sizes[] = {4, 5, 19, 20, 35, 8000, 8003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const int V = sizes[i];
        float *x = malloc((size_t)V * sizeof *x);
        for (int spread = 1; spread <= 100; spread *= 10) {
            for (int v = 0; v < V; v++) x[v] = (float)spread * (float)rng_normal(&rng);
            x[0] = x[1] = x[2] = 1000.0f;  // <pad>, <unk>, <bos>: never counted, never chosen
            double max = x[TOKEN_EOS], sum = 0.0;
            int32_t best = TOKEN_EOS;
            for (int v = TOKEN_EOS; v < V; v++) {
                if (x[v] > max) max = x[v];
                if (x[v] > x[best]) best = v;
            }
            for (int v = TOKEN_EOS; v < V; v++) sum += exp((double)x[v] - max);
            double want = max + log(sum), got = next_token_log_normaliser(x, V);
            if (fabs(got - want) > 1e-5 * fmax(1.0, fabs(want))) {
                fail_msg("V %d, spread %d: log normaliser %.7f, in double %.7f", V, spread, got, want);
            }
            assert_int_equal(next_token_argmax(x, V), best);
            x[V - 1] = x[best];  // a tie: the lower id stays
            assert_int_equal(next_token_argmax(x, V), best);
            if (best != V - 1) {
                x[best] = nextafterf(x[best], -INFINITY);  // now V - 1 is alone on top
                assert_int_equal(next_token_argmax(x, V), V - 1);
            }
        }
        free(x);
    }
}

// Rows that go on in the cache, moved or copied (a beam branching), decode
// exactly as the rows they continue: the next step's logits agree bit for bit
// with those of a cache that kept every row in place.
static void kept_rows_decode_as_the_rows_they_continue(void **state) {
    (void)state;
    ModelConfig c = fixture_config(false, false, 0.0f);
    c.max_len = 24;
    Model m;
    Error err;
    assert_int_equal(model_build(&m, &c, 44, &err), 0);
    ExampleBatch b = example_batch(45, c.src_vocab, c.tgt_vocab);
    DecoderCache moved;
    assert_int_equal(decoder_cache_start(&moved, &m, b.src, EXAMPLE_B, EXAMPLE_S, 2, 10, &err), 0);
    int32_t tokens[2 * EXAMPLE_B];
    for (int t = 0; t < 3; t++) {
        for (int r = 0; r < EXAMPLE_B; r++) tokens[r] = t == 0 ? TOKEN_BOS : 5 + 3 * r + t;
        assert_non_null(decoder_cache_step(&moved, &m, tokens, &err));
    }
    // sentence 1 ends; sentence 2 branches in two, sentence 0 goes on
    const int from[4] = {2, 0, 2, 2};
    int at[4];
    decoder_cache_keep(&moved, &m, from, 4, at);
    assert_int_equal(moved.rows, 4);
    for (int i = 0; i < 4; i++) {
        tokens[at[i]] = 7 + i;
        for (int j = 0; j < i; j++) assert_int_not_equal(at[i], at[j]);
    }
    const float *got = decoder_cache_step(&moved, &m, tokens, &err);
    assert_non_null(got);
    const int V = c.tgt_vocab;
    for (int i = 0; i < 4; i++) {
        for (int r = 0; r < EXAMPLE_B; r++) tokens[r] = 7 + i;  // every row fed continuation i's token
        DecoderCache again;
        assert_int_equal(decoder_cache_start(&again, &m, b.src, EXAMPLE_B, EXAMPLE_S, 1, 10, &err), 0);
        for (int t = 0; t < 3; t++) {
            int32_t past[EXAMPLE_B];
            for (int r = 0; r < EXAMPLE_B; r++) past[r] = t == 0 ? TOKEN_BOS : 5 + 3 * r + t;
            assert_non_null(decoder_cache_step(&again, &m, past, &err));
        }
        const float *want = decoder_cache_step(&again, &m, tokens, &err);
        assert_memory_equal(got + (size_t)at[i] * V, want + (size_t)from[i] * V, (size_t)V * sizeof(float));
        decoder_cache_free(&again);
    }
    decoder_cache_free(&moved);
    model_free(&m);
}

static int32_t *encode_batch(Translator *t, char **sources, size_t n, int *S) {
    int32_t **ids = calloc(n, sizeof *ids);
    *S = 1;
    Error err;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(translator_encode_source(t, sources[i], &ids[i], &err), 0);
        if (arrlen(ids[i]) > *S) *S = (int)arrlen(ids[i]);
    }
    int32_t *src = calloc(n * (size_t)*S, sizeof *src);
    for (size_t i = 0; i < n; i++) {
        memcpy(src + i * (size_t)*S, ids[i], (size_t)arrlen(ids[i]) * sizeof *src);
        arrfree(ids[i]);
    }
    free(ids);
    return src;
}

static void beam_of_one_is_greedy_and_wider_beams_score_no_worse(void **state) {
    (void)state;
    Translator *t = toy_model();
    size_t n;
    char **sources = dev_sources(&n);
    int S;
    int32_t *src = encode_batch(t, sources, n, &S);  // the whole dev set as one padded batch
    Hypothesis *greedy = calloc(n, sizeof *greedy), *one = calloc(n, sizeof *one), *four = calloc(n * 3, sizeof *four);
    Error err;
    assert_int_equal(greedy_translate(&t->model, src, (int)n, S, greedy, &err), 0);
    assert_int_equal(beam_translate(&t->model, src, (int)n, S, 1, 1.0f, 1, one, &err), 0);
    assert_int_equal(beam_translate(&t->model, src, (int)n, S, 4, 1.0f, 3, four, &err), 0);
    size_t better = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(one[i].length, greedy[i].length);
        assert_memory_equal(one[i].tokens, greedy[i].tokens, (size_t)greedy[i].length * sizeof(int32_t));
        assert_true(fabs(one[i].log_prob - greedy[i].log_prob) < 1e-4);
        // the model's objective, normalised as beam search ranks: log p / (length + 1)
        double greedy_score = greedy[i].log_prob / (greedy[i].length + 1);
        if (four[i * 3].score < greedy_score - 1e-6) {
            fail_msg("%s: beam 4 scores %.5f, greedy %.5f", sources[i], four[i * 3].score, greedy_score);
        }
        better += four[i * 3].score > greedy_score + 1e-6;
        // n-best comes best first
        assert_true(four[i * 3].score >= four[i * 3 + 1].score && four[i * 3 + 1].score >= four[i * 3 + 2].score);
    }
    printf("  beam 4 beat greedy on %zu of %zu dev sentences, and was never worse\n", better, n);
    for (size_t i = 0; i < n; i++) {
        hypothesis_free(&greedy[i]);
        hypothesis_free(&one[i]);
        for (int k = 0; k < 3; k++) hypothesis_free(&four[i * 3 + k]);
        free(sources[i]);
    }
    free(greedy); free(one); free(four); free(src); free(sources);
}

// The translator sorts sentences by length and searches them a batch at a
// time: each still gets its own translation, in its own place, the same as
// when it is translated alone.
static void sorted_batches_keep_each_translation_in_its_place(void **state) {
    (void)state;
    Translator *t = toy_model();
    size_t n;
    char **sources = dev_sources(&n);
    for (int beam = 1; beam <= 4; beam += 3) {
        SearchOptions search = {beam, 1.0f, 1, false, 3, SEARCH_NO_DEADLINE};
        Translation *batched = calloc(n, sizeof *batched);
        char **problems = calloc(n, sizeof *problems);
        Error err;
        assert_int_equal(translator_translate(t, &search, (const char *const *)sources, n, batched, problems, &err), 0);
        for (size_t i = 0; i < n; i++) {
            Translation alone;
            char *problem;
            assert_null(problems[i]);
            assert_int_equal(translator_translate(t, &search, (const char *const *)&sources[i], 1, &alone, &problem, &err), 0);
            assert_string_equal(batched[i].text, alone.text);
            assert_true(fabs(batched[i].score - alone.score) < 1e-5);
            translation_free(&alone);
            translation_free(&batched[i]);
        }
        free(batched);
        free(problems);
    }
    for (size_t i = 0; i < n; i++) free(sources[i]);
    free(sources);
}

static void translate_keeps_lines_in_step(void **state) {
    (void)state;
    toy_model();
    char long_line[4000] = "The ball";
    for (int i = 0; i < 300; i++) strcat(long_line, " blue");
    char input[8192];
    snprintf(input, sizeof input, "The ball is blue\n\nbad \xFF byte\n%s\nThe black cat drank the milk\n", long_line);
    char *out, *err;
    assert_int_equal(RUN(input, &out, &err, "translate", "--model", toy_dir), 0);
    assert_string_equal(out, "La bola es azul\n\n\n\nEl gato negro bebió la leche\n");
    expect_contains(err, "azul: warning: <stdin>:3: invalid UTF-8 at byte 4");
    expect_contains(err, "azul: warning: <stdin>:4: too long");
    free(out); free(err);
    assert_int_equal(RUN("The ball is blue\n", &out, &err, "translate", "--model", toy_dir, "--alignment", "--n-best", "2", "--verbose"), 0);
    expect_contains(out, "0 ||| La bola es azul ||| ");
    // ball→bola, is→es, blue→azul (the article may look at its noun: its gender
    // comes from there)
    expect_contains(out, " 1-1 2-2 3-3\n");
    expect_contains(err, "sentences/s");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "translate", "--model", "/nonexistent"), 1);
    expect_contains(err, "azul: error: cannot open /nonexistent");
    free(out); free(err);
    assert_int_equal(RUN(NULL, &out, &err, "translate", "--model", toy_dir, "--beam", "0"), 2);
    expect_contains(err, "--beam expects an integer from 1 to 64");
    free(out); free(err);
}

// A read error (here: the input is a directory) is an error with status 1,
// not an empty input translated into an empty output.
static void translate_reports_an_input_it_cannot_read(void **state) {
    (void)state;
    toy_model();
    char *out, *err;
    assert_int_equal(RUN(NULL, &out, &err, "translate", "--model", toy_dir, "data"), 1);
    expect_contains(err, "azul: error: cannot read data: Is a directory");
    assert_string_equal(out, "");
    free(out); free(err);
}

// Fed one line at a time through a pipe, translate answers each line before
// the next one arrives (it does not wait to fill a batch).
static void translate_answers_each_line_as_it_comes(void **state) {
    (void)state;
    toy_model();
    int to_child[2], from_child[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(AZUL_BIN_PATH, AZUL_BIN_PATH, "translate", "--model", toy_dir, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    const char *line = "The ball is blue\n";
    assert_int_equal(write(to_child[1], line, strlen(line)), (ssize_t)strlen(line));
    // The answer must come while the input is still open.
    struct pollfd p = {from_child[0], POLLIN, 0};
    assert_int_equal(poll(&p, 1, 60000), 1);
    char answer[256] = {0};
    ssize_t n = read(from_child[0], answer, sizeof answer - 1);
    assert_true(n > 0);
    assert_string_equal(answer, "La bola es azul\n");
    close(to_child[1]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(from_child[0]);
}

static void the_prompt_handles_commands_bad_input_and_end_of_file(void **state) {
    (void)state;
    toy_model();
    const char *session = "The ball is blue\n"
                          ":tokens\n"
                          ":beam 2\n"
                          ":nbest 2\n"
                          "The ball is blue\n"
                          "bad \xC3 input\n"
                          ":frobnicate\n"
                          ":beam x\n"
                          ":help\n";  // then end of input, as Ctrl-D
    char *out, *err;
    assert_int_equal(RUN(session, &out, &err, "translate", "--model", toy_dir, "--interactive"), 0);
    expect_contains(out, "La bola es azul\n");
    expect_contains(out, "source: ▁The(");
    expect_contains(out, "target: ▁La(");
    expect_contains(out, "beam 2\n");
    expect_contains(out, "1. La bola es azul   (");
    expect_contains(out, "2. ");
    expect_contains(out, "cannot translate this: invalid UTF-8 at byte 4");
    expect_contains(out, "unknown command :frobnicate");
    expect_contains(out, ":beam needs a number");
    expect_contains(out, ":quit");
    free(out); free(err);
    assert_int_equal(RUN("The ball is blue\n:quit\nThe cat\n", &out, &err, "translate", "--model", toy_dir, "--interactive"), 0);
    assert_null(strstr(out, "El gato"));  // nothing after :quit
    free(out); free(err);
}

static void cleanup_toy_model(void **state) {
    (void)state;
    if (!toy_dir) return;
    translator_free(&toy);
    toy_dir = NULL;
}

// The length penalty decides: each search does at least as well under its
// own normalisation, log p / (length + 1)^alpha, as the other's result does,
// and a larger alpha gives longer translations.  (A search that stopped as
// soon as its best raw candidate was <eos> never reached the longer
// translations a larger alpha prefers: every alpha gave the same lengths.)
static void the_length_penalty_decides_how_long_translations_are(void **state) {
    (void)state;
    Translator *t = toy_model();
    size_t n;
    char **sources = dev_sources(&n);
    int S;
    int32_t *src = encode_batch(t, sources, n, &S);
    const float alphas[2] = {0.0f, 3.0f};
    Hypothesis *out[2];
    long total_length[2] = {0, 0};
    Error err;
    for (int a = 0; a < 2; a++) {
        out[a] = calloc(n, sizeof *out[a]);
        assert_int_equal(beam_translate(&t->model, src, (int)n, S, 4, alphas[a], 1, out[a], &err), 0);
        for (size_t i = 0; i < n; i++) total_length[a] += out[a][i].length;
    }
    for (size_t i = 0; i < n; i++) {
        for (int a = 0; a < 2; a++) {
            const Hypothesis *mine = &out[a][i], *theirs = &out[1 - a][i];
            double their_score = theirs->log_prob / pow(theirs->length + 1.0, alphas[a]);
            if (mine->score < their_score - 1e-6) {
                fail_msg("%s: with alpha %g, beam 4 scores %.5f, but the alpha %g translation scores %.5f",
                         sources[i], alphas[a], mine->score, alphas[1 - a], their_score);
            }
        }
    }
    printf("  %ld target tokens with alpha 0, %ld with alpha 3\n", total_length[0], total_length[1]);
    assert_true(total_length[1] >= total_length[0]);
    for (size_t i = 0; i < n; i++) {
        hypothesis_free(&out[0][i]);
        hypothesis_free(&out[1][i]);
        free(sources[i]);
    }
    free(out[0]);
    free(out[1]);
    free(src);
    free(sources);
}

// On an untrained model whose <eos> is likelier than any other token, log p
// falls by several nats a token after the first, so alpha 0 wants the empty
// translation and alpha 3 one as long as the search allows.  A search that
// stopped once its best raw candidate was <eos> returned short ones for every
// alpha.
static void an_untrained_model_translates_longer_with_a_larger_alpha(void **state) {
    (void)state;
    ModelConfig c = {0};
    Error err;
    assert_int_equal(model_config_preset(&c, "toy", &err), 0);
    c.src_vocab = c.tgt_vocab = 12;
    c.max_len = 24;
    Model m;
    assert_int_equal(model_build(&m, &c, 3, &err), 0);
    // <eos> the likeliest token at every step: the best raw candidate at the
    // first step is the empty translation
    m.w.out_b[TOKEN_EOS] = 3.0f;
    enum { B = 6, S = 5 };
    int32_t src[B * S];
    for (int i = 0; i < B * S; i++) src[i] = 4 + (i * 7) % 8;
    long total[2] = {0, 0};
    const float alphas[2] = {0.0f, 3.0f};
    for (int a = 0; a < 2; a++) {
        Hypothesis out[B];
        assert_int_equal(beam_translate(&m, src, B, S, 4, alphas[a], 1, out, &err), 0);
        for (int i = 0; i < B; i++) total[a] += out[i].length, hypothesis_free(&out[i]);
    }
    printf("  untrained: %ld target tokens with alpha 0, %ld with alpha 3\n", total[0], total[1]);
    assert_true(total[0] <= B);       // next to empty
    assert_true(total[1] >= 4 * B);   // long (the old stopping rule gave 8 tokens in all)
    model_free(&m);
}

// azul train ends by choosing the length penalty on dev and saving it in
// model.safetensors; the translator takes it as its default.  A "decoding"
// entry that is not what it should be is refused, naming it.
static void a_trained_model_carries_its_length_penalty(void **state) {
    (void)state;
    Translator *t = toy_model();
    char *path = join(toy_dir, "model.safetensors");
    SafetensorsFile f;
    Error err;
    assert_int_equal(safetensors_read(&f, path, &err), 0);
    const char *decoding = safetensors_metadata(&f, "decoding");
    if (!decoding) fail_msg("%s has no \"decoding\" entry", path);
    cJSON *j = cJSON_Parse(decoding);
    const cJSON *alpha = cJSON_GetObjectItem(j, "length_penalty");
    assert_true(cJSON_IsNumber(alpha));
    const float tried[] = TRANSLATOR_LENGTH_PENALTIES;
    bool among = false;
    for (size_t i = 0; i < sizeof tried / sizeof tried[0]; i++) among |= (double)tried[i] == (double)(float)alpha->valuedouble;
    assert_true(among);
    assert_true(t->length_penalty == (float)alpha->valuedouble);
    cJSON_Delete(j);
    safetensors_free(&f);
    // the same network with a damaged entry
    // the last: more JSON values than any setting may hold, refused before cJSON builds them
    enum { MANY = 20000 };
    char *many = malloc(2 * MANY + 64);
    int used = sprintf(many, "{\"length_penalty\": 1, \"x\": [");
    for (int i = 0; i < MANY; i++) used += sprintf(many + used, i ? ",0" : "0");
    sprintf(many + used, "]}");
    const char *bad[] = {"{\"length_penalty\": -1}", "{\"length_penalty\": \"1\"}", "[1]", "not json", many};
    char *dir = make_temp_dir(), *copy = join(dir, "model.safetensors");
    char *tokenizers;
    Model m;
    assert_int_equal(model_load(&m, &tokenizers, path, &err), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ModelMetadata meta = {tokenizers, NULL, bad[i]};
        assert_int_equal(model_save(&m, &meta, copy, &err), 0);
        Translator other;
        if (translator_load(&other, copy, &err) == 0) fail_msg("\"decoding\": %s was accepted", bad[i]);
        expect_contains(err.message, "metadata \"decoding\" must be an object with a \"length_penalty\"");
    }
    free(many);
    ModelMetadata none = {tokenizers, NULL, NULL};  // older files have none: the default
    assert_int_equal(model_save(&m, &none, copy, &err), 0);
    Translator plain;
    assert_int_equal(translator_load(&plain, copy, &err), 0);
    assert_true(plain.length_penalty == TRANSLATOR_DEFAULT_LENGTH_PENALTY);
    translator_free(&plain);
    model_free(&m);
    free(tokenizers);
    free(copy);
    remove_tree(dir);
    free(dir);
    free(path);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(incremental_decoding_matches_recomputation),
    cmocka_unit_test(cached_decoding_matches_recomputation_for_every_variant),
    cmocka_unit_test(a_sentence_translates_the_same_alone_and_in_a_batch),
    cmocka_unit_test(next_token_normaliser_and_argmax_match_the_plain_loops),
    cmocka_unit_test(kept_rows_decode_as_the_rows_they_continue),
    cmocka_unit_test(sorted_batches_keep_each_translation_in_its_place),
    cmocka_unit_test(beam_of_one_is_greedy_and_wider_beams_score_no_worse),
    cmocka_unit_test(the_length_penalty_decides_how_long_translations_are),
    cmocka_unit_test(an_untrained_model_translates_longer_with_a_larger_alpha),
    cmocka_unit_test(a_trained_model_carries_its_length_penalty),
    cmocka_unit_test(translate_keeps_lines_in_step),
    cmocka_unit_test(translate_reports_an_input_it_cannot_read),
    cmocka_unit_test(translate_answers_each_line_as_it_comes),
    cmocka_unit_test(the_prompt_handles_commands_bad_input_and_end_of_file),
    cmocka_unit_test(cleanup_toy_model),
};
TEST_GROUP(decoding_tests, tests);
