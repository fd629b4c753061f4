/*-------------------------------------------------------------------------
 *
 * customercard.c
 *	  Module entry point of the customercard extension.
 *
 * _PG_init only hands off to the subsystems. The library needs no
 * shared_preload_libraries entry: the first call of any of its functions
 * loads it, and the customercard.* settings become typed from then on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "tcop/pquery.h"
#include "utils/portal.h"
#include "utils/rls.h"

#include "action_log.h"
#include "customercard.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	CustomercardDefineSettings();
	ActionLogInit();
}

/*
 * Is this row arriving from a restore?  pg_dump's scripts (plain and
 * through pg_restore) SET row_security = off and load rows with COPY.
 * Triggers with side effects (points sync, updated_at, the action log)
 * stand aside then, so that rows come back exactly as they were dumped;
 * an application's own COPY runs with row_security on and keeps them.
 */
bool
CustomercardRestoring(void)
{
	return !row_security && ActivePortal != NULL && ActivePortal->commandTag == CMDTAG_COPY;
}
