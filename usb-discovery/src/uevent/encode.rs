//! Builds uevent messages the way udevd and the kernel write them, for tests, benchmarks and the
//! injection of synthetic events.

use super::message::{UDEV_HEADER_LEN, UDEV_MONITOR_MAGIC, UDEV_PREFIX};

/// A udev-format message as udevd sends it to its netlink group: the `libudev\0` prefix, the magic
/// `0xfeedcafe` (network byte order), header size, properties offset and length (host byte order),
/// the MurmurHash2 of `SUBSYSTEM` and of `DEVTYPE` and the bloom filter of the tags (taken from the
/// `TAGS` property, `:a:b:`), all in network byte order; then each property as `KEY=value\0`, in the
/// order given.
///
/// A key or value holding a NUL, or a key holding `=`, gives a message that does not parse back to
/// the same properties; callers pass real property names.
pub fn encode_udev_message<'a>(
    properties: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut subsystem_hash = 0;
    let mut devtype_hash = 0;
    let mut tag_bloom = 0u64;
    let mut block = Vec::new();
    for (key, value) in properties {
        match key {
            "SUBSYSTEM" => subsystem_hash = murmur_hash2(value.as_bytes()),
            "DEVTYPE" => devtype_hash = murmur_hash2(value.as_bytes()),
            "TAGS" => {
                tag_bloom = value
                    .split(':')
                    .filter(|tag| !tag.is_empty())
                    .fold(0, |bloom, tag| bloom | tag_bloom_bits(tag));
            }
            _ => {}
        }
        push_property(&mut block, key, value);
    }
    // Header fields are u32 on the wire; a block longer than 4 GiB cannot be a uevent, so its
    // length saturates (the parser then rejects the message as out of bounds).
    let properties_len = u32::try_from(block.len()).unwrap_or(u32::MAX);
    let header_len = UDEV_HEADER_LEN as u32;
    let mut message = Vec::with_capacity(UDEV_HEADER_LEN + block.len());
    message.extend_from_slice(UDEV_PREFIX);
    message.extend_from_slice(&UDEV_MONITOR_MAGIC.to_be_bytes());
    message.extend_from_slice(&header_len.to_ne_bytes());
    message.extend_from_slice(&header_len.to_ne_bytes());
    message.extend_from_slice(&properties_len.to_ne_bytes());
    message.extend_from_slice(&subsystem_hash.to_be_bytes());
    message.extend_from_slice(&devtype_hash.to_be_bytes());
    message.extend_from_slice(&((tag_bloom >> 32) as u32).to_be_bytes());
    message.extend_from_slice(&(tag_bloom as u32).to_be_bytes());
    message.extend_from_slice(&block);
    message
}

/// A kernel-format message: `ACTION@DEVPATH\0` (from those two properties, empty when absent), then
/// each property as `KEY=value\0`, in the order given.
#[cfg(any(test, feature = "testing"))]
pub fn encode_kernel_message<'a>(
    properties: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<u8> {
    let mut action = "";
    let mut devpath = "";
    let mut block = Vec::new();
    for (key, value) in properties {
        match key {
            "ACTION" => action = value,
            "DEVPATH" => devpath = value,
            _ => {}
        }
        push_property(&mut block, key, value);
    }
    let mut message = format!("{action}@{devpath}\0").into_bytes();
    message.extend_from_slice(&block);
    message
}

fn push_property(block: &mut Vec<u8>, key: &str, value: &str) {
    block.extend_from_slice(key.as_bytes());
    block.push(b'=');
    block.extend_from_slice(value.as_bytes());
    block.push(0);
}

/// The 64-bit bloom filter bits of one tag: four 6-bit slices of its hash, as udev sets them.
fn tag_bloom_bits(tag: &str) -> u64 {
    let hash = murmur_hash2(tag.as_bytes());
    [0, 6, 12, 18]
        .iter()
        .fold(0, |bits, shift| bits | 1u64 << ((hash >> shift) & 63))
}

/// Austin Appleby's 32-bit MurmurHash2 with seed 0, the hash udev puts in its header. Blocks are
/// read in host byte order, as udev's implementation does.
pub(crate) fn murmur_hash2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // The length enters the hash as a 32-bit int, as in the reference.
    let mut hash = data.len() as u32;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_ne_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M) ^ k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (index, &byte) in tail.iter().enumerate() {
            hash ^= u32::from(byte) << (8 * index);
        }
        hash = hash.wrapping_mul(M);
    }
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^ (hash >> 15)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur_hash2_of_the_empty_string_is_zero() {
        assert_eq!(murmur_hash2(b""), 0);
    }

    #[test]
    fn murmur_hash2_tells_subsystems_apart() {
        assert_ne!(murmur_hash2(b"usb"), murmur_hash2(b"block"));
        assert_ne!(murmur_hash2(b"usb_device"), murmur_hash2(b"usb_interface"));
    }

    #[test]
    fn a_tag_sets_between_one_and_four_bloom_bits() {
        let bits = tag_bloom_bits("uaccess").count_ones();
        assert!((1..=4).contains(&bits), "{bits} bits");
    }
}
