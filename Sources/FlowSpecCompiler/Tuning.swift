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
}
