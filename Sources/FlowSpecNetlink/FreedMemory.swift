import CNftnl

/// Gives the heap's free pages back to the system (glibc `malloc_trim`). glibc keeps memory
/// freed by a program for reuse; a daemon that held a large route set and let it go (a flood of
/// 100k routes withdrawn again) would otherwise keep its peak resident size for good. About 1 ms
/// per call.
public enum FreedMemory {
    public static func release() { _ = flowspec_malloc_trim(0) }
}
