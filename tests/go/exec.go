// syscall.Exec from a goroutine locked to a thread other than the first, while other
// goroutines keep the scheduler's threads busy, one sleeps and one is blocked in a pipe
// read: every other thread ends, and the new program's getpid() == gettid() with the same
// pid (Linux's de_thread).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func after() {
	pid, _ := strconv.Atoi(os.Args[2])
	fmt.Println("after: getpid()==gettid():", syscall.Getpid() == syscall.Gettid())
	fmt.Println("after: same pid:", syscall.Getpid() == pid)
	done := make(chan int)
	for i := 0; i < 4; i++ {
		go func(i int) { done <- i * i }(i)
	}
	sum := 0
	for i := 0; i < 4; i++ {
		sum += <-done
	}
	fmt.Println("after: goroutines:", sum)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "after" {
		after()
		return
	}
	var stop atomic.Bool
	for i := 0; i < 3; i++ {
		go func() {
			n := 0
			for !stop.Load() {
				b := make([]byte, 1024)
				n += len(b)
			}
		}()
	}
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	defer w.Close()
	go func() {
		b := make([]byte, 1)
		r.Read(b)
	}()
	go func() { time.Sleep(time.Hour) }()
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	pid := strconv.Itoa(syscall.Getpid())
	found := make(chan bool)
	// Goroutines locked to their threads until one is on a thread other than the first.
	for {
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == syscall.Getpid() {
				found <- false
				return // the thread ends with the goroutine, which stays locked
			}
			fmt.Println("before exec")
			err := syscall.Exec(self, []string{self, "after", pid}, os.Environ())
			fmt.Println("exec failed:", err)
			os.Exit(1)
		}()
		if !<-found {
			continue
		}
	}
}
