/*
 * timeline.h - a case's history as an investigator reads it: one entry
 * per fact, in time order, each {"at","actor","what","text"} (refusals
 * and alerts also carry the audit event's "seq").
 */
#ifndef TK_TIMELINE_H
#define TK_TIMELINE_H

#include <jansson.h>

#include "core/case.h"

/* Builds the timeline of c from its record and its audit events (the
 * case view's "events" array: seq, ts, kind, actor, alert, detail), or
 * NULL when out of memory. events may be NULL. */
json_t *tk_timeline(const tk_case *c, const json_t *events);

#endif
