/*-------------------------------------------------------------------------
 *
 * import_plain.c
 *	  customercard.import_plain(data jsonb, fields jsonb): whether
 *	  import_set writes a prepared row itself -- only keys and values that
 *	  upsert_contact's path accepts as they are, checked as its PL/pgSQL
 *	  checks them, in one walk over the object.  Any other row (one
 *	  upsert_contact would refuse, or one with keys the set does not write:
 *	  contact_id, created_at, manager_id, channels, gender_source, phone or
 *	  e-mail objects, a Viber channel) goes through upsert_contact's path.
 *	  Where this is unsure it says no: the row path then decides.  The
 *	  funnel, LGT, block and source, and the channel's kind, are judged by
 *	  import_set (a lookup per file; customercard.channel_kinds()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "customercard.h"
#include "email_parse.h"

extern Datum normalize_phone(PG_FUNCTION_ARGS);

/* the text of a JSON string or number (as #>> '{}' gives it); NULL for others */
static char *
ScalarText(const JsonbValue *v, int *len)
{
	char	   *s;

	if (v->type == jbvString)
	{
		*len = v->val.string.len;
		return v->val.string.val;
	}
	if (v->type == jbvNumeric)
	{
		s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		*len = strlen(s);
		return s;
	}
	return NULL;
}

/* characters of s[0..len) with spaces trimmed at both ends (length(btrim(s))) */
static int
TrimmedLength(const char *s, int len)
{
	while (len > 0 && *s == ' ')
		s++, len--;
	while (len > 0 && s[len - 1] == ' ')
		len--;
	return pg_mbstrlen_with_len(s, len);
}

static bool
IsPhone(const char *s, int len)
{
	LOCAL_FCINFO(fcinfo, 2);

	/* normalize_phone(s, NULL): NULL when s is no phone number */
	InitFunctionCallInfoData(*fcinfo, NULL, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = PointerGetDatum(cstring_to_text_with_len(s, len));
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].isnull = true;
	(void) normalize_phone(fcinfo);
	return !fcinfo->isnull;
}

static bool
IsEmail(const char *s, int len)
{
	char	   *out = palloc(len + 1);

	return cc_normalize_email(s, len, out) >= 0;
}

/* a call of customercard.name(text...) -- a PL/pgSQL check that casts */
static bool
SqlCheck(const char *name, int nargs, const char *a, const char *b)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	List	   *names = lappend(list_make1(makeString("customercard")), makeString(pstrdup(name)));
	Oid			fn = LookupFuncName(names, nargs, argtypes, false);

	if (nargs == 1)
		return DatumGetBool(OidFunctionCall1(fn, CStringGetTextDatum(a)));
	return DatumGetBool(OidFunctionCall2(fn, CStringGetTextDatum(a), CStringGetTextDatum(b)));
}

static bool
KeyIs(const JsonbValue *k, const char *name)
{
	return k->val.string.len == (int) strlen(name) && memcmp(k->val.string.val, name, k->val.string.len) == 0;
}

static bool
OneOf(const char *s, int len, const char *const *words, bool any_case)
{
	for (; *words; words++)
		if ((int) strlen(*words) == len &&
			(any_case ? pg_strncasecmp(s, *words, len) == 0 : memcmp(s, *words, len) == 0))
			return true;
	return false;
}

/* each element of an array container is a string (or number) that checks */
static bool
EachElement(JsonbValue *v, bool numbers, bool (*check) (const char *, int), int max_chars)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		char	   *s;
		int			len;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvString && !(numbers && e.type == jbvNumeric))
			return false;
		s = ScalarText(&e, &len);
		if (check && !check(s, len))
			return false;
		if (max_chars > 0)
		{
			int			n = TrimmedLength(s, len);

			if (n < 1 || n > max_chars)
				return false;
		}
	}
	return true;
}

/*
 * a channel object as the set writes it: known keys, a kind (import_set
 * checks it is a messenger's, and not Viber), an id
 */
static bool
PlainChannel(JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue	k,
				x;
	JsonbIteratorToken tok;
	bool		kind_ok = false;
	const char *ext = NULL;
	int			extlen = 0;
	const char *social = NULL;
	int			sociallen = 0;

	if (v->type == jbvNull)
		return true;
	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &x, true);
		if (KeyIs(&k, "kind"))
		{
			if (x.type != jbvString)
				return false;
			kind_ok = true;
		}
		else if (KeyIs(&k, "external_id") || KeyIs(&k, "social_id"))
		{
			int			len;
			char	   *s;

			if (x.type == jbvNull)
				continue;
			s = ScalarText(&x, &len);
			if (s == NULL)
				return false;
			if (KeyIs(&k, "external_id"))
				ext = s, extlen = len;
			else
				social = s, sociallen = len;
		}
		else if (KeyIs(&k, "connection") || KeyIs(&k, "username") || KeyIs(&k, "avatar_url"))
		{
			if (x.type != jbvString && x.type != jbvNull)
				return false;
		}
		else
			return false;
	}
	if (ext == NULL)
		ext = social, extlen = sociallen;
	return kind_ok && ext != NULL && TrimmedLength(ext, extlen) > 0;
}

