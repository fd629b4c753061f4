/*
 * gen_phone_tables.c — turns phonenumber-metadata.json (libphonenumber's
 * numbering metadata, see export_metadata.cc) into src/phone_tables.c.
 *
 *   gen_phone_tables phonenumber-metadata.json > ../../src/phone_tables.c
 *
 * Every regular expression becomes a small program for the matcher in
 * src/phone_regex.c; each region's validity patterns (the general
 * description and the ten number types) are also merged into one DFA over the
 * digits whose states say which of the eleven patterns match, so checking a
 * number is one pass over its digits.  Reads the JSON with cJSON.
 */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phone_regex.h"
#include "phone_tables.h"

static void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "gen_phone_tables: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL && n)
		die("out of memory");
	return p;
}

/* ---------------------------------------------------------------- parser */

typedef enum
{
	N_CLASS, N_CAT, N_ALT, N_GROUP, N_REPEAT, N_EOL
} NodeKind;

typedef struct Node
{
	NodeKind	kind;
	unsigned	mask;			/* N_CLASS */
	int			group;			/* N_GROUP: capture number or 0 */
	int			min, max;		/* N_REPEAT, max -1 = unbounded */
	int			nkids;
	struct Node **kids;
} Node;

typedef struct Parser
{
	const char *pat;
	const char *p;
	int			ngroups;
} Parser;

static Node *
node(NodeKind k)
{
	Node	   *n = calloc(1, sizeof(Node));

	if (!n)
		die("out of memory");
	n->kind = k;
	return n;
}

static void
add_kid(Node *n, Node *k)
{
	n->kids = xrealloc(n->kids, sizeof(Node *) * (n->nkids + 1));
	n->kids[n->nkids++] = k;
}

static Node *parse_alt(Parser *ps);

static int
parse_int(Parser *ps)
{
	int			v = 0;

	if (*ps->p < '0' || *ps->p > '9')
		die("number expected in /%s/ at %d", ps->pat, (int) (ps->p - ps->pat));
	while (*ps->p >= '0' && *ps->p <= '9')
		v = v * 10 + (*ps->p++ - '0');
	return v;
}

static Node *
parse_atom(Parser *ps)
{
	Node	   *n;
	char		c = *ps->p;

	if (c >= '0' && c <= '9')
	{
		n = node(N_CLASS);
		n->mask = 1u << (c - '0');
		ps->p++;
		return n;
	}
	if (c == '\\' && ps->p[1] == 'd')
	{
		n = node(N_CLASS);
		n->mask = 0x3ff;
		ps->p += 2;
		return n;
	}
	if (c == '$')
	{
		ps->p++;
		return node(N_EOL);
	}
	if (c == '[')
	{
		bool		neg = false;

		n = node(N_CLASS);
		ps->p++;
		if (*ps->p == '^')
		{
			neg = true;
			ps->p++;
		}
		while (*ps->p && *ps->p != ']')
		{
			int			lo, hi;

			if (ps->p[0] == '\\' && ps->p[1] == 'd')
			{
				n->mask |= 0x3ff;
				ps->p += 2;
				continue;
			}
			if (*ps->p < '0' || *ps->p > '9')
				die("unsupported class member in /%s/", ps->pat);
			lo = hi = *ps->p++ - '0';
			if (ps->p[0] == '-' && ps->p[1] >= '0' && ps->p[1] <= '9')
			{
				hi = ps->p[1] - '0';
				ps->p += 2;
			}
			for (; lo <= hi; lo++)
				n->mask |= 1u << lo;
		}
		if (*ps->p != ']')
			die("unterminated class in /%s/", ps->pat);
		ps->p++;
		if (neg)
			n->mask = ~n->mask & 0x3ff;
		return n;
	}
	if (c == '(')
	{
		n = node(N_GROUP);
		ps->p++;
		if (ps->p[0] == '?' && ps->p[1] == ':')
			ps->p += 2;
		else
			n->group = ++ps->ngroups;
		add_kid(n, parse_alt(ps));
		if (*ps->p != ')')
			die("unbalanced ( in /%s/", ps->pat);
		ps->p++;
		return n;
	}
	die("unsupported syntax '%c' in /%s/ at %d", c, ps->pat, (int) (ps->p - ps->pat));
	return NULL;
}

