/*-------------------------------------------------------------------------
 *
 * lock_guard.c
 *	  LOCK TABLE on the extension's tables: the owner's alone above
 *	  ROW EXCLUSIVE.
 *
 * PostgreSQL lets any holder of UPDATE, DELETE or TRUNCATE on a table lock
 * it in ACCESS EXCLUSIVE mode, and managers hold DELETE on the card's
 * sections: one manager's "LOCK TABLE customercard.contact_tags" would stop
 * the work of every account.  A ProcessUtility hook refuses a LOCK TABLE
 * stronger than ROW EXCLUSIVE (the mode of the writes a manager may make)
 * that reaches a table or view of schema customercard, named or through a
 * view of any schema, unless the caller owns what it reaches (or is a
 * superuser).  The hook is in place from the moment the library is loaded:
 * docs/security.md asks for customercard in session_preload_libraries, so
 * that it is loaded before a session's first statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "customercard.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

typedef struct GuardWalk
{
	Oid			nsp;			/* schema customercard */
	Oid			user;
	Oid			found;			/* a relation the user may not lock so */
	int			depth;
} GuardWalk;

static void GuardRelation(Oid relid, GuardWalk *walk);

/* every relation a view's query reads, sub-queries and sub-links included */
static bool
GuardViewWalker(Node *node, GuardWalk *walk)
{
	if (node == NULL || OidIsValid(walk->found))
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				GuardRelation(rte->relid, walk);
		}
		return query_tree_walker(query, GuardViewWalker, walk, 0);
	}
	return expression_tree_walker(node, GuardViewWalker, walk);
}

/*
 * a relation of the extension's schema that the role does not own is noted
 * (the first one)
 */
static void
GuardRelation(Oid relid, GuardWalk *walk)
{
	char		relkind;

	if (OidIsValid(walk->found))
		return;
	if (get_rel_namespace(relid) == walk->nsp && !RelationOwnedBy(relid, walk->user))
	{
		walk->found = relid;
		return;
	}
	relkind = get_rel_relkind(relid);
	/* LOCK on a view locks what it reads, as the view's owner (PostgreSQL 11+) */
	if (relkind == RELKIND_VIEW && walk->depth < 64)
	{
		Relation	view = table_open(relid, AccessShareLock);
		Query	   *query = get_view_query(view);

		walk->depth++;
		GuardViewWalker((Node *) query, walk);
		walk->depth--;
		table_close(view, AccessShareLock);
	}
}

/*
 * LOCK TABLE of such a relation by a non-owner: refused before a lock is
 * queued
 */
static void
GuardLockStmt(LockStmt *stmt)
{
	GuardWalk	walk;
	ListCell   *lc;

	if (stmt->mode <= RowExclusiveLock || superuser())
		return;
	walk.nsp = get_namespace_oid("customercard", true);
	if (!OidIsValid(walk.nsp))
		return;
	walk.user = GetUserId();
	walk.found = InvalidOid;
	walk.depth = 0;
	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid = RangeVarGetRelid(rv, NoLock, true);

		if (OidIsValid(relid))
			GuardRelation(relid, &walk);
		if (OidIsValid(walk.found))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only the owner of customercard.%s may lock it in %s mode",
							get_rel_name(walk.found), GetLockmodeName(DEFAULT_LOCKMETHOD, stmt->mode)),
					 errdetail("A lock this strong on a table of customercard would stall the work of every account."),
					 errhint("Writes take the locks they need; ROW EXCLUSIVE is the strongest mode LOCK TABLE may take here.")));
	}
}

/* the utility hook: the guard, then the next hook or standard_ProcessUtility */
static void
LockGuardProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, LockStmt))
		GuardLockStmt((LockStmt *) pstmt->utilityStmt);
	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/* installs the utility hook (from _PG_init) */
void
LockGuardInit(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = LockGuardProcessUtility;
}
