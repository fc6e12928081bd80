int lost_function(void) { return 3; }
