/*-------------------------------------------------------------------------
 *
 * duplicates.c
 *	  duplicate_groups: the candidate groups of a whole account.
 *
 * Contacts are linked when they share a phone, an e-mail key or a channel
 * (kind and external id), unless the key is shared by more than
 * max_sharers live contacts (a switchboard links nobody) or the two were
 * marked not_duplicates; a group is a connected component of those links.
 *
 * In SQL, the components need a recursive query whose work grows with the
 * square of a component and with the number of keys: a minute at a million
 * contacts.  And even grouping the keys in SQL (GROUP BY ... HAVING
 * count(*) > 1) costs more than the self-join on phones we measure against,
 * since nearly every key is held by one contact.  So each key kind is read
 * once, in table order, through SPI into our own DestReceiver (no copy of
 * each row into a tuple table); a hash table (simplehash)
 * keyed by the key's bytes counts its holders and keeps the first few; the
 * keys held by 2..max_sharers live contacts then link them in a union-find
 * (union by size, path halving).  Near-linear, one pass per kind.  The
 * queries run as the caller, so row-level security applies, and each
 * filters the account.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "nodes/params.h"
#include "tcop/dest.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "customercard.h"

/* the key kinds, in the order reasons are listed */
static const char *const key_kinds[] = {"email", "external_id", "phone"};

/* the query of each kind: the key's column(s), then contact_id; any order */
static const char *const key_queries[] = {
	"SELECT customercard.email_key(e.email), e.contact_id FROM customercard.emails e WHERE e.account_id = $1",
	"SELECT h.kind, h.external_id, h.contact_id FROM customercard.channels h WHERE h.account_id = $1",
	"SELECT p.phone, p.contact_id FROM customercard.phones p WHERE p.account_id = $1",
};
static const int key_columns[] = {1, 2, 1};

/* a key: its bytes (a phone's 8, or text), in the arena */
typedef struct KeyRef
{
	const char *data;
	uint32		hash;
	uint32		len;
} KeyRef;

/* 40 bytes: the table is probed once per row, so its size is the cost */
typedef struct KeyEntry
{
	KeyRef		key;
	int32		count;			/* live holders; above max_sharers: stop keeping them */
	char		status;			/* simplehash's */
	int64		first;
	int64	   *more;			/* holders after the first, up to max_sharers - 1 */
} KeyEntry;

#define SH_PREFIX keytab
#define SH_ELEMENT_TYPE KeyEntry
#define SH_KEY_TYPE KeyRef
#define SH_KEY key
#define SH_HASH_KEY(tb, k) ((k).hash)
#define SH_EQUAL(tb, a, b) ((a).hash == (b).hash && (a).len == (b).len && memcmp((a).data, (b).data, (a).len) == 0)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

typedef struct NodeEntry
{
	int64		id;				/* hash key: the contact id */
	uint32		index;
} NodeEntry;

typedef struct PairKey
{
	int64		a;
	int64		b;
} PairKey;

typedef struct UnionFind
{
	HTAB	   *nodes;			/* contact id -> index */
	int64	   *ids;
	uint32	   *parent;
	uint32	   *size;
	uint8	   *kinds;			/* at a root: the kinds linking its group */
	uint32		count;
	uint32		capacity;
} UnionFind;

/* a contact's node in the union-find, made on first sight */
static uint32
NodeIndex(UnionFind *uf, int64 id)
{
	bool		found;
	NodeEntry  *e = hash_search(uf->nodes, &id, HASH_ENTER, &found);

	if (!found)
	{
		if (uf->count == uf->capacity)
		{
			uf->capacity *= 2;
			uf->ids = repalloc(uf->ids, sizeof(int64) * uf->capacity);
			uf->parent = repalloc(uf->parent, sizeof(uint32) * uf->capacity);
			uf->size = repalloc(uf->size, sizeof(uint32) * uf->capacity);
			uf->kinds = repalloc(uf->kinds, sizeof(uint8) * uf->capacity);
		}
		e->index = uf->count++;
		uf->ids[e->index] = id;
		uf->parent[e->index] = e->index;
		uf->size[e->index] = 1;
		uf->kinds[e->index] = 0;
	}
	return e->index;
}

/* the root of x's group, halving the path on the way */
static uint32
Find(UnionFind *uf, uint32 x)
{
	while (uf->parent[x] != x)
	{
		uf->parent[x] = uf->parent[uf->parent[x]];
		x = uf->parent[x];
	}
	return x;
}

/*
 * one group of a and b (the smaller under the larger), remembering by which
 * kind of key
 */
