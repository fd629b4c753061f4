# customercard: PGXS build, plus the two set-up commands `make demo` and `make test`.
EXTENSION   = customercard
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" customercard.control)
MODULE_big  = customercard
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c))
SQL_SOURCES = $(sort $(wildcard src/sql/*.sql))
# released scripts are frozen in upgrade/*.sql; the upgrade into the version
# in the making is built from its upgrade/*.in by tools/sqlobject --expand
UPGRADE_IN  = $(wildcard upgrade/customercard--*--*.in)
DATA_built  = customercard--$(EXTVERSION).sql $(patsubst upgrade/%.in,%.sql,$(UPGRADE_IN))
# (the current version's script is the one built from src/sql, released or not)
DATA        = $(filter-out upgrade/customercard--$(EXTVERSION).sql,$(wildcard upgrade/customercard--*.sql))
SHLIB_LINK += -lcjson -lxlsxwriter -lzip -lexpat -licuuc
PG_CPPFLAGS = -Isrc
# appended to PostgreSQL's own flags (-O2 ...); an `override CFLAGS` here would replace them
PG_CFLAGS   = -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
# besides PGXS's own: install scripts of other versions left by earlier builds, the fuzzers
EXTRA_CLEAN = $(filter-out $(DATA_built),$(wildcard customercard--*.sql)) $(patsubst %,fuzz/fuzz_%,$(FUZZ_TARGETS))

# pg_regress: every file in sql/ (one per feature), against the throwaway cluster.
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=pg_trgm --load-extension=customercard

# Debian's PostgreSQL 15; pg_config may be absent on a fresh machine, which
# `make test` / `make demo` repair before they build.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

customercard--$(EXTVERSION).sql: $(SQL_SOURCES) customercard.control
	cat $(SQL_SOURCES) > $@

customercard--%.sql: upgrade/customercard--%.in $(SQL_SOURCES) tools/sqlobject
	python3 tools/sqlobject --expand $< > $@.tmp && mv $@.tmp $@

# libFuzzer + ASan/UBSan on the pure C parsers (clang, libclang-rt-14-dev)
FUZZ_SECONDS ?= 60
# seconds one input may take: a slower input is a finding (a parser must be
# linear in its input), reported like a crash
FUZZ_TIMEOUT ?= 2
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc -Ifuzz
PHONE_CORE = src/phone_parse.c src/phone_regex.c src/phone_tables.c
fuzz/fuzz_email: fuzz/fuzz_email.c fuzz/fuzz_common.h src/email_parse.c src/email_parse.h
	clang $(FUZZ_CFLAGS) fuzz/fuzz_email.c src/email_parse.c -o $@
fuzz/fuzz_csv: fuzz/fuzz_csv.c fuzz/fuzz_common.h src/csv_parse.c src/csv_parse.h
	clang $(FUZZ_CFLAGS) fuzz/fuzz_csv.c src/csv_parse.c -o $@
fuzz/fuzz_json: fuzz/fuzz_json.c fuzz/fuzz_common.h
	clang $(FUZZ_CFLAGS) fuzz/fuzz_json.c -lcjson -o $@
fuzz/fuzz_xlsx: fuzz/fuzz_xlsx.c fuzz/fuzz_common.h src/xlsx_read.c src/xlsx_read.h
	clang $(FUZZ_CFLAGS) fuzz/fuzz_xlsx.c src/xlsx_read.c -lzip -lexpat -lm -o $@
fuzz/fuzz_phone: fuzz/fuzz_phone.c $(PHONE_CORE) src/phone_parse.h src/phone_regex.h src/phone_tables.h
	clang $(FUZZ_CFLAGS) fuzz/fuzz_phone.c $(PHONE_CORE) -o $@

# make fuzz [FUZZ_SECONDS=600] [FUZZ_TIMEOUT=2] [FUZZ_TARGETS=phone]: each target in turn
FUZZ_TARGETS ?= email phone csv json xlsx
.PHONY: fuzz
fuzz: $(patsubst %,fuzz/fuzz_%,$(FUZZ_TARGETS))
	set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$t-found; \
	  ./fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -max_len=1024 -rss_limit_mb=512 -malloc_limit_mb=64 \
	    fuzz/corpus/$$t-found fuzz/corpus/$$t; \
	done

.PHONY: test test-citus demo deps lint clean-tools
clean: clean-tools
clean-tools:
	$(MAKE) -C tools/phonemeta clean


deps:
	bash test/scripts/deps.sh

test:
	bash test/scripts/run_tests.sh

test-citus:
	bash test/scripts/run_citus_tests.sh

# cppcheck and clang-tidy over src/*.c (.clang-tidy); in make test too
lint:
	bash test/scripts/lint.sh

demo:
	bash test/scripts/demo.sh
