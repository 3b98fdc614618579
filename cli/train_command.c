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
#include "cli/train_recipe.h"
#include "core/clock.h"
#include "infer/translator.h"
#include "inspect/attention_history.h"
#include "model/cpu_kernel.h"
#include "model/rng.h"
#include "model/threads.h"
#include "train/batcher.h"
#include "train/rank_agreement.h"
#include "train/trainer.h"
#include "train/world.h"

// The sentences whose attention each validation records (--watch).
typedef struct {
    char path[TRAINER_PATH_BYTES];  // DIR/attention_history.json
    const char *sentences[TRAIN_MAX_WATCH];
    int n;
    bool warned;                    // that the history is too large to keep
} Watch;
_Static_assert((int)TRAIN_MAX_WATCH <= (int)ATTENTION_HISTORY_MAX_SENTENCES, "a history holds every watched sentence");

static int record_attention(void *context, const Model *m, TokenizerPair *tokenizers, long step,
                            const Validation *v, Error *err) {
    Watch *w = context;
    int status = attention_history_record(w->path, m, tokenizers, w->sentences, w->n, step, v->loss, v->bleu, err);
    if (status == 1 && !w->warned) {
        report_warning("the attention of the watched sentences is too large to keep for this model (over %d MiB): "
                       "%s is not extended; watch fewer or shorter sentences", ATTENTION_HISTORY_MAX_BYTES >> 20,
                       w->path);
        w->warned = true;
    }
    return status < 0 ? -1 : 0;
}

// Everything one `azul train` holds, freed together at the end.
typedef struct {
    TrainOptions o;
    Recipe recipe;
    TrainPlan plan;
    ModelConfig config;
    Model model;
    TokenizerPair tokenizers;
    Trainer trainer;
    cJSON *stored_options;     // a resumed run's options; o's strings may point into them
    Corpus corpus, valid;
    Dataset train_data, valid_data;
    Watch watch;
    double started;            // monotonic_seconds() at the start of the command
} TrainRun;

static const char cmd[] = "train";

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

// The command line, completed; false when it asked for --help.
static bool parse_options(TrainOptions *o, int argc, char **argv) {
    if (!train_options_parse(o, argc, argv)) return false;
    if (!o->out) die_usage(cmd, "--out DIR is required (where the model and logs go)");
    if (!o->corpus && !o->resume) die_usage(cmd, "--corpus FILE.tsv is required");
    train_options_complete(o);
    if (o->threads) omp_set_num_threads(o->threads);
    // the ranks of an MPI job on one machine share its cores
    else if (world()->local_size > 1) {
        const int each = omp_get_max_threads() / world()->local_size;
        omp_set_num_threads(each > 1 ? each : 1);
    }
    return true;
}

// Checks --out; with --resume, loads the run's checkpoint and takes its options.
static void prepare_run(TrainRun *r) {
    Error err;
    // A preset given is checked before the corpus is read; the recipe's are known.
    if (!r->o.resume && r->o.preset && model_config_preset(&r->config, r->o.preset, &err) < 0) {
        die_usage(cmd, "%s", err.message);
    }
    ensure_writable_dir(r->o.out);
    if (r->o.resume) {
        char path[4096];
        snprintf(path, sizeof path, "%s/training_state.safetensors", r->o.out);
        if (access(path, F_OK) != 0) die("--resume: %s has no training_state.safetensors to continue from", r->o.out);
        if (checkpoint_load(path, &r->model, &r->trainer.adam, &r->tokenizers, &r->trainer.progress, &r->stored_options, &err) < 0) {
            die("%s", err.message);
        }
        if (train_options_resume(&r->o, r->stored_options, &err) < 0) die("%s: %s", path, err.message);
        printf("resuming %s at step %ld (epoch %ld)\n", r->o.out, r->trainer.progress.step, r->trainer.progress.epoch + 1);
    } else if (file_exists(r->o.out, "training_state.safetensors") || file_exists(r->o.out, "model.safetensors")) {
        die("--out %s already holds a trained model; use --resume to continue it, or another directory", r->o.out);
    }
}

