/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  The differences between the PostgreSQL majors customercard builds
 *	  against (15 to 18), in one place, guarded by PG_VERSION_NUM: the code
 *	  elsewhere calls these names on every major.
 *
 *	  16: pg_class_ownercheck() gave way to object_ownercheck(),
 *	      DecodeDateTime() takes where to put an error's detail, and the
 *	      JSON parser's semantic actions return an error code.
 *	  17: a backend's local transaction id moved into PGPROC.vxid, and a
 *	      JSON lexer context may be the caller's (makeJsonLexContextCstringLen
 *	      takes it first).
 *	  18: the ExecutorRun hook lost its execute_once argument, and
 *	      RelationGetPrimaryKeyIndex() asks whether a deferrable key will do.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CUSTOMERCARD_PG_COMPAT_H
#define CUSTOMERCARD_PG_COMPAT_H

#include "postgres.h"

#include "catalog/pg_class.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/datetime.h"

/* whether role owns relation relid (or is a member of its owner) */
static inline bool
RelationOwnedBy(Oid relid, Oid role)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, role);
#else
	return pg_class_ownercheck(relid, role);
#endif
}

/* this backend's local transaction id: it changes with every transaction */
#if PG_VERSION_NUM >= 170000
#define MyLocalTransactionId() (MyProc->vxid.lxid)
#else
#define MyLocalTransactionId() (MyProc->lxid)
#endif

/*
 * A JSON lexer over json[0..len) in the database's encoding that reads
 * escapes as jsonb does (\u0000 and lone surrogates are errors).
 */
static inline JsonLexContext *
JsonLexerFor(char *json, size_t len)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, json, len, GetDatabaseEncoding(), true);
#else
	return makeJsonLexContextCstringLen(json, (int) len, GetDatabaseEncoding(), true);
#endif
}

/* a JSON semantic action's result: void before 16, then an error code */
#if PG_VERSION_NUM >= 160000
#define JSON_ACTION_RESULT JsonParseErrorType
#define JSON_ACTION_DONE return JSON_SUCCESS
#else
#define JSON_ACTION_RESULT void
#define JSON_ACTION_DONE return
#endif

/* DecodeDateTime of 15's arguments; an error's detail (16 and later) is dropped */
static inline int
DecodeDateTimeFields(char **field, int *ftype, int nf, int *dtype, struct pg_tm *tm, fsec_t *fsec, int *tzp)
{
#if PG_VERSION_NUM >= 160000
	DateTimeErrorExtra extra;

	return DecodeDateTime(field, ftype, nf, dtype, tm, fsec, tzp, &extra);
#else
	return DecodeDateTime(field, ftype, nf, dtype, tm, fsec, tzp);
#endif
}

/*
 * The ExecutorRun hook's parameters and the call on to the next one: 18
 * dropped execute_once (a portal says it itself).
 */
#if PG_VERSION_NUM >= 180000
#define EXECUTOR_RUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define EXECUTOR_RUN_CALL(f) f(queryDesc, direction, count)
#else
#define EXECUTOR_RUN_ARGS QueryDesc *queryDesc, ScanDirection direction, uint64 count, bool execute_once
#define EXECUTOR_RUN_CALL(f) f(queryDesc, direction, count, execute_once)
#endif

/*
 * A relation's primary key index, InvalidOid when it has none; a deferrable
 * key does not count (as before 18; the extension's keys are immediate).
 */
#if PG_VERSION_NUM >= 180000
#define RelationPrimaryKey(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define RelationPrimaryKey(rel) RelationGetPrimaryKeyIndex(rel)
#endif

#endif							/* CUSTOMERCARD_PG_COMPAT_H */
