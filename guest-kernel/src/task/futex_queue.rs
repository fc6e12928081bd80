//! The futex wait queue's entries and how a waker takes them (task/futex.rs keeps the
//! queue, its lock and the wake words): pure logic, unit-tested on the host.

use alloc::vec::Vec;

/// A futex's identity: its user address and whether it was named private
/// (FUTEX_PRIVATE_FLAG). As on Linux, a private and a shared operation on the same word
/// do not meet (Linux's shared key of an anonymous page carries FUT_OFF_MMSHARED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub addr: u64,
    pub private: bool,
}

impl Key {
    pub fn new(addr: u64, private: bool) -> Key {
        Key { addr, private }
    }

    /// The key the kernel itself uses (CLONE_CHILD_CLEARTID, robust lists): shared.
    pub fn shared(addr: u64) -> Key {
        Key { addr, private: false }
    }
}

pub struct Waiter {
    pub key: Key,
    pub bitset: u32,
    /// The waiter's vCPU block (its wake word) and index.
    pub block: u64,
    pub vcpu: u32,
    /// Tells this wait from the same thread's later ones; a futex_waitv wait has one entry
    /// per word, all with the same id.
    pub id: u64,
    /// The entry's place in a futex_waitv vector (0 for a plain wait).
    pub index: u32,
}

/// The waiters `take` woke: how many, and the blocks of those that were asleep in the
/// host, which the waker wakes there once it has let go of the queue.
pub struct Taken {
    pub count: u32,
    pub asleep: Vec<u64>,
}

impl Taken {
    pub fn none() -> Taken {
        Taken { count: 0, asleep: Vec::new() }
    }

    pub fn add(&mut self, more: Taken) {
        self.count += more.count;
        self.asleep.extend(more.asleep);
    }
}

/// Take up to `count` waiters on `key` whose bitset meets `bitset` off `queue` (with the
/// other words of a futex_waitv wait) and wake each with `wake`, called at once, while the
/// caller still holds the queue's lock; `wake` stores WOKEN on the waiter's wake word and
/// says whether the waiter was asleep in the host.
///
/// The wake word is written here, under the lock, and not once the lock is let go: a
/// waiter whose wait ends at the same moment (a signal, its timeout) takes its entry off
/// the queue under that lock, finds it gone (a waker took it: the wake counts) and returns
/// to user mode. A WOKEN stored after that landed on the thread's next wait, which then
/// returned at once as woken while its own entry stayed on the queue; that stale entry took
/// a later wake meant for another waiter, which slept on for ever (a lost wake-up: a pthread
/// mutex or condition variable hung).
pub fn take(
    queue: &mut Vec<Waiter>,
    key: Key,
    count: u32,
    bitset: u32,
    mut wake: impl FnMut(&Waiter) -> bool,
) -> Taken {
    let mut taken = Taken::none();
    while taken.count < count {
        let Some(i) = queue.iter().position(|w| w.key == key && w.bitset & bitset != 0) else { break };
        let w = queue.remove(i);
        queue.retain(|o| o.id != w.id);
        taken.count += 1;
        if wake(&w) {
            taken.asleep.push(w.block);
        }
    }
    taken
}

/// Take wait `id` off `queue`: false if a waker already did (the wait was woken).
pub fn dequeue(queue: &mut Vec<Waiter>, id: u64) -> bool {
    let before = queue.len();
    queue.retain(|w| w.id != id);
    queue.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: u32 = 0;
    const WOKEN: u32 = 1;
    const SLEEPING: u32 = 2;

    /// One thread's wake word, as the queue's users see it (block 0x1000).
    struct Thread {
        word: u32,
    }

    fn waiter(key: Key, id: u64) -> Waiter {
        Waiter { key, bitset: u32::MAX, block: 0x1000, vcpu: 1, id, index: 0 }
    }

    fn wake_on(t: &mut Thread) -> impl FnMut(&Waiter) -> bool + '_ {
        |_| core::mem::replace(&mut t.word, WOKEN) == SLEEPING
    }

    #[test]
    fn a_taken_waiter_is_woken_before_the_lock_is_let_go() {
        // The race: the waker takes wait 1; the waiter's timeout ends wait 1 at the same
        // time (its dequeue finds the entry gone: woken) and it starts wait 2 on another
        // futex. Wait 2 must not see wait 1's wake.
        let (a, b) = (Key::new(0x10, true), Key::new(0x20, true));
        let mut t = Thread { word: IDLE };
        let mut queue = vec![waiter(a, 1)];
        let taken = take(&mut queue, a, 1, u32::MAX, wake_on(&mut t));
        assert_eq!(taken.count, 1);
        // Already stored, under the lock the waker still holds here.
        assert_eq!(t.word, WOKEN);
        assert!(!dequeue(&mut queue, 1), "the waiter learns it was woken");
        // Wait 2 (task::futex::enqueue): IDLE, then its entry.
        t.word = IDLE;
        queue.push(waiter(b, 2));
        // What the waker does after letting go of the lock: host wake-ups only, for the
        // waiters that slept in the host (none here): nothing writes the wake word.
        assert!(taken.asleep.is_empty());
        assert_eq!(t.word, IDLE, "wait 2 is not woken by wait 1's waker");
        // A wake of b finds wait 2, and only it; afterwards nothing is left queued.
        let taken = take(&mut queue, b, 1, u32::MAX, wake_on(&mut t));
        assert_eq!((taken.count, t.word), (1, WOKEN));
        assert!(queue.is_empty());
    }

    #[test]
    fn only_waiters_asleep_in_the_host_are_woken_there() {
        let a = Key::new(0x10, false);
        let mut words = [SLEEPING, IDLE];
        let mut queue = vec![
            Waiter { key: a, bitset: 1, block: 0, vcpu: 1, id: 1, index: 0 },
            Waiter { key: a, bitset: 2, block: 1, vcpu: 2, id: 2, index: 0 },
        ];
        let taken =
            take(&mut queue, a, 5, u32::MAX, |w| core::mem::replace(&mut words[w.block as usize], WOKEN) == SLEEPING);
        assert_eq!((taken.count, taken.asleep), (2, vec![0]));
        assert_eq!(words, [WOKEN, WOKEN]);
    }

    #[test]
    fn count_bitset_and_waitv_entries() {
        let (a, b) = (Key::new(0x10, false), Key::new(0x20, false));
        let mut queue = vec![
            Waiter { key: a, bitset: 1, block: 0, vcpu: 1, id: 1, index: 0 },
            // One futex_waitv wait on a and b.
            Waiter { key: b, bitset: u32::MAX, block: 1, vcpu: 2, id: 2, index: 0 },
            Waiter { key: a, bitset: u32::MAX, block: 1, vcpu: 2, id: 2, index: 1 },
            Waiter { key: a, bitset: 2, block: 2, vcpu: 3, id: 3, index: 0 },
        ];
        let mut woken = Vec::new();
        let taken = take(&mut queue, a, 1, 2, |w| {
            woken.push(w.id);
            false
        });
        assert_eq!((taken.count, woken.as_slice()), (1, [2].as_slice()));
        // The waitv wait's entry on b went with it.
        assert_eq!(queue.iter().map(|w| w.id).collect::<Vec<_>>(), [1, 3]);
        let taken = take(&mut queue, a, 0, u32::MAX, |_| false);
        assert_eq!(taken.count, 0);
        let mut more = take(&mut queue, a, 9, u32::MAX, |_| true);
        more.add(Taken::none());
        assert_eq!((more.count, more.asleep), (2, vec![0, 2]));
        assert!(!dequeue(&mut queue, 1));
    }
}