static void
Union(UnionFind *uf, int64 a, int64 b, uint8 kind)
{
	uint32		x = Find(uf, NodeIndex(uf, a));
	uint32		y = Find(uf, NodeIndex(uf, b));

	if (x != y)
	{
		if (uf->size[x] < uf->size[y])
		{
			uint32		t = x;

			x = y;
			y = t;
		}
		uf->parent[y] = x;
		uf->size[x] += uf->size[y];
		uf->kinds[x] |= uf->kinds[y];
	}
	uf->kinds[x] |= kind;
}

/* a set of contact ids, or of pairs, read with one query */
static HTAB *
ReadSet(const char *name, const char *sql, int64 account, Size keysize, MemoryContext cxt)
{
	HASHCTL		ctl;
	HTAB	   *set;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(account)};

	ctl.keysize = keysize;
	ctl.entrysize = keysize;
	ctl.hcxt = cxt;
	set = hash_create(name, 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (SPI_execute_with_args(sql, 1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", name);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int64		key[2];
		bool		isnull;

		for (int c = 0; c < (int) (keysize / sizeof(int64)); c++)
			key[c] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1, &isnull));
		(void) hash_search(set, key, HASH_ENTER, NULL);
	}
	SPI_freetuptable(SPI_tuptable);
	return set;
}

/* the members of one key: link every pair not marked as different people */
static void
LinkGroup(UnionFind *uf, int64 *members, int n, int max_sharers, HTAB *apart, uint8 kind)
{
	if (n < 2 || n > max_sharers)
		return;
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
		{
			PairKey		pair;

			pair.a = Min(members[i], members[j]);
			pair.b = Max(members[i], members[j]);
			if (!hash_search(apart, &pair, HASH_FIND, NULL))
				Union(uf, pair.a, pair.b, kind);
		}
}

/*
 * The keys' bytes: a bump allocator whose blocks are kept from one kind to
 * the next (nearly every key is held by one contact and is never looked at
 * again, so this is most of the memory traffic).
 */
#define ARENA_BLOCK (1024 * 1024)
typedef struct Arena
{
	MemoryContext cxt;
	char	  **blocks;
	int			nblocks;
	int			maxblocks;
	int			current;
	Size		used;
} Arena;

/*
 * a copy of data in the arena: blocks that are freed together, not one
 * palloc a key
 */
static char *
ArenaCopy(Arena *a, const char *data, Size len)
{
	char	   *p;

	if (a->used + len > ARENA_BLOCK)
	{
		a->current++;
		a->used = 0;
	}
	if (a->current == a->nblocks)
	{
		if (a->nblocks == a->maxblocks)
		{
			a->maxblocks *= 2;
			a->blocks = repalloc(a->blocks, sizeof(char *) * a->maxblocks);
		}
		a->blocks[a->nblocks++] = MemoryContextAlloc(a->cxt, Max(ARENA_BLOCK, len));
	}
	p = a->blocks[a->current] + a->used;
	memcpy(p, data, len);
	a->used += MAXALIGN(len);
	return p;
}

/*
 * Rows are first spread over partitions by the top bits of their key's
 * hash (sequential appends), then each partition is counted in a hash table
 * small enough to stay in the CPU cache: one probe per row into a table of
 * a million keys would miss the cache every time.
 */
#define PARTITION_BITS 8
#define PARTITIONS (1 << PARTITION_BITS)

typedef struct KeyRow
{
	KeyRef		key;
	int64		id;
} KeyRow;

typedef struct Partition
{
	KeyRow	   *rows;
	uint32		count;
	uint32		capacity;
} Partition;

/* what reading one kind of key needs, row by row */
typedef struct KeyReader
{
	DestReceiver pub;			/* rows arrive here, straight from the executor */
	Partition  *parts;
	Arena	   *arena;
	HTAB	   *dead;
	bool		anydead;
	int			ncols;			/* key columns before contact_id */
	StringInfoData buf;
} KeyReader;

