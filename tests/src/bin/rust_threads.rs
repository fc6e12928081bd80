//! A threaded Rust program for the differential suite (issue 21): std's threads and
//! synchronisation (spawn and join, Mutex, RwLock, Condvar, mpsc, Barrier, scoped
//! threads, park, thread-locals, OnceLock, a panicking thread) and rayon's pool (par_iter
//! sums, par_sort, join, scope, a pool of its own). Run natively and under linuxrun; it
//! prints only what does not depend on timing or on the number of cores.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier, Condvar, Mutex, OnceLock, RwLock};
use std::thread;
use std::time::Duration;

use rayon::prelude::*;

fn main() {
    // A panicking thread's message names this file and a line: keep stderr quiet.
    std::panic::set_hook(Box::new(|_| {}));
    spawn_and_join();
    mutex_and_rwlock();
    condvar_queue();
    channels();
    barrier_rounds();
    scoped_and_more();
    rayon_work();
}

fn spawn_and_join() {
    let handles: Vec<_> =
        (0..8u64).map(|i| thread::spawn(move || (1..=10_000u64).map(|k| k * i).sum::<u64>())).collect();
    let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!("spawn {sums:?}");
    let named = thread::Builder::new().name("worker-7".into()).spawn(|| thread::current().name().map(String::from));
    println!("named {:?}", named.unwrap().join().unwrap());
    println!("panicked {}", thread::spawn(explode).join().is_err());
}

fn explode() -> u32 {
    panic!("boom")
}

fn mutex_and_rwlock() {
    let counter = Arc::new(Mutex::new(0u64));
    let table = Arc::new(RwLock::new(vec![0u64; 16]));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (counter, table) = (Arc::clone(&counter), Arc::clone(&table));
            thread::spawn(move || {
                for i in 0..20_000u64 {
                    *counter.lock().unwrap() += 1;
                    if i % 100 == 0 {
                        table.write().unwrap()[t * 4 + (i as usize / 100) % 4] += 1;
                    } else {
                        assert!(table.read().unwrap().len() == 16);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total: u64 = table.read().unwrap().iter().sum();
    println!("mutex {} rwlock {total}", *counter.lock().unwrap());
}

/// A bounded queue: one producer, two consumers, a Condvar each way.
fn condvar_queue() {
    struct Queue {
        items: Mutex<(VecDeque<u64>, bool)>,
        not_empty: Condvar,
        not_full: Condvar,
    }
    let q = Arc::new(Queue {
        items: Mutex::new((VecDeque::new(), false)),
        not_empty: Condvar::new(),
        not_full: Condvar::new(),
    });
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let (mut sum, mut count) = (0u64, 0u64);
                loop {
                    let mut guard =
                        q.not_empty.wait_while(q.items.lock().unwrap(), |(v, done)| v.is_empty() && !*done).unwrap();
                    match guard.0.pop_front() {
                        Some(x) => {
                            sum += x;
                            count += 1;
                            q.not_full.notify_one();
                        }
                        None => return (sum, count),
                    }
                }
            })
        })
        .collect();
    for x in 1..=5000u64 {
        let mut guard = q.not_full.wait_while(q.items.lock().unwrap(), |(v, _)| v.len() >= 8).unwrap();
        guard.0.push_back(x);
        q.not_empty.notify_one();
    }
    q.items.lock().unwrap().1 = true;
    q.not_empty.notify_all();
    let (sum, count) = consumers.into_iter().map(|h| h.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("condvar sum {sum} count {count}");
    let lonely = Condvar::new();
    let m = Mutex::new(());
    let (_guard, timeout) = lonely.wait_timeout(m.lock().unwrap(), Duration::from_millis(20)).unwrap();
    println!("condvar wait_timeout timed out {}", timeout.timed_out());
}

fn channels() {
    let (tx, rx) = mpsc::channel();
    for p in 0..4u64 {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..1000 {
                tx.send(p * 1000 + i).unwrap();
            }
        });
    }
    drop(tx);
    let mut got: Vec<u64> = rx.iter().collect();
    got.sort_unstable();
    println!("mpsc {} in order after sort {}", got.len(), got.iter().copied().eq(0..4000));
    // A rendezvous channel each way: ping-pong.
    let (to_peer, peer_rx) = mpsc::sync_channel::<u64>(0);
    let (to_main, main_rx) = mpsc::sync_channel::<u64>(0);
    let peer = thread::spawn(move || {
        for x in peer_rx.iter() {
            to_main.send(x + 1).unwrap();
        }
    });
    let mut x = 0;
    for _ in 0..200 {
        to_peer.send(x).unwrap();
        x = main_rx.recv().unwrap();
    }
    drop(to_peer);
    peer.join().unwrap();
    println!("sync_channel ping-pong {x}");
}

