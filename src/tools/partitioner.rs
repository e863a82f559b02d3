//! Partition choice as Kafka's Java producer makes it: keyed records go to
//! `murmur2(key) & 0x7fffffff % partitions` (so the console producer and Java or
//! librdkafka's `murmur2_random` clients put a key on the same partition); keyless
//! records stick to one partition per batch, moving on round-robin.

/// Kafka's `Utils.murmur2`: MurmurHash2, 32 bits, seed 0x9747b28c, little-endian
/// 4-byte blocks.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut blocks = data.chunks_exact(4);
    for b in &mut blocks {
        let mut k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a keyed record among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    to_positive(murmur2(key)) % partitions
}

/// Chooses partitions for records of one topic.
pub struct Partitioner {
    partitions: i32,
    sticky: i32,
}

impl Partitioner {
    /// `start` seeds the first sticky partition (callers pass something random).
    pub fn new(partitions: i32, start: u32) -> Partitioner {
        let partitions = partitions.max(1);
        Partitioner {
            partitions,
            sticky: (start % partitions as u32) as i32,
        }
    }

    pub fn partition(&self, key: Option<&[u8]>) -> i32 {
        match key {
            Some(k) => partition_for_key(k, self.partitions),
            None => self.sticky,
        }
    }

    /// Called when a batch of `partition` is sent: keyless records move on.
    pub fn batch_sent(&mut self, partition: i32) {
        if partition == self.sticky {
            self.sticky = (self.sticky + 1) % self.partitions;
        }
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for Partitioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partitioner").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of Java's `Utils.murmur2` from Kafka's UtilsTest (the protocol tests
    /// also check partitions against librdkafka's `murmur2_random`).
    #[test]
    fn murmur2_matches_kafka() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (data, want) in cases {
            assert_eq!(murmur2(data), *want, "{:?}", String::from_utf8_lossy(data));
        }
    }

    #[test]
    fn keyed_partitions_use_the_positive_mask() {
        // murmur2("21") is negative: masking, not abs(), decides the partition.
        let h = murmur2(b"21");
        assert!(h < 0);
        assert_eq!(partition_for_key(b"21", 7), (h & 0x7fff_ffff) % 7);
        assert_ne!(partition_for_key(b"21", 7), h.wrapping_abs() % 7);
        assert_eq!(partition_for_key(b"anything", 1), 0);
    }

    #[test]
    fn keyless_records_stick_then_rotate() {
        let mut p = Partitioner::new(3, 7);
        assert_eq!(p.partition(None), 1);
        assert_eq!(p.partition(None), 1);
        p.batch_sent(0);
        assert_eq!(
            p.partition(None),
            1,
            "another partition's batch does not move it"
        );
        p.batch_sent(1);
        assert_eq!(p.partition(None), 2);
        p.batch_sent(2);
        assert_eq!(p.partition(None), 0);
        assert_eq!(
            p.partition(Some(b"foobar")),
            partition_for_key(b"foobar", 3)
        );
    }
}
