import CNftnl

/// Gives the heap's free pages back to the system (glibc `malloc_trim`). glibc keeps memory
/// freed by a program for reuse; a daemon that held a large route set and let it go (a flood of
/// 100k routes withdrawn again) would otherwise keep its peak resident size for good. About 1 ms
/// per call.
public enum FreedMemory {
    public static func release() { _ = flowspec_malloc_trim(0) }

    /// Keeps glibc to `n` heaps (`M_ARENA_MAX`; by default up to 8 per CPU). Each thread that
    /// allocates may get a heap of its own, and a daemon's threads (the speaker, the pool's)
    /// then strand freed memory across them: a 100k-route flood withdrawn left 70-150 MB more
    /// resident than before it, cycle after cycle.
    public static func limitHeaps(to n: Int32) { _ = flowspec_malloc_arena_max(n) }
}
