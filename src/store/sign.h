/* Ed25519 signatures over revision and channel documents (OpenSSL
 * libcrypto, EVP), in a DSSE envelope (the format cosign and in-toto sign
 * attestations with; docs/store.md):
 *
 *   {"payloadType": "application/vnd.mvm.revision+json",
 *    "payload": "<base64 of the document's bytes>",
 *    "signatures": [{"keyid": "<16 hex>", "sig": "<base64 Ed25519 signature>"}]}
 *
 * The signature is over DSSE's pre-authentication encoding:
 *   "DSSEv1" SP len(type) SP type SP len(payload) SP payload
 * (lengths in ASCII decimal): the payload type is signed too, so a revision's
 * envelope is never taken for a channel's. A public key is written "ed25519:<base64 of
 * its 32 raw bytes>"; its keyid is the first 16 hex digits of the sha256 of
 * those bytes. The private key file is PKCS#8 PEM, mode 0600.
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"
#include "core/strbuf.h"
#include "core/strvec.h"

#define SIGN_PAYLOAD_TYPE	  "application/vnd.mvm.revision+json"
#define SIGN_CHANNEL_PAYLOAD_TYPE "application/vnd.mvm.channel+json"
#define SIGN_POOL_PAYLOAD_TYPE	  "application/vnd.mvm.pool-revision+json"

/* Generates a key pair: path (0600, its directory 0700) holds the private
 * key, path + ".pub" the public key line. An existing path is refused
 * (EXIT_REFUSED) unless force. *pub (malloc'd) is the public key line. */
int sign_generate(const char *path, bool force, char **pub, struct err *e);
/* The public key line of the private key in path (malloc'd in *pub). */
int sign_public_of(const char *path, char **pub, struct err *e);
/* The keyid of a public key line (malloc'd), NULL when it is not one. */
char *sign_keyid(const char *pub);

/* A DSSE envelope of payload type `type` over payload, signed with the
 * private key in key_path. */
int sign_envelope(const char *key_path, const char *type, const void *payload, size_t len,
		  json_t **envelope, struct err *e);

/* What sign_open found. */
struct sign_check {
	char *keyid;	    /* the trusted key that verified it; NULL when none did */
	bool signed_at_all; /* the envelope carries at least one signature */
};

/* Decodes the envelope's payload into *payload; an envelope of another
 * payload type than `type` is refused. With trusted keys
 * ("ed25519:…" lines) given, a signature of one of them must verify:
 * otherwise EXIT_REFUSED naming what (unsigned, or no trusted key's
 * signature), with what naming the document in the message. With skip, no
 * signature is required (check says what was found anyway). */
int sign_open(const json_t *envelope, const char *type, const struct strvec *trusted, bool skip,
	      const char *what, struct strbuf *payload, struct sign_check *check, struct err *e);
void sign_check_release(struct sign_check *c);
