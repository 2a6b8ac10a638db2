/*
 * Versioned schema migrations for the SQLite store. Each entry runs once,
 * in order, inside one transaction with its schema_migrations row; a
 * released migration is never edited, only followed by a new one.
 */
#ifndef CITYPAY_SCHEMA_H
#define CITYPAY_SCHEMA_H

#include <stddef.h>

struct schema_migration {
	int version;
	const char *name;
	const char *sql;
};

extern const struct schema_migration schema_migrations[];
extern const size_t schema_migration_count;

#endif
