// Go's os/exec under linuxrun: the runtime starts children with clone(CLONE_VFORK|CLONE_VM)
// from whichever thread the goroutine runs on, so this needs fork from any thread. Several
// goroutines run commands at once (output, exit status, stdin through a pipe, a command
// that is not found), while other goroutines keep the scheduler's threads busy.
package main

import (
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

func main() {
	var stop atomic.Bool
	var busy sync.WaitGroup
	for i := 0; i < 3; i++ {
		busy.Add(1)
		go func() {
			defer busy.Done()
			n := 0
			for !stop.Load() {
				b := make([]byte, 1024)
				n += len(b)
			}
		}()
	}

	out, err := exec.Command("/bin/echo", "hello", "from", "a", "child").Output()
	fmt.Printf("echo: %q err=%v\n", out, err)

	err = exec.Command("/bin/sh", "-c", "exit 7").Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		fmt.Println("exit status:", ee.ExitCode())
	}

	cmd := exec.Command("/usr/bin/tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("piped through tr\n")
	out, err = cmd.Output()
	fmt.Printf("tr: %q err=%v\n", out, err)

	_, err = exec.Command("/nonexistent/program").Output()
	fmt.Println("missing program error:", err != nil)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var lines []string
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o, err := exec.Command("/bin/sh", "-c", fmt.Sprintf("echo child %d", i)).Output()
			mu.Lock()
			lines = append(lines, fmt.Sprintf("%s err=%v", strings.TrimSpace(string(o)), err))
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	stop.Store(true)
	busy.Wait()
}
