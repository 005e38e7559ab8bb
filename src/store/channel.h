/* Signed channels: `channels/<name>` in the store is a DSSE envelope
 * (sign.h) of payload type application/vnd.mvm.channel+json over
 *
 *   {"channel":"<name>","kind":"mvm-channel","moved_at":"<RFC 3339>",
 *    "revision":"<64 hex>","schema_version":1,"sequence":<1 …>}
 *
 * (compact JSON, sorted keys). The sequence grows by one with every move
 * (TUF's metadata version): a push takes the larger of the store's current
 * sequence and the one this host has seen, plus one. A reader remembers per
 * store and channel the highest sequence it has verified, in
 * $MVM_HOME/channels/<16 hex of the store url's sha256>/<name>.json, and
 * refuses a lower one (an older, validly signed document put back: a
 * rollback). A document naming another channel is refused, so one channel's
 * object cannot be copied over another's. docs/store.md has the threat model.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/strvec.h"

#define CHANNEL_MAX_DOC	     (64u << 10)
#define CHANNEL_MAX_SEQUENCE 9007199254740991LL /* 2^53 - 1: exact in any JSON reader */

struct channel_doc {
	char *name;
	char *revision;
	long long sequence; /* 0 for a legacy document (unsigned, before sequences) */
	char *keyid;	    /* the trusted key that verified it; NULL when none did */
	bool legacy;	    /* a plain {"revision": …} pointer, accepted only with skip */
};

/* The signed channel object (text, malloc'd) moving channel name to revision. */
int channel_sign(const char *key_path, const char *name, const char *revision, long long sequence,
		 const char *moved_at, char **text, struct err *e);

/* Reads a channel object as fetched from the store (what names it in
 * messages, e.g. "channel 'hello' in s3://b/p"): its signature checked
 * against trusted unless skip (EXIT_REFUSED as for revisions), its payload
 * type, kind, revision and sequence checked (EXIT_FAILED), and a document
 * naming another channel than want refused (EXIT_REFUSED). */
int channel_open(const char *text, size_t len, const char *want, const struct strvec *trusted,
		 bool skip, const char *what, struct channel_doc *out, struct err *e);
void channel_doc_release(struct channel_doc *d);

/* The sequence a channel object claims, unverified (0 when it claims none or
 * is not one): what a push must go beyond. */
long long channel_peek_sequence(const char *text, size_t len);

/* $MVM_HOME/channels/<16 hex>/<name>.json (malloc'd). */
char *channel_state_path(const char *store_url, const char *name);
/* The highest sequence of the channel recorded here (0: none). */
int channel_seen(const char *store_url, const char *name, long long *seq, struct err *e);
/* Under the channel's lock: refuses d when its sequence is lower than the one
 * recorded here (EXIT_REFUSED, naming the channel and both sequences), else
 * records d's when record and it is higher (atomic write, 0600). */
int channel_check_and_record(const char *store_url, const struct channel_doc *d, bool record,
			     struct err *e);