/* custom values: of fields the account has, scalars of their kinds */
static bool
PlainCustom(JsonbValue *v, Jsonb *fields)
{
	JsonbIterator *it;
	JsonbValue	k,
				x;
	JsonbIteratorToken tok;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return false;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		JsonbValue *field;
		JsonbValue *kind;

		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &x, true);
		field = findJsonbValueFromContainer(&fields->root, JB_FOBJECT, &k);
		if (field == NULL || field->type != jbvBinary)
			return false;
		if (x.type == jbvNull)
			continue;
		if (x.type != jbvString && x.type != jbvNumeric && x.type != jbvBool)
			return false;
		kind = getIthJsonbValueFromContainer(field->val.binary.data, 1);
		if (kind == NULL || kind->type != jbvString)
			return false;
		if (OneOf(kind->val.string.val, kind->val.string.len, (const char *const[]) {"number", "date", "boolean", NULL}, false))
		{
			int			len = 0;
			char	   *s = x.type == jbvBool ? (x.val.boolean ? "true" : "false") : ScalarText(&x, &len);

			if (!SqlCheck("custom_value_fits", 2, pnstrdup(kind->val.string.val, kind->val.string.len),
						  x.type == jbvBool ? s : pnstrdup(s, len)))
				return false;
		}
	}
	return true;
}

PG_FUNCTION_INFO_V1(import_plain);

/* customercard.import_plain(data jsonb, fields jsonb): see the header */
Datum
import_plain(PG_FUNCTION_ARGS)
{
	static const char *const genders[] = {"male", "female", "m", "f", "unknown", NULL};
	static const char *const statuses[] = {"active", "unsubscribed", "blacklisted", "archived", NULL};
	static const char *const plain_text[] = {"avatar_url", "country", "city", "note", NULL};
	Jsonb	   *d = PG_GETARG_JSONB_P(0);
	Jsonb	   *fields = PG_GETARG_JSONB_P(1);
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(d) || JB_ROOT_IS_SCALAR(d) || !JB_ROOT_IS_OBJECT(fields))
		PG_RETURN_BOOL(false);
	it = JsonbIteratorInit(&d->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		bool		ok;

		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &v, true);
		if (KeyIs(&k, "name") || KeyIs(&k, "first_name") || KeyIs(&k, "last_name") ||
			KeyIs(&k, "middle_name") || KeyIs(&k, "nickname"))
			ok = v.type == jbvNull ||
				(v.type == jbvString &&
				 TrimmedLength(v.val.string.val, v.val.string.len) <= (KeyIs(&k, "name") ? 500 : 200));
		else if (OneOf(k.val.string.val, k.val.string.len, plain_text, false))
			ok = v.type == jbvNull || v.type == jbvString;
		else if (KeyIs(&k, "gender"))
			ok = v.type == jbvNull || (v.type == jbvString && OneOf(v.val.string.val, v.val.string.len, genders, true));
		else if (KeyIs(&k, "status"))
			ok = v.type == jbvNull || (v.type == jbvString && OneOf(v.val.string.val, v.val.string.len, statuses, false));
		else if (KeyIs(&k, "timezone"))
		{
			char	   *name = v.type == jbvString ? pnstrdup(v.val.string.val, v.val.string.len) : NULL;

			ok = v.type == jbvNull ||
				(name != NULL && name[0] != '\0' && strlen(name) <= TZ_STRLEN_MAX && pg_tzset(name) != NULL);
		}
		else if (KeyIs(&k, "ip"))
			ok = v.type == jbvNull ||
				(v.type == jbvString && SqlCheck("text_is_inet", 1, pnstrdup(v.val.string.val, v.val.string.len), NULL));
		else if (KeyIs(&k, "phones"))
			ok = EachElement(&v, true, IsPhone, 0);
		else if (KeyIs(&k, "phone"))
		{
			int			len;
			char	   *s = ScalarText(&v, &len);

			ok = v.type == jbvNull || (s != NULL && IsPhone(s, len));
		}
		else if (KeyIs(&k, "emails"))
			ok = EachElement(&v, false, IsEmail, 0);
		else if (KeyIs(&k, "email"))
			ok = v.type == jbvNull || (v.type == jbvString && IsEmail(v.val.string.val, v.val.string.len));
		else if (KeyIs(&k, "channel"))
			ok = PlainChannel(&v);
		else if (KeyIs(&k, "tags"))
			ok = EachElement(&v, false, NULL, 200);
		else if (KeyIs(&k, "custom"))
			ok = PlainCustom(&v, fields);
		else if (KeyIs(&k, "funnel") || KeyIs(&k, "lgt") || KeyIs(&k, "block") || KeyIs(&k, "source"))
			ok = true;			/* import_set's */
		else
			ok = false;			/* contact_id, created_at, manager_id, channels, gender_source, unknown keys */
		if (!ok)
			PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
