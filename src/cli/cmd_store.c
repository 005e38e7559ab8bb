/* mvmctl manifest push|pull, mvmctl key generate|show: built slots through an
 * S3-compatible store (store/transfer.h), signed with Ed25519 (store/sign.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/hash.h"
#include "core/registry_query.h"
#include "core/util.h"
#include "registry_cli.h"
#include "store/s3.h"
#include "store/sign.h"
#include "store/transfer.h"

#define STORE_ENV                                                                                  \
	"MVM_STORE_URL          the store, \"s3://bucket/prefix\" ([store] url)\n"                 \
	"AWS_ENDPOINT_URL       an S3-compatible server, addressed path-style ([store] "           \
	"endpoint)\n"                                                                              \
	"AWS_REGION             the region requests are signed for ([store] region; default "      \
	"us-east-1)\n"                                                                             \
	"AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   the credentials\n"          \
	"MVM_SIGNING_KEY        the Ed25519 private key ([store] signing_key; default "            \
	"$MVM_HOME/keys/signing.key)\n"                                                            \
	"MVM_TRUSTED_KEYS       space-separated public keys pull trusts ([store] trusted_keys)\n"  \
	"MVM_STORE_RATE_LIMIT   bytes per second each way ([store] rate_limit; 0: unlimited)\n"    \
	"MVM_STORE_MULTIPART_THRESHOLD   bytes; larger files go up as multipart uploads "          \
	"([store]\n                       multipart_threshold; default 512 MiB)\n"                 \
	"MVM_STORE_PART_SIZE    bytes, the parts of a multipart upload ([store] part_size; "       \
	"default 64 MiB)"

/* Progress on a TTY only: one line rewritten in place. */
struct progress {
	struct cli *cli;
	const char *what;
	double last;
	bool shown;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (now - p->last < 0.2 && done != total)
		return;
	p->last = now;
	p->shown = true;
	fprintf(stderr, "\r\033[K%s %.1f/%.1f MiB", p->what ? p->what : "",
		(double)done / (1 << 20), (double)total / (1 << 20));
}

static void progress_end(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
	p->shown = false;
}

static void on_resume(void *ctx, const char *key, uint64_t done, uint64_t parts)
{
	struct progress *p = ctx;
	cli_note(p->cli, "continuing the upload of %s after %llu of %llu parts", key,
		 (unsigned long long)done, (unsigned long long)parts);
}

static bool want_progress(struct cli *cli)
{
	return !cli->quiet && !cli->json && cli_color(STDERR_FILENO);
}

static int open_store(struct cli *cli, struct config *cfg, struct s3 *s3, struct progress *p)
{
	int r = config_load(cfg, &cli->err);
	if (r < 0)
		return r;
	r = s3_open(s3, cfg, &cli->err);
	if (r < 0)
		return r;
	p->cli = cli;
	s3->progress_ctx = p;
	s3->on_resume = on_resume;
	if (want_progress(cli))
		s3->progress = on_progress;
	return 0;
}

/* ---- manifest push ------------------------------------------------------------------ */

static struct {
	const char *revision, *channel;
} push_opts;

static const struct opt push_optv[] = {
    OPT_STRING_(0, "revision", &push_opts.revision, "HASH",
		"push this revision (a unique prefix is enough) instead of the current one"),
    OPT_STRING_(0, "channel", &push_opts.channel, "NAME",
		"move this channel to the revision (default: the manifest's name)"),
    OPT_END_(),
};