static Node *
parse_repeat(Parser *ps)
{
	Node	   *a = parse_atom(ps);

	for (;;)
	{
		Node	   *r;
		int			min, max;

		if (*ps->p == '?')
			min = 0, max = 1, ps->p++;
		else if (*ps->p == '*')
			min = 0, max = -1, ps->p++;
		else if (*ps->p == '+')
			min = 1, max = -1, ps->p++;
		else if (*ps->p == '{')
		{
			ps->p++;
			min = max = parse_int(ps);
			if (*ps->p == ',')
			{
				ps->p++;
				max = (*ps->p == '}') ? -1 : parse_int(ps);
			}
			if (*ps->p != '}')
				die("bad repetition in /%s/", ps->pat);
			ps->p++;
		}
		else
			return a;
		if (*ps->p == '?')
			die("lazy quantifiers are not supported: /%s/", ps->pat);
		r = node(N_REPEAT);
		r->min = min;
		r->max = max;
		add_kid(r, a);
		a = r;
	}
}

static Node *
parse_cat(Parser *ps)
{
	Node	   *n = node(N_CAT);

	while (*ps->p && *ps->p != '|' && *ps->p != ')')
		add_kid(n, parse_repeat(ps));
	return n;
}

static Node *
parse_alt(Parser *ps)
{
	Node	   *n = node(N_ALT);

	add_kid(n, parse_cat(ps));
	while (*ps->p == '|')
	{
		ps->p++;
		add_kid(n, parse_cat(ps));
	}
	return n;
}

/* --------------------------------------------------------------- codegen */

typedef struct Code
{
	PhInst	   *in;
	int			n;
	int			ngroups;
} Code;

static int
emit(Code *c, int op, int x, int y)
{
	c->in = xrealloc(c->in, sizeof(PhInst) * (c->n + 1));
	c->in[c->n].op = op;
	c->in[c->n].x = x;
	c->in[c->n].y = y;
	return c->n++;
}

static void
gen(Code *c, Node *n)
{
	int			i;

	switch (n->kind)
	{
		case N_CLASS:
			emit(c, PH_CLASS, n->mask, 0);
			break;
		case N_EOL:
			emit(c, PH_EOL, 0, 0);
			break;
		case N_CAT:
			for (i = 0; i < n->nkids; i++)
				gen(c, n->kids[i]);
			break;
		case N_GROUP:
			if (n->group)
			{
				if (n->group > PH_MAX_GROUPS)
					die("too many groups");
				emit(c, PH_SAVE, 2 * n->group, 0);
			}
			gen(c, n->kids[0]);
			if (n->group)
				emit(c, PH_SAVE, 2 * n->group + 1, 0);
			break;
		case N_ALT:
			{
				int			jumps[256];
				int			nj = 0;

				if (n->nkids > 256)
					die("too many alternatives");
				for (i = 0; i < n->nkids; i++)
				{
					if (i < n->nkids - 1)
					{
						int			split = emit(c, PH_SPLIT, 0, 0);

						c->in[split].x = c->n;
						gen(c, n->kids[i]);
						jumps[nj++] = emit(c, PH_JMP, 0, 0);
						c->in[split].y = c->n;
					}
					else
						gen(c, n->kids[i]);
				}
				for (i = 0; i < nj; i++)
					c->in[jumps[i]].x = c->n;
				break;
			}
		case N_REPEAT:
			for (i = 0; i < n->min; i++)
				gen(c, n->kids[0]);
			if (n->max < 0)
			{
				int			loop = emit(c, PH_SPLIT, 0, 0);

				c->in[loop].x = c->n;
				gen(c, n->kids[0]);
				emit(c, PH_JMP, loop, 0);
				c->in[loop].y = c->n;
			}
			else
			{
				int			splits[64];
				int			ns = 0;

				if (n->max - n->min > 64)
					die("repetition too wide");
				for (i = n->min; i < n->max; i++)
				{
					splits[ns] = emit(c, PH_SPLIT, 0, 0);
					c->in[splits[ns]].x = c->n;
					ns++;
					gen(c, n->kids[0]);
				}
				for (i = 0; i < ns; i++)
					c->in[splits[i]].y = c->n;
			}
			break;
	}
}

