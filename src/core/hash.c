#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>

#include "hash.h"
#include "util.h"

static void to_hex(const unsigned char *md, unsigned int len, struct sha256_hex *out)
{
	static const char digits[] = "0123456789abcdef";
	for (unsigned int i = 0; i < len && i < SHA256_HEX_LEN / 2; i++) {
		out->s[2 * i] = digits[md[i] >> 4];
		out->s[2 * i + 1] = digits[md[i] & 0xf];
	}
	out->s[SHA256_HEX_LEN] = '\0';
}

void hash_sha256_init(struct sha256_ctx *c)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort(); /* only allocation can fail here */
	c->md = md;
}

void hash_sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(c->md, data, len) != 1)
		abort();
}

void hash_sha256_final(struct sha256_ctx *c, struct sha256_hex *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_DigestFinal_ex(c->md, md, &len) != 1)
		abort();
	to_hex(md, len, out);
	hash_sha256_release(c);
}

void hash_sha256_release(struct sha256_ctx *c)
{
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}

void hash_sha256_buf(const void *data, size_t len, struct sha256_hex *out)
{
	struct sha256_ctx c = SHA256_CTX_INIT;
	hash_sha256_init(&c);
	hash_sha256_update(&c, data, len);
	hash_sha256_final(&c, out);
}

void hash_sha256_str(const char *s, struct sha256_hex *out)
{
	hash_sha256_buf(s, strlen(s), out);
}

int hash_sha256_fd(int fd, const char *what, struct sha256_hex *out, uint64_t *size, struct err *e)
{
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	const size_t chunk = 1u << 20;
	_cleanup_free_ unsigned char *buf = xmalloc(chunk);
	struct sha256_ctx c = SHA256_CTX_INIT;
	hash_sha256_init(&c);
	uint64_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			hash_sha256_release(&c);
			return err_sys(e, r, EXIT_FAILED, "reading '%s'", what);
		}
		if (n == 0)
			break;
		hash_sha256_update(&c, buf, (size_t)n);
		total += (uint64_t)n;
	}
	hash_sha256_final(&c, out);
	if (size)
		*size = total;
	return 0;
}

int hash_sha256_file(const char *path, struct sha256_hex *out, uint64_t *size, struct err *e)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(e, -errno, errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAILED,
			       "hashing '%s'", path);
	return hash_sha256_fd(fd, path, out, size, e);
}

bool hash_is_sha256_hex(const char *s)
{
	if (!s)
		return false;
	size_t i = 0;
	for (; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == SHA256_HEX_LEN;
}
