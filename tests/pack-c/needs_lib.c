/* Linked against a library that the loader will not find (no rpath, not in the cache). */
int lost_function(void);

int main(void)
{
    return lost_function();
}
