// Go's runtime on linuxrun: goroutines across threads, channels, sync.WaitGroup and
// Mutex under contention, timers and a ticker (the netpoller: epoll), a goroutine that
// spins without calls (preempted by SIGURG sent with tgkill so the others run),
// GOMAXPROCS from the affinity mask, and a panic recovered in a goroutine.
package main

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	results := make(chan int, 100)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); results <- i * i }(i)
	}
	wg.Wait()
	close(results)
	sum := 0
	for r := range results {
		sum += r
	}
	fmt.Println("channel sum", sum)

	var mu sync.Mutex
	count := 0
	var wg2 sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 50000; i++ {
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	fmt.Println("mutex count", count)

	t0 := time.Now()
	<-time.NewTimer(20 * time.Millisecond).C
	ticks := 0
	ticker := time.NewTicker(5 * time.Millisecond)
	for range ticker.C {
		ticks++
		if ticks == 3 {
			ticker.Stop()
			break
		}
	}
	fmt.Println("timer and ticks", time.Since(t0) >= 35*time.Millisecond, ticks)

	var stop int32
	spinning := make(chan bool)
	go func() {
		spinning <- true
		for atomic.LoadInt32(&stop) == 0 {
		}
	}()
	<-spinning
	done := make(chan bool)
	go func() { time.Sleep(10 * time.Millisecond); done <- true }()
	select {
	case <-done:
		fmt.Println("others ran beside a spinning goroutine")
	case <-time.After(10 * time.Second):
		fmt.Println("starved")
	}
	atomic.StoreInt32(&stop, 1)

	recovered := make(chan string)
	go func() {
		defer func() { recovered <- fmt.Sprint(recover()) }()
		var m map[string]int
		m["x"] = 1
	}()
	fmt.Println("recovered:", <-recovered)

	keys := []string{"b", "c", "a"}
	sort.Strings(keys)
	fmt.Println("sorted", keys, "GOMAXPROCS matches CPUs", runtime.GOMAXPROCS(0) == runtime.NumCPU())
}
