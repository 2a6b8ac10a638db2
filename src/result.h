/*
 * The result type shared by modules that can fail in more than one way.
 * Zero is success; named non-failure outcomes let a caller tell "not found"
 * or "already exists" apart from a real error.
 */
#ifndef CITYPAY_RESULT_H
#define CITYPAY_RESULT_H

enum cp_result {
	CP_OK = 0,
	CP_ERROR,      /* an internal failure, logged where it happened */
	CP_NOT_FOUND,  /* the row or resource does not exist */
	CP_EXISTS,     /* a unique key is already taken */
	CP_CONFLICT,   /* the row changed under us; the caller may retry */
	CP_INVALID,    /* the input was rejected */
};

/* A short phrase for a result, for logs. */
const char *cp_strerror(enum cp_result result);

#endif
