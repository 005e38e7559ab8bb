/* A NULL-terminated, growable vector of owned strings (an argv). */
#pragma once

#include <stddef.h>

struct strvec {
	char **v; /* never NULL after STRVEC_INIT is used with strvec_push */
	size_t n;
	size_t alloc;
};

#define STRVEC_INIT                                                                                \
	{                                                                                          \
		.v = NULL, .n = 0, .alloc = 0                                                      \
	}

void strvec_push(struct strvec *sv, const char *s);
void strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strvec_pushv(struct strvec *sv, const char *const *v);
/* The NULL-terminated array (an empty vector gives a valid empty array). */
const char *const *strvec_argv(struct strvec *sv);
void strvec_clear(struct strvec *sv);
