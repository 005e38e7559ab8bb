/* mvm-init internals: the guest's PID 1 (static, musl; libc, Linux and
 * src/proto/ headers only).
 *
 * One thread, one epoll loop (loop.c): a signalfd for SIGCHLD and the
 * shutdown signals, a timerfd for restart back-off and the stop deadline,
 * one pipe per service (its merged stdout/stderr) and the agent channel.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- console (log.c) --- */
/* "mvm-init: <msg>\n" on the console. */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes a whole buffer to the console fd (retrying short writes). */
void console_write(const void *buf, size_t len);
/* Makes fds 0, 1, 2 the console (used before devtmpfs if they are closed). */
void console_setup(void);
/* Prints "mvm-init: fatal: <why>", kills everything, syncs, powers off. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Syncs and powers the VM off (never returns). */
void power_off(void) __attribute__((noreturn));

/* --- kernel command line (cmdline.c) --- */
/* Value of "key=value" on /proc/cmdline (malloc'd), or NULL. */
char *cmdline_get(const char *key);
/* The same in the text of a command line (buf, NUL-terminated). */
char *cmdline_find(const char *buf, const char *key);
/* The PATH of services and exec'd commands unless they set their own. */
#define BASE_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Finds prog in the PATH of env (BASE_PATH when env sets none) unless it
 * holds a slash; malloc'd, or NULL when not found. (services.c) */
char *guest_which(const char *prog, char *const *env);

/* --- event loop (loop.c) --- */
struct watch;
typedef void (*watch_fn)(struct watch *w, uint32_t events);
struct watch {
	int fd;
	watch_fn fn;
	void *data;
};
int loop_init(void);
int loop_add(struct watch *w, uint32_t events);
int loop_mod(struct watch *w, uint32_t events);
void loop_del(struct watch *w);
/* Runs one round: waits for events and dispatches them. */
void loop_run_once(void);
uint64_t now_ms(void);
uint64_t now_us(void); /* CLOCK_MONOTONIC: setting the clock does not move it */
/* Arms the single timer to fire at the earliest deadline anyone asked for;
 * timers_fire() then calls everyone whose deadline passed. */
void timer_want(uint64_t at_ms);

/* --- mounts.c --- */
void mounts_early(void);
/* Mounts /dev/vda (ro) + tmpfs overlay and makes it the root. */
void mounts_switch_root(void);
/* After the switch: /run, /tmp, /dev/pts, /dev/shm. */
void mounts_late(void);
/* Drops the cached blocks of every virtio disk but the root (after a restore
 * they may be the snapshot's placeholder's), then mounts the disk labelled
 * mvm-data on /data when there is one. */
/* Lists the virtio disks other than root, once (a snapshot-mode guest does it
 * before it is saved; mounts_data and mounts_secrets do it when nobody has). */
void mounts_scan_disks(void);
/* Returns how long mount(2) of the data disk took, in microseconds (0: none). */
uint64_t mounts_data(void);
/* Mounts the disk labelled mvm-secrets read-only (nosuid, nodev, noexec) on
 * /run/secrets (0700) when there is one, first unmounting (MNT_DETACH) what
 * it mounted before and dropping the cached blocks of every candidate: on a
 * cold boot, after IDENTITY and after every WAKE. */
void mounts_secrets(void);
/* A builder VM (mvm.builder=1, builder/builder.h), after mounts_data: the
 * disk labelled mvm-build-in read-only (nosuid, nodev) on /in, and the store
 * disk's nix/ (made when missing) bound on /nix. What cannot be mounted is
 * logged: the build then fails on what is missing, saying so. */
void mounts_builder(void);
/* At shutdown: sync and unmount what can be unmounted. */
void mounts_shutdown(void);

/* --- modules.c --- */
/* Loads /lib/modules/<order> in order; returns how many failed. */
int modules_load(const char *dir);

/* --- network.c --- */
/* lo, and eth0 when present: NULL or "" take the defaults (10.0.2.15/24 via
 * 10.0.2.2, nameserver 10.0.2.3). */
void network_setup(const char *ip, const char *gw, const char *dns);
/* What is not who the VM is, done by a guest in snapshot mode before it is
 * saved: lo and eth0 up without addresses; /etc/hostname and /etc/resolv.conf
 * empty, and /etc/hosts with localhost only when the image has none, for the
 * identity to overwrite. */
void network_prepare(void);
/* sethostname, /etc/hostname and (when absent) /etc/hosts; NULL or "" = "mvm". */
void hostname_setup(const char *name);

/* --- vmenv.c: the VM's environment (ENV frame) ------------------------ */
void vm_env_set(uint32_t count, const uint8_t *first);
size_t vm_env_count(void);
const char *vm_env_at(size_t i);

/* --- identity.c: snapshot mode (mvm.snapshot=1), and waking from sleep --- */
struct proto_identity;
/* Makes a parked guest the VM the host names: clock, random pool, hostname,
 * network, data disk, services. */
void identity_apply(const struct proto_identity *id);
/* A slept VM was restored (WAKE): clock, random pool, the hostname when
 * given, the secrets disk (a fresh file behind the same device). Running
 * services and exec sessions are left alone. */
void wake_apply(const struct proto_identity *id);
/* READY was sent: after an identity, logs how long the guest took from the
 * identity to READY and in which part (the figure bench/snapshot.sh reads). */
void identity_ready(void);

/* --- services.c --- */
#define UNIT_DIR "/etc/systemd/system"
/* Reads the units in unitdir (what the image holds: a snapshot-mode guest
 * does it before it is saved). */
void services_load(const char *unitdir);
/* Starts the loaded units in dependency order; READY once all have started. */
void services_start(void);
/* A child exited: returns true when it was a service's process. */
bool services_reap(pid_t pid, int status);
/* Timer tick: starts services whose back-off passed; enforces stop deadline. */
void services_timer(void);
/* Begins the shutdown: SIGTERM every service; returns true when nothing runs. */
bool services_stop(void);
bool services_all_stopped(void);
bool services_ready(void);
/* True once services_start ran: files may be read by services from then on. */
bool services_started(void);

/* --- agent.c: the agent protocol on the virtio-serial port --- */
/* parked: snapshot mode, answer HELLO with PARKED and wait for IDENTITY. */
void agent_start(bool parked);
/* A child exited: true when it was an exec session's process. */
bool agent_reap(pid_t pid, int status);
void agent_services_ready(void);
void agent_timer(void);
/* After every loop round: flush output, re-arm the session watches. */
void agent_after_round(void);
/* Room in the queue to the host, and bytes appended to it as they are, not
 * framed (the test mode below): a hostile guest's view of the channel. */
size_t agent_raw_room(void);
void agent_send_raw(const void *p, size_t n);

/* --- inject.c: test mode ------------------------------------------------ */
/* When the image holds /etc/mvm/test-inject, what is written to the FIFO
 * /run/mvm-inject goes to the host on the agent channel byte for byte, among
 * the agent's own frames (held back until the host's decoder would be at a
 * frame boundary again, so none of them lands inside an injected frame):
 * tests play a hostile guest with it. It gives a guest nothing it could not
 * do as PID 1 of its own image. */
void inject_start(void);
/* After every loop round: reads the FIFO again once the queue has room. */
void inject_rearm(void);

/* --- main.c --- */
/* Requests an orderly power-off (services stopped first). */
void shutdown_request(const char *why);
