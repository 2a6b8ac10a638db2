/*
 * A main() for any harness in this folder, so it builds without libFuzzer
 * (with gcc too) and runs fixed inputs: each argument is a file, or a
 * folder whose files are run in name order. Each input is copied into a
 * heap block of exactly its size, as libFuzzer does, so AddressSanitizer
 * reports a read past its end. A crash or failed check ends the program
 * as it would end a fuzzing run; the input's path is printed before it
 * runs. Exits 0 when every input ran, 2 when a path cannot be read.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Defined only by the harnesses that need setup before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Read a whole file into a new heap block of exactly its size. */
static uint8_t *
replay_read(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	struct stat st;

	if (f == NULL || fstat(fileno(f), &st) != 0)
		goto fail;
	*size = (size_t)st.st_size;
	/* malloc(0) may return NULL, but a harness gets a valid pointer. */
	data = malloc(*size > 0 ? *size : 1);
	if (data == NULL || fread(data, 1, *size, f) != *size)
		goto fail;
	fclose(f);
	return data;
fail:
	fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
	free(data);
	if (f != NULL)
		fclose(f);
	return NULL;
}

static int
replay_file(const char *path)
{
	size_t size = 0;
	uint8_t *data = replay_read(path, &size);

	if (data == NULL)
		return -1;
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
	(void)LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

/* Run every regular file of a folder in name order; hidden files are skipped. */
static int
replay_folder(const char *path, int *count)
{
	struct dirent **entries = NULL;
	int n = scandir(path, &entries, NULL, alphasort);
	int rc = 0;

	if (n < 0) {
		fprintf(stderr, "replay: cannot list %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char file[4096];
		struct stat st;

		if (rc == 0 && entries[i]->d_name[0] != '.') {
			snprintf(file, sizeof(file), "%s/%s", path, entries[i]->d_name);
			if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
				rc = replay_file(file);
				*count += rc == 0;
			}
		}
		free(entries[i]);
	}
	free(entries);
	return rc;
}

int
main(int argc, char **argv)
{
	int count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);

	for (int i = 1; i < argc; i++) {
		struct stat st;
		int rc;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: cannot read %s: %s\n", argv[i], strerror(errno));
			return 2;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = replay_folder(argv[i], &count);
		} else {
			rc = replay_file(argv[i]);
			count += rc == 0;
		}
		if (rc != 0)
			return 2;
	}
	fprintf(stderr, "replay: %d inputs ran without a failure\n", count);
	return 0;
}
