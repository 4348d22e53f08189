//! The only WASI a module gets without a grant: randomness (the standard library's hash
//! maps seed themselves with it). Every other WASI import — files, sockets, environment,
//! clocks, stdio — is linked as a trap.

use super::bindings::ModuleStoreData;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

/// Largest `get-random-bytes` answer, bytes.
const MAX_RANDOM_BYTES: u64 = 1 << 16;

fn random_bytes(len: u64) -> Vec<u8> {
    let mut buffer = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
    let mut filled = 0;
    while filled < buffer.len() {
        match rustix::rand::getrandom(&mut buffer[filled..], rustix::rand::GetRandomFlags::empty())
        {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    buffer
}

fn random_u64() -> u64 {
    let bytes = random_bytes(8);
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(&bytes);
    u64::from_le_bytes(word)
}

/// Defines `wasi:random/{random,insecure,insecure-seed}` for whichever versions the
/// component imports.
pub fn add_random(
    linker: &mut Linker<ModuleStoreData>,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<()> {
    let names: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .filter(|name| name.starts_with("wasi:random/"))
        .collect();
    for name in names {
        let mut instance = linker.instance(&name)?;
        if name.starts_with("wasi:random/random@") {
            instance.func_wrap("get-random-bytes", |_, (len,): (u64,)| {
                Ok((random_bytes(len),))
            })?;
            instance.func_wrap("get-random-u64", |_, ()| Ok((random_u64(),)))?;
        } else if name.starts_with("wasi:random/insecure@") {
            instance.func_wrap("get-insecure-random-bytes", |_, (len,): (u64,)| {
                Ok((random_bytes(len),))
            })?;
            instance.func_wrap("get-insecure-random-u64", |_, ()| Ok((random_u64(),)))?;
        } else if name.starts_with("wasi:random/insecure-seed@") {
            instance.func_wrap("insecure-seed", |_, ()| Ok(((random_u64(), random_u64()),)))?;
        }
    }
    Ok(())
}
