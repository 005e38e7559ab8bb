/* The subset of systemd .service files mvm-init honours. Pure libc (the host's
 * unit tests compile units.c directly).
 *
 * [Unit]    After=, Before=, Description=
 * [Service] Type=simple|exec|notify|idle|oneshot|forking (oneshot/forking:
 *           "started" once the process exited), ExecStart= (several for
 *           oneshot; an empty one resets; prefixes '-' '@' '+' '!' ':'),
 *           Environment= (several, quoted), EnvironmentFile= (optional with
 *           '-'), WorkingDirectory= ('-' prefix: optional; '~': home),
 *           User=, Group=, Restart=no|always|on-success|on-failure|
 *           on-abnormal|on-abort, RestartSec=
 * [Install] WantedBy= (recorded; every unit found is started)
 *
 * Command lines are split as systemd does: whitespace-separated words,
 * '…' and "…" quoting anywhere in a word, C escapes (\n \t \\ \" \xHH …),
 * after unquoting, a word that is exactly $NAME expands to the value split at
 * whitespace; ${NAME} expands in place to exactly the value; $NAME inside a
 * longer word is left alone (so `sh -c 'echo "$X"'` reaches the shell as
 * written); "$$" is "$"; specifiers
 * %n %N %p %i %h %u %t %T %S %C %L %% are replaced.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum unit_type { UNIT_SIMPLE, UNIT_ONESHOT, UNIT_FORKING };
enum unit_restart {
	RESTART_NO,
	RESTART_ALWAYS,
	RESTART_ON_SUCCESS,
	RESTART_ON_FAILURE,
	RESTART_ON_ABNORMAL,
	RESTART_ON_ABORT,
};

struct unit_list {
	char **v; /* NULL-terminated; v itself NULL when empty */
	size_t n;
};

struct unit {
	char *name;  /* "web.service" */
	char *label; /* "web" */
	char *description;
	enum unit_type type;
	struct unit_list exec; /* raw ExecStart values (specifiers already replaced) */
	struct unit_list env;  /* "K=V", later ones win */
	struct unit_list env_files;
	char *workdir; /* NULL: "/" (or home with '~') */
	bool workdir_optional;
	char *user, *group;
	enum unit_restart restart;
	unsigned restart_ms; /* RestartSec, default 100 ms */
	struct unit_list after, before, wanted_by;
};

/* Parses one unit file. name is the file name ("web.service"). On error
 * returns -1 with a message in err (line number included). */
int unit_parse(struct unit *u, const char *name, const char *text, size_t len, char *err,
	       size_t errlen);
void unit_free(struct unit *u);

/* Splits a command line into words (quotes, escapes), expanding $VAR/${VAR}
 * from env ("K=V" array, may be NULL). *argv is a malloc'd NULL-terminated
 * array of malloc'd strings. Returns the word count or -1 (bad quoting). */
int unit_split(const char *line, const char *const *env, bool expand, char ***argv);
void unit_argv_free(char **argv);

/* An ExecStart value ready to run: its prefix flags, the program to execute
 * and the argv (argv[0] differs from path with '@'). */
struct unit_exec {
	char *path;
	char **argv;
	bool ignore_failure; /* '-' */
};
int unit_exec_prepare(const char *value, const char *const *env, struct unit_exec *x);
void unit_exec_free(struct unit_exec *x);

/* Parses a systemd time span ("100ms", "5", "1min 30s") into ms; -1 if bad. */
long long unit_parse_timespan_ms(const char *s);

/* Adds "K=V" entries of an EnvironmentFile's text to list (later ones win). */
void unit_env_file(struct unit_list *list, const char *text, size_t len);
/* Sets K=V in list (replacing K). */
void unit_list_setenv(struct unit_list *list, const char *kv);
void unit_list_free(struct unit_list *l);
