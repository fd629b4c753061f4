/*-------------------------------------------------------------------------
 *
 * action_log.h
 *	  Writing customercard.action_log rows from C: the buffered writer
 *	  (action_log.c) and the row triggers that feed it (log_triggers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef ACTION_LOG_H
#define ACTION_LOG_H

#include "postgres.h"

#include "utils/jsonb.h"

/* action_log.c */
extern void ActionLogInit(void);
extern void ActionLogAppend(int64 account_id, int64 contact_id, const char *event, Jsonb *details);
extern bool ActionLogEventIsKnown(const char *event);
extern bool ActionLogIsRegistrableKind(const char *event);
extern const char *const action_log_events[];

#endif							/* ACTION_LOG_H */
