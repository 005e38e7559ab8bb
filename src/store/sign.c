#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

#include "core/fs.h"
#include "core/hash.h"
#include "core/jsonio.h"
#include "core/util.h"
#include "store/sign.h"

#define KEY_PREFIX   "ed25519:"
#define MAX_KEY_FILE (16u << 10)
#define MAX_PAYLOAD  (4u << 20)

static char *b64_encode(const unsigned char *in, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

/* Decodes strict base64 (with padding); -1 when it is not. */
static long b64_decode(const char *in, unsigned char **out)
{
	size_t n = strlen(in);
	if (n % 4 || n > MAX_PAYLOAD * 2)
		return -1;
	unsigned char *buf = xmalloc(n / 4 * 3 + 1);
	int len = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n);
	if (len < 0) {
		free(buf);
		return -1;
	}
	if (n && in[n - 1] == '=')
		len--;
	if (n > 1 && in[n - 2] == '=')
		len--;
	*out = buf;
	return len;
}

static char *pub_line(EVP_PKEY *k)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(k, raw, &len) != 1 || len != 32)
		return NULL;
	_cleanup_free_ char *b = b64_encode(raw, len);
	return xasprintf(KEY_PREFIX "%s", b);
}

static EVP_PKEY *pub_from_line(const char *line)
{
	if (strncmp(line, KEY_PREFIX, strlen(KEY_PREFIX)))
		return NULL;
	unsigned char *raw = NULL;
	long n = b64_decode(line + strlen(KEY_PREFIX), &raw);
	if (n != 32) {
		free(raw);
		return NULL;
	}
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	free(raw);
	return k;
}

char *sign_keyid(const char *pub)
{
	if (strncmp(pub, KEY_PREFIX, strlen(KEY_PREFIX)))
		return NULL;
	unsigned char *raw = NULL;
	long n = b64_decode(pub + strlen(KEY_PREFIX), &raw);
	if (n != 32) {
		free(raw);
		return NULL;
	}
	struct sha256_hex h;
	hash_sha256_buf(raw, 32, &h);
	free(raw);
	return xstrndup(h.s, 16);
}

static int load_private(const char *path, EVP_PKEY **out, struct err *e)
{
	struct strbuf pem = STRBUF_INIT;
	int r = fs_read_file(path, MAX_KEY_FILE, &pem, e);
	if (r < 0) {
		strbuf_wipe(&pem);
		if (e && e->exit == EXIT_NOTFOUND)
			err_hint(e, "make one with 'mvmctl key generate'");
		return r;
	}
	BIO *bio = BIO_new_mem_buf(pem.buf, (int)pem.len);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	strbuf_wipe(&pem);
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return err_set(e, -EINVAL, EXIT_INVALID,
			       "'%s' is not an Ed25519 private key (PKCS#8 PEM)", path);
	}
	*out = k;
	return 0;
}

int sign_generate(const char *path, bool force, char **pub, struct err *e)
{
	if (fs_exists(path) && !force) {
		err_set(e, -EEXIST, EXIT_REFUSED, "a signing key already exists at '%s'", path);
		err_hint(e, "'mvmctl key generate --force' replaces it (signatures made with the "
			    "old key then no longer match it)");
		return -EEXIST;
	}
	_cleanup_free_ char *dir = fs_dirname(path);
	int r = fs_mkdir_p(dir, 0700, e);
	if (r < 0)
		return r;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k)
		return err_set(e, -EIO, EXIT_FAILED, "generating an Ed25519 key failed");
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(k);
		return err_set(e, -EIO, EXIT_FAILED, "encoding the Ed25519 key failed");
	}
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	r = fs_write_atomic(path, data, (size_t)len, 0600, e);
	explicit_bzero(data, (size_t)len);
	BIO_free(bio);
	char *line = pub_line(k);
	EVP_PKEY_free(k);
	if (r < 0) {
		free(line);
		return r;
	}
	_cleanup_free_ char *pubpath = xasprintf("%s.pub", path);
	_cleanup_free_ char *text = xasprintf("%s\n", line);
	r = fs_write_atomic(pubpath, text, strlen(text), 0644, e);
	if (r < 0) {
		free(line);
		return r;
	}
	*pub = line;
	return 0;
}

