// `azul bench`: how fast one training step is (forward, backward, AdamW), or
// one greedy decoding of a batch, for a preset on random tokens — the figures
// speed claims are quoted from.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "cli/commands.h"
#include "cli/report.h"
#include "cli/options.h"
#include "infer/next_token.h"
#include "model/cpu_kernel.h"
#include "model/decoder_cache.h"
#include "model/optimizer.h"
#include "model/rng.h"
#include "model/threads.h"
#include "train/data_parallel.h"

static const char usage[] =
    "usage: azul bench [--preset toy|small|base] [--batch B] [--src-len S] [--tgt-len T]\n"
    "                  [--vocab V] [--steps N] [--threads N] [--shards N] [--decode]\n"
    "                  [--json]\n"
    "\n"
    "Times training steps (forward, backward, clipping, AdamW) of a model of the\n"
    "preset's shape on a random batch of B pairs, and reports the median step time\n"
    "and target tokens per second.  Defaults: small, 128 pairs of 16 + 16 tokens\n"
    "(about 2,000 target tokens), vocabularies of 8,000, 10 timed steps after 2\n"
    "warm-up steps.\n"
    "\n"
    "  --shards   split each batch into N shards, one thread each, as training\n"
    "             does for small models (default: what training would choose)\n"
    "  --decode   time greedy decoding instead: B random sources of S tokens are\n"
    "             encoded and decoded for exactly T steps with the key/value cache\n"
    "             (no sentence stops early), N times after one warm-up\n"
    "  --json     one JSON object on standard output instead of text\n";

typedef struct {
    const char *preset;
    int B, S, T, V, steps;
    int shards;  // 0: as the trainer would choose
    bool decode, json;
} BenchOptions;

// What a run measured: the median, fastest and slowest of its repetitions.
typedef struct {
    double median, min, max;  // seconds
    double tokens;            // target tokens per repetition
    int shards;               // training: the shards each batch was split into (1: none)
} Timing;

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static Timing summarise(double *times, int n, double tokens) {
    qsort(times, (size_t)n, sizeof *times, by_value);
    Timing t = {n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2, times[0], times[n - 1],
                tokens, 1};
    return t;
}

static void parse(BenchOptions *o, int argc, char **argv) {
    static const struct option long_options[] = {
        {"preset", required_argument, 0, 'p'}, {"batch", required_argument, 0, 'b'},
        {"src-len", required_argument, 0, 's'}, {"tgt-len", required_argument, 0, 't'},
        {"vocab", required_argument, 0, 'v'},  {"steps", required_argument, 0, 'n'},
        {"threads", required_argument, 0, 'j'}, {"shards", required_argument, 0, 'k'},
        {"decode", no_argument, 0, 'd'},
        {"json", no_argument, 0, 'J'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *o = (BenchOptions){"small", 128, 16, 16, 8000, 10, 0, false, false};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case 'p': o->preset = optarg; break;
        case 'b': o->B = (int)parse_integer_option("bench", "--batch", optarg, 1, 100000); break;
        case 's': o->S = (int)parse_integer_option("bench", "--src-len", optarg, 1, 4096); break;
        case 't': o->T = (int)parse_integer_option("bench", "--tgt-len", optarg, 1, 4096); break;
        case 'v': o->V = (int)parse_integer_option("bench", "--vocab", optarg, 8, 1000000); break;
        case 'n': o->steps = (int)parse_integer_option("bench", "--steps", optarg, 1, 100000); break;
        case 'j': omp_set_num_threads((int)parse_integer_option("bench", "--threads", optarg, 1, 1024)); break;
        case 'k': o->shards = (int)parse_integer_option("bench", "--shards", optarg, 1, 1024); break;
        case 'd': o->decode = true; break;
        case 'J': o->json = true; break;
        case 'h': fputs(usage, stdout); exit(0);
        default: die_bad_option("bench", argv, c);
        }
    }
    if (optind < argc) die_usage("bench", "unexpected argument '%s'", argv[optind]);
}

static int32_t random_token(Rng *rng, int V) {
    return TOKEN_SPECIAL_COUNT + (int32_t)(rng_next(rng) % (uint64_t)(V - TOKEN_SPECIAL_COUNT));
}

