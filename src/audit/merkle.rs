//! RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs (generation and verification).
//!
//! Proof generation is written against [`HashSource`], which yields the hash of any complete (perfect, aligned)
//! subtree; the on-disk tiles ([`super::tiles::TileReader`]) and the in-memory [`MemoryTree`] both implement it.
//! Must never: hash anything other than the RFC 6962 `0x00 || leaf` and `0x01 || left || right` forms.

use sha2::{Digest, Sha256};

use super::AuditError;

/// A SHA-256 hash (leaf hash, node hash or tree root).
pub type Hash = [u8; 32];

/// RFC 6962 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Something that can produce the hash of a complete subtree.
///
/// `subtree(level, index)` is `MTH(D[index * 2^level .. (index + 1) * 2^level])`: level 0 is leaf hashes.
pub trait HashSource {
    /// Hash of the complete subtree at `level` and `index`.
    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, AuditError>;
}

/// `MTH(D[lo..hi])` for a range that is a node of the RFC 6962 tree of some size (left end aligned to the largest
/// power of two not exceeding the range): the greedy left-to-right decomposition into complete subtrees, folded from
/// the right.
pub fn range_hash<S: HashSource + ?Sized>(
    src: &mut S,
    lo: u64,
    hi: u64,
) -> Result<Hash, AuditError> {
    if hi <= lo {
        return Err(AuditError::Proof(format!("empty range {lo}..{hi}")));
    }
    let mut parts: Vec<Hash> = Vec::with_capacity(64);
    let mut at = lo;
    while at < hi {
        let remaining = hi - at;
        // Largest power of two that divides `at` (or any, when at == 0) and fits in the remainder.
        let mut level = 63 - remaining.leading_zeros();
        if at != 0 {
            level = level.min(at.trailing_zeros());
        }
        parts.push(src.subtree(level, at >> level)?);
        at += 1u64 << level;
    }
    let mut acc = parts
        .pop()
        .ok_or_else(|| AuditError::Proof("empty range".into()))?;
    while let Some(left) = parts.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// Root hash of the first `size` leaves (`empty_root()` for size 0).
pub fn root_at<S: HashSource + ?Sized>(src: &mut S, size: u64) -> Result<Hash, AuditError> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(src, 0, size)
}

/// RFC 6962 `PATH(index, D[0..size])`: the audit path, leaf's sibling first, root's child last.
pub fn inclusion_proof<S: HashSource + ?Sized>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, AuditError> {
    if index >= size {
        return Err(AuditError::Proof(format!(
            "index {index} is not below tree size {size}"
        )));
    }
    let (mut lo, mut hi) = (0u64, size);
    let mut path = Vec::with_capacity(64);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 6962 `PROOF(old_size, D[0..new_size])`: consistency proof between two tree sizes (`0 < old_size <= new_size`).
pub fn consistency_proof<S: HashSource + ?Sized>(
    src: &mut S,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, AuditError> {
    if old_size == 0 || old_size > new_size {
        return Err(AuditError::Proof(format!(
            "no consistency proof from size {old_size} to size {new_size}"
        )));
    }
    let mut path = Vec::with_capacity(64);
    let (mut lo, mut hi, mut m, mut complete) = (0u64, new_size, old_size, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !complete {
                path.push(range_hash(src, lo, hi)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            path.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(src, lo, lo + k)?);
            lo += k;
            m -= k;
            complete = false;
        }
    }
    path.reverse();
    Ok(path)
}

/// Root hash implied by an inclusion proof (RFC 9162 §2.1.3.2), or why the proof is malformed.
pub fn root_from_inclusion_proof(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, AuditError> {
    if index >= size {
        return Err(AuditError::Proof(format!(
            "index {index} is not below tree size {size}"
        )));
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(AuditError::Proof("inclusion proof is too long".into()));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(AuditError::Proof("inclusion proof is too short".into()));
    }
    Ok(r)
}

/// Verify an inclusion proof against a root (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), AuditError> {
    let computed = root_from_inclusion_proof(leaf, index, size, proof)?;
    if &computed == root {
        Ok(())
    } else {
        Err(AuditError::Proof(format!(
            "inclusion proof for index {index} does not lead to the root of tree size {size}"
        )))
    }
}

/// Verify a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), AuditError> {
    let fail = |why: &str| {
        Err(AuditError::Proof(format!(
            "consistency proof from size {old_size} to size {new_size}: {why}"
        )))
    };
    if old_size > new_size {
        return fail("old size is larger than new size");
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return fail("proof must be empty for equal sizes");
        }
        return if old_root == new_root {
            Ok(())
        } else {
            fail("roots differ")
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            fail("proof must be empty from the empty tree")
        };
    }
    let mut nodes: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        nodes.push(*old_root);
    }
    nodes.extend_from_slice(proof);
    let Some((first, rest)) = nodes.split_first() else {
        return fail("proof is empty");
    };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return fail("proof is too long");
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return fail("proof is too short");
    }
    if &fr != old_root {
        return fail("old root does not match");
    }
    if &sr != new_root {
        return fail("new root does not match");
    }
    Ok(())
}

/// The right edge of a tree: roots of the perfect subtrees of the binary decomposition of its size (largest first).
/// Enough to append leaves and compute the current root in O(log n) memory.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.nodes.push(leaf);
        let mut s = self.size;
        while s & 1 == 1 {
            if let (Some(right), Some(left)) = (self.nodes.pop(), self.nodes.pop()) {
                self.nodes.push(node_hash(&left, &right));
            }
            s >>= 1;
        }
        self.size += 1;
    }

    /// Current root hash.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        let mut acc = *last;
        for left in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// Hash of a perfect subtree given its `2^k` leaves (at any level), or `None` if the count is not a power of two.
pub fn perfect_root(hashes: &[Hash]) -> Option<Hash> {
    if hashes.is_empty() || !hashes.len().is_power_of_two() {
        return None;
    }
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level
            .chunks_exact(2)
            .map(|p| node_hash(&p[0], &p[1]))
            .collect();
    }
    level.first().copied()
}

/// A complete in-memory Merkle tree keeping every complete subtree hash (2n hashes for n leaves).
///
/// Used by benchmarks, tests, and callers that want O(log n) proofs without touching disk.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree with room for `leaves` leaves.
    pub fn with_capacity(leaves: usize) -> Self {
        let mut levels = Vec::new();
        let mut n = leaves;
        while n > 0 {
            levels.push(Vec::with_capacity(n));
            n /= 2;
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0usize;
        let mut hash = leaf;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let n = row.len();
            if n % 2 == 1 {
                break;
            }
            hash = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// Root hash of the first `size` leaves.
    pub fn root(&mut self, size: u64) -> Result<Hash, AuditError> {
        root_at(self, size)
    }
}

impl HashSource for MemoryTree {
    fn subtree(&mut self, level: u32, index: u64) -> Result<Hash, AuditError> {
        self.levels
            .get(level as usize)
            .and_then(|row| usize::try_from(index).ok().and_then(|i| row.get(i)))
            .copied()
            .ok_or_else(|| AuditError::Proof(format!("subtree {level}/{index} is not in the tree")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_largest_power_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }

    #[test]
    fn frontier_matches_memory_tree() {
        let mut mem = MemoryTree::new();
        let mut fr = Frontier::new();
        for i in 0u64..300 {
            let h = leaf_hash(&i.to_be_bytes());
            mem.push(h);
            fr.push(h);
            assert_eq!(fr.root(), mem.root(i + 1).unwrap(), "size {}", i + 1);
        }
    }
}
