/* The service supervisor: starts the units in After=/Before= order, writes
 * their output to the console line by line as "[label] …", restarts them with
 * back-off, and prints "mvm: ready" once every unit has started. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "units.h"

#define MAX_SERVICES	 256
#define MAX_UNIT_FILE	 (256u << 10)
#define LINE_MAX_OUT	 4096
#define BACKOFF_MAX_MS	 30000u
#define BACKOFF_RESET_MS 10000u /* a run this long forgets earlier failures */
#define STOP_GRACE_MS	 5000u
#define READY_MARKER	 "mvm: ready\n"

enum svc_state { S_WAITING, S_RUNNING, S_BACKOFF, S_DONE };

struct service {
	struct unit u;
	enum svc_state state;
	bool settled; /* counts as started for ordering and readiness */
	pid_t pid;
	size_t exec_idx; /* oneshot: the ExecStart being run */
	bool ignore_failure;
	int pipe_w;
	struct watch w; /* read end of the output pipe */
	char line[LINE_MAX_OUT];
	size_t linelen;
	unsigned fails;
	uint64_t started_at, restart_at;
};

static struct service *svcs[MAX_SERVICES];
static size_t nsvc;
static bool stopping, ready_done, started;
static uint64_t stop_deadline;

bool services_ready(void)
{
	return ready_done;
}

bool services_started(void)
{
	return started;
}

/* --- output ---------------------------------------------------------- */

static void emit(struct service *s, const char *data, size_t len)
{
	char buf[LINE_MAX_OUT + 80];
	int n = snprintf(buf, sizeof(buf), "[%s] ", s->u.label);
	if (n < 0 || (size_t)n > 64)
		n = 64;
	if (len > sizeof(buf) - (size_t)n - 1)
		len = sizeof(buf) - (size_t)n - 1;
	memcpy(buf + n, data, len);
	buf[(size_t)n + len] = '\n';
	console_write(buf, (size_t)n + len + 1);
}

static void feed(struct service *s, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i];
		if (c == '\n') {
			emit(s, s->line, s->linelen);
			s->linelen = 0;
			continue;
		}
		if (s->linelen == sizeof(s->line)) {
			emit(s, s->line, s->linelen);
			s->linelen = 0;
		}
		s->line[s->linelen++] = c;
	}
}

static void drain(struct service *s, bool flush)
{
	char buf[4096];
	for (;;) {
		ssize_t n = read(s->w.fd, buf, sizeof(buf));
		if (n > 0) {
			feed(s, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (flush && s->linelen) {
		emit(s, s->line, s->linelen);
		s->linelen = 0;
	}
}

static void on_output(struct watch *w, uint32_t events)
{
	(void)events;
	drain(w->data, false);
}

/* --- loading --------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	const struct service *const *x = a, *const *y = b;
	return strcmp((*x)->u.name, (*y)->u.name);
}

static bool load_unit(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_msg("%s: %s", path, strerror(errno));
		return false;
	}
	char *text = malloc(MAX_UNIT_FILE);
	size_t len = 0;
	ssize_t n;
	while (text && len < MAX_UNIT_FILE &&
	       (n = read(fd, text + len, MAX_UNIT_FILE - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (!text)
		return false;
	if (len == MAX_UNIT_FILE) {
		log_msg("%s: larger than %u bytes, skipped", path, MAX_UNIT_FILE);
		free(text);
		return false;
	}
	struct service *s = calloc(1, sizeof(*s));
	char err[256] = "";
	if (!s || unit_parse(&s->u, name, text, len, err, sizeof(err)) < 0) {
		log_msg("skipping unit %s", err);
		free(s);
		free(text);
		return false;
	}
	free(text);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		log_msg("%s: pipe: %s", name, strerror(errno));
		unit_free(&s->u);
		free(s);
		return false;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	s->pipe_w = p[1];
	s->w.fd = p[0];
	s->w.fn = on_output;
	s->w.data = s;
	loop_add(&s->w, EPOLLIN);
	svcs[nsvc++] = s;
	return true;
}

/* --- starting -------------------------------------------------------- */

static struct service *find(const char *name)
{
	for (size_t i = 0; i < nsvc; i++)
		if (!strcmp(svcs[i]->u.name, name))
			return svcs[i];
	return NULL;
}

static bool deps_settled(const struct service *s)
{
	for (size_t i = 0; i < s->u.after.n; i++) {
		const struct service *d = find(s->u.after.v[i]);
		if (d && d != s && !d->settled)
			return false;
	}
	for (size_t i = 0; i < nsvc; i++) {
		const struct service *t = svcs[i];
		if (t == s || t->settled)
			continue;
		for (size_t j = 0; j < t->u.before.n; j++)
			if (!strcmp(t->u.before.v[j], s->u.name))
				return false;
	}
	return true;
}

static void env_add(char ***env, size_t *n, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
	for (size_t i = 0; i < *n; i++) {
		if (!strncmp((*env)[i], kv, kl) && (*env)[i][kl] == '=') {
			free((*env)[i]);
			(*env)[i] = strdup(kv);
			return;
		}
	}
	char **v = realloc(*env, (*n + 2) * sizeof(*v));
	if (!v)
		fatal("out of memory");
	v[(*n)++] = strdup(kv);
	v[*n] = NULL;
	*env = v;
}

static void env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

static void read_env_file(struct unit_list *out, const char *spec, const char *unit)
{
	bool optional = spec[0] == '-';
	const char *path = optional ? spec + 1 : spec;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (!optional)
			log_msg("%s: EnvironmentFile %s: %s", unit, path, strerror(errno));
		return;
	}
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	unit_env_file(out, buf, len);
}

char *guest_which(const char *prog, char *const *env)
{
	if (strchr(prog, '/'))
		return strdup(prog);
	const char *path = BASE_PATH;
	for (size_t i = 0; env && env[i]; i++)
		if (!strncmp(env[i], "PATH=", 5))
			path = env[i] + 5;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		char cand[1024];
		if (n &&
		    (size_t)snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, prog) <
			sizeof(cand) &&
		    access(cand, X_OK) == 0)
			return strdup(cand);
		p += n + (p[n] == ':');
	}
	return NULL;
}