static int run_push(struct cli *cli, int argc, char **argv)
{
	struct config cfg = {0};
	struct s3 s3 = S3_INIT;
	struct slot s = SLOT_INIT;
	struct progress p = {0};
	struct store_push_result res = {0};
	double t0 = mono_s();
	int r = registry_open_target(&s, argc ? argv[0] : NULL, 0, &cli->err);
	if (r >= 0 && (!slot_exists(&s) || !s.record))
		r = slot_not_built_error(&s, &cli->err);
	if (r >= 0)
		r = open_store(cli, &cfg, &s3, &p);
	if (r >= 0) {
		p.what = "push";
		struct store_push_opts o = {.revision = push_opts.revision,
					    .channel = push_opts.channel,
					    .key_path = cfg.signing_key};
		r = store_push(&s3, &s, &o, &res, &cli->err);
		progress_end(&p);
	}
	if (r >= 0) {
		double secs = mono_s() - t0;
		if (cli->json) {
			cli_json(cli,
				 json_pack(
				     "{s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, "
				     "s:f}",
				     "store", s3.url, "manifest_path", s.manifest_path, "revision",
				     res.revision, "channel",
				     res.channel ? json_string(res.channel) : json_null(),
				     "channel_sequence",
				     res.channel ? json_integer(res.channel_sequence) : json_null(),
				     "signed_by", res.keyid, "files", (json_int_t)res.files,
				     "uploaded_files", (json_int_t)res.uploaded, "total_bytes",
				     (json_int_t)res.total_bytes, "uploaded_bytes",
				     (json_int_t)res.uploaded_bytes, "resumed_parts",
				     (json_int_t)s3.stats.resumed_parts, "requests",
				     (json_int_t)s3.stats.requests, "seconds", secs));
		} else {
			_cleanup_free_ char *up = registry_cli_bytes(res.uploaded_bytes);
			_cleanup_free_ char *all = registry_cli_bytes(res.total_bytes);
			printf("%s\n", res.revision);
			cli_note(
			    cli,
			    "pushed revision %.12s to %s: %zu of %zu files uploaded (%s of %s), "
			    "signed by %s, %.2f s",
			    res.revision, s3.url, res.uploaded, res.files, up, all, res.keyid,
			    secs);
			if (res.channel)
				cli_note(cli, "channel %s -> %.12s (sequence %lld)", res.channel,
					 res.revision, res.channel_sequence);
		}
	}
	store_push_result_release(&res);
	config_release(&cfg);
	s3_release(&s3);
	slot_release(&s);
	return r < 0 ? r : 0;
}

const struct command cmd_manifest_push = {
    .name = "push",
    .run = run_push,
    .summary = "Upload a built revision to the store, signed, and move its channel.",
    .usage = "[PATH] [--revision HASH] [--channel NAME] [--json]",
    .description =
	"Uploads every file of the revision the store does not already hold (content-addressed "
	"by\nsha256: an unchanged revision uploads nothing), then the revision document signed "
	"with\nthe Ed25519 key of 'mvmctl key generate', then moves the channel: the "
	"manifest's name,\nor --channel. Prints the revision hash. The store is [store] url in "
	"config.toml or\nMVM_STORE_URL; docs/store.md describes the layout.",
    .examples = "mvmctl manifest push\nmvmctl manifest push ./api --revision 3f2a9c\n"
		"mvmctl manifest push --channel staging --json",
    .environment = STORE_ENV,
    .exit_status = "0 pushed, 1 the transfer failed or the store refused the credentials,\n"
		   "2 usage error, 3 no store or no credentials configured, 4 no such manifest, "
		   "slot,\nrevision or signing key",
    .opts = push_optv,
    .max_args = 1,
    .args = CLI_ARG_FILE | CLI_ARG_SLOT,
};

/* ---- manifest pull ------------------------------------------------------------------ */

static struct {
	bool insecure, force;
} pull_opts;

static const struct opt pull_optv[] = {
    OPT_BOOL_(0, "insecure-skip-signature", &pull_opts.insecure,
	      "accept a revision or channel that is unsigned or not signed by a trusted key"),
    OPT_BOOL_('f', "force", &pull_opts.force, "overwrite a different mvm.toml in DIR"),
    OPT_END_(),
};

static void on_file(void *ctx, const char *name, uint64_t size, uint64_t at)
{
	struct progress *p = ctx;
	p->what = name;
	if (at)
		cli_note(p->cli, "resuming %s at byte %llu of %llu", name, (unsigned long long)at,
			 (unsigned long long)size);
}

