/*-------------------------------------------------------------------------
 *
 * tenancy.c
 *	  The account a statement acts in, and whether its role may act there.
 *
 * Design note.  Row-level security on every table compares account_id with
 * (SELECT customercard.current_account_id()), so this runs once per table
 * reference of a query, not per row; the answer must still be cheap and
 * right.  What it depends on is cached per backend: the acting role's bound
 * accounts (customercard.role_bindings), whether it is privileged (superuser,
 * the extension owner, or a member of customercard_app) and the default
 * account.  A row trigger on role_bindings and accounts sends a relcache
 * invalidation for its table, and role membership changes arrive as
 * syscache invalidations; either drops the cache, in this backend at the
 * next command and in the others at commit.
 *
 * The acting role is the current user, except inside a SECURITY DEFINER
 * function owned by a privileged role (our own), where it is the caller:
 * the outer user.  So an admin's call of bind_role is judged as the admin.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "customercard.h"

typedef struct TenancyCache
{
	bool		valid;
	Oid			role;			/* acting role this was computed for */
	bool		privileged;		/* may act in any account */
	int64		default_account;	/* 0 when there is none */
	int			nbound;
	int64	   *bound;			/* accounts the role is bound to (sorted) */
	Oid			extowner;		/* owner of the extension */
	Oid			accounts_relid; /* tables whose changes drop the cache */
	Oid			bindings_relid;
	int64		region_account; /* account whose default_region is below */
	char		region[3];		/* "" when the account has none */
} TenancyCache;

static TenancyCache cache;
static uint64 generation = 0;	/* bumped by every invalidation */
static bool callbacks_registered = false;
static bool loading = false;

/* the role's accounts are read again at the next check */
static void
ResetTenancyCache(void)
{
	cache.valid = false;
	cache.region_account = 0;
	if (cache.bound != NULL)
		pfree(cache.bound);
	cache.bound = NULL;
	cache.nbound = 0;
}

/* a change of role_bindings or accounts invalidates the cache */
static void
TenancyRelcacheCallback(Datum arg, Oid relid)
{
	/* no catalog access here: compare with the OIDs noted at load time */
	if (!OidIsValid(relid) || relid == cache.accounts_relid || relid == cache.bindings_relid)
	{
		generation++;
		ResetTenancyCache();
	}
}

/* a change of roles or memberships invalidates it too */
static void
TenancySyscacheCallback(Datum arg, int cacheid, uint32 hashvalue)
{
	generation++;
	ResetTenancyCache();
}

/* the invalidation callbacks, registered once per backend */
static void
RegisterTenancyCallbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(TenancyRelcacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, TenancySyscacheCallback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, TenancySyscacheCallback, (Datum) 0);
	callbacks_registered = true;
}

