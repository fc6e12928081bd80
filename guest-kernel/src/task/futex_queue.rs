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
    /// For FUTEX_WAIT_REQUEUE_PI: the PI futex this waiter may only be requeued to.
    pub pi: Option<RequeuePi>,
}

/// What a FUTEX_WAIT_REQUEUE_PI waiter carries: the PI futex named in its wait (Linux's
/// `requeue_pi_key`), and its thread id, which a requeue writes into that futex's word when
/// it takes the lock for the waiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequeuePi {
    pub to: Key,
    pub tid: u32,
}

/// How a FUTEX_WAIT_REQUEUE_PI wait was ended by FUTEX_CMP_REQUEUE_PI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handoff {
    /// The requeue took the PI lock for the waiter, which returns owning it.
    Locked,
    /// The lock was held: the waiter must wait for it now (Linux moves it to the lock's
    /// waiters; here it asks the host's PI futex, as FUTEX_LOCK_PI does).
    Requeued,
}

/// The waiters `take` woke: how many, and the blocks of those that were asleep in the
/// host, which the waker wakes there once it has let go of the queue.
pub struct Taken {
    pub count: u32,
    pub asleep: Vec<u64>,
    /// The waker met a FUTEX_WAIT_REQUEUE_PI waiter, which only FUTEX_CMP_REQUEUE_PI may
    /// end: it stopped there, and the operation fails with EINVAL (Linux's futex_wake and
    /// futex_requeue do the same; the waiters woken before it stay woken).
    pub refused: bool,
}

impl Taken {
    pub fn none() -> Taken {
        Taken { count: 0, asleep: Vec::new(), refused: false }
    }

    pub fn add(&mut self, more: Taken) {
        self.count += more.count;
        self.asleep.extend(more.asleep);
        self.refused |= more.refused;
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
        // Linux looks at a waiter's kind before its bitset.
        let Some(i) = queue.iter().position(|w| w.key == key && (w.pi.is_some() || w.bitset & bitset != 0)) else {
            break;
        };
        if queue[i].pi.is_some() {
            taken.refused = true;
            break;
        }
        let w = queue.remove(i);
        queue.retain(|o| o.id != w.id);
        taken.count += 1;
        if wake(&w) {
            taken.asleep.push(w.block);
        }
    }
    taken
}

/// FUTEX_CMP_REQUEUE_PI's work on the queue (Linux's futex_requeue with requeue_pi): the
/// first waiter on `key` must be a FUTEX_WAIT_REQUEUE_PI waiter for `key2` (else EINVAL);
/// `try_lock` tries to take the PI lock for it (Ok(true): taken, Ok(false): held by
/// another; an error ends the operation with nothing done). If taken, that waiter is woken
/// owning the lock and up to `nr_requeue` more are requeued, else up to `nr_requeue + 1`
/// are. A waiter on `key` of another kind, or for another PI futex, stops the requeue with
/// EINVAL (the ones handled before it stay handled). `wake` is as `take`'s, told how the
/// wait ended. Returns the waiters handled (woken plus requeued) and the error if any.
pub fn requeue_pi(
    queue: &mut Vec<Waiter>,
    key: Key,
    key2: Key,
    nr_requeue: u32,
    try_lock: impl FnOnce(&Waiter) -> Result<bool, i64>,
    mut wake: impl FnMut(&Waiter, Handoff) -> bool,
) -> (Taken, Result<(), i64>) {
    let mut taken = Taken::none();
    let for_key2 = |w: &Waiter| w.pi.is_some_and(|p| p.to == key2);
    let Some(top) = queue.iter().position(|w| w.key == key) else { return (taken, Ok(())) };
    if !for_key2(&queue[top]) {
        return (taken, Err(EINVAL));
    }
    let mut left = match try_lock(&queue[top]) {
        Ok(true) => {
            let w = queue.remove(top);
            taken.count += 1;
            if wake(&w, Handoff::Locked) {
                taken.asleep.push(w.block);
            }
            nr_requeue
        }
        Ok(false) => nr_requeue.saturating_add(1),
        Err(e) => return (taken, Err(e)),
    };
    while left > 0 {
        let Some(i) = queue.iter().position(|w| w.key == key) else { break };
        if !for_key2(&queue[i]) {
            return (taken, Err(EINVAL));
        }
        let w = queue.remove(i);
        left -= 1;
        taken.count += 1;
        if wake(&w, Handoff::Requeued) {
            taken.asleep.push(w.block);
        }
    }
    (taken, Ok(()))
}

