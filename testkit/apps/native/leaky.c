/*
 * A request handler that remembers every request in a global registry and
 * never forgets one: the native leak leakhound must name. Built twice from this
 * file: `leaky` as written, and `bounded` (-DBOUNDED) which evicts the oldest
 * entry past a fixed size, so that it allocates as much but holds a constant
 * amount.
 *
 * Usage: leaky [ROUNDS]  (forever when ROUNDS is 0 or absent). Each round
 * handles 256 requests and prints "round N"; the first line is "ready".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct entry {
    struct entry *next;
    int id;
    char payload[4092];
};

/* The global structure the leak goes through. */
static struct {
    struct entry *head, *tail;
    long size;
} registry;

#define BOUND 64

/* Keeps a copy of the request; the leaking allocation site. */
__attribute__((noinline)) static void remember_request(int id, const char *body) {
    struct entry *e = malloc(sizeof *e); /* LEAK-SITE */
    if (!e) {
        abort();
    }
    e->id = id;
    e->next = NULL;
    strncpy(e->payload, body, sizeof e->payload - 1);
    e->payload[sizeof e->payload - 1] = '\0';
    if (registry.tail) {
        registry.tail->next = e;
    } else {
        registry.head = e;
    }
    registry.tail = e;
    registry.size++;
#ifdef BOUNDED
    while (registry.size > BOUND) {
        struct entry *old = registry.head;
        registry.head = old->next;
        free(old);
        registry.size--;
    }
#endif
}

/* Per-request scratch memory, freed before the request ends. */
__attribute__((noinline)) static size_t handle_request(int id) {
    char *scratch = malloc(8192);
    if (!scratch) {
        abort();
    }
    int n = snprintf(scratch, 8192, "request %d from client %d", id, id % 17);
    remember_request(id, scratch);
    free(scratch);
    return (size_t)n;
}

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    size_t total = 0;
    for (long r = 1; rounds == 0 || r <= rounds; r++) {
        for (int i = 0; i < 256; i++) {
            total += handle_request((int)(r * 256 + i));
        }
        printf("round %ld\n", r);
        if (rounds == 0) {
            usleep(20000);
        }
    }
    printf("done %zu %ld\n", total, registry.size);
    return 0;
}