struct creds {
	bool set;
	uid_t uid;
	gid_t gid;
	char home[256];
	char name[64];
};

static int lookup_creds(const struct unit *u, struct creds *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->home, sizeof(c->home), "/root");
	snprintf(c->name, sizeof(c->name), "root");
	if (!u->user && !u->group)
		return 0;
	c->set = true;
	if (u->user) {
		struct passwd *pw = getpwnam(u->user);
		char *end;
		unsigned long id = strtoul(u->user, &end, 10);
		if (!pw && !*end)
			pw = getpwuid((uid_t)id);
		if (pw) {
			c->uid = pw->pw_uid;
			c->gid = pw->pw_gid;
			snprintf(c->home, sizeof(c->home), "%s", pw->pw_dir);
			snprintf(c->name, sizeof(c->name), "%s", pw->pw_name);
		} else if (!*end) {
			c->uid = c->gid = (uid_t)id;
			snprintf(c->name, sizeof(c->name), "%s", u->user);
		} else {
			log_msg("%s: no such user '%s'", u->name, u->user);
			return -1;
		}
	}
	if (u->group) {
		struct group *gr = getgrnam(u->group);
		char *end;
		unsigned long id = strtoul(u->group, &end, 10);
		if (gr)
			c->gid = gr->gr_gid;
		else if (!*end)
			c->gid = (gid_t)id;
		else {
			log_msg("%s: no such group '%s'", u->name, u->group);
			return -1;
		}
	}
	return 0;
}

