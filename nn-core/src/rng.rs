//! Seeded randomness: every random draw in nn comes from an RNG the caller seeded.

use rand::SeedableRng;

/// The random number generator used throughout nn.
pub type Rng = rand::rngs::StdRng;

/// The default seed, as in the seed notebook.
pub const DEFAULT_SEED: u64 = 4321;

/// A generator seeded with `seed`: the same seed gives the same bits on every run.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}
