/*-------------------------------------------------------------------------
 *
 * log_triggers.c
 *	  customercard.log_change(): the AFTER ROW trigger on the card tables
 *	  that turns every change into action_log events, with no application
 *	  code and no PL/pgSQL.
 *
 * The trigger's argument is the logical table name ('contacts', 'tasks',
 * ...), never TG_TABLE_NAME, so that it works unchanged on Citus shards.
 * Details hold only what changed (and ids and names to show it), built
 * directly as jsonb.  Names of tags, funnels, plans, groups and custom
 * fields are looked up once per transaction.  While the forget path scrubs
 * a person's data nothing is logged (it logs 'forgotten' itself), and rows
 * arriving from a restore are not logged again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "catalog/pg_index.h"

#include "action_log.h"
#include "customercard.h"

/* ------------------------------------------------------------------ columns */

typedef struct AttCacheEntry
{
	Oid			relid;
	const char *name;			/* a string literal: compared by address */
	AttrNumber	attnum;
} AttCacheEntry;

#define ATTCACHE_SIZE 1024
static AttCacheEntry attcache[ATTCACHE_SIZE];
static bool attcache_callback = false;

/* a table changed (e.g. an upgrade script renamed a column): forget its attribute numbers */
static void
AttCacheInvalidate(Datum arg, Oid relid)
{
	for (int i = 0; i < ATTCACHE_SIZE; i++)
		if (!OidIsValid(relid) || attcache[i].relid == relid)
			attcache[i].relid = InvalidOid;
}

/* the attribute number of column name in rel, cached */
static AttrNumber
AttNum(Relation rel, const char *name)
{
	Oid			relid = RelationGetRelid(rel);
	uint32		h = (((uint32) relid) * 2654435761u) ^ (uint32) ((uintptr_t) name >> 3);
	AttCacheEntry *e = &attcache[h % ATTCACHE_SIZE];

	if (e->relid != relid || e->name != name)
	{
		int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

		if (!attcache_callback)
		{
			CacheRegisterRelcacheCallback(AttCacheInvalidate, (Datum) 0);
			attcache_callback = true;
		}
		if (attnum <= 0)
			elog(ERROR, "table \"%s\" has no column \"%s\"", RelationGetRelationName(rel), name);
		e->relid = relid;
		e->name = name;
		e->attnum = attnum;
	}
	return e->attnum;
}

typedef struct Change
{
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	old;			/* NULL on INSERT */
	HeapTuple	new;			/* NULL on DELETE */
	Datum	   *oldvalues;		/* the tuples deformed once: heap_getattr */
	bool	   *oldnulls;		/* would walk the tuple for every column */
	Datum	   *newvalues;
	bool	   *newnulls;
	bool	   *covered;		/* columns a specific event has told of */
	int			emitted;		/* events this change wrote */
} Change;

/* the old and new tuples' columns, deformed once for every handler */
static void
Deform(Change *c)
{
	int			n = c->desc->natts;

	if (c->old)
	{
		c->oldvalues = palloc(n * sizeof(Datum));
		c->oldnulls = palloc(n * sizeof(bool));
		heap_deform_tuple(c->old, c->desc, c->oldvalues, c->oldnulls);
	}
	if (c->new)
	{
		c->newvalues = palloc(n * sizeof(Datum));
		c->newnulls = palloc(n * sizeof(bool));
		heap_deform_tuple(c->new, c->desc, c->newvalues, c->newnulls);
	}
	c->covered = palloc0(n * sizeof(bool));
	c->emitted = 0;
}

/* a column of the old or new tuple by name */
static Datum
Get(Change *c, HeapTuple t, const char *col, bool *isnull)
{
	int			i = AttNum(c->rel, col) - 1;

	if (t == c->new)
	{
		*isnull = c->newnulls[i];
		return c->newvalues[i];
	}
	*isnull = c->oldnulls[i];
	return c->oldvalues[i];
}