static Code
compile(const char *pat)
{
	Parser		ps = {pat, pat, 0};
	Node	   *root = parse_alt(&ps);
	Code		c = {NULL, 0, 0};

	if (*ps.p)
		die("trailing text in /%s/", pat);
	gen(&c, root);
	emit(&c, PH_MATCH, 0, 0);
	c.ngroups = ps.ngroups;
	if (c.n > 65535)
		die("program too long: /%s/", pat);
	return c;
}

/* ------------------------------------------------------------ output: progs */

typedef struct ProgEntry
{
	char	   *pat;
	int			id;
	Code		code;
} ProgEntry;

static ProgEntry *progs;
static int	nprogs;

/* emits the program once, returns its id (or -1 for "no pattern") */
static int
prog_for(const char *pat)
{
	int			i;
	Code		c;

	if (pat == NULL)
		return -1;
	for (i = 0; i < nprogs; i++)
		if (strcmp(progs[i].pat, pat) == 0)
			return i;
	c = compile(pat);
	progs = xrealloc(progs, sizeof(ProgEntry) * (nprogs + 1));
	progs[nprogs].pat = strdup(pat);
	progs[nprogs].id = nprogs;
	progs[nprogs].code = c;
	printf("static const PhInst ph_p%d[] = { /* %s */\n", nprogs, pat);
	for (i = 0; i < c.n; i++)
		printf("%s{%d,%d,%d}", i % 8 ? "," : (i ? ",\n\t" : "\t"), c.in[i].op, c.in[i].x, c.in[i].y);
	printf("\n};\n");
	return nprogs++;
}

static void
print_prog(int id)
{
	if (id < 0)
		printf("{NULL, 0, 0}");
	else
		printf("{ph_p%d, %d, %d}", id, progs[id].code.n, progs[id].code.ngroups);
}

/* ----------------------------------------------------------------- DFA */

typedef struct SetEntry
{
	int		   *pcs;
	int			n;
	unsigned	hash;
} SetEntry;

typedef struct Dfa
{
	SetEntry   *sets;
	int			nsets;
	int			cap;
	int		   *table;			/* hash table of set indexes + 1 */
	int			tsize;
	unsigned short (*trans)[10];
	unsigned   *accept;
} Dfa;

typedef struct Combined
{
	PhInst	   *in;
	int		   *owner;			/* desc bit per instruction */
	int			n;
} Combined;

static void
closure_add(const Combined *cb, int pc, char *seen, int **out, int *nout)
{
	while (!seen[pc])
	{
		const PhInst *in = &cb->in[pc];

		seen[pc] = 1;
		switch (in->op)
		{
			case PH_CLASS:
			case PH_MATCH:
				*out = xrealloc(*out, sizeof(int) * (*nout + 1));
				(*out)[(*nout)++] = pc;
				return;
			case PH_SPLIT:
				closure_add(cb, in->x, seen, out, nout);
				pc = in->y;
				break;
			case PH_JMP:
				pc = in->x;
				break;
			case PH_SAVE:
				pc = pc + 1;
				break;
			case PH_EOL:
				die("$ in a validity pattern");
		}
	}
}

static int
cmp_int(const void *a, const void *b)
{
	return *(const int *) a - *(const int *) b;
}

static int
dfa_state(Dfa *d, int *pcs, int n)
{
	unsigned	h = 2166136261u;
	int			i, slot;

	qsort(pcs, n, sizeof(int), cmp_int);
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned) pcs[i]) * 16777619u;
	for (slot = h % d->tsize; d->table[slot]; slot = (slot + 1) % d->tsize)
	{
		SetEntry   *e = &d->sets[d->table[slot] - 1];

		if (e->hash == h && e->n == n && memcmp(e->pcs, pcs, sizeof(int) * n) == 0)
		{
			free(pcs);
			return d->table[slot] - 1;
		}
	}
	if (d->nsets + 1 >= d->tsize / 2)
		die("DFA too large");
	if (d->nsets == d->cap)
	{
		d->cap = d->cap ? d->cap * 2 : 64;
		d->sets = xrealloc(d->sets, sizeof(SetEntry) * d->cap);
	}
	d->sets[d->nsets].pcs = pcs;
	d->sets[d->nsets].n = n;
	d->sets[d->nsets].hash = h;
	d->table[slot] = ++d->nsets;
	return d->nsets - 1;
}

