/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Where a table's rows of an account are, for the SQL that the C code
 *	  runs through SPI (the log, the points ledger, tenancy, names).
 *
 * Design note.  On one node every statement names the table itself.  Once
 * customercard.distribute_on_citus() has run, the triggers fire on shards,
 * on the node that holds the account, and a statement there that names a
 * distributed table would be a distributed query nested in a shard's task,
 * which Citus refuses (and which would be wrong under a rebalance).  So
 * such a statement names the colocated shard of the same account on this
 * node instead ("customercard.action_log_102075"); reference tables
 * (accounts, role_bindings) have a placement on every node, which is read
 * directly.  Where the shard is not here (the coordinator at the top of a
 * statement), the table itself is named and Citus routes the statement.
 *
 * Whether the schema is distributed is looked up once a transaction (a
 * syscache probe where Citus is absent); the shard of each (table,
 * account) likewise.  Plans are cached per statement and relation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "customercard.h"

typedef enum
{
	DIST_UNKNOWN, DIST_NO, DIST_YES
} DistState;

static DistState dist_state = DIST_UNKNOWN;
static HTAB *shard_names = NULL;	/* (table, account) -> relation, this transaction */
static HTAB *plans = NULL;			/* (statement, relation) -> kept plan, this backend */
static bool xact_callback_registered = false;

typedef struct ShardKey
{
	char		table[NAMEDATALEN];
	int64		account;
} ShardKey;

typedef struct ShardEntry
{
	ShardKey	key;
	char		relation[2 * NAMEDATALEN + 16];
} ShardEntry;

typedef struct PlanKey
{
	const char *sql;			/* a static string of the caller's */
	char		relation[2 * NAMEDATALEN + 16];
} PlanKey;

typedef struct PlanEntry
{
	PlanKey		key;
	SPIPlanPtr	plan;
} PlanEntry;

/* what is known of the cluster lasts one transaction */
static void
CitusXactCallback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		dist_state = DIST_UNKNOWN;
		shard_names = NULL;		/* lived in TopTransactionContext */
	}
}

/* the transaction callback above, registered once per backend */
static void
RegisterCallback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(CitusXactCallback, NULL);
		xact_callback_registered = true;
	}
}

/* a hash table in the given memory context (the transaction's) */
static HTAB *
NewHash(const char *name, Size keysize, Size entrysize, MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = keysize;
	ctl.entrysize = entrysize;
	ctl.hcxt = cxt;
	return hash_create(name, 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* run a one-value query through SPI; NULL when it gave no row or NULL */
static char *
QueryValue(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	char	   *result = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(sql, nargs, types, values, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not run: %s", sql);
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = MemoryContextStrdup(TopTransactionContext, v);
	}
	SPI_finish();
	return result;
}

/*
 * Is this backend running a task that another Citus node sent (its
 * connections name themselves "citus_internal gpid=...")?  A session can
 * give itself that name too, which only ever takes its default account away.
 */
bool
CustomercardInCitusTask(void)
{
	return application_name != NULL && strncmp(application_name, "citus_internal gpid=", 20) == 0;
}

/* has distribute_on_citus() distributed the schema (as this transaction sees it) */
bool
CustomercardDistributed(void)
{
	RegisterCallback();
	if (dist_state == DIST_UNKNOWN)
	{
		if (!IsTransactionState())
			return false;
		if (!OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE)))
			dist_state = DIST_NO;	/* no Citus: for the rest of the transaction */
		else
			dist_state = QueryValue("SELECT 1 FROM pg_catalog.pg_dist_partition "
								"WHERE logicalrelid OPERATOR(pg_catalog.=) 'customercard.contacts'::pg_catalog.regclass",
									0, NULL, NULL, NULL) != NULL ? DIST_YES : DIST_NO;
	}
	return dist_state == DIST_YES;
}

/*
 * The qualified relation that SPI statements must name for table's rows of
 * account (any account for a reference table): the table on one node, the
 * local shard once distributed and the shard is here.
 */
