//! The image layers against their definition: random valid configurations of Conv2d, MaxPool2d
//! and AvgPool2d (examples/common/image_layers.rs) compared with a direct f64 computation,
//! forward and backward, from a fixed seed. The fuzzer runs the same check for longer.

use crate::common::image_layers::{Config, Kind};

/// Enough configurations to meet every kind of edge many times (issue 23's bug, a narrow
/// output with a stride along the rows only, met 905 in 249,809 random ones), few enough for a
/// few seconds in a debug build.
const CONFIGURATIONS: usize = 3000;

#[test]
fn random_valid_configurations_match_the_f64_reference_forward_and_backward() {
    let mut rng = nn::seeded(23);
    let mut seen = Coverage::default();
    for i in 0..CONFIGURATIONS {
        let config = Config::random(&mut rng);
        seen.count(&config);
        if let Err(e) = config.check(&mut rng) {
            panic!("configuration {i}: {e}");
        }
    }
    // The generator reaches the corners it is meant to: a change that lost one would leave
    // them untested without a sign.
    println!("{seen:?}");
    let Coverage {
        conv,
        max,
        avg,
        grouped,
        dilated,
        one_high,
        one_wide,
        asymmetric_stride,
        padded_narrow,
    } = seen;
    for (what, n) in [
        ("Conv2d", conv),
        ("MaxPool2d", max),
        ("AvgPool2d", avg),
        ("grouped convolutions", grouped),
        ("dilated convolutions", dilated),
        ("1-high inputs", one_high),
        ("1-wide inputs", one_wide),
        ("strides that differ between the axes", asymmetric_stride),
        ("padded 1- or 2-wide outputs", padded_narrow),
    ] {
        assert!(n >= 20, "only {n} configurations with {what}");
    }
}

/// How many configurations had each feature.
#[derive(Debug, Default)]
struct Coverage {
    conv: usize,
    max: usize,
    avg: usize,
    grouped: usize,
    dilated: usize,
    one_high: usize,
    one_wide: usize,
    asymmetric_stride: usize,
    padded_narrow: usize,
}

impl Coverage {
    fn count(&mut self, c: &Config) {
        match c.kind {
            Kind::Conv { groups, dilation, .. } => {
                self.conv += 1;
                self.grouped += usize::from(groups > 1);
                self.dilated += usize::from(dilation != (1, 1));
            }
            Kind::MaxPool => self.max += 1,
            Kind::AvgPool => self.avg += 1,
        }
        self.one_high += usize::from(c.input[2] == 1);
        self.one_wide += usize::from(c.input[3] == 1);
        self.asymmetric_stride += usize::from(c.stride.0 != c.stride.1);
        self.padded_narrow += usize::from(c.padding.1 > 0 && c.output().1 <= 2);
    }
}

/// Absurd sizes (2^32, 2^62, 2^63 - 1 for a kernel, stride, padding, dilation or channel count)
/// are refused with a panic that names the layer, before any allocation: no wrapped arithmetic,
/// no abort in the allocator, no panic from deeper down.
#[test]
fn absurd_sizes_are_refused_by_a_panic_naming_the_layer() {
    let mut rng = nn::seeded(6);
    let mut refused = 0;
    for i in 0..300 {
        let config = Config::absurd(&mut rng);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.run(&mut rng)));
        if let Err(payload) = result {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            assert!(
                message.starts_with(config.layer_name()),
                "configuration {i} {config:?}: {message}"
            );
            refused += 1;
        }
    }
    assert!(refused >= 100, "only {refused} of 300 refused");
}
