/* A library only reachable by dlopen; it needs libm, which the pack must bring too. */
#include <math.h>

double plugin_value(double x)
{
    return sqrt(x) + cbrt(x);
}