static Timing bench_training(const BenchOptions *o, Model *m, Rng *rng) {
    const int B = o->B, S = o->S, T = o->T;
    int32_t *src = malloc((size_t)B * S * sizeof *src), *tgt_in = malloc((size_t)B * T * sizeof *tgt_in),
            *tgt_out = malloc((size_t)B * T * sizeof *tgt_out);
    double *times = malloc((size_t)o->steps * sizeof *times);
    if (!src || !tgt_in || !tgt_out || !times) die("out of memory");
    for (int i = 0; i < B * S; i++) src[i] = random_token(rng, o->V);
    for (int i = 0; i < B * T; i++) tgt_out[i] = random_token(rng, o->V);
    for (int b = 0; b < B; b++) {
        tgt_in[b * T] = TOKEN_BOS;
        for (int t = 1; t < T; t++) tgt_in[b * T + t] = tgt_out[b * T + t - 1];
    }
    AdamWConfig adam = adamw_defaults();
    DataParallel dp;
    Gradients grads;
    AdamState moments;
    Error err;
    int shards = o->shards ? o->shards : data_parallel_shards_for(&m->config, omp_get_max_threads());
    if (data_parallel_init(&dp, m, shards, &err) < 0 || gradients_build(&grads, m, &err) < 0 ||
        adam_state_build(&moments, m, &err) < 0) {
        die("%s", err.message);
    }
    for (int step = -2; step < o->steps; step++) {  // two warm-up steps
        double start = monotonic_seconds();
        if (data_parallel_forward(&dp, m, src, tgt_in, tgt_out, B, S, T, true, (uint64_t)step + 3,
                                  &err) < 0) {
            die("%s", err.message);
        }
        data_parallel_backward(&dp, m, &grads);  // adamw_step leaves the gradients zero
        adamw_step(m, &grads, &moments, &adam, 1e-4f, step + 3, 1.0, NULL);
        if (step >= 0) times[step] = monotonic_seconds() - start;
    }
    Timing timing = summarise(times, o->steps, (double)B * T);
    timing.shards = shards;
    free(times);
    free(src);
    free(tgt_in);
    free(tgt_out);
    data_parallel_free(&dp);
    gradients_free(&grads);
    adam_state_free(&moments);
    return timing;
}

// One greedy decoding of the batch for exactly T steps: each row takes its
// most probable ordinary token (never <eos>, so that every row runs to T).
static void decode_once(const BenchOptions *o, const Model *m, const int32_t *src, int32_t *next) {
    DecoderCache cache;
    Error err;
    if (decoder_cache_start(&cache, m, src, o->B, o->S, 1, o->T, &err) < 0) die("%s", err.message);
    for (int b = 0; b < o->B; b++) next[b] = TOKEN_BOS;
    for (int t = 0; t < o->T; t++) {
        const float *logits = decoder_cache_step(&cache, m, next, &err);
        if (!logits) die("%s", err.message);
        // the argmax over [TOKEN_EOS + 1, V): the search's own, on the row
        // shifted by one so that its first allowed id, <eos>, is skipped
        #pragma omp parallel for schedule(static) if (o->B > 1)
        for (int b = 0; b < o->B; b++) {
            next[b] = 1 + next_token_argmax(logits + (size_t)b * o->V + 1, o->V - 1);
        }
    }
    decoder_cache_free(&cache);
}

static Timing bench_decoding(const BenchOptions *o, const Model *m, Rng *rng) {
    int32_t *src = malloc((size_t)o->B * o->S * sizeof *src), *next = malloc((size_t)o->B * sizeof *next);
    double *times = malloc((size_t)o->steps * sizeof *times);
    if (!src || !next || !times) die("out of memory");
    for (int i = 0; i < o->B * o->S; i++) src[i] = random_token(rng, o->V);
    for (int run = -1; run < o->steps; run++) {  // one warm-up run
        double start = monotonic_seconds();
        decode_once(o, m, src, next);
        if (run >= 0) times[run] = monotonic_seconds() - start;
    }
    Timing timing = summarise(times, o->steps, (double)o->B * o->T);
    free(times);
    free(src);
    free(next);
    return timing;
}

// The floating-point work of one training step: multiply-adds of every
// linear layer and of attention's two products (all Tq × Tk scores, as is
// the convention, though azul skips the masked half of causal attention),
// twice for a multiply-add, three times for forward plus backward.
static double training_step_flops(const ModelConfig *c, int B, int S, int T) {
    const double d = c->d_model, F = c->d_ff, Ns = (double)B * S, Nt = (double)B * T;
    const double encoder = 4 * Ns * d * d + 2 * Ns * d * F + 2 * (double)B * S * S * d;
    const double decoder = 6 * Nt * d * d + 2 * Ns * d * d + 2 * Nt * d * F +
                           2 * (double)B * T * T * d + 2 * (double)B * T * S * d;
    const double output = Nt * d * c->tgt_vocab;
    return 3 * 2 * (c->n_encoder_layers * encoder + c->n_decoder_layers * decoder + output);
}

