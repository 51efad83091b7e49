/* list.h - intrusive, circular doubly linked lists. A list is a sentinel
 * node; items embed a node and are appended at the tail, so iterating from
 * the head visits the oldest first. */
#ifndef AIO_LIST_H
#define AIO_LIST_H

#include <stddef.h>

struct aio_list {
    struct aio_list *prev, *next;
};

/* The struct of type `type` whose member `member` is at `ptr`. */
#define aio__container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define aio__list_entry(node, type, member) aio__container_of(node, type, member)

static inline void aio__list_init(struct aio_list *list)
{
    list->prev = list->next = list;
}

static inline int aio__list_empty(const struct aio_list *list)
{
    return list->next == list;
}

static inline void aio__list_append(struct aio_list *list, struct aio_list *node)
{
    node->prev = list->prev;
    node->next = list;
    list->prev->next = node;
    list->prev = node;
}

/* Unlinks `node` (which must be linked). */
static inline void aio__list_remove(struct aio_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* Moves every node of `from` to `to` (initialised here), leaving `from`
 * empty. */
static inline void aio__list_take_all(struct aio_list *to, struct aio_list *from)
{
    aio__list_init(to);
    if (aio__list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    aio__list_init(from);
}

/* The first node, or NULL for an empty list. */
static inline struct aio_list *aio__list_first(const struct aio_list *list)
{
    return aio__list_empty(list) ? NULL : list->next;
}

/* The node after `node`, or NULL at the end of `list`. */
static inline struct aio_list *aio__list_next(const struct aio_list *list,
                                             const struct aio_list *node)
{
    return node->next == list ? NULL : node->next;
}

#endif
