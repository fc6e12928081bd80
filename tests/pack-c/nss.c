/* User and group names through NSS (glibc's built-in "files"). */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>

int main(void)
{
    struct passwd *pw = getpwuid(0);
    struct group *gr = getgrgid(0);
    printf("uid 0 = %s, gid 0 = %s\n", pw ? pw->pw_name : "?", gr ? gr->gr_name : "?");
    return 0;
}
