// `azul train`: from a corpus file to a trained model.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_ds.h>

#include "cli/commands.h"
#include "cli/report.h"
#include "cli/options.h"
#include "model/rng.h"
#include "model/threads.h"
#include "train/trainer.h"

static const char usage[] =
    "usage: azul train --corpus FILE.tsv --out DIR [--valid FILE.tsv] [--preset toy|small|base]\n"
    "                  [--tokenizer bpe|word] [--vocab-size N] [--steps N | --epochs N |\n"
    "                  --time-budget 30m] [--batch-tokens N] [--lr X] [--warmup N] [--seed N]\n"
    "                  [--threads N] [--resume] ...\n"
    "\n"
    "Learns the tokenizers from the corpus, then trains an encoder-decoder\n"
    "Transformer on it.  DIR receives model.safetensors (the best model by dev\n"
    "loss), last.safetensors, training_state.safetensors (for --resume),\n"
    "train.log (JSON lines) and curves.svg.  Ctrl-C saves a checkpoint and stops.\n"
    "\n"
    "Data:\n"
    "  --corpus FILE.tsv        source<TAB>target pairs (required)\n"
    "  --valid FILE.tsv         dev pairs; without it, 5% of the corpus (at most 2,000\n"
    "                           pairs) is held apart, chosen by --seed\n"
    "  --tokenizer bpe|word     (default bpe)   --vocab-size N  per side (default 8000)\n"
    "  --joint                  one tokenizer for both sides   --casefold  fold case\n"
    "  --max-len N              longest sequence in tokens (default 128); longer pairs\n"
    "                           are left out, and counted\n"
    "Model:\n"
    "  --preset toy|small|base  (default toy)   --pre-ln   --tie (share target\n"
    "                           embedding and output layer)\n"
    "  --dropout P (0.1)        --label-smoothing E (0.1)\n"
    "Stopping (the first that comes; without any, 10 epochs):\n"
    "  --steps N  --epochs N  --time-budget T (e.g. 90s, 30m, 1h30m)\n"
    "  --patience N             stop after N validations without improvement (default 10;\n"
    "                           0 never)\n"
    "Optimisation:\n"
    "  --batch-tokens N         tokens per batch, padding included (default 4096)\n"
    "  --lr X                   peak learning rate (default 1e-3)\n"
    "  --warmup N               warm-up steps (default 4000)\n"
    "  --schedule noam|inverse-sqrt|cosine|constant   (default noam: the paper's, with\n"
    "                           its peak at --lr)\n"
    "  --clip-norm X (1.0)      --weight-decay X (0.01)   --seed N (1)   --threads N\n"
    "Reporting:\n"
    "  --log-every N (100)      --valid-every N steps (1000)\n"
    "  --valid-sentences N      dev pairs translated for exact match (500)\n"
    "  --resume                 continue the run in DIR from its last checkpoint;\n"
    "                           --steps/--epochs/--time-budget/--patience may be raised\n";

typedef struct {
    const char *corpus, *valid, *out, *preset;
    TokenizerConfig tokenizer;
    bool joint, pre_ln, tie, resume;
    int max_len, batch_tokens, patience, valid_sentences, threads;
    long steps, epochs, warmup, log_every, valid_every;
    double time_budget;
    float lr, min_lr, dropout, label_smoothing, clip_norm, weight_decay;
    ScheduleKind schedule;
    uint64_t seed;
    // which limits the command line set (they override a resumed run's)
    bool steps_given, epochs_given, budget_given, patience_given;
} TrainOptions;

// "90", "90s", "30m", "2h", "1h30m" → seconds
static double parse_duration(const char *text) {
    double total = 0;
    const char *p = text;
    while (*p) {
        char *end;
        double value = strtod(p, &end);
        if (end == p || value < 0) return -1;
        double unit = 1;
        if (*end == 'h') unit = 3600, end++;
        else if (*end == 'm') unit = 60, end++;
        else if (*end == 's') end++;
        else if (*end != '\0') return -1;
        total += value * unit;
        p = end;
    }
    return p == text ? -1 : total;
}

