/* Nix's `--log-format internal-json` stream, shown as a person reads it.
 *
 * The builder VM runs `nix build --log-format internal-json` (no -L: in nix
 * 2.8 a later -L switches the format back to the progress bar, and the JSON
 * stream carries every build log line anyway). Its stderr reaches the host as
 * bytes, in pieces; this module turns them into what `nix build -L` would
 * print, on out_fd:
 *
 *  - a line not starting with `@nix ` is shown as it is (sanitized);
 *  - `@nix {"action":"msg","level":L,"msg":T}`: T, one line per line of it,
 *    when L <= 3 (info): errors and warnings always show;
 *  - `{"action":"start","type":105,...}` (a build): `building '/nix/store/…drv'...`,
 *    and other start texts of level <= 3 with "..." (as nix's plain logger);
 *  - `{"action":"result","type":101,"fields":[LINE]}`: `NAME> LINE`, NAME being
 *    the derivation's name (no hash, no .drv) of the activity that started it
 *    (`unnamed` for an id never seen); type 107 (post-build hook): `NAME (post)> LINE`;
 *  - results 104 (phase), 105 (progress) and 106 (expected) feed the status
 *    line; `stop` forgets an activity; anything else is dropped;
 *  - `@nix ` followed by anything but a JSON object with a string "action" is
 *    shown as a plain line.
 *
 * On a TTY one status line sits below the log, e.g.
 * `[1/3 built, 1 running] building mvm-dep (buildPhase) 12s`, cut to the
 * terminal's width, drawn with "\r" ESC "[K", cleared before lines are printed
 * and drawn again after, at most 10 times a second. Off a TTY only lines are
 * written, never an escape.
 *
 * The stream comes from a guest and is not trusted: ANSI escape sequences
 * are removed (nix colours its own messages), every other control byte but
 * the newline becomes '?' (a tab becomes a space; a carriage return keeps
 * what follows it, as a terminal would show), and so does any byte that is
 * not part of valid UTF-8, or that encodes a C1 control. A line longer than
 * NIXLOG_LINE_MAX bytes is cut there and shown with " [... line cut]"; at
 * most NIXLOG_ACTS_MAX activities are tracked at once. A failed write (EPIPE,
 * a closed terminal) stops the output for good, without SIGPIPE; the text is
 * still kept for nixlog_tail(). EINTR is retried.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "core/strbuf.h"

#define NIXLOG_LINE_MAX (64u << 10) /* bytes of one input line */
#define NIXLOG_TAIL_MAX (64u << 10) /* bytes kept for nixlog_tail() */
#define NIXLOG_ACTS_MAX 1024	    /* activities tracked at once */

struct nixlog;

/* tty: draw the status line (the caller decides: a TTY, and not NO_COLOR,
 * CLICOLOR=0 or TERM=dumb); else plain lines only. Never NULL. */
struct nixlog *nixlog_new(int out_fd, bool tty);
/* Bytes as they come; a line may be split across calls. */
void nixlog_feed(struct nixlog *l, const char *buf, size_t n);
/* Redraws the status line when due (its elapsed seconds move on while nix
 * is quiet): for a caller that polls with a timeout. Off a TTY, nothing. */
void nixlog_tick(struct nixlog *l);
/* The end of the stream: a partial last line is shown, the status line cleared. */
void nixlog_finish(struct nixlog *l);
/* The plain text shown (no escapes, no status line), its last NIXLOG_TAIL_MAX
 * bytes at most, cut at a line start when it could: for nix_tail_lines(). */
const char *nixlog_tail(const struct nixlog *l);
/* Accepts NULL. */
void nixlog_free(struct nixlog *l);
/* Appends one line of a guest's text (no '\n' in it) as a terminal may show
 * it, by the rules above: escapes removed, other control bytes '?', valid
 * UTF-8 kept. Never longer than the input. */
void nixlog_add_shown(struct strbuf *sb, const char *s, size_t n);
