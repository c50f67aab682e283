// floor_death: how soon, on this host, can a process learn that another died?
//
// A "server" process spins on one thread (as a link server's poller does) and
// owns two things the kernel tears down when it is SIGKILLed: a robust futex
// word in a shared page (its thread's robust list points at it, so the
// kernel marks it FUTEX_OWNER_DIED early in that thread's exit and wakes one
// waiter) and one end of a socketpair per client. Each of -clients client
// processes blocks in two threads: one in FUTEX_WAIT on the word (when woken
// it wakes every other waiter, as spinwire's clients do), one in recv(2) on
// its socket (EOF when the server's files are closed). The parent kills the
// server and reads, for every client, the time from kill(2) to each wake-up.
// Nothing in user space can learn of the death sooner than these wake-ups,
// short of spinning on the word.
//
// usage: floor_death [-trials N] [-clients K]
// prints one JSON line: {"transport":"floor-c","mode":"death",...} with the
// p50 and p100 of kill → wake over every client and trial, for the futex
// word and for the socket.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64

struct robust_entry {
	struct robust_entry *next;
};
struct robust_head {
	struct robust_entry *next;
	long offset;
	struct robust_entry *pending;
};

// shared is the page every process maps.
struct shared {
	uint32_t word;	  // owner TID | FUTEX_WAITERS; FUTEX_OWNER_DIED at death
	uint32_t pad[15];
	uint64_t ready;	  // clients blocked (approximately: incremented before)
	uint64_t futex_ns[MAXC];
	uint64_t sock_ns[MAXC];
};

static struct shared *sh;

static uint64_t now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static long futex(uint32_t *w, int op, uint32_t val) {
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static int threads, megabytes;

static void *sleeper(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void server(void) {
	for (int i = 0; i < threads; i++) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
	}
	if (megabytes > 0) {
		char *m = malloc((size_t)megabytes << 20);
		memset(m, 1, (size_t)megabytes << 20);
	}
	static struct robust_head head;
	static struct robust_entry entry;
	head.next = &entry;
	entry.next = (struct robust_entry *)&head;
	head.offset = (long)((char *)&sh->word - (char *)&entry);
	if (syscall(SYS_set_robust_list, &head, sizeof head) != 0) {
		perror("set_robust_list");
		_exit(1);
	}
	__atomic_store_n(&sh->word, (uint32_t)syscall(SYS_gettid) | FUTEX_WAITERS, __ATOMIC_RELEASE);
	for (;;)
		__builtin_ia32_pause();
}

static int cfd;
static int cidx;

static void *sockwait(void *arg) {
	(void)arg;
	char b;
	while (recv(cfd, &b, 1, 0) > 0) {
	}
	sh->sock_ns[cidx] = now_ns();
	return NULL;
}

static void client(int i, int fd) {
	cidx = i, cfd = fd;
	pthread_t t;
	pthread_create(&t, NULL, sockwait, NULL);
	__atomic_add_fetch(&sh->ready, 1, __ATOMIC_ACQ_REL);
	for (;;) {
		uint32_t v = __atomic_load_n(&sh->word, __ATOMIC_ACQUIRE);
		if (v & FUTEX_OWNER_DIED) {
			sh->futex_ns[i] = now_ns();
			futex(&sh->word, FUTEX_WAKE, 1 << 30);
			break;
		}
		futex(&sh->word, FUTEX_WAIT, v);
	}
	pthread_join(t, NULL);
	_exit(0);
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
	int trials = 20, clients = 4;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-trials") && i + 1 < argc)
			trials = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-clients") && i + 1 < argc)
			clients = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-mb") && i + 1 < argc)
			megabytes = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: floor_death [-trials N] [-clients K]\n");
			return 2;
		}
	}
	if (trials < 1 || clients < 1 || clients > MAXC) {
		fprintf(stderr, "floor_death: -trials ≥ 1, 1 ≤ -clients ≤ %d\n", MAXC);
		return 2;
	}
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	int n = trials * clients;
	double *fut = calloc(n, sizeof *fut), *sock = calloc(n, sizeof *sock);
	for (int t = 0; t < trials; t++) {
		memset(sh, 0, sizeof *sh);
		int sv[MAXC][2];
		for (int i = 0; i < clients; i++)
			socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv[i]);
		pid_t srv = fork();
		if (srv == 0) {
			for (int i = 0; i < clients; i++)
				close(sv[i][1]);
			server();
		}
		while (__atomic_load_n(&sh->word, __ATOMIC_ACQUIRE) == 0)
			usleep(100);
		pid_t cl[MAXC];
		for (int i = 0; i < clients; i++) {
			cl[i] = fork();
			if (cl[i] == 0) {
				for (int j = 0; j < clients; j++) {
					close(sv[j][0]);
					if (j != i)
						close(sv[j][1]);
				}
				client(i, sv[i][1]);
			}
		}
		for (int i = 0; i < clients; i++)
			close(sv[i][0]), close(sv[i][1]);
		while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < (uint64_t)clients)
			usleep(100);
		usleep(50000); // let every client block
		uint64_t t0 = now_ns();
		kill(srv, SIGKILL);
		waitpid(srv, NULL, 0);
		for (int i = 0; i < clients; i++)
			waitpid(cl[i], NULL, 0);
		for (int i = 0; i < clients; i++) {
			fut[t * clients + i] = (sh->futex_ns[i] - t0) / 1e6;
			sock[t * clients + i] = (sh->sock_ns[i] - t0) / 1e6;
		}
	}
	qsort(fut, n, sizeof *fut, cmp);
	qsort(sock, n, sizeof *sock, cmp);
	printf("{\"transport\":\"floor-c\",\"mode\":\"death\",\"trials\":%d,\"clients\":%d,"
	       "\"futex_p50_ms\":%.3f,\"futex_p100_ms\":%.3f,\"socket_p50_ms\":%.3f,\"socket_p100_ms\":%.3f}\n",
	       trials, clients, fut[n / 2], fut[n - 1], sock[n / 2], sock[n - 1]);
	return 0;
}
