/* module.c - view modules: opened from a .so (or given in memory by a
 * test), and their templates, compiled once when the registry is built. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/registry.h"
#include "base/array.h"
#include "base/buf.h"

void aio__module_free(struct aio_module *module)
{
    for (size_t i = 0; i < module->ntemplates; i++) {
        free(module->templates[i].name);
        aio__template_free(&module->templates[i].tpl);
    }
    free(module->templates);
    free(module->path);
    free(module->name);
    free(module->asset_dir);
    /* The handle stays open: code of the module may still be referenced
     * (atexit handlers, threads it started); the process is ending anyway. */
    free(module);
}

static struct aio_module *new_module(struct aio_registry *reg, const char *path,
                                     const char *name, const char *asset_dir)
{
    struct aio_module *module = calloc(1, sizeof(*module));
    if (!module)
        return NULL;
    module->path = strdup(path);
    module->name = strdup(name);
    module->asset_dir = strdup(asset_dir);
    if (!module->path || !module->name || !module->asset_dir ||
        aio__array_grow((void **)&reg->modules, reg->nmodules, sizeof(*reg->modules))) {
        aio__module_free(module);
        return NULL;
    }
    reg->modules[reg->nmodules++] = module;
    return module;
}

int aio__registry_add_module(struct aio_registry *reg, const char *name, const char *asset_dir,
                            int (*main_fn)(aio_config *))
{
    struct aio_module *module = new_module(reg, name, name, asset_dir);
    if (!module)
        return AIO_ENOMEM;
    module->main = main_fn;
    return AIO_OK;
}

int aio__registry_open_module(struct aio_registry *reg, const char *path)
{
    /* dlopen() searches the library path for bare names: make them
     * relative to the working directory, as a user would expect. */
    struct aio_buf file = AIO_BUF_INIT;
    if (aio__buf_printf(&file, "%s%s", strchr(path, '/') ? "" : "./", path))
        return AIO_ENOMEM;
    const char *base = strrchr(file.data, '/') + 1;
    size_t name_len = strlen(base);
    if (name_len > 3 && strcmp(base + name_len - 3, ".so") == 0)
        name_len -= 3;
    struct aio_buf asset_dir = AIO_BUF_INIT;
    int rc = aio__buf_printf(&asset_dir, "%.*s%.*s", (int)(base - file.data), file.data,
                            (int)name_len, base);
    struct aio_module *module = NULL;
    if (rc == AIO_OK) {
        char *name = strndup(base, name_len);
        module = name ? new_module(reg, path, name, asset_dir.data) : NULL;
        free(name);
        rc = module ? AIO_OK : AIO_ENOMEM;
    }
    if (rc == AIO_OK) {
        struct stat st;
        if (stat(file.data, &st) != 0) {
            rc = aio__registry_error(reg, "view module '%s': %s", path, strerror(errno));
        } else if (!(module->handle = dlopen(file.data, RTLD_NOW | RTLD_LOCAL))) {
            rc = aio__registry_error(reg, "view module '%s' cannot be loaded: %s", path, dlerror());
        } else if (!(*(void **)&module->main = dlsym(module->handle, "aio_main"))) {
            rc = aio__registry_error(reg, "view module '%s' has no aio_main() function", path);
        }
        if (rc != AIO_OK) { /* a module that cannot run is not kept */
            reg->nmodules--;
            aio__module_free(module);
        }
    }
    aio__buf_free(&file);
    aio__buf_free(&asset_dir);
    return rc;
}

/* ---- their templates ------------------------------------------------ */

