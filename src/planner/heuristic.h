/* The planner that is always available: case-insensitive keyword matching.
 *
 * Keyword groups, in the order that decides the primary preset (first match
 * wins; none matches → minimal):
 *   python    python fastapi flask django
 *   worker    worker queue cron job poll
 *   http      http web api server
 *   postgres  postgres postgresql database
 * A keyword matches a whole word of the prompt, also with the endings s, es,
 * ing ("jobs", "polling"). The features are every group that matches; http is
 * dropped when python is present. A forced preset (--preset) beats the
 * inferred one and is among the features (unless minimal).
 */
#pragma once

#include "plan.h"

/* Never fails. forced may be NULL. */
void plan_heuristic(const char *prompt, const struct preset *forced, struct plan *p);