fn barrier_rounds() {
    const N: usize = 6;
    let barrier = Arc::new(Barrier::new(N));
    let arrived = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (barrier, arrived) = (Arc::clone(&barrier), Arc::clone(&arrived));
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut leaders = 0;
                for round in 1..=3u64 {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    leaders += u32::from(barrier.wait().is_leader());
                    seen.push(arrived.load(Ordering::SeqCst) >= round * N as u64);
                    barrier.wait();
                }
                (leaders, seen.iter().all(|&s| s))
            })
        })
        .collect();
    let results: Vec<(u32, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let leaders: u32 = results.iter().map(|r| r.0).sum();
    println!("barrier leaders {leaders} all arrived {}", results.iter().all(|r| r.1));
}

fn scoped_and_more() {
    let data: Vec<u64> = (1..=100_000).collect();
    let mut partial = [0u64; 4];
    thread::scope(|s| {
        for (chunk, out) in data.chunks(25_000).zip(partial.iter_mut()) {
            s.spawn(move || *out = chunk.iter().sum());
        }
    });
    println!("scoped {partial:?} total {}", partial.iter().sum::<u64>());

    thread_local!(static LOCAL: Cell<u32> = const { Cell::new(0) });
    let handles: Vec<_> = (0..4)
        .map(|t| {
            thread::spawn(move || {
                for _ in 0..10 + t {
                    LOCAL.with(|c| c.set(c.get() + 1));
                }
                LOCAL.with(Cell::get)
            })
        })
        .collect();
    let locals: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!("thread_local {locals:?} main {}", LOCAL.with(Cell::get));

    static ONCE: OnceLock<u64> = OnceLock::new();
    let inits = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let inits = Arc::clone(&inits);
            thread::spawn(move || {
                *ONCE.get_or_init(|| {
                    inits.fetch_add(1, Ordering::SeqCst);
                    100
                })
            })
        })
        .collect();
    let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!("once_lock {values:?} inits {}", inits.load(Ordering::SeqCst));

    let ready = Arc::new(AtomicBool::new(false));
    let parked = {
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            while !ready.load(Ordering::SeqCst) {
                thread::park();
            }
            "unparked"
        })
    };
    thread::sleep(Duration::from_millis(10));
    ready.store(true, Ordering::SeqCst);
    parked.thread().unpark();
    println!("park {}", parked.join().unwrap());
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn rayon_work() {
    let sum: u64 = (1..=1_000_000u64).into_par_iter().map(|x| x * x % 1000).sum();
    println!("rayon par_iter sum {sum}");
    let mut v: Vec<u64> = (0..200_000u64).map(|i| (i * 7919) % 100_003).collect();
    v.par_sort();
    let sorted = v.windows(2).all(|w| w[0] <= w[1]);
    let checksum = v.iter().enumerate().fold(0u64, |h, (i, x)| h.wrapping_mul(31).wrapping_add(x ^ i as u64));
    println!("rayon par_sort sorted {sorted} first {} last {} checksum {checksum}", v[0], v[v.len() - 1]);
    v.par_sort_unstable_by(|a, b| b.cmp(a));
    println!("rayon par_sort_unstable_by first {} last {}", v[0], v[v.len() - 1]);
    println!("rayon join fib(20) {}", fib(20));
    let doubled: Vec<u64> = (0..10_000u64).into_par_iter().map(|x| x * 2).collect();
    println!("rayon collect in order {}", doubled.iter().copied().eq((0..10_000u64).map(|x| x * 2)));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let (count, threads) =
        pool.install(|| ((0..30_000u64).into_par_iter().filter(|x| x % 3 == 0).count(), rayon::current_num_threads()));
    println!("rayon pool of {threads}: {count}");
    let total = AtomicU64::new(0);
    rayon::scope(|s| {
        for i in 1..=100u64 {
            let total = &total;
            s.spawn(move |_| {
                total.fetch_add(i, Ordering::SeqCst);
            });
        }
    });
    println!("rayon scope {}", total.load(Ordering::SeqCst));
    let words = ["alpha", "beta", "gamma", "delta", "epsilon"].repeat(1000);
    let letters: usize = words.par_iter().map(|w| w.len()).reduce(|| 0, |a, b| a + b);
    println!("rayon reduce {letters}");
}
