/* dlopen()s the library whose path is PLUGIN and calls it. */
#include <dlfcn.h>
#include <stdio.h>

int main(void)
{
    void *h = dlopen(PLUGIN, RTLD_NOW);
    if (!h) {
        printf("dlopen failed: %s\n", dlerror());
        return 1;
    }
    double (*f)(double) = (double (*)(double))dlsym(h, "plugin_value");
    printf("plugin_value(64) = %.3f\n", f ? f(64.0) : -1.0);
    return 0;
}