const char *
CustomercardRelationFor(const char *table, int64 account)
{
	ShardKey	key;
	ShardEntry *e;
	bool		found;
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	char	   *shardid;

	if (!CustomercardDistributed())
	{
		static char one_node[2 * NAMEDATALEN + 16];

		snprintf(one_node, sizeof(one_node), "customercard.%s", table);
		return one_node;
	}

	if (shard_names == NULL)
		shard_names = NewHash("customercard shards", sizeof(ShardKey), sizeof(ShardEntry), TopTransactionContext);
	memset(&key, 0, sizeof(key));
	strlcpy(key.table, table, NAMEDATALEN);
	key.account = account;
	e = hash_search(shard_names, &key, HASH_ENTER, &found);
	if (found)
		return e->relation;

	args[0] = CStringGetTextDatum(psprintf("customercard.%s", table));
	args[1] = Int64GetDatum(account);
	shardid = QueryValue("SELECT pg_catalog.get_shard_id_for_distribution_column($1::pg_catalog.regclass, $2)",
						 2, argtypes, args, NULL);
	if (shardid != NULL &&
		OidIsValid(get_relname_relid(psprintf("%s_%s", table, shardid), get_namespace_oid("customercard", false))))
		snprintf(e->relation, sizeof(e->relation), "customercard.%s_%s", table, shardid);
	else
		snprintf(e->relation, sizeof(e->relation), "customercard.%s", table);
	return e->relation;
}

/*
 * A kept plan of sql_format, whose one "%s" is the relation of table for
 * account.  sql_format must be a static string (its address is the key).
 * Call while connected to SPI.
 */
SPIPlanPtr
CustomercardPlanFor(const char *sql_format, const char *table, int64 account, int nargs, Oid *argtypes)
{
	PlanKey		key;
	PlanEntry  *e;
	bool		found;

	if (plans == NULL)
		plans = NewHash("customercard plans", sizeof(PlanKey), sizeof(PlanEntry), TopMemoryContext);
	memset(&key, 0, sizeof(key));
	key.sql = sql_format;
	strlcpy(key.relation, CustomercardRelationFor(table, account), sizeof(key.relation));
	e = hash_search(plans, &key, HASH_ENTER, &found);
	if (!found)
		e->plan = NULL;
	if (e->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(psprintf(sql_format, key.relation), nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		e->plan = plan;
	}
	return e->plan;
}

/* does this node hold the account's rows (always on one node)? */
bool
CustomercardAccountIsHere(int64 account)
{
	return !CustomercardDistributed() ||
		strcmp(CustomercardRelationFor("contacts", account), "customercard.contacts") != 0;
}

/*
 * The first step of a function that must run on the account's node (a
 * delegated function on Citus, distribute_on_citus()): elsewhere Citus did
 * not delegate the call, and its statements would be refused or meet a
 * guard whose switch is in another backend.
 */
void
CustomercardAssertAccountHere(int64 account, const char *what)
{
	if (!CustomercardAccountIsHere(account))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s of account " INT64_FORMAT " ran on a node that does not hold the account", what, account),
				 errhint("On Citus, run SELECT customercard.distribute_on_citus() once more (it makes %s run on "
						 "the account's node), then call it again from a new session.", what)));
}

PG_FUNCTION_INFO_V1(account_is_here);

/* customercard.account_is_here(account bigint) */
Datum
account_is_here(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(CustomercardAccountIsHere(PG_GETARG_INT64(0)));
}

PG_FUNCTION_INFO_V1(citus_distributed);

/* customercard.citus_distributed(): has distribute_on_citus() run */
Datum
citus_distributed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(CustomercardDistributed());
}

PG_FUNCTION_INFO_V1(assert_account_here);

/* customercard.assert_account_here(acct bigint, what text) */
Datum
assert_account_here(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("assert_account_here needs an account and what runs")));
	CustomercardAssertAccountHere(PG_GETARG_INT64(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}