// The training pairs, and the dev pairs: --valid, or held out of the corpus.
static void read_data(TrainRun *r) {
    Error err;
    if (corpus_read(&r->corpus, r->o.corpus, stderr, 10, &err) < 0) die("%s", err.message);
    if (corpus_size(&r->corpus) == 0) die("%s holds no usable sentence pairs", r->o.corpus);
    if (r->o.valid) {
        if (corpus_read(&r->valid, r->o.valid, stderr, 10, &err) < 0) die("%s", err.message);
    } else {
        hold_out(&r->corpus, &r->valid, r->o.seed);
        printf("held out %zu of the corpus's pairs for validation (--valid FILE to choose them)\n",
               corpus_size(&r->valid));
    }
}

// A new run: the tokenizers learned from the corpus, then the model.
static void build_model(TrainRun *r) {
    Error err;
    const TrainOptions *o = &r->o;
    if (model_config_preset(&r->config, o->preset, &err) < 0) die_usage(cmd, "%s", err.message);
    if (dataset_learn_tokenizers(&r->tokenizers, &o->tokenizer, o->joint, &r->corpus, &err) < 0) {
        die("%s: %s", o->corpus, err.message);
    }
    r->config.src_vocab = (int)tokenizer_vocab_size(&r->tokenizers.source);
    r->config.tgt_vocab = (int)tokenizer_vocab_size(&r->tokenizers.target);
    r->config.max_len = o->max_len;
    r->config.dropout = o->dropout;
    r->config.label_smoothing = o->label_smoothing;
    r->config.pre_ln = o->pre_ln;
    r->config.tie_output = o->tie;
    if (model_build(&r->model, &r->config, o->seed, &err) < 0) die("%s", err.message);
    r->trainer.progress.best = INFINITY;
}

static void encode_data(TrainRun *r) {
    Error err;
    if (dataset_encode(&r->train_data, &r->corpus, &r->tokenizers, r->model.config.max_len, &err) < 0 ||
        dataset_encode(&r->valid_data, &r->valid, &r->tokenizers, r->model.config.max_len, &err) < 0) {
        die("%s", err.message);
    }
    if (dataset_size(&r->train_data) == 0) die("no training pair fits in --max-len %d tokens", r->model.config.max_len);
}

static void print_summary(const TrainRun *r) {
    const Dataset *train_data = &r->train_data, *valid_data = &r->valid_data;
    printf("data: %zu training pairs (%zu source + %zu target tokens), %zu dev pairs",
           dataset_size(train_data), train_data->source_tokens, train_data->target_tokens,
           dataset_size(valid_data));
    if (train_data->too_long + valid_data->too_long) {
        printf("; left out %zu pairs longer than %d tokens", train_data->too_long + valid_data->too_long,
               r->model.config.max_len);
    }
    if (train_data->empty + valid_data->empty) printf("; %zu pairs empty after normalisation", train_data->empty + valid_data->empty);
    printf("\nmodel: preset %s, d_model %d, %d heads, %d+%d layers, d_ff %d, vocabularies %d/%d, %zu parameters; %d thread%s, %s kernels",
           r->o.resume ? "(resumed)" : r->o.preset, r->model.config.d_model, r->model.config.n_heads,
           r->model.config.n_encoder_layers, r->model.config.n_decoder_layers, r->model.config.d_ff,
           r->model.config.src_vocab, r->model.config.tgt_vocab, r->model.n_params, omp_get_max_threads(),
           omp_get_max_threads() == 1 ? "" : "s", kernel_path_name(kernel_path_current()));
    const World *w = world();
    if (w->size > 1) {
        printf(" in each of %d MPI ranks (%d on this machine); each rank takes its share of every batch of "
               "--batch-tokens", w->size, w->local_size);
    }
    printf("\n");
    // mpirun binds each rank to one core unless told otherwise (Open MPI does
    // for up to two ranks), and OpenMP then sees only that core
    const long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (w->mpi && !r->o.threads && (long)omp_get_max_threads() * w->local_size < cores) {
        printf("note: %d rank%s on this machine use%s %d of its %ld cores; mpirun --bind-to none lets each rank's "
               "threads use them all\n", w->local_size, w->local_size == 1 ? "" : "s", w->local_size == 1 ? "s" : "",
               omp_get_max_threads() * w->local_size, cores);
    }
    fflush(stdout);
}

