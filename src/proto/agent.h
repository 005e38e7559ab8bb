/* The agent wire format between the host (the per-VM shim) and mvm-init.
 * Shared by both sides; pure C, no allocation: every function works on
 * caller-provided buffers. docs/agent-protocol.md is the prose version.
 *
 * A frame is a 12-byte header and a payload; integers are big-endian:
 *
 *   0  'M' 'V'     magic
 *   2  u8          version (PROTO_VERSION)
 *   3  u8          type (enum proto_type)
 *   4  u32         stream id (0: the connection itself; exec sessions use ids the host picks)
 *   8  u32         payload length, at most PROTO_MAX_PAYLOAD
 *
 * The decoder never trusts the peer: a frame with a bad magic, version or
 * length is reported (PROTO_EMAGIC, PROTO_EVERSION, PROTO_ETOOBIG) and the
 * decoder resynchronises by dropping bytes up to the next plausible header,
 * so one malformed frame never stops the connection. Payload decoders
 * validate every length and count before returning.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION	  1
#define PROTO_MAGIC0	  'M'
#define PROTO_MAGIC1	  'V'
#define PROTO_HEADER_SIZE 12
#define PROTO_MAX_PAYLOAD (64u * 1024)
#define PROTO_MAX_FRAME	  (PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD)
/* Credit each side starts with per data channel of a stream (stdin towards
 * the guest; stdout and stderr towards the host). */
#define PROTO_INITIAL_WINDOW (256u * 1024)
#define PROTO_MAX_ARGS	     4096
#define PROTO_MAX_PING	     64
#define PROTO_AGENT_PORT     "org.mvm.agent"

enum proto_type {
	PROTO_HELLO = 1,    /* both ways, stream 0: versions and limits */
	PROTO_PING = 2,	    /* host -> guest, stream 0: payload echoed in PONG */
	PROTO_PONG = 3,	    /* guest -> host */
	PROTO_READY = 4,    /* guest -> host, stream 0: every service has started */
	PROTO_ERROR = 5,    /* both ways: u32 code (enum proto_err or errno), message */
	PROTO_SHUTDOWN = 6, /* host -> guest, stream 0: stop services and power off */
	PROTO_IDENTITY = 7, /* host -> guest, stream 0: who a parked (snapshot) guest becomes */
	PROTO_PARKED = 8,   /* guest -> host, stream 0: snapshot mode, waiting for IDENTITY */
	PROTO_WAKE = 9,	    /* host -> guest, stream 0: a slept VM was restored */
	PROTO_ENV = 10,	    /* host -> guest, stream 0: the VM's environment (`up -e`) */
	PROTO_EXEC = 16,    /* host -> guest: start a process on a new stream */
	PROTO_STARTED = 17, /* guest -> host: u32 pid */
	PROTO_STDIN = 18,   /* host -> guest: bytes; empty = end of input */
	PROTO_STDOUT = 19,  /* guest -> host: bytes; empty = end of output */
	PROTO_STDERR = 20,  /* guest -> host: bytes; empty = end of output */
	PROTO_WINDOW = 21,  /* both ways: u8 channel, u32 more bytes the sender may send */
	PROTO_RESIZE = 22,  /* host -> guest: u16 rows, u16 cols (tty sessions) */
	PROTO_SIGNAL = 23,  /* host -> guest: u32 signal number */
	PROTO_EXIT = 24,    /* guest -> host: how the process ended; the stream is done */
};

/* Decoder results (negative) and ERROR frame codes (positive). */
enum proto_err {
	PROTO_EMAGIC = 1,   /* header magic wrong: bytes dropped until the next header */
	PROTO_EVERSION = 2, /* unsupported version */
	PROTO_ETOOBIG = 3,  /* length over PROTO_MAX_PAYLOAD */
	PROTO_EPAYLOAD = 4, /* payload does not decode for its type */
	PROTO_ETYPE = 5,    /* unknown type */
	PROTO_ESTREAM = 6,  /* stream id unknown, in use, or 0 where a session is needed */
	PROTO_EWINDOW = 7,  /* data beyond the granted window */
	PROTO_ELIMIT = 8,   /* too many sessions */
};

enum proto_channel { PROTO_CH_STDIN = 0, PROTO_CH_STDOUT = 1, PROTO_CH_STDERR = 2 };

struct proto_frame {
	uint8_t version;
	uint8_t type;
	uint32_t stream;
	uint32_t len;
	const uint8_t *payload; /* points into the decoder's buffer; valid until the next call */
};

/* A stream decoder over a caller buffer of at least PROTO_MAX_FRAME bytes. */
struct proto_decoder {
	uint8_t *buf;
	size_t cap;
	size_t len;	  /* bytes buffered */
	size_t consumed;  /* bytes of buf already returned (dropped on the next fill) */
	uint64_t dropped; /* bytes thrown away while resynchronising (statistics) */
};