/* builds the DFA; state 0 is dead, 1 the start */
static Dfa
build_dfa(const Combined *cb, const int *starts, int nstarts)
{
	Dfa			d = {0};
	char	   *seen = malloc(cb->n);
	int		   *pcs = NULL;
	int			n = 0;
	int			s, i;

	d.tsize = 1 << 20;
	d.table = calloc(d.tsize, sizeof(int));
	dfa_state(&d, malloc(sizeof(int)), 0);	/* dead */
	memset(seen, 0, cb->n);
	for (i = 0; i < nstarts; i++)
		closure_add(cb, starts[i], seen, &pcs, &n);
	dfa_state(&d, pcs ? pcs : malloc(sizeof(int)), n);

	for (s = 0; s < d.nsets; s++)
	{
		int			dig;

		d.trans = xrealloc(d.trans, sizeof(*d.trans) * (s + 1));
		d.accept = xrealloc(d.accept, sizeof(unsigned) * (s + 1));
		d.accept[s] = 0;
		for (i = 0; i < d.sets[s].n; i++)
			if (cb->in[d.sets[s].pcs[i]].op == PH_MATCH)
				d.accept[s] |= 1u << cb->owner[d.sets[s].pcs[i]];
		for (dig = 0; dig < 10; dig++)
		{
			int			t;

			pcs = NULL;
			n = 0;
			memset(seen, 0, cb->n);
			for (i = 0; i < d.sets[s].n; i++)
			{
				const PhInst *in = &cb->in[d.sets[s].pcs[i]];

				if (in->op == PH_CLASS && (in->x & (1u << dig)))
					closure_add(cb, d.sets[s].pcs[i] + 1, seen, &pcs, &n);
			}
			if (n == 0)
			{
				free(pcs);
				t = 0;
			}
			else
				t = dfa_state(&d, pcs, n);
			if (t > 65535)
				die("DFA has more than 65535 states");
			d.trans[s][dig] = (unsigned short) t;
		}
	}
	free(seen);
	return d;
}

/*
 * Moore's partition refinement: merges states with the same accept mask and
 * transitions into equivalent states.
 */
static int
minimize(Dfa *d, unsigned short (**trans_out)[10], unsigned **acc_out)
{
	int			n = d->nsets;
	int		   *cls = malloc(sizeof(int) * n);
	int		   *next = malloc(sizeof(int) * n);
	int			ncls = 0, i, j;

	/* initial classes by accept mask; the dead state keeps class 0 */
	for (i = 0; i < n; i++)
	{
		cls[i] = -1;
		for (j = 0; j < i; j++)
			if (d->accept[j] == d->accept[i] && (j == 0) == (i == 0))
			{
				cls[i] = cls[j];
				break;
			}
		if (cls[i] < 0)
			cls[i] = ncls++;
	}
	for (;;)
	{
		/* signature = (class, classes of successors); renumber in order */
		int			nnext = 0;
		int		   *sig = malloc(sizeof(int) * 11 * n);
		int			tsize = 1;

		while (tsize < 4 * n)
			tsize <<= 1;
		{
			int		   *table = malloc(sizeof(int) * tsize);

			memset(table, -1, sizeof(int) * tsize);
			for (i = 0; i < n; i++)
			{
				unsigned	h = 2166136261u;
				int			slot;

				sig[11 * i] = cls[i];
				for (j = 0; j < 10; j++)
					sig[11 * i + 1 + j] = cls[d->trans[i][j]];
				for (j = 0; j < 11; j++)
					h = (h ^ (unsigned) sig[11 * i + j]) * 16777619u;
				for (slot = h & (tsize - 1);; slot = (slot + 1) & (tsize - 1))
				{
					if (table[slot] < 0)
					{
						table[slot] = i;
						next[i] = nnext++;
						break;
					}
					if (memcmp(&sig[11 * table[slot]], &sig[11 * i], sizeof(int) * 11) == 0)
					{
						next[i] = next[table[slot]];
						break;
					}
				}
			}
			free(table);
		}
		free(sig);
		if (nnext == ncls)
			break;
		ncls = nnext;
		memcpy(cls, next, sizeof(int) * n);
	}
	/* class of state 0 (dead) must be 0 and of state 1 (start) must be 1 */
	{
		int		   *map = malloc(sizeof(int) * ncls);
		int			k = 0;

		for (i = 0; i < ncls; i++)
			map[i] = -1;
		map[cls[0]] = k++;
		if (map[cls[1]] < 0)
			map[cls[1]] = k++;
		for (i = 0; i < n; i++)
			if (map[cls[i]] < 0)
				map[cls[i]] = k++;
		*trans_out = calloc(ncls, sizeof(**trans_out));
		*acc_out = calloc(ncls, sizeof(unsigned));
		for (i = 0; i < n; i++)
		{
			int			c = map[cls[i]];

			(*acc_out)[c] = d->accept[i];
			for (j = 0; j < 10; j++)
				(*trans_out)[c][j] = (unsigned short) map[cls[d->trans[i][j]]];
		}
		free(map);
	}
	free(cls);
	free(next);
	return ncls;
}