// The trainer's inputs and options, from the run and its options.
static void set_up_trainer(TrainRun *r) {
    const TrainOptions *o = &r->o;
    Trainer *trainer = &r->trainer;
    trainer->model = &r->model;
    trainer->tokenizers = &r->tokenizers;
    trainer->train = &r->train_data;
    trainer->valid = &r->valid_data;
    trainer->valid_corpus = &r->valid;
    TrainerOptions *t = &trainer->options;
    cJSON_Delete(trainer->options_json);
    t->out_dir = o->out;
    t->max_steps = o->steps;
    t->max_epochs = o->epochs;
    t->time_budget = o->time_budget;
    t->patience = o->patience;
    t->average = o->average;
    t->batch_tokens = o->batch_tokens;
    t->schedule = (Schedule){o->schedule, o->lr, o->warmup, o->steps, o->min_lr, r->model.config.d_model};
    if (o->schedule == SCHEDULE_NOAM) {
        // The paper's d^-½ · min(step^-½, step · warmup^-1.5) peaks at d^-½ · warmup^-½;
        // the factor that puts that peak at --lr:
        t->schedule.lr = o->lr * sqrtf((float)r->model.config.d_model) * sqrtf((float)(o->warmup > 0 ? o->warmup : 1));
    }
    t->adam = adamw_defaults();
    t->adam.weight_decay = o->weight_decay;
    t->clip_norm = o->clip_norm;
    t->seed = o->seed;
    t->log_every = o->log_every;
    t->valid_every = o->valid_every;
    t->valid_sentences = o->valid_sentences;
    t->progress_bar = isatty(fileno(stderr)) && !getenv("AZUL_NO_PROGRESS");
    trainer->options_json = train_options_to_json(o);
    if (!trainer->options_json) die("out of memory saving the options for --resume");
}

// Whether the model can read the sentence (its tokens fit max_len).
static bool readable(TrainRun *r, const char *sentence, Error *err) {
    int32_t *ids = NULL;
    int status = encode_source_sentence(&r->tokenizers.source, r->model.config.max_len, sentence, &ids, err);
    arrfree(ids);
    return status == 0;
}

// --watch's sentences, or the first dev sentence; each must be one the model
// can read, or the run would stop at its first validation.
static void set_up_watch(TrainRun *r) {
    Watch *w = &r->watch;
    const TextList *given = &r->o.watch;
    Error err;
    for (int i = 0; i < given->n; i++) {
        if (!readable(r, given->items[i], &err)) {
            die_usage(cmd, "--watch \"%.60s%s\": %s", given->items[i], strlen(given->items[i]) > 60 ? "..." : "",
                      err.message);
        }
        w->sentences[w->n++] = given->items[i];
    }
    // by default the first dev sentence the model can read (the dataset
    // leaves out pairs that are empty or too long; the corpus keeps them)
    for (ptrdiff_t i = 0; given->n == 0 && w->n == 0 && i < arrlen(r->valid.pairs); i++) {
        if (readable(r, r->valid.pairs[i].source, &err)) w->sentences[w->n++] = r->valid.pairs[i].source;
    }
    if (w->n == 0) return;
    if (trainer_path(&r->trainer, ATTENTION_HISTORY_FILE, w->path, &err) < 0) die("%s", err.message);
    r->trainer.options.after_validation = (ValidationHook){record_attention, w};
}

static void free_run(TrainRun *r) {
    cJSON_Delete(r->trainer.options_json);
    cJSON_Delete(r->stored_options);
    dataset_free(&r->train_data);
    dataset_free(&r->valid_data);
    corpus_free(&r->corpus);
    corpus_free(&r->valid);
    tokenizer_pair_free(&r->tokenizers);
    trainer_free(&r->trainer);
    model_free(&r->model);
}

