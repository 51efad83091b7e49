/* list.h - intrusive, circular doubly linked lists. A list is a sentinel
 * node; items embed a node and are appended at the tail, so iterating from
 * the head visits the oldest first. */
#ifndef AIO_LIST_H
#define AIO_LIST_H

#include <stddef.h>

struct aio_list {
    struct aio_list *prev, *next;
};

#define aio_list_entry(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

static inline void aio_list_init(struct aio_list *list)
{
    list->prev = list->next = list;
}

static inline int aio_list_empty(const struct aio_list *list)
{
    return list->next == list;
}

static inline void aio_list_append(struct aio_list *list, struct aio_list *node)
{
    node->prev = list->prev;
    node->next = list;
    list->prev->next = node;
    list->prev = node;
}

/* Unlinks `node` (which must be linked). */
static inline void aio_list_remove(struct aio_list *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}

/* The first node, or NULL for an empty list. */
static inline struct aio_list *aio_list_first(const struct aio_list *list)
{
    return aio_list_empty(list) ? NULL : list->next;
}

/* The node after `node`, or NULL at the end of `list`. */
static inline struct aio_list *aio_list_next(const struct aio_list *list,
                                             const struct aio_list *node)
{
    return node->next == list ? NULL : node->next;
}

#endif