int sign_public_of(const char *path, char **pub, struct err *e)
{
	EVP_PKEY *k = NULL;
	int r = load_private(path, &k, e);
	if (r < 0)
		return r;
	*pub = pub_line(k);
	EVP_PKEY_free(k);
	return 0;
}

static void pae(struct strbuf *sb, const char *type, const void *payload, size_t len)
{
	strbuf_addf(sb, "DSSEv1 %zu %s %zu ", strlen(type), type, len);
	strbuf_add(sb, payload, len);
}

int sign_envelope(const char *key_path, const char *type, const void *payload, size_t len,
		  json_t **envelope, struct err *e)
{
	EVP_PKEY *k = NULL;
	int r = load_private(key_path, &k, e);
	if (r < 0)
		return r;
	struct strbuf msg = STRBUF_INIT;
	pae(&msg, type, payload, len);
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
		 EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg.buf, msg.len) == 1;
	EVP_MD_CTX_free(ctx);
	strbuf_release(&msg);
	_cleanup_free_ char *line = pub_line(k);
	EVP_PKEY_free(k);
	if (!ok || !line)
		return err_set(e, -EIO, EXIT_FAILED, "signing with '%s' failed", key_path);
	_cleanup_free_ char *keyid = sign_keyid(line);
	_cleanup_free_ char *sig64 = b64_encode(sig, siglen);
	_cleanup_free_ char *p64 = b64_encode(payload, len);
	*envelope = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "payloadType", type, "payload", p64,
			      "signatures", "keyid", keyid, "sig", sig64);
	return 0;
}

static bool verify_one(const char *pub, const struct strbuf *msg, const unsigned char *sig,
		       size_t siglen)
{
	EVP_PKEY *k = pub_from_line(pub);
	if (!k)
		return false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok =
	    ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)msg->buf, msg->len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok;
}

int sign_open(const json_t *envelope, const char *want, const struct strvec *trusted, bool skip,
	      const char *what, struct strbuf *payload, struct sign_check *check, struct err *e)
{
	*check = (struct sign_check){0};
	const char *type = json_get_str(envelope, "payloadType");
	const char *p64 = json_get_str(envelope, "payload");
	if (!type || !p64 || strcmp(type, want))
		return err_set(e, -EBADMSG, EXIT_FAILED, "%s is not a DSSE envelope of type %s",
			       what, want);
	unsigned char *raw = NULL;
	long n = b64_decode(p64, &raw);
	if (n < 0)
		return err_set(e, -EBADMSG, EXIT_FAILED, "%s: its payload is not base64", what);
	strbuf_add(payload, raw, (size_t)n);
	free(raw);
	struct strbuf msg = STRBUF_INIT;
	pae(&msg, type, payload->buf, payload->len);
	const json_t *sigs = json_object_get(envelope, "signatures");
	size_t i;
	const json_t *s;
	json_array_foreach(sigs, i, s)
	{
		const char *sig64 = json_get_str(s, "sig");
		if (!sig64)
			continue;
		check->signed_at_all = true;
		unsigned char *sig = NULL;
		long sl = b64_decode(sig64, &sig);
		for (size_t k = 0; sl == 64 && trusted && k < trusted->n && !check->keyid; k++)
			if (verify_one(trusted->v[k], &msg, sig, (size_t)sl))
				check->keyid = sign_keyid(trusted->v[k]);
		free(sig);
		if (check->keyid)
			break;
	}
	strbuf_release(&msg);
	if (check->keyid || skip)
		return 0;
	if (!check->signed_at_all) {
		err_set(e, -EPERM, EXIT_REFUSED, "%s is not signed", what);
	} else if (!trusted || !trusted->n) {
		err_set(e, -EPERM, EXIT_REFUSED,
			"%s is signed, but no trusted keys are configured to check it against",
			what);
	} else {
		err_set(e, -EPERM, EXIT_REFUSED,
			"%s is not signed by any trusted key (signature check failed)", what);
	}
	err_hint(e, "trust the publisher's key with [store] trusted_keys = [\"ed25519:…\"] in "
		    "config.toml (or MVM_TRUSTED_KEYS), or pass --insecure-skip-signature");
	return -EPERM;
}

void sign_check_release(struct sign_check *c)
{
	free(c->keyid);
	*c = (struct sign_check){0};
}
