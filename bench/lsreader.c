/* The floor for `mvmctl ls`: a bare C program that does the same file work
 * and prints the same table. For each $MVM_HOME/vms/<name>/ (names sorted):
 * reads vm.json with jansson and, for a record that says the VM is alive,
 * probes vms/<name>/shim.lock with a non-blocking flock (held by a live shim,
 * so the probe fails; a free lock would mean the supervisor died), then
 * prints NAME STATE BACKEND VCPUS MEMORY PORTS REVISION UPTIME as mvmctl does.
 * What it leaves out: reconciling a dead VM's record (none here), option
 * parsing, config and error plumbing.
 *
 *   lsreader MVM_HOME
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *str(json_t *rec, const char *key)
{
	return json_string_value(json_object_get(rec, key));
}

/* true: some process holds the lock (the supervisor lives) */
static int lock_held(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int held = flock(fd, LOCK_EX | LOCK_NB) < 0;
	close(fd);
	return held;
}

static void duration(long long s, char *buf, size_t n)
{
	if (s < 0)
		snprintf(buf, n, "-");
	else if (s < 60)
		snprintf(buf, n, "%llds", s);
	else if (s < 3600)
		snprintf(buf, n, "%lldm%llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lldh%lldm", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, n, "%lldd%lldh", s / 86400, (s % 86400) / 3600);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: lsreader MVM_HOME\n");
		return 2;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/vms", argv[1]);
	DIR *d = opendir(dir);
	if (!d)
		return 1;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	printf("%-20s %-9s %-8s %-5s %-7s %-24s %-12s %s\n", "NAME", "STATE", "BACKEND", "VCPUS",
	       "MEMORY", "PORTS", "REVISION", "UPTIME");
	for (size_t i = 0; i < n; i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s/vm.json", dir, names[i]);
		json_t *rec = json_load_file(p, JSON_REJECT_DUPLICATES, NULL);
		if (!rec)
			continue;
		const char *state = str(rec, "state");
		if (!state || !strcmp(state, "exited")) {
			json_decref(rec);
			continue;
		}
		snprintf(p, sizeof(p), "%s/%s/shim.lock", dir, names[i]);
		if (!lock_held(p))
			state = "exited"; /* mvmctl would reconcile the record here */
		char ports[256] = "";
		size_t k, len = 0;
		json_t *v;
		json_array_foreach(json_object_get(rec, "ports"), k, v)
		{
			len +=
			    (size_t)snprintf(ports + len, sizeof(ports) - len, "%s%s", k ? "," : "",
					     json_string_value(v) ? json_string_value(v) : "?");
			if (len >= sizeof(ports))
				break;
		}
		if (!ports[0])
			strcpy(ports, "-");
		long long mib = json_integer_value(json_object_get(rec, "mem_mib"));
		char mem[32];
		if (mib && mib % 1024 == 0)
			snprintf(mem, sizeof(mem), "%lldG", mib / 1024);
		else
			snprintf(mem, sizeof(mem), "%lldM", mib);
		long long up = -1;
		struct tm tm = {0};
		const char *started = str(rec, "started_at");
		if (started && strptime(started, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
			up = (long long)(time(NULL) - timegm(&tm));
			if (up < 0)
				up = 0;
		}
		char ups[32];
		duration(up, ups, sizeof(ups));
		const char *rev = str(rec, "revision");
		printf("%-20s %-9s %-8s %-5lld %-7s %-24s %-12.12s %s\n", str(rec, "name"), state,
		       str(rec, "backend"), json_integer_value(json_object_get(rec, "vcpus")), mem,
		       ports, rev ? rev : "-", ups);
		json_decref(rec);
	}
	return 0;
}
