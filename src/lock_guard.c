/*-------------------------------------------------------------------------
 *
 * lock_guard.c
 *	  The extension's relations: only their owner may lock them strongly,
 *	  and no statement of anyone else queues such a lock.
 *
 * PostgreSQL lets any holder of UPDATE, DELETE or TRUNCATE on a table lock
 * it in ACCESS EXCLUSIVE mode, and managers hold DELETE on the card's
 * sections: one manager's "LOCK TABLE customercard.contact_tags" would stop
 * the work of every account.  Many other utility statements (CREATE RULE,
 * CREATE TRIGGER, COMMENT, SECURITY LABEL, DROP TRIGGER, CREATE STATISTICS,
 * a foreign key or an inheritance towards the table ...) queue their strong
 * lock before PostgreSQL checks that the caller owns the table: behind one
 * reader, such a statement, bound to fail, makes every other account's
 * statement wait behind it.
 *
 * A ProcessUtility hook refuses, before any lock is queued:
 *	- a LOCK TABLE stronger than ROW EXCLUSIVE (the mode of the writes a
 *	  manager may make) that reaches a table or view of schema customercard,
 *	  named or through a view of any schema;
 *	- every other utility statement that names a relation of schema
 *	  customercard as what it changes or locks (GuardTargets: the statement
 *	  kinds and where each names its relations);
 * unless the caller owns the relation (or is a superuser; for VACUUM,
 * ANALYZE, CLUSTER, REINDEX and REFRESH on PostgreSQL 17 and later, holds
 * MAINTAIN on it).  The decision is taken from the statement's kind and
 * target alone, resolved without a lock.  The hook is in place from the
 * moment the library is loaded: docs/security.md asks for customercard in
 * session_preload_libraries, so that it is loaded before a session's first
 * statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lock.h"
#include "tcop/cmdtag.h"
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
static Oid	GuardSchema(void);

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
	walk.nsp = GuardSchema();
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

/* the schema's oid, InvalidOid while it does not exist */
static Oid
GuardSchema(void)
{
	return get_namespace_oid("customercard", true);
}

/* the relations a utility statement names, as what it changes or locks */
typedef struct GuardList
{
	List	   *rels;			/* RangeVar */
	bool		maintain;		/* a maintenance command (MAINTAIN suffices) */
} GuardList;

static void
GuardAdd(GuardList *list, RangeVar *rv)
{
	if (rv != NULL)
		list->rels = lappend(list->rels, rv);
}

/*
 * an object named by a list of names: the relation itself, or (for the
 * objects that belong to a relation: a column, a constraint, a rule, a
 * trigger, a policy) the names before the last
 */
static void
GuardAddObject(GuardList *list, ObjectType type, Node *object)
{
	List	   *names;

	if (object == NULL || !IsA(object, List))
		return;
	names = (List *) object;
	switch (type)
	{
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_INDEX:
		case OBJECT_SEQUENCE:
		case OBJECT_FOREIGN_TABLE:
			GuardAdd(list, makeRangeVarFromNameList(names));
			break;
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
		case OBJECT_RULE:
		case OBJECT_TRIGGER:
		case OBJECT_POLICY:
			if (list_length(names) >= 2)
				GuardAdd(list, makeRangeVarFromNameList(list_truncate(list_copy(names), list_length(names) - 1)));
			break;
		default:
			break;
	}
}

/* the tables a foreign key among these constraints refers to */
static void
GuardAddConstraints(GuardList *list, List *constraints)
{
	ListCell   *lc;

	foreach(lc, constraints)
	{
		Node	   *node = lfirst(lc);

		if (IsA(node, Constraint) && ((Constraint *) node)->contype == CONSTR_FOREIGN)
			GuardAdd(list, ((Constraint *) node)->pktable);
		else if (IsA(node, ColumnDef))
			GuardAddConstraints(list, ((ColumnDef *) node)->constraints);
	}
}

/* a CREATE TABLE: its parents and what its foreign keys refer to */
static void
GuardAddCreate(GuardList *list, CreateStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->inhRelations)
		GuardAdd(list, lfirst_node(RangeVar, lc));
	GuardAddConstraints(list, stmt->tableElts);
	GuardAddConstraints(list, stmt->constraints);
}

/* an ALTER TABLE: its table, and what each subcommand reaches besides */
static void
GuardAddAlter(GuardList *list, AlterTableStmt *stmt)
{
	ListCell   *lc;

	GuardAdd(list, stmt->relation);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->def == NULL)
			continue;
		if (IsA(cmd->def, PartitionCmd))
			GuardAdd(list, ((PartitionCmd *) cmd->def)->name);
		else if (IsA(cmd->def, RangeVar))
			GuardAdd(list, (RangeVar *) cmd->def);	/* INHERIT, NO INHERIT */
		else
			GuardAddConstraints(list, list_make1(cmd->def));
	}
}

/* a publication's tables */
static void
GuardAddPublication(GuardList *list, List *objects)
{
	ListCell   *lc;

	foreach(lc, objects)
	{
		PublicationObjSpec *spec = lfirst_node(PublicationObjSpec, lc);

		if (spec->pubtable != NULL)
			GuardAdd(list, spec->pubtable->relation);
	}
}

/*
 * The relations a utility statement changes or locks, by its kind.  LOCK
 * TABLE is GuardLockStmt's; statements that lock no relation of another's
 * (GRANT, CREATE VIEW, COPY ...) name none here.
 */
