//! Tests for thabian-ledger: known-answer vectors from transparency-dev and
//! Go's sumdb/note, cross-checks against the independent `ct-merkle` crate,
//! a naive recursive RFC 9162 reference, and property tests.

// Helpers outside `#[test]` functions fail tests the same way the tests do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use thabian_ledger::*;

// ---------------------------------------------------------------------------
// Naive reference: RFC 9162 section 2.1 definitions, transcribed directly
// and recursively over the leaf data.
// ---------------------------------------------------------------------------

fn k_split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]).
fn ref_mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => leaf_hash(&d[0]),
        n => {
            let k = k_split(n);
            node_hash(&ref_mth(&d[..k]), &ref_mth(&d[k..]))
        }
    }
}

/// PATH(m, D[n]).
fn ref_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = k_split(n);
    if m < k {
        let mut p = ref_path(m, &d[..k]);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_path(m - k, &d[k..]);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b).
fn ref_subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![ref_mth(d)] };
    }
    let k = k_split(n);
    if m <= k {
        let mut p = ref_subproof(m, &d[..k], b);
        p.push(ref_mth(&d[k..]));
        p
    } else {
        let mut p = ref_subproof(m - k, &d[k..], false);
        p.push(ref_mth(&d[..k]));
        p
    }
}

/// PROOF(m, D[n]) for 0 < m < n; empty otherwise (what our API returns).
fn ref_proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    if m == 0 || m >= d.len() {
        return vec![];
    }
    ref_subproof(m, d, true)
}

fn leaves(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("event-{i}").into_bytes()).collect()
}

/// Builds the store the way the committer would: append every leaf to a
/// frontier and keep every completed node.
fn store_of(d: &[Vec<u8>]) -> (Frontier, HashMap<NodeId, Hash>) {
    let mut f = Frontier::new();
    let mut store = HashMap::new();
    for leaf in d {
        for (id, h) in f.append(leaf_hash(leaf)).unwrap() {
            assert!(store.insert(id, h).is_none(), "{id} completed twice");
        }
    }
    (f, store)
}

/// Every perfect aligned node of a tree of `n` leaves, by the naive MTH.
fn ref_perfect_nodes(d: &[Vec<u8>]) -> HashMap<NodeId, Hash> {
    let n = d.len() as u64;
    let mut out = HashMap::new();
    for level in 0u8..64 {
        let width = 1u64 << level;
        if width > n {
            break;
        }
        for index in 0..n / width {
            let a = (index * width) as usize;
            let b = a + width as usize;
            out.insert(NodeId::new(level, index), ref_mth(&d[a..b]));
        }
    }
    out
}

fn hx(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn h32(s: &str) -> Hash {
    hx(s).try_into().unwrap()
}

// ---------------------------------------------------------------------------
// Known answers. The leaves, node hashes, roots and proofs below come from
// transparency-dev/merkle, testonly/constants.go (LeafInputs, NodeHashes,
// RootHashes, CompactTrees) and testonly/reference_test.go
// (TestRefInclusionProof, TestRefConsistencyProof): the RFC 6962 test
// vectors that certificate-transparency's C++/Go implementations also use.
// ---------------------------------------------------------------------------

fn kat_leaves() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|s| hx(s))
    .collect()
}

const KAT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

const KAT_NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

#[test]
fn kat_empty_root() {
    assert_eq!(empty_root(), h32(KAT_ROOTS[0]));
    assert_eq!(Frontier::new().root(), h32(KAT_ROOTS[0]));
    assert_eq!(root_at(0, &HashMap::new()).unwrap(), h32(KAT_ROOTS[0]));
}

#[test]
fn kat_roots_nodes_and_frontiers() {
    let d = kat_leaves();
    let mut f = Frontier::new();
    let mut store = BTreeMap::new();
    for (i, leaf) in d.iter().enumerate() {
        store.extend(f.append(leaf_hash(leaf)).unwrap());
        let size = (i + 1) as u64;
        assert_eq!(f.root(), h32(KAT_ROOTS[i + 1]), "frontier root at {size}");
        assert_eq!(root_at(size, &store).unwrap(), h32(KAT_ROOTS[i + 1]));
        assert_eq!(ref_mth(&d[..i + 1]), h32(KAT_ROOTS[i + 1]));
        // CompactTrees: the frontier hashes are the listed node hashes.
        for (id, h) in frontier_node_ids(size).iter().zip(f.hashes()) {
            assert_eq!(*h, h32(KAT_NODES[id.level as usize][id.index as usize]));
        }
    }
    // Every stored node is the listed NodeHashes entry, and all are there.
    let count: usize = KAT_NODES.iter().map(|l| l.len()).sum();
    assert_eq!(store.len(), count);
    for (level, row) in KAT_NODES.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            assert_eq!(store[&NodeId::new(level as u8, index as u64)], h32(want));
        }
    }
}

