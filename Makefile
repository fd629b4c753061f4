# customercard: PGXS build, plus the two set-up commands `make demo` and `make test`.
EXTENSION   = customercard
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" customercard.control)
MODULE_big  = customercard
OBJS        = $(patsubst %.c,%.o,$(wildcard src/*.c))
SQL_SOURCES = $(sort $(wildcard src/sql/*.sql))
DATA_built  = customercard--$(EXTVERSION).sql
DATA        = $(wildcard upgrade/customercard--*--*.sql)
SHLIB_LINK += -lcjson
PG_CPPFLAGS = -Isrc
override CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

# pg_regress: every file in sql/ (one per feature), against the throwaway cluster.
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=customercard

# Debian's PostgreSQL 15; pg_config may be absent on a fresh machine, which
# `make test` / `make demo` repair before they build.
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
endif

customercard--$(EXTVERSION).sql: $(SQL_SOURCES) customercard.control
	cat $(SQL_SOURCES) > $@

.PHONY: test demo deps
deps:
	bash test/scripts/deps.sh

test:
	bash test/scripts/run_tests.sh

demo:
	bash test/scripts/demo.sh
