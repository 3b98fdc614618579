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
#include "cli/train_options.h"
#include "model/rng.h"
#include "model/threads.h"
#include "train/trainer.h"

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
    TrainOptions o;
    if (!train_options_parse(&o, argc, argv)) return 0;  // --help
    const char *cmd = "train";
    if (!o.out) die_usage(cmd, "--out DIR is required (where the model and logs go)");
    if (!o.corpus && !o.resume) die_usage(cmd, "--corpus FILE.tsv is required");
    train_options_complete(&o);
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
        if (checkpoint_load(path, &model, &tokenizers, &trainer.progress, &stored_options, &err) < 0) {
            die("%s", err.message);
        }
        if (train_options_resume(&o, stored_options, &err) < 0) die("%s: %s", path, err.message);
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
    trainer.options_json = train_options_to_json(&o);

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
    model_free(&model);
    return status < 0 ? EXIT_FAILURE_AZUL : status;
}
