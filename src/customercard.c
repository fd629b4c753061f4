/*-------------------------------------------------------------------------
 *
 * customercard.c
 *	  Module entry point of the customercard extension.
 *
 * _PG_init only hands off to the subsystems. The library needs no
 * shared_preload_libraries entry: the first call of any of its functions
 * loads it, and the customercard.* settings become typed from then on.
 * Only the LOCK TABLE guard (lock_guard.c) wants it loaded before a
 * session's first statement: session_preload_libraries (docs/security.md).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
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
	LockGuardInit();
}

/*
 * When a change happens, for the log and updated_at: the statement's start,
 * or, in a procedure that committed since its CALL began (the bulk runner's
 * batches), the start of the transaction that makes the change.
 */
TimestampTz
CustomercardChangeTime(void)
{
	TimestampTz stmt = GetCurrentStatementStartTimestamp();
	TimestampTz xact = GetCurrentTransactionStartTimestamp();

	return Max(stmt, xact);
}

/*
 * A trigger's tuple's column by name (an error if the table has none):
 * the C triggers read their rows' columns through this.
 */
int
CustomercardAttnum(Relation rel, const char *name)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		elog(ERROR, "table \"%s\" has no column \"%s\"", RelationGetRelationName(rel), name);
	return attnum;
}

/*
 * a column of a trigger's tuple by name (CustomercardAttnum caches the
 * number)
 */
Datum
CustomercardColumn(Relation rel, HeapTuple tuple, const char *name, bool *isnull)
{
	return heap_getattr(tuple, CustomercardAttnum(rel, name), RelationGetDescr(rel), isnull);
}

/*
 * Is this row of rel arriving from a restore?  pg_dump's scripts (plain and
 * through pg_restore) SET row_security = off and load rows with COPY ...
 * FROM, as a role that owns the tables or a superuser.  Triggers with side
 * effects (points sync, updated_at, the action log) stand aside then, so
 * that rows come back exactly as they were dumped.  Every part is checked,
 * as anyone may turn row_security off: the statement is a COPY FROM into
 * rel itself (not COPY (SELECT <a writer>) TO, nor a trigger's write into
 * another table), run by rel's owner or a superuser, never through a
 * SECURITY DEFINER function (whose owner would pass for the caller).
 * An application's own COPY runs with row_security on and keeps them.
 */
bool
CustomercardRestoring(Relation rel)
{
	PlannedStmt *stmt;
	CopyStmt   *copy;
	Oid			target;

	if (row_security || ActivePortal == NULL || ActivePortal->commandTag != CMDTAG_COPY ||
		list_length(ActivePortal->stmts) != 1)
		return false;
	stmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (stmt->utilityStmt == NULL || !IsA(stmt->utilityStmt, CopyStmt))
		return false;
	copy = (CopyStmt *) stmt->utilityStmt;
	if (!copy->is_from || copy->relation == NULL || InSecurityRestrictedOperation() ||
		GetUserId() != GetOuterUserId())
		return false;
	target = RangeVarGetRelid(copy->relation, NoLock, true);
	if (!OidIsValid(target) || target != RelationGetRelid(rel))
		return false;
	return superuser() || RelationOwnedBy(target, GetUserId());
}
