#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/util.h"
#include "heuristic.h"

struct group {
	const char *preset;
	const char *const keywords[6]; /* NULL-terminated */
};

static const struct group groups[] = {
    {"python", {"python", "fastapi", "flask", "django"}},
    {"worker", {"worker", "queue", "cron", "job", "poll"}},
    {"http", {"http", "web", "api", "server"}},
    {"postgres", {"postgres", "postgresql", "database"}},
};

/* The word w (lowercase, length n) is keyword kw or kw plus an ending. */
static bool word_matches(const char *w, size_t n, const char *kw)
{
	static const char *const endings[] = {"", "s", "es", "ing"};
	size_t k = strlen(kw);
	if (n < k || memcmp(w, kw, k))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(endings); i++)
		if (n - k == strlen(endings[i]) && !memcmp(w + k, endings[i], n - k))
			return true;
	return false;
}

/* The first keyword of g that some word of the lowercased prompt matches. */
static const char *group_match(const struct group *g, const char *lower)
{
	for (const char *const *kw = g->keywords; *kw; kw++) {
		for (const char *w = lower; *w;) {
			while (*w && !isalnum((unsigned char)*w))
				w++;
			const char *end = w;
			while (*end && isalnum((unsigned char)*end))
				end++;
			if (end > w && word_matches(w, (size_t)(end - w), *kw))
				return *kw;
			w = end;
		}
	}
	return NULL;
}

void plan_heuristic(const char *prompt, const struct preset *forced, struct plan *p)
{
	_cleanup_free_ char *lower = xstrdup(prompt);
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);

	const char *matched[ARRAY_SIZE(groups)] = {0};
	const struct preset *inferred = NULL;
	struct strbuf keywords = STRBUF_INIT;
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		matched[i] = group_match(&groups[i], lower);
		if (!matched[i])
			continue;
		if (!inferred)
			inferred = preset_find(groups[i].preset);
		strbuf_addf(&keywords, "%s%s", keywords.len ? ", " : "", matched[i]);
	}
	if (!inferred)
		inferred = preset_find(PRESET_DEFAULT);
	const struct preset *primary = forced ? forced : inferred;

	plan_init_defaults(p, primary);
	strvec_clear(&p->features);
	bool python = matched[0] || !strcmp(primary->name, "python");
	for (size_t i = 0; i < ARRAY_SIZE(groups); i++) {
		const char *name = groups[i].preset;
		if ((matched[i] || !strcmp(primary->name, name)) &&
		    !(python && !strcmp(name, "http")))
			strvec_push(&p->features, name);
	}

	free(p->summary);
	p->summary = keywords.len ? xasprintf("%s preset (keywords: %s): %s", primary->name,
					      keywords.buf, primary->summary)
				  : xasprintf("%s preset (no keyword matched): %s", primary->name,
					      primary->summary);
	if (forced && forced != inferred)
		strvec_pushf(&p->notes, "--preset %s was given; the prompt suggests %s",
			     forced->name, inferred->name);
	strbuf_release(&keywords);
}
