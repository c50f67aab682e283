// floor_death: how soon, on this host, can a process learn that another died?
//
// A victim process owns two things the kernel tears down when it is
// SIGKILLed: a robust futex word in a shared page (its main thread's robust
// list points at it, so the kernel marks the word FUTEX_OWNER_DIED early in
// that thread's exit and wakes one waiter) and one end of a socketpair per
// watcher (EOF once the victim's last thread has exited and its files are
// closed). Each of -watchers watcher processes blocks in two threads: one in
// FUTEX_WAIT on the word (when woken it wakes every other waiter, as
// spinwire's clients do), one in recv(2) on its socket. The parent kills the
// victim and reads, for every watcher, the time from kill(2) to each
// wake-up. Nothing in user space learns of a death sooner than these
// wake-ups, short of spinning on the word.
//
// Two victims, one after the other:
//   - a spinning victim, as a link server is (its poller spins): the main
//     thread spins on a CPU and owns the word;
//   - a sleeping victim, as an idle link client is: every thread sleeps,
//     the main one owning the word.
// Either has -threads more threads asleep and -mb MiB of touched memory; the
// defaults (6 and 8) are the shape of a small Go process, whose runtime
// threads must each be scheduled to die.
//
// usage: floor_death [-trials N] [-watchers K] [-threads T] [-mb M]
// prints one JSON line: {"transport":"floor-c","mode":"death",...} with the
// p50 and p100 of kill → wake-up over every watcher and trial.
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

#define MAXW 64

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
	uint32_t word; // owner TID | FUTEX_WAITERS; FUTEX_OWNER_DIED at death
	uint32_t pad[15];
	uint64_t ready; // watchers about to block
	uint64_t victim_ready;
	uint64_t futex_ns[MAXW];
	uint64_t sock_ns[MAXW];
};

static struct shared *sh;
static int threads = 6, megabytes = 8;

static uint64_t now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static long futex(uint32_t *w, int op, uint32_t val) {
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

static void *sleeper(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static void victim(int spin) {
	for (int i = 0; i < threads; i++) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
	}
	if (megabytes > 0)
		memset(malloc((size_t)megabytes << 20), 1, (size_t)megabytes << 20);
	{
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
	}
	__atomic_store_n(&sh->victim_ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		if (spin)
			__builtin_ia32_pause();
		else
			pause();
	}
}

static int cfd, cidx;

static void *sockwait(void *arg) {
	(void)arg;
	char b;
	while (recv(cfd, &b, 1, 0) > 0) {
	}
	sh->sock_ns[cidx] = now_ns();
	return NULL;
}

static void watcher(int i, int fd) {
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

// trial kills one victim; it stores each watcher's times (ms) at fut and sock.
static void trial(int watchers, int spin, double *fut, double *sock) {
	memset(sh, 0, sizeof *sh);
	int sv[MAXW][2];
	for (int i = 0; i < watchers; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv[i]) != 0) {
			perror("socketpair");
			exit(1);
		}
	pid_t v = fork();
	if (v == 0) {
		for (int i = 0; i < watchers; i++)
			close(sv[i][1]);
		victim(spin);
	}
	while (!__atomic_load_n(&sh->victim_ready, __ATOMIC_ACQUIRE))
		usleep(100);
	pid_t w[MAXW];
	for (int i = 0; i < watchers; i++) {
		w[i] = fork();
		if (w[i] == 0) {
			for (int j = 0; j < watchers; j++) {
				close(sv[j][0]);
				if (j != i)
					close(sv[j][1]);
			}
			watcher(i, sv[i][1]);
		}
	}
	for (int i = 0; i < watchers; i++)
		close(sv[i][0]), close(sv[i][1]);
	while (__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE) < (uint64_t)watchers)
		usleep(100);
	usleep(50000); // let every watcher block
	uint64_t t0 = now_ns();
	kill(v, SIGKILL);
	waitpid(v, NULL, 0);
	for (int i = 0; i < watchers; i++)
		waitpid(w[i], NULL, 0);
	for (int i = 0; i < watchers; i++) {
		fut[i] = (sh->futex_ns[i] - t0) / 1e6;
		sock[i] = (sh->sock_ns[i] - t0) / 1e6;
	}
}

int main(int argc, char **argv) {
	int trials = 20, watchers = 4;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-trials") && i + 1 < argc)
			trials = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-watchers") && i + 1 < argc)
			watchers = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-mb") && i + 1 < argc)
			megabytes = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: floor_death [-trials N] [-watchers K] [-threads T] [-mb M]\n");
			return 2;
		}
	}
	if (trials < 1 || watchers < 1 || watchers > MAXW || threads < 0 || megabytes < 0) {
		fprintf(stderr, "floor_death: -trials ≥ 1, 1 ≤ -watchers ≤ %d, -threads and -mb ≥ 0\n", MAXW);
		return 2;
	}
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	int n = trials * watchers;
	double *fut = calloc(n, sizeof *fut), *sock = calloc(n, sizeof *sock), *sleep = calloc(n, sizeof *sleep), *sfut = calloc(n, sizeof *sfut);
	for (int t = 0; t < trials; t++) {
		trial(watchers, 1, fut + t * watchers, sock + t * watchers);
		trial(watchers, 0, sfut + t * watchers, sleep + t * watchers);
	}
	qsort(fut, n, sizeof *fut, cmp);
	qsort(sock, n, sizeof *sock, cmp);
	qsort(sleep, n, sizeof *sleep, cmp);
	qsort(sfut, n, sizeof *sfut, cmp);
	printf("{\"transport\":\"floor-c\",\"mode\":\"death\",\"trials\":%d,\"watchers\":%d,\"threads\":%d,\"mb\":%d,"
	       "\"spinning_futex_p50_ms\":%.3f,\"spinning_futex_p100_ms\":%.3f,"
	       "\"spinning_socket_p50_ms\":%.3f,\"spinning_socket_p100_ms\":%.3f,"
	       "\"sleeping_futex_p50_ms\":%.3f,\"sleeping_futex_p100_ms\":%.3f,"
	       "\"sleeping_socket_p50_ms\":%.3f,\"sleeping_socket_p100_ms\":%.3f}\n",
	       trials, watchers, threads, megabytes, fut[n / 2], fut[n - 1], sock[n / 2], sock[n - 1], sfut[n / 2],
	       sfut[n - 1], sleep[n / 2], sleep[n - 1]);
	return 0;
}