/* a bigint column of the tuple (ids, accounts) */
static int64
GetInt64(Change *c, HeapTuple t, const char *col)
{
	bool		isnull;
	Datum		d = Get(c, t, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* a column's type, for its JSON form in the details */
static Oid
ColType(Change *c, const char *col)
{
	return TupleDescAttr(c->desc, AttNum(c->rel, col) - 1)->atttypid;
}

/* did attribute i (0-based) change between the old and the new row? */
static bool
AttChanged(Change *c, int i)
{
	Form_pg_attribute att = TupleDescAttr(c->desc, i);

	if (c->oldnulls[i] || c->newnulls[i])
		return c->oldnulls[i] != c->newnulls[i];
	return !datum_image_eq(c->oldvalues[i], c->newvalues[i], att->attbyval, att->attlen);
}

/*
 * did col change?  A handler asks only of columns it tells of when they
 * changed: the generic pass (LogRest) leaves those out.
 */
static bool
Changed(Change *c, const char *col)
{
	int			i = AttNum(c->rel, col) - 1;

	if (!AttChanged(c, i))
		return false;
	c->covered[i] = true;
	return true;
}

/* col changed but no event told of it: the generic pass logs it */
static void
Uncover(Change *c, const char *col)
{
	c->covered[AttNum(c->rel, col) - 1] = false;
}

/* ------------------------------------------------------------------ details */

typedef struct Details
{
	JsonbParseState *st;
} Details;

/* an event's details are built as a JSON object, key by key: */
static void
DetailsBegin(Details *d)
{
	d->st = NULL;
	pushJsonbValue(&d->st, WJB_BEGIN_OBJECT, NULL);
}

static void
DetailsKey(Details *d, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(&d->st, WJB_KEY, &k);
}

static void
DetailsText(Details *d, const char *key, const char *value)
{
	JsonbValue	v;

	DetailsKey(d, key);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	pushJsonbValue(&d->st, WJB_VALUE, &v);
}

static void
DetailsDatum(Details *d, const char *key, Datum value, Oid type, bool isnull)
{
	JsonbValue	v;

	DetailsKey(d, key);
	if (isnull)
		v.type = jbvNull;
	else
		switch (type)
		{
			case INT2OID:
			case INT4OID:
			case INT8OID:
				v.type = jbvNumeric;
				v.val.numeric = int64_to_numeric(type == INT2OID ? DatumGetInt16(value)
												 : type == INT4OID ? DatumGetInt32(value)
												 : DatumGetInt64(value));
				break;
			case NUMERICOID:
				v.type = jbvNumeric;
				v.val.numeric = DatumGetNumeric(value);
				break;
			case BOOLOID:
				v.type = jbvBool;
				v.val.boolean = DatumGetBool(value);
				break;
			case TEXTOID:
			case VARCHAROID:
				{
					text	   *t = DatumGetTextPP(value);

					v.type = jbvString;
					v.val.string.val = VARDATA_ANY(t);
					v.val.string.len = VARSIZE_ANY_EXHDR(t);
					break;
				}
			default:
				{
					Oid			out;
					bool		varlena;
					char	   *s;

					getTypeOutputInfo(type, &out, &varlena);
					s = OidOutputFunctionCall(out, value);
					v.type = jbvString;
					v.val.string.val = s;
					v.val.string.len = strlen(s);
					break;
				}
		}
	pushJsonbValue(&d->st, WJB_VALUE, &v);
}

/* details[key] = the column's value in row t */
static void
DetailsCol(Details *d, Change *c, HeapTuple t, const char *key, const char *col)
{
	bool		isnull;
	Datum		v = Get(c, t, col, &isnull);

	DetailsDatum(d, key, v, ColType(c, col), isnull);
}

/* whether rel has the column: one added by a later version is absent
 * while an older version's tables run this library (until ALTER EXTENSION
 * ... UPDATE) */
static bool
HasColumn(Relation rel, const char *name)
{
	return SPI_fnumber(RelationGetDescr(rel), name) > 0;
}

/* col when the table has it and it holds a value (an order_id: the order the row is about) */
static void
DetailsColSet(Details *d, Change *c, HeapTuple t, const char *col)
{
	bool		isnull;

	if (!HasColumn(c->rel, col))
		return;
	(void) Get(c, t, col, &isnull);
	if (!isnull)
		DetailsCol(d, c, t, col, col);
}

/* the details as jsonb */
static Jsonb *
DetailsEnd(Details *d)
{
	return JsonbValueToJsonb(pushJsonbValue(&d->st, WJB_END_OBJECT, NULL));
}

/* ------------------------------------------------------------ name lookups */

typedef enum NameKind
{
	NAME_TAG,
	NAME_FUNNEL,
	NAME_PLAN,
	NAME_GROUP,
	NAME_FIELD,
	NAME_KINDS
} NameKind;

/* %s: the relation of the table on this node (see citus.c) */
static const char *const name_queries[NAME_KINDS] = {
	"SELECT name FROM %s WHERE account_id = $1 AND tag_id = $2",
	"SELECT name FROM %s WHERE account_id = $1 AND funnel_id = $2",
	"SELECT name FROM %s WHERE account_id = $1 AND plan_id = $2",
	"SELECT name FROM %s WHERE account_id = $1 AND group_id = $2",
	"SELECT name FROM %s WHERE account_id = $1 AND field_id = $2",
};
static const char *const name_tables[NAME_KINDS] = {"tags", "funnels", "sales_plans", "groups", "custom_fields"};

typedef struct NameKey
{
	int			kind;
	int64		account;
	int64		id;
} NameKey;

typedef struct NameEntry
{
	NameKey		key;
	char	   *name;
} NameEntry;

static HTAB *names = NULL;
static LocalTransactionId names_lxid = InvalidLocalTransactionId;

/* the name of a tag, funnel, plan, group or field; cached for the transaction */
static char *
LookupName(NameKind kind, int64 account, int64 id)
{
	NameKey		key;
	NameEntry  *e;
	bool		found;

	if (names == NULL || names_lxid != MyLocalTransactionId())
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(NameKey);
		ctl.entrysize = sizeof(NameEntry);
		ctl.hcxt = TopTransactionContext;
		names = hash_create("customercard names", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		names_lxid = MyLocalTransactionId();
	}
	memset(&key, 0, sizeof(key));
	key.kind = kind;
	key.account = account;
	key.id = id;
	e = hash_search(names, &key, HASH_ENTER, &found);
	if (!found)
	{
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		args[2] = {Int64GetDatum(account), Int64GetDatum(id)};

		e->name = NULL;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_plan(CustomercardPlanFor(name_queries[kind], name_tables[kind], account, 2, types),
							 args, NULL, true, 1) == SPI_OK_SELECT && SPI_processed > 0)
		{
			char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (s != NULL)
				e->name = MemoryContextStrdup(TopTransactionContext, s);
		}
		SPI_finish();
	}
	return e->name;
}

/* details[key_id] = row.col, details[key_name] = its name */
static void
DetailsNamed(Details *d, Change *c, HeapTuple t, NameKind kind, const char *col, const char *key_name)
{
	bool		isnull;
	Datum		id = Get(c, t, col, &isnull);

	DetailsDatum(d, col, id, INT8OID, isnull);
	DetailsText(d, key_name, isnull ? NULL : LookupName(kind, GetInt64(c, t, "account_id"), DatumGetInt64(id)));
}

/* ---------------------------------------------------------------- events */

/* one event about the tuple's contact, into the log's buffer */
static void
Emit(Change *c, HeapTuple t, const char *event, Jsonb *details)
{
	ActionLogAppend(GetInt64(c, t, "account_id"), GetInt64(c, t, "contact_id"), event, details);
	c->emitted++;
}

/* columns no event tells of: bookkeeping, and what a contact row is keyed by */
static bool
Unlogged(Form_pg_attribute att)
{
	const char *name = NameStr(att->attname);

	return att->attisdropped || att->attgenerated ||
		strcmp(name, "account_id") == 0 || strcmp(name, "contact_id") == 0 ||
		strcmp(name, "updated_at") == 0;
}

/* details[col] for every column of the row but the unlogged ones */
static void
DetailsRow(Details *d, Change *c, HeapTuple t)
{
	bool	   *nulls = t == c->new ? c->newnulls : c->oldnulls;
	Datum	   *values = t == c->new ? c->newvalues : c->oldvalues;

	for (int i = 0; i < c->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(c->desc, i);

		if (!Unlogged(att))
			DetailsDatum(d, NameStr(att->attname), values[i], att->atttypid, nulls[i]);
	}
}

/* details.key: the row's primary key but its account */
static void
DetailsKeyCols(Details *d, Change *c, HeapTuple t)
{
	Oid			pk = RelationPrimaryKey(c->rel);
	bool	   *nulls = t == c->new ? c->newnulls : c->oldnulls;
	Datum	   *values = t == c->new ? c->newvalues : c->oldvalues;
	HeapTuple	indtup;
	Form_pg_index ind;

	DetailsKey(d, "key");
	pushJsonbValue(&d->st, WJB_BEGIN_OBJECT, NULL);
	if (OidIsValid(pk) && HeapTupleIsValid(indtup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pk))))
	{
		ind = (Form_pg_index) GETSTRUCT(indtup);
		for (int k = 0; k < ind->indnkeyatts; k++)
		{
			int			i = ind->indkey.values[k] - 1;
			Form_pg_attribute att = TupleDescAttr(c->desc, i);

			if (strcmp(NameStr(att->attname), "account_id") != 0)
				DetailsDatum(d, NameStr(att->attname), values[i], att->atttypid, nulls[i]);
		}
		ReleaseSysCache(indtup);
	}
	pushJsonbValue(&d->st, WJB_END_OBJECT, NULL);
}

