//! Seeded randomness: every random draw in nn comes from an RNG the caller seeded.

use rand::SeedableRng as _;

/// The random number generator used throughout nn: rand's `StdRng` itself (re-exported under its
/// own name, so that it never shadows the `rand::Rng` trait in a program that imports both).
pub use rand::rngs::StdRng;

/// The default seed, as in the seed notebook.
pub const DEFAULT_SEED: u64 = 4321;

/// A generator seeded with `seed`: the same seed gives the same bits on every run.
pub fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The seed of epoch `epoch` (0-based) of a stream seeded with `seed`: what makes a draw a
/// function of (seed, epoch) alone, so that a run resumed at an epoch draws what an uninterrupted
/// one would (the batch order, dropout masks).
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    // The odd constant (2^64 / golden ratio) spreads consecutive epochs far apart, so that
    // (seed, epoch) pairs do not collide.
    seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