/* the role that owns the extension (and its tables) */
Oid
ExtensionOwner(void)
{
	Oid			extoid = get_extension_oid("customercard", false);
	HeapTuple	tuple;
	Oid			owner;

	tuple = SearchSysCache1(EXTENSIONOID, ObjectIdGetDatum(extoid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for extension %u", extoid);
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* the owner, from the tenancy cache when it is filled (hot paths call this) */
Oid
CustomercardExtensionOwner(void)
{
	return cache.valid ? cache.extowner : ExtensionOwner();
}

/*
 * a superuser, the extension owner or a member of customercard_app: may act
 * in any account
 */
static bool
RoleIsPrivileged(Oid role, Oid extowner)
{
	Oid			app = get_role_oid("customercard_app", true);

	if (superuser_arg(role) || role == extowner)
		return true;
	return OidIsValid(app) && has_privs_of_role(role, app);
}

/*
 * Fill the cache for role, reading the tables as the extension owner.  An
 * invalidation that arrives while reading (a bind or unbind committed
 * meanwhile) makes the rows read stale: read again.
 */
static void LoadTenancyCacheOnce(Oid role);

/*
 * the role's accounts, read again until no invalidation came in while
 * reading
 */
static void
LoadTenancyCache(Oid role)
{
	for (;;)
	{
		uint64		before = generation;

		LoadTenancyCacheOnce(role);
		if (generation == before)
			return;
		ResetTenancyCache();
	}
}

/* one read of the role's bindings, as the extension owner */
static void
LoadTenancyCacheOnce(Oid role)
{
	Oid			extowner = ExtensionOwner();
	Oid			save_userid;
	int			save_sec_context;
	MemoryContext oldcxt;
	int64	   *bound = NULL;
	int			nbound = 0;
	int64		default_account = 0;
	Datum		arg = ObjectIdGetDatum(role);
	Oid			argtype = OIDOID;

	RegisterTenancyCallbacks();
	ResetTenancyCache();

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(extowner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	loading = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		/* on Citus, this node's placement of the reference tables (citus.c) */
		if (SPI_execute(psprintf("SELECT a.account_id FROM %s a WHERE a.is_default",
								 CustomercardRelationFor("accounts", 0)), true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read customercard.accounts");
		if (SPI_processed > 0)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				default_account = DatumGetInt64(d);
		}

		/* bound accounts; bindings of dropped roles are skipped, not errors */
		if (SPI_execute_with_args(psprintf("SELECT DISTINCT b.account_id FROM %s b "
										   "WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.oid OPERATOR(pg_catalog.=) b.role::pg_catalog.oid) "
										   "THEN pg_catalog.pg_has_role($1, b.role::pg_catalog.oid, 'USAGE') ELSE false END "
										   "ORDER BY 1", CustomercardRelationFor("role_bindings", 0)),
								  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read customercard.role_bindings");
		if (SPI_processed > 0)
		{
			oldcxt = MemoryContextSwitchTo(TopMemoryContext);
			bound = palloc(sizeof(int64) * SPI_processed);
			MemoryContextSwitchTo(oldcxt);
			for (uint64 i = 0; i < SPI_processed; i++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

				if (!isnull)
					bound[nbound++] = DatumGetInt64(d);
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		loading = false;
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();

	{
		Oid			nsp = get_namespace_oid("customercard", false);

		cache.accounts_relid = get_relname_relid("accounts", nsp);
		cache.bindings_relid = get_relname_relid("role_bindings", nsp);
	}
	cache.extowner = extowner;
	cache.role = role;
	cache.privileged = RoleIsPrivileged(role, extowner);
	cache.default_account = default_account;
	cache.bound = bound;
	cache.nbound = nbound;
	cache.valid = true;
}

/* the role is bound to this account */
static bool
IsBound(int64 account)
{
	for (int i = 0; i < cache.nbound; i++)
		if (cache.bound[i] == account)
			return true;
	return false;
}

/*
 * the role judged: the calling role inside the extension's SECURITY DEFINER
 * functions
 */
static Oid
ActingRole(void)
{
	Oid			current = GetUserId();

	if (InLocalUserIdChange() && OidIsValid(GetOuterUserId()) &&
		GetOuterUserId() != current &&
		RoleIsPrivileged(current, CustomercardExtensionOwner()))
		return GetOuterUserId();
	return current;
}

/* the error saying why the role may not act in the account, and what to do */
static void
ReportNotAllowed(Oid role, int64 requested)
{
	char	   *rolename = GetUserNameFromId(role, true);

	if (requested > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not bound to account " INT64_FORMAT, rolename ? rolename : "?", requested),
				 errhint("An admin of that account runs customercard.bind_role('%s', " INT64_FORMAT "); members of customercard_app may act in any account.",
						 rolename ? rolename : "?", requested)));
	else if (cache.nbound > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is bound to %d accounts and customercard.account_id is not set", rolename ? rolename : "?", cache.nbound),
				 errhint("SET customercard.account_id to one of the accounts the role is bound to.")));
	else if (cache.privileged)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("there is no default account and customercard.account_id is not set"),
				 errhint("SET customercard.account_id to an account of customercard.accounts.")));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" is not bound to any account", rolename ? rolename : "?"),
				 errhint("An admin binds it with customercard.bind_role(role, account_id), or grant it customercard_app.")));
}

/*
 * The account the current statement acts in, or 0 when the acting role may
 * not act in any.  With for_write, "may not" is an error that says why.
 */
int64
CustomercardCurrentAccount(bool for_write)
{
	Oid			role;
	int64		requested = 0;
	const char *s = customercard_account_id_setting;

	if (loading)
		return 0;

	if (s != NULL && s[0] != '\0')
		requested = pg_strtoint64(s);

	role = ActingRole();
	if (!cache.valid || cache.role != role)
		LoadTenancyCache(role);

	if (requested > 0)
	{
		if (cache.privileged || IsBound(requested))
			return requested;
	}
	else if (cache.privileged)
	{
		/*
		 * The default account is the coordinator's decision, never a
		 * worker's: a Citus task that arrives without the account (a
		 * session-level SET is not sent on, SET LOCAL is) acts in none
		 */
		if (cache.default_account > 0 && !CustomercardInCitusTask())
			return cache.default_account;
	}
	else if (cache.nbound == 1)
		return cache.bound[0];
	/* bound to several: never guess which business a write is for */

	if (for_write)
		ReportNotAllowed(role, requested);
	return 0;
}

PG_FUNCTION_INFO_V1(current_account_id);

/* customercard.current_account_id(): the account, or NULL where the role may not act */
Datum
current_account_id(PG_FUNCTION_ARGS)
{
	int64		account = CustomercardCurrentAccount(false);

	if (account <= 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(account);
}

PG_FUNCTION_INFO_V1(require_account_id);

/* customercard.require_account_id(): the account, or an error saying why not */
Datum
require_account_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(CustomercardCurrentAccount(true));
}

PG_FUNCTION_INFO_V1(account_may_act);

/* customercard.account_may_act(account bigint): may the acting role act in it? */
Datum
account_may_act(PG_FUNCTION_ARGS)
{
	int64		account = PG_GETARG_INT64(0);
	Oid			role = ActingRole();

	if (!cache.valid || cache.role != role)
		LoadTenancyCache(role);
	PG_RETURN_BOOL(cache.privileged || IsBound(account));
}

PG_FUNCTION_INFO_V1(invalidate_tenancy_cache);

/*
 * Row trigger on role_bindings and accounts: tell every backend (this one at
 * the next command, others at commit) that who-may-act-where changed.
 */
Datum
invalidate_tenancy_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("invalidate_tenancy_cache() must be called as a trigger")));
	/*
	 * The table itself, also when the trigger fires on a Citus shard or
	 * placement of it (accounts_102008): that is what the caches watch
	 */
	{
		Oid			nsp = get_namespace_oid("customercard", false);
		const char *name = RelationGetRelationName(trigdata->tg_relation);
		Oid			relid = get_relname_relid(strncmp(name, "accounts", 8) == 0 ? "accounts" : "role_bindings", nsp);

		CacheInvalidateRelcacheByRelid(OidIsValid(relid) ? relid : RelationGetRelid(trigdata->tg_relation));
	}
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		return PointerGetDatum(trigdata->tg_newtuple);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

