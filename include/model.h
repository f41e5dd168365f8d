/*
 * The resources of the contract: enums paired with their wire strings,
 * timestamps, strict JSON parsing of request bodies, and validation of the
 * operation and job "info" documents.
 */
#ifndef LEDGEROPS_MODEL_H
#define LEDGEROPS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "backoff.h"
#include "error.h"

#define MODEL_MAX_SEGMENT 255 /* bytes of a type, definition, name */
#define MODEL_MAX_JSON_DEPTH 64
#define MODEL_MAX_PARAMETERS 256
#define MODEL_MAX_ROLES 256
#define MODEL_MAX_PARAMETER_KEY 128
#define MODEL_TIME_LEN 25 /* "2025-12-06T05:37:26.996Z" + NUL */

#define MODEL_OPERATION_INFO_TYPE "cac_ledger_schema_info_ledger_operation_info"
#define MODEL_OPERATION_ELEM_TYPE                                              \
	"cac_ledger_schema_element_ledger_operation_elem"
#define MODEL_JOB_INFO_TYPE "cac_ledger_schema_info_ledger_job_info"
#define MODEL_JOB_ELEM_TYPE "cac_ledger_schema_element_ledger_job_elem"
#define MODEL_JOB_DATA_TYPE "cac_ledger_schema_data_ledger_job_data"

enum op_type {
	OP_TYPE_PUBLISH,
	OP_TYPE_REPLICATE,
	OP_TYPE_RECONCILE,
	OP_TYPE_REPORT,
	OP_TYPE_VALIDATE,
	OP_TYPE_DETECT,
	OP_TYPE__MAX
};

enum job_status { JOB_EXECUTING, JOB_PAUSED, JOB_STOPPED, JOB_STATUS__MAX };

enum exec_status {
	EXEC_STARTED,
	EXEC_SUCCEEDED,
	EXEC_FAILED,
	EXEC_TIMED_OUT,
	EXEC_CANCELLED,
	EXEC_ABANDONED,
	EXEC_STATUS__MAX
};

extern const char *const op_type_names[OP_TYPE__MAX];
extern const char *const job_status_names[JOB_STATUS__MAX];
extern const char *const exec_status_names[EXEC_STATUS__MAX];

/* Looks s up in names[0..n); returns its index or -1. */
int model_lookup(const char *const *names, int n, const char *s);

/*
 * Decodes one UTF-8 sequence at s (n > 0 bytes available) into *cp and
 * returns its length, or 0 when it is not the shortest form of a Unicode
 * scalar value (overlong, surrogate, past U+10FFFF, cut short).
 */
size_t model_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Milliseconds since the Unix epoch, from CLOCK_REALTIME. */
int64_t model_now_ms(void);

/* Formats ms since the epoch as ISO 8601 UTC with milliseconds into buf. */
void model_format_time(int64_t ms, char buf[MODEL_TIME_LEN]);

/* Parses an ISO 8601 UTC timestamp: "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (also
 * "YYYY-MM-DD", meaning midnight).  Returns 0 and sets *ms, or -1. */
int model_parse_time(const char *s, int64_t *ms);

/*
 * Checks a type, definition or name value: 1 to 255 bytes of valid UTF-8,
 * no control characters, no '*'.  Returns ERR_OK, or ERR_VALIDATION with
 * a message naming what (e.g. "definition") into detail.
 */
enum err model_check_identifier(const char *what, const char *s, size_t len,
    char *detail, size_t detail_len);

/*
 * Parses a request body strictly: valid UTF-8, nesting at most 64 deep,
 * no trailing garbage, no duplicate keys, and an object at the top.
 * On success stores a new reference in *out (caller puts it).
 * Returns ERR_BAD_JSON with a message otherwise.
 */
enum err model_parse_json(const char *text, size_t len, json_object **out,
    char *detail, size_t detail_len);

/*
 * A field error of a validation failure, reported in the problem's
 * "errors" array.  Validators fill the first one they find.
 */
struct model_field_error {
	char field[128]; /* e.g. "info.roles[2]" or "backoff.delay_increase" */
	char message[256];
};

/*
 * Reads a backoff object ("backoff": {...}) into *b.  All five keys are
 * required integers; unknown keys are rejected.  prefix names the object
 * in errors ("backoff").  Returns ERR_OK or ERR_VALIDATION.
 */
enum err model_backoff_from_json(json_object *obj, const char *prefix,
    struct backoff *b, struct model_field_error *fe);

/* Builds the wire form of b; returns a new object or NULL on ENOMEM. */
json_object *model_backoff_to_json(const struct backoff *b);

/*
 * Validates an operation info document.  On success sets *type, points
 * *definition into obj (valid while obj lives), and sets *has_backoff and
 * *backoff when the document carries one.
 */
enum err model_operation_info_check(json_object *obj, enum op_type *type,
    const char **definition, int *has_backoff, struct backoff *backoff,
    struct model_field_error *fe);

/*
 * Validates a job info document (@type, name, roles, parameters, backoff,
 * timeout_in_millis; nothing else).  On success points *name into obj and
 * sets *has_backoff / *backoff and *timeout_ms (0 when absent).
 */
enum err model_job_info_check(json_object *obj, const char **name,
    int *has_backoff, struct backoff *backoff, int64_t *timeout_ms,
    struct model_field_error *fe);

#endif