// What a run that ended normally should not leave unsaid: that it ended
// before the learning-rate warm-up did (the model never trained at the
// --lr asked for, and may have learnt next to nothing), or while its dev
// loss was still falling (its last validation was its best one).
static void warn_about_an_early_end(const Trainer *t, const char *out_dir) {
    const TrainingProgress *p = &t->progress;
    const long warmup = t->options.schedule.warmup;
    if (warmup > 0 && p->step < warmup) {
        report_warning("training ended at step %ld, before the learning-rate warm-up of %ld steps "
                       "was over: it never reached --lr; give it more --steps, --epochs or "
                       "--time-budget, or a shorter --warmup", p->step, warmup);
    } else if (p->step > 0 && p->best_step == p->step) {
        // A cosine plan that ran to its end has its best model there: going
        // on from it with --resume would start the learning rate over.
        const bool plan_done = t->options.schedule.kind == SCHEDULE_COSINE && t->options.max_steps > 0 &&
                               p->step >= t->options.max_steps;
        char advice[4400];  // out_dir is at most a path (4,096 bytes)
        if (plan_done) {
            snprintf(advice, sizeof advice, "a longer plan would likely do better, in a new run with a "
                                            "larger --time-budget, --steps or --epochs");
        } else {
            snprintf(advice, sizeof advice, "more training would likely help; go on with azul train --out "
                                            "%s --resume and a larger --steps, --epochs or --time-budget",
                     out_dir);
        }
        report_warning("the dev loss was still falling when training ended (its best was the last "
                       "validation, at step %ld): %s", p->step, advice);
    }
}

// The batches of the first epoch at --batch-tokens.
static long batches_per_epoch(const TrainRun *r) {
    Batcher b = {0};
    Error err;
    if (batcher_plan_epoch(&b, &r->train_data, r->o.seed, 0, r->o.batch_tokens, &err) < 0) die("%s", err.message);
    long count = (long)batcher_count(&b);
    batcher_free(&b);
    return count;
}

// A new run's steps: the fewest that --steps, --epochs and --time-budget
// allow, or, with none of them, the recipe's epochs for the corpus size; then
// what follows from them (warm-up, schedule, validation).
static void plan_run(TrainRun *r) {
    TrainOptions *o = &r->o;
    TrainPlan *plan = &r->plan;
    const Dataset *d = &r->train_data;
    plan->pairs = dataset_size(d);
    plan->dev_pairs = dataset_size(&r->valid_data);
    size_t longer_sides = d->source_tokens > d->target_tokens ? d->source_tokens : d->target_tokens;
    train_recipe_batch(o, &r->recipe, longer_sides + 2 * plan->pairs);
    plan->batches_per_epoch = batches_per_epoch(r);
    long steps = 0;
    if (train_option_given(o, "steps")) {
        steps = o->steps;
        snprintf(plan->planned_from, sizeof plan->planned_from, "--steps");
    }
    if (train_option_given(o, "epochs") && (!steps || o->epochs * plan->batches_per_epoch < steps)) {
        steps = o->epochs * plan->batches_per_epoch;
        snprintf(plan->planned_from, sizeof plan->planned_from, "--epochs %ld", o->epochs);
    }
    if (o->time_budget > 0) {
        // Timing needs the trainer with its batch size and dev pairs; it is
        // set up again with the plan below.
        set_up_trainer(r);
        Error err;
        TrainerTiming timing;
        if (trainer_time_steps(&r->trainer, 5, &timing, &err) < 0) die("%s", err.message);
        plan->step_seconds = timing.step_seconds;
        plan->validation_seconds = timing.validation_seconds;
        plan->search_seconds = timing.search_seconds;
        const int average = train_option_given(o, "average") ? o->average : r->recipe.average;
        plan->end = recipe_end_reserve(o->time_budget, timing.validation_seconds, average >= 2,
                                       timing.search_seconds);
        // what start-up took (reading, the tokenizers, this timing) is gone
        // from the budget, as rank 0's clock measured it: each rank's own
        // would plan its own number of steps, and the rank that planned more
        // would wait forever for the others' next all-reduce
        plan->budget_spent = monotonic_seconds() - r->started;
        if (world_broadcast(&plan->budget_spent, sizeof plan->budget_spent, &err) < 0) die("%s", err.message);
        const long valid_every = train_option_given(o, "valid-every") ? o->valid_every : 0;
        long fit = recipe_steps_for_budget(&r->recipe, o->time_budget - plan->budget_spent - plan->end.total,
                                           timing.step_seconds, timing.validation_seconds, valid_every);
        if (!train_option_given(o, "steps") && (!steps || fit < steps)) {
            steps = fit;
            plan->from_budget = true;
        }
    }
    if (!steps) {
        long epochs = recipe_epochs(plan->pairs);
        steps = epochs * plan->batches_per_epoch;
        snprintf(plan->planned_from, sizeof plan->planned_from, "the corpus size (%ld epochs)", epochs);
    }
    plan->steps = steps;
    train_recipe_plan(o, &r->recipe, plan);
}