static cJSON *options_to_json(const TrainOptions *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "corpus", o->corpus);
    if (o->valid) cJSON_AddStringToObject(j, "valid", o->valid);
    cJSON_AddStringToObject(j, "preset", o->preset);
    cJSON_AddNumberToObject(j, "max_len", o->max_len);
    cJSON_AddNumberToObject(j, "batch_tokens", o->batch_tokens);
    cJSON_AddNumberToObject(j, "patience", o->patience);
    cJSON_AddNumberToObject(j, "valid_sentences", o->valid_sentences);
    cJSON_AddNumberToObject(j, "steps", (double)o->steps);
    cJSON_AddNumberToObject(j, "epochs", (double)o->epochs);
    cJSON_AddNumberToObject(j, "time_budget", o->time_budget);
    cJSON_AddNumberToObject(j, "warmup", (double)o->warmup);
    cJSON_AddNumberToObject(j, "log_every", (double)o->log_every);
    cJSON_AddNumberToObject(j, "valid_every", (double)o->valid_every);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "min_lr", o->min_lr);
    cJSON_AddNumberToObject(j, "clip_norm", o->clip_norm);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "schedule", o->schedule);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    return j;
}

static double get_number(const cJSON *j, const char *key, double fallback) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

// A resumed run trains as it was started; only the stopping rules may change.
static void options_from_json(TrainOptions *o, const cJSON *j) {
    const cJSON *corpus = cJSON_GetObjectItemCaseSensitive(j, "corpus");
    const cJSON *valid = cJSON_GetObjectItemCaseSensitive(j, "valid");
    if (!o->corpus && cJSON_IsString(corpus)) o->corpus = corpus->valuestring;
    else if (o->corpus && cJSON_IsString(corpus) && strcmp(o->corpus, corpus->valuestring) != 0) {
        report_warning("--corpus %s differs from the run's %s: the data order will differ", o->corpus,
                       corpus->valuestring);
    }
    if (!o->valid && cJSON_IsString(valid)) o->valid = valid->valuestring;
    o->max_len = (int)get_number(j, "max_len", o->max_len);
    o->batch_tokens = (int)get_number(j, "batch_tokens", o->batch_tokens);
    o->valid_sentences = (int)get_number(j, "valid_sentences", o->valid_sentences);
    o->warmup = (long)get_number(j, "warmup", (double)o->warmup);
    o->log_every = (long)get_number(j, "log_every", (double)o->log_every);
    o->valid_every = (long)get_number(j, "valid_every", (double)o->valid_every);
    o->lr = (float)get_number(j, "lr", o->lr);
    o->min_lr = (float)get_number(j, "min_lr", o->min_lr);
    o->clip_norm = (float)get_number(j, "clip_norm", o->clip_norm);
    o->weight_decay = (float)get_number(j, "weight_decay", o->weight_decay);
    o->schedule = (ScheduleKind)get_number(j, "schedule", o->schedule);
    o->seed = (uint64_t)get_number(j, "seed", (double)o->seed);
    if (!o->steps_given) o->steps = (long)get_number(j, "steps", (double)o->steps);
    if (!o->epochs_given) o->epochs = (long)get_number(j, "epochs", (double)o->epochs);
    if (!o->budget_given) o->time_budget = get_number(j, "time_budget", o->time_budget);
    if (!o->patience_given) o->patience = (int)get_number(j, "patience", o->patience);
}

// Splits a held-out dev set off the corpus: a seeded choice of pairs.
static void hold_out(Corpus *train, Corpus *valid, uint64_t seed) {
    size_t n = corpus_size(train), k = n / 20;
    if (k > 2000) k = 2000;
    if (k < 1 && n > 1) k = 1;
    memset(valid, 0, sizeof *valid);
    valid->path = strdup("(held out)");
    unsigned char *chosen = calloc(n ? n : 1, 1);
    Rng rng;
    rng_seed(&rng, seed ^ 0xD0E5);
    for (size_t picked = 0; picked < k;) {
        size_t i = (size_t)(rng_next(&rng) % n);
        if (!chosen[i]) chosen[i] = 1, picked++;
    }
    SentencePair *kept = NULL;
    for (size_t i = 0; i < n; i++) {
        if (chosen[i]) arrput(valid->pairs, train->pairs[i]);
        else arrput(kept, train->pairs[i]);
    }
    arrfree(train->pairs);
    train->pairs = kept;
    free(chosen);
}

static void ensure_writable_dir(const char *dir) {
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) die("cannot create --out %s: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) die("--out %s is not a directory", dir);
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.azul-write-test", dir);
    FILE *f = fopen(probe, "w");
    if (!f) die("cannot write in --out %s: %s", dir, strerror(errno));
    fclose(f);
    unlink(probe);
}

