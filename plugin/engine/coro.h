/* coro.h - stackful coroutines, the suspend engine's primitive.
 *
 * Asymmetric: the loop resumes a coroutine, the coroutine yields back to
 * whoever resumed it. Each coroutine owns an mmap'ed stack with a PROT_NONE
 * guard region below it, so an overflow faults instead of corrupting a
 * neighbour. Code built with -fstack-clash-protection (the plugin and every
 * module the builder makes) touches each page of a large frame in turn, so
 * it always meets the guard; code built without it skips a guard smaller
 * than one of its frames, hence a guard region of AIO_CORO_GUARD_SIZE
 * rather than one page. On x86-64 the switch is a few instructions of assembly (no
 * system call); elsewhere, or with -DAIO_CORO_UCONTEXT, it is ucontext. */
#ifndef AIO_CORO_H
#define AIO_CORO_H

#include <stddef.h>

#if !defined(AIO_CORO_UCONTEXT) && !defined(__x86_64__)
#define AIO_CORO_UCONTEXT 1
#endif

#ifdef AIO_CORO_UCONTEXT
#include <ucontext.h>
#endif

/* The largest frame that code built without stack-clash protection may
 * have and still fault at the overflow (bytes, rounded up to pages). */
#define AIO_CORO_GUARD_SIZE (64u * 1024u)

struct aio_coro {
#ifdef AIO_CORO_UCONTEXT
    ucontext_t ctx;
    ucontext_t caller_ctx;
#else
    void *sp;        /* the coroutine's saved stack pointer */
    void *caller_sp; /* the resumer's saved stack pointer */
#endif
    void *map;       /* whole mapping: the guard region, then the stack */
    size_t map_size;
    void *stack;     /* usable stack: [stack, stack + stack_size) */
    size_t stack_size;
    void (*fn)(void *);
    void *arg;
    int finished;
    /* AddressSanitizer fiber bookkeeping (unused otherwise) */
    void *fake_stack;
    void *caller_fake_stack;
    const void *caller_bottom;
    size_t caller_size;
};

/* Allocates the stack (rounded up to pages). AIO_OK or AIO_ENOMEM. */
int aio__coro_init(struct aio_coro *co, size_t stack_size);
void aio__coro_destroy(struct aio_coro *co);

/* Sets the coroutine up to run fn(arg) from the top of its stack on the next
 * resume. Only for a coroutine that is new or has finished. */
void aio__coro_prepare(struct aio_coro *co, void (*fn)(void *), void *arg);

/* Runs the coroutine until it yields or fn returns. */
void aio__coro_resume(struct aio_coro *co);

/* From inside the coroutine: returns control to the resumer. */
void aio__coro_yield(struct aio_coro *co);

static inline int aio__coro_finished(const struct aio_coro *co)
{
    return co->finished;
}

#endif