/* Returns -1 when cap is smaller than PROTO_MAX_FRAME. */
int proto_decoder_init(struct proto_decoder *d, uint8_t *buf, size_t cap);
/* Where to read the next bytes to; *room is how many fit (never 0). */
uint8_t *proto_decoder_space(struct proto_decoder *d, size_t *room);
/* n bytes were written at proto_decoder_space(). */
void proto_decoder_commit(struct proto_decoder *d, size_t n);
/* The next frame: 1 with *f filled, 0 when more bytes are needed, or
 * -PROTO_EMAGIC/-PROTO_EVERSION/-PROTO_ETOOBIG after dropping the bad bytes
 * (call again: decoding continues with what follows). */
int proto_decoder_next(struct proto_decoder *d, struct proto_frame *f);
/* Feeds bytes from memory (for tests and fuzzing): copies what fits and
 * returns how many bytes were taken. */
size_t proto_decoder_feed(struct proto_decoder *d, const void *data, size_t len);

/* Encodes a whole frame into out. Returns its size, or -1 when the payload is
 * over PROTO_MAX_PAYLOAD or out is too small. payload may be NULL when len is 0. */
int proto_encode(uint8_t *out, size_t cap, uint8_t type, uint32_t stream, const void *payload,
		 size_t len);

/* --- payloads: *_encode write into buf and return the length (or -1 when
 * cap is too small); *_decode return 0 or -PROTO_EPAYLOAD. --------------- */

/* A host's HELLO carries a nonce it picked for this connection; the guest's
 * answer echoes it, and the host ignores every frame until the HELLO bearing
 * its own: frames queued for an earlier host, that host's HELLO answer too,
 * can reach a new one first (docs/agent-protocol.md). */
#define PROTO_NONCE_SIZE 8
#define PROTO_MAX_AGENT	 256 /* bytes of a HELLO's agent name */
#define PROTO_HELLO_MAX	 (8 + PROTO_NONCE_SIZE + PROTO_MAX_AGENT) /* a HELLO payload */

struct proto_hello {
	uint16_t min_version, max_version;
	uint32_t max_payload;
	uint8_t nonce[PROTO_NONCE_SIZE];
	const char *agent; /* "mvm-init 0.1.0"; not NUL-terminated after decode */
	size_t agent_len;
};
int proto_hello_encode(const struct proto_hello *h, uint8_t *buf, size_t cap);
int proto_hello_decode(const uint8_t *p, size_t len, struct proto_hello *h);
/* The HELLO payload a peer of this version sends: min = max = PROTO_VERSION,
 * max payload PROTO_MAX_PAYLOAD, the nonce, and its name ("mvmctl-shim 0.1.0"). */
int proto_hello_ours(const char *name, const uint8_t nonce[PROTO_NONCE_SIZE], uint8_t *buf,
		     size_t cap);
/* A fresh nonce for a host's HELLO (getrandom). 0, or -errno. */
int proto_nonce_new(uint8_t nonce[PROTO_NONCE_SIZE]);
/* Whether a guest's HELLO payload answers the host that sent nonce: 1 (and
 * *h filled), 0 for a valid HELLO bearing another nonce (an earlier host's
 * answer: ignore it), -PROTO_EPAYLOAD when it is no valid HELLO. */
int proto_hello_answers(const uint8_t *p, size_t len, const uint8_t nonce[PROTO_NONCE_SIZE],
			struct proto_hello *h);

struct proto_error {
	uint32_t code;
	const char *msg; /* not NUL-terminated after decode */
	size_t msg_len;
};
int proto_error_encode(uint32_t code, const char *msg, uint8_t *buf, size_t cap);
int proto_error_decode(const uint8_t *p, size_t len, struct proto_error *e);

#define PROTO_EXEC_TTY	 0x1u /* run on a pseudo-terminal (stdout only; stderr merged) */
#define PROTO_EXEC_STDIN 0x2u /* stdin frames follow; else stdin is /dev/null */
#define PROTO_EXEC_FLAGS (PROTO_EXEC_TTY | PROTO_EXEC_STDIN)

/* Strings in EXEC are u32 length (counting a trailing NUL) + bytes ending in
 * NUL, with no other NUL inside: the guest can use them in place. */
struct proto_exec {
	uint32_t flags;
	uint16_t rows, cols;   /* tty window size; 0 = leave the default */
	uint32_t argc;	       /* >= 1 */
	uint32_t envc;	       /* "K=V" entries added to the guest's base environment */
	const uint8_t *argv_p; /* first argv string record (iterate with proto_strings_next) */
	const uint8_t *env_p;
	const char *cwd; /* NUL-terminated in the payload; NULL = "/" */
};
struct proto_exec_spec { /* what the host fills to encode */
	uint32_t flags;
	uint16_t rows, cols;
	const char *const *argv; /* NULL-terminated */
	const char *const *env;	 /* NULL-terminated, may be NULL */
	const char *cwd;	 /* may be NULL */
};
int proto_exec_encode(const struct proto_exec_spec *s, uint8_t *buf, size_t cap);
int proto_exec_decode(const uint8_t *p, size_t len, struct proto_exec *x);
/* Walks n string records from *cursor (validated by proto_exec_decode):
 * returns the NUL-terminated string and advances *cursor. */
