/// Every size threshold of the tool's performance mechanics, with the measurement behind it
/// (2 vCPU reference VM, docs/benchmarks.md). None is public API: they say how the work is done,
/// not what it does. The cost model of changes in place is `CostPolicy`, which callers may tune.
package enum Tuning {
    /// Unmerged route sets of these sizes are compiled in two halves, on two CPUs
    /// (`RouteCompiler.addAllInHalves`). Not smaller ones: the thread costs more than it saves.
    /// Not larger ones: the second thread allocates from a malloc arena of its own, whose memory
    /// the first cannot reuse; a million routes' peak grew by 150 MiB (1.24 → 1.39 GiB), and at
    /// that size memory is the limit, not time.
    package static let compileHalvesRoutes = 20_000...300_000

    /// Chains of at least this many rules have their `TableShape` made in two parts, on two CPUs:
    /// ~0.9 µs per rule, 0.09 s of a 100k-route delta otherwise.
    package static let shapeHalvesMinRules = 20_000

    /// Tables of more rules have them freed as they are encoded (when the writer holds the last
    /// copy), so that the IR and the batch (~500–700 bytes a rule each) are not both in memory:
    /// a million routes' batch phase stays near 1.1 GB instead of ~1.8 GB. Smaller tables keep
    /// them, so their shape can be made on another CPU while the batch is built and committed.
    package static let releaseMinRules = 300_000

    /// Rules encoded between two returns of freed memory to the system (`malloc_trim`) when rules
    /// are freed: about 1 ms a call at 1M routes.
    package static let releaseTrimInterval = 65536

    /// The largest route set whose merged `IncrementalTable` a keeper with a `StateStore` keeps for
    /// the next process: the planner stays in memory until it is written, and its order keys cost
    /// ~100 MB a million routes, which a million-route apply cannot afford within its budget.
    package static let storedMaxRoutes = 300_000

    /// Unmerged, a numeric component's list of at most this many values or ranges becomes that
    /// many rules instead of a lookup of a named set (`RouteCompiler.matchSlots`), as long as the
    /// route's rules stay within `routeRulesMax`. The kernel looks a named set up by name in a
    /// list, per rule that uses it and per set created: 16,065 such sets made the mixed 100k
    /// table's load take 21.8 s (kernel 19.9 s).
    package static let listAlternativesMax = 8
    package static let routeRulesMax = 8

    /// `DispatchMode.auto` considers the dispatch form only when the merged form leaves a packet
    /// more rules than this to meet (the uniform 100k workload's merged table has 10), and takes
    /// it when a packet meets at most 1/`dispatchGain` of them in it: its load costs one rule per
    /// route and a chain per destination prefix, more than a merged table's set elements.
    package static let dispatchConsiderRules = 256
    package static let dispatchGain = 4
    /// What a rule that looks a set up counts for in `TableFigures.worstCaseCost`. Measured on
    /// the data path (2 vCPU): a uniform merged table of 10 such rules costs a packet 0.8 µs,
    /// the mixed 10k merged table of 148 of them 14.6 µs (~100 ns a rule), while the mixed 100k
    /// dispatch table, whose worst path has 436 rules that mostly fail at their first
    /// comparisons, costs 5.9 µs (~15-25 ns a rule).
    package static let lookupRuleCost = 4
    /// Dispatch over the merged rules is taken when a packet's worst path costs at most half
    /// what it costs in the merged table, and no more than `dispatchConsiderRules`: it keeps the
    /// merged table's sets, so its load costs a copy of a merged rule per destination chain it is
    /// in, not a rule per route. Measured on the mixed workload: at 10k (worst cost 198) 87.6% of
    /// the empty-table rate against 85.4% for dispatch over linear rules, with 4,546 rules instead
    /// of 19,276; at 100k (worst cost 542: 137 rules, most of them lookups) 31.2% against 52.0%,
    /// so there the linear dispatch is kept.
    package static let mergedDispatchGain = 2
    /// A segment of fewer rules stays in the base chain: a map lookup and a jump cost about as
    /// much as a few rules.
    package static let dispatchMinRules = 16
    /// The kernel refuses a table whose chains nest deeper than 16 jumps and gotos
    /// (NFT_JUMP_STACK_SIZE); a segment whose prefixes nest deeper than this stays in the base chain.
    package static let dispatchMaxDepth = 12
    /// A chain of at least this many rules is dispatched again: a destination's on the transport
    /// protocol (`meta l4proto vmap`), a protocol's on the source or destination port. On the way
    /// to a victim of the mixed 100k workload a packet then meets ~100 rules instead of ~350.
    package static let protocolDispatchMinRules = 32
    /// ... and only where its keys hold 4 rules each on average: one chain per port of a
    /// segmentation policy's port lists made 68,113 chains of one or two rules at 100k routes
    /// (the kernel took 0.7 s longer to load them) and saved a packet nothing.
    package static let refineRulesPerKey = 4
    /// With `DispatchMode.auto`, merging stops once the merged chain made so far costs a packet
    /// more than this (`MergePlanner.cost`: a rule, a merged rule as `lookupRuleCost`; never more
    /// than the finished chain's `TableFigures.worstCaseCost`), and the dispatch form is built; it
    /// is taken when its cost is at most 1/`dispatchGain` of this, which is what the full
    /// comparison would decide too. Else the merge goes on over every route. Saves merging the
    /// whole of a mix that would dispatch anyway: the mixed 100k workload passes 2,048 about
    /// halfway (its merged chain costs 4,130).
    package static let mergeAbandonCost = 2048
}