/*
 * What no specific event told of, so that every change is logged, in every
 * declared section, a new one the day it is added:
 * row_added / row_deleted with the row (what was deleted stays readable),
 * row_changed with the old and new value of each column that changed and
 * that no event of the change named.
 */
static void
LogRest(Change *c, const char *table)
{
	Details		d;
	HeapTuple	t = c->new ? c->new : c->old;

	if (c->old == NULL || c->new == NULL)
	{
		if (c->emitted > 0)
			return;
		DetailsBegin(&d);
		DetailsText(&d, "section", table);
		DetailsKeyCols(&d, c, t);
		DetailsKey(&d, "row");
		pushJsonbValue(&d.st, WJB_BEGIN_OBJECT, NULL);
		DetailsRow(&d, c, t);
		(void) pushJsonbValue(&d.st, WJB_END_OBJECT, NULL);
		Emit(c, t, c->new ? "row_added" : "row_deleted", DetailsEnd(&d));
		return;
	}
	{
		bool		any = false;

		for (int i = 0; i < c->desc->natts && !any; i++)
			any = !c->covered[i] && !Unlogged(TupleDescAttr(c->desc, i)) && AttChanged(c, i);
		if (!any)
			return;
	}
	DetailsBegin(&d);
	DetailsText(&d, "section", table);
	DetailsKeyCols(&d, c, t);
	DetailsKey(&d, "fields");
	pushJsonbValue(&d.st, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < c->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(c->desc, i);

		if (c->covered[i] || Unlogged(att) || !AttChanged(c, i))
			continue;
		DetailsKey(&d, NameStr(att->attname));
		pushJsonbValue(&d.st, WJB_BEGIN_OBJECT, NULL);
		DetailsDatum(&d, "old", c->oldvalues[i], att->atttypid, c->oldnulls[i]);
		DetailsDatum(&d, "new", c->newvalues[i], att->atttypid, c->newnulls[i]);
		pushJsonbValue(&d.st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&d.st, WJB_END_OBJECT, NULL);
	Emit(c, t, "row_changed", DetailsEnd(&d));
}

/* field_changed {field, old, new} when col changed */
static void
FieldChanged(Change *c, const char *col, const char *field)
{
	Details		d;

	if (!Changed(c, col))
		return;
	DetailsBegin(&d);
	DetailsText(&d, "field", field);
	DetailsCol(&d, c, c->old, "old", col);
	DetailsCol(&d, c, c->new, "new", col);
	Emit(c, c->new, "field_changed", DetailsEnd(&d));
}

static const char *const contact_fields[][2] = {
	{"name", "name"}, {"first_name", "first_name"}, {"last_name", "last_name"},
	{"middle_name", "middle_name"}, {"nickname", "nickname"}, {"avatar_url", "avatar_url"},
	{"gender", "gender"}, {"timezone", "timezone"}, {"country", "country"}, {"city", "city"},
	{"note", "note"}, {"manager_id", "manager"}, {"points", "points"}, {"deleted_at", "deleted_at"},
};

/*
 * contacts: created, deleted, archived, field_changed for each personal
 * field
 */
static void
LogContacts(Change *c)
{
	bool		isnull;

	if (c->old == NULL)
	{
		Emit(c, c->new, "contact_created", NULL);
		return;
	}
	/*
	 * A card becoming a tombstone or forgotten: merge and forget log that
	 * for themselves (only their SECURITY DEFINER functions may write these
	 * columns).  Later edits of such a card are logged as any other.
	 */
	if (Changed(c, "merged_into") || Changed(c, "forgotten_at"))
	{
		bool		merged_isnull,
					forgotten_isnull;

		(void) Get(c, c->new, "merged_into", &merged_isnull);
		(void) Get(c, c->new, "forgotten_at", &forgotten_isnull);
		if (!merged_isnull || !forgotten_isnull)
		{
			memset(c->covered, true, c->desc->natts * sizeof(bool));
			return;
		}
	}

	if (Changed(c, "status"))
	{
		char	   *was = TextDatumGetCString(Get(c, c->old, "status", &isnull));
		char	   *now = TextDatumGetCString(Get(c, c->new, "status", &isnull));

		if (strcmp(now, "archived") == 0)
			Emit(c, c->new, "archived", NULL);
		else
		{
			if (strcmp(was, "archived") == 0)
				Emit(c, c->new, "unarchived", NULL);
			if (strcmp(was, "archived") != 0 || strcmp(now, "active") != 0)
				FieldChanged(c, "status", "status");
		}
	}
	if (Changed(c, "deleted_at"))
	{
		(void) Get(c, c->new, "deleted_at", &isnull);
		if (!isnull)
			Emit(c, c->new, "contact_deleted", NULL);
		else
			FieldChanged(c, "deleted_at", "deleted_at");
	}
	for (size_t i = 0; i < lengthof(contact_fields); i++)
		if (strcmp(contact_fields[i][0], "deleted_at") != 0)
			FieldChanged(c, contact_fields[i][0], contact_fields[i][1]);
}

/* phones and e-mails: field_changed of 'phone' / 'email' */
static void
LogContactValue(Change *c, const char *col)
{
	Details		d;
	HeapTuple	t = c->new ? c->new : c->old;

	if (c->old != NULL && c->new != NULL && !Changed(c, col))
		return;
	DetailsBegin(&d);
	DetailsText(&d, "field", col);
	if (c->old)
		DetailsCol(&d, c, c->old, "old", col);
	else
		DetailsText(&d, "old", NULL);
	if (c->new)
		DetailsCol(&d, c, c->new, "new", col);
	else
		DetailsText(&d, "new", NULL);
	Emit(c, t, "field_changed", DetailsEnd(&d));
}

/* channels: channel_created, channel_deleted */
static void
LogChannels(Change *c)
{
	Details		d;
	HeapTuple	t = c->new ? c->new : c->old;

	if (c->old != NULL && c->new != NULL)
		return;					/* edits of a channel are not card events */
	DetailsBegin(&d);
	DetailsCol(&d, c, t, "channel_id", "channel_id");
	DetailsCol(&d, c, t, "kind", "kind");
	DetailsCol(&d, c, t, "connection", "connection");
	Emit(c, t, c->new ? "channel_created" : "channel_deleted", DetailsEnd(&d));
}

/* tags on a contact: tag_added, tag_removed with the tag name */
static void
LogContactTags(Change *c)
{
	Details		d;
	HeapTuple	t = c->new ? c->new : c->old;

	if (c->old != NULL && c->new != NULL)
		return;
	DetailsBegin(&d);
	DetailsNamed(&d, c, t, NAME_TAG, "tag_id", "tag");
	Emit(c, t, c->new ? "tag_added" : "tag_removed", DetailsEnd(&d));
}

/* custom values: custom_field_set with the field, old and new value */
static void
LogCustomValues(Change *c)
{
	Details		d;
	HeapTuple	t = c->new ? c->new : c->old;

	if (c->old != NULL && c->new != NULL && !Changed(c, "value"))
		return;
	DetailsBegin(&d);
	DetailsNamed(&d, c, t, NAME_FIELD, "field_id", "field");
	if (c->old)
		DetailsCol(&d, c, c->old, "old", "value");
	else
		DetailsText(&d, "old", NULL);
	if (c->new)
		DetailsCol(&d, c, c->new, "new", "value");
	else
		DetailsText(&d, "new", NULL);
	Emit(c, t, "custom_field_set", DetailsEnd(&d));
}

/* a subscription's funnel, LGT and channel, as its events tell them */
static Jsonb *
SubscriptionDetails(Change *c, HeapTuple t)
{
	Details		d;

	DetailsBegin(&d);
	DetailsCol(&d, c, t, "subscription_id", "subscription_id");
	DetailsNamed(&d, c, t, NAME_FUNNEL, "funnel_id", "funnel");
	DetailsCol(&d, c, t, "channel_id", "channel_id");
	DetailsCol(&d, c, t, "lgt_id", "lgt_id");
	return DetailsEnd(&d);
}

/* subscriptions: subscribed, unsubscribed */
static void
LogSubscriptions(Change *c)
{
	bool		unsubscribed;

	if (c->new == NULL)
		return;
	(void) Get(c, c->new, "unsubscribed_at", &unsubscribed);
	unsubscribed = !unsubscribed;
	if (c->old == NULL)
	{
		Emit(c, c->new, "subscribed", SubscriptionDetails(c, c->new));
		if (unsubscribed)
			Emit(c, c->new, "unsubscribed", SubscriptionDetails(c, c->new));
	}
	else if (Changed(c, "unsubscribed_at"))
		Emit(c, c->new, unsubscribed ? "unsubscribed" : "subscribed", SubscriptionDetails(c, c->new));
}

/* orders: order_created, order_status_changed */
static void
LogOrders(Change *c)
{
	Details		d;

	if (c->new == NULL)
		return;
	DetailsBegin(&d);
	DetailsCol(&d, c, c->new, "order_id", "order_id");
	DetailsCol(&d, c, c->new, "number", "number");
	if (c->old == NULL)
	{
		DetailsCol(&d, c, c->new, "offer", "offer");
		DetailsCol(&d, c, c->new, "amount", "amount");
		DetailsCol(&d, c, c->new, "currency", "currency");
		DetailsCol(&d, c, c->new, "status", "status");
		Emit(c, c->new, "order_created", DetailsEnd(&d));
	}
	else if (Changed(c, "status"))
	{
		DetailsCol(&d, c, c->old, "old", "status");
		DetailsCol(&d, c, c->new, "new", "status");
		Emit(c, c->new, "order_status_changed", DetailsEnd(&d));
	}
}

/* payments: payment_succeeded, payment_failed, payment_confirmed */
static void
LogPayments(Change *c)
{
	Details		d;
	bool		isnull;
	char	   *status;

	if (c->new == NULL)
		return;
	status = TextDatumGetCString(Get(c, c->new, "status", &isnull));
	if (c->old != NULL)
	{
		/* a manual payment confirmed (confirm_payment): pending, then succeeded */
		if (Changed(c, "status"))
		{
			if (strcmp(status, "succeeded") == 0 &&
				strcmp(TextDatumGetCString(Get(c, c->old, "status", &isnull)), "pending") == 0)
			{
				DetailsBegin(&d);
				DetailsCol(&d, c, c->new, "payment_id", "payment_id");
				DetailsCol(&d, c, c->new, "order_id", "order_id");
				DetailsCol(&d, c, c->new, "amount", "amount");
				DetailsCol(&d, c, c->new, "confirmed_by", "confirmed_by");
				Emit(c, c->new, "payment_confirmed", DetailsEnd(&d));
				Changed(c, "confirmed_by");	/* told of by payment_confirmed */
				if (HasColumn(c->rel, "confirmed_at"))
					Changed(c, "confirmed_at");
			}
			else
				Uncover(c, "status");	/* row_changed tells */
		}
		return;
	}
	if (strcmp(status, "pending") == 0)
		return;					/* a manual payment awaiting confirmation: row_added tells */
	DetailsBegin(&d);
	DetailsCol(&d, c, c->new, "payment_id", "payment_id");
	DetailsCol(&d, c, c->new, "order_id", "order_id");
	DetailsCol(&d, c, c->new, "amount", "amount");
	if (strcmp(status, "failed") == 0)
	{
		DetailsCol(&d, c, c->new, "error_code", "error_code");
		Emit(c, c->new, "payment_failed", DetailsEnd(&d));
	}
	else
		Emit(c, c->new, "payment_succeeded", DetailsEnd(&d));
}

/* INSERT-only membership tables: one event naming what was joined */
static void
LogJoined(Change *c, const char *event, NameKind kind, const char *col, const char *key_name)
{
	Details		d;

	if (c->old != NULL || c->new == NULL)
		return;
	DetailsBegin(&d);
	DetailsNamed(&d, c, c->new, kind, col, key_name);
	Emit(c, c->new, event, DetailsEnd(&d));
}

/* sales plan members: sales_plan_added with the plan */
static void
LogSalesPlanMembers(Change *c)
{
	LogJoined(c, "sales_plan_added", NAME_PLAN, "plan_id", "plan");
}

/* tasks: task_created, task_done, task_rescheduled */
static void
LogTasks(Change *c)
{
	Details		d;

	if (c->new == NULL)
		return;
	if (c->old == NULL)
	{
		DetailsBegin(&d);
		DetailsCol(&d, c, c->new, "task_id", "task_id");
		DetailsCol(&d, c, c->new, "title", "title");
		DetailsCol(&d, c, c->new, "due_at", "due_at");
		DetailsColSet(&d, c, c->new, "order_id");
		Emit(c, c->new, "task_created", DetailsEnd(&d));
		return;
	}
	if (Changed(c, "status"))
	{
		bool		isnull;

		if (strcmp(TextDatumGetCString(Get(c, c->new, "status", &isnull)), "done") == 0)
		{
			DetailsBegin(&d);
			DetailsCol(&d, c, c->new, "task_id", "task_id");
			DetailsCol(&d, c, c->new, "title", "title");
			Emit(c, c->new, "task_done", DetailsEnd(&d));
			Changed(c, "done_at");	/* told of by task_done */
		}
		else
			Uncover(c, "status");	/* cancelled or open again: row_changed tells */
	}
	if (Changed(c, "due_at"))
	{
		DetailsBegin(&d);
		DetailsCol(&d, c, c->new, "task_id", "task_id");
		DetailsCol(&d, c, c->new, "title", "title");
		DetailsCol(&d, c, c->old, "old", "due_at");
		DetailsCol(&d, c, c->new, "new", "due_at");
		Emit(c, c->new, "task_rescheduled", DetailsEnd(&d));
	}
}

/* INSERT-only tables: one event with a few columns of the new row ("?col": only when set) */
static void
LogInsert(Change *c, const char *event, const char *const *cols)
{
	Details		d;

	if (c->old != NULL || c->new == NULL)
		return;
	DetailsBegin(&d);
	for (int i = 0; cols[i] != NULL; i++)
	{
		if (cols[i][0] == '?')
			DetailsColSet(&d, c, c->new, cols[i] + 1);
		else
			DetailsCol(&d, c, c->new, cols[i], cols[i]);
	}
	Emit(c, c->new, event, DetailsEnd(&d));
}

static const char *const call_cols[] = {"call_id", "direction", "result", "duration_s", "manager_id", "?order_id", NULL};
static const char *const webinar_cols[] = {"visit_id", "webinar", "launch", NULL};
static const char *const page_cols[] = {"visit_id", "url", NULL};
static const char *const comment_cols[] = {"comment_id", "?order_id", NULL};

/* group members: membership with the group */
static void
LogGroupMembers(Change *c)
{
	LogJoined(c, "membership", NAME_GROUP, "group_id", "group");
}

static void LogPhones(Change *c) { LogContactValue(c, "phone"); }
static void LogEmails(Change *c) { LogContactValue(c, "email"); }
static void LogCalls(Change *c) { LogInsert(c, "call", call_cols); }
static void LogWebinarVisits(Change *c) { LogInsert(c, "webinar_viewed", webinar_cols); }
static void LogPageVisits(Change *c) { LogInsert(c, "page_visited", page_cols); }
static void LogComments(Change *c) { LogInsert(c, "comment_added", comment_cols); }

/* the logical table name (the trigger's argument) -> what its changes log */
static const struct
{
	const char *table;
	void		(*log) (Change *c);
}			handlers[] =
{
	{"contacts", LogContacts},
	{"phones", LogPhones},
	{"emails", LogEmails},
	{"channels", LogChannels},
	{"contact_tags", LogContactTags},
	{"custom_values", LogCustomValues},
	{"subscriptions", LogSubscriptions},
	{"orders", LogOrders},
	{"payments", LogPayments},
	{"sales_plan_members", LogSalesPlanMembers},
	{"tasks", LogTasks},
	{"calls", LogCalls},
	{"webinar_visits", LogWebinarVisits},
	{"page_visits", LogPageVisits},
	{"comments", LogComments},
	{"group_members", LogGroupMembers},
};

PG_FUNCTION_INFO_V1(log_change);

/*
 * AFTER INSERT ... FOR EACH ROW EXECUTE FUNCTION log_change('table'), and
 * BEFORE UPDATE OR DELETE ... (named to fire after every other BEFORE
 * trigger).  Why BEFORE for those: the row is already locked when BEFORE
 * ROW triggers fire, and no later trigger can cancel it, so the change will
 * happen unless the statement fails, which drops its buffered log rows too;
 * and it spares PostgreSQL's AFTER-trigger queue, which re-reads both
 * tuples of every updated row.  INSERT stays AFTER: ON CONFLICT DO NOTHING
 * fires BEFORE INSERT triggers for rows it then skips.
 */
Datum
log_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Change		c;
	const char *table;
	HeapTuple	result;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 1 ||
		(TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) != TRIGGER_FIRED_AFTER(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("log_change() must be an AFTER INSERT or a BEFORE UPDATE OR DELETE row trigger with the logical table name as its argument")));

	result = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	/* (a points edit's ledger row, or a ledger row's balance: the change it follows is logged) */
	if (customercard_scrub_in_progress || customercard_points_syncing ||
		CustomercardRestoring(trigdata->tg_relation))
		return PointerGetDatum(result);

	table = trigdata->tg_trigger->tgargs[0];
	c.rel = trigdata->tg_relation;
	c.desc = RelationGetDescr(c.rel);
	c.old = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ? NULL : trigdata->tg_trigtuple;
	c.new = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ? NULL
		: TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	c.oldvalues = c.newvalues = NULL;
	c.oldnulls = c.newnulls = NULL;
	Deform(&c);

	/* a section's specific events, then what they did not tell of */
	for (size_t i = 0; i < lengthof(handlers); i++)
		if (strcmp(table, handlers[i].table) == 0)
		{
			handlers[i].log(&c);
			break;
		}
	LogRest(&c, table);
	return PointerGetDatum(result);
}