static int read_file(const char *path, struct aio_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return AIO_ERROR;
    char chunk[4096];
    size_t n;
    int rc = AIO_OK;
    while (rc == AIO_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = aio__buf_append(out, chunk, n);
    if (ferror(f))
        rc = AIO_ERROR;
    fclose(f);
    return rc;
}

static int add_template(struct aio_registry *reg, struct aio_module *module, const char *file,
                        const char *name)
{
    struct aio_buf text = AIO_BUF_INIT;
    if (read_file(file, &text) != AIO_OK) {
        aio__buf_free(&text);
        return aio__registry_error(reg, "view module '%s': cannot read template %s: %s", module->path,
                         file, strerror(errno));
    }
    struct aio_template tpl;
    char why[256] = "";
    int rc = aio__template_compile(&tpl, text.data ? text.data : "", text.len, why, sizeof(why));
    aio__buf_free(&text);
    if (rc == AIO_EINVAL)
        return aio__registry_error(reg, "view module '%s': template %s: %s", module->path, name, why);
    if (rc != AIO_OK)
        return rc;
    char *copy = strdup(name);
    if (!copy || aio__array_grow((void **)&module->templates, module->ntemplates, sizeof(*module->templates))) {
        free(copy);
        aio__template_free(&tpl);
        return AIO_ENOMEM;
    }
    module->templates[module->ntemplates++] = (struct aio_template_entry){copy, tpl};
    return AIO_OK;
}

/* Compiles every file below <asset_dir>/<rel>, recursively. */
static int load_templates_below(struct aio_registry *reg, struct aio_module *module, const char *rel)
{
    struct aio_buf dir_path = AIO_BUF_INIT;
    if (aio__buf_printf(&dir_path, "%s/%s", module->asset_dir, rel))
        return AIO_ENOMEM;
    DIR *dir = opendir(dir_path.data);
    aio__buf_free(&dir_path);
    if (!dir)
        return AIO_OK; /* no templates: fine */
    int rc = AIO_OK;
    struct dirent *entry;
    while (rc == AIO_OK && (entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        struct aio_buf name = AIO_BUF_INIT, file = AIO_BUF_INIT;
        struct stat st;
        rc = aio__buf_printf(&name, "%s/%s", rel, entry->d_name) ||
                     aio__buf_printf(&file, "%s/%s", module->asset_dir, name.data)
                 ? AIO_ENOMEM
                 : AIO_OK;
        if (rc == AIO_OK && stat(file.data, &st) == 0)
            rc = S_ISDIR(st.st_mode) ? load_templates_below(reg, module, name.data)
                                     : add_template(reg, module, file.data, name.data);
        aio__buf_free(&name);
        aio__buf_free(&file);
    }
    closedir(dir);
    return rc;
}

const struct aio_template *aio__module_template_n(const struct aio_module *module,
                                                 const char *name, size_t len)
{
    for (size_t i = 0; module && i < module->ntemplates; i++)
        if (strlen(module->templates[i].name) == len &&
            memcmp(module->templates[i].name, name, len) == 0)
            return &module->templates[i].tpl;
    return NULL;
}

const struct aio_template *aio__module_template(const struct aio_module *module, const char *name)
{
    return aio__module_template_n(module, name, strlen(name));
}

/* Every {{> name}} names a template of the module: a broken reference
 * stops start-up, as a template that does not compile does. */
static int check_partials(struct aio_registry *reg, const struct aio_module *module)
{
    for (size_t i = 0; i < module->ntemplates; i++) {
        const struct aio_template *tpl = &module->templates[i].tpl;
        for (size_t k = 0; k < tpl->nnodes; k++) {
            const struct aio_template_node *node = &tpl->nodes[k];
            if (node->kind != AIO_TPL_PARTIAL)
                continue;
            if (!aio__module_template_n(module, node->text, node->len))
                return aio__registry_error(reg, "view module '%s': template %s: line %d: the "
                                           "partial '%.*s' is not a template of the module",
                                           module->path, module->templates[i].name, node->line,
                                           (int)node->len, node->text);
        }
    }
    return AIO_OK;
}

int aio__module_load_templates(struct aio_registry *reg, struct aio_module *module)
{
    int rc = load_templates_below(reg, module, "templates");
    return rc == AIO_OK ? check_partials(reg, module) : rc;
}
