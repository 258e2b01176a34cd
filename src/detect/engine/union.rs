//! The union of the regex detectors, in one of two builds.
//!
//! * [`Union::Meta`]: a regex-automata `meta::Regex`, for engines with custom regex detectors, whose union is searched
//!   unanchored (`Engine::run_unanchored`).
//! * [`Union::Anchored`]: for every other engine, whose union is only ever searched anchored, at the trigger pass's
//!   candidate starts. It is what `meta::Regex` runs for an anchored search (the forward lazy DFA, configured as meta
//!   configures it, and the PikeVM over the same NFA when the lazy DFA gives up) without what meta builds for
//!   unanchored searches: the reverse NFA (an anchored match starts where the search starts) and the prefilter's
//!   literal extraction. Session 25: building the builtin union took ~194 M instructions as a `meta::Regex`, over half
//!   of it the reverse NFA (the Unicode classes under bounded repeats of the credential patterns, `[^"\r\n]{3,128}`,
//!   compile to ~3.5× more states reversed).
//!
//! Both report the same match for the same anchored search: the leftmost-first match starting at the search's start
//! (with the pattern that wins there). An unanchored search of [`Union::Anchored`] is still exact (it runs the PikeVM,
//! which reports starts), only slow; the engine never makes one.

use std::sync::Arc;

use regex_automata::hybrid;
use regex_automata::meta;
use regex_automata::nfa::thompson::{self, pikevm::PikeVM, WhichCaptures, NFA};
#[cfg(test)]
use regex_automata::util::start;
use regex_automata::util::{captures::Captures, syntax};
#[cfg(test)]
use regex_automata::Anchored;
use regex_automata::{Input, Match, MatchKind};
use regex_syntax::hir::Hir;

/// See the module docs.
#[derive(Clone, Debug)]
pub(super) enum Union {
    Meta(meta::Regex),
    Anchored(Arc<AnchoredUnion>),
}

/// The forward lazy DFA and its fallback, over one NFA.
#[derive(Debug)]
pub(super) struct AnchoredUnion {
    nfa: NFA,
    dfa: hybrid::dfa::DFA,
    pikevm: PikeVM,
}

/// The PikeVM's cache and captures.
type VmCache = (thompson::pikevm::Cache, Captures);

/// A search cache of a [`Union`].
#[derive(Debug, Clone)]
pub(super) enum UnionCache {
    Meta(Box<meta::Cache>),
    /// The lazy DFA's cache, and the PikeVM's cache and captures once the lazy DFA has given up (made on first use:
    /// its slot table is per NFA state and pattern, ~100 M instructions of `memset` for the builtin union).
    Anchored(Box<(hybrid::dfa::Cache, Option<VmCache>)>),
}

