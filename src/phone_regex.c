/*-------------------------------------------------------------------------
 *
 * phone_regex.c
 *	  Backtracking matcher for the precompiled metadata patterns.
 *
 * Leftmost-first (Perl/RE2) semantics: alternatives and greedy repetitions
 * are tried in order, the first success wins.  Inputs are digit strings of at
 * most PH_MAX_INPUT digits (callers refuse longer ones) and a step budget
 * bounds the work on any pattern, so the matcher cannot run away.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

#include "phone_regex.h"

#define PH_STEP_BUDGET 200000

typedef struct PhRun
{
	const PhInst *code;
	const char *s;
	int			len;
	bool		full;
	int			steps;
	int		   *caps;
	int			end;
} PhRun;

/* the backtracking matcher: the program from pc at input position sp */
static bool
ph_run(PhRun *r, int pc, int sp)
{
	for (;;)
	{
		const PhInst *in = &r->code[pc];

		if (++r->steps > PH_STEP_BUDGET)
			return false;
		switch ((PhOp) in->op)
		{
			case PH_CLASS:
				if (sp < r->len && r->s[sp] >= '0' && r->s[sp] <= '9' &&
					(in->x & (1u << (r->s[sp] - '0'))))
				{
					pc++;
					sp++;
					continue;
				}
				return false;
			case PH_SPLIT:
				if (ph_run(r, in->x, sp))
					return true;
				pc = in->y;
				continue;
			case PH_JMP:
				pc = in->x;
				continue;
			case PH_SAVE:
				{
					int			old = r->caps[in->x];

					r->caps[in->x] = sp;
					if (ph_run(r, pc + 1, sp))
						return true;
					r->caps[in->x] = old;
					return false;
				}
			case PH_EOL:
				if (sp != r->len)
					return false;
				pc++;
				continue;
			case PH_MATCH:
				if (r->full && sp != r->len)
					return false;
				r->end = sp;
				return true;
		}
		return false;
	}
}

int
ph_match(const PhProg *prog, const char *s, int len, bool full,
		 int caps[2 * (PH_MAX_GROUPS + 1)])
{
	PhRun		r;
	int			local[2 * (PH_MAX_GROUPS + 1)];
	int			i;

	if (prog->code == NULL)
		return -1;
	if (caps == NULL)
		caps = local;
	for (i = 0; i < 2 * (prog->ngroups + 1); i++)
		caps[i] = -1;
	for (; caps != local && i < 2 * (PH_MAX_GROUPS + 1); i++)
		caps[i] = -1;
	r.code = prog->code;
	r.s = s;
	r.len = len;
	r.full = full;
	r.steps = 0;
	r.caps = caps;
	r.end = -1;
	if (!ph_run(&r, 0, 0))
		return -1;
	caps[0] = 0;
	caps[1] = r.end;
	return r.end;
}
