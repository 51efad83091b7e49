#include "engine/coro.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uwsgi-aio/aio_common.h>

#if defined(__SANITIZE_ADDRESS__)
#define AIO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AIO_ASAN 1
#endif
#endif

#ifdef AIO_ASAN
#include <sanitizer/common_interface_defs.h>
#define fiber_start(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define fiber_finish(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define fiber_start(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define fiber_finish(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

int aio__coro_init(struct aio_coro *co, size_t stack_size)
{
    memset(co, 0, sizeof(*co));
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (stack_size + page - 1) / page * page;
    size_t guard = (AIO_CORO_GUARD_SIZE + page - 1) / page * page;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#ifdef MAP_STACK
    flags |= MAP_STACK;
#endif
    void *map = mmap(NULL, guard + size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (map == MAP_FAILED)
        return AIO_ENOMEM;
    /* Stacks grow down: the guard region sits below the lowest usable byte.
     * It costs address space only. */
    if (mprotect(map, guard, PROT_NONE) != 0) {
        munmap(map, guard + size);
        return AIO_ENOMEM;
    }
    co->map = map;
    co->map_size = guard + size;
    co->stack = (char *)map + guard;
    co->stack_size = size;
    co->finished = 1;
    return AIO_OK;
}

void aio__coro_destroy(struct aio_coro *co)
{
    if (co->map)
        munmap(co->map, co->map_size);
    memset(co, 0, sizeof(*co));
}

/* The first frame of every coroutine. */
static void coro_main(struct aio_coro *co)
{
    fiber_finish(co->fake_stack, &co->caller_bottom, &co->caller_size);
    co->fn(co->arg);
    co->finished = 1;
    aio__coro_yield(co);
    __builtin_unreachable();
}

#ifdef AIO_CORO_UCONTEXT

/* makecontext passes int arguments only: split the pointer in two. */
static void coro_main_ucontext(unsigned hi, unsigned lo)
{
    coro_main((struct aio_coro *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo));
}

void aio__coro_prepare(struct aio_coro *co, void (*fn)(void *), void *arg)
{
    co->fn = fn;
    co->arg = arg;
    co->finished = 0;
    getcontext(&co->ctx);
    co->ctx.uc_stack.ss_sp = co->stack;
    co->ctx.uc_stack.ss_size = co->stack_size;
    co->ctx.uc_link = NULL;
    uintptr_t p = (uintptr_t)co;
    makecontext(&co->ctx, (void (*)(void))coro_main_ucontext, 2, (unsigned)(p >> 16 >> 16),
                (unsigned)(p & 0xffffffffu));
}

static void switch_to_coro(struct aio_coro *co)
{
    swapcontext(&co->caller_ctx, &co->ctx);
}

static void switch_to_caller(struct aio_coro *co)
{
    swapcontext(&co->ctx, &co->caller_ctx);
}

#else /* x86-64 assembly */

/* void aio__coro_switch(void **save_sp, void *load_sp): saves the
 * callee-saved registers and the SSE/x87 control words on the current stack,
 * stores the stack pointer in *save_sp, then restores the same from load_sp
 * and returns into that context. */
void aio__coro_switch(void **save_sp, void *load_sp);
void aio__coro_entry(void);
__asm__(".text\n"
        ".globl aio__coro_switch\n"
        ".hidden aio__coro_switch\n"
        ".type aio__coro_switch,@function\n"
        "aio__coro_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size aio__coro_switch, .-aio__coro_switch\n"
        /* First 'return' of a new coroutine lands here with r12 = the
         * coroutine and r13 = coro_main, and a 16-byte aligned stack. */
        ".globl aio__coro_entry\n"
        ".hidden aio__coro_entry\n"
        ".type aio__coro_entry,@function\n"
        "aio__coro_entry:\n"
        "    movq %r12, %rdi\n"
        "    callq *%r13\n"
        "    ud2\n"
        ".size aio__coro_entry, .-aio__coro_entry\n");

void aio__coro_prepare(struct aio_coro *co, void (*fn)(void *), void *arg)
{
    co->fn = fn;
    co->arg = arg;
    co->finished = 0;
    uintptr_t top = ((uintptr_t)co->stack + co->stack_size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 16);
    *--sp = (uint64_t)(uintptr_t)aio__coro_entry; /* return address */
    *--sp = 0;                                   /* rbp */
    *--sp = 0;                                   /* rbx */
    *--sp = (uint64_t)(uintptr_t)co;             /* r12 */
    *--sp = (uint64_t)(uintptr_t)coro_main;      /* r13 */
    *--sp = 0;                                   /* r14 */
    *--sp = 0;                                   /* r15 */
    *--sp = (0x037fULL << 32) | 0x1f80ULL;       /* x87 CW | MXCSR defaults */
    co->sp = sp;
}

static void switch_to_coro(struct aio_coro *co)
{
    aio__coro_switch(&co->caller_sp, co->sp);
}

static void switch_to_caller(struct aio_coro *co)
{
    aio__coro_switch(&co->sp, co->caller_sp);
}

#endif

void aio__coro_resume(struct aio_coro *co)
{
    fiber_start(&co->caller_fake_stack, co->stack, co->stack_size);
    switch_to_coro(co);
    fiber_finish(co->caller_fake_stack, NULL, NULL);
}

void aio__coro_yield(struct aio_coro *co)
{
    /* A finished coroutine's fake stack can be dropped: pass NULL. */
    fiber_start(co->finished ? NULL : &co->fake_stack, co->caller_bottom, co->caller_size);
    switch_to_caller(co);
    fiber_finish(co->fake_stack, &co->caller_bottom, &co->caller_size);
}
