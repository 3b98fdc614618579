// The subcommands of bin/azul.  Each takes the arguments after its name
// (argv[0] is the subcommand) and returns the process exit status.
#ifndef AZUL_COMMANDS_H
#define AZUL_COMMANDS_H

int tokenize_command(int argc, char **argv);
int train_command(int argc, char **argv);
int translate_command(int argc, char **argv);
int bleu_command(int argc, char **argv);
int attention_command(int argc, char **argv);
int gradcheck_command(int argc, char **argv);
int bench_command(int argc, char **argv);
int average_command(int argc, char **argv);
int serve_command(int argc, char **argv);

#endif