impl Union {
    /// Compile `hirs` as one leftmost-first union: [`Union::Anchored`] when `anchored_only`, else [`Union::Meta`].
    /// `nfa_size_limit` and `cache_capacity` as for `meta::Config`.
    pub(super) fn build(
        hirs: &[Hir],
        anchored_only: bool,
        nfa_size_limit: usize,
        cache_capacity: usize,
    ) -> Result<Union, String> {
        if anchored_only {
            return AnchoredUnion::build(hirs, nfa_size_limit, cache_capacity)
                .map(|a| Union::Anchored(Arc::new(a)));
        }
        meta::Regex::builder()
            .syntax(syntax::Config::new())
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .nfa_size_limit(Some(nfa_size_limit))
                    .hybrid_cache_capacity(cache_capacity)
                    .which_captures(WhichCaptures::Implicit),
            )
            .build_many_from_hir(hirs)
            .map(Union::Meta)
            .map_err(|e| e.to_string())
    }

    pub(super) fn create_cache(&self) -> UnionCache {
        match self {
            Union::Meta(re) => UnionCache::Meta(Box::new(re.create_cache())),
            Union::Anchored(a) => UnionCache::Anchored(Box::new((a.dfa.create_cache(), None))),
        }
    }

    /// The leftmost-first match of `input` (as `meta::Regex::search_with`). `cache` must come from this union.
    pub(super) fn search_with(&self, cache: &mut UnionCache, input: &Input<'_>) -> Option<Match> {
        match (self, cache) {
            (Union::Meta(re), UnionCache::Meta(c)) => re.search_with(c, input),
            (Union::Anchored(a), UnionCache::Anchored(c)) => a.search(&mut c.0, &mut c.1, input),
            // A cache of another union: not made by the engine (its scratches come from the engine's own union).
            (Union::Meta(re), _) => re.search_with(&mut re.create_cache(), input),
            (Union::Anchored(a), _) => a.search(&mut a.dfa.create_cache(), &mut None, input),
        }
    }

    /// Whether some pattern may match at a start where the text begins with `lit` (whatever comes before or after
    /// it): false only when the anchored lazy DFA dies inside `lit` without having matched, for every kind of byte
    /// before the start. Any doubt (a [`Union::Meta`], the lazy DFA quitting or giving up) answers true. For tests:
    /// determinising the union's start states costs tens of millions of instructions, so the engine reads the
    /// answers for its trigger literals from data (`builtin::TRIGGERS_INSIDE_A_WORD`).
    #[cfg(test)]
    pub(super) fn may_start_with(&self, lit: &[u8]) -> bool {
        let Union::Anchored(a) = self else {
            return true;
        };
        let mut cache = a.dfa.create_cache();
        // One byte of each kind a start state depends on: none (the text's start), line feed, carriage return, a
        // word byte, a non-word byte, a non-ASCII byte.
        [
            None,
            Some(b'\n'),
            Some(b'\r'),
            Some(b'a'),
            Some(b' '),
            Some(0xEA),
        ]
        .into_iter()
        .any(|behind| a.may_start_with(&mut cache, behind, lit))
    }

    /// Approximate heap memory (without caches).
    pub(super) fn memory_usage(&self) -> usize {
        match self {
            Union::Meta(re) => re.memory_usage(),
            Union::Anchored(a) => a.nfa.memory_usage(),
        }
    }
}

