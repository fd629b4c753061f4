/*-------------------------------------------------------------------------
 *
 * customercard.h
 *	  Shared declarations of the customercard extension: settings,
 *	  tenancy (the current account) and the module's init hooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CUSTOMERCARD_H
#define CUSTOMERCARD_H

#include "postgres.h"

#include "executor/spi.h"
#include "datatype/timestamp.h"
#include "utils/rel.h"

#include "pg_compat.h"

/* customercard.c: when a change happens (the log's at, updated_at) */
extern TimestampTz CustomercardChangeTime(void);

/* points.c: the balance and the ledger being kept in step */
extern bool customercard_points_syncing;

/* customercard.c: rows of a relation arriving from pg_restore / a pg_dump script */
extern bool CustomercardRestoring(Relation rel);

/* customercard.c: a trigger tuple's column by name (an error if there is none) */
extern int	CustomercardAttnum(Relation rel, const char *name);
extern Datum CustomercardColumn(Relation rel, HeapTuple tuple, const char *name, bool *isnull);

/* settings.c: the customercard.* GUCs */
extern char *customercard_account_id_setting;
extern char *customercard_actor_setting;
extern char *customercard_default_region_setting;
extern int	customercard_comment_max_length;
extern int	customercard_import_max_unpacked;
extern int	customercard_log_event_max_bytes;
extern int	customercard_bulk_max_queued_jobs;

extern void CustomercardDefineSettings(void);
extern void LockGuardInit(void);
extern const char *CustomercardActor(void);

/* tenancy.c: the account the current statement acts in */
extern int64 CustomercardCurrentAccount(bool for_write);
extern Oid	ExtensionOwner(void);
extern Oid	CustomercardExtensionOwner(void);
extern const char *CustomercardAccountRegion(int64 account);
extern bool CustomercardActingAsAdmin(void);

/* citus.c: the relation SPI statements name for a table's rows of an account */
extern bool CustomercardDistributed(void);
extern bool CustomercardInCitusTask(void);
extern const char *CustomercardRelationFor(const char *table, int64 account);
extern bool CustomercardAccountIsHere(int64 account);
extern void CustomercardAssertAccountHere(int64 account, const char *what);
extern SPIPlanPtr CustomercardPlanFor(const char *sql_format, const char *table, int64 account,
									  int nargs, Oid *argtypes);

/* immutable.c: the card rewrite switch of merge, unmerge and forget_contact */
extern bool customercard_scrub_in_progress;

#endif							/* CUSTOMERCARD_H */