PG_FUNCTION_INFO_V1(calling_role);

/*
 * customercard.calling_role(): the role judged for tenancy: the caller of our
 * SECURITY DEFINER functions, else the current user
 */
Datum
calling_role(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(ActingRole());
}

/*
 * The default_region of an account ("" when it has none), for national phone
 * formats.  Read as the extension owner (the caller has already resolved the
 * account it may act in) and kept until accounts change.
 */
const char *
CustomercardAccountRegion(int64 account)
{
	static char region[3];
	uint64		gen;
	Oid			save_userid;
	int			save_sec_context;
	Datum		arg = Int64GetDatum(account);
	Oid			argtype = INT8OID;

	if (cache.valid && cache.region_account == account)
		return cache.region;
	gen = generation;
	region[0] = '\0';
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(CustomercardExtensionOwner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args(psprintf("SELECT a.default_region FROM %s a "
										   "WHERE a.account_id OPERATOR(pg_catalog.=) $1", CustomercardRelationFor("accounts", 0)),
								  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read customercard.accounts");
		if (SPI_processed > 0)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v != NULL && strlen(v) == 2)
				memcpy(region, v, 3);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (cache.valid && gen == generation)
	{
		cache.region_account = account;
		memcpy(cache.region, region, 3);
	}
	return region;
}

/*
 * Does the acting role administer its accounts' rules: a member of
 * customercard_admin or customercard_app, the extension owner or a superuser
 * (the automatic groups' rules are theirs to apply, group_rules.c).
 */
bool
CustomercardActingAsAdmin(void)
{
	Oid			role = ActingRole();
	Oid			admin = get_role_oid("customercard_admin", true);

	return RoleIsPrivileged(role, CustomercardExtensionOwner()) ||
		(OidIsValid(admin) && has_privs_of_role(role, admin));
}
