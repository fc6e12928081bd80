// Go's network stack on linuxrun: net/http server and client over loopback (the netpoller's
// epoll, non-blocking sockets, accept4, goroutines blocked in the poller), a raw TCP echo,
// UDP, and name resolution from /etc/hosts. Only deterministic facts are printed.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
)

func check(name string, err error) {
	if err != nil {
		fmt.Printf("%s: FAIL %v\n", name, err)
		os.Exit(1)
	}
}

func httpRoundTrips() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("listen", err)
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Query().Get("q"), len(body))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	base := "http://" + ln.Addr().String()

	var wg sync.WaitGroup
	results := make([]string, 16)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := http.Post(fmt.Sprintf("%s/echo?q=%d", base, i), "text/plain", strings.NewReader(strings.Repeat("x", i*1000)))
			if err != nil {
				results[i] = "error " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results[i] = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		fmt.Println("http:", r)
	}
	resp, err := http.Get(base + "/missing")
	check("get missing", err)
	resp.Body.Close()
	fmt.Println("http missing:", resp.StatusCode)
	srv.Close()
}

func tcpEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check("echo listen", err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte(strings.ToUpper(line)))
			}(c)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	check("dial", err)
	c.Write([]byte("echo me\n"))
	reply, err := bufio.NewReader(c).ReadString('\n')
	check("echo read", err)
	fmt.Print("tcp: ", reply)
	c.Close()
	ln.Close()
	_, err = net.Dial("tcp", ln.Addr().String())
	fmt.Println("dial closed port refused:", err != nil && strings.Contains(err.Error(), "connection refused"))
}

func udp() {
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	check("udp listen", err)
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	check("udp listen 2", err)
	b.WriteTo([]byte("ping"), a.LocalAddr())
	buf := make([]byte, 16)
	n, from, err := a.ReadFrom(buf)
	check("udp read", err)
	fmt.Println("udp:", string(buf[:n]), from.String() == b.LocalAddr().String())
	a.Close()
	b.Close()
}

func resolve() {
	addrs, err := net.LookupHost("localhost")
	check("lookup", err)
	sort.Strings(addrs)
	has := false
	for _, a := range addrs {
		has = has || a == "127.0.0.1"
	}
	fmt.Println("localhost resolves to 127.0.0.1:", has)
	ifs, err := net.Interfaces()
	check("interfaces", err)
	lo := false
	for _, i := range ifs {
		lo = lo || (i.Name == "lo" && i.Flags&net.FlagLoopback != 0)
	}
	fmt.Println("interfaces include lo:", lo)
}

func main() {
	httpRoundTrips()
	tcpEcho()
	udp()
	resolve()
}
