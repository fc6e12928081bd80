//! The names uname shows (the UTS namespace the process sees): the host name, and the
//! kernel release and version the monitor chose (the host's on a Linux host).

use spin::Mutex;

use alloc::vec::Vec;

/// A utsname field: at most 64 bytes and a NUL.
type Field = [u8; 65];

static HOSTNAME: Mutex<Field> = Mutex::new([0; 65]);
static RELEASE: Mutex<Field> = Mutex::new([0; 65]);
static VERSION: Mutex<Field> = Mutex::new([0; 65]);

fn store(slot: &Mutex<Field>, value: &[u8]) {
    let mut f = slot.lock();
    let n = value.len().min(64);
    f[..n].copy_from_slice(&value[..n]);
}

fn load(slot: &Mutex<Field>) -> Vec<u8> {
    let f = *slot.lock();
    f[..f.iter().position(|&b| b == 0).unwrap_or(64)].to_vec()
}

pub fn init(hostname: &[u8], release: &[u8], version: &[u8]) {
    store(&HOSTNAME, hostname);
    store(&RELEASE, release);
    store(&VERSION, version);
}

pub fn hostname() -> Vec<u8> {
    load(&HOSTNAME)
}

pub fn kernel_release() -> Vec<u8> {
    load(&RELEASE)
}

pub fn kernel_version() -> Vec<u8> {
    load(&VERSION)
}

/// (nodename, release, version) as NUL-padded fields, for uname.
pub fn uts_fields() -> (Field, Field, Field) {
    (*HOSTNAME.lock(), *RELEASE.lock(), *VERSION.lock())
}