static void __attribute__((noreturn))
child(struct service *s, const char *path, char **argv, char **env, const struct creds *c)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();
	int devnull = open("/dev/null", O_RDWR);
	if (devnull >= 0)
		dup2(devnull, 0);
	dup2(s->pipe_w, 1);
	dup2(s->pipe_w, 2);
	const char *wd = s->u.workdir;
	if (wd && !strcmp(wd, "~"))
		wd = c->home;
	if (wd && chdir(wd) < 0) {
		if (!s->u.workdir_optional) {
			dprintf(2, "mvm-init: WorkingDirectory %s: %s\n", wd, strerror(errno));
			_exit(200);
		}
		if (chdir("/") < 0)
			_exit(200);
	} else if (!wd && chdir("/") < 0) {
		_exit(200);
	}
	if (c->set) {
		if (setgroups(0, NULL) < 0 && errno != EPERM)
			_exit(216);
		if (initgroups(c->name, c->gid) < 0 && errno != ENOENT) {
			/* names without /etc/group entries: no supplementary groups */
		}
		if (setgid(c->gid) < 0 || setuid(c->uid) < 0) {
			dprintf(2, "mvm-init: switching to user %u: %s\n", (unsigned)c->uid,
				strerror(errno));
			_exit(217);
		}
	}
	execve(path, argv, env);
	dprintf(2, "mvm-init: exec %s: %s\n", path, strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static void settle(struct service *s);

/* Runs ExecStart number s->exec_idx. */
static void spawn(struct service *s)
{
	char **env = NULL;
	size_t n = 0;
	struct creds c;
	if (lookup_creds(&s->u, &c) < 0)
		goto fail;
	char kv[512];
	env_add(&env, &n, "PATH=" BASE_PATH);
	snprintf(kv, sizeof(kv), "HOME=%s", c.home);
	env_add(&env, &n, kv);
	snprintf(kv, sizeof(kv), "USER=%s", c.name);
	env_add(&env, &n, kv);
	snprintf(kv, sizeof(kv), "LOGNAME=%s", c.name);
	env_add(&env, &n, kv);
	env_add(&env, &n, "LANG=C.UTF-8");
	struct unit_list files = {0};
	for (size_t i = 0; i < s->u.env_files.n; i++)
		read_env_file(&files, s->u.env_files.v[i], s->u.name);
	for (size_t i = 0; i < s->u.env.n; i++)
		env_add(&env, &n, s->u.env.v[i]);
	for (size_t i = 0; i < files.n; i++)
		env_add(&env, &n, files.v[i]);
	unit_list_free(&files);
	for (size_t i = 0; i < vm_env_count(); i++)
		env_add(&env, &n, vm_env_at(i));

	struct unit_exec x;
	if (unit_exec_prepare(s->u.exec.v[s->exec_idx], (const char *const *)env, &x) < 0) {
		log_msg("%s: cannot parse ExecStart=%s", s->u.name, s->u.exec.v[s->exec_idx]);
		goto fail;
	}
	char *path = guest_which(x.path, env);
	if (!path) {
		log_msg("%s: %s: command not found", s->u.name, x.path);
		unit_exec_free(&x);
		goto fail;
	}
	s->ignore_failure = x.ignore_failure;
	pid_t pid = fork();
	if (pid == 0)
		child(s, path, x.argv, env, &c);
	free(path);
	unit_exec_free(&x);
	env_free(env);
	if (pid < 0) {
		log_msg("%s: fork: %s", s->u.name, strerror(errno));
		env = NULL;
		goto fail;
	}
	s->pid = pid;
	s->state = S_RUNNING;
	s->started_at = now_ms();
	if (s->u.type == UNIT_SIMPLE)
		settle(s);
	return;
fail:
	env_free(env);
	s->state = S_DONE;
	s->pid = 0;
	settle(s);
}

static void schedule(void);

static void settle(struct service *s)
{
	if (s->settled)
		return;
	s->settled = true;
	schedule();
}

static void start(struct service *s)
{
	s->exec_idx = 0;
	spawn(s);
}

static bool in_transition(void)
{
	for (size_t i = 0; i < nsvc; i++)
		if (svcs[i]->state == S_RUNNING && !svcs[i]->settled)
			return true;
	return false;
}

static void schedule(void)
{
	if (stopping || !started)
		return;
	bool progress = true;
	while (progress) {
		progress = false;
		for (size_t i = 0; i < nsvc; i++) {
			struct service *s = svcs[i];
			if (s->state == S_WAITING && deps_settled(s)) {
				start(s);
				progress = true;
			}
		}
		if (!progress && !in_transition()) {
			/* Waiting units whose order can never be satisfied: a cycle. */
			for (size_t i = 0; i < nsvc; i++) {
				if (svcs[i]->state == S_WAITING) {
					log_msg("%s: ordering cycle, starting it anyway",
						svcs[i]->u.name);
					start(svcs[i]);
					progress = true;
					break;
				}
			}
		}
	}
	if (ready_done)
		return;
	for (size_t i = 0; i < nsvc; i++)
		if (!svcs[i]->settled)
			return;
	ready_done = true;
	console_write(READY_MARKER, strlen(READY_MARKER));
	agent_services_ready();
}

void services_load(const char *unitdir)
{
	DIR *d = opendir(unitdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)) && nsvc < MAX_SERVICES) {
			size_t len = strlen(de->d_name);
			if (de->d_name[0] == '.' || len < 9 ||
			    strcmp(de->d_name + len - 8, ".service") || strchr(de->d_name, '@'))
				continue;
			/* a unit masked with a link to /dev/null is skipped */
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", unitdir, de->d_name);
			struct stat st;
			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
				continue;
			load_unit(unitdir, de->d_name);
		}
		closedir(d);
	}
	qsort(svcs, nsvc, sizeof(svcs[0]), by_name);
}