// The ranks of an MPI job (a world of one without MPI): all but rank 0 train
// silently beside it, their standard output going nowhere (errors and
// warnings still reach stderr, labelled with the rank).
static void join_the_world(void) {
    Error err;
    if (world_start(&err) < 0) die("%s", err.message);
    if (!world_is_root() && !freopen("/dev/null", "w", stdout)) die("cannot silence rank %d's output", world()->rank);
}

// Every rank checks --out before any rank writes in it: rank 0's first
// state file would otherwise look like another run's to a slower rank.
static void wait_for_every_rank(void) {
    Error err;
    int nothing = 0;
    if (world_broadcast(&nothing, sizeof nothing, &err) < 0) die("%s", err.message);
}

// Before any rank sends another an array sized by its model or data (the
// timing run of --time-budget sums gradients before any step), every rank
// compares its model, corpus and options with the others' (rank_agreement.h).
// Every rank finds the same difference, so each says so and ends by itself:
// no rank is left waiting, and none need abort the others.
static void agree_with_every_rank(TrainRun *r) {
    const RankShape mine = {r->model.n_params, dataset_size(&r->train_data), r->o.batch_tokens, r->o.seed,
                            r->o.time_budget};
    Error err;
    int verdict = ranks_agree(&mine, &err);
    if (verdict < 0) die("%s", err.message);
    if (verdict == 0) return;
    report_error("%s", err.message);
    free_run(r);
    world_end();
    exit(EXIT_FAILURE_AZUL);
}

int train_command(int argc, char **argv) {
    TrainRun run = {.started = monotonic_seconds()};
    TrainRun *r = &run;
    join_the_world();
    if (!parse_options(&r->o, argc, argv)) {
        world_end();
        return 0;
    }
    prepare_run(r);
    wait_for_every_rank();
    read_data(r);
    if (!r->o.resume) {
        train_recipe_model(&r->o, &r->recipe, corpus_size(&r->corpus));
        build_model(r);
    }
    encode_data(r);
    print_summary(r);
    agree_with_every_rank(r);
    if (!r->o.resume) {
        plan_run(r);
        train_recipe_print(&r->o, &r->plan);
    }
    set_up_trainer(r);
    set_up_watch(r);
    // a time budget is the whole command's
    r->trainer.options.budget_spent = monotonic_seconds() - r->started;
    r->trainer.options.end_reserve = r->plan.end.total;

    Error err;
    int status = trainer_run(&r->trainer, &err);
    if (status < 0) {
        report_error("%s", err.message);
        world_abort(EXIT_FAILURE_AZUL);  // a job's other ranks would wait for this one forever
    }
    if (status == 0 && world_is_root()) warn_about_an_early_end(&r->trainer, r->o.out);
    if (status == 130) printf("interrupted: checkpoint saved; continue with: azul train --out %s --resume\n", r->o.out);
    free_run(r);
    world_end();
    return status < 0 ? EXIT_FAILURE_AZUL : status;
}
