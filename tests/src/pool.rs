//! A tiny fixed-size worker pool: our machines have 2 cores, and each case may
//! itself start a VM, so more parallelism only adds noise and memory pressure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Applies `f` to every item using `workers` threads and returns the results in
/// item order. Items are handed out one at a time, so slow items don't stall a
/// whole pre-assigned batch.
pub fn map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results.into_inner().unwrap().into_iter().map(|r| r.expect("every item processed")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_order_and_covers_all_items() {
        let items: Vec<u32> = (0..100).collect();
        let out = super::map(&items, 3, |x| x * 2);
        assert_eq!(out, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    }
}
