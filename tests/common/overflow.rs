//! A recursion that overflows any stack: the body of the stack-overflow tests.

/// Recurses with 1 KiB of live frame per call until the stack's guard stops it (`black_box`
/// and the data dependency keep the optimiser from turning it into a loop).
#[inline(never)]
pub fn recurse(depth: u64, buf: &mut [u8; 512]) -> u64 {
    let mut local = [0u8; 512];
    local[(depth % 512) as usize] = buf[(depth % 512) as usize].wrapping_add(1);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1, &mut local) + std::hint::black_box(local[0]) as u64
}