#[test]
fn kat_inclusion_proofs() {
    let cases: &[(u64, u64, &[&str])] = &[
        (0, 1, &[]),
        (
            0,
            2,
            &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
        ),
        (
            1,
            2,
            &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    let d = kat_leaves();
    let (_, store) = store_of(&d);
    for &(index, size, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| h32(s)).collect();
        let got = inclusion_proof(index, size, &store).unwrap();
        assert_eq!(got, want, "inclusion {index} in {size}");
        let root = h32(KAT_ROOTS[size as usize]);
        verify_inclusion(&leaf_hash(&d[index as usize]), index, size, &got, &root).unwrap();
    }
}

#[test]
fn kat_consistency_proofs() {
    let cases: &[(u64, u64, &[&str])] = &[
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
    let (_, store) = store_of(&kat_leaves());
    for &(old, new, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| h32(s)).collect();
        let got = consistency_proof(old, new, &store).unwrap();
        assert_eq!(got, want, "consistency {old} -> {new}");
        verify_consistency(
            old,
            new,
            &got,
            &h32(KAT_ROOTS[old as usize]),
            &h32(KAT_ROOTS[new as usize]),
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------
// Independent implementation: rozbb/ct-merkle 0.2 (RFC 6962, 0x00/0x01
// prefixes, SHA-256). Its verifier recomputes the leaf hash itself from the
// leaf bytes and checks the exact proof length for the tree shape, so only
// proofs identical to RFC 9162's PATH / PROOF pass. We also compare our
// proofs byte for byte with the ones its own in-memory tree produces.
// ---------------------------------------------------------------------------

mod independent {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;
    use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
    use sha2::digest::Output;
    use sha2::Sha256;

    fn ct_root(root: &Hash, size: u64) -> RootHash<Sha256> {
        RootHash::new(Output::<Sha256>::clone_from_slice(root), size)
    }

    fn concat(proof: &[Hash]) -> Vec<u8> {
        proof.iter().flatten().copied().collect()
    }

    fn check_inclusion(d: &[Vec<u8>], store: &HashMap<NodeId, Hash>, index: u64, size: u64) {
        let ours = inclusion_proof(index, size, store).unwrap();
        let root = root_at(size, store).unwrap();
        let proof = InclusionProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
        ct_root(&root, size)
            .verify_inclusion(&d[index as usize], index, &proof)
            .unwrap_or_else(|e| panic!("ct-merkle rejects inclusion {index} in {size}: {e:?}"));
    }

    fn check_consistency(store: &HashMap<NodeId, Hash>, old: u64, new: u64) {
        let ours = consistency_proof(old, new, store).unwrap();
        let proof = ConsistencyProof::<Sha256>::try_from_bytes(concat(&ours)).unwrap();
        let old_root = ct_root(&root_at(old, store).unwrap(), old);
        ct_root(&root_at(new, store).unwrap(), new)
            .verify_consistency(&old_root, &proof)
            .unwrap_or_else(|e| panic!("ct-merkle rejects consistency {old} -> {new}: {e:?}"));
    }

    #[test]
    fn roots_match_ct_merkle_tree() {
        let d = leaves(300);
        let (_, store) = store_of(&d);
        let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        for (i, leaf) in d.iter().enumerate() {
            tree.push(leaf.clone());
            let size = (i + 1) as u64;
            assert_eq!(
                tree.root().as_bytes().as_slice(),
                root_at(size, &store).unwrap().as_slice(),
                "root at {size}"
            );
        }
    }

    #[test]
    fn inclusion_proofs_verify_with_ct_merkle_all_small_trees() {
        let d = leaves(80);
        let (_, store) = store_of(&d);
        for size in 1..=80u64 {
            for index in 0..size {
                check_inclusion(&d, &store, index, size);
            }
        }
    }

    #[test]
    fn inclusion_proofs_verify_with_ct_merkle_large_trees() {
        let d = leaves(1100);
        let (_, store) = store_of(&d);
        for size in [
            127u64, 128, 129, 255, 256, 257, 300, 511, 777, 1023, 1024, 1025, 1100,
        ] {
            for index in (0..size).step_by(7).chain([size - 1]) {
                check_inclusion(&d, &store, index, size);
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_with_ct_merkle_all_small_pairs() {
        let d = leaves(70);
        let (_, store) = store_of(&d);
        for new in 1..=70u64 {
            for old in 1..=new {
                check_consistency(&store, old, new);
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_with_ct_merkle_large_pairs() {
        let d = leaves(1100);
        let (_, store) = store_of(&d);
        let sizes = [
            1u64, 2, 3, 63, 64, 65, 100, 255, 256, 257, 300, 511, 512, 700, 1024, 1100,
        ];
        for &new in &sizes {
            for &old in sizes.iter().filter(|&&o| o <= new) {
                check_consistency(&store, old, new);
            }
        }
    }

    #[test]
    fn proofs_equal_ct_merkle_generated_proofs() {
        let d = leaves(130);
        let (_, store) = store_of(&d);
        let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        for (i, leaf) in d.iter().enumerate() {
            tree.push(leaf.clone());
            let size = i + 1;
            for index in 0..size {
                let theirs = tree.prove_inclusion(index);
                let ours = inclusion_proof(index as u64, size as u64, &store).unwrap();
                assert_eq!(
                    theirs.as_bytes(),
                    concat(&ours).as_slice(),
                    "PATH({index}, {size})"
                );
            }
            for additions in 0..size {
                let old = (size - additions) as u64;
                let theirs = tree.prove_consistency(additions);
                let ours = consistency_proof(old, size as u64, &store).unwrap();
                assert_eq!(
                    theirs.as_bytes(),
                    concat(&ours).as_slice(),
                    "PROOF({old}, {size})"
                );
            }
        }
    }

    #[test]
    fn ct_merkle_proofs_verify_with_our_verifier() {
        let d = leaves(100);
        let mut tree = MemoryBackedTree::<Sha256, Vec<u8>>::new();
        let mut roots = vec![empty_root()];
        for leaf in &d {
            tree.push(leaf.clone());
            roots.push(tree.root().as_bytes().as_slice().try_into().unwrap());
        }
        let split =
            |b: &[u8]| -> Vec<Hash> { b.chunks(32).map(|c| c.try_into().unwrap()).collect() };
        let size = d.len();
        for (index, leaf) in d.iter().enumerate() {
            let proof = split(tree.prove_inclusion(index).as_bytes());
            verify_inclusion(
                &leaf_hash(leaf),
                index as u64,
                size as u64,
                &proof,
                &roots[size],
            )
            .unwrap();
        }
        for additions in 0..size {
            let old = size - additions;
            let proof = split(tree.prove_consistency(additions).as_bytes());
            verify_consistency(old as u64, size as u64, &proof, &roots[old], &roots[size]).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// Planner, assembler, frontier: deterministic checks.
// ---------------------------------------------------------------------------

#[test]
fn missing_node_is_named() {
    let (_, mut store) = store_of(&leaves(11));
    let plan = inclusion_proof_plan(3, 11).unwrap();
    let victim = plan[1];
    store.remove(&victim);
    let err = inclusion_proof(3, 11, &store).unwrap_err();
    assert_eq!(err, TreeError::MissingNode(victim));
    let msg = err.to_string();
    assert!(msg.contains(&format!("level {}", victim.level)), "{msg}");
    assert!(msg.contains(&format!("index {}", victim.index)), "{msg}");
}

#[test]
fn plans_fetch_exactly_what_assembly_uses() {
    // Assembling from a source holding only the planned nodes must succeed.
    let d = leaves(300);
    let (_, store) = store_of(&d);
    for size in [1u64, 2, 5, 77, 128, 299, 300] {
        for index in [0, size / 3, size - 1] {
            let plan = inclusion_proof_plan(index, size).unwrap();
            let only: BTreeMap<_, _> = plan.iter().map(|id| (*id, store[id])).collect();
            assert_eq!(only.len(), plan.len(), "plan has duplicates");
            assert_eq!(
                inclusion_proof(index, size, &only).unwrap(),
                ref_path(index as usize, &d[..size as usize])
            );
        }
        for old in [0u64, 1, size / 2, size] {
            let plan = consistency_proof_plan(old, size).unwrap();
            let only: BTreeMap<_, _> = plan.iter().map(|id| (*id, store[id])).collect();
            assert_eq!(
                consistency_proof(old, size, &only).unwrap(),
                ref_proof(old as usize, &d[..size as usize])
            );
        }
        let plan = root_plan(size);
        let only: BTreeMap<_, _> = plan.iter().map(|id| (*id, store[id])).collect();
        assert_eq!(root_at(size, &only).unwrap(), ref_mth(&d[..size as usize]));
    }
}

#[test]
fn plan_argument_errors() {
    assert_eq!(
        inclusion_proof_plan(5, 5),
        Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
    );
    assert!(inclusion_proof_plan(0, 0).is_err());
    assert_eq!(
        consistency_proof_plan(6, 5),
        Err(TreeError::OldLargerThanNew { old: 6, new: 5 })
    );
    assert_eq!(consistency_proof_plan(0, 9), Ok(vec![]));
    assert_eq!(consistency_proof_plan(9, 9), Ok(vec![]));
}

#[test]
fn plans_are_small_for_huge_trees() {
    let size = (1u64 << 62) + 12345;
    let plan = inclusion_proof_plan(size - 1, size).unwrap();
    assert!(plan.len() <= 2 * 64, "{}", plan.len());
    let plan = consistency_proof_plan(size / 3, size).unwrap();
    assert!(plan.len() <= 2 * 64, "{}", plan.len());
    assert_eq!(root_plan(u64::MAX).len(), 64);
}

#[test]
fn subtree_node_ids_cover_ranges_exactly() {
    assert!(subtree_node_ids(5, 5).is_empty());
    assert_eq!(subtree_node_ids(0, 8), vec![NodeId::new(3, 0)]);
    assert_eq!(
        subtree_node_ids(8, 15),
        vec![NodeId::new(2, 2), NodeId::new(1, 6), NodeId::new(0, 14)]
    );
    // Arbitrary ranges: an exact, ordered cover by aligned nodes.
    for start in 0..70u64 {
        for end in start..70u64 {
            let ids = subtree_node_ids(start, end);
            let mut pos = start;
            for id in ids {
                assert_eq!(id.start(), pos);
                assert_eq!(id.start() % (1 << id.level), 0);
                pos = id.end();
            }
            assert_eq!(pos, end);
        }
    }
    assert_eq!(subtree_node_ids(0, u64::MAX).len(), 64);
}

#[test]
fn frontier_parts_and_bytes() {
    let (f, _) = store_of(&leaves(13));
    let (size, hashes) = f.to_parts();
    assert_eq!(size, 13);
    assert_eq!(hashes.len(), 3);
    assert_eq!(Frontier::from_parts(size, hashes.clone()).unwrap(), f);
    let bytes = f.to_bytes();
    assert_eq!(bytes.len(), 8 + 3 * 32);
    assert_eq!(&bytes[..8], &13u64.to_be_bytes());
    assert_eq!(Frontier::from_bytes(&bytes).unwrap(), f);
    assert_eq!(
        Frontier::from_bytes(&Frontier::new().to_bytes()).unwrap(),
        Frontier::new()
    );

    assert_eq!(
        Frontier::from_parts(13, hashes[..2].to_vec()),
        Err(TreeError::FrontierShape {
            size: 13,
            expected: 3,
            got: 2
        })
    );
    assert!(matches!(
        Frontier::from_bytes(&bytes[..7]),
        Err(TreeError::FrontierBytes { len: 7 })
    ));
    assert!(Frontier::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(Frontier::from_bytes(&bytes[..bytes.len() - 32]).is_err());
}

#[test]
fn frontier_resumes_from_stored_nodes() {
    // A committer restarting can rebuild its frontier from the store.
    let d = leaves(200);
    let (_, store) = store_of(&d[..137]);
    let ids = frontier_node_ids(137);
    let mut f = Frontier::from_parts(137, ids.iter().map(|id| store[id]).collect()).unwrap();
    for leaf in &d[137..] {
        f.append(leaf_hash(leaf)).unwrap();
    }
    assert_eq!(f.root(), ref_mth(&d));
}

#[test]
fn frontier_full_tree_is_an_error() {
    let mut f = Frontier::from_parts(u64::MAX, vec![[7u8; 32]; 64]).unwrap();
    assert_eq!(f.append([0u8; 32]), Err(TreeError::TreeFull));
    let mut f = Frontier::from_parts(u64::MAX - 1, vec![[7u8; 32]; 63]).unwrap();
    let done = f.append([1u8; 32]).unwrap();
    assert_eq!(done, vec![(NodeId::leaf(u64::MAX - 1), [1u8; 32])]);
    assert_eq!(f.size(), u64::MAX);
}

#[test]
fn verify_edge_cases() {
    let d = leaves(9);
    let (_, store) = store_of(&d);
    let r = |n| root_at(n, &store).unwrap();
    // old == 0: empty proof, old root must be the empty-tree hash.
    verify_consistency(0, 9, &[], &empty_root(), &r(9)).unwrap();
    assert_eq!(
        verify_consistency(0, 9, &[], &r(1), &r(9)),
        Err(ProofError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 9, &[r(1)], &empty_root(), &r(9)),
        Err(ProofError::ExpectedEmptyProof(1))
    );
    // old == new: empty proof, equal roots.
    verify_consistency(9, 9, &[], &r(9), &r(9)).unwrap();
    assert!(verify_consistency(9, 9, &[], &r(8), &r(9)).is_err());
    assert!(verify_consistency(9, 9, &[r(1)], &r(9), &r(9)).is_err());
    assert!(verify_consistency(10, 9, &[], &r(9), &r(9)).is_err());
    // 0 < old < new needs a non-empty proof.
    assert_eq!(
        verify_consistency(4, 9, &[], &r(4), &r(9)),
        Err(ProofError::ProofTooShort)
    );
    // Inclusion index checks.
    assert_eq!(
        verify_inclusion(&leaf_hash(&d[0]), 9, 9, &[], &r(9)),
        Err(ProofError::IndexOutOfRange { index: 9, size: 9 })
    );
    verify_inclusion(&leaf_hash(&d[0]), 0, 1, &[], &r(1)).unwrap();
    let p = inclusion_proof(4, 9, &store).unwrap();
    let mut long = p.clone();
    long.push(r(1));
    assert_eq!(
        verify_inclusion(&leaf_hash(&d[4]), 4, 9, &long, &r(9)),
        Err(ProofError::ProofTooLong)
    );
    assert_eq!(
        verify_inclusion(&leaf_hash(&d[4]), 4, 9, &p[..p.len() - 1], &r(9)),
        Err(ProofError::ProofTooShort)
    );
}

// ---------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------

fn size_and_index() -> impl Strategy<Value = (u64, u64)> {
    (1u64..=300).prop_flat_map(|n| (Just(n), 0..n))
}

fn size_pair() -> impl Strategy<Value = (u64, u64)> {
    (0u64..=300).prop_flat_map(|n| (0..=n, Just(n)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        // Keep runs from writing regression files next to the tests.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn inclusion_matches_reference_and_verifies((size, index) in size_and_index(), flip in any::<(usize, usize, u8)>()) {
        let d = leaves(size as usize);
        let (_, store) = store_of(&d);
        let proof = inclusion_proof(index, size, &store).unwrap();
        prop_assert_eq!(&proof, &ref_path(index as usize, &d));
        let root = ref_mth(&d);
        let leaf = leaf_hash(&d[index as usize]);
        prop_assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));

        // Tampered leaf, root, proof element, proof length, index, size.
        let (which, byte, bit) = flip;
        let mask = 1u8 << (bit % 8);
        let mut bad_leaf = leaf;
        bad_leaf[byte % 32] ^= mask;
        prop_assert!(verify_inclusion(&bad_leaf, index, size, &proof, &root).is_err());
        let mut bad_root = root;
        bad_root[byte % 32] ^= mask;
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &bad_root).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            bad[which % proof.len()][byte % 32] ^= mask;
            prop_assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            prop_assert!(verify_inclusion(&leaf, index, size, &proof[1..], &root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(root);
        prop_assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
        if size > 1 {
            let other = (index + 1 + (which as u64 % (size - 1))) % size;
            prop_assert!(verify_inclusion(&leaf, other, size, &proof, &root).is_err());
        }
    }

    #[test]
    fn consistency_matches_reference_and_verifies((old, new) in size_pair(), flip in any::<(usize, usize, u8)>()) {
        let d = leaves(new as usize);
        let (_, store) = store_of(&d);
        let proof = consistency_proof(old, new, &store).unwrap();
        prop_assert_eq!(&proof, &ref_proof(old as usize, &d));
        let old_root = ref_mth(&d[..old as usize]);
        let new_root = ref_mth(&d);
        prop_assert_eq!(root_at(old, &store).unwrap(), old_root);
        prop_assert_eq!(verify_consistency(old, new, &proof, &old_root, &new_root), Ok(()));

        let (which, byte, bit) = flip;
        let mask = 1u8 << (bit % 8);
        let mut bad_old = old_root;
        bad_old[byte % 32] ^= mask;
        prop_assert!(verify_consistency(old, new, &proof, &bad_old, &new_root).is_err());
        // Every tree extends the empty tree, so with old == 0 the new root is
        // not constrained (unless new is 0 too).
        if old > 0 || new == 0 {
            let mut bad_new = new_root;
            bad_new[byte % 32] ^= mask;
            prop_assert!(verify_consistency(old, new, &proof, &old_root, &bad_new).is_err());
        }
        if !proof.is_empty() {
            let mut bad = proof.clone();
            bad[which % proof.len()][byte % 32] ^= mask;
            prop_assert!(verify_consistency(old, new, &bad, &old_root, &new_root).is_err());
            prop_assert!(verify_consistency(old, new, &proof[..proof.len() - 1], &old_root, &new_root).is_err());
        }
        let mut longer = proof.clone();
        longer.push(new_root);
        prop_assert!(verify_consistency(old, new, &longer, &old_root, &new_root).is_err());
    }

    #[test]
    fn frontier_matches_naive_tree(n in 0usize..=300) {
        let d = leaves(n);
        let mut f = Frontier::new();
        let mut completed = HashMap::new();
        for (i, leaf) in d.iter().enumerate() {
            for (id, h) in f.append(leaf_hash(leaf)).unwrap() {
                prop_assert!(completed.insert(id, h).is_none());
            }
            prop_assert_eq!(f.size(), (i + 1) as u64);
        }
        prop_assert_eq!(f.root(), ref_mth(&d));
        prop_assert_eq!(&completed, &ref_perfect_nodes(&d));
        let ids = frontier_node_ids(n as u64);
        prop_assert_eq!(&ids, &f.node_ids());
        prop_assert_eq!(&ids, &root_plan(n as u64));
        let want: Vec<Hash> = ids.iter().map(|id| completed[id]).collect();
        prop_assert_eq!(f.hashes(), want.as_slice());
        prop_assert_eq!(Frontier::from_bytes(&f.to_bytes()).unwrap(), f);
    }

    #[test]
    fn rfc3339_round_trips(secs in 0u64..=253_402_300_799) {
        let s = format_rfc3339_utc(secs).unwrap();
        prop_assert_eq!(parse_rfc3339_utc(&s), Ok(secs));
    }
}

// ---------------------------------------------------------------------------
// Signed notes and checkpoints.
// ---------------------------------------------------------------------------

/// The example key and note from Go's reference implementation,
/// golang.org/x/mod/sumdb/note (package documentation of note.go; also
/// used in its note_test.go): an independent signed-note implementation.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str =
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn go_signer() -> CheckpointSigner {
    let b64 = GO_SKEY.splitn(5, '+').nth(4).unwrap();
    let blob = STANDARD.decode(b64).unwrap();
    assert_eq!(blob[0], 0x01);
    let seed: [u8; 32] = blob[1..].try_into().unwrap();
    CheckpointSigner::new("PeterNeumann", SigningKey::from_bytes(&seed)).unwrap()
}

#[test]
fn signed_note_matches_go_reference_vector() {
    let signer = go_signer();
    assert_eq!(signer.verifier_key(), GO_VKEY);
    assert_eq!(signer.key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
    assert_eq!(signer.sign_text(GO_TEXT).unwrap(), GO_NOTE);
    let v = CheckpointVerifier::from_vkey(GO_VKEY).unwrap();
    assert_eq!(v.verifier_key(), GO_VKEY);
    assert_eq!(v.verify_text(GO_NOTE).unwrap(), GO_TEXT);
    // It is not a checkpoint, so verify_note rejects it after verifying.
    assert!(matches!(
        v.verify_note(GO_NOTE),
        Err(CheckpointError::MalformedCheckpoint(_))
    ));
}

#[test]
fn vkey_parsing_rejects_manglings() {
    assert!(CheckpointVerifier::from_vkey(GO_VKEY).is_ok());
    for bad in [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA==",
        "PeterNeumann+c74f20a3+AhpcmQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(
            CheckpointVerifier::from_vkey(bad).is_err(),
            "accepted {bad:?}"
        );
    }
}

fn fixed_signer() -> CheckpointSigner {
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    CheckpointSigner::new(
        "register.thabian.example/log",
        SigningKey::from_bytes(&seed),
    )
    .unwrap()
}

fn sample_checkpoint() -> Checkpoint {
    let root = ref_mth(&kat_leaves());
    Checkpoint::new("register.thabian.example/log", 8, root, Some(1_714_564_800)).unwrap()
}

#[test]
fn checkpoint_body_format() {
    let c = sample_checkpoint();
    assert_eq!(
        c.body(),
        "register.thabian.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 2024-05-01T12:00:00Z\n"
    );
    assert_eq!(c.time_rfc3339().as_deref(), Some("2024-05-01T12:00:00Z"));
    assert_eq!(Checkpoint::parse(&c.body()).unwrap(), c);
    let plain = Checkpoint::new("o", 0, empty_root(), None).unwrap();
    assert_eq!(
        plain.body(),
        "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    );
    assert_eq!(Checkpoint::parse(&plain.body()).unwrap(), plain);
}

#[test]
fn checkpoint_known_answer_note() {
    // Regression vector: fixed key bytes 00..1f, fixed checkpoint. Ed25519 is
    // deterministic, so this exact text must never change. The vkey and the
    // signature blob were also reproduced outside this crate with Python's
    // `cryptography` package (OpenSSL Ed25519) and hashlib for the key id.
    let note = fixed_signer().sign(&sample_checkpoint());
    assert_eq!(note, KAT_NOTE);
    assert_eq!(fixed_signer().verifier_key(), KAT_VKEY);
    let v = CheckpointVerifier::from_vkey(KAT_VKEY).unwrap();
    assert_eq!(v.verify_note(KAT_NOTE).unwrap(), sample_checkpoint());
}

const KAT_NOTE: &str = "register.thabian.example/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\ntime 2024-05-01T12:00:00Z\n\n\u{2014} register.thabian.example/log hs+/ChOdcRTVEbtAJS/nrtU3sH3hlsGciYvQ2ZLmeRcI0nquup2jJHB23embuvKTi0tpv2v7wJKl5h/B9f6kU16VJAY=\n";
const KAT_VKEY: &str =
    "register.thabian.example/log+86cfbf0a+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";

#[test]
fn checkpoint_round_trip_with_generated_key() {
    let key = generate_signing_key(&mut rand::rngs::OsRng);
    let signer = CheckpointSigner::new("register.thabian.example/log", key).unwrap();
    let c = sample_checkpoint();
    let note = signer.sign(&c);
    let v = CheckpointVerifier::from_vkey(&signer.verifier_key()).unwrap();
    assert_eq!(v, signer.verifier());
    assert_eq!(v.verify_note(&note).unwrap(), c);
}

#[test]
fn tampered_checkpoints_are_rejected() {
    let signer = fixed_signer();
    let v = signer.verifier();
    let note = signer.sign(&sample_checkpoint());
    let bad_sig = |n: &str| matches!(v.verify_note(n), Err(CheckpointError::BadSignature(_)));

    assert!(bad_sig(&note.replacen("\n8\n", "\n9\n", 1)), "size");
    let root_b64 = STANDARD.encode(sample_checkpoint().root());
    let other_root = STANDARD.encode(empty_root());
    assert!(bad_sig(&note.replacen(&root_b64, &other_root, 1)), "root");
    assert!(bad_sig(&note.replacen("12:00:00Z", "12:00:01Z", 1)), "time");
    assert!(
        bad_sig(&note.replacen(
            "register.thabian.example/log\n",
            "register.thabian.example/lag\n",
            1
        )),
        "origin"
    );

    // Flip one bit of the signature itself.
    let (text, line) = note.rsplit_once("\n\n").unwrap();
    let b64 = line.trim_end().rsplit_once(' ').unwrap().1;
    let mut blob = STANDARD.decode(b64).unwrap();
    blob[10] ^= 1;
    let forged = format!(
        "{text}\n\n\u{2014} {} {}\n",
        signer.name(),
        STANDARD.encode(&blob)
    );
    assert!(bad_sig(&forged), "signature");

    // Dropping the time line changes the signed text too.
    let no_time = note.replacen("time 2024-05-01T12:00:00Z\n", "", 1);
    assert!(bad_sig(&no_time), "removed time line");
}

#[test]
fn wrong_key_is_rejected() {
    let note = fixed_signer().sign(&sample_checkpoint());
    // Same name, other key: a different key id, so no matching signature.
    let other = CheckpointSigner::new(
        "register.thabian.example/log",
        SigningKey::from_bytes(&[9u8; 32]),
    )
    .unwrap();
    assert!(matches!(
        other.verifier().verify_note(&note),
        Err(CheckpointError::NoSignatureFromKey { .. })
    ));
    // Other name, same key.
    let renamed = CheckpointSigner::new(
        "someone.else/log",
        SigningKey::from_bytes(&std::array::from_fn(|i| i as u8)),
    )
    .unwrap();
    assert!(renamed.verifier().verify_note(&note).is_err());
    // Other name and key, but spoofing our name and key id with a bad signature.
    let v = fixed_signer().verifier();
    let spoof_blob: Vec<u8> = v.key_id().into_iter().chain([0u8; 64]).collect();
    let (text, _) = note.rsplit_once("\n\n").unwrap();
    let spoof = format!(
        "{text}\n\n\u{2014} {} {}\n",
        v.name(),
        STANDARD.encode(spoof_blob)
    );
    assert!(matches!(
        v.verify_note(&spoof),
        Err(CheckpointError::BadSignature(_))
    ));
}

#[test]
fn cosignatures_from_unknown_keys_are_ignored() {
    let ours = fixed_signer();
    let witness =
        CheckpointSigner::new("witness.example/w1", SigningKey::from_bytes(&[3u8; 32])).unwrap();
    let c = sample_checkpoint();
    let note = ours.sign(&c);
    let body = c.body();
    let witness_note = witness.sign(&c);
    let witness_line = witness_note.strip_prefix(&format!("{body}\n")).unwrap();
    let cosigned = format!("{note}{witness_line}");
    assert_eq!(ours.verifier().verify_note(&cosigned).unwrap(), c);
    assert_eq!(witness.verifier().verify_note(&cosigned).unwrap(), c);
    let cosigned_first = format!(
        "{body}\n{witness_line}{}",
        note.strip_prefix(&format!("{body}\n")).unwrap()
    );
    assert_eq!(ours.verifier().verify_note(&cosigned_first).unwrap(), c);
}

#[test]
fn malformed_notes_are_rejected() {
    let signer = fixed_signer();
    let v = signer.verifier();
    let note = signer.sign(&sample_checkpoint());
    let malformed = |n: &str| matches!(v.verify_note(n), Err(CheckpointError::MalformedNote(_)));
    assert!(malformed(""));
    assert!(malformed(note.trim_end()), "no final newline");
    assert!(malformed(&note.replacen("\n\n", "\n", 1)), "no blank line");
    assert!(malformed(&note.replace('\u{2014}', "--")), "no em dash");
    assert!(malformed(&format!("{note}\n")), "trailing blank line");
    assert!(
        malformed(&format!("{note}garbage\n")),
        "junk signature line"
    );
    assert!(
        malformed(&note.replacen("\n8\n", "\n8\r\n", 1)),
        "control character"
    );
    assert!(
        malformed(&format!("{note}\u{2014} x AAA=\n")),
        "short signature"
    );
    assert!(malformed(&format!("{note}\u{2014} x !!!!\n")), "bad base64");
}

#[test]
fn checkpoint_parsing_is_strict() {
    let root = STANDARD.encode([0u8; 32]);
    let ok = format!("o\n12\n{root}\ntime 2024-05-01T12:00:00Z\n");
    assert!(Checkpoint::parse(&ok).is_ok());
    for bad in [
        format!("o\n12\n{root}\ntime 2024-05-01T12:00:00Z"),
        format!("o\n012\n{root}\n"),
        format!("o\n+12\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("\n12\n{root}\n"),
        format!("o p\n12\n{root}\n"),
        format!("o\n12\n{}\n", STANDARD.encode([0u8; 31])),
        format!("o\n12\n{}\n", root.trim_end_matches('=')),
        "o\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n".to_owned(),
        format!("o\n12\n{root}\nwhen 2024-05-01T12:00:00Z\n"),
        format!("o\n12\n{root}\ntime 2024-05-01T12:00:00+00:00\n"),
        format!("o\n12\n{root}\ntime 2024-05-01T12:00:00Z\nmore\n"),
        format!("o\n12\n{root}\n\n"),
        "o\n12\n".to_owned(),
    ] {
        assert!(Checkpoint::parse(&bad).is_err(), "accepted {bad:?}");
    }
    assert!(Checkpoint::new("", 1, [0; 32], None).is_err());
    assert!(Checkpoint::new("a+b", 1, [0; 32], None).is_err());
    assert!(Checkpoint::new("a\nb", 1, [0; 32], None).is_err());
    assert!(Checkpoint::new("a", 1, [0; 32], Some(253_402_300_800)).is_err());
}

#[test]
fn rfc3339_known_answers() {
    for (secs, s) in [
        (0u64, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (4_107_542_399, "2100-02-28T23:59:59Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
    ] {
        assert_eq!(format_rfc3339_utc(secs).unwrap(), s);
        assert_eq!(parse_rfc3339_utc(s).unwrap(), secs);
    }
    for bad in [
        "2023-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T23:59:60Z",
        "1969-12-31T23:59:59Z",
        "2024-01-01t00:00:00Z",
        "2024-01-01T00:00:00.5Z",
        "+024-01-01T00:00:00Z",
    ] {
        assert!(parse_rfc3339_utc(bad).is_err(), "accepted {bad}");
    }
    assert!(format_rfc3339_utc(253_402_300_800).is_err());
}

#[test]
fn pkcs8_pem_round_trip() {
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let pem = signing_key_to_pkcs8_pem(&key).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let back = signing_key_from_pkcs8_pem(&pem).unwrap();
    assert_eq!(back.to_bytes(), key.to_bytes());
    assert!(matches!(
        signing_key_from_pkcs8_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        ),
        Err(CheckpointError::KeyFile(_))
    ));
}

#[test]
fn pkcs8_reads_openssl_style_key() {
    // RFC 8410 section 10.3 example private key (PKCS#8 v1, as written by
    // `openssl genpkey -algorithm ed25519`).
    let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    let key = signing_key_from_pkcs8_pem(pem).unwrap();
    assert_eq!(
        key.to_bytes().to_vec(),
        hx("d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842")
    );
}

#[test]
fn debug_output_hides_the_secret_key() {
    let s = format!("{:?}", fixed_signer());
    assert!(s.contains("register.thabian.example/log"));
    assert!(!s.contains("SigningKey"));
}