static int run_pull(struct cli *cli, int argc, char **argv)
{
	struct config cfg = {0};
	struct s3 s3 = S3_INIT;
	struct progress p = {0};
	struct store_pull_result res = {0};
	double t0 = mono_s();
	_cleanup_free_ char *dflt = NULL;
	const char *dir = argc > 1 ? argv[1] : NULL;
	if (!dir)
		dir = dflt = xstrdup(hash_is_sha256_hex(argv[0]) ? "." : argv[0]);
	int r = open_store(cli, &cfg, &s3, &p);
	if (r >= 0) {
		struct store_pull_opts o = {.ref = argv[0],
					    .dir = dir,
					    .trusted = &cfg.trusted_keys,
					    .insecure_skip_signature = pull_opts.insecure,
					    .force = pull_opts.force,
					    .on_file = on_file,
					    .ctx = &p};
		r = store_pull(&s3, &o, &res, &cli->err);
		progress_end(&p);
	}
	if (r >= 0) {
		double secs = mono_s() - t0;
		if (res.channel && !res.channel_keyid)
			cli_warn(cli,
				 "channel %s was not checked against a trusted key "
				 "(--insecure-skip-signature)",
				 argv[0]);
		if (!res.keyid)
			cli_warn(cli,
				 "revision %.12s was not checked against a trusted key "
				 "(--insecure-skip-signature)",
				 res.revision);
		if (cli->json) {
			cli_json(cli,
				 json_pack(
				     "{s:s, s:s, s:s, s:o, s:s, s:o, s:b, s:I, s:I, s:I, s:I, "
				     "s:I, s:I, s:I, s:f}",
				     "store", s3.url, "ref", argv[0], "revision", res.revision,
				     "channel_sequence",
				     res.channel ? json_integer(res.channel_sequence) : json_null(),
				     "manifest_path", res.manifest_path, "signed_by",
				     res.keyid ? json_string(res.keyid) : json_null(),
				     "already_present", res.already, "files", (json_int_t)res.files,
				     "downloaded_files", (json_int_t)res.downloaded,
				     "resumed_files", (json_int_t)res.resumed, "reused_files",
				     (json_int_t)res.reused, "total_bytes",
				     (json_int_t)res.total_bytes, "downloaded_bytes",
				     (json_int_t)res.downloaded_bytes, "requests",
				     (json_int_t)s3.stats.requests, "seconds", secs));
		} else {
			_cleanup_free_ char *down = registry_cli_bytes(res.downloaded_bytes);
			printf("%s\n", res.manifest_path);
			if (res.already)
				cli_note(cli, "revision %.12s was already here; nothing downloaded",
					 res.revision);
			else
				cli_note(cli,
					 "pulled revision %.12s: %zu files, %s downloaded, %.2f s",
					 res.revision, res.files, down, secs);
			if (res.keyid)
				cli_note(cli, "signed by trusted key %s", res.keyid);
		}
	}
	store_pull_result_release(&res);
	config_release(&cfg);
	s3_release(&s3);
	return r < 0 ? r : 0;
}

const struct command cmd_manifest_pull = {
    .name = "pull",
    .run = run_pull,
    .summary = "Download a revision from the store and install it as DIR's slot.",
    .usage = "<CHANNEL-OR-HASH> [DIR] [--insecure-skip-signature] [--force] [--json]",
    .description =
	"Downloads the revision a channel names (or a 64-hex revision), checks its signature "
	"against\nthe trusted keys and every file against its sha256, then writes mvm.toml in "
	"DIR (default:\nthe channel's name, or . for a hash) and registers the revision "
	"atomically as the current\nrevision of that mvm.toml's slot: 'mvmctl up DIR' boots "
	"it, with no nix. Nothing is\nregistered unless every file matched; a killed pull "
	"continues where it stopped. A channel\nis a signed document too: it must name the "
	"channel asked for, and its sequence may not\ngo below the highest one seen here "
	"before (a rollback).",
    .examples = "mvmctl manifest pull openclaw ./openclaw\nmvmctl up ./openclaw\n"
		"mvmctl manifest pull --json openclaw ./openclaw | jq -r .revision",
    .environment = STORE_ENV,
    .exit_status = "0 pulled, 1 the transfer failed, a file did not match its sha256 or the "
		   "store refused\nthe credentials, 2 usage error, 3 no store or no credentials "
		   "configured, 4 no such\nchannel or revision, 5 refused: unsigned, not signed by "
		   "a trusted key, a channel\ndocument of another channel or older than one "
		   "seen here, or DIR holds another mvm.toml",
    .opts = pull_optv,
    .min_args = 1,
    .max_args = 2,
    .args = CLI_ARG_DIR,
};

/* ---- key ---------------------------------------------------------------------------- */

static struct {
	bool force;
} keygen_opts;

