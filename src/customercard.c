/*-------------------------------------------------------------------------
 *
 * customercard.c
 *	  Module entry point of the customercard extension.
 *
 * _PG_init only hands off to the subsystems. The library needs no
 * shared_preload_libraries entry: the first call of any of its functions
 * loads it, and the customercard.* settings become typed from then on.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "customercard.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	CustomercardDefineSettings();
}
