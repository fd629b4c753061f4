/*-------------------------------------------------------------------------
 *
 * phone_regex.h
 *	  The regular expressions of libphonenumber's metadata, compiled ahead of
 *	  time (tools/phonemeta) into tiny programs over the digits 0-9.
 *
 * Every pattern in the metadata works on digit strings and uses only digits,
 * [classes], \d, groups, |, ?, {n,m} and $, so a program is a handful of
 * instructions on a 10-bit digit set.  Programs run in a backtracking matcher
 * with RE2/Perl (leftmost-first) semantics and captures, which is what
 * libphonenumber gets from RE2.  Validity patterns, the hot path, are
 * compiled further into DFAs (phone_tables.h).  Pure C, no allocation.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PHONE_REGEX_H
#define PHONE_REGEX_H

#include <stdbool.h>
#include <stdint.h>

typedef enum PhOp
{
	PH_CLASS,					/* one digit in mask x */
	PH_SPLIT,					/* try x, then y */
	PH_JMP,						/* go to x */
	PH_SAVE,					/* capture slot x := position */
	PH_EOL,						/* end of input */
	PH_MATCH
} PhOp;

typedef struct PhInst
{
	uint8_t		op;
	uint16_t	x;
	uint16_t	y;
} PhInst;

typedef struct PhProg
{
	const PhInst *code;			/* NULL: no pattern */
	uint16_t	ncode;
	uint8_t		ngroups;		/* capturing groups */
} PhProg;

#define PH_MAX_GROUPS 9

/*
 * Match prog against s[0..len) starting at position 0.  full: the match must
 * end at len.  On success returns the end of the match and fills caps (pairs
 * of start/end per group, -1 when the group did not take part), else -1.
 */
extern int	ph_match(const PhProg *prog, const char *s, int len, bool full,
					 int caps[2 * (PH_MAX_GROUPS + 1)]);

#endif							/* PHONE_REGEX_H */
