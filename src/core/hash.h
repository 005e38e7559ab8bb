/* SHA-256 (OpenSSL libcrypto EVP), as lowercase hex.
 *
 * One-shot over a buffer, streamed over a file (bounded memory, any size),
 * and an incremental context for callers that hash several pieces (revision
 * hashes, fingerprints). Hashing is slow next to everything else mvm does
 * (about 2 s for a 512 MiB image): content-address by inputs and hash images
 * only when writing or verifying checksums.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SHA256_HEX_LEN 64

/* 64 hex digits and a NUL. */
struct sha256_hex {
	char s[SHA256_HEX_LEN + 1];
};

/* Incremental hashing. hash_sha256_init never fails (allocation failure aborts). */
struct sha256_ctx {
	void *md; /* EVP_MD_CTX * */
};
#define SHA256_CTX_INIT                                                                            \
	{                                                                                          \
		.md = NULL                                                                         \
	}
void hash_sha256_init(struct sha256_ctx *c);
void hash_sha256_update(struct sha256_ctx *c, const void *data, size_t len);
/* Writes the digest and releases the context. */
void hash_sha256_final(struct sha256_ctx *c, struct sha256_hex *out);
/* Releases a context that was not finalised (accepts an unused one). */
void hash_sha256_release(struct sha256_ctx *c);

/* The digest of len bytes at data. */
void hash_sha256_buf(const void *data, size_t len, struct sha256_hex *out);
/* The digest of a NUL-terminated string (its bytes, without the NUL). */
void hash_sha256_str(const char *s, struct sha256_hex *out);
/* The digest of a whole file, read in chunks; *size (optional) gets its
 * length in bytes. Errors name the file (EXIT_NOTFOUND when it is missing). */
int hash_sha256_file(const char *path, struct sha256_hex *out, uint64_t *size, struct err *e);
/* The same over an open descriptor, from its current offset to EOF; what
 * names it in errors. */
int hash_sha256_fd(int fd, const char *what, struct sha256_hex *out, uint64_t *size, struct err *e);

/* True when s is exactly 64 lowercase hex digits. */
bool hash_is_sha256_hex(const char *s);