const EINVAL: i64 = -(abi_shared::linux::errno::EINVAL as i64);

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
        Waiter { key, bitset: u32::MAX, block: 0x1000, vcpu: 1, id, index: 0, pi: None }
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
            Waiter { key: a, bitset: 1, block: 0, vcpu: 1, id: 1, index: 0, pi: None },
            Waiter { key: a, bitset: 2, block: 1, vcpu: 2, id: 2, index: 0, pi: None },
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
            Waiter { key: a, bitset: 1, block: 0, vcpu: 1, id: 1, index: 0, pi: None },
            // One futex_waitv wait on a and b.
            Waiter { key: b, bitset: u32::MAX, block: 1, vcpu: 2, id: 2, index: 0, pi: None },
            Waiter { key: a, bitset: u32::MAX, block: 1, vcpu: 2, id: 2, index: 1, pi: None },
            Waiter { key: a, bitset: 2, block: 2, vcpu: 3, id: 3, index: 0, pi: None },
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

    fn pi_waiter(key: Key, to: Key, id: u64) -> Waiter {
        Waiter { pi: Some(RequeuePi { to, tid: 100 + id as u32 }), ..waiter(key, id) }
    }

    #[test]
    fn a_wake_stops_at_a_requeue_pi_waiter() {
        let (a, b) = (Key::new(0x10, true), Key::new(0x20, true));
        let mut queue = vec![waiter(a, 1), pi_waiter(a, b, 2), waiter(a, 3)];
        let taken = take(&mut queue, a, 9, u32::MAX, |_| false);
        assert_eq!((taken.count, taken.refused), (1, true));
        assert_eq!(queue.iter().map(|w| w.id).collect::<Vec<_>>(), [2, 3]);
        // A wake of other bits stops there too: the kind is looked at first.
        let taken = take(&mut queue, a, 9, 0, |_| false);
        assert_eq!((taken.count, taken.refused), (0, true));
    }

    #[test]
    fn requeue_pi_locks_for_the_first_and_requeues_the_rest() {
        let (a, b) = (Key::new(0x10, true), Key::new(0x20, true));
        let mut queue = vec![pi_waiter(a, b, 1), pi_waiter(a, b, 2), pi_waiter(b, a, 3), pi_waiter(a, b, 4)];
        let mut how = Vec::new();
        let (taken, r) = requeue_pi(
            &mut queue,
            a,
            b,
            1,
            |w| Ok(w.id == 1),
            |w, h| {
                how.push((w.id, h));
                false
            },
        );
        assert_eq!((taken.count, r), (2, Ok(())));
        assert_eq!(how, [(1, Handoff::Locked), (2, Handoff::Requeued)]);
        // The lock held: nr_requeue + 1 are requeued (here all that are left on a).
        how.clear();
        let (taken, r) = requeue_pi(
            &mut queue,
            a,
            b,
            0,
            |_| Ok(false),
            |w, h| {
                how.push((w.id, h));
                true
            },
        );
        assert_eq!((taken.count, taken.asleep.len(), r), (1, 1, Ok(())));
        assert_eq!(how, [(4, Handoff::Requeued)]);
        assert_eq!(queue.iter().map(|w| w.id).collect::<Vec<_>>(), [3]);
        // No waiter: nothing to do, and the lock is not tried.
        let (taken, r) = requeue_pi(&mut queue, a, b, 5, |_| panic!("no waiter to lock for"), |_, _| false);
        assert_eq!((taken.count, r), (0, Ok(())));
    }

    #[test]
    fn requeue_pi_refuses_other_waiters_and_keeps_a_failed_lock_s_waiters() {
        let (a, b, c) = (Key::new(0x10, true), Key::new(0x20, true), Key::new(0x30, true));
        let einval = Err(EINVAL);
        // A plain waiter first, or one for another PI futex: EINVAL, nothing done.
        let mut queue = vec![waiter(a, 1), pi_waiter(a, b, 2)];
        let (taken, r) = requeue_pi(&mut queue, a, b, 9, |_| Ok(true), |_, _| false);
        assert_eq!((taken.count, r), (0, einval));
        let mut queue = vec![pi_waiter(a, c, 1)];
        let (taken, r) = requeue_pi(&mut queue, a, b, 9, |_| Ok(true), |_, _| false);
        assert_eq!((taken.count, r, queue.len()), (0, einval, 1));
        // The lock cannot be taken (EDEADLK: the waiter owns it): nothing moves.
        let mut queue = vec![pi_waiter(a, b, 1), pi_waiter(a, b, 2)];
        let (taken, r) = requeue_pi(&mut queue, a, b, 9, |_| Err(-35), |_, _| false);
        assert_eq!((taken.count, r, queue.len()), (0, Err(-35), 2));
        // A plain waiter behind requeued ones stops the requeue there.
        let mut queue = vec![pi_waiter(a, b, 1), pi_waiter(a, b, 2), waiter(a, 3), pi_waiter(a, b, 4)];
        let (taken, r) = requeue_pi(&mut queue, a, b, 9, |_| Ok(false), |_, _| false);
        assert_eq!((taken.count, r), (2, einval));
        assert_eq!(queue.iter().map(|w| w.id).collect::<Vec<_>>(), [3, 4]);
    }
}