/* one row: (key columns..., contact_id) into its partition */
static bool
KeyReceive(TupleTableSlot *slot, DestReceiver *self)
{
	KeyReader  *r = (KeyReader *) self;
	Partition  *part;
	KeyRow	   *row;
	int64		id;
	uint32		hash;

	slot_getallattrs(slot);
	resetStringInfo(&r->buf);
	for (int c = 0; c < r->ncols; c++)
	{
		Datum		d = slot->tts_values[c];

		if (slot->tts_isnull[c])
			return true;
		if (TupleDescAttr(slot->tts_tupleDescriptor, c)->attbyval)
		{
			int64		v = DatumGetInt64(d);

			appendBinaryStringInfo(&r->buf, (char *) &v, sizeof(v));
		}
		else
		{
			text	   *t = DatumGetTextPP(d);

			appendBinaryStringInfo(&r->buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			appendStringInfoChar(&r->buf, '\0');	/* separates two columns */
		}
	}
	if (slot->tts_isnull[r->ncols])
		return true;
	id = DatumGetInt64(slot->tts_values[r->ncols]);
	if (r->anydead && hash_search(r->dead, &id, HASH_FIND, NULL))
		return true;

	hash = hash_bytes((const unsigned char *) r->buf.data, r->buf.len);
	part = &r->parts[hash >> (32 - PARTITION_BITS)];
	if (part->count == part->capacity)
	{
		part->capacity = part->capacity ? part->capacity * 2 : 1024;
		part->rows = part->rows ? repalloc(part->rows, sizeof(KeyRow) * part->capacity)
			: MemoryContextAlloc(r->arena->cxt, sizeof(KeyRow) * part->capacity);
	}
	row = &part->rows[part->count++];
	row->key.hash = hash;
	row->key.len = r->buf.len;
	row->key.data = ArenaCopy(r->arena, r->buf.data, r->buf.len);
	row->id = id;
	return true;
}

/* the key receiver needs no set-up, clean-up or freeing of its own */
static void
KeyStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
KeyShutdown(DestReceiver *self)
{
}

static void
KeyDestroy(DestReceiver *self)
{
}

/* count one partition's keys and link the contacts sharing one */
static void
LinkPartition(UnionFind *uf, Partition *part, uint8 kind, int max_sharers, HTAB *apart, MemoryContext cxt)
{
	keytab_hash *tab = keytab_create(cxt, Max(part->count * 2, 64), NULL);
	keytab_iterator it;
	KeyEntry   *e;
	int64	   *members = palloc(sizeof(int64) * max_sharers);

	for (uint32 i = 0; i < part->count; i++)
	{
		KeyRow	   *row = &part->rows[i];
		bool		found;

		e = keytab_insert(tab, row->key, &found);
		if (!found)
		{
			e->count = 1;
			e->first = row->id;
			e->more = NULL;
			continue;
		}
		if (e->count > max_sharers || e->first == row->id)
			continue;			/* a switchboard already; or one contact twice (two bots, one telegram id) */
		for (int m = 0; m < e->count - 1; m++)
			if (e->more[m] == row->id)
			{
				found = false;
				break;
			}
		if (!found)
			continue;
		if (e->count < max_sharers)
		{
			if (e->more == NULL)
				e->more = palloc(sizeof(int64) * (max_sharers - 1));
			e->more[e->count - 1] = row->id;
		}
		e->count++;
	}
	keytab_start_iterate(tab, &it);
	while ((e = keytab_iterate(tab, &it)) != NULL)
		if (e->count >= 2 && e->count <= max_sharers)
		{
			members[0] = e->first;
			memcpy(members + 1, e->more, sizeof(int64) * (e->count - 1));
			LinkGroup(uf, members, e->count, max_sharers, apart, kind);
		}
	keytab_destroy(tab);
	pfree(members);
}

/* read one kind of key and link the contacts that share one */
static void
ReadKeys(UnionFind *uf, Partition *parts, Arena *arena, int k, int64 account, int max_sharers,
		 HTAB *dead, HTAB *apart, MemoryContext cxt)
{
	KeyReader	r;
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(1);
	MemoryContext old;
	MemoryContext linkcxt;

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = KeyReceive;
	r.pub.rStartup = KeyStartup;
	r.pub.rShutdown = KeyShutdown;
	r.pub.rDestroy = KeyDestroy;
	r.pub.mydest = DestNone;
	r.parts = parts;
	r.arena = arena;
	r.dead = dead;
	r.anydead = hash_get_num_entries(dead) > 0;
	r.ncols = key_columns[k];
	old = MemoryContextSwitchTo(cxt);
	initStringInfo(&r.buf);
	MemoryContextSwitchTo(old);

	params->params[0].value = Int64GetDatum(account);
	params->params[0].isnull = false;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].ptype = INT8OID;
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) &r;
	/* (a receiver that is not DestSPI makes a SELECT report SPI_OK_UTILITY) */
	if (SPI_execute_extended(key_queries[k], &options) < 0)
		elog(ERROR, "could not read the %s keys", key_kinds[k]);

	linkcxt = AllocSetContextCreate(cxt, "duplicate_groups partition", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(linkcxt);
	for (int p = 0; p < PARTITIONS; p++)
	{
		LinkPartition(uf, &parts[p], (uint8) (1 << k), max_sharers, apart, linkcxt);
		MemoryContextReset(linkcxt);
		parts[p].count = 0;
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(linkcxt);
	arena->current = 0;
	arena->used = 0;
}

typedef struct Member
{
	int64		group_id;		/* the smallest contact id of the group */
	int64		id;
} Member;

/* qsort order of the result: by group, then contact id */
static int
CompareMembers(const void *x, const void *y)
{
	const Member *a = x;
	const Member *b = y;

	if (a->group_id != b->group_id)
		return a->group_id < b->group_id ? -1 : 1;
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

PG_FUNCTION_INFO_V1(duplicate_groups_of);

/*
 * customercard.duplicate_groups_of(account_id bigint, max_sharers integer)
 * RETURNS TABLE (group_id bigint, contact_ids bigint[], reasons text[])
 */
Datum
duplicate_groups_of(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		account;
	int32		max_sharers;
	MemoryContext cxt;
	MemoryContext old;
	HASHCTL		ctl;
	UnionFind	uf;
	HTAB	   *dead;
	HTAB	   *apart;
	Member	   *members;
	int64	   *group_min;
	uint32		n;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("duplicate_groups needs an account and a limit of sharers"),
				 errhint("Call customercard.duplicate_groups() or customercard.duplicate_groups(10).")));
	account = PG_GETARG_INT64(0);
	max_sharers = PG_GETARG_INT32(1);
	if (max_sharers < 2 || max_sharers > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_sharers must be between 2 and 1000, not %d", max_sharers),
				 errhint("A key shared by more contacts than max_sharers (default 10) links none of them.")));

	InitMaterializedSRF(fcinfo, 0);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "duplicate_groups", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);

	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(NodeEntry);
	ctl.hcxt = cxt;
	uf.nodes = hash_create("duplicate_groups nodes", 65536, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	uf.capacity = 65536;
	uf.count = 0;
	uf.ids = palloc(sizeof(int64) * uf.capacity);
	uf.parent = palloc(sizeof(uint32) * uf.capacity);
	uf.size = palloc(sizeof(uint32) * uf.capacity);
	uf.kinds = palloc(sizeof(uint8) * uf.capacity);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	dead = ReadSet("duplicate_groups dead contacts",
				   "SELECT c.contact_id FROM customercard.contacts c WHERE c.account_id = $1 "
				   "   AND (c.merged_into IS NOT NULL OR c.deleted_at IS NOT NULL)",
				   account, sizeof(int64), cxt);
	apart = ReadSet("duplicate_groups pairs apart",
					"SELECT n.contact_a, n.contact_b FROM customercard.not_duplicates n WHERE n.account_id = $1",
					account, sizeof(PairKey), cxt);
	{
		/* partitions and the arena are kept from one kind to the next */
		Partition  *parts = palloc0(sizeof(Partition) * PARTITIONS);
		Arena		arena = {cxt, palloc(sizeof(char *) * 16), 0, 16, 0, 0};

		for (int k = 0; k < (int) lengthof(key_kinds); k++)
			ReadKeys(&uf, parts, &arena, k, account, max_sharers, dead, apart, cxt);
	}
	SPI_finish();

	/* every linked contact with its group's smallest id, in output order */
	n = uf.count;
	group_min = palloc(sizeof(int64) * Max(n, 1));
	for (uint32 i = 0; i < n; i++)
		group_min[i] = PG_INT64_MAX;
	for (uint32 i = 0; i < n; i++)
	{
		uint32		r = Find(&uf, i);

		group_min[r] = Min(group_min[r], uf.ids[i]);
	}
	members = palloc(sizeof(Member) * Max(n, 1));
	for (uint32 i = 0; i < n; i++)
	{
		members[i].group_id = group_min[Find(&uf, i)];
		members[i].id = uf.ids[i];
	}
	qsort(members, n, sizeof(Member), CompareMembers);

	for (uint32 start = 0; start < n;)
	{
		uint32		end = start;
		Datum	   *ids;
		Datum		reasons[lengthof(key_kinds)];
		int			nreasons = 0;
		uint8		kinds;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		NodeEntry  *e;

		while (end < n && members[end].group_id == members[start].group_id)
			end++;
		ids = palloc(sizeof(Datum) * (end - start));
		for (uint32 i = start; i < end; i++)
			ids[i - start] = Int64GetDatum(members[i].id);
		e = hash_search(uf.nodes, &members[start].id, HASH_FIND, NULL);
		kinds = uf.kinds[Find(&uf, e->index)];
		for (int k = 0; k < (int) lengthof(key_kinds); k++)
			if (kinds & (1 << k))
				reasons[nreasons++] = CStringGetTextDatum(key_kinds[k]);

		values[0] = Int64GetDatum(members[start].group_id);
		values[1] = PointerGetDatum(construct_array(ids, end - start, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(reasons, nreasons, TEXTOID, -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		start = end;
	}

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return (Datum) 0;
}
