/* Sample function: word frequencies of stdin as one line of JSON.
 *
 *   {"total_words":N,"unique_words":N,"top":[{"word":"the","count":9},...]}
 *
 * A word is a maximal run of ASCII letters and digits, lowercased; runs longer than
 * MAX_WORD bytes are cut there (the rest of the run is skipped). "top" holds the TOP most
 * frequent words (argv[1], default 10), by count descending, then bytewise ascending, so the
 * output is the same for the same input on every machine. Exits 1 on bad arguments or when
 * out of memory, with a message on stderr. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORD 64
#define DEFAULT_TOP 10

struct entry {
	char *word; /* NULL: empty slot */
	uint64_t count;
};

struct table {
	struct entry *slots;
	size_t cap, used;
};

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static int grow(struct table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 1024;
	struct entry *ns = calloc(ncap, sizeof(*ns));

	if (!ns)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		struct entry *e = &t->slots[i];
		size_t j;

		if (!e->word)
			continue;
		for (j = hash(e->word, strlen(e->word)) & (ncap - 1); ns[j].word; j = (j + 1) & (ncap - 1))
			;
		ns[j] = *e;
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	return 0;
}

static int add(struct table *t, const char *w, size_t n)
{
	size_t j;

	if ((t->used + 1) * 4 > t->cap * 3 && grow(t))
		return -1;
	for (j = hash(w, n) & (t->cap - 1); t->slots[j].word; j = (j + 1) & (t->cap - 1)) {
		if (!strncmp(t->slots[j].word, w, n) && !t->slots[j].word[n]) {
			t->slots[j].count++;
			return 0;
		}
	}
	t->slots[j].word = strndup(w, n);
	if (!t->slots[j].word)
		return -1;
	t->slots[j].count = 1;
	t->used++;
	return 0;
}

static int by_count_then_word(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->word, y->word);
}

int main(int argc, char **argv)
{
	struct table t = { 0 };
	char word[MAX_WORD], buf[65536];
	size_t wl = 0, n, top = DEFAULT_TOP, k = 0;
	uint64_t total = 0;
	int in_word = 0;

	if (argc > 2 || (argc == 2 && (sscanf(argv[1], "%zu", &top) != 1 || top > 100000))) {
		fprintf(stderr, "usage: wordfreq [TOP]  (TOP: 0..100000, default %d)\n", DEFAULT_TOP);
		return 1;
	}
	if (grow(&t))
		goto oom;
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)buf[i];

			if (c < 0x80 && isalnum(c)) {
				if (wl < MAX_WORD)
					word[wl++] = (char)tolower(c);
				in_word = 1;
				continue;
			}
			if (in_word) {
				if (add(&t, word, wl))
					goto oom;
				total++;
				in_word = 0;
				wl = 0;
			}
		}
	}
	if (in_word) {
		if (add(&t, word, wl))
			goto oom;
		total++;
	}
	/* Compact the occupied slots to the front, then sort them. */
	for (size_t i = 0; i < t.cap; i++)
		if (t.slots[i].word)
			t.slots[k++] = t.slots[i];
	qsort(t.slots, k, sizeof(*t.slots), by_count_then_word);
	printf("{\"total_words\":%llu,\"unique_words\":%zu,\"top\":[", (unsigned long long)total, k);
	for (size_t i = 0; i < k && i < top; i++)
		printf("%s{\"word\":\"%s\",\"count\":%llu}", i ? "," : "", t.slots[i].word,
		       (unsigned long long)t.slots[i].count);
	printf("]}\n");
	return ferror(stdin) || fflush(stdout) ? 1 : 0;
oom:
	fprintf(stderr, "wordfreq: out of memory\n");
	return 1;
}
