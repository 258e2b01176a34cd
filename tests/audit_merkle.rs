//! RFC 6962 hashing and proofs: published test vectors, and a cross-check against an independent implementation
//! (the `ct-merkle` crate, whose own tests pin it to the transparency-dev/merkle reference vectors).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::audit::merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, root_from_inclusion_proof,
    verify_consistency, verify_inclusion, Hash, MemoryTree,
};
use proptest::prelude::*;
use sha2::Sha256;

/// The RFC 6962 / certificate-transparency reference leaves.
const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// MTH(D[0..n]) for n = 1..8 (certificate-transparency / transparency-dev reference values).
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (tree size, index, proof) — transparency-dev/merkle reference inclusion proofs.
const INCLUSION: [(u64, u64, &[&str]); 6] = [
    (1, 0, &[]),
    (
        2,
        0,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        2,
        1,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        5,
        1,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        8,
        0,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        8,
        5,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// (old size, new size, proof) — transparency-dev/merkle reference consistency proofs.
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn reference_tree(n: usize) -> MemoryTree {
    let mut t = MemoryTree::new();
    for l in LEAVES.iter().take(n) {
        t.push(leaf_hash(&hex::decode(l).unwrap()));
    }
    t
}

#[test]
fn empty_tree_root_is_sha256_of_nothing() {
    assert_eq!(
        hex::encode(empty_root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(MemoryTree::new().root(0).unwrap(), empty_root());
}

#[test]
fn rfc6962_roots() {
    let mut t = reference_tree(8);
    for (n, want) in ROOTS.iter().enumerate() {
        assert_eq!(
            hex::encode(t.root(n as u64 + 1).unwrap()),
            *want,
            "root of size {}",
            n + 1
        );
    }
}

#[test]
fn rfc6962_inclusion_vectors() {
    let mut t = reference_tree(8);
    for (size, index, want) in INCLUSION {
        let proof = inclusion_proof(&mut t, index, size).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "inclusion proof {index} in {size}");
        let leaf = leaf_hash(&hex::decode(LEAVES[index as usize]).unwrap());
        let root = h(ROOTS[size as usize - 1]);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
        // Every mutation of the proof must fail.
        for k in 0..proof.len() {
            let mut bad = proof.clone();
            bad[k][0] ^= 1;
            assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
        }
        if !proof.is_empty() {
            assert!(
                verify_inclusion(&leaf, index, size, &proof[..proof.len() - 1], &root).is_err()
            );
        }
        let mut longer = proof.clone();
        longer.push([0u8; 32]);
        assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
    }
}

#[test]
fn rfc6962_consistency_vectors() {
    let mut t = reference_tree(8);
    for (m, n, want) in CONSISTENCY {
        let proof = consistency_proof(&mut t, m, n).unwrap();
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(proof, want, "consistency {m} -> {n}");
        let (r1, r2) = (h(ROOTS[m as usize - 1]), h(ROOTS[n as usize - 1]));
        verify_consistency(m, n, &r1, &r2, &proof).unwrap();
        if m != n {
            assert!(verify_consistency(m, n, &r2, &r2, &proof).is_err());
            assert!(verify_consistency(m, n, &r1, &r1, &proof).is_err());
        }
    }
}

fn ct_tree(n: usize) -> (ct_merkle::CtMerkleTree<Sha256, Vec<u8>>, MemoryTree) {
    let mut ct = ct_merkle::CtMerkleTree::<Sha256, Vec<u8>>::new();
    let mut ours = MemoryTree::new();
    for i in 0..n {
        let data = format!("leaf-{i}").into_bytes();
        ours.push(leaf_hash(&data));
        ct.push(data);
    }
    (ct, ours)
}

#[test]
fn cross_check_against_ct_merkle_exhaustively_up_to_70() {
    for n in 1..=70usize {
        let (ct, mut ours) = ct_tree(n);
        let root = ours.root(n as u64).unwrap();
        assert_eq!(ct.root().as_bytes().as_slice(), root.as_slice(), "root {n}");
        for i in 0..n {
            let p = inclusion_proof(&mut ours, i as u64, n as u64).unwrap();
            assert_eq!(
                p.concat(),
                ct.prove_inclusion(i).as_bytes(),
                "inclusion {i} in {n}"
            );
            assert_eq!(
                root_from_inclusion_proof(
                    &leaf_hash(format!("leaf-{i}").as_bytes()),
                    i as u64,
                    n as u64,
                    &p
                )
                .unwrap(),
                root
            );
        }
    }
}

#[test]
fn cross_check_consistency_against_ct_merkle() {
    let (_, mut ours) = ct_tree(70);
    for n in 1..=70u64 {
        let (ct, _) = ct_tree(n as usize);
        let new_root = ours.root(n).unwrap();
        for m in 1..=n {
            let p = consistency_proof(&mut ours, m, n).unwrap();
            assert_eq!(
                p.concat(),
                ct.prove_consistency(m as usize).as_bytes(),
                "consistency {m} -> {n}"
            );
            let old_root = ours.root(m).unwrap();
            verify_consistency(m, n, &old_root, &new_root, &p).unwrap();
            // ct-merkle independently accepts our proof.
            let old = ct_merkle::RootHash::<Sha256>::new(old_root.into(), m as usize);
            ct.root()
                .verify_consistency(
                    &old,
                    &ct_merkle::consistency::ConsistencyProof::from_bytes(p.concat()),
                )
                .unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn proofs_verify_and_match_ct_merkle(n in 1usize..600, i_frac in 0.0f64..1.0, m_frac in 0.0f64..1.0) {
        let (ct, mut ours) = ct_tree(n);
        let i = ((n as f64) * i_frac) as usize % n;
        let m = 1 + ((n as f64) * m_frac) as usize % n;
        let root = ours.root(n as u64).unwrap();
        let p = inclusion_proof(&mut ours, i as u64, n as u64).unwrap();
        prop_assert_eq!(p.concat(), ct.prove_inclusion(i).as_bytes().to_vec());
        verify_inclusion(&leaf_hash(format!("leaf-{i}").as_bytes()), i as u64, n as u64, &p, &root).unwrap();
        let c = consistency_proof(&mut ours, m as u64, n as u64).unwrap();
        prop_assert_eq!(c.concat(), ct.prove_consistency(m).as_bytes().to_vec());
        verify_consistency(m as u64, n as u64, &ours.root(m as u64).unwrap(), &root, &c).unwrap();
        // A proof for the wrong index does not verify (unless the tree has one leaf).
        if n > 1 {
            let j = (i + 1) % n;
            let leaf = leaf_hash(format!("leaf-{i}").as_bytes());
            prop_assert!(verify_inclusion(&leaf, j as u64, n as u64, &p, &root).is_err());
        }
    }
}