/* ---------------------------------------------------------------- regions */

static const char *desc_names[] = {
	"general", "premium_rate", "toll_free", "shared_cost", "voip",
	"personal_number", "pager", "uan", "voicemail", "fixed_line", "mobile"
};
#define NDESC 11

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsString(v))
		die("missing string %s", k);
	return v->valuestring;
}

static unsigned
lengths_mask(const cJSON *arr, int *count)
{
	unsigned	m = 0;
	const cJSON *v;

	*count = 0;
	cJSON_ArrayForEach(v, arr)
	{
		(*count)++;
		if (v->valueint >= 0)
		{
			if (v->valueint > 31)
				die("length %d", v->valueint);
			m |= 1u << v->valueint;
		}
	}
	return m;
}

static void
print_cstr(const char *s)
{
	putchar('"');
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

typedef struct FormatOut
{
	int			pattern, leading;
	const char *format, *np_rule;
} FormatOut;

static int
emit_formats(const cJSON *arr, const char *name)
{
	const cJSON *f;
	FormatOut  *out = NULL;
	int			n = 0, i;

	cJSON_ArrayForEach(f, arr)
	{
		const cJSON *ld = cJSON_GetObjectItemCaseSensitive(f, "leading_digits");
		int			nld = cJSON_GetArraySize(ld);

		out = xrealloc(out, sizeof(FormatOut) * (n + 1));
		out[n].pattern = prog_for(jstr(f, "pattern"));
		out[n].leading = nld ? prog_for(cJSON_GetArrayItem(ld, nld - 1)->valuestring) : -1;
		out[n].format = jstr(f, "format");
		out[n].np_rule = jstr(f, "national_prefix_formatting_rule");
		n++;
	}
	if (n == 0)
		return 0;
	printf("static const PhFormat %s[] = {\n", name);
	for (i = 0; i < n; i++)
	{
		printf("\t{");
		print_prog(out[i].pattern);
		printf(", ");
		print_prog(out[i].leading);
		printf(", ");
		print_cstr(out[i].format);
		printf(", ");
		print_cstr(out[i].np_rule);
		printf("},\n");
	}
	printf("};\n");
	free(out);
	return n;
}

typedef struct RegionOut
{
	const char *id;
	int			cc;
	int			main_country;
	int			same_mf;
	int			idd, npfp, leading;
	const char *np, *transform;
	unsigned	lengths[NDESC], local[NDESC];
	int			nlengths[NDESC], has_pattern[NDESC];
	int			nstates;
	int			nformats, nintl;
} RegionOut;

static int
cmp_region_id(const void *a, const void *b)
{
	const RegionOut *const *x = a;
	const RegionOut *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

int
main(int argc, char **argv)
{
	FILE	   *f;
	long		size;
	char	   *text;
	cJSON	   *root, *regions, *r;
	RegionOut  *out;
	int			nr, i, j, total_states = 0;

	if (argc != 2)
		die("usage: gen_phone_tables phonenumber-metadata.json");
	f = fopen(argv[1], "rb");
	if (!f)
		die("cannot open %s", argv[1]);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = malloc(size + 1);
	if (fread(text, 1, size, f) != (size_t) size)
		die("cannot read %s", argv[1]);
	text[size] = 0;
	fclose(f);
	root = cJSON_Parse(text);
	if (!root)
		die("bad JSON");
	regions = cJSON_GetObjectItemCaseSensitive(root, "regions");
	nr = cJSON_GetArraySize(regions);
	out = calloc(nr, sizeof(RegionOut));

	printf("/*\n * phone_tables.c — GENERATED by tools/phonemeta/gen_phone_tables.c from\n"
		   " * tools/phonemeta/phonenumber-metadata.json; do not edit.\n *\n"
		   " * Numbering metadata of libphonenumber %s (%s).\n */\n"
		   "#include \"phone_tables.h\"\n\n"
		   "const char ph_metadata_version[] = \"%s\";\n\n",
		   jstr(root, "libphonenumber_version"), jstr(root, "licence"),
		   jstr(root, "libphonenumber_version"));

	i = 0;
	cJSON_ArrayForEach(r, regions)
	{
		RegionOut  *o = &out[i];
		const cJSON *descs = cJSON_GetObjectItemCaseSensitive(r, "descs");
		Combined	cb = {0};
		int			starts[NDESC], nstarts = 0;
		Dfa			d;
		unsigned short (*trans)[10];
		unsigned   *acc;
		char		name[64];

		o->id = jstr(r, "id");
		o->cc = cJSON_GetObjectItemCaseSensitive(r, "country_code")->valueint;
		o->main_country = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "main_country_for_code"));
		o->same_mf = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "same_mobile_and_fixed_line_pattern"));
		o->idd = prog_for(jstr(r, "international_prefix"));
		o->npfp = *jstr(r, "national_prefix_for_parsing") ? prog_for(jstr(r, "national_prefix_for_parsing")) : -1;
		o->leading = *jstr(r, "leading_digits") ? prog_for(jstr(r, "leading_digits")) : -1;
		o->np = jstr(r, "national_prefix");
		o->transform = jstr(r, "national_prefix_transform_rule");

		for (j = 0; j < NDESC; j++)
		{
			const cJSON *dj = cJSON_GetObjectItemCaseSensitive(descs, desc_names[j]);
			const char *pat;
			Code		c;
			int			k;

			if (!dj)
				continue;
			o->lengths[j] = lengths_mask(cJSON_GetObjectItemCaseSensitive(dj, "lengths"), &o->nlengths[j]);
			{
				int			dummy;

				o->local[j] = lengths_mask(cJSON_GetObjectItemCaseSensitive(dj, "local_lengths"), &dummy);
			}
			pat = jstr(dj, "pattern");
			if (!*pat)
				continue;
			o->has_pattern[j] = 1;
			c = compile(pat);
			starts[nstarts++] = cb.n;
			cb.in = xrealloc(cb.in, sizeof(PhInst) * (cb.n + c.n));
			cb.owner = xrealloc(cb.owner, sizeof(int) * (cb.n + c.n));
			for (k = 0; k < c.n; k++)
			{
				PhInst		in = c.in[k];

				if (in.op == PH_SPLIT)
					in.x += cb.n, in.y += cb.n;
				else if (in.op == PH_JMP)
					in.x += cb.n;
				cb.in[cb.n + k] = in;
				cb.owner[cb.n + k] = j;
			}
			cb.n += c.n;
			free(c.in);
		}
		if (!o->has_pattern[0])
			die("%s has no general pattern", o->id);
		d = build_dfa(&cb, starts, nstarts);
		o->nstates = minimize(&d, &trans, &acc);
		total_states += o->nstates;
		snprintf(name, sizeof name, "%s_%d", o->id, o->cc);
		printf("static const uint16_t ph_dfa_%s[][10] = {\n", name);
		for (j = 0; j < o->nstates; j++)
		{
			int			k;

			printf("\t{");
			for (k = 0; k < 10; k++)
				printf("%s%d", k ? "," : "", trans[j][k]);
			printf("},\n");
		}
		printf("};\nstatic const uint16_t ph_acc_%s[] = {", name);
		for (j = 0; j < o->nstates; j++)
			printf("%s%u", j % 20 ? "," : (j ? ",\n\t" : "\n\t"), acc[j]);
		printf("\n};\n");
		snprintf(name, sizeof name, "ph_fmt_%s_%d", o->id, o->cc);
		o->nformats = emit_formats(cJSON_GetObjectItemCaseSensitive(r, "number_formats"), name);
		snprintf(name, sizeof name, "ph_intl_%s_%d", o->id, o->cc);
		o->nintl = emit_formats(cJSON_GetObjectItemCaseSensitive(r, "intl_number_formats"), name);
		i++;
	}

	printf("\nconst PhRegion ph_regions[] = {\n");
	for (i = 0; i < nr; i++)
	{
		RegionOut  *o = &out[i];

		printf("\t{\"%s\", %d, %s, %s,\n\t\t", o->id, o->cc,
			   o->main_country ? "true" : "false", o->same_mf ? "true" : "false");
		print_prog(o->idd);
		printf(", ");
		print_prog(o->npfp);
		printf(", ");
		print_prog(o->leading);
		printf(",\n\t\t");
		print_cstr(o->np);
		printf(", ");
		print_cstr(o->transform);
		printf(",\n\t\t{");
		for (j = 0; j < NDESC; j++)
			printf("%s{0x%x, 0x%x, %d, %s}", j ? ", " : "", o->lengths[j], o->local[j],
				   o->nlengths[j], o->has_pattern[j] ? "true" : "false");
		printf("},\n\t\tph_dfa_%s_%d, ph_acc_%s_%d, %d,\n\t\t", o->id, o->cc, o->id, o->cc, o->nstates);
		if (o->nformats)
			printf("ph_fmt_%s_%d, %d, ", o->id, o->cc, o->nformats);
		else
			printf("NULL, 0, ");
		if (o->nintl)
			printf("ph_intl_%s_%d, %d},\n", o->id, o->cc, o->nintl);
		else
			printf("NULL, 0},\n");
	}
	printf("};\nconst int ph_nregions = %d;\n\n", nr);

	/* calling codes: regions in libphonenumber's order (main country first) */
	{
		int		   *ccs = NULL;
		int			ncc = 0, k, pos = 0;

		for (i = 0; i < nr; i++)
		{
			for (k = 0; k < ncc; k++)
				if (ccs[k] == out[i].cc)
					break;
			if (k == ncc)
			{
				ccs = xrealloc(ccs, sizeof(int) * (ncc + 1));
				ccs[ncc++] = out[i].cc;
			}
		}
		qsort(ccs, ncc, sizeof(int), cmp_int);
		printf("const uint16_t ph_cc_regions[] = {\n");
		for (k = 0; k < ncc; k++)
		{
			printf("\t");
			for (i = 0; i < nr; i++)
				if (out[i].cc == ccs[k] && out[i].main_country)
					printf("%d, ", i);
			for (i = 0; i < nr; i++)
				if (out[i].cc == ccs[k] && !out[i].main_country)
					printf("%d, ", i);
			printf("/* %d */\n", ccs[k]);
		}
		printf("};\nconst PhCallingCode ph_calling_codes[] = {\n");
		for (k = 0; k < ncc; k++)
		{
			int			cnt = 0;

			for (i = 0; i < nr; i++)
				if (out[i].cc == ccs[k])
					cnt++;
			printf("\t{%d, %d, %d},\n", ccs[k], pos, cnt);
			pos += cnt;
		}
		printf("};\nconst int ph_ncalling_codes = %d;\n\n", ncc);
	}
	/* geographic regions sorted by id, for region-code lookups */
	{
		RegionOut **byid = malloc(sizeof(RegionOut *) * nr);
		int			n = 0;

		for (i = 0; i < nr; i++)
			if (strcmp(out[i].id, "001") != 0)
				byid[n++] = &out[i];
		qsort(byid, n, sizeof(RegionOut *), cmp_region_id);
		printf("const uint16_t ph_region_by_id[] = {");
		for (i = 0; i < n; i++)
			printf("%s%d", i % 16 ? ", " : (i ? ",\n\t" : "\n\t"), (int) (byid[i] - out));
		printf("\n};\nconst int ph_nregion_ids = %d;\n", n);
	}
	fprintf(stderr, "gen_phone_tables: %d regions, %d programs, %d DFA states\n", nr, nprogs, total_states);
	cJSON_Delete(root);
	return 0;
}
