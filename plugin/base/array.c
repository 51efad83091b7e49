/* array.c - growing arrays (array.h). */
#include <stdlib.h>

#include <uwsgi-aio/aio_common.h>

#include "base/array.h"

/* Makes room in *array (holding `count` elements) for one more. The
 * capacity is implicit: it doubles whenever count reaches a power of two. */
int aio__array_grow(void **array, size_t count, size_t elem_size)
{
    if (count & (count - 1))
        return AIO_OK;
    void *bigger = realloc(*array, (count ? count * 2 : 1) * elem_size);
    if (!bigger)
        return AIO_ENOMEM;
    *array = bigger;
    return AIO_OK;
}
