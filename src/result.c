#include "result.h"

const char *
cp_strerror(enum cp_result result)
{
	switch (result) {
	case CP_OK:        return "ok";
	case CP_ERROR:     return "internal error";
	case CP_NOT_FOUND: return "not found";
	case CP_EXISTS:    return "already exists";
	case CP_CONFLICT:  return "changed concurrently";
	case CP_INVALID:   return "invalid input";
	}
	return "unknown result";
}