static const struct opt keygen_optv[] = {
    OPT_BOOL_('f', "force", &keygen_opts.force, "replace an existing key"),
    OPT_END_(),
};

static int run_key_generate(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct config cfg = {0};
	int r = config_load(&cfg, &cli->err);
	if (r < 0)
		return r;
	_cleanup_free_ char *pub = NULL;
	r = sign_generate(cfg.signing_key, keygen_opts.force, &pub, &cli->err);
	if (r >= 0) {
		_cleanup_free_ char *id = sign_keyid(pub);
		if (cli->json)
			cli_json(cli, json_pack("{s:s, s:s, s:s}", "private_key", cfg.signing_key,
						"public_key", pub, "keyid", id));
		else {
			printf("%s\n", pub);
			cli_note(cli,
				 "wrote %s (0600) and %s.pub; trust it on the pulling hosts with "
				 "[store] trusted_keys = [\"%s\"]",
				 cfg.signing_key, cfg.signing_key, pub);
		}
	}
	config_release(&cfg);
	return r < 0 ? r : 0;
}

static int run_key_show(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct config cfg = {0};
	int r = config_load(&cfg, &cli->err);
	if (r < 0)
		return r;
	_cleanup_free_ char *pub = NULL;
	r = sign_public_of(cfg.signing_key, &pub, &cli->err);
	if (r >= 0) {
		_cleanup_free_ char *id = sign_keyid(pub);
		if (cli->json)
			cli_json(cli, json_pack("{s:s, s:s, s:s}", "private_key", cfg.signing_key,
						"public_key", pub, "keyid", id));
		else
			printf("%s\n", pub);
	}
	config_release(&cfg);
	return r < 0 ? r : 0;
}

static const struct command cmd_key_generate = {
    .name = "generate",
    .run = run_key_generate,
    .summary = "Make the Ed25519 key pair 'manifest push' signs with.",
    .usage = "[--force] [--json]",
    .description = "Writes the private key (PKCS#8 PEM, 0600) to $MVM_HOME/keys/signing.key "
		   "(or [store] signing_key,\nMVM_SIGNING_KEY) and the public key beside it "
		   "(.pub), and prints the public key line\nto put in [store] trusted_keys on "
		   "the hosts that pull. An existing key is kept unless --force.",
    .examples = "mvmctl key generate\nmvmctl key generate --json | jq -r .public_key",
    .environment = "MVM_SIGNING_KEY  where the private key is written",
    .exit_status = "0 written, 1 failed, 5 a key exists already (--force replaces it)",
    .opts = keygen_optv,
    .max_args = 0,
};

static const struct command cmd_key_show = {
    .name = "show",
    .run = run_key_show,
    .summary = "Print the public key of the signing key.",
    .usage = "[--json]",
    .examples = "mvmctl key show\nmvmctl key show --json | jq -r .keyid",
    .environment = "MVM_SIGNING_KEY  the private key read",
    .exit_status = "0 printed, 3 the file is not an Ed25519 key, 4 no signing key",
    .max_args = 0,
};

static const struct command *const key_subcommands[] = {
    &cmd_key_generate,
    &cmd_key_show,
    NULL,
};

const struct command cmd_key = {
    .name = "key",
    .summary = "Manage the Ed25519 key that signs pushed revisions.",
    .subcommands = key_subcommands,
};

/* ---- manifest verify --check-signature ------------------------------------------------ */

int store_cli_check_signature(struct cli *cli, const struct slot *s, const char *revision,
			      bool skip, char **keyid)
{
	struct config cfg = {0};
	int r = config_load(&cfg, &cli->err);
	if (r < 0)
		return r;
	struct s3 s3 = S3_INIT;
	bool have_store = false;
	if (!store_has_local_envelope(s, revision) && cfg.store_url) {
		r = s3_open(&s3, &cfg, &cli->err);
		if (r < 0)
			goto out;
		have_store = true;
	}
	r = store_check_signature(have_store ? &s3 : NULL, s, revision, &cfg.trusted_keys, keyid,
				  &cli->err);
	if (r < 0 && skip && cli->err.exit == EXIT_REFUSED) {
		cli_warn(cli, "%s (--insecure-skip-signature)", cli->err.msg);
		err_release(&cli->err);
		r = 0;
	}
out:
	s3_release(&s3);
	config_release(&cfg);
	return r;
}