void services_start(void)
{
	started = true;
	schedule();
}

/* --- exits, restarts, stopping ---------------------------------------- */

static bool wants_restart(const struct service *s, int status)
{
	bool clean = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || s->ignore_failure);
	bool sig = WIFSIGNALED(status);
	switch (s->u.restart) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_ON_SUCCESS:
		return clean;
	case RESTART_ON_FAILURE:
		return !clean;
	case RESTART_ON_ABNORMAL:
		return sig;
	case RESTART_ON_ABORT:
		return sig && WTERMSIG(status) != SIGTERM;
	case RESTART_NO:
		return false;
	}
	return false;
}

bool services_reap(pid_t pid, int status)
{
	struct service *s = NULL;
	for (size_t i = 0; i < nsvc; i++)
		if (svcs[i]->pid == pid && svcs[i]->state == S_RUNNING)
			s = svcs[i];
	if (!s)
		return false;
	s->pid = 0;
	drain(s, true);
	bool ok = WIFEXITED(status) && (WEXITSTATUS(status) == 0 || s->ignore_failure);
	if (ok && s->u.type == UNIT_ONESHOT && s->exec_idx + 1 < s->u.exec.n && !stopping) {
		s->exec_idx++;
		spawn(s);
		return true;
	}
	if (!stopping) {
		if (WIFEXITED(status) && WEXITSTATUS(status))
			log_msg("%s exited with status %d", s->u.name, WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			log_msg("%s killed by signal %d", s->u.name, WTERMSIG(status));
	}
	uint64_t now = now_ms();
	if (!stopping && wants_restart(s, status)) {
		if (now - s->started_at >= BACKOFF_RESET_MS)
			s->fails = 0;
		uint64_t delay = s->u.restart_ms;
		for (unsigned i = 0; i < s->fails && delay < BACKOFF_MAX_MS; i++)
			delay *= 2;
		if (delay > BACKOFF_MAX_MS && s->u.restart_ms <= BACKOFF_MAX_MS)
			delay = BACKOFF_MAX_MS;
		s->fails++;
		s->state = S_BACKOFF;
		s->restart_at = now + delay;
		log_msg("%s: restarting in %llu ms", s->u.name, (unsigned long long)delay);
		timer_want(s->restart_at);
	} else {
		s->state = S_DONE;
	}
	settle(s);
	return true;
}

void services_timer(void)
{
	uint64_t now = now_ms();
	for (size_t i = 0; i < nsvc; i++) {
		struct service *s = svcs[i];
		if (s->state != S_BACKOFF || stopping)
			continue;
		if (s->restart_at <= now)
			start(s);
		else
			timer_want(s->restart_at);
	}
	if (stopping && !services_all_stopped()) {
		if (now >= stop_deadline) {
			for (size_t i = 0; i < nsvc; i++) {
				if (svcs[i]->state == S_RUNNING && svcs[i]->pid > 0) {
					log_msg("%s did not stop in time: killing it",
						svcs[i]->u.name);
					kill(-svcs[i]->pid, SIGKILL);
					kill(svcs[i]->pid, SIGKILL);
				}
			}
		} else {
			timer_want(stop_deadline);
		}
	}
}

bool services_all_stopped(void)
{
	for (size_t i = 0; i < nsvc; i++)
		if (svcs[i]->state == S_RUNNING)
			return false;
	return true;
}

bool services_stop(void)
{
	if (!stopping) {
		stopping = true;
		for (size_t i = 0; i < nsvc; i++) {
			struct service *s = svcs[i];
			if (s->state == S_RUNNING && s->pid > 0) {
				kill(-s->pid, SIGTERM);
				kill(s->pid, SIGTERM);
			} else {
				s->state = S_DONE;
			}
		}
		stop_deadline = now_ms() + STOP_GRACE_MS;
		timer_want(stop_deadline);
	}
	return services_all_stopped();
}