static bool file_exists(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

int train_command(int argc, char **argv) {
    enum { O_CORPUS = 256, O_VALID, O_OUT, O_PRESET, O_TOKENIZER, O_VOCAB, O_JOINT, O_CASEFOLD,
           O_MIN_COUNT, O_MAX_LEN, O_PRE_LN, O_TIE, O_DROPOUT, O_SMOOTHING, O_STEPS, O_EPOCHS,
           O_BUDGET, O_PATIENCE, O_BATCH, O_LR, O_MIN_LR, O_WARMUP, O_SCHEDULE, O_CLIP, O_DECAY,
           O_SEED, O_THREADS, O_LOG_EVERY, O_VALID_EVERY, O_VALID_SENTENCES, O_RESUME };
    static const struct option long_options[] = {
        {"corpus", required_argument, 0, O_CORPUS}, {"valid", required_argument, 0, O_VALID},
        {"out", required_argument, 0, O_OUT}, {"preset", required_argument, 0, O_PRESET},
        {"tokenizer", required_argument, 0, O_TOKENIZER}, {"vocab-size", required_argument, 0, O_VOCAB},
        {"joint", no_argument, 0, O_JOINT}, {"casefold", no_argument, 0, O_CASEFOLD},
        {"min-count", required_argument, 0, O_MIN_COUNT}, {"max-len", required_argument, 0, O_MAX_LEN},
        {"pre-ln", no_argument, 0, O_PRE_LN}, {"tie", no_argument, 0, O_TIE},
        {"dropout", required_argument, 0, O_DROPOUT}, {"label-smoothing", required_argument, 0, O_SMOOTHING},
        {"steps", required_argument, 0, O_STEPS}, {"epochs", required_argument, 0, O_EPOCHS},
        {"time-budget", required_argument, 0, O_BUDGET}, {"patience", required_argument, 0, O_PATIENCE},
        {"batch-tokens", required_argument, 0, O_BATCH}, {"lr", required_argument, 0, O_LR},
        {"min-lr", required_argument, 0, O_MIN_LR}, {"warmup", required_argument, 0, O_WARMUP},
        {"schedule", required_argument, 0, O_SCHEDULE}, {"clip-norm", required_argument, 0, O_CLIP},
        {"weight-decay", required_argument, 0, O_DECAY}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"log-every", required_argument, 0, O_LOG_EVERY},
        {"valid-every", required_argument, 0, O_VALID_EVERY},
        {"valid-sentences", required_argument, 0, O_VALID_SENTENCES},
        {"resume", no_argument, 0, O_RESUME}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    TrainOptions o = {0};
    o.preset = "toy";
    o.tokenizer = (TokenizerConfig){TOKENIZER_BPE, 8000, 0, {false}};
    o.max_len = 128;
    o.batch_tokens = 4096;
    o.patience = 10;
    o.valid_sentences = 500;
    o.warmup = 4000;
    o.log_every = 100;
    o.valid_every = 1000;
    o.lr = 1e-3f;
    o.dropout = 0.1f;
    o.label_smoothing = 0.1f;
    o.clip_norm = 1.0f;
    o.weight_decay = 0.01f;
    o.schedule = SCHEDULE_NOAM;
    o.seed = 1;
    bool vocab_given = false;
    const char *cmd = "train";
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case O_CORPUS: o.corpus = optarg; break;
        case O_VALID: o.valid = optarg; break;
        case O_OUT: o.out = optarg; break;
        case O_PRESET: o.preset = optarg; break;
        case O_TOKENIZER:
            if (strcmp(optarg, "bpe") == 0) o.tokenizer.kind = TOKENIZER_BPE;
            else if (strcmp(optarg, "word") == 0) o.tokenizer.kind = TOKENIZER_WORD;
            else die_usage(cmd, "--tokenizer must be bpe or word, got '%s'", optarg);
            break;
        case O_VOCAB: o.tokenizer.vocab_size = (int)parse_integer_option(cmd, "--vocab-size", optarg, 5, 1000000); vocab_given = true; break;
        case O_JOINT: o.joint = true; break;
        case O_CASEFOLD: o.tokenizer.normalize.casefold = true; break;
        case O_MIN_COUNT: o.tokenizer.min_count = (int)parse_integer_option(cmd, "--min-count", optarg, 1, 1000000000); break;
        case O_MAX_LEN: o.max_len = (int)parse_integer_option(cmd, "--max-len", optarg, 4, 4096); break;
        case O_PRE_LN: o.pre_ln = true; break;
        case O_TIE: o.tie = true; break;
        case O_DROPOUT: o.dropout = (float)parse_real_option(cmd, "--dropout", optarg, 0, 0.9); break;
        case O_SMOOTHING: o.label_smoothing = (float)parse_real_option(cmd, "--label-smoothing", optarg, 0, 0.9); break;
        case O_STEPS: o.steps = parse_integer_option(cmd, "--steps", optarg, 1, 1L << 40); o.steps_given = true; break;
        case O_EPOCHS: o.epochs = parse_integer_option(cmd, "--epochs", optarg, 1, 1000000); o.epochs_given = true; break;
        case O_BUDGET:
            o.time_budget = parse_duration(optarg);
            if (o.time_budget <= 0) die_usage(cmd, "--time-budget expects a duration such as 90s, 30m or 1h30m, got '%s'", optarg);
            o.budget_given = true;
            break;
        case O_PATIENCE: o.patience = (int)parse_integer_option(cmd, "--patience", optarg, 0, 1000000); o.patience_given = true; break;
        case O_BATCH: o.batch_tokens = (int)parse_integer_option(cmd, "--batch-tokens", optarg, 16, 10000000); break;
        case O_LR: o.lr = (float)parse_real_option(cmd, "--lr", optarg, 1e-8, 10); break;
        case O_MIN_LR: o.min_lr = (float)parse_real_option(cmd, "--min-lr", optarg, 0, 10); break;
        case O_WARMUP: o.warmup = parse_integer_option(cmd, "--warmup", optarg, 0, 1L << 40); break;
        case O_SCHEDULE:
            if (schedule_parse_kind(optarg, &o.schedule) < 0) {
                die_usage(cmd, "--schedule must be noam, inverse-sqrt, cosine or constant, got '%s'", optarg);
            }
            break;
        case O_CLIP: o.clip_norm = (float)parse_real_option(cmd, "--clip-norm", optarg, 0, 1e6); break;
        case O_DECAY: o.weight_decay = (float)parse_real_option(cmd, "--weight-decay", optarg, 0, 1); break;
        case O_SEED: o.seed = (uint64_t)parse_integer_option(cmd, "--seed", optarg, 0, 1L << 62); break;
        case O_THREADS: o.threads = (int)parse_integer_option(cmd, "--threads", optarg, 1, 1024); break;
        case O_LOG_EVERY: o.log_every = parse_integer_option(cmd, "--log-every", optarg, 1, 1L << 40); break;
        case O_VALID_EVERY: o.valid_every = parse_integer_option(cmd, "--valid-every", optarg, 1, 1L << 40); break;
        case O_VALID_SENTENCES: o.valid_sentences = (int)parse_integer_option(cmd, "--valid-sentences", optarg, 0, 100000000); break;
        case O_RESUME: o.resume = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: die_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc) die_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o.out) die_usage(cmd, "--out DIR is required (where the model and logs go)");
    if (!o.corpus && !o.resume) die_usage(cmd, "--corpus FILE.tsv is required");
    if (!o.steps_given && !o.epochs_given && !o.budget_given && !o.resume) o.epochs = 10;
    if (!o.tokenizer.min_count) o.tokenizer.min_count = o.tokenizer.kind == TOKENIZER_BPE ? 2 : 1;
    if (!vocab_given && o.tokenizer.kind == TOKENIZER_WORD) o.tokenizer.vocab_size = 0;
    if (o.threads) omp_set_num_threads(o.threads);

    Error err;
    ModelConfig config = {0};
    if (!o.resume && model_config_preset(&config, o.preset, &err) < 0) die_usage(cmd, "%s", err.message);
    ensure_writable_dir(o.out);

    Model model;
    TokenizerPair tokenizers;
    Trainer trainer = {0};
    cJSON *stored_options = NULL;
    if (o.resume) {
        char path[4096];
        snprintf(path, sizeof path, "%s/training_state.safetensors", o.out);
        if (access(path, F_OK) != 0) die("--resume: %s has no training_state.safetensors to continue from", o.out);
        if (checkpoint_load(path, &model, &trainer.adam, &tokenizers, &trainer.progress, &stored_options, &err) < 0) {
            die("%s", err.message);
        }
        options_from_json(&o, stored_options);
        printf("resuming %s at step %ld (epoch %ld)\n", o.out, trainer.progress.step, trainer.progress.epoch + 1);
    } else if (file_exists(o.out, "training_state.safetensors") || file_exists(o.out, "model.safetensors")) {
        die("--out %s already holds a trained model; use --resume to continue it, or another directory", o.out);
    }

    Corpus corpus, valid;
    if (corpus_read(&corpus, o.corpus, stderr, 10, &err) < 0) die("%s", err.message);
    if (corpus_size(&corpus) == 0) die("%s holds no usable sentence pairs", o.corpus);
    if (o.valid) {
        if (corpus_read(&valid, o.valid, stderr, 10, &err) < 0) die("%s", err.message);
    } else {
        hold_out(&corpus, &valid, o.seed);
        printf("held out %zu of the corpus's pairs for validation (--valid FILE to choose them)\n",
               corpus_size(&valid));
    }

    if (!o.resume) {
        if (dataset_learn_tokenizers(&tokenizers, &o.tokenizer, o.joint, &corpus, &err) < 0) {
            die("%s: %s", o.corpus, err.message);
        }
        config.src_vocab = (int)tokenizer_vocab_size(&tokenizers.source);
        config.tgt_vocab = (int)tokenizer_vocab_size(&tokenizers.target);
        config.max_len = o.max_len;
        config.dropout = o.dropout;
        config.label_smoothing = o.label_smoothing;
        config.pre_ln = o.pre_ln;
        config.tie_output = o.tie;
        if (model_build(&model, &config, o.seed, &err) < 0) die("%s", err.message);
        trainer.progress.best = INFINITY;
    }
    Dataset train_data, valid_data;
    if (dataset_encode(&train_data, &corpus, &tokenizers, model.config.max_len, &err) < 0 ||
        dataset_encode(&valid_data, &valid, &tokenizers, model.config.max_len, &err) < 0) {
        die("%s", err.message);
    }
    if (dataset_size(&train_data) == 0) die("no training pair fits in --max-len %d tokens", model.config.max_len);
    printf("data: %zu training pairs (%zu source + %zu target tokens), %zu dev pairs",
           dataset_size(&train_data), train_data.source_tokens, train_data.target_tokens,
           dataset_size(&valid_data));
    if (train_data.too_long + valid_data.too_long) {
        printf("; left out %zu pairs longer than %d tokens", train_data.too_long + valid_data.too_long,
               model.config.max_len);
    }
    if (train_data.empty + valid_data.empty) printf("; %zu pairs empty after normalisation", train_data.empty + valid_data.empty);
    printf("\nmodel: preset %s, d_model %d, %d heads, %d+%d layers, d_ff %d, vocabularies %d/%d, %zu parameters; %d threads\n",
           o.resume ? "(resumed)" : o.preset, model.config.d_model, model.config.n_heads,
           model.config.n_encoder_layers, model.config.n_decoder_layers, model.config.d_ff,
           model.config.src_vocab, model.config.tgt_vocab, model.n_params, omp_get_max_threads());
    fflush(stdout);

    trainer.model = &model;
    trainer.tokenizers = &tokenizers;
    trainer.train = &train_data;
    trainer.valid = &valid_data;
    trainer.valid_corpus = &valid;
    TrainerOptions *t = &trainer.options;
    t->out_dir = o.out;
    t->max_steps = o.steps;
    t->max_epochs = o.epochs;
    t->time_budget = o.time_budget;
    t->patience = o.patience;
    t->batch_tokens = o.batch_tokens;
    t->schedule = (Schedule){o.schedule, o.lr, o.warmup, o.steps, o.min_lr, model.config.d_model};
    if (o.schedule == SCHEDULE_NOAM) {
        // The paper's d^-½ · min(step^-½, step · warmup^-1.5) peaks at d^-½ · warmup^-½;
        // the factor that puts that peak at --lr:
        t->schedule.lr = o.lr * sqrtf((float)model.config.d_model) * sqrtf((float)(o.warmup > 0 ? o.warmup : 1));
    }
    t->adam = adamw_defaults();
    t->adam.weight_decay = o.weight_decay;
    t->clip_norm = o.clip_norm;
    t->seed = o.seed;
    t->log_every = o.log_every;
    t->valid_every = o.valid_every;
    t->valid_sentences = o.valid_sentences;
    t->progress_bar = isatty(fileno(stderr)) && !getenv("AZUL_NO_PROGRESS");
    trainer.options_json = options_to_json(&o);

    int status = trainer_run(&trainer, &err);
    if (status < 0) report_error("%s", err.message);
    if (status == 130) printf("interrupted: checkpoint saved; continue with: azul train --out %s --resume\n", o.out);

    cJSON_Delete(trainer.options_json);
    cJSON_Delete(stored_options);
    dataset_free(&train_data);
    dataset_free(&valid_data);
    corpus_free(&corpus);
    corpus_free(&valid);
    tokenizer_pair_free(&tokenizers);
    trainer_free(&trainer);
    model_free(&model);
    return status < 0 ? EXIT_FAILURE_AZUL : status;
}