// The --json form, every field checked: a failed node would have left a
// field out of the object without a word.  NULL when memory runs out.
static cJSON *result_json(const BenchOptions *o, const Model *m, const Timing *t, double peak_mib) {
    const double flops = training_step_flops(&m->config, o->B, o->S, o->T);
    cJSON *j = cJSON_CreateObject();
    bool ok = j && cJSON_AddStringToObject(j, "work", o->decode ? "decode" : "train") &&
              cJSON_AddStringToObject(j, "preset", o->preset) &&
              cJSON_AddNumberToObject(j, "parameters", (double)m->n_params) &&
              cJSON_AddNumberToObject(j, "batch", o->B) && cJSON_AddNumberToObject(j, "src_len", o->S) &&
              cJSON_AddNumberToObject(j, "tgt_len", o->T) && cJSON_AddNumberToObject(j, "vocab", o->V) &&
              cJSON_AddNumberToObject(j, "threads", threads_asked()) &&
              cJSON_AddNumberToObject(j, "repetitions", o->steps) &&
              cJSON_AddNumberToObject(j, "median_ms", t->median * 1e3) &&
              cJSON_AddNumberToObject(j, "min_ms", t->min * 1e3) &&
              cJSON_AddNumberToObject(j, "max_ms", t->max * 1e3) &&
              cJSON_AddNumberToObject(j, "target_tokens_per_s", t->tokens / t->median) &&
              cJSON_AddNumberToObject(j, "peak_rss_mib", peak_mib);
    if (ok && !o->decode) {
        ok = cJSON_AddNumberToObject(j, "shards", t->shards) &&
             cJSON_AddNumberToObject(j, "gflop_per_s", flops / t->median / 1e9);
    }
    if (ok) return j;
    cJSON_Delete(j);
    return NULL;
}

static void report(const BenchOptions *o, const Model *m, const Timing *t) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    const double peak_mib = (double)usage.ru_maxrss / 1024.0, rate = t->tokens / t->median;
    const char *work = o->decode ? "decode" : "train";
    const double flops = training_step_flops(&m->config, o->B, o->S, o->T);
    if (o->json) {
        cJSON *j = result_json(o, m, t, peak_mib);
        char *text = j ? cJSON_PrintUnformatted(j) : NULL;
        if (!text) {
            cJSON_Delete(j);
            die("out of memory formatting the benchmark as JSON");
        }
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(j);
        return;
    }
    printf("bench %s: preset %s (%zu parameters), batch %d × (%d + %d) tokens, vocab %d, %d threads, %s kernels",
           work, o->preset, m->n_params, o->B, o->S, o->T, o->V, threads_asked(),
           kernel_path_name(kernel_path_current()));
    if (!o->decode && t->shards > 1) printf(", %d shards", t->shards);
    printf("\n");
    printf("%s: median %.1f ms (min %.1f, max %.1f) over %d runs\n", o->decode ? "decoding" : "step",
           t->median * 1e3, t->min * 1e3, t->max * 1e3, o->steps);
    printf("throughput: %.0f target tokens/s", rate);
    if (!o->decode) {
        printf(", %.0f source+target tokens/s, %.1f GFLOP a step at %.0f GFLOP/s",
               (double)o->B * (o->S + o->T) / t->median, flops / 1e9, flops / t->median / 1e9);
    }
    printf("; peak memory %.1f MiB\n", peak_mib);
}

int bench_command(int argc, char **argv) {
    BenchOptions o;
    parse(&o, argc, argv);
    ModelConfig config = {0};
    Error err;
    if (model_config_preset(&config, o.preset, &err) < 0) die_usage("bench", "%s", err.message);
    config.src_vocab = config.tgt_vocab = o.V;
    config.max_len = (o.S > o.T ? o.S : o.T) + 1;
    config.dropout = 0.1f;
    config.label_smoothing = 0.1f;
    Model m;
    if (model_build(&m, &config, 1, &err) < 0) die("%s", err.message);
    Rng rng;
    rng_seed(&rng, 7);
    Timing t = o.decode ? bench_decoding(&o, &m, &rng) : bench_training(&o, &m, &rng);
    report(&o, &m, &t);
    model_free(&m);
    return 0;
}