impl AnchoredUnion {
    fn build(
        hirs: &[Hir],
        nfa_size_limit: usize,
        cache_capacity: usize,
    ) -> Result<AnchoredUnion, String> {
        // The forward NFA as meta compiles it.
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .nfa_size_limit(Some(nfa_size_limit))
                    .shrink(false)
                    .which_captures(WhichCaptures::Implicit),
            )
            .build_many_from_hir(hirs)
            .map_err(|e| e.to_string())?;
        // The lazy DFA as meta configures its forward one (without the prefilter, which anchored searches skip).
        let dfa = hybrid::dfa::Builder::new()
            .configure(
                hybrid::dfa::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .starts_for_each_pattern(true)
                    .unicode_word_boundary(true)
                    .cache_capacity(cache_capacity)
                    .skip_cache_capacity_check(false)
                    .minimum_cache_clear_count(Some(3))
                    .minimum_bytes_per_state(Some(10)),
            )
            .build_from_nfa(nfa.clone())
            .map_err(|e| e.to_string())?;
        let pikevm = PikeVM::new_from_nfa(nfa.clone()).map_err(|e| e.to_string())?;
        Ok(AnchoredUnion { nfa, dfa, pikevm })
    }

    /// [`Union::may_start_with`] for one byte before the start (`None`: the text's start).
    #[cfg(test)]
    fn may_start_with(
        &self,
        cache: &mut hybrid::dfa::Cache,
        behind: Option<u8>,
        lit: &[u8],
    ) -> bool {
        let config = start::Config::new()
            .anchored(Anchored::Yes)
            .look_behind(behind);
        let Ok(mut sid) = self.dfa.start_state(cache, &config) else {
            return true;
        };
        for &b in lit {
            match self.dfa.next_state(cache, sid, b) {
                Ok(next) => sid = next,
                Err(_) => return true,
            }
            // A match state reports a match that ended one byte earlier: a pattern matched a prefix of `lit`.
            if sid.is_match() || sid.is_quit() || sid.is_unknown() {
                return true;
            }
            if sid.is_dead() {
                return false;
            }
        }
        true
    }

    fn search(
        &self,
        dfa_cache: &mut hybrid::dfa::Cache,
        vm_cache: &mut Option<VmCache>,
        input: &Input<'_>,
    ) -> Option<Match> {
        if input.get_anchored().is_anchored() {
            // An anchored match starts where the search starts: the forward search's end is the whole answer.
            // An error is the lazy DFA giving up (its cache thrashed): the PikeVM answers, as meta's fallback does.
            if let Ok(end) = self.dfa.try_search_fwd(dfa_cache, input) {
                return end.map(|h| Match::new(h.pattern(), input.start()..h.offset()));
            }
        }
        // With every pattern's slots, as meta reads its PikeVM (the overall match of pattern `p` is in slots
        // `2p` and `2p + 1`: two slots alone would only ever hold pattern 0's).
        let (cache, caps) = vm_cache
            .get_or_insert_with(|| (self.pikevm.create_cache(), self.pikevm.create_captures()));
        self.pikevm.search(cache, input, caps);
        caps.get_match()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::{Anchored, PatternID};

    #[test]
    fn the_anchored_union_finds_what_meta_finds() {
        let hirs: Vec<Hir> = crate::detect::builtin::patterns()
            .iter()
            .map(|p| super::super::parse_hir(&p.regex, false).unwrap())
            .collect();
        let meta = Union::build(&hirs, false, 64 << 20, 8 << 20).unwrap();
        let anchored = Union::build(&hirs, true, 64 << 20, 8 << 20).unwrap();
        assert!(matches!(anchored, Union::Anchored(_)));
        let (mut mc, mut ac) = (meta.create_cache(), anchored.create_cache());
        let text = "성명: 김민수 고객님, 주민번호 850314-1308025, 010-1234-5678, kim@example.com \
                    서울특별시 강남구 테헤란로 123, password = 'S3cret!pw', auth=('admin', 'hunter22') \
                    echo 'pw1234' | sudo -S ls; AKIAIOSFODNN7EXAMPLE; https://bob:pa55w0rd@db.example.com \
                    TOP SECRET//NOFORN 대외비 Dear John, 4111 1111 1111 1111";
        let mut checked = 0;
        for at in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let input = Input::new(text).range(at..);
            for a in [
                Anchored::Yes,
                Anchored::Pattern(PatternID::must(at % hirs.len())),
            ] {
                let input = input.clone().anchored(a);
                let want = meta.search_with(&mut mc, &input);
                checked += usize::from(want.is_some());
                assert_eq!(anchored.search_with(&mut ac, &input), want, "at {at}");
            }
        }
        assert!(checked > 10, "the text should hold matches ({checked})");
        // The PikeVM fallback (taken when the lazy DFA gives up) against meta, anchored.
        if let Union::Anchored(a) = &anchored {
            let mut vm = None;
            for at in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
                let input = Input::new(text).range(at..).anchored(Anchored::Yes);
                let want = meta.search_with(&mut mc, &input);
                let (cache, caps) =
                    vm.get_or_insert_with(|| (a.pikevm.create_cache(), a.pikevm.create_captures()));
                a.pikevm.search(cache, &input, caps);
                assert_eq!(caps.get_match(), want, "PikeVM at {at}");
            }
        }
        // An unanchored search is exact too (the PikeVM), only not fast.
        let input = Input::new(text);
        assert_eq!(
            anchored.search_with(&mut ac, &input),
            meta.search_with(&mut mc, &input)
        );
    }
}
