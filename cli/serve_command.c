// `azul serve`: the translation and attention playground in a browser
// (serve/): one page and a small JSON API on a local HTTP server.
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/report.h"
#include "model/threads.h"
#include "serve/http_server.h"

static const char cmd[] = "serve";

static const char usage[] =
    "usage: azul serve --model DIR|FILE | --run DIR  [--host ADDRESS] [--port N] [--threads N]\n"
    "                  [--request-timeout SECONDS] [--client-timeout SECONDS]\n"
    "                  [--connections-per-ip N]\n"
    "\n"
    "Serves a playground for the model at http://ADDRESS:N/: type a sentence and\n"
    "see its translations, the alignment of its words, every attention map, and\n"
    "(click a target word) the arithmetic of one query.  The same answers come\n"
    "as JSON from POST /api/translate, /api/attention and /api/explain, and\n"
    "GET /api/model.  A run directory's attention history (azul train --watch)\n"
    "gets a slider through training.  Ctrl-C finishes the requests under way\n"
    "and stops.\n"
    "\n"
    "  --model DIR|FILE  the model (a run directory or a .safetensors file)\n"
    "  --run DIR         a run that may still be training: its loss and BLEU curves\n"
    "                    update live, and its newest model is served as it is written\n"
    "  --host ADDRESS    where to listen (default 127.0.0.1: this machine only;\n"
    "                    0.0.0.0 opens it to the network)\n"
    "  --port N          the port (default 8080; 0 picks a free one)\n"
    "  --threads N       requests answered at once (default 4, or the cores if fewer);\n"
    "                    each gets cores / N OpenMP threads (at least one)\n"
    "  --request-timeout SECONDS\n"
    "                    a translation still going after this long is given up and\n"
    "                    answered 503 with Retry-After (default 5)\n"
    "  --client-timeout SECONDS\n"
    "                    a request not arrived whole this long after its connection\n"
    "                    opened (or its last reply went) is cut off, however slowly it\n"
    "                    trickles in; idle connections close after it too (default 10)\n"
    "  --connections-per-ip N\n"
    "                    connections one address may hold at once (default 100)\n";

typedef struct {
    const char *model, *host;
    bool live;
    int port, threads, connections_per_ip;
    double request_seconds, arrival_seconds;
} ServeOptions;

static ServeOptions parse_serve_options(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},   {"host", required_argument, NULL, 'a'},
        {"port", required_argument, NULL, 'p'},    {"threads", required_argument, NULL, 't'},
        {"run", required_argument, NULL, 'r'},     {"help", no_argument, NULL, 'h'},
        {"request-timeout", required_argument, NULL, 'T'},
        {"client-timeout", required_argument, NULL, 'C'},
        {"connections-per-ip", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    // four requests at once, but no more than there are cores: each pool
    // thread computes, so a larger pool would put more threads than cores
    const int cores = omp_get_num_procs();
    ServeOptions o = {NULL, "127.0.0.1", false, 8080, cores < 4 ? cores : 4,
                      HTTP_DEFAULT_CONNECTIONS_PER_IP, API_DEFAULT_REQUEST_SECONDS,
                      HTTP_DEFAULT_ARRIVAL_SECONDS};
    const char *run = NULL;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, ":h", options, NULL)) != -1;) {
        switch (c) {
        case 'm': o.model = optarg; break;
        case 'r': run = optarg; break;
        case 'a': o.host = optarg; break;
        case 'p': o.port = (int)parse_integer_option(cmd, "--port", optarg, 0, 65535); break;
        case 't': o.threads = (int)parse_integer_option(cmd, "--threads", optarg, 1, 64); break;
        case 'T': o.request_seconds = parse_real_option(cmd, "--request-timeout", optarg, 0.001, 3600); break;
        case 'C': o.arrival_seconds = parse_real_option(cmd, "--client-timeout", optarg, 0.1, 3600); break;
        case 'I': o.connections_per_ip = (int)parse_integer_option(cmd, "--connections-per-ip", optarg, 1, 1000); break;
        case 'h': fputs(usage, stdout); exit(0);
        default: die_bad_option(cmd, argv, c);
        }
    }
    if (optind < argc) die_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (o.model && run) die_usage(cmd, "give --model or --run, not both");
    if (run) {
        o.model = run;
        o.live = true;
    }
    if (!o.model) die_usage(cmd, "--model DIR|FILE or --run DIR is required");
    return o;
}

int serve_command(int argc, char **argv) {
    ServeOptions o = parse_serve_options(argc, argv);
    Error err;
    Api api;
    const int cores = omp_get_num_procs();
    if (api_open(&api, o.model, o.live, &err) < 0) die("%s", err.message);
    api.request_seconds = o.request_seconds;
    api.log = stderr;
    // the pool's threads translate at once: teams of all the cores each
    // would put threads × cores on cores
    api.openmp_threads = cores / o.threads > 1 ? cores / o.threads : 1;
    // Ctrl-C and SIGTERM are taken by sigwait below, in this thread: every
    // thread the server starts inherits them blocked.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    HttpOptions http = {o.host, o.port, o.threads, stderr, o.arrival_seconds, o.connections_per_ip};
    HttpServer *server = http_server_start(&http, &api, &err);
    if (!server) die("%s", err.message);
    const char *bracket = strchr(o.host, ':') ? "[" : "";  // an IPv6 address in a URL
    printf("azul: serving %s%s at http://%s%s%s:%d/ (%d request%s at once, %d OpenMP thread%s each; "
           "Ctrl-C stops)\n",
           o.model, o.live ? " (live: its newest model, and its curves)" : "", bracket, o.host,
           *bracket ? "]" : "", http_server_port(server), o.threads, o.threads == 1 ? "" : "s",
           api.openmp_threads, api.openmp_threads == 1 ? "" : "s");
    fflush(stdout);
    if (!http_server_loopback(server)) {
        fprintf(stderr, "azul: warning: listening on %s, beyond this machine: whoever can reach port %d can "
                        "translate with the model, inspect its attention, read its config and training "
                        "options%s; there is no authentication, no encryption (plain HTTP) and no Host check\n",
                o.host, http_server_port(server), o.live ? " and the run's curves and history" : "");
    }
    int received = 0;
    sigwait(&stop_signals, &received);
    fprintf(stderr, "azul: %s: finishing the requests under way\n", received == SIGINT ? "interrupted" : "terminated");
    http_server_stop(server, 10.0);
    api_close(&api);
    fprintf(stderr, "azul: stopped\n");
    return 0;
}
