//! The fast masking path equals the byte-at-a-time reference for any buffer, key, offset and
//! alignment; masking twice restores the input; masking in two pieces equals masking at once.
#![no_main]

use arbitrary::Arbitrary;
use websock::proto::mask::{apply_mask, apply_mask_scalar};

#[derive(Arbitrary, Debug)]
struct Input {
    key: [u8; 4],
    offset: usize,
    align: u8,
    split: u16,
    data: Vec<u8>,
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let align = usize::from(input.align % 16).min(input.data.len());
    let orig = &input.data[align..];
    let mut fast = input.data.clone();
    let mut slow = orig.to_vec();
    apply_mask(&mut fast[align..], input.key, input.offset);
    apply_mask_scalar(&mut slow, input.key, input.offset);
    assert_eq!(&fast[align..], &slow[..], "fast != scalar");
    apply_mask(&mut fast[align..], input.key, input.offset);
    assert_eq!(&fast[align..], orig, "masking twice");

    let split = usize::from(input.split).min(orig.len());
    let mut parts = orig.to_vec();
    let (a, b) = parts.split_at_mut(split);
    apply_mask(a, input.key, input.offset);
    apply_mask(b, input.key, input.offset.wrapping_add(split));
    assert_eq!(parts, slow, "masking in two pieces at {split}");
});
