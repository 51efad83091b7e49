/* array.h - the one way arrays grow here. */
#ifndef AIO_BASE_ARRAY_H
#define AIO_BASE_ARRAY_H

#include <stddef.h>

/* Makes room in *array (holding `count` elements of `elem_size` bytes) for
 * one more: AIO_OK or AIO_ENOMEM (the array is then unchanged). The
 * capacity is implicit: it doubles whenever count reaches a power of two,
 * so the array must only ever grow through this call. */
int aio__array_grow(void **array, size_t count, size_t elem_size);

#endif
