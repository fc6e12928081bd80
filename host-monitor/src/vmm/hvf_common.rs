//! What the two Hypervisor.framework backends share (Intel `hvf.rs`, Apple Silicon
//! `hvf_arm64.rs`): turning an `hv_return_t` into our error, the messages for a VM the
//! framework refuses, and the `sysctl`s that say whether this Mac has the framework.
//! The messages are pure and unit-tested on Linux; the sysctl exists on macOS only.

#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use super::hvf_sys::{self as sys, HvReturn};
use super::VmmError;

/// `Ok` for HV_SUCCESS, else `what` failed with the framework's name for `r`.
pub fn hv(what: &str, r: HvReturn) -> Result<(), VmmError> {
    if r == sys::HV_SUCCESS {
        Ok(())
    } else {
        Err(VmmError::Failed(format!("{what}: {} ({:#x})", sys::hv_error_name(r), r as u32)))
    }
}

/// What this Mac needs for the framework to make a VM (said when it cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    Intel,
    AppleSilicon,
}

impl Machine {
    fn needs(self) -> &'static str {
        match self {
            Machine::Intel => {
                "an Intel Mac whose CPU has VT-x enabled, or, inside a virtual machine, nested virtualization"
            }
            Machine::AppleSilicon => "an Apple Silicon Mac running macOS itself (not inside a virtual machine)",
        }
    }
}

/// The error for `kern.hv_support` being 0 or absent.
pub fn no_hv_support(machine: Machine) -> VmmError {
    VmmError::Unavailable(format!(
        "this Mac offers no Hypervisor.framework (sysctl kern.hv_support is 0): linuxrun needs {}",
        machine.needs()
    ))
}

/// The error for `hv_vm_create` returning `r` (not HV_SUCCESS).
pub fn vm_create_error(r: HvReturn, machine: Machine) -> VmmError {
    match r {
        sys::HV_DENIED => VmmError::Unavailable(
            "Hypervisor.framework refused to create a VM (HV_DENIED): this linuxrun binary is not signed with \
             the com.apple.security.hypervisor entitlement. Sign it: codesign --sign - --entitlements \
             linuxrun.entitlements --force <path to linuxrun> (see docs/macos.md)"
                .into(),
        ),
        sys::HV_BUSY => VmmError::Failed(
            "hv_vm_create: HV_BUSY (this process already has a VM; Hypervisor.framework allows one)".into(),
        ),
        sys::HV_UNSUPPORTED | sys::HV_NO_DEVICE => VmmError::Unavailable(format!(
            "Hypervisor.framework cannot create a VM on this Mac ({}): linuxrun needs {}",
            sys::hv_error_name(r),
            machine.needs()
        )),
        other => hv("hv_vm_create", other).err().unwrap_or_else(|| VmmError::Failed("hv_vm_create".into())),
    }
}

/// An integer sysctl by name, or None when it does not exist.
#[cfg(target_os = "macos")]
pub fn sysctl_u64(name: &std::ffi::CStr) -> Option<u64> {
    let mut value = [0u8; 8];
    let mut len = value.len();
    // SAFETY: name is NUL-terminated; value/len describe a writable 8-byte buffer; no
    // new value is set (NULL, 0).
    let r = unsafe { libc::sysctlbyname(name.as_ptr(), value.as_mut_ptr().cast(), &mut len, std::ptr::null_mut(), 0) };
    match (r, len) {
        (0, 4) => Some(u64::from(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]))),
        (0, 8) => Some(u64::from_ne_bytes(value)),
        _ => None,
    }
}

/// `Ok` when `kern.hv_support` says the framework can make VMs here.
#[cfg(target_os = "macos")]
pub fn check_hv_support(machine: Machine) -> Result<(), VmmError> {
    match sysctl_u64(c"kern.hv_support") {
        Some(0) | None => Err(no_hv_support(machine)),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        let denied = vm_create_error(sys::HV_DENIED, Machine::AppleSilicon).to_string();
        assert!(denied.contains("com.apple.security.hypervisor") && denied.contains("codesign"));
        assert!(matches!(vm_create_error(sys::HV_DENIED, Machine::Intel), VmmError::Unavailable(_)));
        let unsupported = vm_create_error(sys::HV_UNSUPPORTED, Machine::Intel).to_string();
        assert!(unsupported.contains("HV_UNSUPPORTED") && unsupported.contains("VT-x"));
        assert!(vm_create_error(sys::HV_NO_DEVICE, Machine::AppleSilicon).to_string().contains("Apple Silicon"));
        assert!(matches!(vm_create_error(sys::HV_BUSY, Machine::Intel), VmmError::Failed(_)));
        assert!(vm_create_error(sys::HV_ERROR, Machine::Intel).to_string().contains("HV_ERROR"));
        assert!(no_hv_support(Machine::Intel).to_string().contains("kern.hv_support is 0"));
        assert!(hv("x", sys::HV_SUCCESS).is_ok());
    }
}
