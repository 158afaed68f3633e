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