static void
GuardTargets(Node *stmt, GuardList *list)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_RuleStmt:
			GuardAdd(list, ((RuleStmt *) stmt)->relation);
			break;
		case T_CreateTrigStmt:
			GuardAdd(list, ((CreateTrigStmt *) stmt)->relation);
			GuardAdd(list, ((CreateTrigStmt *) stmt)->constrrel);
			break;
		case T_CreatePolicyStmt:
			GuardAdd(list, ((CreatePolicyStmt *) stmt)->table);
			break;
		case T_AlterPolicyStmt:
			GuardAdd(list, ((AlterPolicyStmt *) stmt)->table);
			break;
		case T_IndexStmt:
			GuardAdd(list, ((IndexStmt *) stmt)->relation);
			break;
		case T_CreateStatsStmt:
			foreach(lc, ((CreateStatsStmt *) stmt)->relations)
				if (IsA(lfirst(lc), RangeVar))
					GuardAdd(list, lfirst_node(RangeVar, lc));
			break;
		case T_AlterTableStmt:
			GuardAddAlter(list, (AlterTableStmt *) stmt);
			break;
		case T_RenameStmt:
			GuardAdd(list, ((RenameStmt *) stmt)->relation);
			break;
		case T_AlterObjectSchemaStmt:
			GuardAdd(list, ((AlterObjectSchemaStmt *) stmt)->relation);
			break;
		case T_AlterObjectDependsStmt:
			GuardAdd(list, ((AlterObjectDependsStmt *) stmt)->relation);
			break;
		case T_AlterSeqStmt:
			GuardAdd(list, ((AlterSeqStmt *) stmt)->sequence);
			break;
		case T_CommentStmt:
			GuardAddObject(list, ((CommentStmt *) stmt)->objtype, ((CommentStmt *) stmt)->object);
			break;
		case T_SecLabelStmt:
			GuardAddObject(list, ((SecLabelStmt *) stmt)->objtype, ((SecLabelStmt *) stmt)->object);
			break;
		case T_DropStmt:
			foreach(lc, ((DropStmt *) stmt)->objects)
				GuardAddObject(list, ((DropStmt *) stmt)->removeType, lfirst(lc));
			break;
		case T_TruncateStmt:
			foreach(lc, ((TruncateStmt *) stmt)->relations)
				GuardAdd(list, lfirst_node(RangeVar, lc));
			break;
		case T_CreateStmt:
			GuardAddCreate(list, (CreateStmt *) stmt);
			break;
		case T_CreateForeignTableStmt:
			GuardAddCreate(list, &((CreateForeignTableStmt *) stmt)->base);
			break;
		case T_CreatePublicationStmt:
			GuardAddPublication(list, ((CreatePublicationStmt *) stmt)->pubobjects);
			break;
		case T_AlterPublicationStmt:
			GuardAddPublication(list, ((AlterPublicationStmt *) stmt)->pubobjects);
			break;
		case T_VacuumStmt:
			list->maintain = true;
			foreach(lc, ((VacuumStmt *) stmt)->rels)
				GuardAdd(list, lfirst_node(VacuumRelation, lc)->relation);
			break;
		case T_ClusterStmt:
			list->maintain = true;
			GuardAdd(list, ((ClusterStmt *) stmt)->relation);
			break;
		case T_ReindexStmt:
			list->maintain = true;
			GuardAdd(list, ((ReindexStmt *) stmt)->relation);
			break;
		case T_RefreshMatViewStmt:
			list->maintain = true;
			GuardAdd(list, ((RefreshMatViewStmt *) stmt)->relation);
			break;
		default:
			break;
	}
}

/* whether role may run a maintenance command on relid without owning it */
static bool
GuardMaintains(Oid relid, Oid role)
{
#if PG_VERSION_NUM >= 170000
	return pg_class_aclcheck(relid, role, ACL_MAINTAIN) == ACLCHECK_OK;
#else
	return false;
#endif
}

/*
 * Any other utility statement that names a relation of the schema which
 * the caller does not own: refused before the statement looks the relation
 * up (and queues its lock).
 */
static void
GuardUtilityStmt(Node *stmt)
{
	GuardList	list = {NIL, false};
	Oid			nsp;
	Oid			user;
	ListCell   *lc;

	GuardTargets(stmt, &list);
	if (list.rels == NIL || superuser())
		return;
	nsp = GuardSchema();
	if (!OidIsValid(nsp))
		return;
	user = GetUserId();
	foreach(lc, list.rels)
	{
		Oid			relid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
		const char *tag;

		if (!OidIsValid(relid) || get_rel_namespace(relid) != nsp || RelationOwnedBy(relid, user))
			continue;
		if (list.maintain && GuardMaintains(relid, user))
			continue;
		tag = GetCommandTagName(CreateCommandTag(stmt));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of customercard.%s may run %s on it", get_rel_name(relid), tag),
				 errdetail("%s takes a lock on the relation before PostgreSQL checks who may run it: waiting for that lock, it would stall the work of every account.", tag),
				 errhint("Ask the extension's owner (or a superuser) to run it.")));
	}
}

/* the utility hook: the guards, then the next hook or standard_ProcessUtility */
static void
LockGuardProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (IsA(pstmt->utilityStmt, LockStmt))
		GuardLockStmt((LockStmt *) pstmt->utilityStmt);
	else
		GuardUtilityStmt(pstmt->utilityStmt);
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