const char *proto_strings_next(const uint8_t **cursor);

/* IDENTITY: what a guest booted in snapshot mode (mvm.snapshot=1) needs to
 * become one particular VM, sent by the host after every restore:
 *
 *   u64  realtime, nanoseconds since the epoch (CLOCK_REALTIME)
 *   u32  seed length (PROTO_SEED_MIN .. PROTO_SEED_MAX), then the seed bytes
 *   4 strings (the EXEC string record): hostname, ip, gateway, dns
 *
 * hostname: 1..63 characters, [A-Za-z0-9][A-Za-z0-9.-]* (a VM name).
 * ip: IPv4 "a.b.c.d/len"; gateway and dns: IPv4 "a.b.c.d"; each may be ""
 * for the guest's default. One struct both ways: the host fills it to encode
 * (NULL strings encode as ""), decode points every field into the payload
 * (strings NUL-terminated there). */
#define PROTO_SEED_MIN	   16
#define PROTO_SEED_MAX	   512
#define PROTO_HOSTNAME_MAX 63
struct proto_identity {
	uint64_t realtime_ns;
	const uint8_t *seed;
	uint32_t seed_len;
	const char *hostname;
	const char *ip;
	const char *gateway;
	const char *dns;
};
int proto_identity_encode(const struct proto_identity *id, uint8_t *buf, size_t cap);
int proto_identity_decode(const uint8_t *p, size_t len, struct proto_identity *id);
/* WAKE: a VM the host put to sleep (vCPUs stopped, RAM in a file, VMM gone)
 * was restored and continues where it stopped: time has jumped, its random
 * state must not be reused and its secrets disk is a fresh file. Sent by the
 * host after the HELLO of the new connection. The payload is IDENTITY's, with
 * one difference: the hostname may also be "" (NULL encodes as ""), meaning
 * "unchanged"; ip, gateway and dns are checked the same and not applied (a
 * woken VM keeps its network). Every IDENTITY payload is a valid WAKE one. */
int proto_wake_encode(const struct proto_identity *id, uint8_t *buf, size_t cap);
int proto_wake_decode(const uint8_t *p, size_t len, struct proto_identity *id);
/* ENV: the variables `mvmctl up -e/--env-file` gave the VM, for every service
 * and every exec it runs; sent before IDENTITY (a VM with an environment
 * boots parked, restored or cold), so the services start with it. A later
 * ENV replaces the whole set.
 *
 *   u32  count (0 .. PROTO_MAX_ARGS), then count EXEC string records "K=V"
 *
 * K is a shell-style name: [A-Za-z_][A-Za-z0-9_]*. */
int proto_env_encode(const char *const *env, uint8_t *buf, size_t cap);
/* *first is the first string record (iterate with proto_strings_next). */
int proto_env_decode(const uint8_t *p, size_t len, uint32_t *count, const uint8_t **first);
/* True for "K=V" with K as above (V any bytes but NUL). */
bool proto_env_entry_valid(const char *kv);

/* The checks IDENTITY applies to its strings (also for the host's own use). */
bool proto_hostname_valid(const char *s);
/* "a.b.c.d" (with_prefix false) or "a.b.c.d/len", len 0..32 (with_prefix true;
 * the prefix is then optional). */
bool proto_ipv4_valid(const char *s, bool with_prefix);

struct proto_window {
	uint8_t channel; /* enum proto_channel */
	uint32_t bytes;
};
int proto_window_encode(const struct proto_window *w, uint8_t *buf, size_t cap);
int proto_window_decode(const uint8_t *p, size_t len, struct proto_window *w);

struct proto_resize {
	uint16_t rows, cols;
};
int proto_resize_encode(const struct proto_resize *r, uint8_t *buf, size_t cap);
int proto_resize_decode(const uint8_t *p, size_t len, struct proto_resize *r);

/* u32 payloads: STARTED (pid), SIGNAL (signal number, 1..64). */
int proto_u32_encode(uint32_t v, uint8_t *buf, size_t cap);
int proto_u32_decode(const uint8_t *p, size_t len, uint32_t *v);

enum proto_exit_kind {
	PROTO_EXIT_CODE = 0,   /* exited: code = exit status 0..255 */
	PROTO_EXIT_SIGNAL = 1, /* killed: code = signal number */
	PROTO_EXIT_NOEXEC = 2, /* never started: code = errno of the exec (ENOENT -> 127) */
};
struct proto_exit {
	uint8_t kind;
	uint32_t code;
};
int proto_exit_encode(const struct proto_exit *x, uint8_t *buf, size_t cap);
int proto_exit_decode(const uint8_t *p, size_t len, struct proto_exit *x);
/* The status `mvmctl exec` exits with: code, 128+signal, 127 (ENOENT) or 126. */
int proto_exit_status(const struct proto_exit *x);

/* Checks a frame's payload against its type (lengths, counts, ranges).
 * 0 or -PROTO_EPAYLOAD / -PROTO_ETYPE. */
int proto_validate(const struct proto_frame *f);

const char *proto_type_name(uint8_t type);
